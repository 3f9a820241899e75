"""Plain data that flows between gitorch's parts. No behaviour beyond small conveniences, no I/O."""

from __future__ import annotations

import uuid
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
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


@dataclass
class Run:
    id: str
    text: str
    trigger: str = "cli"  # cli, issue, comment, task_md, hook, action
    status: str = "started"  # started, planning, building, reviewing, done, failed, paused, cancelled
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
