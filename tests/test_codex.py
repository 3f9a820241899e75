"""The Codex builder: the real `codex` binary (npm @openai/codex) against the local Responses stand-in.

Nothing here is mocked: Codex runs in its workspace-write sandbox in a scratch worktree, talks HTTP to
``ResponsesServer`` on 127.0.0.1, applies the patches and runs the commands the scripted model asks
for, and prints its --json events, which the builder reads. Claude, in the fallback test, is the real
ClaudeBuilder against the Anthropic stand-in.
"""

from __future__ import annotations

import json
import os
import subprocess
from datetime import datetime
from pathlib import Path

import pytest
from expect import agent_error

from gitorch import edits
from gitorch.agents import get_builder
from gitorch.agents.codex import (
    CodexBuilder,
    Transcript,
    binary_version,
    build_prompt,
    classify,
    codex_check,
)
from gitorch.config import Config, Secrets
from gitorch.git.repository import Repository
from gitorch.model import CHATGPT, CLAUDE, CODEX, Artifact, BuildContext, Plan, Run, Task
from gitorch.retry import RetryPolicy
from gitorch.run.build import build_task
from gitorch.run.ledger import Ledger
from gitorch.simulate import openai_responses as oa
from gitorch.simulate.anthropic_api import AnthropicServer
from gitorch.store.sqlite import SqliteStore

pytestmark = pytest.mark.codex

CODEX_BIN = Path(__file__).resolve().parents[1] / "node_modules" / ".bin" / "codex"
RECORDED = json.loads((Path(__file__).parent / "fixtures" / "codex" / "responses-request.json").read_text())
SECRET = "sk-ant-this-must-never-reach-codex-0123456789"


def git(repo: Path, *args: str) -> str:
    return subprocess.run(["git", "-C", str(repo), *args], check=True, capture_output=True, text=True).stdout


@pytest.fixture
def shop(tmp_path) -> Path:
    repo = tmp_path / "shop"
    repo.mkdir()
    git(repo, "init", "-q", "-b", "main")
    (repo / "shop").mkdir()
    (repo / "shop" / "orders.py").write_text("def total(items):\n    return sum(items)\n")
    (repo / "shop" / "legacy.py").write_text("OLD = True\n")
    (repo / "README.md").write_text("# shop\n")
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "shop")
    return repo


@pytest.fixture
def api():
    with oa.ResponsesServer() as server:
        yield server


@pytest.fixture
def config(tmp_path, shop, api) -> Config:
    cfg = Config()
    cfg.state_dir = tmp_path / "state"
    cfg.repo_root = shop
    cfg.codex.binary = str(CODEX_BIN)
    cfg.codex.model = oa.MODEL
    cfg.codex.base_url = api.base_url
    cfg.codex.timeout_s = 60
    cfg.secrets = Secrets(anthropic_api_key=SECRET)
    return cfg


def task(*files: str, description: str = "Add a discount and a test for it.") -> Task:
    return Task(id="t1", description=description, files=list(files), assigned_to=CODEX)


def context(shop: Path, run_id: str | None = None, plan: Plan | None = None) -> BuildContext:
    return BuildContext(plan=plan, files={"shop/orders.py": (shop / "shop" / "orders.py").read_text()},
                        repo_root=str(shop), run_id=run_id)


DISCOUNT = "def total(items, discount=0):\n    return sum(items) * (1 - discount)\n"
TEST = "from shop.orders import total\n\n\ndef test_discount():\n    assert total([10], 0.5) == 5\n"


# -- a task that edits two files ----------------------------------------------------------------------


