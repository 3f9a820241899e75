"""The session behind `gitorch start`, driven in this process against the local Messages API.

Claude plans, builds (the person asks for @claude, so no browser is needed) and reviews through the
real anthropic SDK; commits are real; the store is the real SQLite file. The terminal is left out
here (tests/test_session_terminal.py drives it in a pseudo-terminal); these tests check what the
session does with what a person says.
"""

from __future__ import annotations

import threading
import time

import pytest
from click.testing import CliRunner

from gitorch import config as config_module
from gitorch.cli import cli
from gitorch.commands.session import Session
from gitorch.errors import GitorchError
from gitorch.routing.learned import RepoState
from gitorch.simulate import demo_scenario
from gitorch.simulate.anthropic_api import AnthropicServer, Reply
from gitorch.simulate.demo import DEMO_KEY, ScriptedArchitect, git, make_repository
from gitorch.store import open_store

PLAN = {"summary": "An email template.", "tasks": [demo_scenario.PLAN["tasks"][0]]}
TEMPLATE = "shop/notifications/templates.py"


class Events:
    """The session's events, kept for the test (what the terminal would draw)."""

    def __init__(self):
        self.steps: list[tuple[str, str, str]] = []
        self.finished: dict[str, object] = {}
        self._changed = threading.Condition()

    def step(self, run, key, status, detail):
        with self._changed:
            self.steps.append((run.id, str(key), status))
            self._changed.notify_all()

    def ended(self, run):
        with self._changed:
            self.finished[run.id] = run
            self._changed.notify_all()

    def wait(self, what, timeout=60.0):
        deadline = time.monotonic() + timeout
        with self._changed:
            while not what():
                left = deadline - time.monotonic()
                assert left > 0, f"timed out; steps so far: {self.steps[-10:]}"
                self._changed.wait(left)


@pytest.fixture
def world(tmp_path):
    repo = make_repository(tmp_path)
    architect = ScriptedArchitect(plan=PLAN)
    with AnthropicServer(scenario=architect) as api:
        env = {"ANTHROPIC_API_KEY": DEMO_KEY, "ANTHROPIC_BASE_URL": api.base_url,
               "GITORCH_HOME": str(tmp_path / "state")}
        yield repo, env, api, architect


def _session(repo, env, **kw):
    cfg = config_module.load(cwd=repo, env=env)
    events = Events()
    return Session(cfg, open_store(cfg), repo, events, **kw), events, cfg


def _plans(api) -> int:
    return sum("Plan this change" in r.raw for r in api.requests)


def test_two_tasks_one_overridden_both_run_to_a_branch_while_the_next_is_typed(world):
    repo, env, api, _ = world
    session, events, _ = _session(repo, env)
    first = session.suggest("Add an email template for shipped orders")
    assert first.decision.agent == "chatgpt-pro"  # what the router suggests here
    a = session.override(first, "claude")  # the person says: override claude
    second = session.suggest("Add a plain-text shipped email too", agent="claude")  # typed as @claude ...
    b = session.proceed(second)
    events.wait(lambda: {a.id, b.id} <= set(events.finished))
    for run in (a, b):
        assert run.state == "done", run.error
        branch = run.outcome.run.run.branch
        assert git(repo, "log", "--format=%(trailers:key=Gitorch-Agent,valueonly)", f"main..{branch}").split() \
            == ["claude"]
        assert TEMPLATE in git(repo, "show", "--name-only", "--format=", branch)
    assert git(repo, "rev-parse", "--abbrev-ref", "HEAD").strip() == "main"  # the checkout is untouched
    # Each step was told as it happened, run by run.
    assert (a.id, "plan", "done") in events.steps and (b.id, "review:r1", "done") in events.steps
    session.close()


