"""How a routing decision looks on the terminal: a rich panel like the original design's."""

from __future__ import annotations

from typing import Any

from ..model import RoutingDecision

STEP_WORDS = {"plan": "plans", "build": "builds", "review": "reviews"}


def _tokens(n: int) -> str:
    return f"~{n / 1000:.1f}k tokens" if n >= 1000 else f"~{n} tokens"


def render(decision: RoutingDecision) -> Any:
    """A ``rich`` renderable for ``decision``."""
    from rich.panel import Panel
    from rich.table import Table

    table = Table.grid(padding=(0, 2))
    table.add_column(style="bold")
    table.add_column()
    label = decision.task_type.replace("_", " ")
    top = sorted(decision.task_types.items(), key=lambda kv: kv[1], reverse=True)
    table.add_row("Task type", f"{label} ({decision.task_types[decision.task_type]:.0%})  "
                  + "  ".join(f"[dim]{t.replace('_', ' ')} {p:.0%}[/]" for t, p in top[1:3] if p >= 0.01))
    est = decision.estimates or {}
    table.add_row("Input context", _tokens(est.get("context_tokens", 0)))
    table.add_row("Output size", f"{_tokens(est.get('output_tokens', 0))}, ~{est.get('lines', 0)} lines")
    colour = "green" if decision.confidence >= 0.8 else "yellow" if decision.confidence >= 0.6 else "red"
    table.add_row("Suggestion", f"[bold]{decision.agent}[/] with [{colour}]{decision.confidence:.0%}[/] confidence")
    table.add_row("Scores", "  ".join(f"{agent} {score:.0f}" for agent, score in decision.scores.items()))
    table.add_row("Workflow", "  ->  ".join(f"{s.agent} {STEP_WORDS.get(s.step, s.step)} ({s.confidence:.0%})"
                                            for s in decision.workflow))
    table.add_row("Estimated cost", f"${decision.estimated_cost_usd:.4f}  (saves ${decision.estimated_saving_usd:.4f} "
                  "against Claude alone)")
    if decision.shadows:
        table.add_row("Shadows", "  ".join(
            f"{name}: {s['agent']} {str(s['task_type']).replace('_', ' ')} ({s['confidence']:.0%})"
            for name, s in decision.shadows.items()) + "  [dim](not acted on)[/]")
    if decision.manual:
        table.add_row("Mode", "[yellow]manual: a person confirms before anything runs[/]")
    table.add_row("Why", f"[dim]{decision.reasoning}[/]")
    table.add_row("Decision", f"{decision.id}  [dim](teach: gitorch feedback {decision.id} --override AGENT)[/]")
    return Panel(table, title="gitorch route", subtitle=f"strategy: {decision.strategy}", expand=False)
