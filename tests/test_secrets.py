"""One secret policy: secret files are never sent nor written, their values and the credentials in the
environment and the checkout's git config are masked, and the code a model wrote sees none of them."""

from __future__ import annotations

import base64
import subprocess
from pathlib import Path

import pytest

from gitorch import config as config_module
from gitorch.agents.codex import Worktree
from gitorch.edits import EditError, parse_answer
from gitorch.errors import ConfigError, GitError
from gitorch.git.repository import Repository
from gitorch.secrets import SECRET_FILES, env_for_code, is_secret_file, withheld_note

SMTP = "hunter2-smtp-Zq8v1KeepOut"
PG = "pg-pass-7Yt2mNotForTests"
DB_URL = "postgres://shop:db-pass-9Xc4Hidden@db.internal/shop"
SLACK = "https://hooks.slack.com/services/T000/B000/XXXXsecretXXXX"
CHECKOUT_TOKEN = "ghs_" + "C" * 36
EXTRAHEADER = "AUTHORIZATION: basic " + base64.b64encode(f"x-access-token:{CHECKOUT_TOKEN}".encode()).decode()
PLANTED = (SMTP, PG, "db-pass-9Xc4Hidden", "XXXXsecretXXXX", CHECKOUT_TOKEN, EXTRAHEADER.split()[-1])


def plant(repo: Path, monkeypatch) -> dict[str, str]:
    """A committed .env, credentials in the environment and in the checkout's git config."""
    (repo / ".env").write_text(f"SMTP_PASSWORD={SMTP}\nDEBUG=true\n")
    (repo / ".env.example").write_text("SMTP_PASSWORD=change-me\n")
    (repo / "shop").mkdir(exist_ok=True)
    (repo / "shop" / "settings.py").write_text("import os\nSMTP = os.environ.get('SMTP_PASSWORD')\n")
    subprocess.run(["git", "-C", str(repo), "add", "-A"], check=True)
    subprocess.run(["git", "-C", str(repo), "commit", "-qm", "settings"], check=True)
    subprocess.run(["git", "-C", str(repo), "config", "http.https://github.com/.extraheader", EXTRAHEADER],
                   check=True)
    planted = {"PGPASSWORD": PG, "DATABASE_URL": DB_URL, "SLACK_WEBHOOK_URL": SLACK}
    for name, value in planted.items():
        monkeypatch.setenv(name, value)
    return planted


def test_the_built_in_secret_files_and_their_templates():
    for path in (".env", "app/.env.production", "prod.env", "deploy/id_rsa", "certs/server.pem", ".npmrc",
                 "home/.git-credentials", "gcp/service-account-prod.json", "infra/prod.tfvars"):
        assert is_secret_file(path), path
    for path in (".env.example", "deploy/id_rsa.pub", "shop/settings.py", "README.md", "env.py", "keys.py"):
        assert not is_secret_file(path), path
    assert ".env" in SECRET_FILES and is_secret_file("config/prod.yml", ["config/prod.yml"])
    assert is_secret_file("a/b/vault.secret", ["*.secret"]) and not is_secret_file("vault.secret")


def test_gitorch_yml_extends_the_secret_file_list_and_names_a_bad_pattern(repo):
    (repo / ".gitorch.yml").write_text("edits:\n  secret_files: ['*.secret', 'config/prod.yml']\n")
    cfg = config_module.load(cwd=repo, env={})
    assert cfg.secrets.policy.withheld(["x.secret", "config/prod.yml", "config/dev.yml"]) == \
        ["x.secret", "config/prod.yml"]
    for bad, words in (("['../outside']", "contains '..'"), ("['']", "1 to 200 visible"),
                       ("'*.secret'", "valid list")):
        (repo / ".gitorch.yml").write_text(f"edits:\n  secret_files: {bad}\n")
        with pytest.raises(ConfigError, match="edits.secret_files") as err:
            config_module.load(cwd=repo, env={})
        assert words in str(err.value) and "gitorch init --print" in err.value.hint


