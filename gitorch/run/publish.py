"""Where a run shows itself: the branch pushed, the pull request, the review posted, the one comment
on the issue and its ``gitorch:<stage>`` label. Each is found again by branch or marker, so a resumed
run edits what is there instead of posting it twice."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from ..model import Plan, Review, RoutingDecision, Run, RunStatus, StepKey, StepKind, Verification
from ..redact import redact
from .plan import approval_pause, assign_chosen, kept_checklist, render_plan
from .recover import review_block, run_block
from .route import confirmation_pause
from .state import RunRequest, RunState

# The `gitorch:<stage>` label that shows a run's status on its issue (a failed or paused run can be resumed).
STAGES: dict[RunStatus, str] = {RunStatus.BUILDING: "building", RunStatus.REVIEWING: "reviewing",
                                RunStatus.DONE: "done", RunStatus.ANSWERED: "done", RunStatus.FAILED: "failed",
                                RunStatus.PAUSED: "paused", RunStatus.CANCELLED: "failed"}


def tell(state: RunState, message: str) -> int | None:
    """Say ``message`` where the run was asked for: in GitHub mode, in the run's one comment on the
    issue (found by its marker and edited), under the suggestion and the plan (each task with the
    agent that builds it), with this drive's budget alerts."""
    github, request = state.parts.github, state.request
    if github is None or request.issue_number is None:
        return None
    decision = state.decision()
    plan = state.store.latest_plan(state.run.id)
    if plan is not None:
        assign_chosen(plan.tasks, decision, request)  # shown, not saved: an override builds every task
    if state.alerts:
        message = message + "\n\n" + "\n".join(f"> **Budget:** {a}" for a in state.alerts)
    if decision is not None and state.parts.render_comment is not None:
        body = state.parts.render_comment(decision, stage=STAGES.get(state.run.status, "planning"), plan=plan,
                                          note=message)
    else:
        body = message
    body = run_block(state) + "\n" + redact(body, state.config.secrets.values())  # its record, hidden, first
    return github.post_or_update_comment(request.issue_number, "suggestion", body).id


def waiting_note(run: Run, decision: RoutingDecision | None, config: Any, plan: Plan | None, body: str) -> str:
    """What the run's comment says while the run waits for a person, as its pause said it (a plan's
    checklist as the person left it in ``body``); "" when it waits for no one."""
    if run.status is RunStatus.AWAITING_CONFIRMATION and decision is not None:
        pause = confirmation_pause(decision, config)
    elif run.status is RunStatus.AWAITING_PLAN_APPROVAL and plan is not None:
        pause = approval_pause(run.id, kept_checklist(plan, body))
    else:
        return ""
    return f"{pause.message}\n\n{pause.hint}"


def label(state: RunState, stage: str) -> None:
    if state.parts.github is not None and state.request.issue_number is not None:
        state.parts.github.set_run_label(state.request.issue_number, stage)


def publish(state: RunState, plan: Plan, push_key: StepKey) -> int | None:
    """Push the run's branch (someone's commits on it are kept and ours replayed) and open or update
    its pull request; returns the PR's number (None without GitHub)."""
    github = state.parts.github
    if github is None:
        return state.run.pr_number
    repo, branch = state.parts.repo, state.branch

    def push() -> dict[str, Any]:
        repo.fetch_branch(branch)
        return {"commit": repo.push_branch(branch).commit}

    state.step(push_key, push)

    def open_pr() -> dict[str, Any]:
        body = run_block(state) + "\n" + redact(pr_body(state.request, plan, state.run.id), state.config.secrets.values())
        pr = github.open_or_update_pr(branch, github.default_branch(), f"gitorch: {state.request.headline}", body,
                                      state.request.issue_number)
        return {"pr_number": pr.number, "summary": f"PR #{pr.number}"}

    return state.step(StepKey(StepKind.PR), open_pr)["pr_number"]


def post_review(state: RunState, pr_number: int | None, head: str, review: Review, round_no: int,
                verify: Verification | None) -> None:
    """The review on the PR (with its record, hidden), and the ``gitorch/review`` status on the head commit."""
    github = state.parts.github
    if github is None or pr_number is None:
        return
    summary = review_block(state, review, head, verify) + "\n" + redact(review.summary, state.config.secrets.values())
    state.step(StepKey(StepKind.POST_REVIEW, round_no), lambda: {"review": _plain(github.post_review(
        pr_number, head, review.verdict, summary, review.comments))})
    tell(state, f"Round {round_no}: Claude's verdict is **{review.verdict}** on #{pr_number}.")


def pr_body(request: RunRequest, plan: Plan, run_id: str) -> str:
    closes = f"Closes #{request.issue_number}\n\n" if request.issue_number else ""
    return f"{closes}{render_plan(plan)}\n\n<sub>gitorch run `{run_id}`</sub>"


def _plain(obj: Any) -> dict[str, Any]:
    if obj is None:
        return {}
    if hasattr(obj, "__dataclass_fields__"):
        return asdict(obj)
    return dict(obj) if isinstance(obj, dict) else {"value": str(obj)}
