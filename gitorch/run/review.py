"""The review: Claude judges a change, file by file, with inline comments and fix tasks.

``review_change`` is the step itself, shared by the run, `gitorch review` and the pre-push hook: the
budget gate, the call, its ledger row, and the rule that a failing test command is never approved.
"""

from __future__ import annotations

from dataclasses import asdict, replace
from typing import Any

from .. import ladder
from ..model import (
    CLAUDE,
    InlineComment,
    Plan,
    Review,
    ReviewResult,
    StepKey,
    StepKind,
    Task,
    Verdict,
    Verification,
)
from ..ports import Architect
from .ledger import Gate, Ledger
from .state import RunState


def review_change(architect: Architect, ledger: Ledger, config: Any, plan: Plan | None, diff: str,
                  files: dict[str, str | None], gate: Gate, *, verify: Verification | None = None,
                  repo_context: str | None = None, run_id: str | None = None, step: str = "review") -> ReviewResult:
    """Claude's review of ``diff`` (``files``: the new content of each changed path, None when deleted).
    Without ``repo_context`` the architect reads the repository as its plan did (one prompt cache)."""
    rungs = config.models.ladder
    about = "" if plan is None else "\n".join([plan.summary, *(t.description for t in plan.tasks)])
    work = ladder.Work("review", diff_lines=ladder.diff_size(diff),
                       tests_passed=None if verify is None else verify.passed,
                       concerns=ladder.concerns(rungs, paths=files, text=about))
    if verify is not None:
        diff += f"\n\n# Verification: `{verify.command}` exited {verify.exit_code}\n{verify.tail}"
    artifacts = {p: c for p, c in files.items() if c is not None}
    choice = ladder.choose(rungs, work, plan_model=config.models.plan, review_model=config.models.review)
    while True:  # a rung that rejects, or approves unsure, hands the same review to the next one up
        with gate(choice.model, input_tokens=(len(diff) + len(repo_context or "")) // 4 + 4000,
                  output_tokens=2000) as paid:
            result = architect.review(plan, diff, artifacts, repo_context=repo_context, model=choice.model)
            ledger.record_architect(result, step=step, task_type="review", run_id=run_id, paid=paid,
                                    reason=choice.reason)
        why = ladder.escalation(rungs, choice, result.review.verdict, result.review.confidence)
        if why is None:
            break
        choice = ladder.choose(rungs, replace(work, escalated_from=choice.model, escalation=why),
                               plan_model=config.models.plan, review_model=config.models.review)
    review = result.review
    if verify is not None and not verify.passed and review.verdict == "approve":
        review.verdict = "reject"
        review.summary += f"\n\nThe verification command failed (exit {verify.exit_code})."
    return result


def review_step(state: RunState, plan: Plan, round_no: int, since: str, head: str,
                verify: Verification | None) -> Review:
    """The round's review of what changed since ``since``; the artifacts' verdicts are kept."""

    def action() -> dict[str, Any]:
        change = state.parts.repo.diff(since, head)
        review = review_change(state.parts.architect, state.parts.ledger, state.config, plan, change.diff,
                               change.files, state.gate, verify=verify, run_id=state.run.id,
                               step=str(StepKey(StepKind.REVIEW, round_no))).review
        review.round = round_no
        state.store.save_review(state.run.id, review)
        for verdict in review.artifacts:
            for artifact in state.store.artifacts(state.run.id, review_status="pending"):
                if artifact.path == verdict.path:
                    artifact.review_status = "approved" if verdict.approved else "rejected"
                    artifact.notes = verdict.notes
                    state.store.save_artifact(artifact)
        return {"review": asdict(review), "head": head,
                "summary": f"{review.verdict}: {sum(v.approved for v in review.artifacts)}/"
                           f"{len(review.artifacts)} approved"}

    return review_from(state.step(StepKey(StepKind.REVIEW, round_no), action, "Claude reviews")["review"])


def fix_tasks(config: Any, review: Review, round_no: int, verify: Verification | None) -> list[Task]:
    """What the next round builds: the review's fix tasks, else one per rejected file, else (when
    only the tests fail) one to make them pass. "The builder", as the architect means it, is the
    run's builder."""
    builder = config.agents.builder
    tasks = []
    for i, task in enumerate(review.fix_tasks, 1):
        task.id = f"fix{round_no}-{i}"
        if task.assigned_to != CLAUDE:
            task.assigned_to = builder
        tasks.append(task)
    if not tasks:
        for i, verdict in enumerate((v for v in review.artifacts if not v.approved), 1):
            tasks.append(Task(id=f"fix{round_no}-{i}", description=f"Fix {verdict.path}: {verdict.notes}",
                              files=[verdict.path], assigned_to=builder, task_type="debugging"))
    if verify is not None and not verify.passed and not tasks:
        tasks.append(Task(id=f"fix{round_no}-verify", description=(
            f"The test command `{verify.command}` fails; make it pass:\n{verify.tail}"),
            assigned_to=builder, task_type="debugging"))
    return tasks


def review_from(data: dict[str, Any]) -> Review:
    """A review as the journal keeps it."""
    return Review(verdict=data["verdict"], summary=data["summary"],
                  artifacts=[Verdict(**v) for v in data.get("artifacts", [])],
                  comments=[InlineComment(**c) for c in data.get("comments", [])],
                  fix_tasks=[Task(**t) for t in data.get("fix_tasks", [])], round=data.get("round", 1),
                  confidence=data.get("confidence"))
