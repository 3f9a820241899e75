"""Who may make gitorch act, decided before anything is spent or posted.

- Bots never trigger (the payload's ``sender.type`` / ``user.type`` is ``Bot``), and neither does
  text carrying gitorch's own marker, so gitorch can never answer itself. Only an explicit
  ``github.allowed_bots`` entry lets a bot in; a login ending in ``[bot]`` proves nothing.
- Where the payload gives the person's ``author_association`` (comments, reviews, an issue opened by
  its author), one of ``github.trusted_associations`` is required, decided without any API call.
- Otherwise (a label added by someone, a push) their permission is looked up: write, maintain or
  admin is required; an API that cannot be reached means no run.
- Closed or locked issues are skipped; a per-person limit of runs per day stops cost abuse.

Refusals are logged, never commented, so strangers cannot make the bot talk. The daily count lives
in the store's journal under one pseudo-run per person and day (``triggers/<repo>/<login>/<day>``),
keyed by the event, so a re-delivered event is not counted twice.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from ..errors import GitorchError
from ..model import utcnow
from ..ports import GitHub
from .events import Event

log = logging.getLogger("gitorch.github")

WRITE_PERMISSIONS = frozenset({"admin", "maintain", "write"})


@dataclass
class GateDecision:
    allowed: bool
    reason: str
    lookup: bool = False  # the permission API was asked

    def __bool__(self) -> bool:
        return self.allowed


def _trigger_run_id(repo: str, login: str, now: datetime) -> str:
    return f"triggers/{repo}/{login.lower()}/{now.date().isoformat()}"


def runs_today(store: Any, repo: str, login: str, now: datetime | None = None) -> int:
    """How many costly requests ``login`` made today (UTC) in ``repo``."""
    return len(store.journal(_trigger_run_id(repo, login, now or utcnow())))


def check_trigger(event: Event, github_config: Any, provider: GitHub | None, store: Any = None, *,
                  costly: bool = True, now: datetime | None = None) -> GateDecision:
    """Whether ``event`` may make gitorch act; when it may and ``costly`` (it may spend money), it
    is counted against the person's daily limit."""
    decision = _decide(event, github_config, provider)
    if decision.allowed and costly and store is not None:
        decision = _count(event, github_config, store, now or utcnow(), decision)
    if not decision.allowed:
        log.info("refused %s from %s: %s", event.key, event.actor.login or "someone", decision.reason)
    return decision


def decide_from_payload(event: Event, cfg: Any) -> GateDecision | None:
    """What the payload alone decides, with no API call: gitorch's own text, bots, closed or locked
    issues, and people whose ``author_association`` the payload gives. None: only a permission lookup
    can tell (someone added a label, someone pushed)."""
    actor = event.actor
    if event.kind == "resume":
        # Only the repository's own workflow file (on the default branch) can schedule it, and it
        # continues nothing but runs that passed this gate when they started.
        return GateDecision(True, "the workflow's schedule continues paused runs whose wait is over")
    if event.from_gitorch:
        return GateDecision(False, "the text is gitorch's own (it carries gitorch's marker)")
    if not actor.login:
        return GateDecision(False, "the event names nobody who caused it")
    allowed_bot = actor.login in cfg.allowed_bots
    if actor.type == "Bot" and not allowed_bot:
        return GateDecision(False, f"{actor.login} is a bot and not in github.allowed_bots")
    if event.issue_state == "closed" and event.kind != "outcome":
        return GateDecision(False, f"#{event.issue} is closed")
    if event.issue_locked:
        return GateDecision(False, f"#{event.issue} is locked")
    if allowed_bot and actor.type == "Bot":
        return GateDecision(True, f"{actor.login} is an allowed bot")
    if actor.association is not None:
        if actor.association in cfg.trusted_associations:
            return GateDecision(True, f"{actor.login} is {actor.association}")
        return GateDecision(False, f"{actor.login} is {actor.association}, not one of "
                                   f"{', '.join(cfg.trusted_associations)}")
    return None


def _decide(event: Event, cfg: Any, provider: GitHub | None) -> GateDecision:
    decided = decide_from_payload(event, cfg)
    if decided is not None:
        return decided
    actor = event.actor
    if provider is None:
        return GateDecision(False, f"cannot check {actor.login}'s permission without the GitHub API")
    try:
        permission = provider.permission(actor.login)
    except GitorchError as exc:
        return GateDecision(False, f"could not check {actor.login}'s permission ({exc.message}); no run", lookup=True)
    if permission in WRITE_PERMISSIONS:
        return GateDecision(True, f"{actor.login} has {permission} permission", lookup=True)
    return GateDecision(False, f"{actor.login} has {permission} permission; write or admin is needed", lookup=True)


def _count(event: Event, cfg: Any, store: Any, now: datetime, decision: GateDecision) -> GateDecision:
    run_id = _trigger_run_id(event.repo, event.actor.login, now)
    seen = {entry.get("key") for entry in store.journal(run_id)}
    if event.key in seen:  # the same event delivered again: counted once
        return decision
    if len(seen) >= cfg.runs_per_person_per_day:
        return GateDecision(False, f"{event.actor.login} reached the limit of {cfg.runs_per_person_per_day} "
                                   "runs per day (github.runs_per_person_per_day)", decision.lookup)
    store.journal_finish(run_id, event.key, {"kind": event.kind, "event": event.event,
                                               "at": now.isoformat(timespec="seconds")})
    return decision
