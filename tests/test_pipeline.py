"""The whole run in local mode: plan, build, commit, verify, review, fix, with real parts.

Claude is the anthropic SDK against the local Messages API; the builder is Playwright driving
Chromium on the local ChatGPT-like page; commits are pygit2 in a real repository.
"""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
import yaml
from click.testing import CliRunner
from rich.console import Console

from gitorch import config as config_module
from gitorch import stats
from gitorch.cli import cli
from gitorch.errors import GitorchError
from gitorch.model import JournalEntry, utcnow
from gitorch.run.assemble import assemble
from gitorch.run.state import RunRequest
from gitorch.simulate import demo_scenario
from gitorch.simulate.chatgpt_page import Answer
from gitorch.simulate.demo import DEMO_CONFIG, StandIns, git, make_repository

pytestmark = pytest.mark.browser

ISSUE = f"{demo_scenario.ISSUE_TITLE}\n\n{demo_scenario.ISSUE_BODY}"


@pytest.fixture(scope="module")
def standins():
    with StandIns() as s:
        yield s


@pytest.fixture
def workspace(tmp_path, standins):
    standins.page.reset()
    standins.page.respond(demo_scenario.builder_answer)
    repo = make_repository(tmp_path, config_yaml=DEMO_CONFIG)
    env = standins.env(tmp_path / "state")
    return repo, env


def _pipeline(repo, env, **kw):
    cfg = config_module.load(cwd=repo, env=env)
    return (*assemble(cfg, repo_path=repo, **kw), cfg)


def _commits(repo, branch):
    return git(repo, "log", "--format=%s%n%(trailers:key=Gitorch-Task,valueonly)", f"main..{branch}").split()


def test_the_worked_example_plans_builds_rejects_two_fixes_them_and_approves(workspace):
    repo, env = workspace
    before = git(repo, "status", "--porcelain")
    pipeline, builders, cfg = _pipeline(repo, env)
    try:
        result = pipeline.start(RunRequest(text=ISSUE, title=demo_scenario.ISSUE_TITLE, confirmed=True))
    finally:
        builders.close()

    run = result.run
    assert run.status == "done" and run.verdict == "approve" and run.rounds == 2
    assert [t.id for t in result.plan.tasks] == ["t1", "t2", "t3", "t4", "t5"]
    assert [r.verdict for r in result.reviews] == ["reject", "approve"]
    rejected = sorted(v.path for v in result.reviews[0].artifacts if not v.approved)
    assert rejected == ["shop/notifications/mailer.py", "shop/notifications/preferences.py"]
    # One commit per task and per fix, on the run's branch; the person's checkout is untouched.
    assert len(result.commits) == 7
    log = git(repo, "log", "--format=%(trailers:key=Gitorch-Task,valueonly)", f"main..{run.branch}").split()
    assert sorted(log) == ["fix1-1", "fix1-2", "t1", "t2", "t3", "t4", "t5"]
    assert git(repo, "status", "--porcelain") == before
    assert git(repo, "rev-parse", "--abbrev-ref", "HEAD").strip() == "main"
    assert not (repo / "shop" / "notifications").exists()
    # The repository's own tests ran on the result, in a scratch worktree.
    assert result.verify.exit_code == 0
    assert "3 passed" in result.verify.tail or "5 passed" in result.verify.tail
    fixed = git(repo, "show", f"{run.branch}:shop/notifications/preferences.py")
    assert "NotImplementedError" not in fixed
    # Every call left a ledger row; the builder's work cost nothing at the margin.
    metrics = [m for m in pipeline.store.metrics_since(run.created_at) if m.run_id == run.id]
    assert sum(m.agent == "claude" for m in metrics) == 3  # plan and two reviews
    assert sum(m.agent == "chatgpt-pro" for m in metrics) == 7
    assert all(m.cost_usd == 0 for m in metrics if m.agent == "chatgpt-pro")
    assert 0 < result.cost_usd < result.baseline_cost_usd
    # The router learned the outcome.
    assert pipeline.store.get_decision(result.decision.id).outcome == "success"
    # The builder's review pass rate: 5 of its 7 files were approved (two needed the fix round).
    figures = stats.compute(pipeline.store, cfg)
    assert figures["review_by_agent"]["chatgpt-pro"] == {"reviewed": 7, "approved": 5, "pass_pct": 71.43}
    console = Console(record=True, width=200)
    stats.render(figures, console)
    assert "71.4% of 7" in console.export_text()
    # The journal says what happened: each build (in parallel with others) began once and took time.
    builds = [JournalEntry.from_row(row) for row in pipeline.store.journal(run.id) if row["key"].startswith("build:")]
    assert [str(b.key) for b in builds] == ["build:r1:t1", "build:r1:t2", "build:r1:t3", "build:r1:t4",
                                           "build:r1:t5", "build:r2:fix1-1", "build:r2:fix1-2"]
    assert all(b.finished and b.attempts == 1 and b.seconds > 0 for b in builds)


