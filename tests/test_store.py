"""The SQLite store: round trips of every record, the journal, the outbox, migrations, and two
processes writing at once."""

from __future__ import annotations

import json
import multiprocessing
import random
import re
import sqlite3
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from gitorch.errors import GitorchError
from gitorch.model import (
    Artifact,
    InlineComment,
    Metric,
    Plan,
    Review,
    RoutingDecision,
    Run,
    Task,
    Usage,
    Verdict,
    WorkflowStep,
)
from gitorch.store import open_store
from gitorch.store.sqlite import MIGRATIONS, SqliteStore, migrate

FIXTURES = Path(__file__).parent / "fixtures" / "store"


@pytest.fixture
def store(tmp_path) -> SqliteStore:
    s = SqliteStore(tmp_path / "state" / "state.db")
    yield s
    s.close()


def decision(i: int | str = 1, **over) -> RoutingDecision:
    fields = dict(
        id=f"dec-{i}", text=f"Add JWT authentication to user API #{i}", task_type="planning",
        task_types={"planning": 0.7, "code_generation": 0.3}, agent="claude", confidence=0.86,
        scores={"claude": 95.0, "chatgpt-pro": 50.0}, reasoning="planning keywords; architectural decision",
        workflow=[WorkflowStep("claude", "plan", 0.86), WorkflowStep("chatgpt-pro", "build", 0.7)],
        estimated_cost_usd=0.031, estimated_saving_usd=0.12, strategy="learned",
        estimates={"context_tokens": 1200, "output_tokens": 800, "lines": 90}, manual=False, repo="acme/api",
        run_id="run-1",
    )
    fields.update(over)
    return RoutingDecision(**fields)


def metric(**over) -> Metric:
    fields = dict(agent="claude", model="claude-sonnet-5-5", usage=Usage(1000, 200, 300, 4000, False),
                  cost_usd=0.00475, baseline_cost_usd=0.00475, duration_s=2.5, task_type="planning",
                  run_id="run-1", step="plan", fallback=False)
    fields.update(over)
    return Metric(**fields)


# -- where it lives -------------------------------------------------------------------------------


def test_store_creates_its_folder_and_uses_wal(tmp_path):
    path = tmp_path / "deep" / "er" / "state.db"
    s = SqliteStore(path)
    assert path.exists()
    with sqlite3.connect(path) as db:
        assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    s.close()


def test_open_store_uses_the_configured_state_dir_inside_a_repository(repo, monkeypatch):
    from gitorch import config

    monkeypatch.delenv("GITORCH_HOME")
    cfg = config.load()
    s = open_store(cfg)
    s.record_metric(metric())
    assert (repo / ".git" / "gitorch" / "state.db").exists()
    s.close()


def test_gitorch_home_overrides_the_state_dir(repo, tmp_path, monkeypatch):
    from gitorch import config

    monkeypatch.setenv("GITORCH_HOME", str(tmp_path / "runner-state"))
    s = open_store(config.load())
    s.record_metric(metric())
    assert (tmp_path / "runner-state" / "state.db").exists()
    assert not (repo / ".git" / "gitorch").exists()
    s.close()


