"""What a run is asked, what it is made of, and the state of one drive of it.

A ``RunState`` is made each time a run is driven (started, resumed, reworked) and dropped after, so
nothing of one run reaches another: the budget alerts said while driving run A are never posted in
run B's comment, even when one process resumes both.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

from ..errors import GitorchError
from ..model import (
    Holder,
    Plan,
    Review,
    RoutingDecision,
    Run,
    RunStatus,
    StepKey,
    StepKind,
    TaskSpec,
    Verification,
    utcnow,
)
from ..ports import Architect, Builder, Claims, GitHub, GitRepo, Progress, Router, Silent, Store
from .lease import Lease
from .ledger import Ledger


@dataclass
class RunRequest:
    """What a person asked for, from any trigger."""

    text: str
    title: str = ""
    trigger: str = "cli"  # cli, issue, comment, task_md, hook, action
    agent: str | None = None  # a person chose the builder (--agent, /gitorch override, @agent hint)
    issue_number: int | None = None
    base: str = "HEAD"
    tasks: list[TaskSpec] = field(default_factory=list)  # TASK.md items
    task_file: str | None = None  # the file they came from, ticked off on the run's branch at the end
    confirmed: bool = False  # /gitorch proceed, --yes
    requested_by: str | None = None
    decision_id: str | None = None  # routed already (the Action posts the suggestion first)
    plan_approved: bool = False  # /gitorch proceed on a plan that waits for approval
    plan_only: bool = False  # /gitorch plan: stop after the plan until a person approves it

    @classmethod
    def from_journal(cls, data: Mapping[str, Any]) -> RunRequest:
        """The request as the journal's ``request`` step keeps it."""
        fields = dict(data)
        fields["tasks"] = [t if isinstance(t, TaskSpec) else TaskSpec(**t) for t in fields.get("tasks", [])]
        if fields["tasks"] and fields.get("trigger") == "task_md":
            fields.setdefault("task_file", "TASK.md")  # recorded before the request named its file
        return cls(**fields)

    def as_journal(self) -> dict[str, Any]:
        return asdict(self)

    @property
    def from_github(self) -> bool:
        """Started by an event on GitHub (its runs talk back there), not on this machine."""
        return bool(self.requested_by)

    @property
    def headline(self) -> str:
        return (self.title or self.text.strip().splitlines()[0] if self.text.strip() else "task")[:80]


class Paused(GitorchError):
    """The run stopped on purpose and can be resumed (confirmation, plan approval, budget, a wait).
    ``resume_after`` (ISO time) says when it may go on by itself."""

    def __init__(self, status: RunStatus, message: str, hint: str | None = None, resume_after: str | None = None):
        super().__init__(message, hint)
        self.status = status
        self.resume_after = resume_after


@dataclass
class RunResult:
    run: Run
    decision: RoutingDecision | None = None
    plan: Plan | None = None
    reviews: list[Review] = field(default_factory=list)
    commits: list[str] = field(default_factory=list)
    cost_usd: float = 0.0
    baseline_cost_usd: float = 0.0
    answer: str | None = None
    message: str = ""
    alerts: list[str] = field(default_factory=list)
    verify: Verification | None = None
    held_by: Holder | None = None  # another process drives the run: this one did nothing


@dataclass
class Parts:
    """What a run talks to, each behind its port."""

    store: Store
    router: Router
    architect: Architect
    builders: Mapping[str, Builder]
    repo: GitRepo
    ledger: Ledger
    claims: Claims  # who drives which run: this machine's store, or the team's Convex
    github: GitHub | None = None
    # asks a person about a routing decision: ("proceed" | "override" | "cancel", agent or None)
    confirm: Callable[[RoutingDecision], tuple[str, str | None]] | None = None
    progress: Progress = field(default_factory=Silent)
    # (decision, stage, plan, note) -> the body of the run's one comment on the issue
    render_comment: Callable[..., str] | None = None
    sleep: Callable[[float], None] = time.sleep


class RunState:
    """One drive of one run: the configuration, the parts, the run and its request, and what this
    drive has said so far. Every step goes through ``step``, which writes the journal."""

    def __init__(self, config: Any, parts: Parts, run: Run, request: RunRequest):
        self.config = config
        self.parts = parts
        self.store = parts.store
        self.run = run
        self.request = request
        self.alerts: list[str] = []  # budget alerts of this drive, said where the run was asked for
        self.lease: Lease | None = None  # the claim this drive holds on the run
        # The budget gate of this run's paid calls; what it raises is said where the run was asked for.
        self.gate = parts.ledger.gate(run.id, alerts=self.say_alerts)

    # -- the journal ------------------------------------------------------------------------------

    def begin(self, key: StepKey, detail: str = "") -> dict[str, Any] | None:
        """Record that a step starts; its result when it finished already. A drive that lost its
        claim on the run stops here, before acting again."""
        if self.lease is not None:
            self.lease.check()
        done = self.store.journal_begin(self.run.id, key, {"detail": detail})
        if done is not None:
            self.parts.progress.step(key, "done", "already done")
        else:
            self.parts.progress.step(key, "start", detail)
        return done

    def finish(self, key: StepKey, result: dict[str, Any]) -> dict[str, Any]:
        self.store.journal_finish(self.run.id, key, result)
        self.parts.progress.step(key, "done", result.get("summary", ""))
        return result

    def step(self, key: StepKey, action: Callable[[], dict[str, Any]], detail: str = "") -> dict[str, Any]:
        """Run ``action`` once: a finished step returns its recorded result without acting again."""
        done = self.begin(key, detail)
        if done is not None:
            return done
        return self.finish(key, action())

    def done(self, key: StepKey) -> dict[str, Any] | None:
        """The result of a finished step, else None."""
        return self.store.journal_result(self.run.id, key)

    # -- the run's record ---------------------------------------------------------------------------

    def set_status(self, status: RunStatus, **fields: Any) -> None:
        self.run.status = RunStatus(status)
        for name, value in fields.items():
            setattr(self.run, name, value)
        self.run.updated_at = utcnow()
        self.store.save_run(self.run)

    @property
    def base(self) -> str:
        return self._start()["base"]

    @property
    def branch(self) -> str:
        return self._start()["branch"]

    def _start(self) -> dict[str, Any]:
        start = self.done(StepKey(StepKind.START))
        if start is None:
            raise GitorchError(f"run {self.run.id} has no branch yet", hint="start it again with 'gitorch run'")
        return start

    def decision(self) -> RoutingDecision | None:
        recorded = self.done(StepKey(StepKind.ROUTE)) or {}
        decision_id = recorded.get("decision_id") or self.request.decision_id
        return self.store.get_decision(decision_id) if decision_id else None

    def say_alerts(self, alerts: list[str]) -> None:
        """Keep budget alerts this drive raised (each once), to say them where the run was asked for."""
        for alert in alerts:
            if alert not in self.alerts:
                self.alerts.append(alert)
                self.parts.progress.step("budget", "alert", alert)
