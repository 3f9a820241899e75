"""The Convex mirror against the local Convex server: the project's own functions in convex-test,
reached with the real `convex` package's encoding over HTTP and its WebSocket client for live reads."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import textwrap
import threading
from pathlib import Path

import pytest
from standins.convex_local import LocalConvex

from gitorch.config import ConvexConfig
from gitorch.errors import GitorchError
from gitorch.model import Artifact, Metric, Plan, Review, RoutingDecision, Run, Task, Usage, WorkflowStep
from gitorch.store.convex import (
    LIVE_QUERIES,
    PUSH,
    ConvexHttp,
    ConvexMirror,
    ConvexRequestError,
    ConvexSetupError,
    ConvexUnavailable,
    LiveReader,
    check_url,
    follow,
)
from gitorch.store.sqlite import SqliteStore

pytestmark = pytest.mark.node

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def server():
    with LocalConvex() as convex:
        yield convex


@pytest.fixture
def convex(server):
    """The shared local deployment, back to normal after each test."""
    if not server.running:
        server.start()
    yield server
    if server.running:
        server.set_mode("normal")


@pytest.fixture
def store(tmp_path):
    with SqliteStore(tmp_path / "state.db") as s:
        yield s


def settings(convex: LocalConvex, **kw) -> ConvexConfig:
    return ConvexConfig(url=convex.url, **{"timeout_s": 2.0, "batch_size": 50, "interval_s": 0.05, **kw})


def mirror_for(store, convex: LocalConvex, **kw) -> ConvexMirror:
    return ConvexMirror(store, settings(convex, **kw), convex.admin_key, sleep=lambda s: None)


def docs(convex: LocalConvex, table: str, runner: str | None = None) -> list[dict]:
    """Every document of a table (of one runner), read back page by page with the admin key."""
    client = ConvexHttp(convex.url, convex.admin_key, timeout_s=10)
    out, cursor = [], None
    while True:
        page = client.query("mirror:dump", {"table": table, "paginationOpts": {"numItems": 500, "cursor": cursor}})
        out += page["page"]
        if page["isDone"]:
            break
        cursor = page["continueCursor"]
    client.close()
    return [d for d in out if runner is None or d["runner"] == runner]


def metric(i: int, run_id: str = "run-1") -> Metric:
    return Metric(agent="claude", model="claude-sonnet-5-5", usage=Usage(1000 + i, 200, 0, 50), cost_usd=0.01 * i,
                  baseline_cost_usd=0.02 * i, duration_s=1.5, task_type="code_generation", run_id=run_id, step="build")


def decision(ident: str) -> RoutingDecision:
    return RoutingDecision(
        id=ident, text="fix the flaky test", task_type="debugging",
        task_types={"debugging": 0.8, "planning": 0.2}, agent="claude", confidence=0.8,
        scores={"claude": 80.0, "chatgpt-pro": 55.0, "codex": 40.0}, reasoning="a bug",
        workflow=[WorkflowStep("claude", "plan", 0.8)], estimated_cost_usd=0.12, estimated_saving_usd=0.0,
        repo="acme/app",
    )


def write_a_run(store: SqliteStore, run_id: str = "run-1", metrics: int = 3) -> int:
    """One run's worth of records, of every kind the store mirrors; returns how many outbox rows."""
    run = Run(id=run_id, text="add a --verbose flag", repo="acme/app")
    store.save_run(run)
    plan = Plan(summary="one task", tasks=[Task(id="t1", description="add the flag", files=["cli.py"])],
                run_id=run_id)
    store.save_plan(plan)
    store.save_artifact(Artifact(path="cli.py", content="print('hi')\n", task_id="t1", agent="chatgpt-pro",
                                 run_id=run_id, id=f"art-{run_id}"))
    for i in range(metrics):
        store.record_metric(metric(i, run_id))
    store.record_decision(decision(f"dec-{run_id}"))
    store.record_feedback(f"dec-{run_id}", override_agent="codex")
    store.save_review(run_id, Review(verdict="approve", summary="looks right"))
    store.journal_begin(run_id, "plan")
    store.journal_finish(run_id, "plan", {"plan_id": plan.id})
    store.record_budget_event("alert", "month", "80% of the monthly budget spent", run_id=run_id)
    store.save_router_state("acme/app", b"\x00\x01state")
    run.status = "done"
    store.save_run(run)
    return store.outbox_count()


# -- the drain ------------------------------------------------------------------------------------


