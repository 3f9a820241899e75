"""The protocols the run sees. Adapters (``agents/``, ``git/``, ``github/``, ``store/``,
``routing/``) implement them; the run (``gitorch.run``) and the commands know nothing else of them.

Plain data crosses these ports as the types of ``gitorch.model``; an adapter's own types stay inside it.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any, Protocol

from .model import (
    Artifact,
    BuildContext,
    BuildResult,
    CommentInfo,
    CommitResult,
    Edit,
    Holder,
    InlineComment,
    IssueInfo,
    LabelEvent,
    Metric,
    Plan,
    PlanResult,
    PullInfo,
    PushResult,
    RangeDiff,
    Reservation,
    Reserved,
    Review,
    ReviewPosted,
    ReviewResult,
    RoutingDecision,
    Run,
    SpendWindow,
    StepKey,
    Task,
    Verification,
)

# -- agents ----------------------------------------------------------------------------------------


class Builder(Protocol):
    """Turns a task into edits. Raises ``AgentError`` when the call fails and ``UnusableAnswer``
    (carrying the call, whose tokens were spent) when its answer cannot be used."""

    id: str

    def build(self, task: Task, context: BuildContext) -> BuildResult: ...

    def close(self) -> None: ...


class Architect(Protocol):
    """Claude as the architect: plans a task, reviews a change."""

    id: str

    def plan(self, task: str, repo_context: str, *, model: str | None = None) -> PlanResult:
        """On ``model`` (the ladder's choice), else ``models.plan``."""
        ...

    def review(self, plan: Plan | None, diff: str, artifacts: dict[str, str | None], *,
               repo_context: str | None = None, model: str | None = None) -> ReviewResult:
        """Without ``repo_context``, the repository as the last plan read it (one prompt cache). On
        ``model`` (the ladder's choice), else ``models.review``."""
        ...

    def count_tokens(self, text: str, model: str | None = None) -> int: ...


class Router(Protocol):
    """Suggests the task type and the agent for a text, and learns from what happened."""

    def route(self, text: str, *, record: bool = True) -> RoutingDecision: ...

    def feedback(self, decision_id: str, *, override_agent: str | None = None,
                 override_task_type: str | None = None, agent_used: str | None = None,
                 outcome: str | None = None) -> RoutingDecision: ...


# -- the repository ----------------------------------------------------------------------------------


class GitRepo(Protocol):
    """The repository a run works on: read at a commit, commit artifacts to a branch without a
    checkout, push and fetch run branches, check edits against the tree, run the test command."""

    path: Any  # the working tree's root (a Path)
    key: str  # owner/name from the origin remote (else the folder's name)

    def resolve(self, rev: str) -> str: ...

    def branch_for(self, run_id: str, title: str) -> str:
        """The run's branch name (prefix from the configuration)."""
        ...

    def branch_tip(self, branch: str) -> str | None: ...

    def read_files(self, rev: str, paths: list[str]) -> dict[str, str | None]: ...

    def read_file(self, rev: str, path: str) -> str | None: ...

    def diff(self, since: str, head: str) -> RangeDiff: ...

    def commit(self, *, branch: str, parent: str, artifacts: Mapping[str, str | None], description: str,
               run_id: str, task_id: str, agent: str) -> CommitResult:
        """Raises ``ConflictError`` when the branch moved and the change conflicts."""
        ...

    def tick_tasks(self, *, branch: str, task_file: str, task_ids: list[str], run_id: str) -> CommitResult | None:
        """Tick off the items of ``task_file`` that asked for the run, in one commit on its branch."""
        ...

    def fetch_branch(self, branch: str) -> str | None:
        """Bring ``branch`` up to date with the remote; its tip there (None: not on the remote)."""
        ...

    def remote_branch(self, prefix: str) -> str | None:
        """The branch on the remote whose name starts with ``prefix``, if there is one."""
        ...

    def task_commits(self, branch: str, run_id: str, base: str) -> list[tuple[str, str, str]]:
        """The run's task commits on ``branch`` since ``base``, oldest first: (task id, agent, commit)."""
        ...

    def push_branch(self, branch: str) -> PushResult: ...

    def apply_edits(self, edits: list[Edit], files: Mapping[str, str]) -> dict[str, str | None]:
        """The new contents the edits give, checked against the repository's tree (paths, symlinks,
        sizes); raises ``UnusableAnswer`` when they cannot be applied."""
        ...

    def context(self, task: str, commit: str) -> str:
        """What the architect reads of the repository for ``task``, under the plan's token budget."""
        ...

    def verify(self, commit: str, command: str, timeout_s: float) -> Verification:
        """Run the repository's test command on ``commit`` in a scratch tree (never the person's),
        with an environment that holds no credential."""
        ...


# -- GitHub ------------------------------------------------------------------------------------------


class GitHub(Protocol):
    """One repository on GitHub, as the run and the commands use it. Everything gitorch writes
    carries a hidden marker, so it is found again and edited, never posted twice."""

    repo: str  # owner/name

    def default_branch(self) -> str: ...

    def get_issue(self, number: int) -> IssueInfo: ...

    def get_pull(self, number: int) -> PullInfo: ...

    def permission(self, login: str) -> str:
        """admin, maintain, write, triage, read or none."""
        ...

    def read_config_from_default_branch(self, path: str = ".gitorch.yml") -> str | None:
        """The config file's text on the default branch (never a PR head); None when absent."""
        ...

    def comments(self, issue: int) -> list[CommentInfo]:
        """Every comment on ``issue`` (or pull request), oldest first, with who wrote it."""
        ...

    def review_comments(self, pr: int) -> list[CommentInfo]:
        """Every review comment on pull request ``pr`` (replies in threads too), oldest first."""
        ...

    def changes_requested(self, pr: int) -> list[CommentInfo]:
        """The reviews of pull request ``pr`` that request changes (their body as the text), oldest first."""
        ...

    def labels_added(self, issue: int) -> list[LabelEvent]:
        """Who added which label to ``issue`` and when, oldest first."""
        ...

    def find_comment(self, issue: int, key: str) -> CommentInfo | None:
        """gitorch's comment on ``issue`` marked ``key``, if there is one."""
        ...

    def post_or_update_comment(self, issue: int, key: str, body: str) -> CommentInfo:
        """The one comment on ``issue`` marked ``key``: edited if it exists, else created."""
        ...

    def open_or_update_pr(self, branch: str, base: str, title: str, body: str, issue: int | None) -> PullInfo:
        """The open PR from ``branch``: updated if it exists, else opened (linking ``issue``)."""
        ...

    def post_review(self, pr: int, head_sha: str, verdict: str, summary: str,
                    comments: list[InlineComment]) -> ReviewPosted:
        """Claude's review on ``head_sha``, at most one per head commit, plus the status."""
        ...

    def last_reviewed_sha(self, pr: int) -> str | None:
        """The head commit gitorch reviewed last, so a new round reviews only what came after."""
        ...

    def find_pr(self, branch: str) -> PullInfo | None:
        """The pull request from ``branch``, open or closed (the newest), with its body."""
        ...

    def posted_reviews(self, pr: int) -> list[tuple[str, str]]:
        """gitorch's reviews on ``pr``, oldest first, as (head commit, body)."""
        ...

    def set_status(self, sha: str, state: str, description: str, context: str = "gitorch/review",
                   target_url: str | None = None) -> None: ...

    def set_run_label(self, issue: int, stage: str) -> None:
        """Show where a run is: the one ``gitorch:<stage>`` label, the others removed."""
        ...

    def reply_to_review_comment(self, pr: int, comment_id: int, key: str, body: str) -> CommentInfo | None:
        """Answer in the thread of a review comment (once per ``key``); None when the comment was
        deleted, so there is no thread to answer in."""
        ...


# -- the store, by aggregate -------------------------------------------------------------------------


class Journal(Protocol):
    """One row per step of a run, written before and after its side effect."""

    def journal_begin(self, run_id: str, key: str | StepKey, data: dict[str, Any] | None = None) -> dict[str, Any] | None:
        """Record that step ``key`` starts. Returns the finished result if it already finished."""
        ...

    def journal_finish(self, run_id: str, key: str | StepKey, result: dict[str, Any]) -> None: ...

    def journal_result(self, run_id: str, key: str | StepKey) -> dict[str, Any] | None:
        """The result of step ``key`` if it finished, else None."""
        ...

    def journal(self, run_id: str) -> list[dict[str, Any]]:
        """The run's rows in the order they started: {"key", "status", "attempts", "data", "result",
        "started_at", "finished_at"}. ``JournalEntry.from_row`` reads a run's step from one."""
        ...


class Ledger(Protocol):
    """Every model call's row, the spending it adds up to and the budget's events."""

    def record_metric(self, metric: Metric) -> None: ...

    def metrics_since(self, since: datetime, until: datetime | None = None,
                      run_id: str | None = None) -> list[Metric]:
        """Oldest first."""
        ...

    def run_metrics(self, run_id: str) -> list[Metric]:
        """Every metric of one run, oldest first, however old."""
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
                  until: datetime | None = None) -> float: ...

    def record_budget_event(self, kind: str, scope: str, message: str, run_id: str | None = None,
                            period: str | None = None) -> bool:
        """``kind`` is "alert" or "paused"; with ``period`` the event is recorded once (False if it
        was there already)."""
        ...

    def budget_events(self, since: datetime | None = None, kind: str | None = None) -> list[dict[str, Any]]: ...