def test_codex_edits_two_files_in_a_scratch_worktree_and_leaves_the_checkout_alone(config, shop, api):
    api.scenario = oa.Script(
        oa.write_file("shop/orders.py", DISCOUNT),
        oa.Patch("*** Begin Patch\n*** Add File: tests/test_discount.py\n"
                 + "".join(f"+{line}\n" for line in TEST.splitlines()) + "*** End Patch\n"),
        oa.Shell("env; pwd"),
        oa.Say("Added a discount to total() and a test."),
    )
    seen: list[str] = []
    builder = CodexBuilder(config, progress=lambda task_id, line: seen.append(line))
    result = builder.build(task("shop/orders.py", "tests/test_discount.py"), context(shop))

    assert result.agent == CODEX and result.raw == "Added a discount to total() and a test."
    assert {e.path: e.content for e in result.edits} == {"shop/orders.py": DISCOUNT, "tests/test_discount.py": TEST}
    assert result.contents == {"shop/orders.py": DISCOUNT, "tests/test_discount.py": TEST}
    # usage from turn.completed: the stand-in's tokens, the repeated part as cache reads
    assert result.usage.input_tokens > 0 and result.usage.cache_read_input_tokens > 0
    assert result.usage.output_tokens > 0 and not result.usage.estimated
    # live progress from the --json events
    assert any(line.startswith("changed") and "orders.py" in line for line in seen)
    assert any("ran `" in line for line in seen) and seen[-1].startswith("done:")
    # Codex worked in a scratch worktree under the state folder, which is gone now
    workdir = result.extra["commands"][0]["output"].strip().splitlines()[-1]
    assert workdir.startswith(str(config.state_dir / "codex" / "worktrees"))
    assert not Path(workdir).exists()
    assert git(shop, "worktree", "list").count("\n") == 1
    assert git(shop, "status", "--porcelain") == ""
    assert (shop / "shop" / "orders.py").read_text() == "def total(items):\n    return sum(items)\n"
    # gitorch's own secrets never reach the environment the model's commands run in
    assert SECRET not in result.extra["commands"][0]["output"]
    assert "ANTHROPIC" not in result.extra["commands"][0]["output"]
    # the real binary spoke to the stand-in: the prompt went as the user's message, with no stdin block
    prompt = api.requests[0].turn.prompt
    assert "## Task t1" in prompt and "<stdin>" not in prompt
    assert api.requests[0].headers["authorization"] == f"Bearer {oa.DUMMY_KEY}"
    # every request the binary sent passed the stand-in's checks, with the fields of the recorded one
    assert [r.status for r in api.requests] == [200] * 4
    assert list(api.requests[-1].body) == list(RECORDED["body"])
    builder.close()


def test_a_deleted_file_becomes_a_deletion(config, shop, api):
    api.scenario = oa.Script(oa.delete_file("shop/legacy.py"), oa.Say("Removed the legacy module."))
    result = CodexBuilder(config).build(task("shop/legacy.py", description="Remove shop/legacy.py."), context(shop))
    assert [(e.path, e.delete) for e in result.edits] == [("shop/legacy.py", True)]
    assert result.contents == {"shop/legacy.py": None}
    assert (shop / "shop" / "legacy.py").exists()


# -- unsafe edits are refused -------------------------------------------------------------------------


def test_a_workflow_file_written_by_codex_is_refused(config, shop, api):
    api.scenario = oa.Script(oa.write_file(".github/workflows/steal.yml", "on: push\njobs: {}\n"),
                             oa.write_file("shop/orders.py", DISCOUNT), oa.Say("Done."))
    with pytest.raises(edits.EditError) as caught:
        CodexBuilder(config).build(task("shop/orders.py"), context(shop))
    assert ".github/workflows/steal.yml" in caught.value.message
    assert caught.value.result.usage.input_tokens > 0  # the call is still counted
    assert not (shop / ".github").exists()
    assert git(shop, "worktree", "list").count("\n") == 1


def test_a_symlink_out_of_the_repository_is_refused(config, shop, api):
    api.scenario = oa.Script(oa.Shell("ln -s /etc/passwd shop/passwd.txt"), oa.Say("Linked."))
    with pytest.raises(edits.EditError) as caught:
        CodexBuilder(config).build(task("shop/passwd.txt"), context(shop))
    assert "symbolic link" in caught.value.message and "shop/passwd.txt" in caught.value.message


def test_a_task_where_codex_changes_nothing_is_sent_back(config, shop, api):
    api.scenario = oa.Script(oa.Say("Everything is fine already."))
    with pytest.raises(edits.EditError, match="changed no file"):
        CodexBuilder(config).build(task("shop/orders.py"), context(shop))


