"""`gitorch start` and budget alerts, measured on the local stand-ins.

(a) The prompt while runs go on: how long a typed task takes to be routed (the panel), and /status,
    /budget and /stats while two runs are in flight. Target: each under 0.5 s (median).
(b) Two tasks confirmed back to back, each run needing four Claude calls of a fixed latency: wall
    time with one run at a time and with two (the session's queue). Target: two at once at most
    0.7 of one at a time.
(c) What a budget alert adds to the gate that records it first: the webhook answering, refusing
    connections, and hanging past ``budget.webhook_timeout_s`` (0.5 s here). The bound when the
    webhook is down is three attempts plus the backoff between them (about 1.5 s); the run goes on.

    python bench/session.py [--latency 0.3] [--json]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))  # the tests' local stand-ins

from standins.webhook import WebhookReceiver  # noqa: E402

from gitorch import config as config_module  # noqa: E402
from gitorch.commands.session import Session  # noqa: E402
from gitorch.model import Metric, Usage  # noqa: E402
from gitorch.run.ledger import Ledger  # noqa: E402
from gitorch.simulate import demo_scenario  # noqa: E402
from gitorch.simulate.anthropic_api import AnthropicServer  # noqa: E402
from gitorch.simulate.demo import DEMO_KEY, ScriptedArchitect, make_repository  # noqa: E402
from gitorch.store import open_store  # noqa: E402

PLAN = {"summary": "An email template.", "tasks": [demo_scenario.PLAN["tasks"][0]]}
TEXTS = ["Add an email template for shipped orders", "Fix the crash when an order has no items",
         "Refactor the orders module into smaller functions", "Review the shipping code for missed cases",
         "Add a CSV export of shipped orders", "Plan how to add refunds"]


class Ended:
    def __init__(self):
        self.done: set[str] = set()
        self.changed = threading.Condition()

    def step(self, run, key, status, detail):
        pass

    def ended(self, run):
        with self.changed:
            self.done.add(run.id)
            self.changed.notify_all()

    def wait(self, ids, timeout=120):
        with self.changed:
            self.changed.wait_for(lambda: set(ids) <= self.done, timeout)


def ms(seconds: float) -> float:
    return round(seconds * 1000, 1)


def prompt_and_queue(latency: float) -> dict:
    root = Path(tempfile.mkdtemp(prefix="gitorch-bench-session-"))
    repo = make_repository(root)
    out: dict = {}
    with AnthropicServer(scenario=ScriptedArchitect(plan=PLAN, latency_s=latency)) as api:
        env = {"ANTHROPIC_API_KEY": DEMO_KEY, "ANTHROPIC_BASE_URL": api.base_url, "GITORCH_HOME": str(root / "s")}
        cfg = config_module.load(cwd=repo, env=env)
        events = Ended()
        session = Session(cfg, open_store(cfg), repo, events)
        session.suggest(TEXTS[0])  # the router's model is loaded once per process
        routed = []
        for text in TEXTS * 3:
            started = time.perf_counter()
            session.suggest(text)
            routed.append(time.perf_counter() - started)
        out["route_ms_median"] = ms(statistics.median(routed))
        warm = session.proceed(session.suggest(TEXTS[0], agent="claude"))  # assembles the pipeline once
        events.wait([warm.id])
        runs = [session.proceed(session.suggest(t, agent="claude")) for t in TEXTS[:2]]
        time.sleep(latency)  # both are inside a step now
        for name, call in (("status", session.status), ("budget", lambda: session.ask("budget")),
                           ("stats", lambda: session.ask("stats"))):
            took = []
            for _ in range(5):
                started = time.perf_counter()
                call()
                took.append(time.perf_counter() - started)
            out[f"{name}_ms_median_while_two_run"] = ms(statistics.median(took))
        events.wait([r.id for r in runs])
        session.close()
        for at_once in (1, 2):
            events = Ended()
            session = Session(cfg, open_store(cfg), repo, events, at_once=at_once)
            warm = session.proceed(session.suggest(TEXTS[0], agent="claude"))
            events.wait([warm.id])
            started = time.perf_counter()
            runs = [session.proceed(session.suggest(t, agent="claude")) for t in TEXTS[2:4]]
            events.wait([r.id for r in runs])
            out[f"two_runs_s_at_once_{at_once}"] = round(time.perf_counter() - started, 2)
            session.close()
        out["two_at_once_ratio"] = round(out["two_runs_s_at_once_2"] / out["two_runs_s_at_once_1"], 2)
        out["claude_latency_s"] = latency
    return out


def alert_cost() -> dict:
    out: dict = {}
    root = Path(tempfile.mkdtemp(prefix="gitorch-bench-alerts-"))
    with WebhookReceiver() as hook:
        cases = {"webhook_answers": hook.url, "webhook_refuses": None, "webhook_hangs": hook.url}
        for name, url in cases.items():
            env = {"MONTHLY_BUDGET_USD": "1", "GITORCH_HOME": str(root / name)}
            if url is not None:
                env["BUDGET_WEBHOOK_URL"] = url
            else:
                env["BUDGET_WEBHOOK_URL"] = "http://127.0.0.1:9/services/closed"  # nothing listens there
            cfg = config_module.load(cwd=root, env=env)
            cfg.budget.webhook_timeout_s = 0.5
            hook.delay_s = 2.0 if name == "webhook_hangs" else 0.0
            with open_store(cfg) as store:
                store.record_metric(Metric("claude", "claude-sonnet-5-5", Usage(1, 1), 0.8, 0.8))
                ledger = Ledger(store, cfg)
                started = time.perf_counter()
                ledger.release(ledger.reserve("claude-sonnet-5-5", input_tokens=2000, output_tokens=500))  # the alert
                first = time.perf_counter() - started
                started = time.perf_counter()
                ledger.release(ledger.reserve("claude-sonnet-5-5", input_tokens=2000, output_tokens=500))  # said
                again = time.perf_counter() - started
            out[f"{name}_first_gate_ms"] = ms(first)
            out[f"{name}_later_gate_ms"] = ms(again)
        out["posts_received"] = len(hook.posts)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--latency", type=float, default=0.3, help="seconds each Claude call takes")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    figures = {**prompt_and_queue(args.latency), **alert_cost()}
    if args.json:
        print(json.dumps(figures, indent=2))
        return
    width = max(map(len, figures))
    for name, value in figures.items():
        print(f"{name:<{width}}  {value}")


if __name__ == "__main__":
    main()
