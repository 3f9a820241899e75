"""What gitorch does on GitHub, behind one small protocol.

The pipeline and ``gitorch action`` see only ``GitHubProvider``. ``rest.RestProvider`` talks to
GitHub's REST API (or the local double); ``local.LocalProvider`` writes the same exchange as Markdown
files for a dry run. Everything gitorch writes carries a hidden marker so it is found again and
edited, never posted twice, and so gitorch never reacts to its own words.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Literal, Protocol

from ..model import InlineComment

MARKER_PREFIX = "<!-- gitorch:"
_MARKER_RE = re.compile(r"<!-- gitorch:([a-z-]+) ([^ >]+) -->")

STAGES: tuple[str, ...] = ("planning", "building", "reviewing", "paused", "done", "failed")
STAGE_LABEL_PREFIX = "gitorch:"
REVIEW_CONTEXT = "gitorch/review"
MAX_BODY_CHARS = 65_000  # GitHub refuses bodies over 65,536 characters

Stage = Literal["planning", "building", "reviewing", "done", "failed"]
StatusState = Literal["pending", "success", "failure", "error"]


def marker(kind: str, key: str | int) -> str:
    """The hidden line that identifies one of gitorch's own texts: ``<!-- gitorch:plan 12 -->``."""
    return f"{MARKER_PREFIX}{kind} {key} -->"


def markers_in(text: str | None) -> list[tuple[str, str]]:
    return _MARKER_RE.findall(text or "")


def is_gitorch_text(text: str | None) -> bool:
    """Whether a body was written by gitorch (it carries a marker). Used to never answer ourselves."""
    return MARKER_PREFIX in (text or "")


def stage_label(stage: str) -> str:
    if stage not in STAGES:
        raise ValueError(f"unknown stage {stage!r}; one of {', '.join(STAGES)}")
    return f"{STAGE_LABEL_PREFIX}{stage}"


def limit_body(text: str, limit: int = MAX_BODY_CHARS) -> str:
    """``text`` cut to what GitHub accepts, saying so at the end."""
    if len(text) <= limit:
        return text
    note = "\n\n*(cut: the full text is longer than GitHub allows in one comment)*"
    return text[: limit - len(note)] + note


def commentable_lines(patch: str | None) -> set[int]:
    """Lines of the new file that a review comment may point at: added and context lines in the hunks."""
    lines: set[int] = set()
    new = None
    for raw in (patch or "").splitlines():
        hunk = re.match(r"^@@ -\d+(?:,\d+)? \+(\d+)(?:,\d+)? @@", raw)
        if hunk:
            new = int(hunk.group(1))
        elif new is None or raw.startswith(("-", "\\")):
            continue
        else:
            lines.add(new)
            new += 1
    return lines


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


@dataclass
class CommentInfo:
    id: int
    body: str
    author: str
    url: str = ""
    created: bool = False


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


class GitHubProvider(Protocol):
    """One repository on GitHub, as the pipeline uses it."""

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

    def set_status(self, sha: str, state: StatusState, description: str, context: str = REVIEW_CONTEXT,
                   target_url: str | None = None) -> None: ...

    def set_run_label(self, issue: int, stage: str) -> None:
        """Show where a run is: the one ``gitorch:<stage>`` label, the others removed."""
        ...

    def reply_to_review_comment(self, pr: int, comment_id: int, key: str, body: str) -> CommentInfo:
        """Answer in the thread of a review comment (once per ``key``)."""
        ...
