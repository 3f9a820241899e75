"""Plain data that flows between gitorch's parts. No behaviour beyond small conveniences, no I/O."""

from __future__ import annotations

import re
import uuid
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any, Literal

# Agent ids, as the command line, the config and the store spell them.
CLAUDE = "claude"
CHATGPT = "chatgpt-pro"
CODEX = "codex"
AGENTS: tuple[str, ...] = (CLAUDE, CHATGPT, CODEX)
BUILDERS: tuple[str, ...] = (CHATGPT, CODEX, CLAUDE)

# Task types the router predicts. `review` exists in the original design's keyword baseline.
TASK_TYPES: tuple[str, ...] = ("planning", "code_generation", "debugging", "refactoring", "review")

TaskType = Literal["planning", "code_generation", "debugging", "refactoring", "review"]
Outcome = Literal["success", "failure"]


def new_id(prefix: str = "") -> str:
    """A short random id, optionally prefixed (``run-3f9a1c2e``)."""
    short = uuid.uuid4().hex[:10]
    return f"{prefix}-{short}" if prefix else short


def utcnow() -> datetime:
    return datetime.now(UTC)


def iso(value: datetime | None) -> str | None:
    """A datetime as ISO UTC text; naive datetimes are taken to be UTC."""
    if value is None:
        return None
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.astimezone(UTC).isoformat(timespec="microseconds")


def parse_iso(text: str | None) -> datetime | None:
    """ISO text back to an aware datetime (naive text is taken to be UTC); None stays None."""
    if text is None:
        return None
    value = datetime.fromisoformat(text)
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def to_dict(obj: Any) -> dict[str, Any]:
    """A dataclass as plain JSON-ready data."""
    return asdict(obj)


@dataclass
class Usage:
    """Tokens one model call used. ``estimated`` is true when counted from text, not reported by an API."""

    input_tokens: int = 0
    output_tokens: int = 0
    cache_creation_input_tokens: int = 0
    cache_read_input_tokens: int = 0
    estimated: bool = False

    @property
    def total_input_tokens(self) -> int:
        return self.input_tokens + self.cache_creation_input_tokens + self.cache_read_input_tokens

    @property
    def total_tokens(self) -> int:
        return self.total_input_tokens + self.output_tokens

    def __add__(self, other: Usage) -> Usage:
        return Usage(
            self.input_tokens + other.input_tokens,
            self.output_tokens + other.output_tokens,
            self.cache_creation_input_tokens + other.cache_creation_input_tokens,
            self.cache_read_input_tokens + other.cache_read_input_tokens,
            self.estimated or other.estimated,
        )


@dataclass
class Metric:
    """One agent call, as the ledger records it. ``cost_usd`` is what was spent at the margin;
    ``baseline_cost_usd`` what the same tokens would have cost done by Claude alone."""

    agent: str
    model: str
    usage: Usage
    cost_usd: float
    baseline_cost_usd: float
    duration_s: float = 0.0
    task_type: str | None = None
    run_id: str | None = None
    step: str | None = None
    fallback: bool = False
    created_at: datetime = field(default_factory=utcnow)
    reason: str | None = None  # why this model: the architect's ladder rung, or None


@dataclass
class WorkflowStep:
    agent: str
    step: str  # "plan", "build", "review"
    confidence: float


@dataclass
class RoutingDecision:
    """What the router suggested for a text, and later what happened."""

    id: str
    text: str
    task_type: str
    task_types: dict[str, float]  # probability per task type
    agent: str
    confidence: float
    scores: dict[str, float]  # 0..100 per agent
    reasoning: str
    workflow: list[WorkflowStep]
    estimated_cost_usd: float
    estimated_saving_usd: float
    strategy: str = "learned"
    estimates: dict[str, int] = field(default_factory=dict)  # context_tokens, output_tokens, lines
    manual: bool = False  # the router asks a person before acting
    repo: str = ""
    run_id: str | None = None
    created_at: datetime = field(default_factory=utcnow)
    # what the shadow strategies (``routing.shadow``) would have suggested: name -> agent, task_type, confidence
    shadows: dict[str, dict[str, Any]] = field(default_factory=dict)
    # filled in by feedback
    override_agent: str | None = None
    override_task_type: str | None = None
    agent_used: str | None = None
    outcome: str | None = None

    def as_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["decision_id"] = data.pop("id")
        data["created_at"] = self.created_at.isoformat()
        return data