def test_an_override_in_the_session_teaches_the_router_exactly_as_gitorch_feedback_does(world, tmp_path):
    repo, env, _, _ = world
    session, events, cfg = _session(repo, env)
    suggestion = session.suggest("Add an email template for shipped orders")
    run = session.override(suggestion, "claude")
    events.wait(lambda: run.id in events.finished)
    store = session.store
    decision = store.get_decision(suggestion.decision.id)
    assert decision.override_agent == "claude" and decision.outcome == "success"
    learned = RepoState.from_bytes(store.load_router_state(session.repo)).agents["code_generation"]
    session.close()

    # The same words through `gitorch feedback`, in a store of their own.
    other = {**env, "GITORCH_HOME": str(tmp_path / "other")}
    with open_store(config_module.load(cwd=repo, env=other)) as store2:
        from gitorch.routing import Router

        router = Router(config_module.load(cwd=repo, env=other), store2, session.repo)
        twin = router.route("Add an email template for shipped orders")
    runner = CliRunner(env=other)
    assert runner.invoke(cli, ["feedback", twin.id, "--override", "claude"]).exit_code == 0
    assert runner.invoke(cli, ["feedback", twin.id, "--outcome", "success"]).exit_code == 0
    with open_store(config_module.load(cwd=repo, env=other)) as store2:
        expected = RepoState.from_bytes(store2.load_router_state(session.repo)).agents["code_generation"]
    assert learned == expected  # the override counted once, not again when the run confirmed it


@pytest.mark.slow  # agent calls take a moment on purpose
def test_confirmed_tasks_wait_in_the_queue_beyond_the_runs_at_once(world):
    repo, env, _, architect = world
    architect.latency_s = 0.4
    session, events, _ = _session(repo, env, at_once=1)
    a = session.proceed(session.suggest("Add an email template for shipped orders", agent="claude"))
    b = session.proceed(session.suggest("Add a plain-text shipped email too", agent="claude"))
    events.wait(lambda: any(r == a.id and s == "done" for r, _, s in events.steps))
    assert a.state == "running" and b.state == "queued"  # one at a time, the other waits its turn
    assert [r.id for r in session.active()] == [a.id, b.id]
    events.wait(lambda: {a.id, b.id} <= set(events.finished))
    first_b = next(i for i, (r, _, _) in enumerate(events.steps) if r == b.id)
    last_a = max(i for i, (r, _, _) in enumerate(events.steps) if r == a.id)
    assert first_b > last_a
    session.close()


@pytest.mark.slow  # agent calls take a moment on purpose
def test_leaving_holds_every_run_and_a_new_session_resumes_them_exactly_once(world):
    repo, env, api, architect = world
    architect.latency_s = 0.5
    session, events, _ = _session(repo, env, at_once=1)
    going = session.proceed(session.suggest("Add an email template for shipped orders", agent="claude"))
    queued = session.proceed(session.suggest("Add a plain-text shipped email too", agent="claude"))
    events.wait(lambda: going.step == "plan")  # inside the plan: Claude is thinking
    left = session.leave(grace_s=10)
    assert {r.id for r in left} == {going.id, queued.id}
    assert going.state == queued.state == "paused"
    store = session.store
    for run in (going, queued):
        record = store.get_run(run.id)
        assert record.status == "paused" and record.resume_after is None  # a person resumes it
        assert f"/resume {run.id}" in run.outcome.message
    plans_before = _plans(api)
    assert plans_before == 1  # the queued task never reached Claude
    session.ctx.close()

    again, events2, _ = _session(repo, env)
    assert {r.id for r in again.unfinished()} == {going.id, queued.id}
    for run in (going, queued):
        again.resume(run.id)
    events2.wait(lambda: {going.id, queued.id} <= set(events2.finished))
    for run_id in (going.id, queued.id):
        run = events2.finished[run_id]
        assert run.state == "done", run.error
        branch = run.outcome.run.run.branch
        assert len(git(repo, "log", "--format=%H", f"main..{branch}").split()) == 1  # one commit, not two
    assert _plans(api) == 2  # the plan already made was not made again; the queued run's was made once
    with pytest.raises(GitorchError, match="done already"):
        again.resume(going.id)
    again.close()