class Budget(Protocol):
    """Where paid calls are held against the limits before they are made: this machine's store, or
    the team's (Convex) so that one monthly limit holds across runners."""

    def reserve(self, reservation: Reservation, windows: list[SpendWindow]) -> Reserved:
        """Hold ``reservation`` against every window in one transaction; granted only when each
        window's spending, what calls in flight hold, and this one stay within its limit."""
        ...

    def settle(self, reservation: Reservation | None, metric: Metric) -> None:
        """The call is made: its ledger row replaces its reservation (None: a call that needed none,
        a builder priced after the fact; its cost still counts)."""
        ...

    def release(self, reservation: Reservation) -> None:
        """The call was not made, or failed without an answer."""
        ...

    def first_alert(self, key: str) -> bool:
        """Whether a budget alert (``key``: kind, scope, period, threshold) that this machine records
        for the first time is news to everyone who shares this budget: always on a machine of its
        own, once for the whole team."""
        ...


class Claims(Protocol):
    """One process drives a run at a time: it claims the run, renews the claim while it works and
    releases it at the end; a claim whose holder died lapses at its expiry."""

    def claim(self, run_id: str, holder: Holder, lease_s: float, *, take_over: Holder | None = None) -> Holder:
        """Take (or renew) the claim; returns who holds the run now: ``holder``, or another live one.
        ``take_over`` names a holder known to be dead, whose claim is taken at once."""
        ...

    def renew(self, run_id: str, holder: Holder, lease_s: float) -> bool:
        """False when the claim is no longer ``holder``'s."""
        ...

    def release_claim(self, run_id: str, holder: Holder) -> None: ...

    def runs_due(self, now: datetime) -> list[Run]:
        """Runs to continue now, the longest waiting first: paused runs whose wait is over, and runs
        left going by a process that died (no live claim). For a team: every runner's."""
        ...


