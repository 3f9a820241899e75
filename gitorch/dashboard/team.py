"""The team's records, read from Convex, behind the store's read methods.

``dashboard:records`` (convex/dashboard.ts) returns every runner's runs, journal steps, artifacts
(without content), metrics, routing decisions and budget events of a period, each as the runner sent it. ``TeamStore`` holds
one such result and answers the read methods ``gitorch.stats`` and the dashboard use, so the team's
figures come from the same code as one machine's.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from .. import stats
from ..model import Artifact, Metric, RoutingDecision, Run, Usage, WorkflowStep, parse_iso
from ..store.values import NANO, PICO, check_pr_number, check_run_id, from_units, units

RECORDS_QUERY = "dashboard:records"

_RUN_FIELDS = ("id", "text", "trigger", "status", "repo", "branch", "pr_number", "issue_number", "verdict", "rounds")
_DECISION_FIELDS = ("text", "task_type", "agent", "confidence", "reasoning", "estimated_cost_usd",
                    "estimated_saving_usd", "strategy", "manual", "repo", "run_id", "override_agent",
                    "override_task_type", "agent_used", "outcome")


def _within(at: datetime, since: datetime | None, until: datetime | None) -> bool:
    return (since is None or at >= since) and (until is None or at < until)


def _run(data: dict[str, Any]) -> Run:
    fields = {k: data[k] for k in _RUN_FIELDS if data.get(k) is not None}
    return Run(**fields, created_at=parse_iso(data["created_at"]), updated_at=parse_iso(data["updated_at"]),
               resume_after=parse_iso(data.get("resume_after")))


def _metric(data: dict[str, Any]) -> Metric:
    u = data.get("usage") or {}
    usage = Usage(int(u.get("input_tokens", 0)), int(u.get("output_tokens", 0)),
                  int(u.get("cache_creation_input_tokens", 0)), int(u.get("cache_read_input_tokens", 0)),
                  bool(u.get("estimated", False)))
    return Metric(agent=data["agent"], model=data["model"], usage=usage, cost_usd=float(data["cost_usd"]),
                  baseline_cost_usd=float(data["baseline_cost_usd"]), duration_s=float(data.get("duration_s", 0)),
                  task_type=data.get("task_type"), run_id=data.get("run_id"), step=data.get("step"),
                  fallback=bool(data.get("fallback")), created_at=parse_iso(data["created_at"]),
                  reason=data.get("reason"))


def _decision(data: dict[str, Any]) -> RoutingDecision:
    fields = {k: data[k] for k in _DECISION_FIELDS if k in data}
    return RoutingDecision(
        id=data["decision_id"], task_types=dict(data.get("task_types") or {}), scores=dict(data.get("scores") or {}),
        workflow=[WorkflowStep(**w) for w in data.get("workflow") or []], estimates=dict(data.get("estimates") or {}),
        shadows={str(k): dict(v) for k, v in (data.get("shadows") or {}).items() if isinstance(v, dict)},
        created_at=parse_iso(data["created_at"]), **{"reasoning": "", "estimated_cost_usd": 0.0,
                                                     "estimated_saving_usd": 0.0, **fields})


class TeamStore:
    """One ``dashboard:records`` result as a read-only store. ``runners`` maps run ids to who ran them."""

    def __init__(self, records: dict[str, Any]):
        self.runners: dict[str, str] = {}
        self.runs: list[Run] = []
        for item in records.get("runs", []):
            run = _run(item["data"])
            self.runs.append(run)
            self.runners[run.id] = item["runner"]
        self.runs.sort(key=lambda r: r.created_at, reverse=True)
        self.steps: dict[str, list[dict[str, Any]]] = {}
        for item in records.get("journal", []):
            entry = item["data"]
            self.steps.setdefault(entry["run_id"], []).append(entry)
        for steps in self.steps.values():
            steps.sort(key=lambda e: e["started_at"])
        self.files: dict[str, list[Artifact]] = {}
        for item in records.get("artifacts", []):
            a = item["data"]
            self.files.setdefault(a.get("run_id") or "", []).append(Artifact(
                path=a["path"], content=None, task_id=a["task_id"], agent=a["agent"], run_id=a.get("run_id"),
                review_status=a.get("review_status", "pending"), notes=a.get("notes", ""), id=a["id"]))
        self.metrics = sorted((_metric(i["data"]) for i in records.get("metrics", [])), key=lambda m: m.created_at)
        self.decisions = sorted((_decision(i["data"]) for i in records.get("decisions", [])),
                                key=lambda d: d.created_at)
        self.events = sorted((dict(i["data"]) for i in records.get("budgetEvents", [])),
                             key=lambda e: e["created_at"])

    # -- runs ---------------------------------------------------------------------------------------

    def list_runs(self, limit: int = 50) -> list[Run]:
        return self.runs[:limit]

    def get_run(self, run_id: str) -> Run | None:
        return next((r for r in self.runs if r.id == run_id), None)

    def run_for_pr(self, pr_number: int, repo: str | None = None) -> Run | None:
        check_pr_number(pr_number)
        return next((r for r in self.runs if r.pr_number == pr_number and (repo is None or r.repo == repo)), None)

    def feature_totals(self, since: datetime, until: datetime | None = None) -> dict[str, Any]:
        done = [r for r in self.runs if stats.completed(r) and _within(r.updated_at, since, until)]
        micros = sum((r.updated_at - r.created_at) // timedelta(microseconds=1) for r in done)
        return {"features": len(done), "seconds": micros / 1_000_000}

    def review_counts(self, since: datetime, until: datetime | None = None) -> dict[str, dict[str, int]]:
        counts: dict[str, dict[str, int]] = {}
        for run in self.runs:
            if not _within(run.created_at, since, until):
                continue
            for a in self.files.get(run.id, []):
                if a.review_status in ("approved", "rejected"):
                    c = counts.setdefault(a.agent, {"reviewed": 0, "approved": 0})
                    c["reviewed"] += 1
                    c["approved"] += a.review_status == "approved"
        return dict(sorted(counts.items()))

    def journal(self, run_id: str) -> list[dict[str, Any]]:
        return list(self.steps.get(run_id, []))

    def artifacts(self, run_id: str, review_status: str | None = None) -> list[Artifact]:
        """Without their content (Convex keeps it apart; the dashboard shows none)."""
        return [a for a in self.files.get(run_id, []) if review_status is None or a.review_status == review_status]

    # -- the ledger ---------------------------------------------------------------------------------

    def metrics_since(self, since: datetime, until: datetime | None = None, run_id: str | None = None) -> list[Metric]:
        return [m for m in self.metrics
                if _within(m.created_at, since, until) and (run_id is None or m.run_id == run_id)]

    def run_metrics(self, run_id: str) -> list[Metric]:
        check_run_id(run_id)
        return [m for m in self.metrics if m.run_id == run_id]

    def run_costs(self, run_ids: list[str]) -> dict[str, dict[str, Any]]:
        found = {check_run_id(i): {"calls": 0, "cost_pico": 0, "baseline_pico": 0} for i in run_ids}
        for m in self.metrics:
            if m.run_id in found:
                _add_money(found[m.run_id], m)
        return {run_id: from_units(c) for run_id, c in found.items()}

    def metric_totals_by_day(self, since: datetime, until: datetime | None = None) -> list[dict[str, Any]]:
        totals: dict[tuple[str, str], dict[str, Any]] = {}
        for m in self.metrics_since(since, until):
            day = m.created_at.astimezone(UTC).date().isoformat()
            t = totals.setdefault((day, m.agent), {"day": day, "agent": m.agent, "calls": 0, "tokens": 0,
                                                    "cost_pico": 0, "baseline_pico": 0})
            t["tokens"] += m.usage.total_tokens
            _add_money(t, m)
        return [from_units(totals[k]) for k in sorted(totals)]

    def metric_totals(self, since: datetime, until: datetime | None = None) -> list[dict[str, Any]]:
        totals: dict[tuple[str, str, str], dict[str, Any]] = {}
        for m in self.metrics_since(since, until):
            t = totals.setdefault((m.agent, m.model, m.reason or ""), {
                "agent": m.agent, "model": m.model, "reason": m.reason or None, "calls": 0, "fallbacks": 0,
                "input_tokens": 0,
                "output_tokens": 0, "cache_creation_input_tokens": 0, "cache_read_input_tokens": 0,
                "cost_pico": 0, "baseline_pico": 0, "duration_ns": 0})
            t["fallbacks"] += int(m.fallback)
            t["input_tokens"] += m.usage.input_tokens
            t["output_tokens"] += m.usage.output_tokens
            t["cache_creation_input_tokens"] += m.usage.cache_creation_input_tokens
            t["cache_read_input_tokens"] += m.usage.cache_read_input_tokens
            t["duration_ns"] += units(m.duration_s, NANO)
            _add_money(t, m)
        return [from_units(totals[k]) for k in sorted(totals)]

    def spent_usd(self, since: datetime | None = None, run_id: str | None = None,
                  until: datetime | None = None) -> float:
        return sum(units(m.cost_usd, PICO) for m in self.metrics
                   if _within(m.created_at, since, until) and (run_id is None or m.run_id == run_id)) / PICO

    def budget_events(self, since: datetime | None = None, kind: str | None = None) -> list[dict[str, Any]]:
        return [e for e in self.events
                if _within(parse_iso(e["created_at"]), since, None) and (kind is None or e["kind"] == kind)]

    # -- routing ------------------------------------------------------------------------------------

    def decisions_since(self, since: datetime, until: datetime | None = None) -> list[RoutingDecision]:
        return [d for d in self.decisions if _within(d.created_at, since, until)]

    def recent_decisions(self, repo: str | None = None, limit: int = 50) -> list[RoutingDecision]:
        found = [d for d in reversed(self.decisions) if repo is None or d.repo == repo]
        return found[:limit]

    def decision_for_run(self, run_id: str) -> RoutingDecision | None:
        check_run_id(run_id)
        return next((d for d in reversed(self.decisions) if d.run_id == run_id), None)

    def decision_counts(self, since: datetime, until: datetime | None = None) -> dict[str, int]:
        return _counts(self.decisions_since(since, until))

    def decision_counts_by_day(self, since: datetime, until: datetime | None = None) -> list[dict[str, Any]]:
        days: dict[str, list[RoutingDecision]] = {}
        for d in self.decisions_since(since, until):
            days.setdefault(d.created_at.astimezone(UTC).date().isoformat(), []).append(d)
        return [{"day": day, **_counts(found)} for day, found in sorted(days.items())]


def _add_money(totals: dict[str, Any], m: Metric) -> None:
    """One more call in ``totals``, its money in whole units (as the SQLite store sums it)."""
    totals["calls"] += 1
    totals["cost_pico"] += units(m.cost_usd, PICO)
    totals["baseline_pico"] += units(m.baseline_cost_usd, PICO)


def _counts(found: list[RoutingDecision]) -> dict[str, int]:
    judged = [d for d in found if stats.has_feedback(d)]
    overrides = sum(1 for d in found if stats.overridden(d))
    return {"decisions": len(found), "with_feedback": len(judged), "overrides": overrides,
            "accepted": sum(1 for d in judged if not stats.overridden(d))}