def test_the_environment_of_model_written_code_holds_no_credentials():
    env = {"PATH": "/usr/bin", "HOME": "/home/r", "PWD": "/w", "GIT_AUTHOR_NAME": "gitorch", "LANG": "C.UTF-8",
           "ANTHROPIC_API_KEY": "sk-ant-" + "a" * 30, "GITHUB_TOKEN": "ghs_" + "b" * 36,
           "CONVEX_ADMIN_KEY": "prod:abc|def", "ACTIONS_RUNTIME_TOKEN": "x" * 40, "AWS_SECRET_ACCESS_KEY": "y" * 40,
           "SSH_AUTH_SOCK": "/tmp/agent.sock", "DB_PASSWORD": "hunter22", "PGPASSWORD": PG, "MYSQL_PWD": "x", "OLDPWD": "/",
           "DATABASE_URL": "postgres://localhost/db", "SLACK_WEBHOOK_URL": SLACK, "SENTRY_DSN": "https://k@s.io/1",
           "KEYBOARD": "us", "UPSTREAM": "https://u:pw-in-url@example.com/x", "COPY": "the-known-secret",
           "SHAPED": "ghp_" + "c" * 36, "TEST_DB_PASSWORD": "local-only"}
    clean = env_for_code(env, known=["the-known-secret"], keep=["TEST_DB_PASSWORD"])
    assert clean == {"PATH": "/usr/bin", "HOME": "/home/r", "PWD": "/w", "GIT_AUTHOR_NAME": "gitorch",
                     "LANG": "C.UTF-8", "OLDPWD": "/", "TEST_DB_PASSWORD": "local-only"}


def test_the_verify_command_sees_no_secret_file_no_credential_config_and_no_credential_variable(repo, monkeypatch,
                                                                                                 tmp_path):
    plant(repo, monkeypatch)
    seen = tmp_path / "seen.txt"
    cfg = config_module.load(cwd=repo)
    head = subprocess.run(["git", "-C", str(repo), "rev-parse", "HEAD"], capture_output=True, text=True).stdout.strip()
    command = f"(env; git config --list --show-origin; ls -a; cat .env; git status --porcelain) > {seen} 2>&1; echo done"
    result = Repository(repo, cfg).verify(head, command, 30)
    assert result.exit_code == 0 and result.tail == "done"
    text = seen.read_text()
    assert ".env.example" in text and "extraheader" not in text.lower()
    for value in PLANTED:
        assert value not in text, value
    assert "PGPASSWORD" not in text and "DATABASE_URL" not in text
    # The tree was clean to the code that ran there: the withheld .env does not show as deleted.
    assert " D .env" not in text


def test_planted_values_are_masked_in_everything_gitorch_writes(repo, monkeypatch):
    plant(repo, monkeypatch)
    cfg = config_module.load(cwd=repo)
    values = cfg.secrets.values()
    for value in (SMTP, PG, DB_URL, SLACK, CHECKOUT_TOKEN):
        assert value in values or any(value in v for v in values), value
    from gitorch.redact import redact

    text = f"mail {SMTP}, db {DB_URL}, hook {SLACK}, header {EXTRAHEADER}"
    masked = redact(text, values)
    assert all(v not in masked for v in PLANTED)


def test_a_builder_is_told_of_a_withheld_file_and_may_not_write_it(repo, monkeypatch):
    note = withheld_note([".env"])
    assert "`.env`" in note and "Do not write" in note
    answer = ".env\n```\nSMTP_PASSWORD=new\n```\n"
    with pytest.raises(EditError, match="secret file"):
        parse_answer(answer, {}, config_module.EditsConfig(), repo_root=str(repo))
    cfg = config_module.load(cwd=repo)
    with pytest.raises(GitError, match="secret file") as err:
        Repository(repo, cfg).commit(branch="gitorch/x", parent="HEAD", artifacts={"deploy/id_rsa": "k"},
                                     description="d", run_id="r", task_id="t", agent="a")
    assert "never by a builder" in err.value.hint


