"""The pre-push hook, installed for real and run by real `git push` to local bare remotes."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from gitorch.errors import GitorchError
from gitorch.git import hook as installer

LEGACY = """#!/bin/sh
echo "legacy args: $*" > "{out}/legacy-args"
cat > "{out}/legacy-stdin"
exit {code}
"""


def git(repo: Path, *args: str, check: bool = True) -> str:
    return subprocess.run(["git", "-C", str(repo), *args], check=check, capture_output=True, text=True).stdout.strip()


def push(repo: Path, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["git", "-C", str(repo), "push", "origin", *args], capture_output=True, text=True,
                          env={**os.environ, **(env or {})}, timeout=60)


def commit(repo: Path, path: str, text: str, message: str = "change") -> str:
    (repo / path).write_text(text)
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", message)
    return git(repo, "rev-parse", "HEAD")


def gitorch_lines(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if line.startswith("gitorch")]


def hooks_dir(repo: Path) -> Path:
    return repo / ".git" / "hooks"


def write_legacy(repo: Path, out: Path, code: int = 0) -> Path:
    path = hooks_dir(repo) / "pre-push"
    path.parent.mkdir(exist_ok=True)
    path.write_text(LEGACY.format(out=out, code=code))
    path.chmod(0o755)
    return path


# -- installing -------------------------------------------------------------------------------------


def test_install_writes_a_marked_hook_that_calls_this_python(repo: Path):
    result = installer.install(repo)
    assert result.action == "installed" and result.path == hooks_dir(repo) / "pre-push"
    text = result.path.read_text()
    assert f"# ID: {installer.HOOK_ID}" in text
    assert f"GITORCH_PYTHON={sys.executable}" in text
    assert "-S -c" in text and '"$GITORCH_PATH" --hook-dir "$HERE" "$@"' in text  # no site-packages when idle
    assert '-m gitorch hook pre-push --hook-dir "$HERE" "$@"' in text  # the fallback
    assert os.access(result.path, os.X_OK)


def test_reinstall_is_a_no_op(repo: Path):
    first = installer.install(repo)
    stamp = first.path.stat().st_mtime_ns
    again = installer.install(repo)
    assert again.action == "unchanged" and first.path.stat().st_mtime_ns == stamp
    assert not (hooks_dir(repo) / "pre-push.legacy").exists()


def test_install_with_another_python_updates_the_hook(repo: Path):
    installer.install(repo, python="/opt/other/python")
    assert installer.install(repo).action == "updated"
    assert not (hooks_dir(repo) / "pre-push.legacy").exists()  # our own older hook is not "foreign"


def test_existing_hook_is_kept_as_legacy_and_uninstall_restores_it(repo: Path, tmp_path: Path):
    original = write_legacy(repo, tmp_path).read_text()
    result = installer.install(repo)
    assert result.legacy == hooks_dir(repo) / "pre-push.legacy"
    assert result.legacy.read_text() == original
    assert installer.uninstall(repo).action == "restored"
    assert (hooks_dir(repo) / "pre-push").read_text() == original
    assert not (hooks_dir(repo) / "pre-push.legacy").exists()


def test_uninstall_without_a_legacy_hook_removes_ours_and_leaves_foreign_hooks(repo: Path, tmp_path: Path):
    installer.install(repo)
    assert installer.uninstall(repo).action == "removed"
    assert not (hooks_dir(repo) / "pre-push").exists()
    assert installer.uninstall(repo).action == "not-installed"
    foreign = write_legacy(repo, tmp_path)
    assert installer.uninstall(repo).action == "not-installed" and foreign.exists()


def test_install_refuses_when_it_would_lose_a_hook(repo: Path, tmp_path: Path):
    write_legacy(repo, tmp_path)
    (hooks_dir(repo) / "pre-push.legacy").write_text("#!/bin/sh\nexit 0\n")
    with pytest.raises(GitorchError, match="both exist") as err:
        installer.install(repo)
    assert "merge them" in err.value.hint


def test_core_hooks_path_inside_the_repository_is_honoured(repo: Path, remote: Path, tmp_path: Path):
    git(repo, "config", "core.hooksPath", ".githooks")
    (repo / ".githooks").mkdir()
    legacy = repo / ".githooks" / "pre-push"
    legacy.write_text(LEGACY.format(out=tmp_path, code=0))
    legacy.chmod(0o755)
    result = installer.install(repo)
    assert result.path == repo / ".githooks" / "pre-push"
    assert not (hooks_dir(repo) / "pre-push").exists()
    commit(repo, "a.txt", "a\n")
    assert push(repo, "main").returncode == 0
    assert (tmp_path / "legacy-stdin").read_text().startswith("refs/heads/main ")


def test_core_hooks_path_outside_the_repository_is_refused_with_the_fix(repo: Path, tmp_path: Path):
    shared = tmp_path / "shared-hooks"
    git(repo, "config", "core.hooksPath", str(shared))
    with pytest.raises(GitorchError, match="outside this repository") as err:
        installer.install(repo)
    assert "git config --unset core.hooksPath" in err.value.hint
    assert not shared.exists()


def test_worktrees_share_the_hook_of_the_common_git_dir(repo: Path, tmp_path: Path):
    linked = tmp_path / "linked"
    git(repo, "worktree", "add", "-q", str(linked), "-b", "side")
    result = installer.install(linked)
    assert result.path == hooks_dir(repo) / "pre-push"


def test_install_outside_a_repository_is_explained(tmp_path: Path):
    with pytest.raises(GitorchError, match="not inside a git working tree"):
        installer.install(tmp_path)


def test_cli_install_and_uninstall(repo: Path, tmp_path: Path):
    write_legacy(repo, tmp_path)
    run = [sys.executable, "-m", "gitorch", "hooks"]
    out = subprocess.run([*run, "install"], cwd=repo, capture_output=True, text=True, check=True).stdout
    assert "installed" in out and "pre-push.legacy" in out
    out = subprocess.run([*run, "install"], cwd=repo, capture_output=True, text=True, check=True).stdout
    assert "already installed" in out
    out = subprocess.run([*run, "uninstall"], cwd=repo, capture_output=True, text=True, check=True).stdout
    assert "previous hook is back" in out


# -- pushing through the hook -----------------------------------------------------------------------


def test_push_holding_nothing_for_gitorch_goes_through_quietly(repo: Path, remote: Path):
    installer.install(repo)
    head = commit(repo, "code.py", "x = 1\n")
    result = push(repo, "main")
    assert result.returncode == 0, result.stderr
    assert gitorch_lines(result.stderr) == []
    assert git(remote, "rev-parse", "main") == head


def test_existing_hook_runs_first_with_the_same_stdin_and_arguments(repo: Path, remote: Path, tmp_path: Path):
    write_legacy(repo, tmp_path)
    installer.install(repo)
    old = git(repo, "rev-parse", "HEAD")
    head = commit(repo, "code.py", "x = 1\n")
    assert push(repo, "main").returncode == 0
    assert (tmp_path / "legacy-stdin").read_text() == f"refs/heads/main {head} refs/heads/main {old}\n"
    assert (tmp_path / "legacy-args").read_text().strip() == f"legacy args: origin {remote}"


def test_failing_legacy_hook_blocks_the_push(repo: Path, remote: Path, tmp_path: Path):
    write_legacy(repo, tmp_path, code=1)
    installer.install(repo)
    before = git(remote, "rev-parse", "main")
    commit(repo, "code.py", "x = 1\n")
    result = push(repo, "main")
    assert result.returncode != 0
    assert git(remote, "rev-parse", "main") == before


def test_gitorch_skip_still_runs_the_legacy_hook(repo: Path, remote: Path, tmp_path: Path):
    write_legacy(repo, tmp_path)
    installer.install(repo)
    (repo / ".gitorch.yml").write_text("pre_push:\n  fail_open: false\n")
    commit(repo, "TASK.md", "- [] broken item\n")
    result = push(repo, "main", env={"GITORCH_SKIP": "1"})
    assert result.returncode == 0 and gitorch_lines(result.stderr) == []
    assert (tmp_path / "legacy-stdin").exists()


def test_broken_config_fails_open_with_one_warning_line(repo: Path, remote: Path):
    installer.install(repo)
    (repo / ".gitorch.yml").write_text("pre_push:\n  review: sometimes\n")
    head = commit(repo, "TASK.md", "- [ ] add login\n")
    result = push(repo, "main")
    assert result.returncode == 0
    lines = gitorch_lines(result.stderr)
    assert len(lines) == 1 and lines[0].startswith("gitorch: pre-push check skipped, the push goes on")
    assert "pre_push.review" in lines[0]
    assert git(remote, "rev-parse", "main") == head


def test_bad_task_file_fails_open_naming_the_line(repo: Path, remote: Path):
    installer.install(repo)
    commit(repo, "TASK.md", "# Tasks\n- [ ] fine\n- [] broken\n")
    result = push(repo, "main")
    assert result.returncode == 0
    [line] = gitorch_lines(result.stderr)
    assert "line 3" in line and "is not a checklist item" in line


def test_fail_open_false_stops_the_push_and_says_how_to_skip(repo: Path, remote: Path):
    installer.install(repo)
    (repo / ".gitorch.yml").write_text("pre_push:\n  fail_open: false\n")
    before = git(remote, "rev-parse", "main")
    commit(repo, "TASK.md", "- [] broken\n")
    result = push(repo, "main")
    assert result.returncode != 0
    assert "pre_push.fail_open is false" in result.stderr and "GITORCH_SKIP=1" in result.stderr
    assert git(remote, "rev-parse", "main") == before


def test_deleting_a_branch_holds_nothing(repo: Path, remote: Path):
    git(repo, "push", "-q", "origin", "main:refs/heads/old")
    installer.install(repo)
    (repo / ".gitorch.yml").write_text("pre_push:\n  fail_open: false\n")
    result = push(repo, ":refs/heads/old")
    assert result.returncode == 0 and gitorch_lines(result.stderr) == []


def test_hook_uses_the_installing_python_whatever_is_first_on_path(repo: Path, remote: Path, tmp_path: Path):
    fake_bin = tmp_path / "bin"
    fake_bin.mkdir()
    for name in ("python", "python3", "gitorch"):
        (fake_bin / name).write_text("#!/bin/sh\necho wrong >&2\nexit 1\n")
        (fake_bin / name).chmod(0o755)
    installer.install(repo)
    commit(repo, "TASK.md", "- [] broken\n")
    git_dir = str(Path(subprocess.run(["which", "git"], capture_output=True, text=True).stdout.strip()).parent)
    result = push(repo, "main", env={"PATH": f"{fake_bin}:{git_dir}:/bin"})
    assert result.returncode == 0 and "wrong" not in result.stderr
    assert "is not a checklist item" in result.stderr  # gitorch itself ran and read the push


def test_hook_whose_python_is_gone_lets_the_push_and_the_legacy_hook_run(repo: Path, remote: Path, tmp_path: Path):
    write_legacy(repo, tmp_path)
    installer.install(repo, python=str(tmp_path / "removed-venv" / "python"))
    commit(repo, "a.txt", "a\n")
    result = push(repo, "main", env={"PATH": "/usr/bin:/bin"})
    assert result.returncode == 0
    assert "is gone and gitorch is not on PATH" in result.stderr
    assert (tmp_path / "legacy-stdin").exists()


@pytest.mark.slow
def test_pre_commit_framework_local_hook(repo: Path, remote: Path):
    (repo / ".pre-commit-config.yaml").write_text(
        "repos:\n- repo: local\n  hooks:\n  - id: gitorch\n    name: gitorch\n"
        f"    entry: {sys.executable} -m gitorch hook pre-push\n"
        "    language: system\n    stages: [pre-push]\n    pass_filenames: false\n    always_run: true\n")
    (repo / ".gitorch.yml").write_text("pre_push:\n  fail_open: false\n")
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "pre-commit config")
    subprocess.run([sys.executable, "-m", "pre_commit", "install", "--hook-type", "pre-push"], cwd=repo,
                   check=True, capture_output=True)
    before = git(remote, "rev-parse", "main")
    commit(repo, "TASK.md", "- [] broken\n")
    result = push(repo, "main")
    assert result.returncode != 0 and "line 1" in result.stdout + result.stderr
    assert git(remote, "rev-parse", "main") == before
    fixed = commit(repo, "TASK.md", "# nothing to do yet\n")
    result = push(repo, "main")
    assert result.returncode == 0, result.stdout + result.stderr
    assert git(remote, "rev-parse", "main") == fixed


def test_pre_commit_hooks_manifest_declares_a_pre_push_hook():
    import yaml

    manifest = yaml.safe_load((Path(__file__).resolve().parents[1] / ".pre-commit-hooks.yaml").read_text())
    [entry] = manifest
    assert entry["stages"] == ["pre-push"] and entry["entry"] == "gitorch hook pre-push"
    assert entry["pass_filenames"] is False and entry["always_run"] is True


def test_repository_hook_script_calls_gitorch():
    script = Path(__file__).resolve().parents[1] / "hooks" / "pre-push"
    assert 'exec gitorch hook pre-push "$@"' in script.read_text()
    assert os.access(script, os.X_OK)


# -- review of the outgoing diff (the real anthropic SDK against the local stand-in) ---------------

KEY = "sk-ant-test-hook-review-key-0123456789"


def _verdict(paths: list[str], approved: bool) -> dict:
    return {"verdict": "approve" if approved else "reject",
            "summary": "looks right" if approved else "the handler swallows errors",
            "artifacts": [{"path": p, "status": "approved" if approved else "rejected",
                           "notes": "ok" if approved else "except: pass hides failures"} for p in paths],
            "comments": [] if approved else [{"path": paths[0], "line": 2, "body": "re-raise here"}],
            "fix_tasks": [] if approved else [{"id": "fix-1", "description": "Re-raise the error",
                                               "files": paths, "assigned_to": "chatgpt-pro", "depends_on": [],
                                               "estimated_lines": 2, "task_type": "debugging"}]}


@pytest.fixture
def anthropic_api():
    from gitorch.simulate.anthropic_api import AnthropicServer

    with AnthropicServer() as server:
        yield server


def review_env(api) -> dict[str, str]:
    return {"ANTHROPIC_API_KEY": KEY, "ANTHROPIC_BASE_URL": api.base_url}


@pytest.mark.slow
def test_review_block_stops_a_rejected_push_and_prints_the_review(repo: Path, remote: Path, anthropic_api):
    installer.install(repo)
    (repo / ".gitorch.yml").write_text("pre_push:\n  review: block\n")
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "config")
    git(repo, "push", "-q", "--no-verify", "origin", "main")
    before = git(remote, "rev-parse", "main")
    commit(repo, "handler.py", "def handle():\n    try: work()\n    except Exception: pass\n")
    # the cheap rung rejects, and the next rung, asked again, rejects too
    for _ in range(2):
        anthropic_api.enqueue_tool_use("write_review", _verdict(["handler.py"], approved=False))

    result = push(repo, "main", env=review_env(anthropic_api))

    assert [r.body["model"] for r in anthropic_api.message_requests] == ["claude-haiku-5-5", "claude-sonnet-5-5"]
    assert result.returncode != 0
    assert "review rejects: the handler swallows errors" in result.stderr
    assert "handler.py: except: pass hides failures" in result.stderr
    assert "handler.py:2: re-raise here" in result.stderr and "to fix: Re-raise the error" in result.stderr
    assert "push stopped (pre_push.review: block)" in result.stderr
    assert git(remote, "rev-parse", "main") == before
    sent = anthropic_api.message_requests[0].raw
    assert "except Exception: pass" in sent and KEY not in sent

    anthropic_api.enqueue_tool_use("write_review", _verdict(["handler.py"], approved=True))
    again = push(repo, "main", env=review_env(anthropic_api))
    assert again.returncode == 0 and "review approves: looks right" in again.stderr
    assert git(remote, "rev-parse", "main") == git(repo, "rev-parse", "HEAD")


@pytest.mark.slow
def test_review_calls_are_recorded_in_the_ledger(repo: Path, remote: Path, anthropic_api, isolated_env):
    from gitorch.model import utcnow
    from gitorch.store.sqlite import SqliteStore

    installer.install(repo)
    (repo / ".gitorch.yml").write_text("pre_push:\n  review: warn\n")
    commit(repo, "handler.py", "def handle():\n    try: work()\n    except Exception: pass\n")
    for _ in range(2):  # the cheap rung's rejection is reviewed again one rung up
        anthropic_api.enqueue_tool_use("write_review", _verdict([".gitorch.yml", "handler.py"], approved=False))

    result = push(repo, "main", env=review_env(anthropic_api))

    assert result.returncode == 0 and "review rejects" in result.stderr and "pushing anyway" in result.stderr
    store = SqliteStore(isolated_env / ".gitorch" / "state.db")
    metrics = [m for m in store.metrics_since(utcnow().replace(year=2000)) if m.step == "pre-push-review"]
    assert [(m.model, m.reason) for m in metrics] == [
        ("claude-haiku-5-5", "small change (5 lines), no test command, no concern"),
        ("claude-sonnet-5-5", "escalated: claude-haiku-5-5 rejected")]
    assert all(m.agent == "claude" and m.usage.input_tokens > 0 and m.cost_usd > 0 for m in metrics)


@pytest.mark.slow
def test_review_without_a_key_fails_open(repo: Path, remote: Path):
    installer.install(repo)
    (repo / ".gitorch.yml").write_text("pre_push:\n  review: block\n")
    head = commit(repo, "a.py", "a = 1\n")
    result = push(repo, "main")
    assert result.returncode == 0
    [line] = gitorch_lines(result.stderr)
    assert "the push goes on" in line and "ANTHROPIC_API_KEY is not set" in line
    assert git(remote, "rev-parse", "main") == head


def test_idle_path_imports_nothing_heavy(repo: Path, remote: Path):
    """What `python -X importtime -m gitorch hook pre-push` shows for a push with nothing for gitorch."""
    old = git(repo, "rev-parse", "HEAD")
    head = commit(repo, "code.py", "x = 1\n")
    proc = subprocess.run([sys.executable, "-X", "importtime", "-m", "gitorch", "hook", "pre-push", "origin", "url"],
                          input=f"refs/heads/main {head} refs/heads/main {old}\n", cwd=repo, capture_output=True,
                          text=True, check=True)
    baseline = subprocess.run([sys.executable, "-X", "importtime", "-c", "pass"], capture_output=True, text=True)

    def modules(stderr: str) -> set[str]:
        return {line.split("|")[-1].strip() for line in stderr.splitlines() if line.startswith("import time:")}

    imported = modules(proc.stderr) - modules(baseline.stderr)  # what the hook added to Python's start-up
    assert "gitorch.commands.pre_push" in imported
    heavy = {"pygit2", "pydantic", "yaml", "anthropic", "click", "rich", "sklearn", "numpy", "playwright",
             "dataclasses", "gitorch.config", "gitorch.git.repo", "gitorch.git.taskfile", "gitorch.git.tasks", "gitorch.cli"}
    assert imported & heavy == set()


def test_console_script_path_runs_the_same_hook(repo: Path, remote: Path, tmp_path: Path):
    """`gitorch hook pre-push` through the click command line (as hooks/pre-push calls it)."""
    write_legacy(repo, tmp_path).rename(hooks_dir(repo) / "pre-push.legacy")
    old = git(repo, "rev-parse", "HEAD")
    head = commit(repo, "TASK.md", "- [] broken\n")
    proc = subprocess.run([sys.executable, "-c", "from gitorch.cli import main; main()", "hook", "pre-push",
                           "--hook-dir", str(hooks_dir(repo)), "origin", "url"],
                          input=f"refs/heads/main {head} refs/heads/main {old}\n", cwd=repo, capture_output=True,
                          text=True)
    assert proc.returncode == 0
    assert "the push goes on" in proc.stderr and "line 1" in proc.stderr
    assert (tmp_path / "legacy-args").read_text().strip() == "legacy args: origin url"
