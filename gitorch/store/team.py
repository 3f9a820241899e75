"""A team of runners on one Convex deployment: who drives which run, one budget, shared lessons.

With ``CONVEX_URL`` (and the deploy key) set, these live in Convex mutations (``convex/coordination.ts``),
each one transaction, instead of on one machine's disk:

- **claims**: a run is driven by one process of the whole team at a time;
- **the budget**: a paid call's estimate is reserved against the team's month, day and run limits
  before it is made; its real cost goes out with the runner's outbox (the ``spend`` record, written
  with the call's ledger row in one SQLite transaction), which settles the reservation in Convex;
- **lessons**: overrides, type corrections and outcomes taught on one runner reach the others'
  routers (read from the mirrored routing decisions).

SQLite stays this runner's outbox and cache. When Convex cannot be reached, nothing is driven twice
and nothing is spent unaccounted: a run that cannot claim, or a paid call that cannot reserve, pauses
for ``convex.retry_after_s`` (the schedule continues it), a claim that cannot be renewed for its
whole lease stops its run before the next step, and the spend records wait in the outbox.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from ..errors import GitorchError, TeamAway
from ..model import Holder, Metric, Reservation, Reserved, Run, RunStatus, SpendWindow, new_id, utcnow
from .convex import ConvexHttp, ConvexUnavailable, keyed_client

log = logging.getLogger("gitorch.team")


def total_key(window: SpendWindow) -> str:
    """The name of a window's running total in Convex: ``month:2026-12``, ``day:2026-12-02``, ``run:<id>``."""
    if window.scope == "run":
        return f"run:{window.run_id}"
    if window.since is None:
        raise GitorchError(f"a {window.scope} budget window needs its start")
    return f"{window.scope}:{window.since:%Y-%m}" if window.scope == "month" else f"{window.scope}:{window.since:%Y-%m-%d}"


def spend_totals(metric: Metric) -> list[str]:
    """The totals a settled call adds to: its month, its day, and its run."""
    at = metric.created_at
    return [f"month:{at:%Y-%m}", f"day:{at:%Y-%m-%d}", *([f"run:{metric.run_id}"] if metric.run_id else [])]