def test_running_a_finished_run_again_does_nothing_twice(workspace, standins):
    repo, env = workspace
    pipeline, builders, cfg = _pipeline(repo, env)
    try:
        first = pipeline.start(RunRequest(text=ISSUE, confirmed=True))
        prompts = len(standins.page.prompts)
        requests = len(standins.api.requests)
        again = pipeline.resume(first.run.id)
    finally:
        builders.close()
    assert again.commits == first.commits
    assert len(standins.page.prompts) == prompts and len(standins.api.requests) == requests
    assert "done already" in again.message


def test_a_question_ends_as_an_answer_without_a_branch(workspace, standins):
    repo, env = workspace
    standins.architect._plan = {"summary": "A question about shipping", "tasks": [],
                                "answer": "Orders ship through shop.orders.ship; nothing needs to change."}
    try:
        pipeline, builders, cfg = _pipeline(repo, env)
        result = pipeline.start(RunRequest(text="How do orders get shipped?", confirmed=True))
    finally:
        standins.architect._plan = demo_scenario.PLAN
    assert result.run.status == "answered"
    assert "shop.orders.ship" in result.answer
    assert git(repo, "branch", "--list", "gitorch/*") == ""


def test_low_confidence_waits_for_a_person_then_resumes(workspace, standins):
    repo, env = workspace
    env = {**env, "AUTO_ROUTING_ENABLED": "false"}
    pipeline, builders, cfg = _pipeline(repo, env)
    try:
        waiting = pipeline.start(RunRequest(text=ISSUE))
        assert waiting.run.status == "awaiting_confirmation"
        assert "/gitorch proceed" in waiting.message
        assert standins.page.prompts == []  # nothing was built
        done = pipeline.resume(waiting.run.id, RunRequest(text="", agent="chatgpt-pro"))
    finally:
        builders.close()
    assert done.run.status == "done"
    decision = pipeline.store.get_decision(done.decision.id)
    assert decision.outcome == "success"


def test_the_budget_pauses_a_run_and_it_resumes_when_raised(workspace, standins):
    repo, env = workspace
    pipeline, builders, cfg = _pipeline(repo, {**env, "MONTHLY_BUDGET_USD": "0.0001"})
    try:
        paused = pipeline.start(RunRequest(text=ISSUE, confirmed=True))
    finally:
        builders.close()
    assert paused.run.status == "paused"
    assert "gitorch run --resume" in paused.message
    created = pipeline.store.get_run(paused.run.id).created_at
    next_month = (created.replace(day=1) + timedelta(days=32)).replace(day=1, hour=0, minute=0, second=0,
                                                                        microsecond=0)
    assert pipeline.store.get_run(paused.run.id).resume_after == next_month  # it goes on by itself then
    assert "goes on by itself after" in paused.message
    assert not pipeline.store.metrics_since(paused.run.created_at)  # nothing was spent
    pipeline, builders, cfg = _pipeline(repo, env)
    try:
        resumed = pipeline.resume(paused.run.id)
    finally:
        builders.close()
    assert resumed.run.status == "done" and resumed.run.verdict == "approve"