@dataclass
class Task:
    """One unit of work in a plan."""

    id: str
    description: str
    files: list[str] = field(default_factory=list)
    assigned_to: str = CHATGPT
    depends_on: list[str] = field(default_factory=list)
    estimated_lines: int = 0
    task_type: str = "code_generation"
    status: str = "pending"  # pending, building, built, approved, rejected, failed, skipped


@dataclass
class Plan:
    summary: str
    tasks: list[Task]
    id: str = field(default_factory=lambda: new_id("plan"))
    run_id: str | None = None
    created_at: datetime = field(default_factory=utcnow)


@dataclass
class Edit:
    """A change to one file as the builder proposed it. ``content`` is the whole new file;
    ``search``/``replace`` a change inside it; ``delete`` removes the file."""

    path: str
    content: str | None = None
    search: str | None = None
    replace: str | None = None
    delete: bool = False


@dataclass
class Artifact:
    """A file as produced for a task: the content that lands in the commit (None: deleted)."""

    path: str
    content: str | None
    task_id: str
    agent: str
    run_id: str | None = None
    review_status: str = "pending"  # pending, approved, rejected
    notes: str = ""
    id: str = field(default_factory=lambda: new_id("art"))


@dataclass
class InlineComment:
    path: str
    line: int
    body: str
    side: str = "RIGHT"


@dataclass
class Verdict:
    path: str
    approved: bool
    notes: str = ""


@dataclass
class Review:
    verdict: Literal["approve", "reject"]
    summary: str
    artifacts: list[Verdict] = field(default_factory=list)
    comments: list[InlineComment] = field(default_factory=list)
    fix_tasks: list[Task] = field(default_factory=list)
    round: int = 1
    confidence: float | None = None  # the reviewer's own, 0 to 1; None: not said


class RunStatus(StrEnum):
    """Where a run is. The store keeps the value as text; a StrEnum compares equal to it."""

    STARTED = "started"
    PLANNING = "planning"
    BUILDING = "building"
    REVIEWING = "reviewing"
    AWAITING_CONFIRMATION = "awaiting_confirmation"  # the router was not sure: a person decides
    AWAITING_PLAN_APPROVAL = "awaiting_plan_approval"  # `/gitorch plan` or plan_approval: required
    AWAITING_RESOLUTION = "awaiting_resolution"  # a git conflict, with Claude's proposed resolution
    PAUSED = "paused"  # budget, usage cap, long retry-after: goes on by itself at resume_after
    DONE = "done"
    ANSWERED = "answered"  # the plan was an answer, no code
    FAILED = "failed"
    CANCELLED = "cancelled"

    @property
    def terminal(self) -> bool:
        """Nothing more happens to the run (a failed run can still be resumed by a person)."""
        return self in (RunStatus.DONE, RunStatus.ANSWERED, RunStatus.CANCELLED)

    @property
    def finished(self) -> bool:
        """The run is over for now: what the dashboard shows as not going."""
        return self.terminal or self is RunStatus.FAILED

    @property
    def going(self) -> bool:
        """A process is (or was, until it died) driving the run."""
        return self in (RunStatus.STARTED, RunStatus.PLANNING, RunStatus.BUILDING, RunStatus.REVIEWING)

    @property
    def waiting(self) -> bool:
        """Stopped on purpose until a person, a clock or a budget lets it go on."""
        return self in (RunStatus.AWAITING_CONFIRMATION, RunStatus.AWAITING_PLAN_APPROVAL,
                        RunStatus.AWAITING_RESOLUTION, RunStatus.PAUSED)


