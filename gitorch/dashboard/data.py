"""What the page shows, as plain data: every figure from ``gitorch.stats`` (the one source of
numbers, shared with `gitorch stats --json` and the job summary), the active run's timeline from
its journal, the newest runs and routing decisions.

``snapshot`` works over any object with the store's read methods: the local ``SqliteStore`` or the
team's records read from Convex (``gitorch.dashboard.team.TeamStore``).
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any

from .. import alerts, cost, stats
from ..model import JournalEntry, StepKind, utcnow
from ..redact import redact

DAYS = 30
RUNS_SHOWN = 25
DECISIONS_SHOWN = 15

def _text(value: Any, secrets: list[str], limit: int = 160) -> str:
    text = redact(str(value or ""), secrets).strip()
    return text if len(text) <= limit else text[: limit - 1] + "…"


def step(entry: JournalEntry, secrets: list[str], round_no: int) -> dict[str, Any]:
    """One journal step as the timeline shows it: label, round, task, state, duration, summary."""
    summary = (entry.result or {}).get("summary") or entry.data.get("detail")
    return {
        "key": str(entry.key), "kind": str(entry.key.kind), "label": entry.key.label, "round": round_no,
        "task": entry.key.task, "fix": round_no > 1, "state": "done" if entry.finished else "running",
        "attempts": entry.attempts, "started_at": entry.started_at.isoformat() if entry.started_at else None,
        "finished_at": entry.finished_at.isoformat() if entry.finished_at else None,
        "seconds": entry.seconds, "summary": _text(summary, secrets),
    }


def timeline(store: Any, run: Any, secrets: list[str]) -> list[dict[str, Any]]:
    """The run's steps in the order they started ("request" is bookkeeping and left out). A step of
    no round that happens inside one (the pull request, opened after the first push) is shown in it."""
    steps, current = [], 0
    for row in store.journal(run.id):
        entry = JournalEntry.from_row(row)
        if entry.key.kind is StepKind.REQUEST:
            continue
        if entry.key.round is not None:
            current = entry.key.round
        elif entry.key.kind is not StepKind.PR:
            current = 0
        steps.append(step(entry, secrets, current))
    return steps


def active_run(runs: list[Any]) -> tuple[Any | None, bool]:
    """The newest run still going, else the newest run; and whether it is still going."""
    for run in runs:
        if not run.status.finished:  # still going, or waiting on a person
            return run, True
    return (runs[0], False) if runs else (None, False)


def pr_url(run: dict[str, Any], web_url: str) -> str | None:
    """A link to the run's pull request when the run names its GitHub repository (owner/name)."""
    if not run.get("pr_number") or not re.fullmatch(r"[\w.-]+/[\w.-]+", run.get("repo") or ""):
        return None
    return f"{web_url}/{run['repo']}/pull/{run['pr_number']}"


def web_url(api_url: str) -> str:
    """github.com for the public API, the server itself for GitHub Enterprise (``/api/v3``)."""
    if api_url.rstrip("/") == "https://api.github.com":
        return "https://github.com"
    return re.sub(r"/api/v3/?$", "", api_url.rstrip("/"))


def decision_row(d: Any, secrets: list[str]) -> dict[str, Any]:
    return {
        "id": d.id, "text": _text(d.text, secrets, 90), "task_type": d.task_type, "agent": d.agent,
        "confidence": round(d.confidence * 100) if d.confidence <= 1 else round(d.confidence),
        "override_agent": d.override_agent if d.override_agent not in (None, d.agent) else None,
        "override_task_type": d.override_task_type if d.override_task_type not in (None, d.task_type) else None,
        "overridden": stats.overridden(d), "outcome": d.outcome, "agent_used": d.agent_used,
        "created_at": d.created_at.isoformat(), "run_id": d.run_id,
    }


def snapshot(store: Any, config: Any, *, now: datetime | None = None, days: int = DAYS,
             runners: dict[str, str] | None = None) -> dict[str, Any]:
    """Everything on the page at ``now``. ``runners`` maps run ids to the runner that wrote them
    (team mode)."""
    now = now or utcnow()
    secrets = config.secrets.values()
    figures = stats.compute(store, config, days=days, now=now)
    over_time = stats.series(store, config, days=days, now=now)
    runs = stats.runs(store, limit=RUNS_SHOWN)
    link_base = web_url(config.github.api_url)
    for row in runs:
        row["text"] = _text(row["text"], secrets, 90)
        row["pr_url"] = pr_url(row, link_base)
        row["runner"] = (runners or {}).get(row["id"])
    run_objects = store.list_runs(limit=RUNS_SHOWN)
    current, going = active_run(run_objects)
    active = None
    if current is not None:
        steps = timeline(store, current, secrets)
        active = {"id": current.id, "text": _text(current.text, secrets, 200), "status": current.status,
                  "trigger": current.trigger, "rounds": current.rounds, "verdict": current.verdict,
                  "pr_number": current.pr_number, "going": going, "created_at": current.created_at.isoformat(),
                  "updated_at": current.updated_at.isoformat(), "steps": steps,
                  "runner": (runners or {}).get(current.id)}
    decisions = [decision_row(d, secrets) for d in store.recent_decisions(limit=DECISIONS_SHOWN)]
    return {
        "generated_at": now.isoformat(),
        "stats": figures,
        "series": over_time,
        "runs": runs,
        "active": active,
        "decisions": decisions,
        "alerts": alerts.notices(store.budget_events(since=cost.month_start(now)), secrets),
        "empty": not run_objects and not decisions and not figures["by_agent"],
    }
