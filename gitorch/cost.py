"""The cost ledger: what each call costs, what it would have cost done by Claude alone, and the budget.

- One dated price table (``PRICES``, checked on ``PRICES_AS_OF``), USD per million tokens, for the
  Claude models in use; ``prices:`` in `.gitorch.yml` overrides or adds a model.
- Claude calls cost their tokens at these rates. The builders (``chatgpt-pro``, ``codex``) run on a
  flat monthly plan: marginal cost 0, the fee amortised in reports. Their *baseline* is what
  gitorch's own Claude builder would have sent and received for the same task, at the rates of
  ``models.build``, whichever builder ran it (what Claude alone would have charged for the work).
- Budgets per run, per day and per month (UTC): an alert at ``alert_threshold_pct`` of a limit, and
  ``BudgetExceeded`` (the run pauses) when a call would take spending past a limit.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, timedelta
from typing import Any

from .errors import BudgetExceeded, GitorchError
from .model import AGENTS, CLAUDE, Metric, Reservation, SpendWindow, Usage, utcnow

PRICES_AS_OF = "2026-11-27"  # the day the list prices below were last checked
MTOK = 1_000_000
DAYS_PER_MONTH = 365.25 / 12


def estimate_tokens(text: str) -> int:
    """Tokens of ``text`` not counted by an API: about 3.5 characters a token on code and English."""
    return -(-len(text) * 2 // 7)


@dataclass(frozen=True)
class Price:
    """USD per million tokens. ``cache_write`` is the 5-minute cache write.

    ``long_context`` are the rates for requests whose prompt (input + cache write + cache read)
    passes ``long_context_above`` tokens; they then apply to every token of that request.
    ``end_of_life`` (ISO date) marks a deprecated model, ``successor`` what to use instead.
    """

    input: float
    output: float
    cache_write: float
    cache_read: float
    long_context: Price | None = None
    long_context_above: int | None = None
    end_of_life: str | None = None
    successor: str | None = None

    def rates_for(self, usage: Usage) -> Price:
        """The rates this request pays (the long-context tier when its prompt is large)."""
        if self.long_context is not None and self.long_context_above is not None \
                and usage.total_input_tokens > self.long_context_above:
            return self.long_context
        return self

    def usd(self, usage: Usage) -> float:
        rates = self.rates_for(usage)
        return (usage.input_tokens * rates.input + usage.output_tokens * rates.output
                + usage.cache_creation_input_tokens * rates.cache_write
                + usage.cache_read_input_tokens * rates.cache_read) / MTOK


# List prices, checked 2026-11. Sonnet 5.5's cache read was cut from $0.20 to $0.10 on 2026-10-07.
PRICES: dict[str, Price] = {
    "claude-opus-5-5": Price(4.00, 20.00, 5.00, 0.20),
    "claude-sonnet-5-5": Price(2.00, 10.00, 2.50, 0.10),
    "claude-haiku-5-5": Price(0.10, 0.50, 0.125, 0.01,
                              long_context=Price(0.50, 2.50, 0.625, 0.05), long_context_above=100_000),
    "claude-opus-5": Price(5.00, 25.00, 6.25, 0.50),
    "claude-sonnet-5": Price(2.00, 10.00, 2.50, 0.20),
    "claude-opus-4-6": Price(5.00, 25.00, 6.25, 0.50),
    "claude-sonnet-4-6": Price(3.00, 15.00, 3.75, 0.30),
    "claude-haiku-4-5": Price(1.00, 5.00, 1.25, 0.10),
    "claude-sonnet-4-5": Price(3.00, 15.00, 3.75, 0.30, end_of_life="2026-11-30", successor="claude-sonnet-5-5"),
}

# Agents paid by a flat monthly plan: a call costs nothing at the margin.
SUBSCRIPTION_AGENTS: tuple[str, ...] = tuple(a for a in AGENTS if a != CLAUDE)

_DATED = re.compile(r"^(?P<alias>.+?)-(?:\d{8}|latest)$")


def alias(model: str) -> str:
    """``claude-sonnet-4-5-20250929`` -> ``claude-sonnet-4-5`` (also ``...-latest``)."""
    match = _DATED.match(model.strip())
    return match.group("alias") if match else model.strip()


class PriceTable:
    """The dated table with the configuration's overrides on top."""

    def __init__(self, prices: dict[str, Price] | None = None, overrides: dict[str, Price] | None = None):
        self.prices = dict(PRICES if prices is None else prices)
        self.overrides = dict(overrides or {})
        self.as_of = PRICES_AS_OF

    @classmethod
    def from_config(cls, config: Any) -> PriceTable:
        overrides = {model: Price(p.input, p.output, p.cache_write, p.cache_read)
                     for model, p in (config.prices or {}).items()}
        return cls(overrides=overrides)

    def known(self, model: str) -> bool:
        return model in self.overrides or alias(model) in self.overrides or alias(model) in self.prices

    def price(self, model: str) -> Price:
        """The rates for ``model`` (a dated id finds its alias). An override from `.gitorch.yml`
        replaces the table's rates for that model, long-context tier included."""
        for candidate in (model, alias(model)):
            if candidate in self.overrides:
                base = self.prices.get(alias(model))
                found = self.overrides[candidate]
                if base is not None and base.end_of_life:
                    found = replace(found, end_of_life=base.end_of_life, successor=base.successor)
                return found
        found = self.prices.get(alias(model))
        if found is None:
            name = alias(model)
            raise GitorchError(
                f"no price for model '{model}' in the price table (prices as of {self.as_of})",
                hint=(f"add it to .gitorch.yml, USD per million tokens:\n  prices:\n    {name}:\n"
                      "      input: 3.0\n      output: 15.0\n      cache_write: 3.75\n      cache_read: 0.30\n"
                      f"known models: {', '.join(sorted(self.prices))}"),
            )
        return found

    def usd(self, model: str, usage: Usage) -> float:
        """What ``usage`` costs on ``model``."""
        return self.price(model).usd(usage)

    def estimate(self, model: str, input_tokens: int, output_tokens: int) -> float:
        """The cost of a call not made yet (no cache assumed)."""
        return self.usd(model, Usage(input_tokens=input_tokens, output_tokens=output_tokens, estimated=True))

    def deprecation(self, model: str, today: date | None = None) -> str | None:
        """A warning when ``model`` is deprecated, else None."""
        found = self.prices.get(alias(model))
        if found is None or not found.end_of_life:
            return None
        today = today or utcnow().date()
        eol = date.fromisoformat(found.end_of_life)
        instead = f"; switch to {found.successor}" if found.successor else ""
        if today > eol:
            return f"{model} reached its end of life on {found.end_of_life} and no longer answers{instead}"
        return f"{model} is deprecated and reaches its end of life on {found.end_of_life}{instead}"


