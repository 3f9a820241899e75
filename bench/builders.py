"""Builders side by side: the demo workload built once by each builder, on the local stand-ins.

Run: python bench/builders.py [--latency S]

The workload is `gitorch demo`'s: the five tasks of simulate/demo_scenario.py's plan, built in order,
each given the files its dependencies produced.

- chatgpt-pro: the real BrowserBuilder (Playwright, Chromium) on the ChatGPT-like page, which answers
  after ``latency`` seconds (a third to the first token, the rest streamed).
- codex: the real `codex` binary (node_modules/.bin/codex) on the Responses stand-in, which waits
  ``latency`` seconds before each of its answers; Codex asks once per tool call, so a task costs two
  answers (write the file, say done) or three with the MCP handoff (read the plan first), the MCP
  server either one for the run over HTTP (``codex.mcp_transport: http``, the default) or
  ``gitorch mcp`` started by Codex for each task (``stdio``).

Figures per builder: time per task, and overhead per task = time - the stand-in's scripted latency for
that task (target under 1.5 s for both); the share of tasks whose files pass review by the demo's rule
(the ScriptedArchitect rejects unfinished markers: TODO, NotImplementedError...); prompt tokens per
task (gitorch's prompt, counted with the stand-ins' tokenizer) and, for Codex, the input tokens it
sent in all (its own system prompt and tools included), with and without the MCP handoff.
Chromium's start-up and Codex's first run are warm-ups, reported apart.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from gitorch.agents.browser import BrowserBuilder
from gitorch.agents.browser import build_prompt as browser_prompt
from gitorch.agents.codex import CodexBuilder
from gitorch.config import Config
from gitorch.model import CHATGPT, CODEX, Artifact, BuildContext, Plan, Run, Task
from gitorch.simulate import demo_scenario
from gitorch.simulate import openai_responses as oa
from gitorch.simulate.anthropic_api import DemoScenario as ArchitectScenario
from gitorch.simulate.anthropic_api import count_tokens
from gitorch.simulate.chatgpt_page import Answer, ChatGPTPage
from gitorch.simulate.demo import make_repository
from gitorch.store.sqlite import SqliteStore

CODEX_BIN = Path(__file__).resolve().parents[1] / "node_modules" / ".bin" / "codex"
RUN_ID = "run-bench"


def demo_plan(agent: str) -> Plan:
    tasks = [Task(**{**t, "assigned_to": agent}) for t in demo_scenario.PLAN["tasks"]]
    return Plan(summary=demo_scenario.PLAN["summary"], tasks=tasks, run_id=RUN_ID)


def passes_review(content: str | None) -> bool:
    """The demo architect's rule: a file with an unfinished marker is rejected."""
    return content is not None and not any(m in content for m in ArchitectScenario.REJECT_MARKERS)


def build_all(builder, plan: Plan, repo: Path, store: SqliteStore | None = None) -> list[dict]:
    """Each task in plan order, given the files its dependencies produced; one row per task."""
    produced: dict[str, str] = {}
    by_id = {t.id: t for t in plan.tasks}
    rows = []
    for task in plan.tasks:
        files = {p: produced[p] for dep in task.depends_on for p in by_id[dep].files if p in produced}
        context = BuildContext(plan=plan, files=files, run_id=RUN_ID, repo_root=str(repo))
        started = time.perf_counter()
        result = builder.build(task, context)
        elapsed = time.perf_counter() - started
        contents = result.extra.get("contents") or {e.path: e.content for e in result.edits}
        produced.update({p: c for p, c in contents.items() if c is not None})
        if store is not None:
            for path, content in contents.items():
                store.save_artifact(Artifact(path=path, content=content, task_id=task.id, agent=builder.id,
                                             run_id=RUN_ID))
        prompt = result.extra.get("prompt") or browser_prompt(task, context, builder.config)
        rows.append({"task": task.id, "s": elapsed, "passed": all(passes_review(c) for c in contents.values()),
                     "prompt_tokens": count_tokens(prompt), "input_tokens": result.usage.total_input_tokens})
    return rows


