"""What every GitHub adapter shares: markers, stage labels, body limits, commentable lines.

The run and the commands see GitHub only through ``gitorch.ports.GitHub``. ``rest.RestProvider``
talks to GitHub's REST API (or the local double); ``local.LocalProvider`` writes the same exchange
as Markdown files for a dry run. Everything gitorch writes carries a hidden marker so it is found
again and edited, never posted twice, and so gitorch never reacts to its own words.
"""

from __future__ import annotations

import re
from typing import Literal

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
