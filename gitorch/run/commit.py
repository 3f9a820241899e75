"""Committing: a task's artifacts as one commit on the run's branch (trailers name the run, the task
and the agent), a conflict with someone's push resolved by Claude once a person approves, and the
TASK.md items of the run ticked off at the end."""

from __future__ import annotations

from typing import Any

from ..errors import ConflictError
from ..model import CLAUDE, BuildContext, JournalEntry, RunStatus, StepKey, StepKind, Task
from .state import Paused, RunState


def commit_step(state: RunState, task: Task, round_no: int, built: dict[str, Any]) -> str:
    """Commit the task's artifacts. When the branch moved and the change conflicts, Claude
    proposes a resolution from the conflicting hunks and the run waits for a person to approve
    it; once approved, the resolution is committed on the branch as it is now."""
    key = StepKey(StepKind.COMMIT, round_no, task.id)
    resolve_key = StepKey(StepKind.RESOLVE, round_no, task.id)

    def commit(artifacts: dict[str, str | None], parent: str, agent: str) -> dict[str, Any]:
        result = state.parts.repo.commit(branch=state.branch, parent=parent, artifacts=artifacts,
                                         description=task.description, run_id=state.run.id, task_id=task.id,
                                         agent=agent)
        return {"commit": result.commit, "created": result.created, "rebased": result.rebased,
                "summary": f"{result.commit[:10]} on {state.branch}"}

    def action() -> dict[str, Any]:
        proposal = state.done(resolve_key)
        if proposal is not None:
            if state.done(StepKey(StepKind.APPROVED, round_no, task.id)) is None:
                raise Paused(RunStatus.AWAITING_RESOLUTION, _resolution_message(task, proposal),
                             hint=f"reply '/gitorch proceed' (or 'gitorch run --resume {state.run.id} --yes') to "
                                  "commit Claude's resolution")
            return commit(proposal["artifacts"], proposal["tip"], CLAUDE)
        try:
            return commit(built["artifacts"], built["read_at"], built["agent"])
        except ConflictError as exc:
            conflict = exc
        state.step(resolve_key, lambda: _propose_resolution(state, task, built, conflict))
        return action()

    return state.step(key, action)["commit"]


def approve_resolution(state: RunState) -> None:
    """A person approved the resolution the run waits on (only that one: a later conflict asks again)."""
    for row in state.store.journal(state.run.id):
        entry = JournalEntry.from_row(row)
        if entry.key.kind is StepKind.RESOLVE and entry.finished and state.done(entry.key.of_commit()) is None:
            state.step(StepKey(StepKind.APPROVED, entry.key.round, entry.key.task),
                       lambda: {"summary": "resolution approved"})


def _propose_resolution(state: RunState, task: Task, built: dict[str, Any], conflict: ConflictError) -> dict[str, Any]:
    """Claude, as a builder, merges the branch's new version of each conflicting file with the task's."""
    repo = state.parts.repo
    tip = repo.branch_tip(state.branch)
    current = repo.read_files(tip, conflict.paths)
    hunks = "\n\n".join(f"{path}:\n{conflict.hunks.get(path, '')}" for path in conflict.paths)
    ours = "\n\n".join(f"{path} as this task wrote it:\n{built['artifacts'].get(path) or '(deleted)'}"
                        for path in conflict.paths)
    fix = Task(id=f"{task.id}-resolve", description=(
        f"Someone changed {', '.join(conflict.paths)} on the branch while task {task.id} was built "
        f"({task.description.splitlines()[0]}). Write each file so that it keeps their change and does "
        f"what the task asked. The conflicting hunks (ours = the branch now, theirs = the task):\n\n{hunks}"
        f"\n\n{ours}"), files=list(conflict.paths), assigned_to=CLAUDE, task_type="debugging")
    context = BuildContext(plan=None, files={p: c for p, c in current.items() if c is not None},
                           run_id=state.run.id, repo_root=str(repo.path), base_commit=tip)
    with state.gate(state.config.models.build, input_tokens=len(hunks + ours) // 3 + 3000,
                    output_tokens=2000) as paid:
        result = state.parts.builders[CLAUDE].build(fix, context)
        state.parts.ledger.record(agent=result.agent, model=result.model, usage=result.usage,
                                  duration_s=result.duration_s, step=f"resolve:{task.id}", task_type="debugging",
                                  run_id=state.run.id, paid=paid)
    artifacts = repo.apply_edits(result.edits, context.files)
    return {"artifacts": {**built["artifacts"], **artifacts}, "tip": tip, "paths": list(conflict.paths),
            "hunks": conflict.hunks, "summary": f"Claude proposes a resolution of {', '.join(conflict.paths)}"}


def _resolution_message(task: Task, proposal: dict[str, Any]) -> str:
    shown = "\n\n".join(f"`{path}`:\n```\n{(proposal['artifacts'].get(path) or '(deleted)')[:3000]}\n```"
                         for path in proposal["paths"])
    return (f"The branch moved while task {task.id} was built, and the changes conflict in "
            f"{', '.join(proposal['paths'])}. Claude proposes this resolution:\n\n{shown}")


def tick_task_file(state: RunState) -> bool:
    """The task-file items that asked for this run are ticked off on its branch; True when it did."""
    request = state.request
    if not request.task_file or not request.tasks:
        return False

    def action() -> dict[str, Any]:
        result = state.parts.repo.tick_tasks(branch=state.branch, task_file=request.task_file,
                                             task_ids=[t.id for t in request.tasks], run_id=state.run.id)
        if result is None:
            return {"summary": f"no {request.task_file} on the branch"}
        return {"commit": result.commit, "summary": f"{request.task_file} ticked off"}

    state.step(StepKey(StepKind.TICK), action)
    return True