def test_sync_sends_every_record_once_and_marks_it_sent(store, convex):
    pending = write_a_run(store)
    assert pending == 11  # run, plan, artifact, 3 metrics, decision, review, journal step, budget event, router state

    result = mirror_for(store, convex).drain()

    assert result.sent == pending and result.rejected == 0
    assert store.outbox_count() == 0
    runs = docs(convex, "runs", store.runner)
    assert [(r["runId"], r["status"], r["version"]) for r in runs] == [("run-1", "done", 2.0)]
    metrics = sorted(docs(convex, "metrics", store.runner), key=lambda d: d["inputTokens"])
    assert [m["inputTokens"] for m in metrics] == [1000, 1001, 1002]
    assert metrics[2]["costUsd"] == pytest.approx(0.02)
    [d] = docs(convex, "routing_decisions", store.runner)
    assert (d["overrideAgent"], d["scores"]["chatgpt-pro"], d["feedbackAt"] > 0) == ("codex", 55.0, True)
    [plan] = docs(convex, "plans", store.runner)
    assert plan["tasks"][0]["files"] == ["cli.py"]
    [artifact] = docs(convex, "artifacts", store.runner)
    assert artifact["content"] == "print('hi')\n" and artifact["reviewStatus"] == "pending"
    [step] = docs(convex, "journal", store.runner)
    assert (step["step"], step["status"]) == ("plan", "finished")
    assert docs(convex, "router_state", store.runner)[0]["repo"] == "acme/app"


def test_outage_keeps_records_pending_with_the_error_and_sends_them_later(store, convex):
    write_a_run(store)
    mirror = mirror_for(store, convex)
    convex.set_mode("refuse")

    with pytest.raises(ConvexUnavailable) as err:
        mirror.sync(attempts=2)

    assert "cannot reach Convex" in err.value.message
    status = mirror.status()
    assert status.pending == 11
    assert status.oldest["table"] == "plans" and status.oldest["attempts"] == 2
    assert "connection refused" in status.last_error

    convex.set_mode("normal")
    assert mirror.sync().sent == 11
    assert mirror.status().pending == 0
    assert len(docs(convex, "metrics", store.runner)) == 3


def test_a_hung_server_times_out_instead_of_hanging_the_sync(store, convex):
    store.record_metric(metric(1))
    mirror = mirror_for(store, convex, timeout_s=0.5)
    convex.set_mode("hang")

    with pytest.raises(ConvexUnavailable, match="did not answer"):
        mirror.drain()

    assert store.outbox_count() == 1
    convex.set_mode("normal")
    assert mirror.drain().sent == 1


def test_an_answer_lost_after_the_commit_does_not_store_the_records_twice(store, convex):
    write_a_run(store)
    mirror = mirror_for(store, convex)
    convex.set_mode("error", after_commit=True)  # Convex stores the batch, then answers 500

    with pytest.raises(ConvexUnavailable, match="500"):
        mirror.drain()
    assert store.outbox_count() == 11  # we could not know it was stored
    convex.set_mode("normal")
    assert len(docs(convex, "metrics", store.runner)) == 3  # but it was

    result = mirror.drain()

    assert (result.sent, result.duplicates) == (0, 11)
    assert len(docs(convex, "metrics", store.runner)) == 3
    assert store.outbox_count() == 0


def test_an_older_version_arriving_late_never_replaces_the_newer(store, convex):
    run = Run(id="run-late", text="t", repo="acme/app")
    store.save_run(run)
    [old] = store.outbox_pending()
    run.status = "done"
    store.save_run(run)
    mirror = mirror_for(store, convex)
    assert mirror.drain().sent == 1  # only v2 waits: the outbox keeps the newest row per record

    record = {k: old[k] for k in ("table", "key", "version", "runner", "payload")}
    answers = mirror.client.mutation(PUSH, {"records": [record]})  # v1, delivered late

    assert answers == [{"key": "run-late", "outcome": "stale"}]
    [doc] = docs(convex, "runs", store.runner)
    assert (doc["version"], doc["status"]) == (2, "done")


def test_a_record_convex_refuses_stays_pending_and_does_not_hold_back_the_rest(store, convex):
    store.record_metric(metric(1))
    with store._write() as db:  # a record this deployment's functions do not know
        store._enqueue(db, "nonsense", "n-1", {"a": 1})
        store._enqueue(db, "metrics", "too-big", {"agent": "claude", "model": "m", "usage": {"input_tokens": 2**60}})
    store.record_metric(metric(2))
    mirror = mirror_for(store, convex)

    result = mirror.drain()

    assert (result.sent, result.rejected) == (2, 2)
    assert any("unknown table 'nonsense'" in e for e in result.errors)
    assert any("outside the range" in e for e in result.errors)
    status = mirror.status()
    assert status.pending == 2 and status.last_error
    assert mirror.drain().rejected == 2  # tried again next time, still refused, still not lost


