"""The team's records, read from Convex, behind the store's read methods.

``dashboard:records`` (convex/dashboard.ts) returns every runner's runs, journal steps, artifacts
(without content), metrics, routing decisions and budget events of a period, each as the runner sent it. ``TeamStore`` holds
one such result and answers the read methods ``gitorch.stats`` and the dashboard use, so the team's
figures come from the same code as one machine's.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from .. import stats
from ..model import Artifact, Metric, RoutingDecision, Run, Usage, WorkflowStep, parse_iso

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
                  fallback=bool(data.get("fallback")), created_at=parse_iso(data["created_at"]))


def _decision(data: dict[str, Any]) -> RoutingDecision:
    fields = {k: data[k] for k in _DECISION_FIELDS if k in data}
    return RoutingDecision(
        id=data["decision_id"], task_types=dict(data.get("task_types") or {}), scores=dict(data.get("scores") or {}),
        workflow=[WorkflowStep(**w) for w in data.get("workflow") or []], estimates=dict(data.get("estimates") or {}),
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

    def journal(self, run_id: str) -> list[dict[str, Any]]:
        return list(self.steps.get(run_id, []))

    def artifacts(self, run_id: str, review_status: str | None = None) -> list[Artifact]:
        """Without their content (Convex keeps it apart; the dashboard shows none)."""
        return [a for a in self.files.get(run_id, []) if review_status is None or a.review_status == review_status]

    # -- the ledger ---------------------------------------------------------------------------------

    def metrics_since(self, since: datetime, until: datetime | None = None, run_id: str | None = None) -> list[Metric]:
        return [m for m in self.metrics
                if _within(m.created_at, since, until) and (run_id is None or m.run_id == run_id)]

    def metric_totals(self, since: datetime, until: datetime | None = None) -> list[dict[str, Any]]:
        totals: dict[tuple[str, str], dict[str, Any]] = {}
        for m in self.metrics_since(since, until):
            t = totals.setdefault((m.agent, m.model), {
                "agent": m.agent, "model": m.model, "calls": 0, "fallbacks": 0, "input_tokens": 0,
                "output_tokens": 0, "cache_creation_input_tokens": 0, "cache_read_input_tokens": 0,
                "cost_usd": 0.0, "baseline_cost_usd": 0.0, "duration_s": 0.0})
            t["calls"] += 1
            t["fallbacks"] += int(m.fallback)
            t["input_tokens"] += m.usage.input_tokens
            t["output_tokens"] += m.usage.output_tokens
            t["cache_creation_input_tokens"] += m.usage.cache_creation_input_tokens
            t["cache_read_input_tokens"] += m.usage.cache_read_input_tokens
            t["cost_usd"] += m.cost_usd
            t["baseline_cost_usd"] += m.baseline_cost_usd
            t["duration_s"] += m.duration_s
        return [totals[k] for k in sorted(totals)]

    def spent_usd(self, since: datetime | None = None, run_id: str | None = None,
                  until: datetime | None = None) -> float:
        return float(sum(m.cost_usd for m in self.metrics
                         if _within(m.created_at, since, until) and (run_id is None or m.run_id == run_id)))

    def budget_events(self, since: datetime | None = None, kind: str | None = None) -> list[dict[str, Any]]:
        return [e for e in self.events
                if _within(parse_iso(e["created_at"]), since, None) and (kind is None or e["kind"] == kind)]

    # -- routing ------------------------------------------------------------------------------------

    def decisions_since(self, since: datetime, until: datetime | None = None) -> list[RoutingDecision]:
        return [d for d in self.decisions if _within(d.created_at, since, until)]

    def recent_decisions(self, repo: str | None = None, limit: int = 50) -> list[RoutingDecision]:
        found = [d for d in reversed(self.decisions) if repo is None or d.repo == repo]
        return found[:limit]

    def decision_counts(self, since: datetime, until: datetime | None = None) -> dict[str, int]:
        found = self.decisions_since(since, until)
        judged = [d for d in found if stats.has_feedback(d)]
        overrides = sum(1 for d in found if stats.overridden(d))
        return {"decisions": len(found), "with_feedback": len(judged), "overrides": overrides,
                "accepted": sum(1 for d in judged if not stats.overridden(d))}
