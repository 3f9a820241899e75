"""The whole run, measured on the local stand-ins with a fixed latency per agent call.

(a) Orchestration overhead: the run's wall time minus the agents' scripted latency on the critical
    path (parallelism 1, so every call is on it), and minus the agent calls' measured durations
    (what is left is gitorch's own work: journal, git, store, GitHub double). Target: under 5 % or 2 s.
(b) Speed-up of a plan with 6 independent tasks at parallelism 1, 2 and 4 (browser pages to match).
(c) Cost against the same work done by Claude alone, prompt caching on, from the ledger, with the
    architect's model ladder on and off, side by side in one run, per workload: the demo (with its
    test command), six 150-line modules, a change with an architectural concern (refunds: a
    migration and a payments module), and a small change with a subtle fault and no listed concern.
    For each: the saving, the share of Claude's calls per model, and whether every rejection the
    stand-in's reviewer is scripted to make (unfinished work on every model; subtle faults only on
    Sonnet and up, Haiku being unsure) was still made in the first round. Target on the demo: at
    least 60 % cheaper than Claude alone, with every scripted rejection caught.

    python bench/pipeline.py [--latency 0.5] [--json]
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from gitorch import config as config_module  # noqa: E402
from gitorch.run.assemble import assemble  # noqa: E402
from gitorch.run.state import RunRequest  # noqa: E402
from gitorch.simulate import demo_scenario  # noqa: E402
from gitorch.simulate.anthropic_api import DemoScenario  # noqa: E402
from gitorch.simulate.demo import ScriptedArchitect, StandIns, make_repository  # noqa: E402

ISSUE = f"{demo_scenario.ISSUE_TITLE}\n\n{demo_scenario.ISSUE_BODY}"


def module(i: int, lines: int) -> str:
    body = [f'"""Module {i}: helpers for report section {i}."""', ""]
    for n in range(lines // 5):
        body += [f"def section_{i}_{n}(rows, limit={n + 1}):",
                 f'    """Rows of section {i} over {n + 1}, at most ``limit`` of them."""',
                 f"    picked = [r for r in rows if r.get('value', 0) > {n}]",
                 "    return picked[:limit]", ""]
    return "\n".join(body) + "\n"


def independent_plan(n: int, lines: int) -> dict:
    return {"summary": f"{n} independent report modules.", "tasks": [
        {"id": f"m{i}", "description": f"Write reports/m{i}.py with the section {i} helpers.",
         "files": [f"reports/m{i}.py"], "assigned_to": "chatgpt-pro", "depends_on": [],
         "estimated_lines": lines, "task_type": "code_generation"} for i in range(n)]}


def module_answer(lines: int):
    def answer(prompt: str) -> str:
        task = prompt.split("## Task", 1)[-1].split("\n## ", 1)[0]
        for i in range(16):
            if f"reports/m{i}.py" in task:
                return f"reports/m{i}.py\n```python\n{module(i, lines)}```\n"
        return demo_scenario.builder_answer(prompt)
    return answer


# -- a workload with an architectural concern: refunds (a migration and a payments module) -------------

REFUND_ISSUE = ("Refund card payments\n\nSupport staff need to refund part or all of an order's card payment. "
                "Record each refund in a new table and add tests.")
REFUND_PLAN = {"summary": "A refunds table, a refund() that records one, and tests.", "tasks": [
    {"id": "t1", "description": "Write migrations/002_refunds.sql creating the refunds table.",
     "files": ["migrations/002_refunds.sql"], "assigned_to": "chatgpt-pro", "depends_on": [],
     "estimated_lines": 8, "task_type": "code_generation"},
    {"id": "t2", "description": "Write shop/payments/refunds.py: refund(db, order_id, amount_cents) records a "
     "refund and returns its id; amounts must be positive.", "files": ["shop/payments/refunds.py"],
     "assigned_to": "chatgpt-pro", "depends_on": ["t1"], "estimated_lines": 20, "task_type": "code_generation"},
    {"id": "t3", "description": "Write tests/test_refunds.py: a refund is recorded, a zero refund is refused.",
     "files": ["tests/test_refunds.py"], "assigned_to": "chatgpt-pro", "depends_on": ["t2"],
     "estimated_lines": 25, "task_type": "code_generation"}]}
_REFUND_SQL = """CREATE TABLE refunds (
    id INTEGER PRIMARY KEY,
    order_id INTEGER NOT NULL REFERENCES orders(id),
    amount_cents INTEGER NOT NULL CHECK (amount_cents > 0),
    created_at TEXT NOT NULL DEFAULT (datetime('now'))
);
"""
_REFUNDS_UNSAFE = '''import sqlite3


def refund(db: sqlite3.Connection, order_id: int, amount_cents: int) -> int:
    """Record a refund of ``amount_cents`` for ``order_id``; returns its id."""
    if amount_cents <= 0:
        raise ValueError("a refund must be positive")
    cursor = db.execute(f"INSERT INTO refunds (order_id, amount_cents) VALUES ({order_id}, {amount_cents})")
    return cursor.lastrowid
'''
_REFUNDS_FIXED = _REFUNDS_UNSAFE.replace(
    'db.execute(f"INSERT INTO refunds (order_id, amount_cents) VALUES ({order_id}, {amount_cents})")',
    'db.execute("INSERT INTO refunds (order_id, amount_cents) VALUES (?, ?)", (order_id, amount_cents))')
_REFUND_TESTS = '''import sqlite3
from pathlib import Path

import pytest

from shop.payments.refunds import refund

SCHEMA = (Path(__file__).resolve().parents[1] / "migrations" / "002_refunds.sql").read_text()


def database():
    db = sqlite3.connect(":memory:")
    db.executescript(SCHEMA)
    return db


def test_a_refund_is_recorded():
    db = database()
    refund_id = refund(db, 42, 1250)
    assert db.execute("SELECT order_id, amount_cents FROM refunds WHERE id = ?", (refund_id,)).fetchone() == (42, 1250)


def test_a_zero_refund_is_refused():
    with pytest.raises(ValueError):
        refund(database(), 42, 0)
'''

# -- a small change with a subtle fault and no listed concern -------------------------------------------

FILTERS_ISSUE = "Save report filters\n\nLet people save the filters of a report and load them back later."
FILTERS_PLAN = {"summary": "save() and load() for report filters, and a test.", "tasks": [
    {"id": "t1", "description": "Write shop/reports/filters.py: save(filters) -> bytes and load(blob) -> dict.",
     "files": ["shop/reports/filters.py"], "assigned_to": "chatgpt-pro", "depends_on": [],
     "estimated_lines": 12, "task_type": "code_generation"},
    {"id": "t2", "description": "Write tests/test_filters.py: filters saved come back the same.",
     "files": ["tests/test_filters.py"], "assigned_to": "chatgpt-pro", "depends_on": ["t1"],
     "estimated_lines": 8, "task_type": "code_generation"}]}
_FILTERS_UNSAFE = '''import pickle


def save(filters: dict) -> bytes:
    return pickle.dumps(filters)


def load(blob: bytes) -> dict:
    return pickle.loads(blob)
'''
_FILTERS_FIXED = '''import json


def save(filters: dict) -> bytes:
    return json.dumps(filters).encode()


def load(blob: bytes) -> dict:
    return json.loads(blob)
'''
_FILTERS_TESTS = '''from shop.reports.filters import load, save


def test_filters_come_back_the_same():
    assert load(save({"status": "shipped", "days": 30})) == {"status": "shipped", "days": 30}
'''


def files_answer(answers: dict[str, str], fixes: dict[str, str]):
    """The scripted builder of a workload: the file its task names, the fixed version when asked to fix."""
    def answer(prompt: str) -> str:
        task = prompt.split("## Task", 1)[-1].split("\n## ", 1)[0]
        fixing = any(word in task for word in ("Fix", "Finish"))
        for path in sorted(answers, key=len, reverse=True):
            if path in task:
                content = fixes[path] if fixing and path in fixes else answers[path]
                return f"`{path}`\n```\n{content}```\n"
        return "I could not tell which file this task is about."
    return answer


def scripted_rejections(answers: dict[str, str]) -> list[tuple[str, str]]:
    """The first answers the stand-in's reviewer is scripted to reject: (path, what is wrong)."""
    found = []
    for path, content in answers.items():
        marker = next((m for m in DemoScenario.REJECT_MARKERS if m in content), None)
        if marker is None:
            marker = next((m for m in DemoScenario.SUBTLE_FAULTS if m in content), None)
        if marker is not None:
            found.append((path, marker))
    return found