# -- faults -------------------------------------------------------------------------------------------


def test_rate_limit_is_retryable(config, shop, api):
    api.enqueue_fault(oa.rate_limit(2))
    with agent_error("rate_limited") as caught:
        CodexBuilder(config).build(task("shop/orders.py"), context(shop))
    assert caught.value.retryable and "429" in caught.value.message


def test_server_error_is_retryable(config, shop, api):
    api.enqueue_fault(oa.server_error())
    with agent_error("server_error") as caught:
        CodexBuilder(config).build(task("shop/orders.py"), context(shop))
    assert caught.value.retryable


def test_usage_limit_defers_the_run_to_the_reset_time(config, shop, api):
    api.enqueue_fault(oa.usage_limit(resets_in_s=2 * 3600))
    with agent_error("usage_cap") as caught:
        CodexBuilder(config).build(task("shop/orders.py"), context(shop))
    err = caught.value
    assert not err.retryable and "resets at" in err.hint and err.deferred_until
    wait = datetime.fromisoformat(err.deferred_until) - datetime.now().astimezone()
    assert 1.9 * 3600 < wait.total_seconds() < 2.1 * 3600


def test_a_model_the_service_does_not_have_fails_with_the_apis_own_words(config, shop, api):
    config.codex.model = "gpt-9-imaginary"
    with agent_error("failed") as caught:
        CodexBuilder(config).build(task("shop/orders.py"), context(shop))
    assert "The requested model 'gpt-9-imaginary' does not exist." in caught.value.message
    assert [(r.status, r.error["code"]) for r in api.requests] == [(400, "model_not_found")]


def test_a_rejected_key_says_how_to_log_in(config, shop, api):
    api.enqueue_fault(oa.unauthorized())
    with agent_error("session_expired") as caught:
        CodexBuilder(config).build(task("shop/orders.py"), context(shop))
    assert "codex login" in caught.value.hint and "CODEX_API_KEY" in caught.value.hint


def test_a_task_over_the_time_limit_is_stopped_and_cleaned_up(config, shop, api, tmp_path):
    config.codex.timeout_s = 6
    marker = "gitorch-timeout-test-marker"
    started = tmp_path / "started"
    api.scenario = oa.Script(oa.Shell(f"touch {started}; exec -a {marker} sleep 120"), oa.Say("never"))
    with agent_error("timeout") as caught:
        CodexBuilder(config).build(task("shop/orders.py"), context(shop))
    assert caught.value.retryable and "6 s" in caught.value.message
    assert git(shop, "worktree", "list").count("\n") == 1
    ps = subprocess.run(["ps", "-eo", "args"], capture_output=True, text=True).stdout
    assert started.exists() and marker not in ps  # the model's command ran, and was stopped with Codex


def test_a_missing_binary_says_how_to_install_it(config, shop):
    config.codex.binary = "codex-that-is-not-installed"
    with agent_error("unavailable") as caught:
        CodexBuilder(config).build(task("shop/orders.py"), context(shop))
    assert "@openai/codex@0.169.0" in caught.value.hint


def test_an_old_binary_is_refused(config, tmp_path):
    old = tmp_path / "codex"
    old.write_text("#!/bin/sh\necho 'codex-cli 0.1.9'\n")
    old.chmod(0o755)
    config.codex.binary = str(old)
    with agent_error("unavailable", match="0.1.9 is too old"):
        binary_version(config)


# -- the fallback policy of gitorch.run.build ------------------------------------------------------------


def test_codex_rate_limited_once_is_retried_by_the_policy(config, shop, api):
    api.enqueue_fault(oa.rate_limit(1))
    api.scenario = oa.Script(oa.write_file("shop/orders.py", DISCOUNT), oa.Say("Done."))
    policy = RetryPolicy(attempts=3, sleep=lambda s: None)
    builders = {CODEX: CodexBuilder(config)}
    with SqliteStore(config.db_path) as store:
        result = build_task(task("shop/orders.py"), context(shop), config, builders, policy, Ledger(store, config),
                            repo=Repository(shop, config))
    assert result.agent == CODEX and not result.fallback and len(policy.waits) == 1
    assert result.contents == {"shop/orders.py": DISCOUNT}


