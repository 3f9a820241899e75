"""The repository's own test command (``verify.command``) on the round's head, before the review.

It runs code a model wrote, so it runs in a scratch tree (never the person's checkout) with an
environment that holds none of gitorch's credentials (``GitRepo.verify`` takes care of both).
"""

from __future__ import annotations

from dataclasses import asdict

from ..model import StepKey, StepKind, Verification
from .publish import tell
from .state import RunState


def verify_step(state: RunState, head: str, round_no: int) -> Verification | None:
    command = state.config.verify.command
    if not command:
        return None
    repo = state.parts.repo

    def action() -> dict:
        result = repo.verify(head, command, state.config.verify.timeout_s)
        return {**asdict(result), "summary": result.summary}

    data = state.step(StepKey(StepKind.VERIFY, round_no), action, f"$ {command}")
    result = Verification(command=data["command"], exit_code=data["exit_code"], tail=data["tail"],
                          duration_s=data.get("duration_s", 0.0))
    tell(state, f"Round {round_no}: `{result.command}` exited {result.exit_code} on {head[:10]}.\n\n"
                f"```\n{result.tail[-1500:]}\n```")
    return result
