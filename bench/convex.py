"""Convex mirror benchmark, against the local Convex server (the project's own functions in convex-test).

Run: python bench/convex.py [--records N] [--outage N] [--fault-writes N]

(a) Drain throughput: N records (default 2,000) written to SQLite, then `sync` drains them; records
    per second, batches of 100 (after a warm-up drain of 300 records, not counted).
(b) Catching up after an outage: Convex refuses connections while 10,000 records are written, then
    comes back; the time the drain takes to send them all.
(c) The fault run: two runner processes (each its own SQLite and runner id) write 1,000 records in
    all (metrics, run updates that bump versions, routing decisions with feedback) with the
    background drain on, while the server is stopped, hung, answers 500 after committing, and is
    restarted, several times. Then a final sync, and Convex is compared with SQLite record by
    record: lost, duplicated, wrong version or content (target: 0, 0, 0). "No run waited on Convex"
    is measured side by side: each writer's time per write with the faulty Convex, against the same
    writer with no Convex at all.
"""

from __future__ import annotations

import argparse
import json
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

# Run as `python bench/convex.py`, this file's folder comes first on sys.path and its name would
# shadow the `convex` package; drop that entry before anything imports it.
if sys.path and Path(sys.path[0] or ".").resolve() == Path(__file__).resolve().parent:
    sys.path.pop(0)
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))  # the stand-ins live with the tests

from standins.convex_local import LocalConvex  # noqa: E402

from gitorch.config import ConvexConfig  # noqa: E402
from gitorch.model import Metric, Usage  # noqa: E402
from gitorch.store.convex import ConvexHttp, ConvexMirror, ConvexUnavailable  # noqa: E402
from gitorch.store.sqlite import SqliteStore  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]


def write_metrics(store: SqliteStore, n: int) -> None:
    for i in range(n):
        store.record_metric(Metric(agent="claude", model="claude-sonnet-5-5", usage=Usage(1000 + i, 200, 0, 50),
                                   cost_usd=0.001 * i, baseline_cost_usd=0.002 * i, duration_s=1.0,
                                   task_type="code_generation", run_id=f"run-{i % 50}", step="build"))


def drain_rate(convex: LocalConvex, folder: Path, n: int) -> tuple[float, float]:
    warm = SqliteStore(folder / "warm-up.db")  # Node compiles the functions on first use; not counted
    write_metrics(warm, 300)
    ConvexMirror(warm, ConvexConfig(url=convex.url, timeout_s=30), convex.admin_key).sync()
    store = SqliteStore(folder / "rate.db")
    write_metrics(store, n)
    mirror = ConvexMirror(store, ConvexConfig(url=convex.url, timeout_s=30), convex.admin_key)
    result = mirror.sync()
    assert result.sent == n and store.outbox_count() == 0, result
    return n / result.seconds, result.seconds


def outage_catch_up(convex: LocalConvex, folder: Path, n: int) -> tuple[float, int]:
    store = SqliteStore(folder / "outage.db")
    mirror = ConvexMirror(store, ConvexConfig(url=convex.url, timeout_s=30), convex.admin_key)
    convex.set_mode("refuse")
    write_metrics(store, n)
    try:
        mirror.drain()
    except ConvexUnavailable:
        pass
    convex.set_mode("normal")
    pending = store.outbox_count()
    started = time.perf_counter()
    result = mirror.sync()
    assert result.sent == n, result
    return time.perf_counter() - started, pending