def deprecation_warnings(config: Any, models: list[str] | tuple[str, ...] = (), today: date | None = None,
                         table: PriceTable | None = None) -> list[str]:
    """Warnings for deprecated models in ``config.models`` (naming the key to change) and in
    ``models`` (e.g. those seen in the ledger)."""
    table = table or PriceTable.from_config(config)
    warnings = []
    seen = set()
    for key, model in config.models.in_use():
        message = table.deprecation(model, today)
        if message and alias(model) not in seen:
            warnings.append(f"{message} (set in {key})")
            seen.add(alias(model))
    for model in models:
        if alias(model) not in seen:
            message = table.deprecation(model, today)
            if message:
                warnings.append(message)
                seen.add(alias(model))
    return warnings


def metric_for(config: Any, *, agent: str, model: str, usage: Usage, duration_s: float,
               task_type: str | None = None, run_id: str | None = None, step: str | None = None,
               fallback: bool = False, table: PriceTable | None = None, reason: str | None = None,
               claude_alone: Usage | None = None) -> Metric:
    """The ledger row for one agent call.

    Claude: priced at ``model``'s rates; its baseline is the same. A builder on a plan
    (``chatgpt-pro``, ``codex``): cost 0, unless ``prices:`` in `.gitorch.yml` names its model
    (e.g. Codex on an API key). Its baseline is ``claude_alone`` (what gitorch's Claude builder would
    have sent and received for the task, ``edits.claude_alone``) at the rates of ``models.build``,
    whichever builder ran it; a call without it (an answer that was not used) adds nothing to the
    baseline. ``reason``: why ``model`` (the architect's ladder).
    """
    if agent not in AGENTS:
        raise GitorchError(f"unknown agent '{agent}' for the ledger", hint=f"use one of: {', '.join(AGENTS)}")
    table = table or PriceTable.from_config(config)
    if agent == CLAUDE:
        cost = table.usd(model, usage)
        baseline = cost
    else:
        priced = model in table.overrides or alias(model) in table.overrides
        cost = table.usd(model, usage) if priced else 0.0
        baseline = table.usd(config.models.build, claude_alone) if claude_alone is not None else 0.0
    return Metric(agent=agent, model=model, usage=usage, cost_usd=cost, baseline_cost_usd=baseline,
                  duration_s=duration_s, task_type=task_type, run_id=run_id, step=step, fallback=fallback,
                  reason=reason)


def subscription_usd(config: Any, days: float) -> float:
    """The builders' flat monthly fee, amortised over ``days``."""
    return config.budget.builder_subscription_usd * days / DAYS_PER_MONTH


# -- the budget -----------------------------------------------------------------------------------


def month_start(now: datetime) -> datetime:
    return now.astimezone(UTC).replace(day=1, hour=0, minute=0, second=0, microsecond=0)


def day_start(now: datetime) -> datetime:
    return now.astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0)


def next_month(now: datetime) -> datetime:
    start = month_start(now)
    return start.replace(year=start.year + 1, month=1) if start.month == 12 else start.replace(month=start.month + 1)


@dataclass
class Limit:
    """One budget limit: the spending it holds (``window``), the key a budget event is recorded
    under once ("2026-11:$100", "2026-11-27:$5", "run-x:$5"), and when spending is allowed again."""

    window: SpendWindow
    period: str
    resume_at: datetime | None

    @property
    def scope(self) -> str:
        return self.window.scope

    @property
    def limit_usd(self) -> float:
        return self.window.limit_usd