def test_a_budget_alert_of_one_resumed_run_is_never_said_in_another(workspace, standins):
    """resume_due drives several runs in one process: each says only its own budget alerts."""
    repo, env = workspace
    standins.architect._plan = {"summary": "A question about shipping", "tasks": [],
                                "answer": "Orders ship through shop.orders.ship; nothing needs to change."}
    try:
        pipeline, builders, cfg = _pipeline(repo, {**env, "MONTHLY_BUDGET_USD": "0.0001"})
        first = pipeline.start(RunRequest(text="How do orders get shipped?", confirmed=True))
        second = pipeline.start(RunRequest(text="Where are refunds handled?", confirmed=True))
        assert first.run.status == second.run.status == "paused"  # both wait for the next month
        store = pipeline.store
        for run_id, hours in ((first.run.id, 2), (second.run.id, 1)):  # the first waited longest
            run = store.get_run(run_id)
            run.resume_after = utcnow() - timedelta(hours=hours)
            store.save_run(run)
        # The first run spent most of its own limit before: its next call crosses the alert line.
        from gitorch.model import Metric, Usage

        store.record_metric(Metric("claude", "claude-sonnet-5-5", Usage(1, 1), 0.85, 0.85, run_id=first.run.id))
        builders.close()
        pipeline, builders, cfg = _pipeline(repo, {**env, "MONTHLY_BUDGET_USD": "1000"})
        cfg.budget.per_run_usd = 1.0
        outcomes = pipeline.resume_due(from_github=False)
    finally:
        builders.close()
        standins.architect._plan = demo_scenario.PLAN
    by_run = {o.run.id: o for o in outcomes}
    assert [o.run.id for o in outcomes] == [first.run.id, second.run.id]
    assert all(o.run.status == "answered" for o in outcomes)
    assert any("run budget" in a for a in by_run[first.run.id].alerts)
    assert by_run[second.run.id].alerts == []  # the first run's alert stays with the first run


def _no_fallback(repo):
    (repo / ".gitorch.yml").write_text(DEMO_CONFIG + "agents:\n  allow_claude_fallback: false\n")


def test_a_failed_build_keeps_what_was_done_and_says_how_to_resume(workspace, standins):
    repo, env = workspace
    _no_fallback(repo)
    standins.page.respond(lambda prompt: Answer(text="partial", fault="network_error"))
    pipeline, builders, cfg = _pipeline(repo, env)
    pipeline.parts.sleep = lambda s: None  # the retry policy's waits, not the test's
    try:
        with pytest.raises(GitorchError) as err:
            pipeline.start(RunRequest(text=ISSUE, confirmed=True))
    finally:
        builders.close()
    assert "gitorch run --resume" in err.value.message
    run = pipeline.store.list_runs(1)[0]
    assert run.status == "failed"
    assert pipeline.store.latest_plan(run.id) is not None  # the plan is kept
    asked = len(standins.page.prompts)
    assert asked >= 3  # the retry policy's three attempts on the first task
    # Once the page answers again, the run resumes from its last finished step: no second plan.
    standins.page.respond(demo_scenario.builder_answer)
    def plans():
        return sum(m.step == "plan" for m in pipeline.store.metrics_since(run.created_at) if m.run_id == run.id)

    assert plans() == 1
    pipeline, builders, cfg = _pipeline(repo, env)
    try:
        done = pipeline.resume(run.id)
    finally:
        builders.close()
    assert done.run.status == "done"
    assert plans() == 1


