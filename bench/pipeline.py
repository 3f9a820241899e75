"""The whole run, measured on the local stand-ins with a fixed latency per agent call.

(a) Orchestration overhead: the run's wall time minus the agents' scripted latency on the critical
    path (parallelism 1, so every call is on it), and minus the agent calls' measured durations
    (what is left is gitorch's own work: journal, git, store, GitHub double). Target: under 5 % or 2 s.
(b) Speed-up of a plan with 6 independent tasks at parallelism 1, 2 and 4 (browser pages to match).
(c) Cost of the demo workload against the same workload done by Claude alone, prompt caching on, from
    the ledger; and the same for a larger workload (six 150-line modules), to show how the saving
    grows with the share of code the builder writes. Target on the demo: at least 60 %.

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


def run_once(*, latency: float, parallelism: int, plan: dict | None = None, answer=None) -> dict:
    """One run in local mode (no verify command: its time is the repository's, not gitorch's);
    returns wall time, the agents' calls and the ledger's figures."""
    with tempfile.TemporaryDirectory(prefix="gitorch-bench-") as folder:
        root = Path(folder)
        config_yaml = (f"pipeline:\n  parallelism: {parallelism}\n  max_review_rounds: 2\n"
                       f"browser:\n  pages: {parallelism}\n")
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
                result = pipeline.start(RunRequest(text=ISSUE, confirmed=True))
                wall = time.perf_counter() - started
            finally:
                builders.close()
            metrics = pipeline.store.run_metrics(result.run.id)
            return {"wall_s": wall, "calls": len(metrics), "agent_s": sum(m.duration_s for m in metrics),
                    "cost_usd": result.cost_usd, "baseline_usd": result.baseline_cost_usd,
                    "verdict": result.run.verdict, "rounds": result.run.rounds,
                    "claude_tokens": sum(m.usage.total_tokens for m in metrics if m.agent == "claude"),
                    "builder_tokens": sum(m.usage.total_tokens for m in metrics if m.agent != "claude")}


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

    # (c) cost against Claude alone, from the ledger (the demo run above, and a larger workload)
    big = run_once(latency=0.0, parallelism=4, plan=independent_plan(6, 150), answer=module_answer(150))
    out["cost"] = {}
    for name, r in (("demo workload", a), ("six 150-line modules", big)):
        saving = r["baseline_usd"] - r["cost_usd"]
        out["cost"][name] = {"cost_usd": round(r["cost_usd"], 4), "claude_alone_usd": round(r["baseline_usd"], 4),
                             "saving_pct": round(saving / r["baseline_usd"] * 100, 1) if r["baseline_usd"] else None,
                             "claude_tokens": r["claude_tokens"], "builder_tokens": r["builder_tokens"]}

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
    print("(c) cost against Claude alone (prompt caching on), from the ledger:")
    for name, c in out["cost"].items():
        print(f"    {name}: ${c['cost_usd']:.4f} vs ${c['claude_alone_usd']:.4f}: {c['saving_pct']}% saved "
              f"(Claude {c['claude_tokens']:,} tokens, builder {c['builder_tokens']:,})")


if __name__ == "__main__":
    main()
