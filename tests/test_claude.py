"""Claude as architect and builder: the real anthropic SDK against the local stand-in, for plans,
reviews, streaming, every fault, cache accounting in the ledger, invalid tool input, and secrets."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
from click.testing import CliRunner
from expect import agent_error

from gitorch import config as config_module
from gitorch.agents import get_builder
from gitorch.agents.claude import ClaudeArchitect, ClaudeBuilder
from gitorch.cli import cli
from gitorch.cost import PriceTable
from gitorch.errors import AgentError, GitorchError
from gitorch.git.context import build_context
from gitorch.model import BuildContext, Plan, Task, Usage
from gitorch.run.ledger import Ledger
from gitorch.simulate.anthropic_api import AnthropicServer
from gitorch.store.sqlite import SqliteStore

KEY = "sk-ant-test-architect-key-0123456789"
CONTEXT = "## Repository map\n" + "pkg/module.py: def handler(request)\n" * 300  # > 1024 tokens

PLAN = {"summary": "Add a verbose flag", "tasks": [
    {"id": "t1", "description": "Add --verbose to the CLI", "files": ["pkg/cli.py"], "assigned_to": "chatgpt-pro",
     "depends_on": [], "estimated_lines": 20, "task_type": "code_generation"},
    {"id": "t2", "description": "Test the flag", "files": ["tests/test_cli.py"], "assigned_to": "codex",
     "depends_on": ["t1"], "estimated_lines": 15, "task_type": "code_generation"},
]}
DIFF = """diff --git a/pkg/cli.py b/pkg/cli.py
--- a/pkg/cli.py
+++ b/pkg/cli.py
@@ -1,3 +1,5 @@
 import click
+
+VERBOSE = False  # TODO wire it
 def main():
     pass
diff --git a/pkg/util.py b/pkg/util.py
--- a/pkg/util.py
+++ b/pkg/util.py
@@ -10,2 +10,3 @@
 def a():
+    return 1
     pass