def test_a_usage_cap_pauses_the_run_until_it_resets_and_resume_due_goes_on(workspace, standins, monkeypatch):
    repo, env = workspace
    _no_fallback(repo)
    standins.page.respond(lambda prompt: Answer(fault="usage_cap", reset="4:12 PM"))
    pipeline, builders, cfg = _pipeline(repo, env)
    try:
        result = pipeline.start(RunRequest(text=ISSUE, confirmed=True))
    finally:
        builders.close()
    assert result.run.status == "paused"
    assert "usage cap" in result.message.lower() and "goes on by itself after" in result.message
    resume_after = pipeline.store.get_run(result.run.id).resume_after
    assert resume_after is not None and resume_after > result.run.created_at

    # Before the reset nothing is due; after it, `gitorch run --resume-due` takes the run on.
    standins.page.respond(demo_scenario.builder_answer)
    pipeline, builders, cfg = _pipeline(repo, env)
    try:
        assert pipeline.resume_due(from_github=False, now=resume_after - timedelta(minutes=1)) == []
        assert pipeline.resume_due(from_github=True, now=resume_after) == []  # the workflow's, not ours
    finally:
        builders.close()
    run = pipeline.store.get_run(result.run.id)
    run.resume_after = utcnow() - timedelta(minutes=1)  # the cap has reset: the clock moved on
    pipeline.store.save_run(run)
    monkeypatch.chdir(repo)
    cli_result = CliRunner().invoke(cli, ["run", "--resume-due", "--json"], env=env, catch_exceptions=False)
    assert cli_result.exit_code == 0, cli_result.output
    [done] = json.loads(cli_result.output)
    assert done["run_id"] == run.id and done["status"] == "done"
    assert pipeline.store.get_run(run.id).resume_after is None
    again = CliRunner().invoke(cli, ["run", "--resume-due"], env=env, catch_exceptions=False)
    assert again.exit_code == 0 and "no run is due" in again.output


def test_a_run_is_mirrored_to_convex_without_waiting_on_it(workspace):
    """With CONVEX_URL set the run's records reach the team's deployment (the local Convex server
    running the project's own functions); SQLite stays the source of truth."""
    from standins.convex_local import LocalConvex

    from gitorch.store.convex import ConvexHttp

    repo, env = workspace
    with LocalConvex() as convex:
        pipeline, builders, cfg = _pipeline(repo, {**env, "CONVEX_URL": convex.url,
                                                   "CONVEX_ADMIN_KEY": convex.admin_key})
        try:
            result = pipeline.start(RunRequest(text=ISSUE, confirmed=True))
        finally:
            builders.close()  # stops the background drain and sends what is left
        client = ConvexHttp(convex.url, convex.admin_key, timeout_s=10)
        try:
            runs = client.query("mirror:dump", {"table": "runs", "paginationOpts": {"numItems": 100, "cursor": None}})
            metrics = client.query("mirror:dump", {"table": "metrics",
                                                   "paginationOpts": {"numItems": 500, "cursor": None}})
        finally:
            client.close()
    assert [d["key"] for d in runs["page"]] == [result.run.id]
    assert len(metrics["page"]) == 10  # the plan, two reviews and seven builds
    assert pipeline.store.outbox_count() == 0


def test_a_conflict_with_someone_elses_push_gets_a_resolution_a_person_approves(workspace, standins):
    """Someone commits their own mailer.py to the run's branch while the builder writes one: the commit
    conflicts, Claude proposes a merged file, the run waits; after approval it commits and goes on."""
    from gitorch.git import repo as gitops
    from gitorch.store.sqlite import SqliteStore

    repo, env = workspace
    theirs = "def send(to, subject, body):\n    raise RuntimeError('configure SMTP first')\n"
    merged = demo_scenario.FIXES["shop/notifications/mailer.py"] + "\n\ndef send(to, subject, body):\n" \
        "    raise RuntimeError('configure SMTP first')\n"
    resolution = f"shop/notifications/mailer.py\n```python\n{merged}```\n"

    def answer(prompt: str) -> str:
        if "shop/notifications/mailer.py" in prompt.split("## Task", 1)[-1].split("\n## ", 1)[0] \
                and not (repo / ".git" / "info" / "someone-pushed").exists():
            (repo / ".git" / "info" / "someone-pushed").write_text("")
            with SqliteStore(repo / ".." / "state" / "state.db") as store:
                start = store.journal_result(store.list_runs(1)[0].id, "start")
            branch = start["branch"]
            tip = gitops.branch_tip(repo, branch) or start["base"]
            gitops.commit_artifacts(repo, branch=branch, parent=tip, artifacts={"shop/notifications/mailer.py": theirs},
                                    description="Someone's mailer", run_id="someone", task_id="x", agent="person")
            standins.api.enqueue_text(resolution)  # what Claude answers when asked to resolve
        return demo_scenario.builder_answer(prompt)

    standins.page.respond(answer)
    pipeline, builders, cfg = _pipeline(repo, env)
    try:
        waiting = pipeline.start(RunRequest(text=ISSUE, confirmed=True))
        assert waiting.run.status == "awaiting_resolution"
        assert "Claude proposes this resolution" in waiting.message and "configure SMTP first" in waiting.message
        done = pipeline.resume(waiting.run.id, RunRequest(text="", confirmed=True))
    finally:
        builders.close()
    assert done.run.status == "done"
    branch = done.run.branch
    assert "Someone's mailer" in git(repo, "log", "--format=%s", f"main..{branch}")
    final = git(repo, "show", f"{branch}:shop/notifications/mailer.py")
    assert "configure SMTP first" in final and "class InMemoryMailer" in final