@dataclass
class Run:
    id: str
    text: str
    trigger: str = "cli"  # cli, issue, comment, task_md, hook, action
    status: RunStatus = RunStatus.STARTED
    repo: str = ""
    branch: str | None = None
    pr_number: int | None = None
    issue_number: int | None = None
    verdict: str | None = None
    rounds: int = 0
    created_at: datetime = field(default_factory=utcnow)
    updated_at: datetime = field(default_factory=utcnow)
    # A paused run that may go on by itself from this time (a usage cap resets, a budget period
    # begins): `gitorch run --resume-due` and the workflow's schedule resume it then.
    resume_after: datetime | None = None

    def __post_init__(self) -> None:
        self.status = RunStatus(self.status)


# -- the run's journal: one key per step -------------------------------------------------------------


class StepKind(StrEnum):
    """The kinds of step a run's journal records, in the order a run meets them."""

    REQUEST = "request"
    START = "start"
    ROUTE = "route"
    CONFIRM = "confirm"
    PLAN = "plan"
    PLAN_APPROVED = "plan_approved"
    ANSWER = "answer"
    REWORK = "rework"
    BUILD = "build"
    COMMIT = "commit"
    RESOLVE = "resolve"  # Claude's proposed resolution of a conflicting commit
    APPROVED = "approved"  # a person approved that resolution
    PUSH = "push"
    PR = "pr"
    VERIFY = "verify"
    REVIEW = "review"
    POST_REVIEW = "post_review"
    TICK = "tick"
    FINISH = "finish"


# Steps that belong to a round (``build:r1:t2``, ``review:r2``); the others belong to the run.
_ROUND_KINDS = frozenset({StepKind.BUILD, StepKind.COMMIT, StepKind.RESOLVE, StepKind.APPROVED, StepKind.PUSH,
                          StepKind.VERIFY, StepKind.REVIEW, StepKind.POST_REVIEW})
_TASK_KINDS = frozenset({StepKind.BUILD, StepKind.COMMIT, StepKind.RESOLVE, StepKind.APPROVED})
_LABELS = {StepKind.START: "branch", StepKind.PLAN_APPROVED: "plan approved", StepKind.PR: "pull request",
           StepKind.POST_REVIEW: "post review", StepKind.RESOLVE: "resolution of", StepKind.APPROVED: "approved",
           StepKind.TICK: "tick TASK.md"}
_KEY = re.compile(r"^(?P<kind>[a-z_]+)(?::(?:commit:)?r(?P<round>\d+|tick)(?::(?P<task>.+))?|:(?P<tag>.+))?$")


@dataclass(frozen=True)
class StepKey:
    """The key of one journal step. Written as text in the journal (``build:r1:t2``,
    ``resolve:commit:r1:t2``, ``push:rtick``, ``rework:<comment>``); read back with ``parse``, so the
    dashboard and the terminal never take keys apart themselves."""

    kind: StepKind
    round: int | None = None
    task: str | None = None
    tag: str | None = None  # what a rework answers (a review comment), or "tick" for the TASK.md push

    def __str__(self) -> str:
        if self.kind in (StepKind.RESOLVE, StepKind.APPROVED):
            return f"{self.kind}:commit:r{self.round}:{self.task}"
        if self.kind in _ROUND_KINDS:
            where = "tick" if self.tag == "tick" else self.round
            return f"{self.kind}:r{where}" + (f":{self.task}" if self.task is not None else "")
        return f"{self.kind}:{self.tag}" if self.tag else str(self.kind)

    @classmethod
    def parse(cls, text: str) -> StepKey:
        match = _KEY.match(text)
        if match is None or match["kind"] not in StepKind.__members__.values():
            raise ValueError(f"not a journal step key: {text!r}")
        kind = StepKind(match["kind"])
        if match["round"] == "tick":
            return cls(kind, tag="tick")
        return cls(kind, int(match["round"]) if match["round"] else None, match["task"], match["tag"])

    @property
    def label(self) -> str:
        """How a person reads the step: "build t2", "pull request", "resolution of t2"."""
        label = _LABELS.get(self.kind, str(self.kind).replace("_", " "))
        return f"{label} {self.task}" if self.task else label

    def of_commit(self) -> StepKey:
        """The commit step a resolution or its approval belongs to."""
        return StepKey(StepKind.COMMIT, self.round, self.task)

    @property
    def is_task_step(self) -> bool:
        return self.kind in _TASK_KINDS