WRITER = textwrap.dedent("""
    import json, sys, time
    from gitorch.config import ConvexConfig
    from gitorch.model import Metric, RoutingDecision, Run, Usage, WorkflowStep
    from gitorch.store.convex import ConvexMirror
    from gitorch.store.sqlite import SqliteStore

    db, url, key, n, mirror_on = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4]), sys.argv[5] == "1"
    store = SqliteStore(db)
    mirror = None
    if mirror_on:
        mirror = ConvexMirror(store, ConvexConfig(url=url, timeout_s=1.0, batch_size=50, interval_s=0.05), key)
        mirror.start()
    runs = {}
    times = []
    for i in range(n):
        started = time.perf_counter()
        kind = i % 4
        if kind in (0, 1):
            store.record_metric(Metric(agent="chatgpt-pro", model="chatgpt", usage=Usage(i, 10), cost_usd=0.0,
                                       baseline_cost_usd=0.001 * i, run_id=f"run-{i % 7}"))
        elif kind == 2:
            run = runs.setdefault(i % 7, Run(id=f"{store.runner}-run-{i % 7}", text="bench", repo="acme/app"))
            run.rounds += 1
            run.status = "building" if run.rounds % 2 else "reviewing"
            store.save_run(run)
        else:
            ident = f"{store.runner}-dec-{i}"
            store.record_decision(RoutingDecision(
                id=ident, text=f"task {i}", task_type="debugging", task_types={"debugging": 1.0}, agent="claude",
                confidence=0.7, scores={"claude": 70.0, "codex": 50.0}, reasoning="r",
                workflow=[WorkflowStep("claude", "plan", 0.7)], estimated_cost_usd=0.1, estimated_saving_usd=0.0))
            store.record_feedback(ident, outcome="success")
        if mirror is not None:
            mirror.kick()
        times.append(time.perf_counter() - started)
        time.sleep(0.015)  # a run writes now and then; the faults below fall between the writes
    stopped = time.perf_counter()
    ended = mirror.stop(timeout_s=0.2) if mirror is not None else True
    stop_s = time.perf_counter() - stopped
    print(json.dumps({"runner": store.runner, "times": times, "stop_s": stop_s, "thread_ended": ended}))
""")


def start_writers(convex: LocalConvex, dbs: list[Path], per_writer: int, mirror_on: bool) -> list[subprocess.Popen]:
    return [subprocess.Popen([sys.executable, "-c", WRITER, str(db), convex.url, convex.admin_key, str(per_writer),
                              "1" if mirror_on else "0"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                             cwd=ROOT) for db in dbs]


def finish(procs: list[subprocess.Popen]) -> list[dict]:
    out = []
    for proc in procs:
        stdout, stderr = proc.communicate(timeout=600)
        if proc.returncode != 0:
            raise SystemExit(f"writer failed:\n{stderr}")
        out.append(json.loads(stdout.strip().splitlines()[-1]))
    return out


def convex_docs(convex: LocalConvex, table: str) -> list[dict]:
    client = ConvexHttp(convex.url, convex.admin_key, timeout_s=60)
    docs, cursor = [], None
    while True:
        page = client.query("mirror:dump", {"table": table, "paginationOpts": {"numItems": 1000, "cursor": cursor}})
        docs += page["page"]
        if page["isDone"]:
            return docs
        cursor = page["continueCursor"]


def as_floats(value):
    """JSON as Convex gives it back: every number a float."""
    if isinstance(value, bool) or value is None or isinstance(value, str):
        return value
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, list):
        return [as_floats(v) for v in value]
    return {k: as_floats(v) for k, v in value.items()}


def compare(convex: LocalConvex, dbs: list[Path]) -> dict[str, int]:
    """Every record's newest version in SQLite against Convex."""
    expected: dict[tuple[str, str, str], tuple[int, dict]] = {}
    for db in dbs:
        with sqlite3.connect(db) as conn:
            for tbl, key, version, runner, payload in conn.execute(
                    "SELECT tbl, key, version, runner, payload FROM outbox ORDER BY id"):
                previous = expected.get((tbl, runner, key))
                if previous is None or previous[0] < version:
                    expected[(tbl, runner, key)] = (version, json.loads(payload))
    counts = {"sqlite_records": len(expected), "convex_records": 0, "lost": 0, "duplicated": 0,
              "wrong_version": 0, "wrong_content": 0}
    seen: dict[tuple[str, str, str], dict] = {}
    for table in sorted({t for t, _, _ in expected}):
        for doc in convex_docs(convex, table):
            ident = (table, doc["runner"], doc["key"])
            counts["convex_records"] += 1
            if ident in seen:
                counts["duplicated"] += 1
            seen[ident] = doc
    for ident, (version, payload) in expected.items():
        doc = seen.get(ident)
        if doc is None:
            counts["lost"] += 1
        elif doc["version"] != version:
            counts["wrong_version"] += 1
        elif doc.get("data") != as_floats(payload):
            counts["wrong_content"] += 1
    return counts


