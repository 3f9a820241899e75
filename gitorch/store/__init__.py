"""Where gitorch keeps its state. ``Store`` is the protocol; ``SqliteStore`` the embedded default.

Every write also enters the outbox in the same transaction, so the Convex mirror can never miss a
record or see one that SQLite does not have.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Protocol

from ..errors import GitorchError
from ..model import Artifact, Metric, Plan, Review, RoutingDecision, Run


class Store(Protocol):
    # -- routing ---------------------------------------------------------------------------------
    def record_decision(self, decision: RoutingDecision) -> None: ...

    def record_decisions(self, decisions: list[RoutingDecision]) -> None:
        """Many at once, in one transaction (for `gitorch route --batch`)."""
        ...

    def get_decision(self, decision_id: str) -> RoutingDecision | None: ...

    def record_feedback(
        self,
        decision_id: str,
        *,
        override_agent: str | None = None,
        override_task_type: str | None = None,
        agent_used: str | None = None,
        outcome: str | None = None,
    ) -> RoutingDecision:
        """Fill in what happened to a decision; raises GitorchError for an unknown id."""
        ...

    def recent_decisions(self, repo: str | None = None, limit: int = 50) -> list[RoutingDecision]:
        """Newest first."""
        ...

    def decisions_since(self, since: datetime, until: datetime | None = None) -> list[RoutingDecision]:
        """Oldest first."""
        ...

    def decision_for_run(self, run_id: str) -> RoutingDecision | None:
        """The newest decision recorded for that run, or None (whatever its age). Raises
        GitorchError for an empty run id."""
        ...

    def decision_counts(self, since: datetime, until: datetime | None = None) -> dict[str, int]:
        """``decisions``, ``with_feedback``, ``overrides``, ``accepted`` over a period (for stats)."""
        ...

    def decision_counts_by_day(self, since: datetime, until: datetime | None = None) -> list[dict[str, Any]]:
        """``decision_counts`` per UTC day that has a decision, oldest first, each with its ``day``
        (``YYYY-MM-DD``) (for the weekly routing accuracy)."""
        ...

    def load_router_state(self, repo: str) -> bytes | None: ...

    def save_router_state(self, repo: str, state: bytes) -> None: ...

    # -- the ledger ------------------------------------------------------------------------------
    def record_metric(self, metric: Metric) -> None: ...

    def metrics_since(self, since: datetime, until: datetime | None = None,
                      run_id: str | None = None) -> list[Metric]:
        """Oldest first; ``run_id`` keeps one run's (an indexed filter, not a scan)."""
        ...

    def run_metrics(self, run_id: str) -> list[Metric]:
        """Every metric of one run, oldest first, however old. Raises GitorchError for an empty
        run id."""
        ...

    def run_costs(self, run_ids: list[str]) -> dict[str, dict[str, Any]]:
        """Per run id asked for: ``calls``, ``cost_usd`` and ``baseline_cost_usd`` summed over all its
        metrics; zeros for a run without metrics (for the runs table)."""
        ...

    def metric_totals(self, since: datetime, until: datetime | None = None) -> list[dict[str, Any]]:
        """Sums per (agent, model) over a period (for stats)."""
        ...

    def metric_totals_by_day(self, since: datetime, until: datetime | None = None) -> list[dict[str, Any]]:
        """Sums per UTC day and agent over a period, oldest day first: ``day`` (``YYYY-MM-DD``),
        ``agent``, ``calls``, ``tokens`` (the four counts of ``Usage``), ``cost_usd``,
        ``baseline_cost_usd`` (for the charts)."""
        ...

    def spent_usd(self, since: datetime | None = None, run_id: str | None = None,
                  until: datetime | None = None) -> float:
        """Marginal spending (sum of ``cost_usd``) since a time, or by one run."""
        ...

    def record_budget_event(self, kind: str, scope: str, message: str, run_id: str | None = None,
                            period: str | None = None) -> bool:
        """``kind`` is "alert" or "paused"; with ``period`` the event is recorded once (False if it
        was there already)."""
        ...

    def budget_events(self, since: datetime | None = None, kind: str | None = None) -> list[dict[str, Any]]: ...

    # -- runs, plans, artifacts, reviews -----------------------------------------------------------
    def save_run(self, run: Run) -> None:
        """Insert or update by id."""
        ...

    def get_run(self, run_id: str) -> Run | None: ...

    def runs_due(self, now: datetime) -> list[Run]:
        """Paused runs whose ``resume_after`` is at or before ``now``, the longest waiting first."""
        ...

    def list_runs(self, limit: int = 50) -> list[Run]:
        """Newest first."""
        ...

    def run_for_pr(self, pr_number: int, repo: str | None = None) -> Run | None:
        """The newest run with that pull request number (in ``repo`` when given), however old, or
        None. Raises GitorchError for a number that is not a positive integer."""
        ...

    def feature_totals(self, since: datetime, until: datetime | None = None) -> dict[str, Any]:
        """The runs completed (status ``done``, verdict ``approve``) whose last update falls in the
        period: ``features`` (how many) and ``seconds`` (the sum of their times from creation to
        last update, exact to the microsecond)."""
        ...

    def review_counts(self, since: datetime, until: datetime | None = None) -> dict[str, dict[str, int]]:
        """Per agent, over the artifacts of the runs created in the period: ``reviewed`` (approved
        or rejected) and ``approved``; agents with nothing reviewed are left out."""
        ...

    def save_plan(self, plan: Plan) -> None: ...

    def get_plan(self, plan_id: str) -> Plan | None: ...

    def latest_plan(self, run_id: str) -> Plan | None: ...

    def save_artifact(self, artifact: Artifact) -> None: ...

    def artifacts(self, run_id: str, review_status: str | None = None) -> list[Artifact]: ...

    def save_review(self, run_id: str, review: Review) -> None: ...

    def reviews(self, run_id: str) -> list[Review]: ...

    # -- the journal: one row per step of a run, written before and after a side effect ------------
    def journal_begin(self, run_id: str, key: str, data: dict[str, Any] | None = None) -> dict[str, Any] | None:
        """Record that step ``key`` starts. Returns the finished result if it already finished."""
        ...

    def journal_finish(self, run_id: str, key: str, result: dict[str, Any]) -> None: ...

    def journal_result(self, run_id: str, key: str) -> dict[str, Any] | None:
        """The result of step ``key`` if it finished, else None."""
        ...

    def journal(self, run_id: str) -> list[dict[str, Any]]: ...

    # -- the outbox, drained to Convex --------------------------------------------------------------
    # A row: {"id": int, "table": str (Convex table, e.g. "routing_decisions"), "key": str (stable
    # client-side key of the record), "version": int (grows with every change of that record),
    # "runner": str (who wrote it), "payload": dict (the record as plain JSON), "created_at": str,
    # "attempts": int, "last_error": str | None}. Tables: runs, plans (tasks inside), artifacts, reviews,
    # metrics, routing_decisions, router_state (state base64), journal, budget_events. A newer version
    # of a record replaces its unsent older row, so at most one row per record waits; ids never repeat.
    def outbox_pending(self, limit: int = 100) -> list[dict[str, Any]]: ...

    def outbox_count(self) -> int:
        """Rows waiting to be sent."""
        ...

    def outbox_mark_sent(self, ids: list[int]) -> None: ...

    def outbox_mark_failed(self, ids: list[int], error: str) -> None:
        """Convex could not be reached, or not in time: the rows stay pending."""
        ...

    # A row Convex itself refuses (a 4xx, or its function threw) counts a refusal; at ``park_after``
    # refusals it is parked: kept, out of ``outbox_pending`` and ``outbox_count``, until unparked.
    # A newer version of the record replaces a parked row like any unsent one.
    def outbox_mark_refused(self, ids: list[int], error: str, park_after: int) -> int:
        """Returns how many of ``ids`` were parked by this refusal."""
        ...

    def outbox_parked(self, limit: int = 100) -> list[dict[str, Any]]: ...

    def outbox_parked_count(self) -> int: ...

    def outbox_unpark(self) -> int:
        """Queue every parked row again; returns how many."""
        ...

    def close(self) -> None: ...