class Outbox(Protocol):
    """What waits to be sent to Convex. A row: {"id", "table", "key", "version", "runner",
    "payload", "created_at", "attempts", "last_error"}; a newer version of a record replaces its
    unsent row. A row Convex refuses ``park_after`` times is parked until unparked."""

    def outbox_pending(self, limit: int = 100) -> list[dict[str, Any]]: ...

    def outbox_count(self) -> int: ...

    def outbox_mark_sent(self, ids: list[int]) -> None: ...

    def outbox_mark_failed(self, ids: list[int], error: str) -> None: ...

    def outbox_mark_refused(self, ids: list[int], error: str, park_after: int) -> int: ...

    def outbox_parked(self, limit: int = 100) -> list[dict[str, Any]]: ...

    def outbox_parked_count(self) -> int: ...

    def outbox_unpark(self) -> int: ...


class Records(Protocol):
    """Runs, plans, artifacts, reviews and routing decisions."""

    def save_run(self, run: Run) -> None: ...

    def get_run(self, run_id: str) -> Run | None: ...

    def runs_due(self, now: datetime) -> list[Run]:
        """Paused runs whose ``resume_after`` is at or before ``now``, the longest waiting first."""
        ...

    def list_runs(self, limit: int = 50) -> list[Run]: ...

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

    def record_decision(self, decision: RoutingDecision) -> None: ...

    def record_decisions(self, decisions: list[RoutingDecision]) -> None: ...

    def get_decision(self, decision_id: str) -> RoutingDecision | None: ...

    def record_feedback(self, decision_id: str, *, override_agent: str | None = None,
                        override_task_type: str | None = None, agent_used: str | None = None,
                        outcome: str | None = None) -> RoutingDecision: ...

    def recent_decisions(self, repo: str | None = None, limit: int = 50) -> list[RoutingDecision]: ...

    def judged_decisions(self, repo: str, limit: int = 500) -> list[RoutingDecision]:
        """This repository's newest ``limit`` decisions with feedback, newest first."""
        ...

    def decisions_since(self, since: datetime, until: datetime | None = None) -> list[RoutingDecision]: ...

    def decision_counts(self, since: datetime, until: datetime | None = None) -> dict[str, int]: ...

    def decision_for_run(self, run_id: str) -> RoutingDecision | None:
        """The newest decision recorded for that run, or None (whatever its age). Raises
        GitorchError for an empty run id."""
        ...

    def decision_counts_by_day(self, since: datetime, until: datetime | None = None) -> list[dict[str, Any]]:
        """``decision_counts`` per UTC day that has a decision, oldest first, each with its ``day``
        (``YYYY-MM-DD``) (for the weekly routing accuracy)."""
        ...

    def load_router_state(self, repo: str) -> bytes | None: ...

    def save_router_state(self, repo: str, state: bytes) -> None: ...

    def update_router_state(self, repo: str, change: Callable[[bytes | None], bytes]) -> None:
        """``change`` maps the stored state to the new one, in one transaction."""
        ...


class Store(Journal, Ledger, Budget, Claims, Outbox, Records, Protocol):
    """Everything gitorch keeps: SQLite on the machine (``store.sqlite``), mirrored to Convex."""

    runner: str  # this state folder's own id: the records it writes carry it

    def close(self) -> None: ...


# -- what the person sees ----------------------------------------------------------------------------


class Progress(Protocol):
    """Told about each step as it starts and ends (the terminal's spinner, the session's lines)."""

    def step(self, key: StepKey | str, status: str, detail: str = "") -> None: ...


class Silent:
    """A Progress that shows nothing."""

    def step(self, key: StepKey | str, status: str, detail: str = "") -> None:
        pass