@dataclass
class JournalEntry:
    """One step of a run as the journal holds it."""

    key: StepKey
    finished: bool
    attempts: int = 1
    started_at: datetime | None = None
    finished_at: datetime | None = None
    data: dict[str, Any] = field(default_factory=dict)
    result: dict[str, Any] | None = None

    @property
    def seconds(self) -> float | None:
        if self.started_at is None or self.finished_at is None:
            return None
        return round((self.finished_at - self.started_at).total_seconds(), 1)

    @classmethod
    def from_row(cls, row: dict[str, Any]) -> JournalEntry:
        """A step from the store's journal row (its key parsed; times as datetimes)."""
        def when(value: Any) -> datetime | None:
            return value if isinstance(value, datetime) or value is None else parse_iso(str(value))

        result = row.get("result")
        return cls(key=StepKey.parse(row["key"]), finished=row.get("status") == "finished",
                   attempts=int(row.get("attempts") or 1), started_at=when(row.get("started_at")),
                   finished_at=when(row.get("finished_at")), data=row.get("data") or {},
                   result=result if isinstance(result, dict) else None)


# -- what a person asked for --------------------------------------------------------------------------


@dataclass
class TaskSpec:
    """A task a person wrote down (a TASK.md item): what to do, who should do it, what it waits for."""

    id: str
    description: str
    agent: str | None = None
    depends_on: list[str] = field(default_factory=list)


@dataclass
class Check:
    """One line of `gitorch doctor`: ``status`` ok, warn or fail; ``fix`` what to do about it."""

    name: str
    status: Literal["ok", "warn", "fail"]
    detail: str
    fix: str = ""


# -- GitHub, as gitorch sees it -----------------------------------------------------------------------


@dataclass
class IssueInfo:
    number: int
    title: str
    body: str
    state: str  # open, closed
    locked: bool
    labels: list[str]
    author: str
    is_pull: bool = False
    url: str = ""


@dataclass
class PullInfo:
    number: int
    head_ref: str
    head_sha: str
    base_ref: str
    state: str
    merged: bool = False
    author: str = ""
    url: str = ""
    created: bool = False  # opened by this call (not found)
    body: str = ""


@dataclass
class CommentInfo:
    id: int
    body: str
    author: str
    url: str = ""
    created: bool = False
    author_type: str = "User"  # "User", "Bot"
    association: str | None = None  # the author's author_association, where GitHub says it
    created_at: str = ""  # ISO time GitHub gives
    path: str | None = None  # a review comment's file and line
    line: int | None = None


@dataclass
class LabelEvent:
    """Someone added a label to an issue: who, which, when (GitHub's issue events)."""

    id: int
    label: str
    actor: str
    actor_type: str = "User"
    created_at: str = ""


@dataclass
class ReviewPosted:
    """What ``post_review`` did. ``event`` is what GitHub recorded (``COMMENT`` when the identity
    may not approve its own PR); the verdict stands in the ``gitorch/review`` status either way."""

    review_id: int
    event: str
    commit_id: str
    verdict: str
    inline: list[InlineComment] = field(default_factory=list)
    folded: list[InlineComment] = field(default_factory=list)  # not on the diff: in the body instead
    reused: bool = False  # this head commit was reviewed already; nothing new was posted
    url: str = ""


# -- what agents and the repository give back ----------------------------------------------------


@dataclass
class BuildContext:
    """What a builder is given for one task."""

    plan: Plan | None
    files: dict[str, str]  # path -> current content of the files the task touches or reads
    repo_map: str = ""
    instructions: str = ""  # extra words, e.g. the exact parse error of the previous answer
    run_id: str | None = None
    repo_root: str | None = None
    base_commit: str | None = None
    # On a second try: the edits of the first answer that were fine (the new answer redoes the rest).
    accepted: list[Edit] = field(default_factory=list)
    withheld: list[str] = field(default_factory=list)  # files the builder is told exist but not shown