def test_codex_at_its_usage_limit_falls_back_to_claude(config, shop, api, tmp_path):
    from gitorch.agents.claude import ClaudeBuilder

    api.enqueue_fault(oa.usage_limit())
    config.agents.fallback = [CLAUDE]
    with AnthropicServer() as claude_api:
        claude_api.enqueue_text(f"shop/orders.py\n```python\n{DISCOUNT}```\n")
        config.anthropic.base_url = claude_api.base_url
        store = SqliteStore(tmp_path / "ledger.db")
        builders = {CODEX: CodexBuilder(config), CLAUDE: ClaudeBuilder(config, sleep=lambda s: None)}
        result = build_task(task("shop/orders.py"), context(shop, run_id="run-fb"), config, builders,
                            RetryPolicy(attempts=2, sleep=lambda s: None), Ledger(store, config),
                            repo=Repository(shop, config))
    assert result.agent == CLAUDE and result.fallback
    assert result.failures[0].agent == CODEX and "usage limit" in result.failures[0].error
    assert result.contents == {"shop/orders.py": DISCOUNT}
    rows = store.metrics_since(datetime(2000, 1, 1).astimezone())
    assert [(m.agent, m.fallback) for m in rows] == [(CLAUDE, True)]
    store.close()


def test_codex_is_a_registered_builder(config):
    builder = get_builder(CODEX, config=config)
    assert isinstance(builder, CodexBuilder) and builder.id == CODEX


# -- the MCP handoff ----------------------------------------------------------------------------------


def _store_with_plan(config: Config) -> tuple[SqliteStore, Plan]:
    store = SqliteStore(config.db_path)
    plan = Plan(summary="A discount on orders, with tests.", run_id="run-mcp", tasks=[
        Task(id="t1", description="Add a discount to total().", files=["shop/orders.py"], assigned_to=CODEX),
        Task(id="t2", description="Test the discount.", files=["tests/test_discount.py"], depends_on=["t1"]),
    ])
    store.save_run(Run(id="run-mcp", text="Discounts"))
    store.save_plan(plan)
    store.save_artifact(Artifact(path="shop/orders.py", content=DISCOUNT, task_id="t1", agent=CODEX,
                                 run_id="run-mcp"))
    return store, plan


@pytest.mark.parametrize("transport", ["http", "stdio"])
def test_codex_reads_the_plan_through_the_gitorch_mcp_server(config, shop, api, transport):
    config.codex.mcp_transport = transport
    store, plan = _store_with_plan(config)
    api.scenario = oa.Script(oa.McpCall("gitorch", "get_plan", {"run_id": "run-mcp"}),
                             oa.write_file("tests/test_discount.py", TEST), oa.Say("Wrote the test."))
    builder = CodexBuilder(config)
    result = builder.build(plan.tasks[1], context(shop, run_id="run-mcp", plan=plan))
    builder.close()
    store.close()
    assert [c["tool"] for c in result.extra["mcp_calls"]] == ["get_plan"]
    assert result.extra["mcp_calls"][0]["error"] is None
    # what the MCP server answered went back to the model, so the prompt did not need to carry it
    plan_json = api.requests[1].turn.outputs[0]
    assert "A discount on orders, with tests." in plan_json and "run-mcp" in plan_json
    # the tool's structured content, as an object (not JSON escaped inside {"result": "..."})
    plan = json.loads(plan_json.split("Output:\n", 1)[1])
    assert plan["summary"] == "A discount on orders, with tests." and [t["id"] for t in plan["tasks"]] == ["t1", "t2"]
    assert "A discount on orders" not in api.requests[0].turn.prompt
    assert "mcp__gitorch__get_plan" in api.requests[0].turn.tools


