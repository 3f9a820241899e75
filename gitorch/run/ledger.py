"""The one budget gate and metric writer.

Every paid call goes through a ``Ledger``: the run's steps, the builders' Claude fallback, `gitorch
plan` and `gitorch review`, and the pre-push hook's review. ``gate`` checks the call's estimate
against the run, day and month limits before it is made (raising ``BudgetExceeded``, so the run
pauses instead of spending) and returns the alerts to show; ``record`` writes the call's row
(tokens with cache fields, duration, cost and the Claude-alone baseline) after it is made.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from .. import cost
from ..model import CLAUDE, Metric, PlanResult, ReviewResult, Usage
from ..ports import Ledger as LedgerStore

# A budget gate for one call: (model, input_tokens=, output_tokens=) -> None; raises BudgetExceeded.
Gate = Callable[..., None]


class Ledger:
    def __init__(self, store: LedgerStore, config: Any):
        self.store = store
        self.config = config
        self.prices = cost.PriceTable.from_config(config)

    def estimate(self, model: str, input_tokens: int, output_tokens: int) -> float:
        """What a call not made yet may cost (no cache assumed)."""
        return self.prices.usd(model, Usage(input_tokens=input_tokens, output_tokens=output_tokens, estimated=True))

    def gate(self, model: str, *, input_tokens: int, output_tokens: int, run_id: str | None = None) -> list[str]:
        """Check a call of about this size against the budget before making it. Raises
        ``BudgetExceeded`` when it would pass a limit; returns the alert lines to show."""
        return cost.check_budget(self.store, self.config, self.estimate(model, input_tokens, output_tokens),
                                 run_id=run_id)

    def record(self, *, agent: str, model: str, usage: Usage, duration_s: float, step: str,
               task_type: str | None = None, run_id: str | None = None, fallback: bool = False) -> Metric:
        """The ledger row of one call."""
        metric = cost.metric_for(self.config, agent=agent, model=model, usage=usage, duration_s=duration_s,
                                 task_type=task_type, run_id=run_id, step=step, fallback=fallback,
                                 table=self.prices)
        self.store.record_metric(metric)
        return metric

    def record_architect(self, result: PlanResult | ReviewResult, *, step: str, task_type: str | None = None,
                         run_id: str | None = None) -> Metric:
        """The row of a plan or a review."""
        return self.record(agent=CLAUDE, model=result.model, usage=result.usage, duration_s=result.duration_s,
                           step=step, task_type=task_type, run_id=run_id)

    def gate_with(self, alerts: list[str], run_id: str | None = None) -> Gate:
        """A gate that keeps each alert in ``alerts`` (for a command that prints them after)."""
        def gate(model: str, *, input_tokens: int, output_tokens: int) -> None:
            alerts.extend(a for a in self.gate(model, input_tokens=input_tokens, output_tokens=output_tokens,
                                               run_id=run_id) if a not in alerts)
        return gate