def test_a_record_refused_again_and_again_is_parked_kept_and_sent_again_on_request(store, convex):
    store.record_metric(metric(1))
    with store._write() as db:
        store._enqueue(db, "nonsense", "n-1", {"a": 1})
    mirror = mirror_for(store, convex, park_after_refusals=2)

    first, second, third = mirror.drain(), mirror.drain(), mirror.drain()

    assert (first.sent, first.rejected, first.parked) == (1, 1, 0)
    assert (second.rejected, second.parked) == (1, 1)
    assert (third.rejected, third.batches) == (0, 0)  # parked: no request for it any more
    status = mirror.status()
    assert status.pending == 0 and status.parked_count == 1
    assert status.parked[0]["key"] == "n-1" and "unknown table 'nonsense'" in status.parked[0]["last_error"]
    assert status.as_json()["parked"] == 1
    # Nothing is lost: it is still in SQLite, and goes back into the queue when asked.
    assert store.outbox_unpark() == 1 and store.outbox_count() == 1
    assert mirror.drain().rejected == 1 and store.outbox_parked_count() == 0


def test_a_newer_version_of_a_parked_record_replaces_it_and_is_sent(store, convex):
    too_big = {"agent": "claude", "model": "m", "usage": {"input_tokens": 2**60}}
    with store._write() as db:
        store._enqueue(db, "metrics", "m-big", too_big)
    mirror = mirror_for(store, convex, park_after_refusals=1)
    assert mirror.drain().parked == 1 and store.outbox_parked_count() == 1

    with store._write() as db:  # the record is written again, now within Convex's range
        store._enqueue(db, "metrics", "m-big", {**too_big, "usage": {"input_tokens": 7}})

    assert store.outbox_parked_count() == 0 and store.outbox_count() == 1
    assert mirror.drain().sent == 1


def test_keys_convex_cannot_hold_are_escaped_so_the_record_still_arrives(store, convex):
    store.journal_begin("run-keys", "build", {"files": {"src/café.py": "sha1", "$ref": "x", "plain.py": "y"}})
    assert mirror_for(store, convex).drain().sent == 1
    [step] = docs(convex, "journal", store.runner)
    assert step["data"]["data"]["files"] == {"src/caf\\u00e9.py": "sha1", "\\u0024ref": "x", "plain.py": "y"}


def test_big_records_are_split_across_batches(store, convex):
    for i in range(3):
        store.save_artifact(Artifact(path=f"f{i}.txt", content="x" * 1_500_000, task_id="t", agent="codex",
                                     run_id="run-big", id=f"big-{i}"))
    result = mirror_for(store, convex).drain()
    assert (result.sent, result.batches) == (3, 2)
    assert {len(a["content"]) for a in docs(convex, "artifacts", store.runner)} == {1_500_000}


def test_restart_keeps_what_convex_stored(tmp_path, store):
    with LocalConvex(data_path=tmp_path / "convex.json") as convex:
        write_a_run(store)
        mirror = mirror_for(store, convex)
        mirror.drain()
        convex.restart()
        assert len(docs(convex, "metrics", store.runner)) == 3
        store.record_metric(metric(9))
        assert mirror.drain().sent == 1
        convex.stop()
        store.record_metric(metric(10))
        with pytest.raises(ConvexUnavailable):
            mirror.drain()
        convex.start()
        assert mirror.drain().sent == 1
        assert len(docs(convex, "metrics", store.runner)) == 5


# -- in the background ----------------------------------------------------------------------------


def test_background_drain_sends_what_a_run_writes_and_stops_cleanly(store, convex):
    mirror = mirror_for(store, convex).start()
    try:
        write_a_run(store)
        mirror.kick()
        for _ in range(200):
            if store.outbox_count() == 0:
                break
            threading.Event().wait(0.05)
        assert store.outbox_count() == 0
    finally:
        assert mirror.stop(timeout_s=5)
    assert len(docs(convex, "runs", store.runner)) == 1
    sessions = docs(convex, "sessions", store.runner)
    assert [s["status"] for s in sessions] == ["stopped"]
    store.record_metric(metric(99))
    assert mirror.drain().sent == 1  # a stopped mirror still drains by hand