def test_codex_works_in_a_tree_with_no_secret_file_and_no_credential_config(repo, monkeypatch, tmp_path):
    plant(repo, monkeypatch)
    cfg = config_module.load(cwd=repo)
    head = subprocess.run(["git", "-C", str(repo), "rev-parse", "HEAD"], capture_output=True, text=True).stdout.strip()
    with Worktree(repo, head, tmp_path / "codex-tree", {".env": "SEEDED=1\n"}, cfg.secrets.policy) as tree:
        assert tree.withheld == [".env"]
        assert not (tree.path / ".env").exists() and (tree.path / "shop" / "settings.py").exists()
        config_list = subprocess.run(["git", "config", "--list"], cwd=tree.path, capture_output=True, text=True,
                                     env={"PATH": "/usr/bin:/bin", "GIT_CONFIG_NOSYSTEM": "1",
                                          "HOME": str(tmp_path)}).stdout
        assert "extraheader" not in config_list
        (tree.path / ".env").write_text("WRITTEN=1\n")  # what the model writes there never becomes an edit
        (tree.path / "shop" / "settings.py").write_text("X = 1\n")
        assert [p for _, _, p in tree.changes()] == ["shop/settings.py"]
    assert not (tmp_path / "codex-tree").exists()


@pytest.mark.browser
def test_planted_secrets_reach_no_model_no_verify_command_no_log_and_no_store(tmp_path, monkeypatch, caplog):
    """The issue's case: a plan task names `.env` and `shop/settings.py`, ChatGPT builds it in the
    browser, Claude plans and reviews, the repository's tests run, the run is recorded."""
    from gitorch.github.local import LocalProvider
    from gitorch.run.assemble import assemble
    from gitorch.run.state import RunRequest
    from gitorch.simulate.demo import ScriptedArchitect, StandIns, make_repository

    seen = tmp_path / "seen.txt"
    verify = f"(env; git config --list; ls -a; cat .env) > {seen} 2>&1; sh scripts/show.sh"
    repo = make_repository(tmp_path, files={
        "README.md": "# shop\n", ".env": f"SMTP_PASSWORD={SMTP}\n", "shop/__init__.py": "",
        "shop/settings.py": "import os\nSMTP_HOST = 'localhost'\n",
        "scripts/show.sh": f"echo 'a copy of the password: {SMTP}'\n"},
        config_yaml=f"verify:\n  command: {verify!r}\n")
    subprocess.run(["git", "-C", str(repo), "config", "http.https://github.com/.extraheader", EXTRAHEADER], check=True)
    plan = {"summary": f"Read the SMTP password (it is {SMTP}) from the environment", "tasks": [{
        "id": "t1", "description": "Read SMTP_PASSWORD from the environment in shop/settings.py; see .env",
        "files": [".env", "shop/settings.py"], "assigned_to": "chatgpt-pro", "depends_on": [],
        "estimated_lines": 5, "task_type": "code_generation"}]}
    answer = ("shop/settings.py\n```python\nimport os\nSMTP_HOST = 'localhost'\n"
              "SMTP_PASSWORD = os.environ.get('SMTP_PASSWORD', '')\n```\n")
    with StandIns(architect=ScriptedArchitect(plan=plan), builder_answer=lambda prompt: answer) as standins:
        env = {**standins.env(tmp_path / "state"), "PGPASSWORD": PG, "DATABASE_URL": DB_URL,
               "SLACK_WEBHOOK_URL": SLACK}
        for name in ("PGPASSWORD", "DATABASE_URL", "SLACK_WEBHOOK_URL"):
            monkeypatch.setenv(name, env[name])
        cfg = config_module.load(cwd=repo, env=env)
        github = LocalProvider(tmp_path / "github", repo_root=repo, secrets=cfg.secrets.values())
        pipeline, builders = assemble(cfg, repo_path=repo, github=github)
        try:
            result = pipeline.start(RunRequest(text="Read the SMTP password from the environment", trigger="issue",
                                               issue_number=1, confirmed=True))
        finally:
            builders.close()
        prompts = list(standins.page.prompts)
        requests = [r.raw for r in standins.api.requests]
    assert result.run.status == "done" and result.verify is not None
    (prompt,) = prompts
    assert "## Withheld files" in prompt and "`.env`" in prompt and "SMTP_HOST" in prompt
    state_bytes = b"".join(p.read_bytes() for p in (tmp_path / "state").rglob("*") if p.is_file())
    posted = [p.read_text() for p in (tmp_path / "github").rglob("*.md")]
    assert posted and any("Read the SMTP password" in text for text in posted)
    places = {"comments": "\n".join(posted), "chatgpt": prompt, "claude": "\n".join(requests), "verify": seen.read_text(),
              "verify tail": result.verify.tail, "log": caplog.text, "store": state_bytes.decode("latin-1")}
    assert places["verify tail"] == "a copy of the password: [REDACTED]"
    for place, text in places.items():
        for value in PLANTED[:4]:
            assert value not in text, (place, value)
    assert CHECKOUT_TOKEN not in places["verify"] and "extraheader" not in places["verify"]


