"""Architect benchmark, against the local Anthropic stand-in (the real SDK over HTTP).

Run: python bench/architect.py [--files N] [--budget TOKENS]

(a) Tokens sent for one plan on a generated repository of 2,000 files (default), against a naive
    "send every file" prompt, and whether the context budget held (context counted with
    count_tokens, the whole request as the stand-in billed it).
(b) Cache-read share of input tokens over a run of one plan, three reviews and a fix review, after
    the first call (target: at least 60 %).
(c) The dollar cost of that run with prompt caching against the same run without it, at the prices
    of gitorch.cost (target: at least 50 % lower).

(b) and (c) are measured for the default models (claude-sonnet-5-5 plans and reviews) and for a
run where claude-opus-5-5 plans. A prompt cache belongs to one model, so with a different planning
model the plan's cached prefix cannot be read by the reviews.
Answers are scripted at realistic lengths (a plan of ~700 output tokens, reviews of ~500).
"""

from __future__ import annotations

import argparse
import random
import sys
import tempfile
import time
from pathlib import Path

from gitorch import config as config_module
from gitorch.agents.claude import ClaudeArchitect
from gitorch.cost import PriceTable
from gitorch.git.context import build_context
from gitorch.model import Usage
from gitorch.simulate.anthropic_api import AnthropicServer, count_tokens

KEY = "sk-ant-bench-not-a-real-key-000000"
TASK = "Add rounding rules to invoice totals and show them in the billing report"
WORDS = ("record value items total page index cache stream parse render build order user account "
         "config client server batch query result error retry token").split()


def generate_repo(root: Path, n: int, seed: int = 7) -> None:
    """``n`` Python files of 40-400 lines in nested packages, plus the few the task is about."""
    rng = random.Random(seed)
    for i in range(n):
        folder = root / f"svc{i % 25}" / rng.choice(["api", "core", "db", "jobs", "web"]) / f"m{i % 9}"
        folder.mkdir(parents=True, exist_ok=True)
        lines = [f'"""{rng.choice(WORDS).title()} handling for service {i % 25}."""', ""]
        for k in range(rng.randint(2, 12)):
            a, b = rng.sample(WORDS, 2)
            lines += [f"class {a.title()}{b.title()}{k}:", f"    def {a}_{b}(self, {b}, limit={k}):",
                      f'        """Return the {a} of {b}."""']
            lines += [f"        {b} = [x for x in {b} if x is not None][:limit]  # step {j}" for j in range(rng.randint(2, 30))]
            lines += [f"        return {b}", ""]
        (folder / f"{rng.choice(WORDS)}_{i}.py").write_text("\n".join(lines) + "\n")
    billing = root / "svc3" / "billing"
    billing.mkdir(parents=True, exist_ok=True)
    (billing / "invoice_totals.py").write_text(
        '"""Invoice totals."""\n\n\ndef invoice_totals(lines, tax_rate):\n    subtotal = sum(l.amount for l in lines)\n'
        "    return subtotal * (1 + tax_rate)\n")
    (billing / "report.py").write_text(
        '"""The billing report."""\n\nfrom .invoice_totals import invoice_totals\n\n\ndef billing_report(invoices):\n'
        "    return [invoice_totals(i.lines, i.tax_rate) for i in invoices]\n")


def plan_answer(rng: random.Random) -> dict:
    tasks = []
    for i in range(1, 4):
        tasks.append({"id": f"t{i}", "description": " ".join(rng.choice(WORDS) for _ in range(120)),
                      "files": [f"svc3/billing/file_{i}.py"], "assigned_to": "chatgpt-pro",
                      "depends_on": [f"t{i - 1}"] if i > 1 else [], "estimated_lines": 60,
                      "task_type": "code_generation"})
    return {"summary": "Rounding rules for invoice totals, shown in the report", "tasks": tasks}


def diff_for(path: str, lines: int, rng: random.Random) -> tuple[str, str]:
    body = [f"    value_{j} = round({rng.choice(WORDS)}_{j} * rate, 2)  # {rng.choice(WORDS)}" for j in range(lines)]
    content = "def rounded(rate):\n" + "\n".join(body) + "\n    return rate\n"
    added = "".join(f"+{line}\n" for line in content.splitlines())
    return f"--- /dev/null\n+++ b/{path}\n@@ -0,0 +1,{lines + 2} @@\n{added}", content


def review_answer(path: str, rng: random.Random, approve: bool) -> dict:
    notes = " ".join(rng.choice(WORDS) for _ in range(350))
    return {"verdict": "approve" if approve else "reject", "summary": "Checked against the plan.",
            "artifacts": [{"path": path, "status": "approved" if approve else "rejected", "notes": notes}],
            "comments": [{"path": path, "line": 2, "body": "Round half to even here, as the task says."}],
            "fix_tasks": [] if approve else [{"id": "fix-1", "description": "Use banker's rounding", "files": [path],
                                              "assigned_to": "chatgpt-pro", "depends_on": [], "estimated_lines": 10,
                                              "task_type": "debugging"}]}


