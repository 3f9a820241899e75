"""`gitorch mcp`: the MCP server over the store, answered to the official SDK's own client over stdio.

The server runs as `python -m gitorch mcp`, a real subprocess, exactly as Codex or Claude Code start it.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
from pathlib import Path

import pytest

import gitorch
from gitorch import config as config_module
from gitorch.errors import GitorchError
from gitorch.mcp_server import Handoff
from gitorch.model import CODEX, Artifact, Metric, Plan, Review, Run, Task, Usage, Verdict
from gitorch.routing import Router
from gitorch.store.sqlite import SqliteStore

UNFINISHED = "def should_email(user):\n    raise NotImplementedError\n"


@pytest.fixture
def state(isolated_env, tmp_path, monkeypatch) -> tuple[config_module.Config, str]:
    """A store with one run: a plan, three artifacts (one rejected with notes), a review, a metric and a
    routing decision."""
    monkeypatch.chdir(tmp_path)
    cfg = config_module.load(cwd=tmp_path)
    store = SqliteStore(cfg.db_path)
    store.save_run(Run(id="run-42", text="Email customers when their order ships", status="reviewing"))
    store.save_plan(Plan(summary="A notifications package: template, mailer, opt-out.", run_id="run-42", tasks=[
        Task(id="t1", description="Write the template.", files=["shop/templates.py"], assigned_to=CODEX),
        Task(id="t2", description="Write the opt-out check.", files=["shop/preferences.py"], assigned_to=CODEX),
    ]))
    store.save_artifact(Artifact(path="shop/templates.py", content="def shipped_email(): ...\n", task_id="t1",
                                 agent=CODEX, run_id="run-42", review_status="approved"))
    store.save_artifact(Artifact(path="shop/preferences.py", content=UNFINISHED, task_id="t2", agent=CODEX,
                                 run_id="run-42", review_status="rejected", notes="raises NotImplementedError"))
    store.save_artifact(Artifact(path="shop/mailer.py", content="class Mailer: ...\n", task_id="t1", agent=CODEX,
                                 run_id="run-42"))
    store.save_review("run-42", Review(verdict="reject", summary="preferences.py is unfinished", round=1,
                                       artifacts=[Verdict("shop/preferences.py", False, "raises NotImplementedError")]))
    store.record_metric(Metric(agent=CODEX, model="gpt-5-codex", usage=Usage(1000, 200), cost_usd=0.0,
                               baseline_cost_usd=0.006, run_id="run-42", step="build"))
    decision = Router(cfg, store, repo="").route("Fix the crash when an order has no items")
    store.close()
    return cfg, decision.id


@pytest.mark.slow
def test_the_sdk_client_reads_plans_artifacts_reviews_metrics_and_routing_over_stdio(state):
    from mcp import Client, StdioServerParameters

    cfg, decision_id = state
    # the server runs the gitorch this test imports, whatever is installed
    params = StdioServerParameters(command=sys.executable, args=["-m", "gitorch", "mcp"],
                                   env={"GITORCH_HOME": str(cfg.state_dir), "HOME": os.environ["HOME"],
                                        "PYTHONPATH": str(Path(gitorch.__file__).resolve().parents[1])},
                                   cwd=str(Path.cwd()))

    async def session() -> dict:
        out: dict = {}
        async with Client(params) as client:
            out["tools"] = {t.name: t for t in (await client.list_tools()).tools}
            out["resources"] = [r.uri for r in (await client.list_resources()).resources]
            out["templates"] = [t.uri_template for t in (await client.list_resource_templates()).resource_templates]
            for name, args in [("list_runs", {}), ("get_plan", {"run_id": "run-42"}),
                               ("pending_artifacts", {"run_id": "run-42"}),
                               ("pending_artifacts", {"run_id": "run-42", "status": "rejected", "include_content": True}),
                               ("get_review", {"run_id": "run-42", "round": 1}), ("session_metrics", {"days": 7}),
                               ("route", {"text": "Write a function that formats invoices"}),
                               ("get_artifact", {"run_id": "run-42", "path": "shop/preferences.py"}),
                               ("get_task", {"run_id": "run-42", "task_id": "t2"}),
                               ("record_feedback", {"decision_id": decision_id, "outcome": "success"}),
                               ("get_plan", {"run_id": "run-nope"}), ("get_review", {"run_id": "run-42", "round": 9})]:
                result = await client.call_tool(name, args)  # the client checks it against the output schema
                key = name + ("" if name not in out else f"#{len([k for k in out if k.startswith(name)])}")
                out[key] = (result.is_error, result.content[0].text, result.structured_content)
            plan = await client.read_resource("gitorch://runs/run-42/plan")
            out["plan_resource"] = plan.contents[0].text
            metrics = await client.read_resource("gitorch://metrics")
            out["metrics_resource"] = metrics.contents[0].text
        return out

    out = asyncio.run(session())

    assert set(out["tools"]) == {"list_runs", "get_plan", "get_task", "pending_artifacts", "get_artifact", "get_review",
                                 "session_metrics", "route", "record_feedback"}
    # read-only, except recording feedback
    assert all(t.annotations.read_only_hint for n, t in out["tools"].items() if n != "record_feedback")
    assert out["tools"]["record_feedback"].annotations.read_only_hint is False
    assert out["resources"] == ["gitorch://runs", "gitorch://metrics"]
    assert "gitorch://runs/{run_id}/reviews/{round}" in out["templates"]

    # tools/list advertises each tool's own output schema (not {"result": string})
    schemas = {name: tool.output_schema for name, tool in out["tools"].items()}
    assert all(schema["type"] == "object" and "result" not in schema["properties"] for schema in schemas.values())
    assert schemas["list_runs"]["properties"]["runs"]["items"] == {"$ref": "#/$defs/RunRow"}
    assert set(schemas["get_plan"]["required"]) == {"run_id", "run_status", "run_text", "plan_id", "summary", "tasks"}
    assert schemas["get_plan"]["$defs"]["TaskView"]["properties"]["files"]["items"] == {"type": "string"}
    assert "content" in schemas["get_artifact"]["properties"] and "content" not in schemas["get_artifact"]["required"]
    assert schemas["get_task"]["properties"]["artifacts"]["items"] == {"$ref": "#/$defs/ArtifactView"}
    assert schemas["get_review"]["properties"]["verdict"]["type"] == "string"
    assert schemas["session_metrics"]["properties"]["by_agent"]["additionalProperties"] == {
        "$ref": "#/$defs/AgentFigures"}
    assert schemas["route"] == schemas["record_feedback"] and "decision_id" in schemas["route"]["required"]
    assert all(schema["additionalProperties"] is False for schema in schemas.values())

    # each tool answers structured content, and the same JSON as text for clients that read only text
    answers = {k: v for k, v in out.items() if isinstance(v, tuple) and not v[0]}
    assert len(answers) == 10
    for key, (_, text, data) in answers.items():
        assert isinstance(data, dict) and json.loads(text) == data, key

    runs = out["list_runs"][2]["runs"]
    assert runs[0]["id"] == "run-42" and runs[0]["status"] == "reviewing"
    plan = out["get_plan"][2]
    assert plan["summary"].startswith("A notifications package") and [t["id"] for t in plan["tasks"]] == ["t1", "t2"]
    assert plan["tasks"][0]["status"] == "built" and plan["tasks"][0]["files"] == ["shop/templates.py"]
    pending = out["pending_artifacts"][2]
    assert pending["status"] == "pending" and [a["path"] for a in pending["artifacts"]] == ["shop/mailer.py"]
    assert "content" not in pending["artifacts"][0]
    rejected = out["pending_artifacts#1"][2]["artifacts"]
    assert rejected[0]["notes"] == "raises NotImplementedError" and rejected[0]["content"] == UNFINISHED
    review = out["get_review"][2]
    assert review["verdict"] == "reject" and review["artifacts"][0] == {
        "path": "shop/preferences.py", "approved": False, "notes": "raises NotImplementedError"}
    assert review["rounds"] == [1]
    metrics = out["session_metrics"][2]
    assert metrics["by_agent"][CODEX]["tokens"] == 1200 and metrics["period"]["days"] == 7
    assert json.loads(out["metrics_resource"])["by_agent"][CODEX]["calls"] == 1
    route = out["route"][2]
    assert route["agent"] in ("claude", "chatgpt-pro", "codex") and 0 <= route["confidence"] <= 1
    assert out["get_artifact"][2]["content"] == UNFINISHED and out["get_artifact"][2]["deleted"] is False
    task = out["get_task"][2]
    assert task["id"] == "t2" and task["artifacts"][0]["content"] == UNFINISHED
    assert json.loads(out["plan_resource"])["run_id"] == "run-42"
    feedback = out["record_feedback"][2]
    assert feedback["decision_id"] == decision_id and feedback["outcome"] == "success"
    # errors are tool errors that say what exists
    assert out["get_plan#1"][0] and "no run 'run-nope'" in out["get_plan#1"][1] and "run-42" in out["get_plan#1"][1]
    assert out["get_review#1"][0] and "its rounds: 1" in out["get_review#1"][1]
    assert out["get_plan#1"][2] is None and out["get_review#1"][2] is None

    store = SqliteStore(cfg.db_path)
    assert store.get_decision(decision_id).outcome == "success"  # the one write went through
    store.close()


def test_route_through_mcp_is_not_recorded(state):
    cfg, _ = state
    store = SqliteStore(cfg.db_path)
    before = len(store.recent_decisions(limit=100))
    Handoff(cfg, store).route("Refactor the mailer")
    assert len(store.recent_decisions(limit=100)) == before
    store.close()


@pytest.mark.parametrize(("call_it", "message", "hint"), [
    (lambda h: h.plan("run-0"), "no run 'run-0'", "run-42"),
    (lambda h: h.task("run-42", "t9"), "no task 't9'", "t1, t2"),
    (lambda h: h.artifact("run-42", "nope.py"), "no artifact 'nope.py'", "shop/mailer.py"),
    (lambda h: h.artifacts("run-42", status="maybe"), "unknown review status 'maybe'", "pending"),
    (lambda h: h.route("   "), "the text to route is empty", "sentence"),
    (lambda h: h.feedback("dec-1"), "feedback needs", "outcome"),
])
def test_bad_questions_get_errors_that_say_what_exists(state, call_it, message, hint):
    cfg, _ = state
    store = SqliteStore(cfg.db_path)
    with pytest.raises(GitorchError) as caught:
        call_it(Handoff(cfg, store))
    store.close()
    assert message in caught.value.message and hint in (caught.value.hint or "")


def test_record_feedback_sent_forty_times_moves_the_scores_once(state):
    """record_feedback is annotated idempotent; an agent (Codex is given this server) may retry it."""
    cfg, decision_id = state
    store = SqliteStore(cfg.db_path)
    handoff = Handoff(cfg, store)
    handoff.feedback(decision_id, override_agent="codex")
    first = handoff.route("Write a function that formats invoices")["scores"]
    for _ in range(39):
        handoff.feedback(decision_id, override_agent="codex")
    assert handoff.route("Write a function that formats invoices")["scores"] == first
    store.close()


def test_a_run_without_a_plan_or_review_says_so(state):
    cfg, _ = state
    store = SqliteStore(cfg.db_path)
    store.save_run(Run(id="run-new", text="Just started"))
    handoff = Handoff(cfg, store)
    with pytest.raises(GitorchError, match="has no plan yet"):
        handoff.plan("run-new")
    with pytest.raises(GitorchError, match="has not been reviewed yet"):
        handoff.review("run-new")
    task = handoff.task("run-42", "t2")
    assert task["artifacts"][0]["notes"] == "raises NotImplementedError"
    store.close()
