"""The run: route, confirm, plan, build, commit, push and PR, verify, review, fix; resumable.

The run is a sequence of steps over the store's journal; each has a ``StepKey`` (``plan``,
``build:r1:t2``, ``commit:r1:t2``, ``review:r1``...). Before a step touches the outside world it is
recorded as started; when it is done its result is recorded. A run that is killed at any point is
run again from the top with the same id: finished steps return their recorded result without acting
again, and a step that had started but not finished is redone through an idempotent operation
(commits compare trees, comments and PRs are found by marker or branch), so nothing happens twice.

This module says the order of the steps; each step lives in the module named after it. One
``RunState`` is made per drive of a run.

Concurrency: one model for the whole pipeline. Independent tasks of a round are built in a thread
pool (``pipeline.parallelism``); everything that writes commits, the journal or GitHub happens on
the calling thread, in task order.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from ..errors import BudgetExceeded, GitorchError, ServiceError, TeamAway
from ..model import (
    Plan,
    Review,
    Run,
    RunStatus,
    StepKey,
    StepKind,
    Task,
    Verification,
    new_id,
    parse_iso,
    utcnow,
)
from .build import build_round
from .commit import approve_resolution, tick_task_file
from .lease import Lease, LeaseLost, RunHeld
from .plan import approve_plan, plan_step
from .publish import label, post_review, publish, tell
from .recover import recover
from .review import fix_tasks, review_step
from .route import confirm_step, route_step
from .state import Parts, Paused, RunRequest, RunResult, RunState
from .verify import verify_step


class Pipeline:
    def __init__(self, config: Any, parts: Parts):
        self.config = config
        self.parts = parts
        self.store = parts.store

    # -- entry points -------------------------------------------------------------------------------

    def start(self, request: RunRequest, run_id: str | None = None) -> RunResult:
        run_id = run_id or new_id("run")
        if self.known(run_id, request.issue_number):
            return self.resume(run_id, request)
        run = Run(id=run_id, text=request.text, trigger=request.trigger, repo=self.parts.repo.key,
                  issue_number=request.issue_number)
        self.store.save_run(run)
        self.store.journal_begin(run.id, StepKey(StepKind.REQUEST), {})
        self.store.journal_finish(run.id, StepKey(StepKind.REQUEST), {"request": request.as_journal()})
        return self._drive(RunState(self.config, self.parts, run, request))

    def known(self, run_id: str, issue_number: int | None = None) -> bool:
        """Whether the run exists: in this store, or (rebuilt into it now) on GitHub and the remote branch."""
        return self.store.get_run(run_id) is not None or recover(self.config, self.parts, run_id, issue_number)

    def resume(self, run_id: str, update: RunRequest | None = None) -> RunResult:
        """Continue a run from its last finished step. ``update`` carries what a person said since
        (a confirmation, an override, an approved plan)."""
        state = self._state(run_id)
        run, request = state.run, state.request
        if run.status is RunStatus.AWAITING_PLAN_APPROVAL:
            request.plan_only = True  # the plan waits for a person, however it came to wait
        if update is not None:
            request.plan_only = request.plan_only or update.plan_only
            if run.status is RunStatus.AWAITING_PLAN_APPROVAL and not update.plan_only:
                request.plan_approved = request.plan_approved or update.confirmed
            if run.status is RunStatus.AWAITING_RESOLUTION and update.confirmed:
                approve_resolution(state)
            request.confirmed = request.confirmed or update.confirmed
            request.agent = update.agent or request.agent
        if run.status.terminal:
            return self._result(state, message=f"run {run.id} is {run.status} already")
        return self._drive(state)

    def resume_due(self, *, from_github: bool, now: datetime | None = None) -> list[RunResult | GitorchError]:
        """Resume every paused run whose wait is over (a usage cap reset, a new budget period) and
        every run a process left going when it died (its claim lapsed), the longest waiting first:
        `gitorch run --resume-due` takes the runs started on this machine (``from_github=False``),
        the workflow's schedule those started on GitHub, whose comments and pull requests need the
        GitHub client; one of a team also takes the other runners' (rebuilt here from GitHub). One
        run failing does not stop the others; its error takes its place in the list."""
        now = now or utcnow()
        due = {run.id: run for run in self.store.runs_due(now)}
        if self.parts.claims is not self.store:  # one of a team: any runner's runs, rebuilt here from GitHub
            due.update({run.id: run for run in self.parts.claims.runs_due(now)
                        if run.id not in due and from_github and run.repo == self.parts.repo.key})
        outcomes: list[RunResult | GitorchError] = []
        for run in due.values():
            if not self.known(run.id, run.issue_number):
                continue
            recorded = self.store.journal_result(run.id, StepKey(StepKind.REQUEST))
            if not recorded or RunRequest.from_journal(recorded["request"]).from_github != from_github:
                continue
            try:
                result = self.resume(run.id)
            except GitorchError as exc:
                outcomes.append(exc)
                continue
            if result.held_by is None:  # a run another process drives is not this tick's
                outcomes.append(result)
        return outcomes

    def rework(self, run_id: str, tasks: list[Task], key: str) -> RunResult:
        """One more round on a finished run's branch, for review comments a person left on its PR:
        the tasks are built, pushed and reviewed (only the new changes). ``key`` names the comment
        that asked, so a re-delivered event does the round once."""
        state = self._state(run_id, what="rework needs the run that opened the pull request")
        return self._holding(state, lambda: self._rework(state, tasks, key))

    def _rework(self, state: RunState, tasks: list[Task], key: str) -> RunResult:
        round_no = state.step(StepKey(StepKind.REWORK, tag=key), lambda: {"round": state.run.rounds + 1})["round"]
        plan = self.store.latest_plan(state.run.id) or Plan(summary="rework", tasks=[])
        for i, task in enumerate(tasks, 1):
            task.id = f"rework{round_no}-{i}"
            if task.assigned_to not in self.parts.builders:
                task.assigned_to = self.config.agents.builder
        previous = state.done(StepKey(StepKind.REVIEW, round_no - 1)) or {}
        # New work is reviewed as the changes since the last review; a review asked for alone, whole.
        since = previous.get("head", state.base) if tasks else state.base
        try:
            review, _, verify = self._round(state, plan, tasks, round_no, since)
        except LeaseLost:
            raise
        except GitorchError as exc:
            state.set_status(RunStatus.FAILED)
            raise GitorchError(f"rework of run {state.run.id} failed: {exc.message}", hint=exc.hint) from exc
        state.set_status(RunStatus.DONE, verdict=review.verdict)
        label(state, "done" if review.verdict == "approve" else "failed")
        return self._result(state, verify=verify)

    def _state(self, run_id: str, what: str | None = None) -> RunState:
        if self.store.get_run(run_id) is None:
            recover(self.config, self.parts, run_id, None)
        run = self.store.get_run(run_id)
        if run is None:
            raise GitorchError(f"no run with id {run_id}",
                               hint=what or "'gitorch run' prints its run id; 'gitorch dashboard' lists every run")
        recorded = self.store.journal_result(run_id, StepKey(StepKind.REQUEST))
        if not recorded:
            raise GitorchError(f"run {run_id} has no recorded request", hint="start it again with 'gitorch run'")
        return RunState(self.config, self.parts, run, RunRequest.from_journal(recorded["request"]))

    # -- the run ------------------------------------------------------------------------------------

    def _holding(self, state: RunState, work: Callable[[], RunResult]) -> RunResult:
        """``work`` done while holding the run's claim. A run another process holds is left alone,
        and nothing is said where it was asked for."""
        try:
            with Lease(self.parts.claims, state.run.id, self.config.pipeline.lease_s,
                       runner=self.store.runner) as state.lease:
                return work()
        except RunHeld as held:
            return self._result(state, message=held.message, held_by=held.holder)
        except TeamAway as away:  # nobody can say who drives the run now: it waits, untouched
            if state.run.status is RunStatus.PAUSED or not (state.run.status.waiting or state.run.status.finished):
                state.set_status(RunStatus.PAUSED, resume_after=parse_iso(away.deferred_until))
            return self._result(state, message=f"Run {state.run.id} waits: {away.message}\n{away.hint}")
        except LeaseLost as lost:  # another process may drive the run now: this one writes nothing more
            return self._result(state, message=lost.message)

    def _drive(self, state: RunState) -> RunResult:
        """Drive the run, holding its claim, until it ends or stops on purpose; say why where the run
        was asked for."""
        return self._holding(state, lambda: self._owned(state))

    def _owned(self, state: RunState) -> RunResult:
        state.run.resume_after = None  # saved with the next status; a new pause sets it again
        try:
            return self._run(state)
        except LeaseLost:
            raise
        except Paused as pause:
            return self._pause(state, pause.status, pause.message, pause.hint, pause.resume_after)
        except BudgetExceeded as exc:
            then = (f"It goes on by itself after {exc.resume_at} (UTC), or resume it with "
                    if exc.resume_at else "Resume it with ")
            message = (f"Run {state.run.id} paused: {exc.message} Everything produced so far is kept. "
                       f"{then}'gitorch run --resume {state.run.id}' when the budget allows.")
            return self._pause(state, RunStatus.PAUSED, message, None, exc.resume_at)
        except ServiceError as exc:
            if not exc.deferred_until:
                raise self._failed(state, exc) from exc
            message = (f"Run {state.run.id} has to wait: {exc.message} Everything produced so far is kept; it goes "
                       f"on by itself after {exc.deferred_until}, or with 'gitorch run --resume {state.run.id}'.")
            return self._pause(state, RunStatus.PAUSED, message, None, exc.deferred_until)
        except GitorchError as exc:
            raise self._failed(state, exc) from exc

    def _pause(self, state: RunState, status: RunStatus, message: str, hint: str | None,
               resume_after: str | None) -> RunResult:
        state.set_status(status, resume_after=parse_iso(resume_after))
        if status is RunStatus.PAUSED:
            label(state, "paused")
        tell(state, f"{message}\n\n{hint or ''}".strip())
        return self._result(state, message=message + (f"\n{hint}" if hint else ""))

    def _failed(self, state: RunState, exc: GitorchError) -> GitorchError:
        state.set_status(RunStatus.FAILED)
        message = (f"Run {state.run.id} failed: {exc.message}\nEverything produced so far is kept; "
                   f"resume with 'gitorch run --resume {state.run.id}'.")
        tell(state, message)
        label(state, "failed")
        return GitorchError(message, hint=exc.hint)

    def _run(self, state: RunState) -> RunResult:
        start = state.step(StepKey(StepKind.START), lambda: _start(state))
        state.run.branch = start["branch"]

        decision = route_step(state)
        agent = confirm_step(state, decision)

        state.set_status(RunStatus.PLANNING)
        label(state, "planning")
        plan = plan_step(state, decision, agent)
        if not plan.tasks:
            state.step(StepKey(StepKind.ANSWER), lambda: {"comment": tell(state, plan.summary)})
            self._finish(state, decision.id, verdict=None, status=RunStatus.ANSWERED)
            return self._result(state, answer=plan.summary, message="answered without code")
        plan = approve_plan(state, plan)
        tell(state, f"Claude planned {len(plan.tasks)} task(s); building now.")

        reviews: list[Review] = []
        tasks = plan.tasks
        since = state.base
        verify: Verification | None = None
        for round_no in range(1, self.config.pipeline.max_review_rounds + 1):
            review, since, verify = self._round(state, plan, tasks, round_no, since)
            reviews.append(review)
            if review.verdict == "approve":
                break
            tasks = fix_tasks(self.config, review, round_no, verify)
            if not tasks:
                break
        if tick_task_file(state):
            publish(state, plan, StepKey(StepKind.PUSH, tag="tick"))
        self._finish(state, decision.id, verdict=reviews[-1].verdict if reviews else None, status=RunStatus.DONE)
        return self._result(state, verify=verify)

    def _round(self, state: RunState, plan: Plan, tasks: list[Task], round_no: int,
               since: str) -> tuple[Review, str, Verification | None]:
        """Build the round's tasks, publish, verify, review what changed since ``since``; returns the
        review, the head it reviewed and the test command's result."""
        state.run.rounds = max(state.run.rounds, round_no)
        state.set_status(RunStatus.BUILDING)
        label(state, "building")
        head = build_round(state, plan, tasks, round_no)
        pr_number = publish(state, plan, StepKey(StepKind.PUSH, round_no))
        verify = verify_step(state, head, round_no)
        state.set_status(RunStatus.REVIEWING, pr_number=pr_number)
        label(state, "reviewing")
        review = review_step(state, plan, round_no, state.base if round_no == 1 else since, head, verify)
        post_review(state, pr_number, head, review, round_no, verify)
        return review, head, verify

    # -- finishing ---------------------------------------------------------------------------------------

    def _finish(self, state: RunState, decision_id: str, *, verdict: str | None, status: RunStatus) -> None:
        def action() -> dict[str, Any]:
            outcome = "success" if verdict in (None, "approve") else "failure"
            self.parts.router.feedback(decision_id, outcome=outcome)
            return {"verdict": verdict, "outcome": outcome, "summary": verdict or str(status)}

        state.step(StepKey(StepKind.FINISH), action)
        state.set_status(status, verdict=verdict)
        label(state, "done" if verdict != "reject" else "failed")
        tell(state, "Done: Claude approved the work." if verdict == "approve" else
             f"Done after {state.run.rounds} round(s); Claude's last verdict is **{verdict}**." if verdict else "Answered.")

    def _result(self, state: RunState, **kw: Any) -> RunResult:
        run = state.run
        metrics = self.store.run_metrics(run.id)
        commits = []
        for row in self.store.journal(run.id):
            result = row.get("result")
            if row["key"].startswith(f"{StepKind.COMMIT}:") and result:
                commits.append(result["commit"])
        return RunResult(run=run, decision=state.decision(), plan=self.store.latest_plan(run.id),
                         reviews=self.store.reviews(run.id), commits=commits,
                         cost_usd=sum(m.cost_usd for m in metrics),
                         baseline_cost_usd=sum(m.baseline_cost_usd for m in metrics),
                         alerts=list(state.alerts), **kw)


def _start(state: RunState) -> dict[str, Any]:
    repo = state.parts.repo
    base = repo.resolve(state.request.base)
    branch = repo.branch_for(state.run.id, state.request.headline)
    return {"base": base, "branch": branch, "summary": f"{branch} from {base[:10]}"}