def run_once(root: Path, models: dict[str, str], cache: bool, budget: int) -> list[tuple[str, str, Usage]]:
    """One plan, three reviews, one fix review; (step, model, usage) per call."""
    rng = random.Random(11)
    calls = []
    with AnthropicServer() as api:
        config = config_module.load(cwd=root, env={"ANTHROPIC_API_KEY": KEY, "ANTHROPIC_BASE_URL": api.base_url})
        config.models.plan, config.models.review = models["plan"], models["review"]
        architect = ClaudeArchitect(config, cache=cache)
        context = build_context(root, TASK, budget=budget, count=architect.count_tokens)
        api.enqueue_tool_use("write_plan", plan_answer(rng), text="Here is the plan.")
        result = architect.plan(TASK, context.text)
        calls.append(("plan", result.model, result.usage))
        for i, task in enumerate(result.plan.tasks):
            path = task.files[0]
            diff, content = diff_for(path, 60 + 20 * i, rng)
            api.enqueue_tool_use("write_review", review_answer(path, rng, approve=i != 2))
            r = architect.review(result.plan, diff, {path: content})
            calls.append((f"review {task.id}", r.model, r.usage))
        diff, content = diff_for(path, 100, rng)
        api.enqueue_tool_use("write_review", review_answer(path, rng, approve=True))
        r = architect.review(result.plan, diff, {path: content}, round_no=2)
        calls.append(("fix review", r.model, r.usage))
    return calls


def cost(calls: list[tuple[str, str, Usage]], table: PriceTable) -> float:
    return sum(table.usd(model, usage) for _, model, usage in calls)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--files", type=int, default=2000)
    parser.add_argument("--budget", type=int, default=20_000)
    args = parser.parse_args()
    table = PriceTable()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        generate_repo(root, args.files)
        naive_text = "".join(f"### file: {p.relative_to(root)}\n```\n{p.read_text()}```\n"
                             for p in sorted(root.rglob("*.py")))
        naive = count_tokens(naive_text)

        print(f"(a) plan context on a generated repository of {args.files + 2} files, budget {args.budget} tokens")
        started = time.perf_counter()
        with AnthropicServer() as api:
            config = config_module.load(cwd=root, env={"ANTHROPIC_API_KEY": KEY, "ANTHROPIC_BASE_URL": api.base_url})
            architect = ClaudeArchitect(config)
            context = build_context(root, TASK, budget=args.budget, count=architect.count_tokens)
            built = time.perf_counter() - started
            api.enqueue_tool_use("write_plan", plan_answer(random.Random(1)))
            plan = architect.plan(TASK, context.text)
        sent = plan.usage.total_input_tokens
        print(f"    context: {context.tokens} tokens (counted), map detail '{context.map_detail}', "
              f"{len(context.files_included)} files shown in full or cut, built in {built:.2f}s")
        print(f"    whole plan request: {sent} input tokens; naive 'send every file': {naive} tokens "
              f"({naive / sent:.0f}x more)")
        print(f"    budget held: {'yes' if context.tokens <= args.budget else 'NO'}; first relevant file: "
              f"{context.files_included[0] if context.files_included else '-'}")

        for label, models in (("default models (sonnet plans and reviews)",
                               {"plan": "claude-sonnet-5-5", "review": "claude-sonnet-5-5"}),
                              ("opus plans, sonnet reviews",
                               {"plan": "claude-opus-5-5", "review": "claude-sonnet-5-5"})):
            cached = run_once(root, models, True, args.budget)
            plain = run_once(root, models, False, args.budget)
            print(f"\n{label}: one plan, three reviews, one fix review")
            print(f"    {'call':<12}{'model':<20}{'input':>8}{'cache write':>13}{'cache read':>12}{'output':>8}")
            for step, model, u in cached:
                print(f"    {step:<12}{model:<20}{u.input_tokens:>8}{u.cache_creation_input_tokens:>13}"
                      f"{u.cache_read_input_tokens:>12}{u.output_tokens:>8}")
            later = cached[1:]
            read = sum(u.cache_read_input_tokens for _, _, u in later)
            total_in = sum(u.total_input_tokens for _, _, u in later)
            all_read = sum(u.cache_read_input_tokens for _, _, u in cached)
            all_in = sum(u.total_input_tokens for _, _, u in cached)
            with_cache, without = cost(cached, table), cost(plain, table)
            print(f"(b) cache-read share of input after the first call: {read / total_in:.1%} "
                  f"(whole run: {all_read / all_in:.1%}); target >= 60%")
            print(f"(c) cost with caching ${with_cache:.4f}, without ${without:.4f}: "
                  f"{1 - with_cache / without:.1%} lower; target >= 50%")
    return 0


if __name__ == "__main__":
    sys.exit(main())