"""
ARTIFACTS = {"pkg/cli.py": "import click\n\nVERBOSE = False  # TODO wire it\ndef main():\n    pass\n",
             "pkg/util.py": "...\n"}


def _review(**over):
    data = {"verdict": "reject", "summary": "one to fix",
            "artifacts": [{"path": "pkg/cli.py", "status": "rejected", "notes": "TODO left"},
                          {"path": "pkg/util.py", "status": "approved", "notes": "fine"}],
            "comments": [{"path": "pkg/cli.py", "line": 3, "body": "wire this"}],
            "fix_tasks": [{"id": "fix-1", "description": "Wire VERBOSE", "files": ["pkg/cli.py"],
                           "assigned_to": "chatgpt-pro", "depends_on": [], "estimated_lines": 5,
                           "task_type": "debugging"}]}
    data.update(over)
    return data


@pytest.fixture
def api():
    with AnthropicServer() as server:
        yield server


@pytest.fixture
def config(api, tmp_path):
    return config_module.load(cwd=tmp_path, env={"ANTHROPIC_API_KEY": KEY, "ANTHROPIC_BASE_URL": api.base_url,
                                                  "GITORCH_HOME": str(tmp_path / "state")})


@pytest.fixture
def waits():
    return []


@pytest.fixture
def architect(config, waits):
    return ClaudeArchitect(config, sleep=waits.append)


# -- plans ----------------------------------------------------------------------------------------


def test_plan_comes_back_as_tasks_from_the_write_plan_tool(api, architect):
    api.enqueue_tool_use("write_plan", PLAN, text="Here is my plan.")
    result = architect.plan("Add a --verbose flag", CONTEXT)
    assert [t.id for t in result.plan.tasks] == ["t1", "t2"]
    assert result.plan.tasks[1].assigned_to == "codex" and result.plan.tasks[1].depends_on == ["t1"]
    assert result.model == "claude-sonnet-5-5" and result.calls == 1
    assert result.usage.output_tokens > 0 and result.usage.cache_creation_input_tokens > 1000
    sent = api.message_requests[0].body
    assert sent["stream"] is True
    assert sent["tool_choice"] == {"type": "auto"}
    assert {t["name"] for t in sent["tools"]} == {"write_plan", "write_review"}
    assert sent["system"][-1]["cache_control"] == {"type": "ephemeral"}  # the stable part is marked
    assert "pkg/module.py" in sent["system"][-1]["text"]
    assert "Add a --verbose flag" in sent["messages"][-1]["content"][0]["text"]  # the varying part last


def test_invalid_plan_is_sent_back_with_the_reason_once(api, architect):
    bad = {"summary": "s", "tasks": [{**PLAN["tasks"][0], "assigned_to": "gpt-9", "depends_on": ["t7"]}]}
    api.enqueue_tool_use("write_plan", bad).enqueue_tool_use("write_plan", PLAN)
    result = architect.plan("Add a --verbose flag", CONTEXT)
    assert result.calls == 2 and len(result.plan.tasks) == 2
    second = api.message_requests[1].body["messages"]
    feedback = second[-1]["content"][0]
    assert feedback["type"] == "tool_result" and feedback["is_error"] is True
    assert "assigned_to 'gpt-9'" in feedback["content"] and "'t7'" in feedback["content"]
    assert second[-2]["role"] == "assistant" and second[-2]["content"][-1]["type"] == "tool_use"
    assert api.message_requests[1].usage["cache_read_input_tokens"] > 1000  # the re-ask reads the cache


def test_invalid_plan_twice_fails_with_the_reason(api, architect):
    cycle = {"summary": "s", "tasks": [{**PLAN["tasks"][0], "depends_on": ["t2"]}, PLAN["tasks"][1]]}
    api.enqueue_tool_use("write_plan", cycle).enqueue_tool_use("write_plan", {"summary": "s", "tasks": []})
    with pytest.raises(AgentError, match="not usable twice: tasks is missing or empty"):
        architect.plan("x", CONTEXT)
    assert len(api.message_requests) == 2


def test_plan_touching_workflows_or_escaping_the_repo_is_invalid(api, architect):
    bad = {"summary": "s", "tasks": [{**PLAN["tasks"][0], "files": ["../etc/passwd", ".github/workflows/ci.yml"]}]}
    api.enqueue_tool_use("write_plan", bad).enqueue_tool_use("write_plan", PLAN)
    architect.plan("x", CONTEXT)
    reason = api.message_requests[1].body["messages"][-1]["content"][0]["content"]
    assert "../etc/passwd" in reason and ".github/workflows/ci.yml" in reason


def test_a_text_only_answer_is_asked_again_for_the_tool(api, architect):
    api.enqueue_text("I think you should add a flag.").enqueue_tool_use("write_plan", PLAN)
    result = architect.plan("x", CONTEXT)
    assert result.calls == 2
    follow = api.message_requests[1].body["messages"][-1]["content"][0]["text"]
    assert "without calling write_plan" in follow


# -- reviews --------------------------------------------------------------------------------------


def test_review_rejects_unless_every_artifact_is_approved(api, architect):
    api.enqueue_tool_use("write_review", _review(verdict="approve"))  # the model's verdict is not trusted
    result = architect.review(Plan("p", []), DIFF, ARTIFACTS)
    review = result.review
    assert review.verdict == "reject"
    assert [(v.path, v.approved) for v in review.artifacts] == [("pkg/cli.py", False), ("pkg/util.py", True)]
    assert review.fix_tasks[0].id == "fix-1" and review.comments[0].line == 3
    assert result.model == "claude-sonnet-5-5"
    content = api.message_requests[0].body["messages"][0]["content"]
    assert content[0]["cache_control"] == {"type": "ephemeral"} and "<plan>" in content[0]["text"]
    assert "<diff>" in content[1]["text"] and "### artifact: pkg/util.py" in content[1]["text"]


def test_review_approves_when_all_artifacts_are_approved(api, architect):
    approved = _review(artifacts=[{"path": p, "status": "approved", "notes": "ok"} for p in ARTIFACTS],
                       comments=[], fix_tasks=[])
    api.enqueue_tool_use("write_review", approved)
    assert architect.review(None, DIFF, ARTIFACTS).review.verdict == "approve"


def test_review_comments_are_moved_onto_the_diff_or_kept_as_notes(api, architect):
    comments = [{"path": "pkg/cli.py", "line": 3, "body": "on an added line"},
                {"path": "pkg/cli.py", "line": 6, "body": "one line past the hunk"},
                {"path": "pkg/util.py", "line": 90, "body": "far outside the diff"},
                {"path": "pkg/cli.py", "line": 1, "body": "on a context line"}]
    api.enqueue_tool_use("write_review", _review(comments=comments))
    review = architect.review(None, DIFF, ARTIFACTS).review
    assert [(c.path, c.line) for c in review.comments] == [("pkg/cli.py", 3), ("pkg/cli.py", 5), ("pkg/cli.py", 1)]
    util = next(v for v in review.artifacts if v.path == "pkg/util.py")
    assert "(line 90) far outside the diff" in util.notes


def test_review_without_fix_tasks_for_rejected_work_is_asked_again(api, architect):
    api.enqueue_tool_use("write_review", _review(fix_tasks=[]))
    api.enqueue_tool_use("write_review", _review())
    result = architect.review(None, DIFF, ARTIFACTS)
    assert result.calls == 2
    reason = api.message_requests[1].body["messages"][-1]["content"][0]["content"]
    assert "fix_tasks is empty" in reason


def test_review_must_give_every_artifact_a_status(api, architect):
    partial = _review(artifacts=[{"path": "pkg/cli.py", "status": "rejected", "notes": "x"},
                                 {"path": "pkg/other.py", "status": "approved", "notes": "x"}])
    api.enqueue_tool_use("write_review", partial).enqueue_tool_use("write_review", partial)
    with pytest.raises(AgentError, match="no status for: pkg/util.py"):
        architect.review(None, DIFF, ARTIFACTS)
    assert len(api.message_requests) == 2  # the second call carried the reason
    assert "'pkg/other.py' is not one of the artifacts" in api.message_requests[1].raw


def test_long_review_arrives_streamed_in_many_pieces(api, architect):
    long_notes = "This needs care because " * 400
    data = _review(artifacts=[{"path": "pkg/cli.py", "status": "rejected", "notes": long_notes},
                              {"path": "pkg/util.py", "status": "approved", "notes": "ok"}])
    api.chunk_chars = 16
    api.enqueue_tool_use("write_review", data, text="Reviewing. " * 50)
    result = architect.review(None, DIFF, ARTIFACTS)
    assert result.review.artifacts[0].notes == long_notes.strip()
    assert result.usage.output_tokens > 2000


# -- faults -----------------------------------------------------------------------------------------


def test_rate_limit_and_overload_are_retried_honouring_retry_after(api, architect):
    api.enqueue_fault(429, retry_after=0.3).enqueue_fault(529, retry_after=0.1)
    api.enqueue_tool_use("write_plan", PLAN)
    result = architect.plan("x", CONTEXT)
    assert len(result.plan.tasks) == 2
    sent = api.message_requests
    assert [r.status for r in sent] == [429, 529, 200]
    assert [r.retry_count for r in sent] == [0, 1, 2]
    assert sent[1].at - sent[0].at >= 0.3 and sent[2].at - sent[1].at >= 0.1


def test_server_error_is_retried_then_succeeds(api, architect):
    api.enqueue_fault(500, retry_after=0.05).enqueue_tool_use("write_plan", PLAN)
    assert architect.plan("x", CONTEXT).calls == 1
    assert [r.status for r in api.message_requests] == [500, 200]


def test_overload_on_every_attempt_fails_clearly_after_three(api, architect):
    api.enqueue_fault(529, retry_after=0.05, times=3)
    with pytest.raises(AgentError, match="overloaded after 3 attempts") as err:
        architect.plan("x", CONTEXT)
    assert not err.value.retryable  # the SDK already retried: no second loop on top
    assert len(api.message_requests) == 3


def test_stream_cut_midway_is_asked_again(api, architect, waits):
    api.enqueue_stream_cut(after_events=4).enqueue_tool_use("write_plan", PLAN)
    result = architect.plan("x", CONTEXT)
    assert len(result.plan.tasks) == 2
    assert len(api.message_requests) == 2 and len(waits) == 1 and 0 < waits[0] <= 0.5


def test_stream_cut_on_every_attempt_fails(api, architect, waits):
    for _ in range(3):
        api.enqueue_stream_cut(after_events=3)
    with pytest.raises(AgentError, match="broke off"):
        architect.plan("x", CONTEXT)
    assert len(api.message_requests) == 3 and len(waits) == 2


def test_exhausted_credit_is_not_retried(api, architect):
    api.enqueue_spend_limit().enqueue_tool_use("write_plan", PLAN)
    with agent_error("spend_limit", match="credit balance is too low") as err:
        architect.plan("x", CONTEXT)
    assert "spend limit" in err.value.hint and not err.value.retryable
    assert len(api.message_requests) == 1


def test_long_retry_after_defers_instead_of_sleeping(api, architect):
    api.enqueue_fault(429, retry_after=3600)
    with pytest.raises(AgentError, match="deferred until") as err:
        architect.plan("x", CONTEXT)
    assert err.value.deferred_until and err.value.retry_after_s == 3600
    assert len(api.message_requests) == 1


def test_rejected_key_fails_at_once_naming_the_variable(tmp_path):
    with AnthropicServer(api_key="sk-ant-the-only-valid-key-000") as api:
        cfg = config_module.load(cwd=tmp_path, env={"ANTHROPIC_API_KEY": KEY, "ANTHROPIC_BASE_URL": api.base_url})
        with pytest.raises(AgentError, match="refused the key") as err:
            ClaudeArchitect(cfg).plan("x", CONTEXT)
        assert "ANTHROPIC_API_KEY" in err.value.hint
        assert len(api.requests) == 1


def test_missing_key_fails_before_any_request(api, tmp_path):
    cfg = config_module.load(cwd=tmp_path, env={"ANTHROPIC_BASE_URL": api.base_url})
    with pytest.raises(GitorchError, match="ANTHROPIC_API_KEY is not set") as err:
        ClaudeArchitect(cfg)
    assert "export ANTHROPIC_API_KEY" in err.value.hint
    assert api.requests == []


# -- the ledger and the cache -------------------------------------------------------------------------


def test_cache_reads_reach_the_ledger(api, config, architect):
    api.enqueue_tool_use("write_plan", PLAN)
    plan = architect.plan("Add a --verbose flag", CONTEXT)
    reviews = []
    for _ in range(3):
        api.enqueue_tool_use("write_review", _review())
        reviews.append(architect.review(plan.plan, DIFF, ARTIFACTS))
    with SqliteStore(config.db_path) as store:
        ledger = Ledger(store, config)
        ledger.record_architect(plan, step="plan", task_type="planning")
        for r in reviews:
            ledger.record_architect(r, step="review", task_type="review")
        rows = store.metrics_since(plan.plan.created_at.replace(year=2000))
    assert [m.step for m in rows] == ["plan", "review", "review", "review"]
    assert rows[0].usage.cache_creation_input_tokens > 1000
    # plan and review share a model by default, so the first review reads the plan's prefix
    assert rows[1].usage.cache_read_input_tokens > 1000
    assert rows[2].usage.cache_read_input_tokens >= rows[1].usage.cache_read_input_tokens
    assert rows[3].usage.cache_read_input_tokens > 0
    u = rows[3].usage
    uncached = PriceTable.from_config(config).usd(rows[3].model, Usage(input_tokens=u.total_input_tokens,
                                                                      output_tokens=u.output_tokens))
    assert rows[3].cost_usd < uncached / 2


# -- secrets ------------------------------------------------------------------------------------------


def _git(path: Path, *args: str) -> None:
    subprocess.run(["git", "-C", str(path), *args], check=True, capture_output=True)


def test_planted_secrets_never_reach_the_api(api, repo):
    planted = "sk-ant-api03-PLANTEDplantedPLANTED0123456789"
    db_password = "correct-horse-battery-9"
    (repo / ".env").write_text(f"ANTHROPIC_API_KEY={planted}\nDB_PASSWORD={db_password}\nDEBUG=true\n")
    (repo / "app").mkdir()
    (repo / "app" / "settings.py").write_text(
        f'"""Settings for the verbose flag."""\nKEY = "{planted}"\nDSN = "postgres://app:{db_password}@db/app"\n'
        "def verbose_flag(settings):\n    return settings\n")
    _git(repo, "add", "-A")
    _git(repo, "commit", "-qm", "settings")
    config = config_module.load(cwd=repo, env={"ANTHROPIC_API_KEY": KEY, "ANTHROPIC_BASE_URL": api.base_url})
    architect = ClaudeArchitect(config)
    context = build_context(repo, "change the verbose flag in settings", budget=5000, secrets=config.secrets.values())
    assert "app/settings.py" in context.files_included
    assert ".env (contents withheld)" in context.text
    api.enqueue_tool_use("write_plan", PLAN)
    architect.plan(f"change the verbose flag (the key is {KEY})", context.text)
    api.enqueue_tool_use("write_review", _review(artifacts=[{"path": "app/settings.py", "status": "approved",
                                                              "notes": "ok"}], comments=[], fix_tasks=[]))
    diff = f"--- a/app/settings.py\n+++ b/app/settings.py\n@@ -1,1 +1,2 @@\n x\n+KEY = \"{planted}\"\n"
    architect.review(None, diff, {"app/settings.py": (repo / "app" / "settings.py").read_text()})
    assert len(api.message_requests) == 2
    for request in api.requests:
        for secret in (planted, db_password, KEY):
            assert secret not in request.raw
    assert "[REDACTED]" in api.message_requests[0].raw


# -- Claude as a builder ------------------------------------------------------------------------------


def test_claude_builds_a_task_with_the_edit_protocol(api, config):
    builder = get_builder("claude", config=config)
    assert isinstance(builder, ClaudeBuilder)
    api.enqueue_text("Done.\n\npkg/cli.py\n```python\nimport click\n\nVERBOSE = True\n```\n")
    task = Task("t1", "Turn verbose on", files=["pkg/cli.py"])
    result = builder.build(task, BuildContext(plan=None, files={"pkg/cli.py": "import click\n"}, repo_map=CONTEXT))
    assert result.agent == "claude" and result.model == "claude-sonnet-5-5"
    assert result.edits[0].path == "pkg/cli.py" and "VERBOSE = True" in result.edits[0].content
    sent = api.message_requests[0].body
    assert sent["system"][0]["cache_control"] == {"type": "ephemeral"} and "SEARCH" in sent["system"][0]["text"]
    assert "tools" not in sent


def test_claude_builder_unusable_answer_keeps_the_spent_tokens(api, config):
    from gitorch.edits import EditError

    api.enqueue_text("Sorry, I cannot see the file.")
    with pytest.raises(EditError) as err:
        ClaudeBuilder(config).build(Task("t1", "x", files=["a.py"]),
                                    BuildContext(plan=None, files={"a.py": "x = 1\n"}))
    assert err.value.result.usage.output_tokens > 0


def test_demo_scenario_builds_without_a_script(api, config):
    result = ClaudeBuilder(config).build(Task("t1", "Add a greeting helper", files=["pkg/hello.py"]),
                                         BuildContext(plan=None, files={}))
    assert result.edits[0].path == "pkg/hello.py" and "def add_greeting_helper" in result.edits[0].content


# -- the commands -------------------------------------------------------------------------------------


def _env(api):
    return {"ANTHROPIC_API_KEY": KEY, "ANTHROPIC_BASE_URL": api.base_url}


def test_cli_plan_prints_json_and_stores_plan_and_metrics(api, repo):
    (repo / "cli.py").write_text("def main(verbose):\n    return verbose\n")
    _git(repo, "add", "-A")
    _git(repo, "commit", "-qm", "cli")
    result = CliRunner().invoke(cli, ["plan", "Add a verbose flag to the cli", "--json"], env=_env(api))
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert data["tasks"][0]["files"] == ["cli.py"]
    assert data["context"]["tokens"] <= data["context"]["budget"] == 20000
    assert data["usage"]["cache_creation_input_tokens"] >= 0 and data["cost_usd"] > 0
    cfg = config_module.load(cwd=repo)
    with SqliteStore(cfg.db_path) as store:
        assert store.get_plan(data["plan_id"]).tasks[0].id == "t1"
        metrics = store.metrics_since(store.get_plan(data["plan_id"]).created_at.replace(year=2000))
    assert [(m.agent, m.step, m.model) for m in metrics] == [("claude", "plan", "claude-haiku-5-5")]
    assert metrics[0].reason.startswith("small request")  # the ladder's first rung, and why
    assert [r.path for r in api.requests] == ["/v1/messages/count_tokens", "/v1/messages"]


def test_cli_plan_shows_a_table(api, repo):
    result = CliRunner().invoke(cli, ["plan", "Add a verbose flag"], env=_env(api))
    assert result.exit_code == 0, result.output
    assert "plan plan-" in result.output and "chatgpt-pro" in result.output


def test_cli_review_of_a_range_prints_the_verdict(api, repo):
    _git(repo, "checkout", "-qb", "feature")
    (repo / "done.py").write_text("def done():\n    return 1\n")
    (repo / "todo.py").write_text("def later():\n    raise NotImplementedError  # TODO\n")
    _git(repo, "add", "-A")
    _git(repo, "commit", "-qm", "work")
    result = CliRunner().invoke(cli, ["review", "--range", "main..feature", "--json"], env=_env(api))
    assert result.exit_code == 1, result.output  # reject exits 1
    data = json.loads(result.output)
    assert data["verdict"] == "reject"
    assert {a["path"]: a["status"] for a in data["artifacts"]} == {"done.py": "approved", "todo.py": "rejected"}
    assert data["comments"][0]["path"] == "todo.py" and data["comments"][0]["line"] == 2
    assert data["fix_tasks"][0]["files"] == ["todo.py"]


def test_cli_review_of_a_pull_request_fetches_it_from_the_remote(api, repo, remote):
    _git(repo, "checkout", "-qb", "feature")
    (repo / "done.py").write_text("def done():\n    return 1\n")
    (repo / "todo.py").write_text("def later():\n    raise NotImplementedError  # TODO\n")
    _git(repo, "add", "-A")
    _git(repo, "commit", "-qm", "work")
    _git(repo, "push", "-q", "origin", "feature:refs/pull/5/head")  # where GitHub keeps a PR's head
    _git(repo, "checkout", "-q", "main")
    _git(repo, "branch", "-qD", "feature")  # only the remote has the work now
    result = CliRunner().invoke(cli, ["review", "--pr", "5", "--json"], env=_env(api))
    assert result.exit_code == 1, result.output
    data = json.loads(result.output)
    assert data["range"] == "#5" and data["verdict"] == "reject"
    assert {a["path"]: a["status"] for a in data["artifacts"]} == {"done.py": "approved", "todo.py": "rejected"}


def test_cli_review_needs_a_range_or_a_pull_request_that_exists(api, repo, remote):
    runner = CliRunner()
    none = runner.invoke(cli, ["review"], env=_env(api))
    assert "--range main..HEAD" in none.exception.hint
    missing = runner.invoke(cli, ["review", "--pr", "99"], env=_env(api))
    assert isinstance(missing.exception, GitorchError)
    assert "pull request #99 could not be fetched from origin" in missing.exception.message
    assert api.requests == []


def test_cli_plan_without_a_key_names_the_variable(api, repo):
    result = CliRunner().invoke(cli, ["plan", "x"], env={"ANTHROPIC_BASE_URL": api.base_url})
    assert isinstance(result.exception, GitorchError)
    assert "ANTHROPIC_API_KEY" in str(result.exception)
    assert api.requests == []