def test_runs_go_on_writing_while_the_drain_is_stuck_on_a_hung_convex(store, convex):
    convex.set_mode("hang")
    mirror = mirror_for(store, convex, timeout_s=30)
    in_request = threading.Event()
    send = mirror.client.post_encoded

    def spy(*args, **kwargs):
        in_request.set()
        return send(*args, **kwargs)

    mirror.client.post_encoded = spy
    store.record_metric(metric(0))
    mirror.start()
    assert in_request.wait(10)  # the drain is now waiting on Convex, which does not answer
    for i in range(1, 50):
        store.record_metric(metric(i))  # every write returns: nothing waits on Convex
    assert store.outbox_count() == 50
    assert mirror.stop(timeout_s=0.1) is False  # still in its request; the thread is a daemon
    convex.set_mode("normal")  # the hung request fails; the records stay pending
    assert mirror_for(store, convex).drain().sent == 50


# -- several writers ------------------------------------------------------------------------------

WRITER = textwrap.dedent("""
    import sys, time
    from gitorch.config import ConvexConfig
    from gitorch.model import Metric, Usage
    from gitorch.store.convex import ConvexMirror
    from gitorch.store.sqlite import SqliteStore

    db, url, key, n = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
    store = SqliteStore(db)
    mirror = ConvexMirror(store, ConvexConfig(url=url, timeout_s=2, batch_size=20, interval_s=0.02), key).start()
    for i in range(n):
        store.record_metric(Metric(agent="codex", model="gpt", usage=Usage(i, 1), cost_usd=0.0,
                                   baseline_cost_usd=0.001 * i, run_id="two-writers"))
        mirror.kick()
    mirror.stop()
    ConvexMirror(store, ConvexConfig(url=url, timeout_s=2), key).sync()
    print(store.runner)
""")


def run_writers(convex: LocalConvex, dbs: list[Path], n: int) -> list[str]:
    procs = [subprocess.Popen([sys.executable, "-c", WRITER, str(db), convex.url, convex.admin_key, str(n)],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT) for db in dbs]
    runners = []
    for proc in procs:
        out, err = proc.communicate(timeout=120)
        assert proc.returncode == 0, err
        runners.append(out.strip())
    return runners


def test_two_runners_write_to_one_deployment_without_overwriting_each_other(tmp_path, convex):
    runners = run_writers(convex, [tmp_path / "a.db", tmp_path / "b.db"], 60)
    assert runners[0] != runners[1]
    for runner in runners:
        mine = docs(convex, "metrics", runner)
        assert sorted(m["inputTokens"] for m in mine) == list(range(60))


def test_two_processes_draining_one_database_store_each_record_once(tmp_path, convex):
    db = tmp_path / "shared.db"
    runners = run_writers(convex, [db, db], 60)
    assert runners[0] == runners[1]
    mine = docs(convex, "metrics", runners[0])
    assert len(mine) == 120 and len({m["key"] for m in mine}) == 120
    assert SqliteStore(db).outbox_count() == 0


# -- live reads -----------------------------------------------------------------------------------

OTHER_PROCESS = textwrap.dedent("""
    import sys
    from gitorch.config import ConvexConfig
    from gitorch.model import Metric, Usage
    from gitorch.store.convex import ConvexMirror
    from gitorch.store.sqlite import SqliteStore

    store = SqliteStore(sys.argv[1])
    store.record_metric(Metric(agent="chatgpt-pro", model="chatgpt", usage=Usage(10, 10), cost_usd=0.0,
                               baseline_cost_usd=0.5))
    ConvexMirror(store, ConvexConfig(url=sys.argv[2]), sys.argv[3]).sync()
""")


def test_a_live_subscription_sees_a_write_from_another_process(tmp_path, convex):
    async def watch() -> list[float]:
        seen = []
        writer = None
        async for today in follow(convex.url, "mcp:getTodayMetrics", admin_key=convex.admin_key):
            seen.append(today["byAgent"].get("chatgpt-pro", {}).get("calls", 0.0))
            if writer is None:
                writer = await asyncio.create_subprocess_exec(
                    sys.executable, "-c", OTHER_PROCESS, str(tmp_path / "other.db"), convex.url, convex.admin_key,
                    cwd=ROOT)
            elif seen[-1] > seen[0]:
                break
        assert await writer.wait() == 0
        return seen

    seen = asyncio.run(asyncio.wait_for(watch(), timeout=60))
    assert seen[-1] == seen[0] + 1


# -- configuration and refusals -------------------------------------------------------------------