@pytest.mark.codex
def test_codex_never_sees_a_planted_secret_nor_sends_one_to_the_responses_api(repo, monkeypatch, tmp_path):
    """The real codex binary against the Responses stand-in: the model asks to read .env, the git
    config and the environment, and to write .env; none of the planted values reaches a request."""
    import json

    from gitorch.agents.codex import CodexBuilder
    from gitorch.model import CODEX, BuildContext, Task
    from gitorch.simulate import openai_responses as oa

    plant(repo, monkeypatch)
    codex_bin = Path(__file__).resolve().parents[1] / "node_modules" / ".bin" / "codex"
    settings = "import os\nSMTP = os.environ.get('SMTP_PASSWORD', '')\nHOST = 'localhost'\n"
    with oa.ResponsesServer() as api:
        api.scenario = oa.Script(
            oa.Shell("cat .env; ls -a; git config --list --show-origin; env"),
            oa.write_file(".env", "SMTP_PASSWORD=written-by-the-model\n"),
            oa.write_file("shop/settings.py", settings),
            oa.Say("Read the password from the environment."))
        cfg = config_module.load(cwd=repo)
        cfg.state_dir = tmp_path / "state"
        cfg.codex.binary, cfg.codex.model, cfg.codex.base_url = str(codex_bin), oa.MODEL, api.base_url
        cfg.codex.timeout_s, cfg.codex.mcp = 60, False
        task = Task(id="t1", description="Read SMTP_PASSWORD from the environment", files=[".env", "shop/settings.py"],
                    assigned_to=CODEX)
        context = BuildContext(plan=None, files={"shop/settings.py": (repo / "shop" / "settings.py").read_text()},
                               repo_root=str(repo), withheld=[".env"])
        with CodexBuilder(cfg) as builder:
            result = builder.build(task, context)
        sent = "\n".join(json.dumps(r.body, ensure_ascii=False) for r in api.requests)
    assert {e.path for e in result.edits} == {"shop/settings.py"}  # the .env it wrote never became an edit
    assert "## Withheld files" in api.requests[0].turn.prompt and "`.env`" in api.requests[0].turn.prompt
    output = result.extra["commands"][0]["output"]
    assert "No such file" in output and ".env.example" in output and "extraheader" not in output
    for value in PLANTED:
        assert value not in sent, value
    assert (repo / ".env").read_text() == f"SMTP_PASSWORD={SMTP}\nDEBUG=true\n"  # the person's file is untouched


def test_the_documented_lists_are_the_lists_the_code_uses():
    import re

    from gitorch.secrets import CREDENTIAL_NAMES, NOT_SECRET

    doc = (Path(__file__).resolve().parents[1] / "docs" / "github.md").read_text()
    names = doc.split("whose name contains", 1)[1].split("in any case", 1)[0]
    assert tuple(re.findall(r"`([A-Z_]+)`", names)) == CREDENTIAL_NAMES
    table = doc.split("### Secret files are withheld", 1)[1].split("Templates stay visible", 1)[0]
    documented = [p for row in table.splitlines() if row.startswith("| `")
                  for p in re.findall(r"`([^`]+)`", row.split(" | ")[0])]
    assert documented == list(SECRET_FILES)
    templates = doc.split("Templates stay visible:", 1)[1].split("A pattern without", 1)[0]
    assert set(re.findall(r"`([^`]+)`", templates)) == set(NOT_SECRET)
