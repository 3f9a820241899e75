"""The one error type gitorch raises on purpose.

Every expected failure is a ``GitorchError`` carrying a sentence that says what is wrong and a hint
that says how to fix it. ``cli.main`` prints both and exits 1; anything else is "unexpected".
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, Literal

if TYPE_CHECKING:
    from .model import BuildResult


class GitorchError(Exception):
    """An expected failure: ``message`` says what is wrong, ``hint`` how to fix it."""

    exit_code = 1

    def __init__(self, message: str, hint: str | None = None):
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        return self.message if not self.hint else f"{self.message}\nhint: {self.hint}"


def check_text(text: str, what: str) -> str:
    """``text`` when it is valid Unicode that can be written as UTF-8; else a GitorchError that names
    ``what`` and where (text decoded with errors escaped holds lone surrogates, which nothing can send)."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as exc:
        code = ord(text[exc.start])
        found = (f"the byte 0x{code - 0xDC00:02x}, which is not UTF-8," if 0xDC80 <= code <= 0xDCFF
                 else f"a lone surrogate U+{code:04X}")
        raise GitorchError(f"{what} holds {found} at character {exc.start + 1}",
                           hint="give the text as UTF-8 (check the encoding of the terminal or of the file "
                                "it came from)") from None
    return text


class ConfigError(GitorchError):
    """`.gitorch.yml` or an environment override is invalid."""


class BudgetExceeded(GitorchError):
    """A call would take spending over a limit; the run pauses instead of spending."""

    def __init__(self, message: str, hint: str | None = None, *, scope: str = "month", resume_at: str | None = None):
        super().__init__(message, hint)
        self.scope = scope
        self.resume_at = resume_at


AgentReason = Literal[
    "failed",  # the call failed for a reason of its own (the message says which)
    "unavailable",  # the agent cannot start here: Chromium or the codex binary missing, profile in use
    "session_expired",  # the saved login is gone: log in again
    "challenge",  # a human-verification page a person must pass
    "page_changed",  # the ChatGPT page no longer matches the selectors
    "usage_cap",  # the plan's usage cap: the run waits until it resets
    "spend_limit",  # the Anthropic account's credit or spend limit
    "rate_limited",  # too many requests: try again after a wait
    "network",  # the service could not be reached, or the stream broke off
    "server_error",  # the service failed (5xx)
    "timeout",  # no complete answer in time
]
# Reasons worth another attempt of the same call.
RETRYABLE_REASONS: frozenset[str] = frozenset({"rate_limited", "network", "server_error", "timeout"})


class ServiceError(GitorchError):
    """A call to an outside service failed. ``retryable`` says whether the same call may work if
    tried again (the one retry policy, ``gitorch.retry``, asks); ``retry_after_s`` is a wait the
    service asked for; ``deferred_until`` (ISO time) means the run should pause and come back then
    rather than hold a runner."""

    def __init__(self, message: str, hint: str | None = None, *, retryable: bool = False,
                 retry_after_s: float | None = None, deferred_until: str | None = None):
        super().__init__(message, hint)
        self.retryable = retryable
        self.retry_after_s = retry_after_s
        self.deferred_until = deferred_until


class TeamAway(ServiceError):
    """The team's Convex cannot be reached to claim a run or reserve a paid call: nothing that needs
    it is done, and the run waits until ``deferred_until`` (``convex.retry_after_s``)."""


class AgentError(ServiceError):
    """An agent call failed. ``reason`` says why in a word (``AgentReason``), which also decides
    whether it is worth another attempt; ``artifacts`` names the screenshots and logs kept for a person."""

    def __init__(self, message: str, hint: str | None = None, *, agent: str = "", reason: AgentReason = "failed",
                 retry_after_s: float | None = None, deferred_until: str | None = None,
                 artifacts: dict[str, str] | None = None):
        super().__init__(message, hint, retryable=reason in RETRYABLE_REASONS, retry_after_s=retry_after_s,
                         deferred_until=deferred_until)
        self.agent = agent
        self.reason = reason
        self.artifacts = artifacts or {}  # name -> path of screenshots, page dumps, logs


class UnusableAnswer(GitorchError):
    """A builder answered, but its answer cannot be turned into safe edits. The message is written
    for the builder (it is sent back once as it is); ``accepted`` holds the edits of the answer that
    were fine, so a second answer need only redo the rest; ``result`` is the call that gave the
    answer (its tokens were spent and are counted), attached by ``answer_of``."""

    def __init__(self, message: str, hint: str | None = None, *, accepted: list[Any] | None = None):
        super().__init__(message, hint)
        self.accepted: list[Any] = list(accepted or [])
        self.result: BuildResult | None = None


@contextmanager
def answer_of(result: BuildResult) -> Iterator[BuildResult]:
    """Work on a builder's answer: an ``UnusableAnswer`` raised inside carries ``result`` out."""
    try:
        yield result
    except UnusableAnswer as exc:
        exc.result = exc.result or result
        raise


class GitError(GitorchError):
    """A repository could not be read or written as asked."""


class ConflictError(GitError):
    """The branch moved under a run and the new commits touch the same lines as the run's artifacts.

    ``paths`` lists the conflicting files; ``hunks`` maps each to the conflict as merge markers
    (ours = what is on the branch now, theirs = the run's artifact), ready to show a person or
    send to the architect.
    """

    def __init__(self, message: str, hint: str | None = None, *, branch: str = "",
                 paths: list[str] | None = None, hunks: dict[str, str] | None = None):
        super().__init__(message, hint)
        self.branch = branch
        self.paths = paths or []
        self.hunks = hunks or {}


class PushError(GitError):
    """git refused the push, or gitorch refused to push a branch it does not own."""