def bench_browser(tmp: Path, repo: Path, latency: float) -> dict:
    with ChatGPTPage() as page:
        def respond(prompt: str) -> Answer:
            text = demo_scenario.builder_answer(prompt)
            chunks = -(-len(text) // 200)
            return Answer(text, first_token_delay_s=latency / 3, chunk_delay_s=(latency * 2 / 3) / chunks,
                          chunk_chars=200)

        page.respond(respond)
        config = Config()
        config.state_dir = tmp / "browser-state"
        config.browser.url = page.url
        config.browser.session_dir = str(tmp / "profile")
        config.browser.timeout_s = 60
        with BrowserBuilder(config) as builder:
            started = time.perf_counter()
            build_all(builder, demo_plan(CHATGPT), repo)  # warm-up: starts Chromium
            warmup = time.perf_counter() - started
            rows = build_all(builder, demo_plan(CHATGPT), repo)
    for row in rows:
        row["overhead_s"] = row["s"] - latency
    return {"rows": rows, "warmup_s": warmup}


def bench_codex(tmp: Path, repo: Path, latency: float, mcp: bool, transport: str = "http") -> dict:
    with oa.ResponsesServer(oa.DemoScenario(), latency_s=latency) as api:
        config = Config()
        config.state_dir = tmp / f"codex-state-{mcp}-{transport}"
        config.repo_root = repo
        config.codex.binary = str(CODEX_BIN)
        config.codex.model = oa.MODEL
        config.codex.base_url = api.base_url
        config.codex.mcp = mcp
        config.codex.mcp_transport = transport
        store = SqliteStore(config.db_path)
        plan = demo_plan(CODEX)
        store.save_run(Run(id=RUN_ID, text=demo_scenario.ISSUE_TITLE))
        store.save_plan(plan)
        with CodexBuilder(config) as builder:
            started = time.perf_counter()
            builder.build(plan.tasks[0], BuildContext(plan=plan, files={}, run_id=RUN_ID, repo_root=str(repo)))
            warmup = time.perf_counter() - started
            before = len(api.requests)
            rows = build_all(builder, plan, repo, store)
        store.close()
        # the stand-in waited `latency` before each answer: that much of each task is the model's
        per_task = (len(api.requests) - before) / len(rows)
    for row in rows:
        row["overhead_s"] = row["s"] - per_task * latency
    return {"rows": rows, "warmup_s": warmup, "answers_per_task": per_task}


def summary(name: str, data: dict) -> dict:
    rows = data["rows"]
    return {"builder": name, "tasks": len(rows), "median_task_s": statistics.median(r["s"] for r in rows),
            "median_overhead_s": statistics.median(r["overhead_s"] for r in rows),
            "max_overhead_s": max(r["overhead_s"] for r in rows),
            "pass_pct": 100 * sum(r["passed"] for r in rows) / len(rows),
            "prompt_tokens": statistics.mean(r["prompt_tokens"] for r in rows),
            "input_tokens": statistics.mean(r["input_tokens"] for r in rows), "warmup_s": data["warmup_s"]}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--latency", type=float, default=0.5, help="the stand-ins' scripted latency per answer (s)")
    parser.add_argument("--skip-browser", action="store_true", help="only Codex (no Chromium on this machine)")
    args = parser.parse_args(argv)
    if not CODEX_BIN.exists():
        print("needs node_modules/.bin/codex: run npm ci", file=sys.stderr)
        return 2
    version = subprocess.run([str(CODEX_BIN), "--version"], capture_output=True, text=True).stdout.strip()
    with tempfile.TemporaryDirectory(prefix="gitorch-bench-builders-") as folder:
        tmp = Path(folder)
        repo = make_repository(tmp)
        results = []
        if not args.skip_browser:
            results.append(summary("chatgpt-pro (browser)", bench_browser(tmp, repo, args.latency)))
        results.append(summary("codex, MCP over HTTP", bench_codex(tmp, repo, args.latency, mcp=True)))
        results.append(summary("codex, MCP over stdio", bench_codex(tmp, repo, args.latency, mcp=True,
                                                                    transport="stdio")))
        results.append(summary("codex, plan in prompt", bench_codex(tmp, repo, args.latency, mcp=False)))

    print(f"Demo workload (5 tasks), scripted latency {args.latency:g} s per answer; {version}")
    header = (f"{'builder':24} {'task s':>7} {'overhead s':>10} {'max ovh s':>9} {'pass %':>6} "
              f"{'prompt tok':>10} {'codex input tok':>15} {'warm-up s':>9}")
    print(header)
    print("-" * len(header))
    for r in results:
        codex_in = f"{r['input_tokens']:.0f}" if "codex" in r["builder"] else "-"
        print(f"{r['builder']:24} {r['median_task_s']:7.2f} {r['median_overhead_s']:10.2f} {r['max_overhead_s']:9.2f} "
              f"{r['pass_pct']:6.0f} {r['prompt_tokens']:10.0f} {codex_in:>15} {r['warmup_s']:9.2f}")
    print("overhead target: < 1.5 s per task; times are medians over the five tasks after a warm-up pass")
    return 0


if __name__ == "__main__":
    sys.exit(main())