@pytest.mark.parametrize("url, problem", [
    ("https://happy-otter-123.convex.cloud/", "ends with a slash"),
    ("https://happy-otter-123.convex.site", "HTTP-actions address"),
    ("https://happy-otter-123.convex.cloud/api", "has a path"),
    ("http://happy-otter-123.convex.cloud", "uses http"),
    ("happy-otter-123.convex.cloud", "is not a URL"),
])
def test_a_wrong_convex_url_is_refused_with_what_to_fix(url, problem):
    with pytest.raises(GitorchError, match=problem) as err:
        check_url(url)
    assert err.value.hint


def test_good_urls_pass():
    assert check_url("https://happy-otter-123.convex.cloud") == "https://happy-otter-123.convex.cloud"
    assert check_url("http://127.0.0.1:3210") == "http://127.0.0.1:3210"


def test_a_run_gets_a_mirror_only_when_convex_is_configured_with_a_key(store, convex, monkeypatch, caplog):
    from gitorch import config as config_module
    from gitorch.store.convex import mirror_for as run_mirror

    assert run_mirror(config_module.load(), store) is None  # not configured: SQLite only
    monkeypatch.setenv("CONVEX_URL", convex.url)
    assert run_mirror(config_module.load(), store) is None  # no key: the run goes on, records wait
    assert "CONVEX_DEPLOY_KEY" in caplog.text
    monkeypatch.setenv("CONVEX_DEPLOY_KEY", convex.admin_key)
    mirror = run_mirror(config_module.load(), store)
    store.record_metric(metric(1))
    assert mirror.drain().sent == 1
    monkeypatch.setenv("CONVEX_URL", convex.url + "/")
    with pytest.raises(GitorchError, match="ends with a slash"):
        run_mirror(config_module.load(), store)


def test_mirror_needs_a_url_and_a_key(store):
    with pytest.raises(GitorchError, match="CONVEX_URL is empty"):
        ConvexMirror(store, ConvexConfig(), "key")
    with pytest.raises(GitorchError, match="no key to write with") as err:
        ConvexMirror(store, ConvexConfig(url="https://a-b-1.convex.cloud"), None)
    assert "CONVEX_DEPLOY_KEY" in err.value.hint


def test_a_wrong_admin_key_stops_the_drain_at_once_and_the_records_stay(store, convex):
    for i in range(120):
        store.record_metric(metric(i))
    mirror = ConvexMirror(store, settings(convex), "not-the-key")
    with pytest.raises(ConvexSetupError, match="401 BadAdminKey") as err:
        mirror.drain()
    assert "CONVEX_DEPLOY_KEY" in err.value.hint
    assert store.outbox_count() == 120
    assert mirror.status().last_error.startswith("Convex refused mirror:push: 401")


def test_without_the_key_writes_are_refused_as_not_public(convex):
    client = ConvexHttp(convex.url, None)
    with pytest.raises(ConvexSetupError, match="Could not find public function") as err:
        client.mutation(PUSH, {"records": []})
    assert "npx convex deploy" in err.value.hint


def test_a_function_error_names_the_function(convex):
    client = ConvexHttp(convex.url, convex.admin_key)
    with pytest.raises(ConvexRequestError, match="mcp:updateReviewStatus failed: .*no artifact 'x'"):
        client.mutation("mcp:updateReviewStatus", {"key": "x", "version": 2, "runner": "r", "reviewStatus": "approved"})


def test_the_live_reader_follows_sessions_and_kpis_and_stops_when_cancelled(store, convex):
    changes: list[str] = []

    async def scenario() -> dict:
        reader = LiveReader(convex.url, on_change=lambda name, value: changes.append(name),
                            admin_key=convex.admin_key)
        task = asyncio.create_task(reader.run())
        while set(reader.latest) != set(LIVE_QUERIES):
            await asyncio.wait_for(reader.updated.wait(), 20)
            reader.updated.clear()
        calls = reader.latest["today"]["total"]["calls"]
        mirror = mirror_for(store, convex)
        mirror.run_id = "run-live"
        store.record_metric(metric(1))
        await asyncio.to_thread(mirror.drain)
        await asyncio.to_thread(mirror.heartbeat)
        while reader.latest["today"]["total"]["calls"] == calls or not any(
                s["runner"] == store.runner for s in reader.latest["sessions"]):
            await asyncio.wait_for(reader.updated.wait(), 20)
            reader.updated.clear()
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        return reader.latest

    latest = asyncio.run(asyncio.wait_for(scenario(), 60))
    [mine] = [s for s in latest["sessions"] if s["runner"] == store.runner]
    assert mine["pending"] == 0 and mine["run"] is None  # run-live was never mirrored as a run
    assert {"sessions", "today", "cost", "routing", "pending_artifacts"} <= set(changes)