# Sums of money and time are made of whole numbers of small units, so that they are exact and the
# same in any order: a float sum depends on the order of its terms, and a figure rounded to 6
# decimals can flip with it (costs are decimal amounts, so ties at the 7th decimal are common).
# Exact while one call costs under $9,000 and lasts under 100 days (2**53 units); a sum holds up to
# $9.2 million and 292 years (2**63).
PICO = 10**12  # units per USD
NANO = 10**9  # units per second


def units(value: float, scale: int) -> int:
    """``value`` as a whole number of ``1/scale`` units, rounded half away from zero (the SQL of
    ``gitorch.store.sqlite`` rounds the same way)."""
    return int(value * scale + (-0.5 if value < 0 else 0.5))


# Sums in units, and the fields they are returned as.
UNIT_SUMS = {"cost_pico": ("cost_usd", PICO), "baseline_pico": ("baseline_cost_usd", PICO),
             "duration_ns": ("duration_s", NANO)}


def from_units(sums: Any) -> dict[str, Any]:
    """A row of sums (a dict or an ``sqlite3.Row``) with those kept in units (``UNIT_SUMS``) back in
    USD and seconds; the other fields as they are, in their order."""
    out = {}
    for key in sums.keys():
        name, scale = UNIT_SUMS.get(key, (key, None))
        out[name] = sums[key] if scale is None else sums[key] / scale
    return out


def check_run_id(run_id: Any) -> str:
    """A run id a lookup can use; a missing one would silently match every run's rows, or none."""
    if not isinstance(run_id, str) or not run_id:
        raise GitorchError(f"a run id must be a non-empty string, not {run_id!r}",
                           hint="pass the id of a run, as 'gitorch run --json' or the dashboard shows it")
    return run_id


def check_pr_number(pr_number: Any) -> int:
    """A pull request number a lookup can use."""
    if isinstance(pr_number, bool) or not isinstance(pr_number, int) or pr_number < 1:
        raise GitorchError(f"a pull request number must be a positive integer, not {pr_number!r}",
                           hint="pass the number GitHub shows after '#'")
    return pr_number


def open_store(config: Any) -> Store:
    """The store the configuration names: SQLite in the state directory."""
    from .sqlite import SqliteStore

    return SqliteStore(config.db_path)