class ConvexTeam:
    """Claims, budget and lessons of a team, on its Convex deployment (``gitorch.ports`` Claims and
    Budget). ``store`` is this runner's SQLite store (its outbox); ``kick`` wakes the outbox drain."""

    def __init__(self, store: Any, convex: Any, admin_key: str | None, *, client: ConvexHttp | None = None,
                 kick: Any = None):
        self.store = store
        self.settings = convex
        self.client = client or keyed_client(convex, admin_key, "coordinate the team with")
        self.kick = kick

    def _call(self, what: str, path: str, args: dict[str, Any]) -> Any:
        try:
            return self.client.mutation(path, args)
        except ConvexUnavailable as exc:
            wait = self.settings.retry_after_s
            raise TeamAway(f"the team's Convex cannot be reached to {what}: {exc.message}",
                           hint=f"nothing was done that needs it; the run goes on by itself after {wait:g} s "
                                "(the schedule, or 'gitorch run --resume-due'), once Convex answers",
                           deferred_until=(utcnow() + timedelta(seconds=wait)).isoformat(timespec="seconds")) from exc

    # -- claims ------------------------------------------------------------------------------------

    def claim(self, run_id: str, holder: Holder, lease_s: float, *, take_over: Holder | None = None) -> Holder:
        args = {"runId": run_id, "holder": {"host": holder.host, "pid": holder.pid, "token": holder.token,
                                            "runner": holder.runner}, "leaseMs": lease_s * 1000}
        if take_over is not None:
            args["takeOver"] = take_over.token
        got = self._call(f"claim run {run_id}", "coordination:claim", args)
        return Holder(got["host"], int(got["pid"]), got["token"], got.get("runner", ""),
                      _time(got.get("since")), _time(got.get("expiresAt")))

    def renew(self, run_id: str, holder: Holder, lease_s: float) -> bool:
        return bool(self._call(f"renew the claim on {run_id}", "coordination:renew",
                               {"runId": run_id, "token": holder.token, "leaseMs": lease_s * 1000}))

    def release_claim(self, run_id: str, holder: Holder) -> None:
        self._call(f"release the claim on {run_id}", "coordination:releaseClaim",
                   {"runId": run_id, "token": holder.token})

    # -- the budget ------------------------------------------------------------------------------

    def reserve(self, reservation: Reservation, windows: list[SpendWindow]) -> Reserved:
        """Raises ``TeamAway`` while Convex is away: no call is made that the team's budget has not seen."""
        got = self._call("reserve a paid call against the team's budget", "coordination:reserve", {
            "reservationId": reservation.id, "model": reservation.model, "usd": reservation.usd,
            "runner": self.store.runner,
            "expiresInMs": (reservation.expires_at - reservation.created_at).total_seconds() * 1000,
            "windows": [{"scope": w.scope, "limitUsd": w.limit_usd, "total": total_key(w),
                         **({"runId": w.run_id} if w.run_id else {})} for w in windows],
            **({"runId": reservation.run_id} if reservation.run_id else {})})
        return Reserved(bool(got["granted"]), [float(c) for c in got["committedUsd"]])

    def settle(self, reservation: Reservation | None, metric: Metric) -> None:
        """The call's ledger row and its spend record, in one SQLite transaction; the outbox takes the
        spend to Convex, which settles the reservation (whenever Convex can be reached). A call made
        without a reservation (a builder priced after the fact) still adds what it cost."""
        if reservation is None and metric.cost_usd <= 0:
            self.store.record_metric(metric)
            return
        self.store.record_spend(metric, reservation.id if reservation else new_id("spend"), spend_totals(metric))
        if self.kick is not None:
            self.kick()

    def release(self, reservation: Reservation) -> None:
        try:
            self._call("release a reservation", "coordination:release", {"reservationId": reservation.id})
        except TeamAway as away:  # it lapses at its expiry
            log.warning("%s; it lapses by itself", away.message)

    def first_alert(self, key: str) -> bool:
        """Said once for the team; while Convex is away, said (twice rather than never)."""
        try:
            return bool(self.client.mutation("coordination:firstAlert", {"key": key, "runner": self.store.runner}))
        except GitorchError as exc:
            log.warning("the team could not be asked whether this budget alert is news (%s); it is sent", exc.message)
            return True

    # -- lessons -------------------------------------------------------------------------------------

    def lessons(self, repo: str, after_ms: float) -> list[tuple[float, dict[str, Any]]]:
        """Decisions of ``repo`` other runners got feedback on after ``after_ms``, oldest first, as
        (feedback time in ms, the decision as its runner sent it); empty while Convex is away."""
        try:
            found = self.client.query("coordination:lessons", {"repo": repo, "after": after_ms,
                                                               "runner": self.store.runner})
        except GitorchError as exc:  # away, or refused (functions not deployed): routing goes on
            log.warning("the team's lessons cannot be read now: %s", exc.message)
            return []
        return [(float(item["feedbackAt"]), dict(item["data"])) for item in found]

    def runs_due(self, now: datetime) -> list[Run]:
        """Runs any runner of the team paused, whose wait is over, or left going when it died (only
        ``id``, ``repo``, ``trigger`` and ``issue_number`` are known of them); none while Convex is away."""
        try:
            found = self.client.query("coordination:runsDue", {"now": now.timestamp() * 1000})
        except ConvexUnavailable as exc:
            log.warning("the team's runs due cannot be read now: %s", exc.message)
            return []
        return [Run(id=r["runId"], text="", trigger=r["trigger"], repo=r["repo"], status=RunStatus.PAUSED,
                    issue_number=int(r["issueNumber"]) if r.get("issueNumber") is not None else None) for r in found]

    def close(self) -> None:
        self.client.close()


def team_for(config: Any, store: Any, mirror: Any) -> ConvexTeam | None:
    """The team a runner belongs to: with CONVEX_URL and its key (then ``mirror`` is the outbox drain
    that carries spend records); None on a machine of its own."""
    if mirror is None:
        return None
    return ConvexTeam(store, config.convex, config.secrets.convex_admin_key.get_secret_value(), kick=mirror.kick)


def lessons_for(config: Any, store: Any) -> Callable[[str, float], list[tuple[float, dict[str, Any]]]] | None:
    """How a router reads the lessons its team's other runners were taught (``ConvexTeam.lessons``,
    one query, its client closed after): with CONVEX_URL and its key; None on a machine of its own."""
    key = config.secrets.convex_admin_key
    if not config.convex.url or key is None:
        return None

    def read(repo: str, after_ms: float) -> list[tuple[float, dict[str, Any]]]:
        team = ConvexTeam(store, config.convex, key.get_secret_value())
        try:
            return team.lessons(repo, after_ms)
        finally:
            team.close()

    return read


def _time(ms: Any) -> Any:
    from datetime import UTC, datetime

    return datetime.fromtimestamp(float(ms) / 1000, UTC) if ms is not None else None
