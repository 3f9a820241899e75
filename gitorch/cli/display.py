"""How a run looks in a terminal: live steps with spinners, the confirmation prompt, the final table."""

from __future__ import annotations

from typing import Any

from rich.console import Console
from rich.status import Status
from rich.table import Table

from ..model import RoutingDecision, StepKey, StepKind
from ..run.state import RunResult

_ICONS = {"done": "[green]✓[/]", "alert": "[yellow]![/]", "fail": "[red]✗[/]"}
# Steps that wait on an agent or the network get a spinner while they run.
_SLOW = frozenset({StepKind.PLAN, StepKind.BUILD, StepKind.REVIEW, StepKind.VERIFY, StepKind.PUSH, StepKind.PR,
                   StepKind.RESOLVE})


def step_line(key: StepKey | str) -> str:
    """A step as the terminal names it: "r1 build t2", "plan", "budget"."""
    if isinstance(key, str):
        return key
    return (f"r{key.round} " if key.round else "") + key.label


class RichProgress:
    """The pipeline's Progress, drawn with rich: a spinner for the step in flight, a line per step done."""

    def __init__(self, console: Console):
        self.console = console
        self._status: Status | None = None

    def step(self, key: StepKey | str, status: str, detail: str = "") -> None:
        if status == "start":
            self._stop()
            if isinstance(key, StepKey) and key.kind in _SLOW:
                self._status = self.console.status(f"{step_line(key)} [dim]{detail}[/]", spinner="dots")
                self._status.start()
            return
        self._stop()
        icon = _ICONS.get(status, "·")
        self.console.print(f" {icon} [bold]{step_line(key)}[/] [dim]{detail}[/]")

    def _stop(self) -> None:
        if self._status is not None:
            self._status.stop()
            self._status = None


def confirm_in_terminal(console: Console, render_decision) -> Any:
    """The original design's prompt: proceed, override, explain more (or cancel)."""
    from rich.prompt import Prompt

    def ask(decision: RoutingDecision) -> tuple[str, str | None]:
        console.print(render_decision(decision))
        while True:
            answer = Prompt.ask("[p]roceed, [o]verride, [e]xplain more, [c]ancel",
                                choices=["p", "o", "e", "c"], default="p", console=console)
            if answer == "p":
                return "proceed", None
            if answer == "c":
                return "cancel", None
            if answer == "e":
                for line in explain_lines(decision):
                    console.print(line)
                continue
            agent = Prompt.ask("agent", choices=["claude", "chatgpt-pro", "codex"], console=console)
            return "override", agent

    return ask


def explain_lines(decision: RoutingDecision) -> list[str]:
    """Why the router suggested its agent: the reasoning, the scores, the task-type probabilities."""
    scores = ", ".join(f"{k} {v:.0f}" for k, v in decision.scores.items())
    types = ", ".join(f"{k} {v:.0%}" for k, v in sorted(decision.task_types.items(), key=lambda kv: -kv[1]))
    return [f"[bold]Why:[/] {decision.reasoning}", f"[bold]Scores:[/] {scores}", f"[bold]Task type:[/] {types}"]


def run_table(result: RunResult) -> Table:
    """Tasks, verdicts, tokens, cost and saving of a finished (or stopped) run."""
    table = Table(title=f"run {result.run.id}: {result.run.status}", show_lines=False)
    for column in ("task", "agent", "review", "files"):
        table.add_column(column)
    verdicts: dict[str, str] = {}
    for review in result.reviews:
        for v in review.artifacts:
            verdicts[v.path] = "approved" if v.approved else "rejected"
    if result.plan is not None:
        for task in result.plan.tasks:
            files = ", ".join(task.files) or "-"
            review = ", ".join(sorted({verdicts[f] for f in task.files if f in verdicts})) or "-"
            table.add_row(task.id, task.assigned_to, review, files)
    return table


def summary_lines(result: RunResult) -> list[str]:
    saving = result.baseline_cost_usd - result.cost_usd
    pct = (saving / result.baseline_cost_usd * 100) if result.baseline_cost_usd else 0.0
    lines = [f"branch: {result.run.branch}" if result.run.branch else "",
             f"verdict: {result.run.verdict or '-'} after {result.run.rounds} round(s)",
             f"cost: ${result.cost_usd:.4f}; Claude alone: ${result.baseline_cost_usd:.4f}; "
             f"saved ${saving:.4f} ({pct:.0f}%)"]
    if result.run.pr_number:
        lines.append(f"pull request: #{result.run.pr_number}")
    if result.verify:
        lines.append(f"verify: `{result.verify.command}` exited {result.verify.exit_code}")
    lines.extend(f"budget: {a}" for a in result.alerts)
    if result.answer:
        lines.append(f"answer:\n{result.answer}")
    if result.message:
        lines.append(result.message)
    return [line for line in lines if line]


def result_json(result: RunResult) -> dict[str, Any]:
    from dataclasses import asdict

    return {
        "run_id": result.run.id, "status": result.run.status, "branch": result.run.branch,
        "pr_number": result.run.pr_number, "verdict": result.run.verdict, "rounds": result.run.rounds,
        "decision_id": result.decision.id if result.decision else None,
        "agent": result.decision.agent if result.decision else None,
        "tasks": [asdict(t) for t in result.plan.tasks] if result.plan else [],
        "reviews": [{"round": r.round, "verdict": r.verdict, "summary": r.summary} for r in result.reviews],
        "commits": result.commits, "cost_usd": round(result.cost_usd, 6),
        "baseline_cost_usd": round(result.baseline_cost_usd, 6),
        "saving_usd": round(result.baseline_cost_usd - result.cost_usd, 6),
        "held_by": str(result.held_by) if result.held_by else None,
        "verify": asdict(result.verify) if result.verify else None, "alerts": result.alerts, "answer": result.answer, "message": result.message,
    }
