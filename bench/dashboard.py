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
"""

from __future__ import annotations

import argparse
import os
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

from test_dashboard import CHROMIUM, fill_month  # noqa: E402

from gitorch import config as config_module  # noqa: E402
from gitorch.dashboard import data, render  # noqa: E402
from gitorch.dashboard.app import DashboardServer  # noqa: E402
from gitorch.dashboard.sources import LocalSource  # noqa: E402
from gitorch.model import utcnow  # noqa: E402
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--writes", type=int, default=20)
    parser.add_argument("--months", type=int, default=3)
    args = parser.parse_args()

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
