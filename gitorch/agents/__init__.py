"""Agents behind one small protocol, and the registry the pipeline asks for them.

The architect (Claude) plans and reviews; builders (``chatgpt-pro``, ``codex``, ``claude``) turn a
task into edits. Backends register a factory under their agent id; the pipeline never imports one.
Every result carries the ``Usage`` the call reported (or estimated), the model and the duration, and
the caller records it in the ledger.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from ..errors import GitorchError
from ..model import Edit, Plan, Review, Task, Usage


class AgentError(GitorchError):
    """An agent call failed. ``retryable`` says whether the same call may work if tried again;
    ``retry_after_s`` is a wait the service asked for; ``deferred_until`` (ISO time) means the
    run should pause and come back then rather than hold a runner."""

    retryable: bool = False

    def __init__(self, message: str, hint: str | None = None, *, agent: str = "", retry_after_s: float | None = None,
                 deferred_until: str | None = None, artifacts: dict[str, str] | None = None):
        super().__init__(message, hint)
        self.agent = agent
        self.retry_after_s = retry_after_s
        self.deferred_until = deferred_until
        self.artifacts = artifacts or {}  # name -> path of screenshots, page dumps, logs


class RetryableAgentError(AgentError):
    """Worth another attempt: rate limits, overload, network errors, time-outs."""

    retryable = True


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


@dataclass
class BuildResult:
    agent: str
    model: str
    edits: list[Edit]
    raw: str
    usage: Usage
    duration_s: float
    fallback: bool = False
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


class Builder(Protocol):
    id: str

    def build(self, task: Task, context: BuildContext) -> BuildResult: ...

    def close(self) -> None: ...


class Architect(Protocol):
    id: str

    def plan(self, task: str, repo_context: str) -> PlanResult: ...

    def review(self, plan: Plan | None, diff: str, artifacts: dict[str, str]) -> ReviewResult: ...


BuilderFactory = Callable[..., Builder]
_BUILDERS: dict[str, BuilderFactory] = {}


def register_builder(agent_id: str, factory: BuilderFactory) -> None:
    """Make a builder available under ``agent_id`` (idempotent)."""
    _BUILDERS[agent_id] = factory


def builder_ids() -> list[str]:
    _load_builtin()
    return sorted(_BUILDERS)


def get_builder(agent_id: str, **kwargs: Any) -> Builder:
    _load_builtin()
    try:
        factory = _BUILDERS[agent_id]
    except KeyError:
        raise GitorchError(f"no builder named '{agent_id}'",
                           hint=f"choose one of: {', '.join(sorted(_BUILDERS))}") from None
    return factory(**kwargs)


def _load_builtin() -> None:
    """Built-in backends register themselves on import, like a plugin would."""
    import importlib

    for module in ("claude", "browser", "codex"):
        try:
            importlib.import_module(f"{__name__}.{module}")
        except ModuleNotFoundError as exc:  # a backend not built yet, not a broken one
            if exc.name != f"{__name__}.{module}":
                raise