@dataclass
class BuildCall:
    """One builder call made for a task (re-asks and failed builders too), for the ledger and reports."""

    agent: str
    model: str = ""
    usage: Usage = field(default_factory=Usage)
    duration_s: float = 0.0
    error: str | None = None  # why its answer could not be used, or why the call failed
    artifacts: dict[str, str] = field(default_factory=dict)  # screenshots and logs a failure left


@dataclass
class BuildResult:
    """A builder's answer. ``contents`` are the files it gives, checked against the repository
    (None: deleted); ``calls`` every call the task took; ``extra`` a builder's own diagnostics
    (Codex's commands and MCP calls, say), shown to people, never read by the run."""

    agent: str
    model: str
    edits: list[Edit]
    raw: str
    usage: Usage
    duration_s: float
    fallback: bool = False
    contents: dict[str, str | None] | None = None
    reasked: bool = False
    calls: list[BuildCall] = field(default_factory=list)
    failures: list[BuildCall] = field(default_factory=list)  # builders that failed before this one
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass
class PlanResult:
    plan: Plan
    usage: Usage
    model: str
    duration_s: float
    calls: int = 1


@dataclass
class ReviewResult:
    review: Review
    usage: Usage
    model: str
    duration_s: float
    calls: int = 1


@dataclass
class RangeDiff:
    """A branch against its base: ``base`` and ``head`` are full commit ids, ``diff`` the unified diff
    (renames detected), ``files`` the new content of every changed path (None: deleted or renamed
    away). Binary files appear in the diff and in ``binary`` but not in ``files``."""

    base: str
    head: str
    diff: str
    files: dict[str, str | None]
    renames: dict[str, str] = field(default_factory=dict)  # old path -> new path
    binary: list[str] = field(default_factory=list)


@dataclass
class CommitResult:
    """What ``commit_artifacts`` did. ``created`` is false when the artifacts were there already;
    ``rebased`` true when the branch had moved and the commit was replayed onto its new tip."""

    branch: str
    commit: str
    parent: str
    created: bool
    rebased: bool = False
    changed: list[str] = field(default_factory=list)


@dataclass
class PushResult:
    branch: str
    remote: str
    commit: str
    forced: bool = False
    up_to_date: bool = False


@dataclass
class Verification:
    """The repository's test command on one commit: its exit code and the end of its output."""

    command: str
    exit_code: int
    tail: str
    duration_s: float = 0.0

    @property
    def passed(self) -> bool:
        return self.exit_code == 0

    @property
    def summary(self) -> str:
        return f"{self.command.split()[0] if self.command.strip() else self.command} exited {self.exit_code}"


# -- one owner per run, one budget for the team -------------------------------------------------------


@dataclass
class Holder:
    """Who drives a run: the machine, the process, and a random token of this one drive; ``runner``
    is the state folder's own id (processes with the same one share a machine and a store). ``since``
    is when the claim was taken, ``expires_at`` when it lapses unless renewed."""

    host: str
    pid: int
    token: str
    runner: str = ""
    since: datetime | None = None
    expires_at: datetime | None = None

    def __str__(self) -> str:
        since = f" since {self.since:%Y-%m-%d %H:%M:%S} UTC" if self.since else ""
        return f"{self.host} (pid {self.pid}){since}"

    def same(self, other: Holder | None) -> bool:
        return other is not None and other.token == self.token


@dataclass(frozen=True)
class SpendWindow:
    """One budget limit a paid call is held against: spending in [since, until) (or by one run)
    plus what calls in flight have reserved, against ``limit_usd``."""

    scope: str  # month, day, run
    limit_usd: float
    since: datetime | None = None
    until: datetime | None = None
    run_id: str | None = None


@dataclass
class Reservation:
    """The estimated cost of a paid call, held against the limits until the call's usage settles it.
    One a crashed process left behind counts until ``expires_at``."""

    id: str
    usd: float
    model: str
    run_id: str | None
    created_at: datetime
    expires_at: datetime


@dataclass
class Reserved:
    """What a reservation found: whether it was granted, and per window what was committed before it
    (spent and reserved by calls in flight)."""

    granted: bool
    committed_usd: list[float]
    offline: bool = False  # made against this machine's allowance while the team's store was away