def test_resuming_a_run_that_is_not_there_or_going_already_says_so(world):
    repo, env, _, architect = world
    architect.latency_s = 0.3
    session, events, _ = _session(repo, env)
    with pytest.raises(GitorchError, match="no run with id 'run-nope'") as info:
        session.resume("run-nope")
    assert "/history" in info.value.hint
    from gitorch.model import Run

    session.store.save_run(Run(id="run-elsewhere", text="a task", repo="acme/other"))
    with pytest.raises(GitorchError, match="run-elsewhere is a run of acme/other") as info:
        session.resume("run-elsewhere")  # its commits belong in that repository, not this one
    assert "gitorch run --resume run-elsewhere" in info.value.hint
    run = session.proceed(session.suggest("Add an email template for shipped orders", agent="claude"))
    with pytest.raises(GitorchError, match="in this session already"):
        session.resume(run.id)
    events.wait(lambda: run.id in events.finished)
    session.close()


def test_stats_budget_history_and_status_answer_from_the_table(world):
    repo, env, _, _ = world
    session, events, _ = _session(repo, env)
    run = session.override(session.suggest("Add an email template for shipped orders"), "claude")
    events.wait(lambda: run.id in events.finished)
    stats = session.ask("stats").figures
    assert stats["by_agent"]["claude"]["calls"] >= 3 and stats["overrides"] == 1
    budget = session.ask("budget").figures
    assert [lim["scope"] for lim in budget["limits"]] == ["month"] and budget["webhook"] is False
    assert budget["limits"][0]["spent_usd"] == pytest.approx(stats["total_cost_usd"])
    history = session.ask("history", ["5"]).figures["runs"]
    assert history[0]["id"] == run.id and history[0]["status"] == "done"
    [(shown, state)] = session.status()
    assert shown is run and state == "done"
    with pytest.raises(GitorchError, match="one number of days") as info:
        session.ask("stats", ["lots"])
    assert "stats 30" in info.value.hint
    session.close()


def test_a_run_that_fails_is_told_and_the_session_goes_on(world):
    repo, env, api, _ = world
    session, events, _ = _session(repo, env)
    suggestion = session.suggest("Add an email template for shipped orders", agent="claude")
    api.scenario = lambda body: Reply(status=400, error_type="invalid_request_error", message="no, not today")
    run = session.proceed(suggestion)
    events.wait(lambda: run.id in events.finished)
    assert run.state == "failed" and "resume" in run.error.message
    api.scenario = ScriptedArchitect(plan=PLAN)
    again = session.resume(run.id)
    events.wait(lambda: events.finished[run.id] is again and again.state != "running")
    assert again.state == "done", again.error
    session.close()


@pytest.mark.slow  # agent calls take a moment on purpose
def test_an_override_of_a_waiting_run_is_what_builds_every_task_when_the_session_resumes_it(world):
    """A run planned for the suggested builder waits (the person left); `gitorch feedback --override
    claude` on its decision, then /resume in a new session: every task is built by claude."""
    repo, env, _, architect = world
    architect.latency_s = 0.5
    session, events, _ = _session(repo, env, at_once=1)
    going = session.proceed(session.suggest("Add an email template for shipped orders"))
    assert going.agent == "chatgpt-pro"
    events.wait(lambda: going.step == "plan")
    session.leave(grace_s=10)
    decision = session.store.decision_for_run(going.id)
    session.ctx.close()
    architect.latency_s = 0.0
    assert CliRunner(env=env).invoke(cli, ["feedback", decision.id, "--override", "claude"]).exit_code == 0

    again, events2, _ = _session(repo, env)
    again.resume(going.id)
    events2.wait(lambda: going.id in events2.finished)
    run = events2.finished[going.id]
    assert run.state == "done", run.error
    branch = run.outcome.run.run.branch
    assert git(repo, "log", "--format=%(trailers:key=Gitorch-Agent,valueonly)", f"main..{branch}").split() \
        == ["claude"]
    again.close()
