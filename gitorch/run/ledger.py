"""The one budget gate and metric writer.

Every paid call goes through a ``Ledger``: the run's steps, the builders' Claude fallback, `gitorch
plan` and `gitorch review`, and the pre-push hook's review. Before the call, ``paid`` reserves its
estimated cost against the run, day and month limits at once (``Budget.reserve``, one transaction
on this machine, one Convex mutation for a team): a call that would pass a limit is not made
(``BudgetExceeded``, the run pauses). After the call, ``record`` writes its row (tokens with cache
fields, duration, cost and the Claude-alone baseline), which settles the reservation; a call that
fails without an answer releases it; a reservation a crashed process left behind lapses at its
expiry. So calls in flight at once can pass a limit only by the gap between their estimates and
what they really used (docs/cost.md).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from .. import cost
from ..model import CLAUDE, Metric, PlanResult, Reservation, ReviewResult, Usage, new_id, utcnow
from ..ports import Budget
from ..ports import Ledger as LedgerStore


@dataclass
class Paid:
    """A paid call in flight: its reservation, the alerts its limits raised, and whether its row was
    written (which settles the reservation)."""

    reservation: Reservation
    alerts: list[str] = field(default_factory=list)
    settled: bool = False


# A budget gate for one paid call: (model, input_tokens=, output_tokens=) -> a context in which the
# call is made and recorded; leaving it without a recorded row releases the reservation.
Gate = Callable[..., Any]


class Ledger:
    def __init__(self, store: LedgerStore, config: Any, budget: Budget | None = None):
        self.store = store
        self.budget: Budget = budget if budget is not None else store  # type: ignore[assignment]
        self.config = config
        self.prices = cost.PriceTable.from_config(config)

    def estimate(self, model: str, input_tokens: int, output_tokens: int) -> float:
        """What a call not made yet may cost (no cache assumed; it writes at most ``max_output_tokens``)."""
        output_tokens = min(output_tokens, self.config.anthropic.max_output_tokens)
        return self.prices.usd(model, Usage(input_tokens=input_tokens, output_tokens=output_tokens, estimated=True))

    def reserve(self, model: str, *, input_tokens: int, output_tokens: int, run_id: str | None = None) -> Paid:
        """Hold a call of about this size against the budget before making it. Raises
        ``BudgetExceeded`` when it would pass a limit (nothing is held then)."""
        now = utcnow()
        reservation = Reservation(new_id("res"), self.estimate(model, input_tokens, output_tokens), model, run_id, now,
                                  now + timedelta(seconds=self.config.budget.reservation_expiry_s))
        alerts = cost.hold(self.budget, self.store, self.config, reservation, now=now)
        return Paid(reservation, alerts)

    def release(self, paid: Paid) -> None:
        if not paid.settled:
            self.budget.release(paid.reservation)
            paid.settled = True

    @contextmanager
    def paid(self, model: str, *, input_tokens: int, output_tokens: int, run_id: str | None = None,
             alerts: Callable[[list[str]], None] | None = None) -> Iterator[Paid]:
        """A paid call: reserved on entry (``alerts`` is told the budget alerts it raised); its row,
        written with ``record(..., paid=...)`` inside, settles it; otherwise it is released on exit."""
        call = self.reserve(model, input_tokens=input_tokens, output_tokens=output_tokens, run_id=run_id)
        if alerts is not None and call.alerts:
            alerts(call.alerts)
        try:
            yield call
        finally:
            self.release(call)

    def gate(self, run_id: str | None = None, alerts: Callable[[list[str]], None] | None = None) -> Gate:
        """The gate a step or a command passes for each paid call (``alerts`` hears what it raises)."""
        def gate(model: str, *, input_tokens: int, output_tokens: int) -> Any:
            return self.paid(model, input_tokens=input_tokens, output_tokens=output_tokens, run_id=run_id,
                             alerts=alerts)
        return gate

    def record(self, *, agent: str, model: str, usage: Usage, duration_s: float, step: str,
               task_type: str | None = None, run_id: str | None = None, fallback: bool = False,
               paid: Paid | None = None, reason: str | None = None, claude_alone: Usage | None = None) -> Metric:
        """The ledger row of one call; with ``paid``, it settles that call's reservation. ``reason``
        says why this model (the ladder's); ``claude_alone`` is what gitorch's Claude builder would
        have sent and received for a builder's task (``cost.claude_alone_usage``)."""
        metric = cost.metric_for(self.config, agent=agent, model=model, usage=usage, duration_s=duration_s,
                                 task_type=task_type, run_id=run_id, step=step, fallback=fallback,
                                 table=self.prices, reason=reason, claude_alone=claude_alone)
        if paid is not None and not paid.settled:
            self.budget.settle(paid.reservation, metric)
            paid.settled = True
        else:
            self.budget.settle(None, metric)
        return metric

    def record_architect(self, result: PlanResult | ReviewResult, *, step: str, task_type: str | None = None,
                         run_id: str | None = None, paid: Paid | None = None, reason: str | None = None) -> Metric:
        """The row of a plan or a review, with why its model was chosen."""
        return self.record(agent=CLAUDE, model=result.model, usage=result.usage, duration_s=result.duration_s,
                           step=step, task_type=task_type, run_id=run_id, paid=paid, reason=reason)
