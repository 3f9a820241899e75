"""Route and confirm: which agent the run uses, and who said so.

The router's suggestion is taken without asking when routing is automatic and it is sure enough;
otherwise a person confirms or overrides it (in the terminal, or with `/gitorch proceed|override`).
A person's choice teaches the router, as `gitorch feedback --override` does.
"""

from __future__ import annotations

from typing import Any

from ..errors import GitorchError
from ..model import RoutingDecision, RunStatus, StepKey, StepKind
from .state import Paused, RunState


def route_step(state: RunState) -> RoutingDecision:
    """The run's routing decision: the one the suggestion comment showed, else a new one."""
    request, store = state.request, state.store

    def action() -> dict[str, Any]:
        decision = (store.get_decision(request.decision_id) if request.decision_id else None) \
            or state.parts.router.route(request.text)
        return {"decision_id": decision.id, "summary": f"{decision.task_type} -> {decision.agent} "
                f"({decision.confidence:.0%})"}

    result = state.step(StepKey(StepKind.ROUTE), action)
    decision = store.get_decision(result["decision_id"])
    if decision is None:
        raise GitorchError(f"routing decision {result['decision_id']} is missing from the store")
    if decision.run_id != state.run.id:
        decision.run_id = state.run.id
        store.record_decision(decision)
    return decision


def confirm_step(state: RunState, decision: RoutingDecision) -> str:
    """The agent the run uses: a person's choice, else the suggestion when it may go ahead alone or
    a person confirms it; else the run waits for a person."""
    request, config = state.request, state.config

    def action() -> dict[str, Any]:
        chosen, how = decision.agent, "auto"
        if request.agent:
            chosen, how = request.agent, "override"
        elif decision.override_agent and decision.override_agent != decision.agent:
            chosen, how = decision.override_agent, "override"  # a person overrode it already (and was learned from)
        elif request.confirmed:
            how = "confirmed"
        elif config.routing.auto and not decision.manual and \
                decision.confidence >= config.routing.min_confidence_for_auto:
            how = "auto"
        elif state.parts.confirm is not None:
            answer, agent = state.parts.confirm(decision)
            if answer == "cancel":
                raise Paused(RunStatus.CANCELLED, "cancelled by the person at the confirmation prompt")
            chosen = agent or decision.agent
            how = "override" if agent and agent != decision.agent else "confirmed"
        else:
            raise confirmation_pause(decision, config)
        if how == "override" and chosen != decision.agent and chosen != decision.override_agent:
            state.parts.router.feedback(decision.id, override_agent=chosen)
        return {"agent": chosen, "how": how, "summary": f"{chosen} ({how})"}

    return state.step(StepKey(StepKind.CONFIRM), action)["agent"]


def confirmation_pause(decision: RoutingDecision, config: Any) -> Paused:
    """What a run that waits for a person to confirm its agent says."""
    if decision.override_agent:
        message = f"A maintainer chose {decision.override_agent} for this run; it waits for a go-ahead."
    else:
        message = (f"The router suggests {decision.agent} for this {decision.task_type.replace('_', ' ')} task "
                   f"with {decision.confidence:.0%} confidence, below the "
                   f"{config.routing.min_confidence_for_auto:.0%} needed to start by itself.")
    return Paused(RunStatus.AWAITING_CONFIRMATION, message,
                  hint="reply '/gitorch proceed' to go ahead, or '/gitorch override claude|chatgpt-pro|codex'")
