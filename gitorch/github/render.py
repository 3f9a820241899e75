"""The Markdown gitorch writes on GitHub: the routing suggestion with the plan, and the job summary.

The suggestion follows the original design's panel: task type, the size estimates, the suggested
agent with its confidence and scores, the workflow, estimated cost and saving against Claude alone.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from typing import Any

from ..model import Metric, Plan, RoutingDecision
from .provider import marker


def _pct(value: float) -> str:
    return f"{value * 100:.0f}%"


def _usd(value: float | None) -> str:
    return "n/a" if value is None else f"${value:,.2f}" if value >= 0.01 or value == 0 else f"${value:.4f}"


def suggestion(decision: RoutingDecision, *, stage: str | None = None, plan: Plan | None = None,
               explain: bool = False, note: str = "", commands: Sequence[str] = ()) -> str:
    """The one comment on the issue: suggestion, then the plan when there is one."""
    est = decision.estimates or {}
    lines = [
        marker("decision", decision.id),
        "### gitorch: routing suggestion",
        "",
        "| | |",
        "| --- | --- |",
        f"| **Task type** | `{decision.task_type}` ({_pct(decision.task_types.get(decision.task_type, decision.confidence))}) |",
    ]
    if est:
        sizes = ", ".join(f"{k.replace('_', ' ')} ~{v:,}" for k, v in est.items())
        lines.append(f"| **Estimates** | {sizes} |")
    lines += [
        f"| **Suggested agent** | **{decision.agent}** with {_pct(decision.confidence)} confidence |",
        "| **Scores** | " + ", ".join(f"{agent} {score:.0f}" for agent, score in decision.scores.items()) + " |",
        f"| **Estimated cost** | {_usd(decision.estimated_cost_usd)} "
        f"(saves {_usd(decision.estimated_saving_usd)} against Claude alone) |",
    ]
    if decision.workflow:
        steps = " → ".join(f"{w.agent} {w.step} ({_pct(w.confidence)})" for w in decision.workflow)
        lines.append(f"| **Workflow** | {steps} |")
    if decision.override_agent:
        lines.append(f"| **Overridden** | a maintainer chose **{decision.override_agent}** |")
    if stage:
        lines.append(f"| **Stage** | `gitorch:{stage}` |")
    if decision.manual:
        lines += ["", "> gitorch is not sure enough to go ahead alone: answer `/gitorch proceed` or "
                      "`/gitorch override <agent>`."]
    if explain or decision.manual:
        lines += ["", "<details open><summary>Why</summary>", "", decision.reasoning or "(no reasoning given)", "",
                  "</details>"]
    if plan is not None:
        lines += ["", f"#### Plan: {plan.summary}", "", "| # | task | agent | files |", "| --- | --- | --- | --- |"]
        for i, task in enumerate(plan.tasks, 1):
            files = ", ".join(f"`{f}`" for f in task.files) or "-"
            lines.append(f"| {i} | {task.description.splitlines()[0] if task.description else task.id} "
                         f"| {task.assigned_to} | {files} |")
    if note:
        lines += ["", note]
    if commands:
        lines += ["", "<sub>Commands: " + " · ".join(f"`/gitorch {c}`" for c in commands) + "</sub>"]
    return "\n".join(lines)


def cost_table(metrics: list[Metric]) -> list[str]:
    if not metrics:
        return ["No model calls were made."]
    by_agent: dict[str, dict[str, float]] = defaultdict(lambda: defaultdict(float))
    for m in metrics:
        row = by_agent[m.agent]
        row["calls"] += 1
        row["tokens"] += m.usage.total_tokens
        row["cost"] += m.cost_usd
        row["baseline"] += m.baseline_cost_usd
    lines = ["| agent | calls | tokens | cost | Claude-only cost |", "| --- | ---: | ---: | ---: | ---: |"]
    for agent, row in sorted(by_agent.items()):
        lines.append(f"| {agent} | {row['calls']:.0f} | {row['tokens']:,.0f} | {_usd(row['cost'])} | "
                     f"{_usd(row['baseline'])} |")
    cost = sum(m.cost_usd for m in metrics)
    baseline = sum(m.baseline_cost_usd for m in metrics)
    saving = baseline - cost
    pct = f" ({saving / baseline * 100:.0f}%)" if baseline > 0 else ""
    lines += ["", f"**Total** {_usd(cost)}; Claude alone would have cost {_usd(baseline)}: saving {_usd(saving)}{pct}."]
    return lines


def job_summary(result: Any) -> str:
    """GITHUB_STEP_SUMMARY for one `gitorch action` run: routing, tasks, cost table, saving."""
    lines = ["## gitorch", "", f"**{result.status}**: {result.message}", ""]
    decision: RoutingDecision | None = result.decision
    if decision is not None:
        lines += ["### Routing", "",
                  f"`{decision.task_type}` → **{decision.agent}** ({_pct(decision.confidence)} confidence); "
                  f"estimated {_usd(decision.estimated_cost_usd)}, saving {_usd(decision.estimated_saving_usd)}", ""]
    if result.plan is not None:
        lines += ["### Tasks", ""]
        lines += [f"- [{'x' if t.status in ('built', 'approved') else ' '}] {t.description} ({t.assigned_to})"
                  for t in result.plan.tasks]
        lines.append("")
    if result.pr_number:
        lines += [f"Pull request: #{result.pr_number}" + (f", verdict **{result.verdict}**" if result.verdict else ""), ""]
    lines += ["### Cost", "", *cost_table(result.metrics)]
    return "\n".join(lines) + "\n"
