"""The architect's model ladder: which Claude model plans or reviews, chosen from the work.

``choose`` is a pure function of the call (``Work``: plan or review, the request's size, the diff's
size, whether the repository's tests passed, the architectural concerns it touches, and whether a
cheaper rung already rejected it or was unsure) and of ``models.ladder``. It runs before the budget
gate, so the reservation estimates with the chosen model's price.

- Small, low-risk work goes to the first rung (the cheapest model): a plan for a small request; a
  review of a small change whose tests pass (or that has no test command) and that touches no
  concern.
- Everything else starts one rung up: a large request or diff, failing tests, a concern
  (``concerns``: authentication, payments, schemas and migrations, concurrency, security, public
  API, and what `.gitorch.yml` adds; matched on paths and on the text that says what the change is).
- A review that a rung rejects, or approves while unsure (its confidence below ``unsure_below``),
  is reviewed again on the next rung, whose verdict stands; the top rung's verdict is final.
- Off (``enabled: false``): plans on ``models.plan``, reviews on ``models.review``.

Prompt caching: the cached prefix (tools, instructions, repository context) is the same on every
rung, and each model keeps its own copy. A call goes back down to the first rung after an
escalation, because with the default rungs the first rung's full input price is no higher than the
next rung's cache read (Haiku 5.5 input $0.10 against Sonnet 5.5 cache read $0.10 per million):
staying up for the cache would never be cheaper. The model changes only when the work calls for it.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, Literal


@dataclass(frozen=True)
class Work:
    """What the ladder looks at for one architect call."""

    kind: Literal["plan", "review"]
    task_tokens: int = 0  # the request (plans), estimated
    diff_lines: int = 0  # added and removed lines (reviews)
    tests_passed: bool | None = None  # None: no test command ran
    concerns: tuple[str, ...] = ()
    escalated_from: str | None = None  # the cheaper rung that rejected or was unsure
    escalation: str | None = None  # "rejected" or "unsure (0.55)"


@dataclass(frozen=True)
class Choice:
    """The model for one call and why (the ledger keeps both)."""

    model: str
    reason: str
    rung: int | None = None  # its place on the ladder; None when the ladder is off


def choose(ladder: Any, work: Work, *, plan_model: str, review_model: str) -> Choice:
    """The model for ``work`` under ``ladder`` (``models.ladder``); ``plan_model`` and ``review_model``
    serve when the ladder is off."""
    if not ladder.enabled:
        return Choice(plan_model if work.kind == "plan" else review_model, "ladder off")
    rungs = ladder.rungs
    if work.escalated_from is not None:  # only a rung below the top escalates (``escalation``)
        rung = rungs.index(work.escalated_from) + 1
        return Choice(rungs[rung], f"escalated: {work.escalated_from} {work.escalation or 'rejected'}", rung)
    risks = []
    if work.kind == "plan" and work.task_tokens > ladder.small_task_tokens:
        risks.append(f"large request ({work.task_tokens} tokens)")
    if work.kind == "review" and work.diff_lines > ladder.small_diff_lines:
        risks.append(f"large diff ({work.diff_lines} lines)")
    if work.tests_passed is False:
        risks.append("tests fail")
    if work.concerns:
        risks.append("concern: " + ", ".join(work.concerns))
    if risks:
        rung = min(1, len(rungs) - 1)
        return Choice(rungs[rung], "; ".join(risks), rung)
    if work.kind == "plan":
        return Choice(rungs[0], f"small request ({work.task_tokens} tokens)", 0)
    tests = {True: "tests pass", None: "no test command"}[work.tests_passed]
    return Choice(rungs[0], f"small change ({work.diff_lines} lines), {tests}, no concern", 0)


def escalation(ladder: Any, choice: Choice, verdict: str, confidence: float | None) -> str | None:
    """Why the next rung should review again ("rejected", "unsure (0.55)"), or None when this verdict
    stands: the ladder is off, ``choice`` is the top rung, or the review approved and was sure."""
    if choice.rung is None or choice.rung + 1 >= len(ladder.rungs):
        return None
    if verdict != "approve":
        return "rejected"
    if confidence is not None and confidence < ladder.unsure_below:
        return f"unsure ({confidence:.2f})"
    return None


@lru_cache(maxsize=32)
def _compiled(patterns: tuple[tuple[str, tuple[str, ...]], ...]) -> list[tuple[str, re.Pattern[str]]]:
    return [(name, re.compile("|".join(f"(?:{p})" for p in pats), re.IGNORECASE | re.MULTILINE))
            for name, pats in patterns]


def concerns(ladder: Any, paths: Iterable[str] = (), text: str = "") -> tuple[str, ...]:
    """The architectural concerns (names, in the list's order) that ``paths`` or ``text`` touch. In
    paths, ``_`` and ``-`` separate words as spaces do (``0004_refunds.sql`` names refunds)."""
    listed = tuple((name, tuple(pats)) for name, pats in ladder.all_concerns().items())
    subject = "\n".join([*(re.sub(r"[_-]", " ", p) for p in paths), text])
    return tuple(name for name, pattern in _compiled(listed) if pattern.search(subject))


def diff_size(diff: str) -> int:
    """Added and removed lines of a unified diff."""
    return sum(1 for line in diff.splitlines()
               if line[:1] in "+-" and not line.startswith(("+++ ", "--- ")))