def limits(config: Any, run_id: str | None = None, now: datetime | None = None) -> list[Limit]:
    """The limits that apply, month first (the longest pause), then day, then run."""
    now = now or utcnow()
    budget = config.budget
    found = [Limit(SpendWindow("month", budget.monthly_usd, since=month_start(now), until=now),
                   f"{month_start(now):%Y-%m}:${budget.monthly_usd:g}", next_month(now))]
    if budget.daily_usd is not None:
        found.append(Limit(SpendWindow("day", budget.daily_usd, since=day_start(now), until=now),
                           f"{day_start(now):%Y-%m-%d}:${budget.daily_usd:g}", day_start(now) + timedelta(days=1)))
    if run_id is not None and budget.per_run_usd is not None:
        found.append(Limit(SpendWindow("run", budget.per_run_usd, run_id=run_id), f"{run_id}:${budget.per_run_usd:g}",
                           None))
    return found


_LIMIT_KEYS = {"month": ("budget.monthly_usd", " (or MONTHLY_BUDGET_USD)"), "day": ("budget.daily_usd", ""),
               "run": ("budget.per_run_usd", "")}


def hold(budget: Any, events: Any, config: Any, reservation: Reservation, *, now: datetime | None = None) -> list[str]:
    """Hold a paid call's ``reservation`` against every limit at once (``budget.reserve``, atomic).
    Returns alert lines for each limit the call takes to or past ``alert_threshold_pct`` (a budget
    event is recorded once per period and threshold). Raises ``BudgetExceeded`` (and records a
    "paused" event once per period) when it would take spending, with what calls in flight hold,
    past a limit; nothing is held then."""
    if reservation.usd < 0:
        raise GitorchError(f"a cost estimate cannot be negative ({reservation.usd})",
                           hint="pass the estimated USD of the call, 0 for a builder on its plan")
    now = now or utcnow()
    current = limits(config, reservation.run_id, now)
    answer = budget.reserve(reservation, [limit.window for limit in current])
    threshold = config.budget.alert_threshold_pct
    alerts = []
    for limit, committed in zip(current, answer.committed_usd, strict=True):
        projected = committed + reservation.usd
        if projected > limit.limit_usd + 1e-9:
            key, env = _LIMIT_KEYS[limit.scope]
            held = "spent and held by calls in flight" if committed else "spent"
            message = (f"{limit.scope} budget: ${committed:.2f} of ${limit.limit_usd:.2f} {held}; a call estimated "
                       f"at ${reservation.usd:.4f} would pass the limit, so the run pauses")
            resume_at = limit.resume_at.isoformat() if limit.resume_at else None
            when = f"the run goes on by itself after {resume_at} (UTC), or " if resume_at else ""
            _record_event(budget, events, config, "paused", limit.scope, message, reservation.run_id, limit.period)
            raise BudgetExceeded(message, hint=f"{when}raise {key} in .gitorch.yml{env}",
                                 scope=limit.scope, resume_at=resume_at)
        if limit.limit_usd > 0 and projected >= limit.limit_usd * threshold / 100:
            pct = projected / limit.limit_usd * 100
            alert = (f"{limit.scope} budget: ${projected:.2f} of ${limit.limit_usd:.2f} ({pct:.0f}%) with this call; "
                     f"alert at {threshold:g}%")
            alerts.append(alert)
            _record_event(budget, events, config, "alert", limit.scope, alert, reservation.run_id,
                          f"{limit.period}:{threshold:g}%")
    if not answer.granted:  # a limit the loop above did not see (the team's store counted more)
        raise BudgetExceeded("the budget has no room for this call",
                             hint="see 'gitorch stats' for what is spent and held; raise a limit in .gitorch.yml")
    return alerts


def _record_event(budget: Any, events: Any, config: Any, kind: str, scope: str, message: str, run_id: str | None,
                  period: str) -> None:
    """Record a budget event once per period and threshold; the first time for everyone who shares
    the budget (a team's runners: ``Budget.first_alert``), it also goes to people (``gitorch.alerts``:
    annotation, job summary, webhook)."""
    if events.record_budget_event(kind, scope, message, run_id, period=period) and \
            budget.first_alert(f"{kind}:{scope}:{period}"):
        from .alerts import BudgetAlert, deliver

        deliver(config, BudgetAlert(kind, scope, message, period, run_id))


def paused(store: Any, config: Any, now: datetime | None = None) -> bool:
    """True while the month's or the day's limit stops paid calls: spending reached it, or a call
    was paused against it in this period (and the limit has not been changed since)."""
    now = now or utcnow()
    current = limits(config, None, now)
    if any(store.spent_usd(since=limit.window.since, until=limit.window.until) >= limit.limit_usd for limit in current):
        return True
    periods = {(limit.scope, limit.period) for limit in current}
    events = store.budget_events(kind="paused")
    return any((e["scope"], e["period"]) in periods for e in events)