def test_without_mcp_the_prompt_carries_the_plan_and_the_other_tasks_files(shop):
    plan = Plan(summary="A discount on orders, with tests.", tasks=[
        Task(id="t1", description="Add a discount.", files=["shop/orders.py"]),
        Task(id="t2", description="Test it.", files=["tests/test_discount.py"])])
    ctx = BuildContext(plan=plan, files={"shop/orders.py": DISCOUNT}, run_id="run-1", repo_root=str(shop))
    with_mcp = build_prompt(plan.tasks[1], ctx, mcp=True)
    without = build_prompt(plan.tasks[1], ctx, mcp=False)
    assert "get_plan" in with_mcp and "run-1" in with_mcp and DISCOUNT not in with_mcp
    assert "A discount on orders" in without and "t1" in without and "return sum(items) * (1 - discount)" in without
    assert len(with_mcp) < len(without)


# -- events, errors and doctor, without the binary -------------------------------------------------------


EVENTS = [
    {"type": "thread.started", "thread_id": "th-1"},
    {"type": "turn.started"},
    {"type": "item.completed", "item": {"id": "i0", "type": "error", "message": "Model metadata not found"}},
    {"type": "item.started", "item": {"id": "i1", "type": "command_execution", "command": "pytest -q",
                                      "aggregated_output": "", "exit_code": None, "status": "in_progress"}},
    {"type": "item.completed", "item": {"id": "i1", "type": "command_execution", "command": "pytest -q",
                                        "aggregated_output": "1 passed", "exit_code": 0, "status": "completed"}},
    {"type": "item.completed", "item": {"id": "i2", "type": "file_change", "status": "completed",
                                        "changes": [{"path": "/w/a.py", "kind": "update"}]}},
    {"type": "item.completed", "item": {"id": "i3", "type": "agent_message", "text": "Done.\nMore."}},
    {"type": "turn.completed", "usage": {"input_tokens": 1000, "cached_input_tokens": 600, "output_tokens": 50,
                                         "reasoning_output_tokens": 10}},
]


def test_the_json_events_become_progress_and_usage():
    transcript = Transcript()
    lines = [transcript.feed(event) for event in EVENTS]
    assert [line for line in lines if line] == [
        "codex session th-1", "running `pytest -q`", "ran `pytest -q` (exit 0)", "changed update a.py",
        "says: Done.", "done: 1000 input, 50 output tokens"]
    assert transcript.usage.input_tokens == 400 and transcript.usage.cache_read_input_tokens == 600
    assert transcript.usage.output_tokens == 50 and transcript.reasoning_tokens == 10
    assert transcript.warnings == ["Model metadata not found"] and transcript.completed


@pytest.mark.parametrize(("message", "reason"), [
    ("exceeded retry limit, last status: 429 Too Many Requests", "rate_limited"),
    ("We’re currently experiencing high demand, which may cause temporary errors.", "server_error"),
    ("unexpected status 502 Bad Gateway", "server_error"),
    ("unexpected status 401 Unauthorized: Incorrect API key provided", "session_expired"),
    ("Your access token could not be refreshed because your refresh token was already used. "
     "Please log out and sign in again.", "session_expired"),
    ("Not logged in", "session_expired"),
    ("You’ve hit your usage limit. Upgrade to Pro or try again at 7:17 AM.", "usage_cap"),
    ("the model refused", "failed"),
])
def test_codex_failures_are_told_apart(message, reason):
    assert classify(message).reason == reason


def test_the_usage_limit_reset_time_is_the_next_occurrence():
    now = datetime(2026, 11, 27, 8, 0).astimezone()
    err = classify("You’ve hit your usage limit. Try again at 7:17 AM.", now=now)
    assert "resets at 7:17 AM" in err.hint and err.deferred_until.startswith("2026-11-28T07:17")
    later = classify("You’ve hit your usage limit. try again at 9:05 PM.", now=now)
    assert later.deferred_until.startswith("2026-11-27T21:05")


def test_rate_limit_wait_is_read_from_the_message():
    assert classify("Rate limit reached. Please try again in 1.5s.").retry_after_s == 1.5
    assert classify("Rate limit reached. Please try again in 120ms.").retry_after_s == 0.12