def fault_run(folder: Path, writes: int) -> tuple[dict[str, int], list[str], dict[str, float]]:
    per_writer = writes // 2
    faults: list[str] = []
    with LocalConvex(data_path=folder / "fault-convex.json") as convex:
        baseline = finish(start_writers(convex, [folder / "base-a.db", folder / "base-b.db"], per_writer, False))
        dbs = [folder / "fault-a.db", folder / "fault-b.db"]
        procs = start_writers(convex, dbs, per_writer, True)
        schedule = [("stop", 0.5), ("start", 0.0), ("hang", 0.6), ("normal", 0.0), ("error-after-commit", 0.4),
                    ("normal", 0.0), ("restart", 0.0), ("refuse", 0.5), ("normal", 0.0), ("stop", 0.4),
                    ("start", 0.0), ("hang", 0.5), ("normal", 0.0)]
        time.sleep(0.3)
        for step, hold in schedule:
            if all(p.poll() is not None for p in procs):
                faults.append("(writers done)")
                break
            if step == "stop":
                convex.stop()
            elif step == "start":
                convex.start()
            elif step == "restart":
                convex.restart()
            elif step == "error-after-commit":
                convex.set_mode("error", after_commit=True)
            else:
                convex.set_mode(step)
            faults.append(step)
            time.sleep(hold + 0.15)
        writers = finish(procs)
        if not convex.running:
            convex.start()
        convex.set_mode("normal")
        for db in dbs:  # what the runs left pending, sent by a later `gitorch sync`
            store = SqliteStore(db)
            ConvexMirror(store, ConvexConfig(url=convex.url, timeout_s=30), convex.admin_key).sync()
            assert store.outbox_count() == 0
        counts = compare(convex, dbs)

    def per_write(results: list[dict]) -> list[float]:
        return [t for r in results for t in r["times"]]

    faulty, plain = per_write(writers), per_write(baseline)
    timing = {
        "write_median_ms_mirror": statistics.median(faulty) * 1000,
        "write_median_ms_no_convex": statistics.median(plain) * 1000,
        "write_max_ms_mirror": max(faulty) * 1000,
        "write_max_ms_no_convex": max(plain) * 1000,
        "stop_max_s": max(r["stop_s"] for r in writers),
    }
    return counts, faults, timing


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--records", type=int, default=2000)
    parser.add_argument("--outage", type=int, default=10_000)
    parser.add_argument("--fault-writes", type=int, default=1000)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="gitorch-bench-convex-") as tmp:
        folder = Path(tmp)
        with LocalConvex() as convex:
            rate, seconds = drain_rate(convex, folder, args.records)
            print(f"(a) drain: {args.records} records in {seconds:.2f}s = {rate:,.0f} records/s (batches of 100)")
            took, pending = outage_catch_up(convex, folder, args.outage)
            print(f"(b) after an outage: {pending:,} pending records drained in {took:.2f}s "
                  f"({pending / took:,.0f} records/s)")
        counts, faults, timing = fault_run(folder, args.fault_writes)
        print(f"(c) fault run: {args.fault_writes} writes from 2 runner processes, faults: {', '.join(faults)}")
        print(f"    records: SQLite {counts['sqlite_records']}, Convex {counts['convex_records']}; "
              f"lost {counts['lost']}, duplicated {counts['duplicated']}, wrong version {counts['wrong_version']}, "
              f"wrong content {counts['wrong_content']}")
        print(f"    time per write, median: {timing['write_median_ms_mirror']:.2f} ms with the faulty Convex mirror "
              f"vs {timing['write_median_ms_no_convex']:.2f} ms without Convex "
              f"(ratio {timing['write_median_ms_mirror'] / timing['write_median_ms_no_convex']:.2f}); "
              f"slowest write {timing['write_max_ms_mirror']:.1f} ms vs {timing['write_max_ms_no_convex']:.1f} ms")
        print(f"    stopping the background drain at the end of a run took at most {timing['stop_max_s']:.2f}s")
        ok = counts["lost"] == counts["duplicated"] == counts["wrong_version"] == counts["wrong_content"] == 0
        print("    target met: 0 lost, 0 duplicated" if ok else "    TARGET MISSED")


if __name__ == "__main__":
    main()