def test_the_repositorys_tests_run_without_gitorchs_credentials(workspace, monkeypatch):
    """The verify step runs code a model wrote: a prompt-injected issue must find no key to steal."""
    repo, env = workspace
    monkeypatch.setenv("GITHUB_TOKEN", "ghs_" + "e" * 36)
    monkeypatch.setenv("ANTHROPIC_API_KEY", env["ANTHROPIC_API_KEY"])
    monkeypatch.setenv("LEAKY", env["ANTHROPIC_API_KEY"])  # a known secret under an innocent name
    check = ("python -c \"import os,sys; bad=[k for k in ('GITHUB_TOKEN','ANTHROPIC_API_KEY','LEAKY') "
             "if k in os.environ]; print('leaked', bad); sys.exit(3 if bad or 'PATH' not in os.environ else 0)\"")
    (repo / ".gitorch.yml").write_text(yaml.safe_dump({"verify": {"command": check, "timeout_s": 120}}))
    pipeline, builders, cfg = _pipeline(repo, env)
    try:
        result = pipeline.start(RunRequest(text=ISSUE, confirmed=True))
    finally:
        builders.close()
    assert result.verify.exit_code == 0, result.verify.tail


FOUR = {"summary": "Four helpers, each in its own module.", "tasks": [
    {"id": f"t{i}", "description": f"Write shop/helpers/h{i}.py with a function helper_{i}() returning {i}.",
     "files": [f"shop/helpers/h{i}.py"], "assigned_to": "claude", "depends_on": [], "estimated_lines": 20,
     "task_type": "code_generation"} for i in range(1, 5)]}


@pytest.mark.parametrize("parallelism", [1, 2, 4])
def test_parallel_claude_builds_never_pass_the_run_limit_by_more_than_one_call(workspace, standins, parallelism):
    """Four independent tasks built by Claude at once: each call holds its estimate first, so the
    run's spending stays within its limit plus what one call used beyond its estimate."""
    repo, env = workspace
    standins.architect._plan = FOUR
    (repo / ".gitorch.yml").write_text(f"agents:\n  builder: claude\nbudget:\n  per_run_usd: 0.026\n"
                                       "anthropic:\n  max_output_tokens: 1024\n"
                                       f"pipeline:\n  parallelism: {parallelism}\n"
                                       "models:\n  ladder:\n    enabled: false\n")  # the plan priced on Sonnet
    git(repo, "commit", "-qam", "gitorch settings")
    try:
        pipeline, builders, cfg = _pipeline(repo, env)
        result = pipeline.start(RunRequest(text="Add four small helpers", confirmed=True))
    finally:
        builders.close()
        standins.architect._plan = demo_scenario.PLAN
    metrics = pipeline.store.run_metrics(result.run.id)
    spent = sum(m.cost_usd for m in metrics)
    assert result.run.status == "paused" and "run budget" in result.message
    assert spent <= 0.026 + max(m.cost_usd for m in metrics) + 1e-9, (parallelism, spent)
    assert pipeline.store.reserved_usd() == 0  # nothing is left held once the calls ended
    # The builds that were paid for are kept: resuming builds only what is left.
    kept = [s["key"] for s in pipeline.store.journal(result.run.id) if s["key"].startswith("build:")
            and s["status"] == "finished"]
    assert len(kept) == sum(m.step == "build" for m in metrics)