def test_doctor_reports_the_version_and_that_nobody_logged_in(tmp_path):
    cfg = Config()
    cfg.state_dir = tmp_path / "state"
    cfg.codex.binary = str(CODEX_BIN)
    cfg.agents.builder = CODEX
    check = codex_check(cfg)
    assert check.status == "fail" and "codex-cli 0.169.0" in check.detail and "not logged in" in check.detail
    assert "codex login" in check.fix
    home = tmp_path / "codex-home"
    home.mkdir()
    (home / "auth.json").write_text(json.dumps({"auth_mode": "apikey", "OPENAI_API_KEY": "sk-test-abcdef123456"}))
    cfg.codex.home = str(home)
    check = codex_check(cfg)
    assert check.status == "ok" and "sk-test-abcdef123456" not in check.detail
    assert os.environ.get("CODEX_HOME") is None


# -- the demo's scenario ----------------------------------------------------------------------------------


def test_the_demo_scenario_builds_a_demo_task_and_its_fix(config, tmp_path):
    from gitorch.simulate import demo_scenario
    from gitorch.simulate.demo import make_repository

    repo = make_repository(tmp_path / "demo")
    config.repo_root = repo
    plan = Plan(summary=demo_scenario.PLAN["summary"], run_id="run-demo",
                tasks=[Task(**{**t, "assigned_to": CODEX}) for t in demo_scenario.PLAN["tasks"]])
    store = SqliteStore(config.db_path)
    store.save_run(Run(id="run-demo", text=demo_scenario.ISSUE_TITLE))
    store.save_plan(plan)
    store.close()
    with oa.ResponsesServer(oa.DemoScenario()) as demo_api:
        config.codex.base_url = demo_api.base_url
        builder = CodexBuilder(config)
        ctx = BuildContext(plan=plan, files={}, run_id="run-demo", repo_root=str(repo))
        first = builder.build(plan.tasks[2], ctx)
        fix = Task(id="fix-1", description="Finish the NotImplementedError in shop/notifications/preferences.py",
                   files=["shop/notifications/preferences.py"], assigned_to=CODEX, task_type="debugging")
        fixed = builder.build(fix, BuildContext(plan=plan, files=first.contents, run_id="run-demo",
                                                repo_root=str(repo)))
    path = "shop/notifications/preferences.py"
    assert first.contents == {path: demo_scenario.ANSWERS[path]}
    assert [c["tool"] for c in first.extra["mcp_calls"]] == ["get_plan"]
    assert fixed.contents == {path: demo_scenario.FIXES[path]}


# -- codex as a choice: the router and the ledger --------------------------------------------------------


def test_the_router_offers_codex_when_it_is_the_builder_or_a_fallback(tmp_path):
    from gitorch import stats
    from gitorch.cost import metric_for
    from gitorch.model import Usage
    from gitorch.routing import Router

    cfg = Config()
    cfg.state_dir = tmp_path / "state"
    cfg.agents.builder = CODEX
    store = SqliteStore(cfg.db_path)
    decision = Router(cfg, store, repo="r").route("Write a function that formats invoices as CSV", record=False)
    assert decision.agent == CODEX and "codex" in decision.scores
    cfg.agents.builder = "chatgpt-pro"
    cfg.agents.fallback = [CODEX, CLAUDE]
    assert CODEX in Router(cfg, store, repo="r").route("Write a CSV export", record=False).scores
    # on the plan Codex costs nothing at the margin; what Claude alone would have sent is priced for the saving
    store.record_metric(metric_for(cfg, agent=CODEX, model=oa.MODEL, usage=Usage(10_000, 2_000), duration_s=3.0,
                                   claude_alone=Usage(3_000, 2_000, estimated=True)))
    figures = stats.compute(store, cfg)
    assert figures["by_agent"][CODEX]["cost_usd"] == 0 and figures["by_agent"][CODEX]["baseline_cost_usd"] > 0
    assert figures["chatgpt_tokens"] == 12_000
    # each builder's review pass rate, side by side
    store.save_run(Run(id="run-rates", text="x"))
    for n, status in enumerate(["approved", "approved", "rejected"]):
        store.save_artifact(Artifact(path=f"f{n}.py", content="x\n", task_id="t1", agent=CODEX, run_id="run-rates",
                                     review_status=status))
    store.save_artifact(Artifact(path="g.py", content="x\n", task_id="t2", agent=CHATGPT, run_id="run-rates",
                                 review_status="approved"))
    rates = stats.compute(store, cfg)["review_by_agent"]
    assert rates[CODEX] == {"reviewed": 3, "approved": 2, "pass_pct": 66.67}
    assert rates[CHATGPT]["pass_pct"] == 100.0
    store.close()


