"""The plan: Claude breaks the request into tasks, each assigned to a builder; with
``plan_approval: required`` (or after `/gitorch plan`) a person approves it first, unticking or
editing tasks in the issue's checklist.

``make_plan`` is the step itself, shared by the run, `gitorch plan` and the session.
"""

from __future__ import annotations

import re
from typing import Any

from .. import cost, ladder
from ..errors import GitorchError
from ..model import (
    CHATGPT,
    CLAUDE,
    CODEX,
    Plan,
    PlanResult,
    RoutingDecision,
    RunStatus,
    StepKey,
    StepKind,
    Task,
)
from ..ports import Architect
from .ledger import Gate, Ledger
from .state import Paused, RunRequest, RunState


def make_plan(architect: Architect, ledger: Ledger, config: Any, text: str, repo_context: str, gate: Gate, *,
              run_id: str | None = None, task_type: str | None = "planning") -> PlanResult:
    """Claude's plan for ``text``: the model chosen by the ladder (from the request's size and the
    concerns it names), held against the budget by ``gate`` at that model's price, then made, then
    its ledger row written with the reason (which settles what the gate held)."""
    rungs = config.models.ladder
    work = ladder.Work("plan", task_tokens=cost.estimate_tokens(text), concerns=ladder.concerns(rungs, text=text))
    choice = ladder.choose(rungs, work, plan_model=config.models.plan, review_model=config.models.review)
    with gate(choice.model, input_tokens=len(repo_context) // 4 + 2000,
              output_tokens=config.anthropic.max_output_tokens // 2) as paid:
        result = architect.plan(text, repo_context, model=choice.model)
        ledger.record_architect(result, step="plan", task_type=task_type, run_id=run_id, paid=paid,
                                reason=choice.reason)
    result.plan.run_id = run_id
    return result


def plan_step(state: RunState, decision: RoutingDecision, agent: str) -> Plan:
    """The run's plan, made once: tasks are assigned to the run's builder unless a person chose."""
    request = state.request

    def action() -> dict[str, Any]:
        context = state.parts.repo.context(request.text, state.base)
        task_text = request.text
        if request.tasks:
            items = "\n".join(f"- {t.id}: {t.description}" for t in request.tasks)
            task_text = f"{request.text}\n\nItems to do (from TASK.md):\n{items}"
        plan = make_plan(state.parts.architect, state.parts.ledger, state.config, task_text, context, state.gate,
                         run_id=state.run.id, task_type=decision.task_type).plan
        builder = builder_for(state, agent)
        for task in plan.tasks:
            task.assigned_to = _assign(task, agent, builder, request)
        state.store.save_plan(plan)
        return {"plan_id": plan.id, "summary": f"{len(plan.tasks)} tasks"}

    result = state.step(StepKey(StepKind.PLAN), action, "Claude plans")
    plan = state.store.get_plan(result["plan_id"])
    if plan is None:
        raise GitorchError(f"plan {result['plan_id']} is missing from the store")
    return plan


def builder_for(state: RunState, agent: str) -> str:
    """The builder a run uses: the chosen agent when it is a builder, else the configured one."""
    if agent in state.parts.builders and agent != CLAUDE:
        return agent
    return state.config.agents.builder


def _assign(task: Task, agent: str, builder: str, request: RunRequest) -> str:
    hinted = next((t.agent for t in request.tasks if t.id == task.id and t.agent), None)
    if hinted:
        return hinted
    if request.agent:  # a person chose: every task goes there
        return request.agent
    if task.assigned_to == CLAUDE:
        return CLAUDE
    return builder if task.assigned_to in (CHATGPT, CODEX, builder) else task.assigned_to


def approve_plan(state: RunState, plan: Plan) -> Plan:
    """With ``plan_approval: required`` (or after `/gitorch plan`) the run stops after the plan
    until a person approves it; in GitHub mode the tasks they unticked in the comment are
    skipped, and edited ones built as edited."""
    request = state.request
    if state.config.pipeline.plan_approval != "required" and not request.plan_only:
        return plan
    key = StepKey(StepKind.PLAN_APPROVED)
    approved = state.done(key)
    if approved is None:
        if not request.plan_approved:
            raise Paused(RunStatus.AWAITING_PLAN_APPROVAL, "The plan waits for approval. Untick the tasks to leave "
                         "out, or edit them:\n\n" + render_plan(plan),
                         hint=f"reply '/gitorch proceed' (or 'gitorch run --resume {state.run.id} --yes') to build it")
        body = None
        github = state.parts.github
        if github is not None and request.issue_number is not None:
            comment = github.find_comment(request.issue_number, "suggestion")
            body = comment.body if comment is not None else None
        edited = apply_plan_edits(plan, body) if body else plan
        state.store.save_plan(edited)
        approved = state.step(key, lambda: {"tasks": [t.id for t in edited.tasks],
                                            "summary": f"{len(edited.tasks)} tasks approved"})
    kept = set(approved["tasks"])
    plan = state.store.get_plan(plan.id) or plan
    plan.tasks = [t for t in plan.tasks if t.id in kept]
    return plan


def render_plan(plan: Plan) -> str:
    lines = [plan.summary, ""]
    for t in plan.tasks:
        deps = f" (after {', '.join(t.depends_on)})" if t.depends_on else ""
        lines.append(f"- [x] **{t.id}** {t.description.splitlines()[0]} — {t.assigned_to}{deps}")
    return "\n".join(lines)


_PLAN_LINE = re.compile(r"^\s*[-*] \[(?P<mark>[ xX])\] \*\*(?P<id>[^*]+)\*\* (?P<text>.*?)"
                        r"(?: — (?P<agent>[\w-]+)(?: \(after [^)]*\))?)?\s*$")


def apply_plan_edits(plan: Plan, body: str) -> Plan:
    """The plan as a person left it in the comment's checklist: unticked tasks dropped, edited
    descriptions taken. Tasks not in the checklist stay as they were."""
    marks: dict[str, tuple[bool, str]] = {}
    for line in body.splitlines():
        m = _PLAN_LINE.match(line)
        if m:
            marks[m["id"].strip()] = (m["mark"] != " ", m["text"].strip())
    tasks = []
    for task in plan.tasks:
        ticked, text = marks.get(task.id, (True, task.description))
        if not ticked:
            continue
        if text and text != task.description.splitlines()[0]:
            task.description = text
        tasks.append(task)
    kept = {t.id for t in tasks}
    for task in tasks:
        task.depends_on = [d for d in task.depends_on if d in kept]
    plan.tasks = tasks
    return plan