def run_once(*, latency: float, parallelism: int, plan: dict | None = None, answer=None, ladder: bool = True,
             verify: bool = False, text: str = ISSUE) -> dict:
    """One run in local mode; returns wall time, the agents' calls and the ledger's figures. No verify
    command unless asked (its time is the repository's, not gitorch's)."""
    with tempfile.TemporaryDirectory(prefix="gitorch-bench-") as folder:
        root = Path(folder)
        config_yaml = (f"pipeline:\n  parallelism: {parallelism}\n  max_review_rounds: 2\n"
                       f"browser:\n  pages: {parallelism}\nmodels:\n  ladder:\n    enabled: {str(ladder).lower()}\n")
        if verify:  # the repository's tests, as the demo runs them
            config_yaml += "verify:\n  command: python -m pytest -q -p no:cacheprovider\n  timeout_s: 120\n"
        repo = make_repository(root, config_yaml=config_yaml)
        architect = ScriptedArchitect(plan=plan, latency_s=latency)
        kwargs = {"builder_answer": answer} if answer else {}
        with StandIns(architect=architect, builder_latency_s=latency, **kwargs) as standins:
            cfg = config_module.load(cwd=repo, env=standins.env(root / "state"))
            pipeline, builders = assemble(cfg, repo_path=repo)
            try:
                # Chromium starts before the clock: a runner keeps it running between tasks.
                browser = builders["chatgpt-pro"].browser
                browser.call(browser._ensure_started)
                started = time.perf_counter()
                result = pipeline.start(RunRequest(text=text, confirmed=True))
                wall = time.perf_counter() - started
            finally:
                builders.close()
            metrics = pipeline.store.run_metrics(result.run.id)
            first = result.reviews[0] if result.reviews else None
            return {"wall_s": wall, "calls": len(metrics), "agent_s": sum(m.duration_s for m in metrics),
                    "cost_usd": result.cost_usd, "baseline_usd": result.baseline_cost_usd,
                    "verdict": result.run.verdict, "rounds": result.run.rounds,
                    "claude_tokens": sum(m.usage.total_tokens for m in metrics if m.agent == "claude"),
                    "builder_tokens": sum(m.usage.total_tokens for m in metrics if m.agent != "claude"),
                    "claude_calls": [(m.model, m.step, m.reason) for m in metrics if m.agent == "claude"],
                    "rejected_first": sorted(v.path for v in first.artifacts if not v.approved) if first else []}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--latency", type=float, default=0.5, help="seconds per agent call (default 0.5)")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    out: dict = {}

    # (a) the demo workload, one call at a time
    a = run_once(latency=args.latency, parallelism=1)
    scripted = a["calls"] * args.latency
    out["overhead"] = {"wall_s": round(a["wall_s"], 2), "calls": a["calls"], "scripted_latency_s": scripted,
                       "overhead_vs_scripted_s": round(a["wall_s"] - scripted, 2),
                       "overhead_vs_scripted_pct": round((a["wall_s"] - scripted) / a["wall_s"] * 100, 1),
                       "agent_call_s": round(a["agent_s"], 2),
                       "orchestration_s": round(a["wall_s"] - a["agent_s"], 2),
                       "orchestration_pct": round((a["wall_s"] - a["agent_s"]) / a["wall_s"] * 100, 1)}

    # (b) six independent tasks
    plan, answer = independent_plan(6, 60), module_answer(60)
    speed = {}
    for p in (1, 2, 4):
        r = run_once(latency=max(args.latency, 1.0), parallelism=p, plan=plan, answer=answer)
        speed[p] = r["wall_s"]
    out["parallel"] = {str(p): {"wall_s": round(t, 2), "speedup": round(speed[1] / t, 2)} for p, t in speed.items()}

    # (c) cost against Claude alone, from the ledger, ladder on and off, per workload
    workloads = {
        "demo workload": {"verify": True, "answers": demo_scenario.ANSWERS},
        "six 150-line modules": {"plan": independent_plan(6, 150), "answer": module_answer(150),
                                 "answers": {f"reports/m{i}.py": module(i, 150) for i in range(6)}},
        "architectural concern (refunds)": {
            "plan": REFUND_PLAN, "text": REFUND_ISSUE, "verify": True,
            "answers": {"migrations/002_refunds.sql": _REFUND_SQL, "shop/payments/refunds.py": _REFUNDS_UNSAFE,
                        "tests/test_refunds.py": _REFUND_TESTS},
            "fixes": {"shop/payments/refunds.py": _REFUNDS_FIXED}},
        "subtle fault, no listed concern": {
            "plan": FILTERS_PLAN, "text": FILTERS_ISSUE, "verify": True,
            "answers": {"shop/reports/filters.py": _FILTERS_UNSAFE, "tests/test_filters.py": _FILTERS_TESTS},
            "fixes": {"shop/reports/filters.py": _FILTERS_FIXED}},
    }
    out["cost"] = {}
    for name, w in workloads.items():
        answer = w.get("answer") or (files_answer(w["answers"], w.get("fixes", {})) if "fixes" in w else None)
        expected = scripted_rejections(w["answers"])
        row: dict = {"scripted_rejections": [f"{path} ({marker})" for path, marker in expected]}
        for ladder in (True, False):
            r = run_once(latency=0.0, parallelism=4 if "modules" in name else 2, plan=w.get("plan"), answer=answer,
                         ladder=ladder, verify=w.get("verify", False), text=w.get("text", ISSUE))
            saving = r["baseline_usd"] - r["cost_usd"]
            models: dict[str, int] = {}
            for model, _, _ in r["claude_calls"]:
                models[model] = models.get(model, 0) + 1
            calls = len(r["claude_calls"])
            row["ladder on" if ladder else "ladder off"] = {
                "cost_usd": round(r["cost_usd"], 4), "claude_alone_usd": round(r["baseline_usd"], 4),
                "saving_pct": round(saving / r["baseline_usd"] * 100, 1) if r["baseline_usd"] else None,
                "claude_calls": calls,
                "calls_per_model_pct": {m: round(n / calls * 100, 1) for m, n in sorted(models.items())},
                "calls": [f"{step} {model}: {reason}" for model, step, reason in r["claude_calls"]],
                "caught": f"{sum(p in r['rejected_first'] for p, _ in expected)} of {len(expected)}",
                "verdict": r["verdict"], "rounds": r["rounds"],
                "claude_tokens": r["claude_tokens"], "builder_tokens": r["builder_tokens"]}
        out["cost"][name] = row

    if args.json:
        print(json.dumps(out, indent=2))
        return
    o = out["overhead"]
    print(f"(a) demo workload, parallelism 1, {args.latency:.2f}s per agent call: {o['calls']} calls, "
          f"wall {o['wall_s']:.2f}s")
    print(f"    minus scripted latency {o['scripted_latency_s']:.2f}s: {o['overhead_vs_scripted_s']:.2f}s "
          f"({o['overhead_vs_scripted_pct']:.1f}%; includes the browser agent's own typing and settling)")
    print(f"    minus measured agent calls {o['agent_call_s']:.2f}s: {o['orchestration_s']:.2f}s "
          f"({o['orchestration_pct']:.1f}%) of gitorch's own orchestration (target < 5% or 2 s)")
    print("(b) six independent tasks, 1.0s per call:")
    for p, r in out["parallel"].items():
        print(f"    parallelism {p}: {r['wall_s']:.2f}s, speed-up x{r['speedup']:.2f}")
    print("(c) cost against Claude alone (prompt caching on), from the ledger, the architect's ladder on and off:")
    for name, row in out["cost"].items():
        print(f"    {name}; scripted rejections: {', '.join(row['scripted_rejections']) or 'none'}")
        for key in ("ladder on", "ladder off"):
            c = row[key]
            share = ", ".join(f"{m} {p:g}%" for m, p in c["calls_per_model_pct"].items())
            print(f"      {key:10}: ${c['cost_usd']:.4f} vs ${c['claude_alone_usd']:.4f}: {c['saving_pct']}% saved; "
                  f"{c['claude_calls']} Claude calls ({share}); rejections caught {c['caught']}; "
                  f"{c['verdict']} after {c['rounds']} round(s)")
            for call in c["calls"]:
                print(f"                  {call}")


if __name__ == "__main__":
    main()