def test_the_worktree_is_seeded_only_inside_itself(shop, tmp_path):
    from gitorch.agents.codex import Worktree

    outside = tmp_path / "outside.txt"
    files = {"shop/orders.py": DISCOUNT, "../outside.txt": "escaped\n", ".git/hooks/post-checkout": "#!/bin/sh\n"}
    with Worktree(shop, "HEAD", tmp_path / "wt", files) as tree:
        assert (tree.path / "shop" / "orders.py").read_text() == DISCOUNT
        assert tree.changes() == []  # the seeded state is the baseline
        (tree.path / "new.txt").write_text("new\n")
        (tree.path / "shop" / "legacy.py").unlink()
        assert sorted(tree.changes()) == [("A", "100644", "new.txt"), ("D", "000000", "shop/legacy.py")]
    assert not outside.exists() and not (tmp_path / "wt").exists()
    assert not (shop / ".git" / "hooks" / "post-checkout").exists()
    assert git(shop, "worktree", "list").count("\n") == 1


def test_the_environment_points_the_builder_at_the_stand_in(tmp_path, api):
    from gitorch import config as config_module

    cfg = config_module.load(cwd=tmp_path, env={**api.env(), "GITORCH_HOME": str(tmp_path / "state")})
    assert cfg.codex.base_url == api.base_url and cfg.codex.model == oa.MODEL
    builder = CodexBuilder(cfg)
    args = builder.command(tmp_path, "the task")
    assert args[-2:] == ["--", "the task"] and "-s" in args and args[args.index("-s") + 1] == "workspace-write"
    assert f'model_providers.gitorch.base_url="{api.base_url}"' in args
    assert "analytics.enabled=false" in args and "plugins" in args  # no calls home from a stand-in run
    assert "mcp_servers.gitorch.required=true" in args
    assert f'mcp_servers.gitorch.url="{builder.mcp_http().url}"' in args  # one server for every task
    assert builder.environment()["GITORCH_MCP_TOKEN"] == builder.mcp_http().token
    builder.close()


def test_the_http_mcp_server_wants_its_token(tmp_path):
    import urllib.error
    import urllib.request

    from gitorch.mcp_server import HttpServer

    cfg = Config()
    cfg.state_dir = tmp_path / "state"
    body = json.dumps({"jsonrpc": "2.0", "id": 1, "method": "tools/list", "params": {}}).encode()
    headers = {"content-type": "application/json", "accept": "application/json, text/event-stream",
               "mcp-protocol-version": "2025-06-18"}
    with HttpServer(cfg) as server:
        with pytest.raises(urllib.error.HTTPError) as caught:
            urllib.request.urlopen(urllib.request.Request(server.url, body, headers))
        assert caught.value.code == 401
        request = urllib.request.Request(server.url, body, {**headers, "authorization": f"Bearer {server.token}"})
        with urllib.request.urlopen(request) as answer:
            tools = json.loads(answer.read())["result"]["tools"]
    assert "get_plan" in {t["name"] for t in tools}


def test_a_background_process_the_model_started_does_not_outlive_the_task(config, shop, api, tmp_path):
    marker = "gitorch-background-test-marker"
    api.scenario = oa.Script(oa.Shell(f"(exec -a {marker} sleep 120) > /dev/null 2>&1 &"),
                             oa.write_file("shop/orders.py", DISCOUNT), oa.Say("Done."))
    CodexBuilder(config).build(task("shop/orders.py"), context(shop))
    ps = subprocess.run(["ps", "-eo", "args"], capture_output=True, text=True).stdout
    assert marker not in ps