def test_unwritable_state_folder_is_a_clear_error(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    with pytest.raises(GitorchError) as err:
        SqliteStore(blocker / "state.db")
    assert "cannot create the state folder" in err.value.message
    assert "GITORCH_HOME" in err.value.hint


def test_damaged_database_is_a_clear_error(tmp_path):
    path = tmp_path / "state.db"
    path.write_bytes(b"this is not sqlite" * 100)
    with pytest.raises(GitorchError) as err:
        SqliteStore(path)
    assert str(path) in err.value.message
    assert "move it aside" in err.value.hint


def test_runner_id_is_stable_for_a_state_dir(tmp_path):
    a = SqliteStore(tmp_path / "state.db")
    b = SqliteStore(tmp_path / "state.db")
    other = SqliteStore(tmp_path / "other" / "state.db")
    assert a.runner == b.runner
    assert a.runner.startswith("runner-")
    assert other.runner != a.runner


# -- round trips ----------------------------------------------------------------------------------


def test_decision_round_trip_keeps_every_field(store):
    d = decision()
    store.record_decision(d)
    assert store.get_decision(d.id) == d
    assert store.get_decision("dec-missing") is None


def test_batch_of_decisions_in_one_call(store):
    batch = [decision(i) for i in range(300)]
    store.record_decisions(batch)
    assert [d.id for d in store.recent_decisions(limit=3)] == ["dec-299", "dec-298", "dec-297"]
    assert len(store.recent_decisions(limit=1000)) == 300


def test_feedback_fills_in_what_happened(store):
    store.record_decision(decision())
    updated = store.record_feedback("dec-1", override_agent="chatgpt-pro", override_task_type="code_generation")
    assert updated.override_agent == "chatgpt-pro"
    store.record_feedback("dec-1", agent_used="chatgpt-pro", outcome="success")
    got = store.get_decision("dec-1")
    assert (got.override_agent, got.override_task_type, got.agent_used, got.outcome) == (
        "chatgpt-pro", "code_generation", "chatgpt-pro", "success")


def test_feedback_for_an_unknown_decision_names_it(store):
    with pytest.raises(GitorchError) as err:
        store.record_feedback("dec-nope", outcome="success")
    assert "dec-nope" in err.value.message
    assert "gitorch route --json" in err.value.hint


def test_feedback_with_an_unknown_outcome_is_refused(store):
    store.record_decision(decision())
    with pytest.raises(GitorchError) as err:
        store.record_feedback("dec-1", outcome="meh")
    assert "success" in err.value.hint


def test_recent_decisions_per_repo_and_since(store):
    now = datetime.now(UTC)
    store.record_decisions([
        decision(1, repo="a/x", created_at=now - timedelta(days=3)),
        decision(2, repo="b/y", created_at=now - timedelta(days=2)),
        decision(3, repo="a/x", created_at=now - timedelta(days=1)),
    ])
    assert [d.id for d in store.recent_decisions("a/x")] == ["dec-3", "dec-1"]
    assert [d.id for d in store.recent_decisions(None, limit=2)] == ["dec-3", "dec-2"]
    assert [d.id for d in store.decisions_since(now - timedelta(days=2, hours=1))] == ["dec-2", "dec-3"]
    assert [d.id for d in store.decisions_since(now - timedelta(days=4), until=now - timedelta(days=2, hours=1))] \
        == ["dec-1"]


def test_router_state_per_repo(store):
    assert store.load_router_state("acme/api") is None
    store.save_router_state("acme/api", b"\x00\x01model-v1")
    store.save_router_state("acme/web", b"other")
    store.save_router_state("acme/api", b"\x00\x01model-v2")
    assert store.load_router_state("acme/api") == b"\x00\x01model-v2"
    assert store.load_router_state("acme/web") == b"other"


def test_metric_round_trip_with_cache_fields(store):
    m = metric(fallback=True, usage=Usage(10, 20, 30, 40, True))
    store.record_metric(m)
    [got] = store.metrics_since(datetime.now(UTC) - timedelta(minutes=1))
    assert got == m


def test_metrics_since_until_and_per_run(store):
    now = datetime.now(UTC)
    store.record_metric(metric(run_id="r1", cost_usd=1.0, created_at=now - timedelta(days=40)))
    store.record_metric(metric(run_id="r1", cost_usd=2.0, created_at=now - timedelta(days=2)))
    store.record_metric(metric(run_id="r2", cost_usd=4.0, created_at=now - timedelta(hours=1)))
    assert [m.cost_usd for m in store.metrics_since(now - timedelta(days=30))] == [2.0, 4.0]
    assert [m.cost_usd for m in store.metrics_since(now - timedelta(days=30), until=now - timedelta(days=1))] == [2.0]
    assert [m.cost_usd for m in store.metrics_since(now - timedelta(days=99), run_id="r1")] == [1.0, 2.0]
    assert store.spent_usd() == 7.0
    assert store.spent_usd(since=now - timedelta(days=3)) == 6.0
    assert store.spent_usd(run_id="r1") == 3.0


def test_naive_datetimes_are_taken_as_utc(store):
    store.record_metric(metric(created_at=datetime(2026, 11, 1, 12, 0)))
    [got] = store.metrics_since(datetime(2026, 11, 1, tzinfo=UTC))
    assert got.created_at == datetime(2026, 11, 1, 12, 0, tzinfo=UTC)


def test_run_round_trip_and_update(store):
    run = Run(id="run-1", text="Add JWT auth", trigger="issue", repo="acme/api", issue_number=7)
    store.save_run(run)
    run.status, run.branch, run.pr_number, run.rounds = "reviewing", "gitorch/run-1", 12, 1
    store.save_run(run)
    got = store.get_run("run-1")
    assert got == run
    assert store.get_run("run-x") is None
    store.save_run(Run(id="run-2", text="later"))
    assert [r.id for r in store.list_runs()] == ["run-2", "run-1"]


def test_plan_with_tasks_round_trip(store):
    tasks = [Task("t1", "models", files=["api/models.py"], estimated_lines=80),
             Task("t2", "endpoints", files=["api/routes.py"], depends_on=["t1"], assigned_to="claude",
                  task_type="refactoring", status="built")]
    plan = Plan("JWT auth in two steps", tasks, run_id="run-1")
    store.save_plan(plan)
    assert store.get_plan(plan.id) == plan
    newer = Plan("second plan", [Task("t9", "fix")], run_id="run-1",
                 created_at=plan.created_at + timedelta(seconds=1))
    store.save_plan(newer)
    assert store.latest_plan("run-1") == newer
    plan.tasks[0].status = "approved"
    store.save_plan(plan)
    assert store.get_plan(plan.id).tasks[0].status == "approved"
    assert store.latest_plan("run-none") is None


def test_artifacts_with_review_status_and_notes(store):
    a = Artifact("api/models.py", "class User: ...\n", "t1", "chatgpt-pro", run_id="run-1")
    gone = Artifact("old.py", None, "t1", "chatgpt-pro", run_id="run-1")
    store.save_artifact(a)
    store.save_artifact(gone)
    a.review_status, a.notes = "rejected", "missing password hashing"
    store.save_artifact(a)
    assert store.artifacts("run-1") == [a, gone]
    assert store.artifacts("run-1", review_status="rejected") == [a]
    assert store.artifacts("run-1")[1].content is None


def test_reviews_round_trip_in_round_order(store):
    second = Review("approve", "all good", round=2)
    first = Review("reject", "hash passwords", artifacts=[Verdict("api/models.py", False, "plain text")],
                   comments=[InlineComment("api/models.py", 3, "use bcrypt")],
                   fix_tasks=[Task("fix-1", "hash passwords", files=["api/models.py"])], round=1)
    store.save_review("run-1", second)
    store.save_review("run-1", first)
    assert store.reviews("run-1") == [first, second]
    assert store.reviews("run-2") == []


def test_budget_events_recorded_once_per_period(store):
    assert store.record_budget_event("alert", "month", "80% of $100", period="2026-11:80") is True
    assert store.record_budget_event("alert", "month", "80% of $100", period="2026-11:80") is False
    assert store.record_budget_event("alert", "month", "80% of $100", period="2026-12:80") is True
    assert store.record_budget_event("note", "run", "free form") is True
    assert store.record_budget_event("note", "run", "free form") is True
    events = store.budget_events()
    assert [e["period"] for e in events] == ["2026-11:80", "2026-12:80", None, None]
    assert len(store.budget_events(kind="alert")) == 2


# -- the journal ----------------------------------------------------------------------------------


def test_journal_begin_then_finish_then_begin_returns_the_result(store):
    assert store.journal_begin("run-1", "open_pr", {"branch": "gitorch/run-1"}) is None
    store.journal_finish("run-1", "open_pr", {"pr": 12})
    assert store.journal_begin("run-1", "open_pr") == {"pr": 12}
    [entry] = store.journal("run-1")
    assert entry["status"] == "finished"
    assert entry["data"] == {"branch": "gitorch/run-1"}
    assert entry["result"] == {"pr": 12}
    assert entry["finished_at"] >= entry["started_at"]


def test_journal_step_started_but_not_finished_may_run_again(store):
    assert store.journal_begin("run-1", "comment") is None
    assert store.journal_begin("run-1", "comment") is None  # the process died; resume
    [entry] = store.journal("run-1")
    assert entry["status"] == "started"
    assert entry["attempts"] == 2


def test_journal_keys_are_per_run_and_ordered(store):
    for key in ("plan", "build:t1", "commit"):
        store.journal_begin("run-1", key)
    store.journal_begin("run-2", "plan")
    store.journal_finish("run-1", "plan", {"plan_id": "p1"})
    assert [e["key"] for e in store.journal("run-1")] == ["plan", "build:t1", "commit"]
    assert [e["status"] for e in store.journal("run-1")] == ["finished", "started", "started"]
    assert store.journal_begin("run-2", "plan") is None


def test_journal_finish_twice_keeps_the_first_result(store):
    store.journal_begin("run-1", "open_pr")
    store.journal_finish("run-1", "open_pr", {"pr": 12})
    store.journal_finish("run-1", "open_pr", {"pr": 13})
    assert store.journal_begin("run-1", "open_pr") == {"pr": 12}


# -- the outbox -----------------------------------------------------------------------------------


def test_every_write_enters_the_outbox_with_key_version_and_runner(store):
    store.record_decision(decision())
    store.record_metric(metric())
    store.save_run(Run(id="run-1", text="x"))
    store.save_plan(Plan("p", [Task("t1", "x")], id="plan-1", run_id="run-1"))
    store.save_artifact(Artifact("a.py", "x", "t1", "codex", run_id="run-1", id="art-1"))
    store.save_review("run-1", Review("approve", "ok"))
    store.save_router_state("acme/api", b"\xffstate")
    store.journal_begin("run-1", "plan")
    store.record_budget_event("alert", "month", "80%", period="2026-11:80")
    rows = store.outbox_pending()
    assert [r["table"] for r in rows] == ["routing_decisions", "metrics", "runs", "plans", "artifacts", "reviews",
                                          "router_state", "journal", "budget_events"]
    assert {r["runner"] for r in rows} == {store.runner}
    assert all(r["version"] == 1 and r["attempts"] == 0 and r["last_error"] is None for r in rows)
    by_table = {r["table"]: r for r in rows}
    assert by_table["routing_decisions"]["key"] == "dec-1"
    assert by_table["routing_decisions"]["payload"]["decision_id"] == "dec-1"
    assert by_table["plans"]["payload"]["tasks"][0]["id"] == "t1"
    assert by_table["journal"]["key"] == "run-1:plan"
    assert by_table["metrics"]["key"].startswith(store.runner + ":")
    assert by_table["router_state"]["payload"]["state"] == "/3N0YXRl"  # base64 of the bytes
    assert store.outbox_count() == 9


def test_a_newer_version_replaces_the_pending_one(store):
    store.record_decision(decision())
    store.record_feedback("dec-1", override_agent="chatgpt-pro")
    [row] = store.outbox_pending()
    assert row["version"] == 2
    assert row["payload"]["override_agent"] == "chatgpt-pro"
    assert row["payload"]["feedback_at"] is not None
    store.outbox_mark_sent([row["id"]])
    assert store.outbox_pending() == []
    store.record_feedback("dec-1", outcome="success")
    [row3] = store.outbox_pending()
    assert row3["version"] == 3
    assert row3["id"] > row["id"]


def test_outbox_marks_failures_with_a_redacted_error(store):
    store.record_metric(metric())
    [row] = store.outbox_pending()
    store.outbox_mark_failed([row["id"]], "401 for key ghp_abcdefghijklmnopqrstuvwxyz0123")
    store.outbox_mark_failed([row["id"]], "timeout")
    [again] = store.outbox_pending()
    assert again["attempts"] == 2
    assert again["last_error"] == "timeout"
    store.outbox_mark_failed([row["id"]], "token ghp_abcdefghijklmnopqrstuvwxyz0123 refused")
    assert "ghp_" not in store.outbox_pending()[0]["last_error"]


def test_a_failed_write_leaves_no_record_and_no_outbox_row(store):
    duplicate_tasks = Plan("p", [Task("t1", "a"), Task("t1", "same id again")], id="plan-bad")
    with pytest.raises(sqlite3.IntegrityError):
        store.save_plan(duplicate_tasks)
    assert store.get_plan("plan-bad") is None
    assert store.outbox_pending() == []
    with pytest.raises(GitorchError):
        store.record_feedback("dec-missing", outcome="success")
    assert store.outbox_count() == 0


def test_outbox_row_and_record_commit_together(store, monkeypatch):
    """A failure between the record and its outbox row rolls both back."""
    def broken(*args, **kwargs):
        raise RuntimeError("disk gone")

    monkeypatch.setattr(store, "_enqueue", broken)
    with pytest.raises(RuntimeError):
        store.save_run(Run(id="run-1", text="x"))
    monkeypatch.undo()
    assert store.get_run("run-1") is None
    assert store.outbox_count() == 0


# -- migrations -----------------------------------------------------------------------------------


def test_blank_database_gets_every_migration_once(tmp_path):
    path = tmp_path / "state.db"
    s = SqliteStore(path)
    names = [fn.__name__ for fn in MIGRATIONS]
    assert s.schema_version() == names
    assert names[0] == "m001_initial"
    s.close()
    s2 = SqliteStore(path)
    with sqlite3.connect(path) as db:
        rows = db.execute("SELECT name, applied_at FROM migrations").fetchall()
    assert [r[0] for r in rows] == names
    assert all(r[1].endswith("+00:00") for r in rows)
    s2.close()


def _schema(db: sqlite3.Connection) -> list[tuple[str, str]]:
    return db.execute("SELECT name, sql FROM sqlite_master WHERE name NOT LIKE 'sqlite_%' "
                      "AND name != 'migrations' ORDER BY name").fetchall()


def test_m001_is_never_edited_after_release():
    """The frozen fixture and the code's m001_initial must build the same schema."""
    frozen = sqlite3.connect(":memory:")
    frozen.executescript((FIXTURES / "m001_schema.sql").read_text())
    built = sqlite3.connect(":memory:", isolation_level=None)
    built.execute("BEGIN")
    migrate(built, upto="m001_initial")
    built.execute("COMMIT")
    assert _schema(built) == _schema(frozen)


def test_migrating_the_oldest_schema_keeps_its_rows(tmp_path):
    path = tmp_path / "state.db"
    with sqlite3.connect(path) as db:
        db.executescript((FIXTURES / "m001_schema.sql").read_text())
        db.execute("INSERT INTO runs (id, text, trigger, status, created_at, updated_at) VALUES "
                   "('run-old', 'old run', 'cli', 'done', '2026-11-02T10:00:00.000000+00:00', "
                   "'2026-11-02T11:00:00.000000+00:00')")
        db.execute("INSERT INTO metrics (agent, model, input_tokens, output_tokens, cost_usd, task_type, duration_s, "
                   "run_id, created_at) VALUES ('claude', 'claude-sonnet-4-5', 1000, 100, 0.0045, 'planning', 1.5, "
                   "'run-old', '2026-11-02T10:30:00.000000+00:00')")
        db.execute("INSERT INTO routing_decisions (id, repo, text, task_type, agent, confidence, override_agent, "
                   "created_at) VALUES ('dec-old', 'acme/api', 'Add CRUD', 'code_generation', 'chatgpt-pro', 0.7, "
                   "'claude', '2026-11-02T09:00:00.000000+00:00')")
    s = SqliteStore(path)
    assert s.schema_version() == [fn.__name__ for fn in MIGRATIONS]
    assert s.get_run("run-old").status == "done"
    [m] = s.metrics_since(datetime(2026, 11, 1, tzinfo=UTC))
    assert m.usage == Usage(1000, 100, 0, 0, False)
    assert m.baseline_cost_usd == 0.0045  # old rows: Claude did the work, so the baseline is what it cost
    assert m.reason is None  # m009: rows from before the ladder say no reason
    s.record_metric(Metric("claude", "claude-haiku-5-5", Usage(10, 1), 0.000002, 0.000002, run_id="run-old",
                           step="review", reason="small change (12 lines), tests pass, no concern"))
    assert [(x.model, x.reason) for x in s.run_metrics("run-old")] == [
        ("claude-sonnet-4-5", None), ("claude-haiku-5-5", "small change (12 lines), tests pass, no concern")]
    totals = {(t["model"], t["reason"]): t["calls"] for t in s.metric_totals(datetime(2026, 11, 1, tzinfo=UTC))}
    assert totals == {("claude-sonnet-4-5", None): 1,
                      ("claude-haiku-5-5", "small change (12 lines), tests pass, no concern"): 1}
    d = s.get_decision("dec-old")
    assert (d.agent, d.override_agent, d.task_types, d.workflow, d.strategy) == (
        "chatgpt-pro", "claude", {}, [], "keywords")
    s.record_feedback("dec-old", outcome="failure")
    assert s.get_decision("dec-old").outcome == "failure"
    assert s.runner.startswith("runner-")
    s.close()


def test_migrations_step_by_step_match_a_fresh_database(tmp_path):
    stepwise = sqlite3.connect(tmp_path / "a.db", isolation_level=None)
    for fn in MIGRATIONS:
        stepwise.execute("BEGIN")
        migrate(stepwise, upto=fn.__name__)
        stepwise.execute("COMMIT")
    SqliteStore(tmp_path / "b.db").close()
    fresh = sqlite3.connect(tmp_path / "b.db")
    assert _schema(stepwise) == _schema(fresh)


# -- two processes at once ------------------------------------------------------------------------

WRITES_PER_PROCESS = 300


def _writer(path: str, name: str, start, errors, spans) -> None:
    try:
        s = SqliteStore(path)
        start.wait(60)  # both processes begin writing at the same moment
        began = time.monotonic()
        for i in range(WRITES_PER_PROCESS):
            if i % 3 == 0:
                s.record_decision(decision(f"{name}-{i}"))
            elif i % 3 == 1:
                s.record_metric(metric(run_id=name, cost_usd=0.01))
            else:
                s.journal_begin(name, f"step-{i}")
                s.journal_finish(name, f"step-{i}", {"i": i})
        spans.put((name, began, time.monotonic()))
        s.close()
    except Exception as exc:  # reported to the parent, which fails the test
        errors.put(f"{name}: {exc!r}")


def _ended(procs: list, errors) -> list[str]:
    """Start ``procs``, wait for each, and return the errors they reported."""
    for p in procs:
        p.start()
    for p in procs:
        p.join(120)
    problems = []
    while not errors.empty():
        problems.append(errors.get())
    return problems


def _opener(path: str, start, errors) -> None:
    try:
        start.wait(60)
        SqliteStore(path).close()
    except Exception as exc:  # reported to the parent, which fails the test
        errors.put(repr(exc))


@pytest.mark.slow
def test_processes_opening_a_new_state_database_at_once_all_open_it(tmp_path):
    """A hook, a run and an Action job started together on a fresh machine each open the store that
    does not exist yet: SQLite says "locked" at once, without waiting, to all but one of them while
    it turns on WAL; they wait instead of failing."""
    ctx = multiprocessing.get_context("spawn")
    for attempt in range(3):
        path = str(tmp_path / f"new-{attempt}" / "state.db")
        start, errors = ctx.Barrier(4), ctx.Queue()
        procs = [ctx.Process(target=_opener, args=(path, start, errors)) for _ in range(4)]
        assert _ended(procs, errors) == [] and [p.exitcode for p in procs] == [0] * 4


def test_two_processes_writing_at_once_both_succeed(tmp_path):
    path = str(tmp_path / "shared" / "state.db")
    ctx = multiprocessing.get_context("spawn")
    start, errors, spans = ctx.Barrier(2), ctx.Queue(), ctx.Queue()
    procs = [ctx.Process(target=_writer, args=(path, name, start, errors, spans)) for name in ("hook", "run")]
    assert _ended(procs, errors) == []
    assert [p.exitcode for p in procs] == [0, 0]
    (_, a_start, a_end), (_, b_start, b_end) = spans.get(timeout=5), spans.get(timeout=5)
    assert a_start < b_end and b_start < a_end, "the two writers did not overlap in time"
    s = SqliteStore(path)
    per_kind = WRITES_PER_PROCESS // 3
    assert len(s.recent_decisions(limit=10_000)) == 2 * per_kind
    assert s.spent_usd(run_id="hook") == pytest.approx(0.01 * per_kind)
    assert s.spent_usd(run_id="run") == pytest.approx(0.01 * per_kind)
    assert len(s.journal("hook")) == len(s.journal("run")) == per_kind
    # every record also reached the outbox: one row per decision, metric and journal step
    assert s.outbox_count() == 2 * 3 * per_kind
    s.close()


def test_outbox_payload_of_a_decision_is_its_json_form(store):
    d = decision()
    store.record_decision(d)
    [row] = store.outbox_pending()
    assert row["payload"] == {**d.as_json(), "feedback_at": None}


def test_a_decision_given_twice_in_one_batch_leaves_one_outbox_row(store):
    store.record_decisions([decision(1, reasoning="first"), decision(2), decision(1, reasoning="second")])
    assert store.get_decision("dec-1").reasoning == "second"
    rows = store.outbox_pending()
    assert sorted((r["key"], r["version"]) for r in rows) == [("dec-1", 1), ("dec-2", 1)]
    assert next(r for r in rows if r["key"] == "dec-1")["payload"]["reasoning"] == "second"


def test_metric_totals_per_agent_model_and_reason(store):
    store.record_metric(metric(usage=Usage(10, 1, 2, 3), cost_usd=1.0, baseline_cost_usd=1.0, duration_s=1))
    store.record_metric(metric(usage=Usage(20, 2, 0, 0), cost_usd=2.0, baseline_cost_usd=2.0, fallback=True,
                               duration_s=2))
    store.record_metric(metric(agent="chatgpt-pro", model="chatgpt-web", usage=Usage(5, 5), cost_usd=0,
                               baseline_cost_usd=0.5, duration_s=4))
    store.record_metric(metric(usage=Usage(7, 1), cost_usd=0.5, baseline_cost_usd=0.5, duration_s=1,
                               reason="concern: payments"))
    totals = store.metric_totals(datetime.now(UTC) - timedelta(minutes=1))
    assert totals == [
        {"agent": "chatgpt-pro", "model": "chatgpt-web", "reason": None, "calls": 1, "fallbacks": 0,
         "input_tokens": 5, "output_tokens": 5, "cache_creation_input_tokens": 0, "cache_read_input_tokens": 0,
         "cost_usd": 0.0, "baseline_cost_usd": 0.5, "duration_s": 4.0},
        {"agent": "claude", "model": "claude-sonnet-5-5", "reason": None, "calls": 2, "fallbacks": 1,
         "input_tokens": 30, "output_tokens": 3, "cache_creation_input_tokens": 2, "cache_read_input_tokens": 3,
         "cost_usd": 3.0, "baseline_cost_usd": 3.0, "duration_s": 3.0},
        {"agent": "claude", "model": "claude-sonnet-5-5", "reason": "concern: payments", "calls": 1, "fallbacks": 0,
         "input_tokens": 7, "output_tokens": 1, "cache_creation_input_tokens": 0, "cache_read_input_tokens": 0,
         "cost_usd": 0.5, "baseline_cost_usd": 0.5, "duration_s": 1.0},
    ]
    assert store.metric_totals(datetime.now(UTC) + timedelta(minutes=1)) == []


def test_decision_counts_agree_with_the_python_definition(store):
    from gitorch.stats import has_feedback, overridden

    feedback = [
        {}, {"outcome": "success"}, {"override_agent": "chatgpt-pro"}, {"override_agent": "claude"},
        {"override_task_type": "debugging"}, {"override_task_type": "planning", "outcome": "failure"},
        {"agent_used": "codex"}, {"override_agent": "codex", "override_task_type": "refactoring"},
    ]
    store.record_decisions([decision(i) for i in range(len(feedback))])
    for i, fb in enumerate(feedback):
        if fb:
            store.record_feedback(f"dec-{i}", **fb)
    decisions = [store.get_decision(f"dec-{i}") for i in range(len(feedback))]
    counts = store.decision_counts(datetime.now(UTC) - timedelta(days=1))
    assert counts == {
        "decisions": len(decisions),
        "with_feedback": sum(map(has_feedback, decisions)),
        "overrides": sum(map(overridden, decisions)),
        "accepted": sum(1 for d in decisions if has_feedback(d) and not overridden(d)),
    }
    assert (counts["with_feedback"], counts["overrides"], counts["accepted"]) == (7, 3, 4)


def test_journal_step_finished_without_a_result_is_still_done(store):
    store.journal_begin("run-1", "label")
    store.journal_finish("run-1", "label", None)
    assert store.journal_begin("run-1", "label") == {}


def test_journal_finish_without_begin_records_a_finished_step(store):
    store.journal_finish("run-1", "trigger:42", {"kind": "issue"})
    [entry] = store.journal("run-1")
    assert (entry["status"], entry["result"], entry["attempts"]) == ("finished", {"kind": "issue"}, 1)
    assert store.journal_begin("run-1", "trigger:42") == {"kind": "issue"}


def test_threads_share_one_store_object(store):
    import threading

    def work(n: int) -> None:
        for _ in range(50):
            store.record_metric(metric(run_id=f"thread-{n}", cost_usd=0.5))

    threads = [threading.Thread(target=work, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert store.spent_usd() == pytest.approx(4 * 50 * 0.5)
    assert store.outbox_count() == 200


def _child_writes(store: SqliteStore) -> None:
    store.record_metric(metric(run_id="child", cost_usd=1.0))


def test_a_forked_process_opens_its_own_connection(store):
    store.record_metric(metric(run_id="parent", cost_usd=2.0))  # the parent's connection is open
    child = multiprocessing.get_context("fork").Process(target=_child_writes, args=(store,))
    child.start()
    child.join(60)
    assert child.exitcode == 0
    store.record_metric(metric(run_id="parent", cost_usd=2.0))
    assert store.spent_usd(run_id="child") == 1.0
    assert store.spent_usd(run_id="parent") == 4.0


def test_a_closed_store_opens_again_on_next_use(store):
    store.record_metric(metric(cost_usd=1.0))
    store.close()
    store.record_metric(metric(cost_usd=1.0))
    assert store.spent_usd() == 2.0


def test_connections_of_ended_threads_are_closed(store):
    import threading

    for _ in range(20):  # like a server answering each request on a new thread
        t = threading.Thread(target=store.spent_usd)
        t.start()
        t.join()
    store.spent_usd()
    assert len(store._connections) <= 2


def test_recording_a_decision_again_keeps_when_feedback_came(store):
    store.record_decision(decision())
    updated = store.record_feedback("dec-1", outcome="success")
    updated.agent_used = "claude"
    store.record_decision(updated)
    assert store.get_decision("dec-1").agent_used == "claude"
    [row] = store.outbox_pending()
    assert row["version"] == 3
    assert row["payload"]["feedback_at"] is not None
    assert row["payload"]["outcome"] == "success"


# -- lookups and sums answered in SQL -------------------------------------------------------------

T0 = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)


def test_a_pr_and_its_decision_are_found_behind_more_than_500_newer_runs(store):
    """Rework requests and PR outcomes for old PRs: once found by scanning the newest 500 runs."""
    runs = [Run(id=f"run-{i:04d}", text=f"task {i}", repo="acme/api", created_at=T0 + timedelta(minutes=i),
                pr_number=1000 + i) for i in range(620)]
    runs[3].pr_number = runs[7].pr_number = 42  # a PR reworked by a second run
    for run in runs:
        store.save_run(run)
    store.record_decisions([decision(i, run_id=run.id, created_at=run.created_at) for i, run in enumerate(runs)])
    store.record_metric(metric(run_id="run-0007", cost_usd=0.25, created_at=runs[7].created_at))
    assert all(r.pr_number != 42 for r in store.list_runs(500))  # out of reach of the old scan

    assert store.run_for_pr(42).id == "run-0007"  # the newest of the two
    assert store.run_for_pr(42, repo="acme/api").id == "run-0007"
    assert store.run_for_pr(42, repo="acme/other") is None
    assert store.run_for_pr(1003) is None  # moved to #42
    assert store.run_for_pr(1619).id == "run-0619"
    assert store.run_for_pr(9999) is None
    assert store.decision_for_run("run-0007").id == "dec-7"
    assert [m.cost_usd for m in store.run_metrics("run-0007")] == [0.25]


def test_a_pr_number_or_run_id_that_cannot_be_looked_up_is_refused(store):
    for bad in (None, 0, -3, "12", True):
        with pytest.raises(GitorchError, match="pull request number must be a positive integer"):
            store.run_for_pr(bad)
    for call in (store.decision_for_run, store.run_metrics, lambda i: store.run_costs([i])):
        for bad in (None, ""):
            with pytest.raises(GitorchError, match="run id must be a non-empty string"):
                call(bad)


def test_decision_for_run_is_its_newest_decision(store):
    store.record_decisions([decision(1, run_id="run-a", created_at=T0),
                            decision(2, run_id="run-a", created_at=T0 + timedelta(hours=1)),
                            decision(3, run_id="run-b", created_at=T0 + timedelta(hours=2)),
                            decision(4, run_id=None, created_at=T0 + timedelta(hours=3))])
    assert store.decision_for_run("run-a").id == "dec-2"
    assert store.decision_for_run("run-b").id == "dec-3"
    assert store.decision_for_run("run-c") is None


def test_metrics_and_costs_of_runs_however_old(store):
    store.record_metric(metric(run_id="r1", cost_usd=1.0, baseline_cost_usd=3.0, created_at=T0 - timedelta(days=400)))
    store.record_metric(metric(run_id="r2", cost_usd=4.0, baseline_cost_usd=4.0, created_at=T0))
    store.record_metric(metric(run_id="r1", cost_usd=2.0, baseline_cost_usd=5.0, created_at=T0 + timedelta(hours=1)))
    store.record_metric(metric(run_id=None, cost_usd=8.0, created_at=T0))
    assert [m.cost_usd for m in store.run_metrics("r1")] == [1.0, 2.0]
    assert store.run_metrics("r9") == []
    assert [m.cost_usd for m in store.metrics_since(T0 - timedelta(days=1), run_id="r1")] == [2.0]
    assert store.run_costs(["r1", "r2", "r9"]) == {
        "r1": {"calls": 2, "cost_usd": 3.0, "baseline_cost_usd": 8.0},
        "r2": {"calls": 1, "cost_usd": 4.0, "baseline_cost_usd": 4.0},
        "r9": {"calls": 0, "cost_usd": 0.0, "baseline_cost_usd": 0.0},
    }
    assert store.run_costs([]) == {}
    many = [f"r{i}" for i in range(1200)]  # more ids than one statement takes at once
    assert store.run_costs(many)["r1"]["calls"] == 2 and len(store.run_costs(many)) == 1200


def test_metric_totals_by_day_split_at_utc_midnight_and_add_up(store):
    at = [T0.replace(hour=23, minute=59, second=59, microsecond=999999), T0.replace(hour=23) + timedelta(hours=1),
          T0 + timedelta(days=1, hours=5), T0 + timedelta(days=5)]
    store.record_metric(metric(usage=Usage(10, 1, 2, 3), cost_usd=1.0, baseline_cost_usd=1.5, created_at=at[0]))
    store.record_metric(metric(usage=Usage(20, 2, 0, 0), cost_usd=2.0, baseline_cost_usd=2.5, created_at=at[1]))
    store.record_metric(metric(agent="codex", model="gpt-5-codex", usage=Usage(5, 5), cost_usd=0,
                               baseline_cost_usd=0.5, created_at=at[2]))
    store.record_metric(metric(usage=Usage(1, 1), cost_usd=9.0, created_at=at[3]))  # after the period
    days = store.metric_totals_by_day(T0, until=T0 + timedelta(days=2))
    assert days == [
        {"day": "2026-11-02", "agent": "claude", "calls": 1, "tokens": 16, "cost_usd": 1.0, "baseline_cost_usd": 1.5},
        {"day": "2026-11-03", "agent": "claude", "calls": 1, "tokens": 22, "cost_usd": 2.0, "baseline_cost_usd": 2.5},
        {"day": "2026-11-03", "agent": "codex", "calls": 1, "tokens": 10, "cost_usd": 0.0, "baseline_cost_usd": 0.5},
    ]
    totals = store.metric_totals(T0, until=T0 + timedelta(days=2))
    assert sum(d["calls"] for d in days) == sum(t["calls"] for t in totals)
    assert sum(d["cost_usd"] for d in days) == sum(t["cost_usd"] for t in totals)
    assert store.metric_totals_by_day(T0 + timedelta(days=9)) == []


def test_decision_counts_by_day_add_up_to_decision_counts(store):
    store.record_decisions([decision(1, created_at=T0), decision(2, created_at=T0 + timedelta(hours=3)),
                            decision(3, created_at=T0 + timedelta(days=2)),
                            decision(4, created_at=T0 + timedelta(days=40))])
    store.record_feedback("dec-1", override_agent="chatgpt-pro")
    store.record_feedback("dec-2", outcome="success")
    store.record_feedback("dec-3", agent_used="claude")
    days = store.decision_counts_by_day(T0, until=T0 + timedelta(days=30))
    assert days == [
        {"day": "2026-11-02", "decisions": 2, "with_feedback": 2, "overrides": 1, "accepted": 1},
        {"day": "2026-11-04", "decisions": 1, "with_feedback": 1, "overrides": 0, "accepted": 1},
    ]
    counts = store.decision_counts(T0, until=T0 + timedelta(days=30))
    assert {k: sum(d[k] for d in days) for k in counts} == counts


def _run_between(store, monkeypatch, run_id: str, start: datetime, end: datetime, **fields) -> Run:
    from gitorch.store import sqlite as sqlite_module

    run = Run(id=run_id, text=run_id, created_at=start, **fields)
    monkeypatch.setattr(sqlite_module, "utcnow", lambda: end)  # save_run stamps updated_at
    store.save_run(run)
    return run


def test_feature_totals_count_approved_runs_by_last_update_to_the_microsecond(store, monkeypatch):
    done = {"status": "done", "verdict": "approve"}
    _run_between(store, monkeypatch, "a", T0, T0 + timedelta(minutes=10, microseconds=7), **done)
    _run_between(store, monkeypatch, "b", T0 - timedelta(days=3), T0 + timedelta(hours=1, microseconds=999_999),
                 **done)
    _run_between(store, monkeypatch, "rejected", T0, T0 + timedelta(minutes=5), status="done", verdict="reject")
    _run_between(store, monkeypatch, "going", T0, T0 + timedelta(minutes=5), status="building", verdict="approve")
    _run_between(store, monkeypatch, "later", T0, T0 + timedelta(days=2), **done)
    totals = store.feature_totals(T0, until=T0 + timedelta(days=1))
    assert totals["features"] == 2
    assert totals["seconds"] == (timedelta(minutes=10, microseconds=7)
                                 + timedelta(days=3, hours=1, microseconds=999_999)).total_seconds()
    assert store.feature_totals(T0 + timedelta(days=1, hours=12)) == {"features": 1, "seconds": 2 * 86400.0}
    assert store.feature_totals(T0 + timedelta(days=9)) == {"features": 0, "seconds": 0.0}


def test_review_counts_per_agent_over_the_runs_started_in_the_period(store, monkeypatch):
    _run_between(store, monkeypatch, "in", T0, T0 + timedelta(hours=1))
    _run_between(store, monkeypatch, "before", T0 - timedelta(days=40), T0)
    for i, (run_id, agent, status) in enumerate([
            ("in", "chatgpt-pro", "approved"), ("in", "chatgpt-pro", "rejected"), ("in", "codex", "approved"),
            ("in", "claude", "pending"), ("before", "chatgpt-pro", "approved"), ("none", "codex", "rejected")]):
        store.save_artifact(Artifact(f"f{i}.py", "x", "t1", agent, run_id=run_id, review_status=status))
    assert store.review_counts(T0 - timedelta(days=1), until=T0 + timedelta(days=1)) == {
        "chatgpt-pro": {"reviewed": 2, "approved": 1}, "codex": {"reviewed": 1, "approved": 1}}
    assert store.review_counts(T0 + timedelta(days=1)) == {}


def test_lookups_and_sums_go_through_an_index(store):
    """Each query searches an index (or reads the small tables of sums per hour), never scans the
    rows of runs, metrics, decisions or artifacts."""
    statements: list[str] = []
    store._connection().set_trace_callback(statements.append)
    since, until = T0 + timedelta(minutes=17), T0 + timedelta(days=3, minutes=41)  # cuts through two hours
    calls = [
        lambda: store.run_for_pr(42), lambda: store.run_for_pr(42, repo="acme/api"),
        lambda: store.decision_for_run("run-1"), lambda: store.run_metrics("run-1"),
        lambda: store.metrics_since(T0, run_id="run-1"), lambda: store.spent_usd(since=T0, run_id="run-1"),
        lambda: store.run_costs(["run-1", "run-2"]), lambda: store.metric_totals(since, until),
        lambda: store.metric_totals_by_day(since, until), lambda: store.spent_usd(since=since, until=until),
        lambda: store.decision_counts(since, until), lambda: store.decision_counts_by_day(since, until),
        lambda: store.feature_totals(since, until), lambda: store.review_counts(since, until),
    ]
    for call in calls:
        statements.clear()
        call()
        [sql] = statements
        plan = [row[3] for row in store._connection().execute("EXPLAIN QUERY PLAN " + sql)]
        scans = [s for s in plan if re.match(r"SCAN (metrics|runs|routing_decisions|artifacts|[mrda])\b", s)]
        assert plan and not scans, (sql, plan)


# -- sums per hour, kept by triggers ----------------------------------------------------------------

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def _as_team(store: SqliteStore):
    """The store's rows as the team's records (what the outbox sends), read back by ``TeamStore``:
    the same figures computed in Python from every row."""
    from dataclasses import asdict

    from gitorch.dashboard.team import TeamStore
    from gitorch.store.sqlite import _decision_payload, _dumps

    def items(records):
        return [{"runner": store.runner, "data": json.loads(_dumps(r))} for r in records]

    runs = store.list_runs(10**6)
    return TeamStore({
        "runs": items(asdict(r) for r in runs),
        "metrics": items(asdict(m) for m in store.metrics_since(EPOCH)),
        "decisions": items(_decision_payload(d) for d in store.decisions_since(EPOCH)),
        "artifacts": items(asdict(a) for r in runs for a in store.artifacts(r.id)),
    })


PERIODS = [
    (T0 - timedelta(days=1), None), (EPOCH, T0 + timedelta(days=9)),
    (T0 + timedelta(minutes=90, microseconds=7), T0 + timedelta(days=2, minutes=13)),  # cuts through hours
    (T0 + timedelta(hours=5), T0 + timedelta(hours=29)),  # whole hours
    (T0 + timedelta(hours=5, minutes=10), T0 + timedelta(hours=5, minutes=50)),  # inside one hour
    (T0 + timedelta(days=1, hours=3), T0 + timedelta(hours=2)),  # ends before it starts
]


def _same_sums(store: SqliteStore, periods=PERIODS) -> None:
    team = _as_team(store)
    for since, until in periods:
        for name in ("metric_totals", "metric_totals_by_day", "decision_counts", "decision_counts_by_day",
                     "feature_totals", "review_counts"):
            assert getattr(store, name)(since, until) == getattr(team, name)(since, until), (name, since, until)
        assert store.spent_usd(since, until=until) == team.spent_usd(since, until=until), (since, until)
    assert store.spent_usd() == team.spent_usd()
    ids = [r.id for r in team.runs]
    assert store.run_costs(ids) == team.run_costs(ids)


def _fill_hours(store: SqliteStore, monkeypatch, seed: int = 5) -> None:
    """Runs, artifacts, metrics and decisions over four days, written, changed and deleted as
    runs and people do."""
    from gitorch.store import sqlite as sqlite_module

    rng = random.Random(seed)

    def at() -> datetime:
        return T0 + timedelta(seconds=rng.uniform(0, 4 * 86400))

    clock = [T0]
    monkeypatch.setattr(sqlite_module, "utcnow", lambda: clock[0])
    agents = ["claude", "chatgpt-pro", "codex"]
    late = []  # runs saved only after their artifacts
    for i in range(40):
        run = Run(id=f"run-{i}", text=f"task {i}", created_at=at(), pr_number=100 + i)
        clock[0] = run.created_at + timedelta(minutes=rng.uniform(1, 300))
        artifacts = [Artifact(f"f{j}.py", "x", "t1", rng.choice(agents), run_id=run.id, id=f"art-{i}-{j}")
                     for j in range(rng.randint(0, 3))]
        if i % 7 == 3:
            late.append(run)
        else:
            store.save_run(run)
        for a in artifacts:
            store.save_artifact(a)
            a.review_status = rng.choice(["approved", "rejected", "pending"])
            store.save_artifact(a)
            if rng.random() < 0.3:  # a second review changes its mind
                a.review_status, a.agent = rng.choice(["approved", "rejected"]), rng.choice(agents)
                store.save_artifact(a)
        run.status, run.verdict = rng.choice([("done", "approve"), ("done", "reject"), ("building", None)])
        store.save_run(run)
        if rng.random() < 0.3:  # saved again later: its last update moves on
            clock[0] += timedelta(hours=rng.uniform(0, 30))
            run.status, run.verdict = "done", "approve"
            store.save_run(run)
    for i in range(300):
        store.record_metric(metric(agent=rng.choice(agents), model=rng.choice(["m1", "m2"]), run_id=f"run-{i % 45}",
                                   usage=Usage(rng.randint(0, 9000), rng.randint(0, 900), rng.randint(0, 90),
                                               rng.randint(0, 9)),
                                   cost_usd=round(rng.uniform(0, 0.2), 7),
                                   baseline_cost_usd=round(rng.uniform(0, 0.4), 7),
                                   duration_s=rng.uniform(0, 300), fallback=rng.random() < 0.1, created_at=at()))
    store.record_decisions([decision(i, created_at=at(), agent=rng.choice(agents)) for i in range(60)])
    for i in range(0, 60, 2):
        store.record_feedback(f"dec-{i}", **rng.choice([{"override_agent": "codex"}, {"outcome": "success"},
                                                       {"override_task_type": "debugging"}, {"agent_used": "claude"}]))
    store.record_decision(decision(7, created_at=T0 + timedelta(days=3, hours=1)))  # moved to another hour
    for run in late:
        store.save_run(run)
    with sqlite3.connect(store.path) as db:  # nothing deletes these today; the sums must still follow
        db.execute("DELETE FROM metrics WHERE id % 17 = 0")
        db.execute("DELETE FROM routing_decisions WHERE id = 'dec-9'")
        db.execute("DELETE FROM artifacts WHERE id = 'art-5-0'")
        db.execute("DELETE FROM runs WHERE id = 'run-11'")


def test_hourly_sums_agree_with_the_rows_over_any_period(store, monkeypatch):
    _fill_hours(store, monkeypatch)
    assert store.metric_totals(EPOCH) and store.feature_totals(EPOCH)["features"] > 5
    assert sum(r["reviewed"] for r in store.review_counts(EPOCH).values()) > 10
    _same_sums(store)


def test_m007_sums_the_rows_already_there(tmp_path, monkeypatch):
    """A store of the schema before m007, with rows in it, gets its sums per hour on opening."""
    full = SqliteStore(tmp_path / "full.db")
    _fill_hours(full, monkeypatch, seed=8)
    full.close()
    with sqlite3.connect(tmp_path / "old.db", isolation_level=None) as old:
        old.execute("BEGIN")
        migrate(old, upto="m006_run_resume_after")
        old.execute("COMMIT")
        old.execute("ATTACH DATABASE ? AS full", (str(tmp_path / "full.db"),))
        for table in ("runs", "metrics", "routing_decisions", "artifacts"):
            columns = ", ".join(row[1] for row in old.execute(f"PRAGMA main.table_info({table})"))
            old.execute(f"INSERT INTO {table} ({columns}) SELECT {columns} FROM full.{table}")
        old.execute("DETACH DATABASE full")
    migrated = SqliteStore(tmp_path / "old.db")
    assert "m007_lookups_and_hourly_sums" in migrated.schema_version()
    _same_sums(migrated)
    migrated.close()
