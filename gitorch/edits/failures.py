"""What goes wrong with an answer, written for the model: one ``BlockFailure`` per block, gathered
in the ``EditError`` the builder is shown once."""

from __future__ import annotations

from dataclasses import dataclass

from ..errors import UnusableAnswer
from ..model import Edit
from .protocol import fence_for


@dataclass
class BlockFailure:
    """One block that could not be used: what it is, why, and the block as the model wrote it."""

    number: int
    label: str
    reason: str
    quote: str = ""
    suggestion: str = ""


class EditError(UnusableAnswer):
    """The builder's answer cannot be used as it is. ``message`` is written for the model and can be
    sent back verbatim; ``accepted`` holds the edits that were fine (pass them as ``previous=`` when
    parsing the corrected answer); ``failures`` says which blocks failed and why."""

    def __init__(self, message: str, *, failures: list[BlockFailure] | None = None,
                 accepted: list[Edit] | None = None, accepted_labels: list[str] | None = None):
        super().__init__(message, hint="gitorch sends this message back to the builder once; "
                                       "if the next answer fails too, the task fails", accepted=accepted)
        self.failures = failures or []
        self.accepted_labels = accepted_labels or []


class Refusal(Exception):
    """A single edit cannot be applied: ``reason`` for the model, with an optional suggestion."""

    def __init__(self, reason: str, suggestion: str = ""):
        super().__init__(reason)
        self.reason = reason
        self.suggestion = suggestion


_QUOTE_LINES = 40


def quote(raw: str) -> str:
    lines = raw.rstrip("\n").split("\n")
    if len(lines) > _QUOTE_LINES:
        lines = lines[:30] + [f"[... {len(lines) - 38} more lines ...]"] + lines[-8:]
    text = "\n".join(lines) + "\n"
    fence = fence_for(text)
    return f"{fence}\n{text}{fence}"


def error_message(failures: list[BlockFailure], accepted_labels: list[str]) -> str:
    count = f"{len(failures)} block{'s' if len(failures) != 1 else ''}"
    out = [f"Your answer could not be used: {count} failed. Nothing has been changed yet.", ""]
    for failure in failures:
        out.append(f"## {failure.label}")
        out.append(failure.reason)
        if failure.quote:
            out += ["", "The block as you sent it:", quote(failure.quote)]
        if failure.suggestion:
            out += ["", failure.suggestion]
        out.append("")
    if accepted_labels:
        out.append("These blocks were fine and are kept: " + "; ".join(accepted_labels) + ".")
        out.append("Do not send them again. Send only corrected versions of the failed blocks, "
                   "in the same format.")
    else:
        out.append("Send a corrected answer, in the format described in the instructions.")
    return "\n".join(out).rstrip() + "\n"
