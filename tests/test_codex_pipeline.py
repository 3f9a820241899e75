"""The whole run with Codex as the builder: the demo's worked example, end to end on the stand-ins.

Claude is the anthropic SDK against the local Messages API; the builder is the real `codex` binary
against the local Responses API, reading the plan through `gitorch mcp`; commits are real. This is
what `gitorch demo --builder codex` runs.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from gitorch import config as config_module
from gitorch.run.assemble import assemble
from gitorch.run.state import RunRequest
from gitorch.simulate import demo_scenario
from gitorch.simulate import openai_responses as oa
from gitorch.simulate.demo import DEMO_CONFIG, StandIns, git, make_repository

pytestmark = [pytest.mark.browser, pytest.mark.codex]

CODEX_BIN = Path(__file__).resolve().parents[1] / "node_modules" / ".bin" / "codex"
ISSUE = f"{demo_scenario.ISSUE_TITLE}\n\n{demo_scenario.ISSUE_BODY}"


def test_the_worked_example_built_by_codex_is_fixed_and_approved(tmp_path):
    config_yaml = DEMO_CONFIG + f"agents:\n  builder: codex\ncodex:\n  binary: {CODEX_BIN}\n"
    repo = make_repository(tmp_path, config_yaml=config_yaml)
    with StandIns() as standins, oa.ResponsesServer(oa.DemoScenario()) as api:
        env = {**standins.env(tmp_path / "state"), **api.env()}
        cfg = config_module.load(cwd=repo, env=env)
        pipeline, builders = assemble(cfg, repo_path=repo)
        try:
            result = pipeline.start(RunRequest(text=ISSUE, title=demo_scenario.ISSUE_TITLE, confirmed=True))
        finally:
            builders.close()
        prompts = [r.turn.prompt for r in api.requests if r.turn.step == 0]
        plan_reads = [r for r in api.requests if any("A small shop" in o or "notifications" in o
                                                     for o in r.turn.outputs[:1])]

    run = result.run
    assert run.status == "done" and run.verdict == "approve" and run.rounds == 2
    assert [r.verdict for r in result.reviews] == ["reject", "approve"]
    assert len(result.commits) == 7  # five tasks and two fixes
    assert "NotImplementedError" not in git(repo, "show", f"{run.branch}:shop/notifications/preferences.py")
    assert result.verify.exit_code == 0
    assert not (repo / "shop" / "notifications").exists()  # the person's checkout is untouched
    assert git(repo, "worktree", "list").count("\n") == 1  # every scratch worktree is gone
    # Codex read the plan through the MCP server: its prompts name the run, not the plan
    # (the fix round goes to the builder the architect's fix tasks name: the pipeline's choice)
    assert len(prompts) >= 5 and all(run.id in p and demo_scenario.PLAN["summary"] not in p for p in prompts)
    assert {p.split("\n", 1)[0] for p in prompts} >= {f"## Task t{n}" for n in range(1, 6)}
    assert plan_reads
    metrics = [m for m in pipeline.store.metrics_since(run.created_at) if m.run_id == run.id]
    codex_rows = [m for m in metrics if m.agent == "codex"]
    assert len(codex_rows) == len(prompts) and all(m.cost_usd == 0 and m.usage.input_tokens > 0 for m in codex_rows)


def test_the_claude_alone_baseline_is_the_same_whichever_builder_built_the_task(tmp_path):
    """Codex sends about 47k tokens a task (its own instructions); the browser builder a short prompt.
    What Claude alone would have cost is neither: it is what gitorch's Claude builder would have sent
    and received for the same task, so it is the same for both."""
    baselines, tokens = {}, {}
    for builder in ("chatgpt-pro", "codex"):
        config_yaml = DEMO_CONFIG + f"agents:\n  builder: {builder}\ncodex:\n  binary: {CODEX_BIN}\n"
        repo = make_repository(tmp_path / builder, config_yaml=config_yaml)
        with StandIns() as standins, oa.ResponsesServer(oa.DemoScenario()) as api:
            env = {**standins.env(tmp_path / builder / "state"), **api.env()}
            cfg = config_module.load(cwd=repo, env=env)
            pipeline, builders = assemble(cfg, repo_path=repo)
            try:
                result = pipeline.start(RunRequest(text=ISSUE, title=demo_scenario.ISSUE_TITLE, confirmed=True))
            finally:
                builders.close()
        rows = [m for m in pipeline.store.run_metrics(result.run.id) if m.agent == builder]
        assert result.run.verdict == "approve" and len(rows) == 7  # five tasks, two fixes
        baselines[builder] = sorted(round(m.baseline_cost_usd, 9) for m in rows)
        tokens[builder] = sum(m.usage.total_tokens for m in rows)
    assert tokens["codex"] > 3 * tokens["chatgpt-pro"]  # their own tokens differ...
    assert baselines["codex"] == baselines["chatgpt-pro"]  # ...what Claude alone would have cost does not
    assert all(b > 0 for b in baselines["codex"])
