"""Dashboard benchmark: how fast a change in the store reaches an open page, and what it costs.

Run: python bench/dashboard.py [--writes N] [--months M]

(a) Live latency: the dashboard runs over a generated month of runs (the tests' generator) with a
    page open in headless Chromium; another process writes N journal steps (default 20) one after
    the other; for each, the time from its commit to the step being on the page (target: < 1 s).
(b) The watch against the work it saves: one ``PRAGMA data_version`` check (what the server does
    every 0.2 s) side by side with one full recomputation of the figures and panels (what it does
    only when the check says the store changed).
(c) The same figures over M months of history in the same file (default 3), since the store keeps
    everything and the period is 30 days.
(d) A big store: --runs runs (default 20,000) over the last --days days (default 30, so every run
    falls in the page's period), about ten metrics per run (200,000). Time to the first page (a new
    server: open the store, compute, serve ``/``; target < 1 s) and time for an update on the open
    page (the recomputation after one new write; target < 0.2 s), with the write-to-event latency
    seen by a client of ``/events``.

Pick the parts with --parts (default: abcd).
"""

from __future__ import annotations

import argparse
import json
import os
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
from datetime import timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

from test_dashboard import CHROMIUM, Clock, MonthWriter, fill_month  # noqa: E402

from gitorch import config as config_module  # noqa: E402
from gitorch.dashboard import data, render  # noqa: E402
from gitorch.dashboard.app import DashboardServer  # noqa: E402
from gitorch.dashboard.sources import LocalSource  # noqa: E402
from gitorch.model import Usage, utcnow  # noqa: E402
from gitorch.store import sqlite as sqlite_module  # noqa: E402
from gitorch.store.sqlite import SqliteStore  # noqa: E402

WRITER = textwrap.dedent("""
    import sys, time
    from gitorch.store.sqlite import SqliteStore
    store = SqliteStore(sys.argv[1])
    run_id = sys.argv[2]
    for line in sys.stdin:
        key = line.strip()
        store.journal_begin(run_id, key, {"detail": "bench"})
        print(time.time(), flush=True)
    store.close()
""")


def timed(fn, repeat: int) -> float:
    """Median seconds of ``repeat`` calls."""
    out = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        out.append(time.perf_counter() - start)
    return statistics.median(out)


def latency(config, active_id: str, writes: int) -> list[float]:
    from playwright.sync_api import sync_playwright

    server = DashboardServer(LocalSource(config), port=0).start()
    proc = subprocess.Popen([sys.executable, "-c", WRITER, str(config.db_path), active_id], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, text=True)
    delays = []
    try:
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=[
                "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                "--disable-sync"])
            page = browser.new_page(viewport={"width": 1440, "height": 1000})
            page.goto(server.url)
            page.wait_for_selector("#live[data-state=live]")
            for i in range(writes):
                key = f"verify:r{i + 1}"
                proc.stdin.write(key + "\n")
                proc.stdin.flush()
                written = float(proc.stdout.readline())
                page.wait_for_selector(f'[data-step="{key}"]', timeout=10000)
                delays.append(time.time() - written)
                time.sleep(0.1)
            browser.close()
    finally:
        proc.stdin.close()
        proc.wait(10)
        server.stop()
    return delays


# -- (d) a big store ----------------------------------------------------------------------------------

TEMPLATE_RUNS = 250  # runs written through the store; the rest are copies of them, shifted back in time


class TurnWriter(MonthWriter):
    """The tests' month writer, with each agent call recorded as the two API turns it took (a tool
    turn, then the answer), as an agentic call does: about ten metrics per run instead of five."""

    def metric(self, run, agent, model, usage, seconds, step, task_type, fallback=False) -> None:
        first = Usage(usage.input_tokens // 2, usage.output_tokens // 3, usage.cache_creation_input_tokens,
                      usage.cache_read_input_tokens // 2, usage.estimated)
        rest = Usage(usage.input_tokens - first.input_tokens, usage.output_tokens - first.output_tokens, 0,
                     usage.cache_read_input_tokens - first.cache_read_input_tokens, usage.estimated)
        self.clock.advance(-seconds / 2)
        super().metric(run, agent, model, first, seconds / 2, step, task_type, fallback)
        self.clock.advance(seconds / 2)
        super().metric(run, agent, model, rest, seconds / 2, step, task_type, fallback)


def _at(column: str) -> str:
    """SQL for an ISO timestamp column moved by the ``:shift`` modifier (microseconds kept)."""
    return f"strftime('%Y-%m-%dT%H:%M:%S', substr({column}, 1, 19), :shift) || substr({column}, 20)"


# Per table, the columns a copy rewrites (the others are copied as they are) and the rows copied.
COPIED = {
    "runs": ({"id": "id || :suffix", "created_at": _at("created_at"), "updated_at": _at("updated_at"),
              "resume_after": _at("resume_after"), "branch": "branch || :suffix",
              "pr_number": "pr_number + :pr_offset", "issue_number": "issue_number + :pr_offset"}, "id != :active"),
    "metrics": ({"id": "NULL", "run_id": "run_id || :suffix", "created_at": _at("created_at")},
                "run_id != :active"),
    "journal": ({"id": "NULL", "run_id": "run_id || :suffix", "started_at": _at("started_at"),
                 "finished_at": _at("finished_at")}, "run_id != :active"),
    "artifacts": ({"id": "id || :suffix", "run_id": "run_id || :suffix", "created_at": _at("created_at"),
                   "updated_at": _at("updated_at")}, "run_id != :active"),
    "reviews": ({"id": "NULL", "run_id": "run_id || :suffix", "created_at": _at("created_at")},
                "run_id != :active"),
    "routing_decisions": ({"id": "id || :suffix", "run_id": "run_id || :suffix", "created_at": _at("created_at"),
                           "feedback_at": _at("feedback_at")}, "run_id != :active"),
}


def fill_big(path: Path, config, now, runs: int, days: float, seed: int = 21) -> dict:
    """``runs`` runs spread evenly over the last ``days`` days (plus one still building): the first
    ``TEMPLATE_RUNS`` written through the store by the tests' generator, in a window of
    ``days * TEMPLATE_RUNS / runs`` days before now; the rest copies of that window, each moved one
    window further back (new ids, PR and issue numbers). The outbox holds only the template's rows."""
    import random

    rng = random.Random(seed)
    window_s = days * 86400 * TEMPLATE_RUNS / runs
    clock = Clock(now)
    original = sqlite_module.utcnow
    sqlite_module.utcnow = clock
    try:
        with SqliteStore(path) as store:
            writer = TurnWriter(store, config, clock, rng)
            starts = sorted(now - timedelta(seconds=rng.uniform(3600, window_s)) for _ in range(TEMPLATE_RUNS))
            for start in starts:
                writer.run(start, week=rng.randint(0, 4))
            active = writer.run(now - timedelta(minutes=4), week=4, finish=False)
    finally:
        sqlite_module.utcnow = original
    db = sqlite3.connect(path, isolation_level=None)
    try:
        db.execute("BEGIN")
        written = {t: db.execute(f"SELECT MAX(rowid) FROM {t}").fetchone()[0] for t in COPIED}
        for copy in range(1, -(-runs // TEMPLATE_RUNS)):
            args = {"suffix": f"-c{copy}", "shift": f"-{round(copy * window_s)} seconds", "active": active.id,
                    "pr_offset": 1000 * copy}
            for table, (rewritten, where) in COPIED.items():
                columns = [r[1] for r in db.execute(f"PRAGMA table_info({table})")]
                values = ", ".join(rewritten.get(c, c) for c in columns)
                db.execute(f"INSERT INTO {table} ({', '.join(columns)}) SELECT {values} FROM {table} "
                           f"WHERE {where} AND rowid <= :last", {**args, "last": written[table]})
        db.execute("COMMIT")
        counts = {t: db.execute(f"SELECT COUNT(*) FROM {t}").fetchone()[0] for t in ("runs", "metrics", "journal")}
    finally:
        db.close()
    return {"active": active, **counts}


def first_page(config, repeat: int) -> list[float]:
    """Seconds from a new server (store opened, first figures computed) to the page served."""
    import httpx

    out = []
    for _ in range(repeat):
        start = time.perf_counter()
        server = DashboardServer(LocalSource(config), port=0).start()
        try:
            page = httpx.get(server.url, timeout=120)
            page.raise_for_status()
            out.append(time.perf_counter() - start)
        finally:
            server.stop()
    return out


def command_first_page() -> float:
    """Seconds from launching `gitorch dashboard` (a new process, over ``GITORCH_HOME``) to the page
    served."""
    import re

    import httpx

    start = time.perf_counter()
    proc = subprocess.Popen([sys.executable, "-m", "gitorch", "dashboard", "--port", "0"], stderr=subprocess.PIPE,
                            stdout=subprocess.DEVNULL, text=True)
    try:
        line = proc.stderr.readline()
        url = re.search(r"http://127\.0\.0\.1:\d+/", line)
        if url is None:
            raise SystemExit(f"gitorch dashboard did not start: {line}{proc.stderr.read()}")
        httpx.get(url.group(0), timeout=120).raise_for_status()
        return time.perf_counter() - start
    finally:
        proc.terminate()
        proc.wait(30)


def update_latency(config, active_id: str, writes: int) -> tuple[list[float], list[float]]:
    """Per write (a journal step of the active run, from another connection): the time from its
    commit to the ``panels`` event on ``/events``, then the recomputation of the page (figures and
    panels) alone."""
    import httpx

    source = LocalSource(config)
    recompute = []
    writer = SqliteStore(config.db_path)
    server = DashboardServer(LocalSource(config), port=0).start()
    delays = []
    try:
        with httpx.stream("GET", server.url + "events", timeout=120) as events:
            lines = events.iter_lines()

            def next_panels() -> None:
                for line in lines:
                    if line.startswith("event: panels"):
                        return

            next_panels()  # the page as it is
            for i in range(writes):
                writer.journal_begin(active_id, f"verify:r{i + 1}", {"detail": "bench"})
                written = time.perf_counter()
                next_panels()
                delays.append(time.perf_counter() - written)
                start = time.perf_counter()
                render.panels(source.snapshot(), source.info())
                recompute.append(time.perf_counter() - start)
    finally:
        server.stop()
        writer.close()
        source.close()
    return recompute, delays


def big(args) -> None:
    with tempfile.TemporaryDirectory(prefix="gitorch-bench-dashboard-big-") as tmp:
        os.environ["GITORCH_HOME"] = tmp
        config = config_module.load()
        started = time.perf_counter()
        made = fill_big(config.db_path, config, utcnow(), args.runs, args.days)
        print(f"(d) generated {made['runs']:,} runs, {made['metrics']:,} metrics, {made['journal']:,} journal steps "
              f"over {args.days:g} days in {time.perf_counter() - started:.1f}s")
        with SqliteStore(config.db_path) as store:
            figures = data.snapshot(store, config)["stats"]
        print(f"    in the page's period: {figures['decisions']:,} decisions, "
              f"{sum(r['calls'] for r in figures['by_agent'].values()):,} metrics, "
              f"{figures['features_completed']:,} features")
        pages = first_page(config, args.repeat)
        print(f"    first page: median {statistics.median(pages) * 1000:.0f} ms, max {max(pages) * 1000:.0f} ms "
              f"over {len(pages)} starts in this process, the first one importing the server "
              f"(target < 1000 ms); `gitorch dashboard` from launch: {command_first_page() * 1000:.0f} ms")
        recompute, delays = update_latency(config, made["active"].id, args.updates)
        print(f"    update on the open page: recompute median {statistics.median(recompute) * 1000:.0f} ms, "
              f"max {max(recompute) * 1000:.0f} ms (target < 200 ms); write -> panels event median "
              f"{statistics.median(delays) * 1000:.0f} ms, max {max(delays) * 1000:.0f} ms "
              f"(includes the 0.2 s check interval)")
        if args.json:
            print(json.dumps({"first_page_s": pages, "recompute_s": recompute, "event_s": delays}))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--writes", type=int, default=20)
    parser.add_argument("--months", type=int, default=3)
    parser.add_argument("--runs", type=int, default=20_000, help="(d) runs in the big store")
    parser.add_argument("--days", type=float, default=30, help="(d) days the big store's runs spread over")
    parser.add_argument("--repeat", type=int, default=3, help="(d) server starts timed")
    parser.add_argument("--updates", type=int, default=5, help="(d) writes on the open page")
    parser.add_argument("--parts", default="abcd", help="which measurements to run (default: abcd)")
    parser.add_argument("--json", action="store_true", help="(d) also print the raw timings as JSON")
    args = parser.parse_args()
    if "d" in args.parts:
        big(args)
    if not set(args.parts) & set("abc"):
        return

    with tempfile.TemporaryDirectory(prefix="gitorch-bench-dashboard-") as tmp:
        os.environ["GITORCH_HOME"] = tmp
        config = config_module.load()
        now = utcnow()
        started = time.perf_counter()
        made = fill_month(config.db_path, config, now, seed=5)
        print(f"generated {len(made['runs'])} runs in {time.perf_counter() - started:.1f}s")

        delays = latency(config, made["active"].id, args.writes)
        print(f"(a) write in another process -> on the open page, {len(delays)} writes: "
              f"median {statistics.median(delays) * 1000:.0f} ms, max {max(delays) * 1000:.0f} ms (target < 1000 ms)")

        source = LocalSource(config)
        check = timed(source.data_version, 2000)
        full = timed(lambda: render.panels(data.snapshot(source.store, config), source.info()), 20)
        print(f"(b) data_version check {check * 1e6:.1f} us; recompute figures and panels {full * 1000:.1f} ms; "
              f"ratio {full / check:,.0f}x (checked every 0.2 s: {check / 0.2 * 100:.4f}% of a core)")
        source.close()

        for month in range(1, args.months):
            older = now - timedelta(days=30 * month)
            fill_month(config.db_path, config, older, seed=100 + month, active=False)
        with SqliteStore(config.db_path) as store:
            count = len(store.list_runs(limit=100_000))
            full_m = timed(lambda: render.panels(data.snapshot(store, config), {"mode": "local", "notices": []}), 10)
        print(f"(c) {args.months} months in the store ({count} runs): recompute {full_m * 1000:.1f} ms "
              f"(vs {full * 1000:.1f} ms with one month; ratio {full_m / full:.2f}x)")


if __name__ == "__main__":
    main()
