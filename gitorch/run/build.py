"""Building: each task of a round by its builder, independent tasks at once, whatever it takes.

``build_task`` tries the task's builder under the retry policy (attempts with exponential backoff,
``retry-after`` honoured). An answer that cannot be turned into edits is sent back to the same
builder once, with the exact reason and the edits that were fine. When a builder still fails, the
next one in ``agents.fallback`` takes over (Claude only when ``agents.allow_claude_fallback``); its
result is marked ``fallback``. When every builder fails, ``BuildFailed`` says what each one did and
keeps the paths of their screenshots and page dumps. Every call that gave an answer gets its ledger
row at once, also an answer that could not be used (its tokens were spent).

``build_round`` builds a round's tasks wave by wave (a wave depends only on earlier ones), the
tasks of a wave in a thread pool (``pipeline.parallelism``); the journal records each build as
started before any builder is asked and finished once the wave is done, and every commit happens on
the calling thread, in task order.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from ..edits.protocol import claude_alone
from ..errors import AgentError, GitorchError, UnusableAnswer, answer_of
from ..model import (
    CLAUDE,
    Artifact,
    BuildCall,
    BuildContext,
    BuildResult,
    Plan,
    RunStatus,
    StepKey,
    StepKind,
    Task,
)
from ..ports import Builder, GitRepo
from ..retry import RetryPolicy
from .commit import commit_step
from .ledger import Ledger, Paid
from .plan import assign_chosen
from .state import Paused, RunState

log = logging.getLogger("gitorch.run.build")


class BuildFailed(AgentError):
    """Every builder in the order failed on a task. ``failures`` says what each did; ``calls`` are the
    calls made (their tokens are counted)."""

    def __init__(self, message: str, hint: str | None = None, *, failures: list[BuildCall] | None = None,
                 calls: list[BuildCall] | None = None, **kw: Any):
        super().__init__(message, hint, **kw)
        self.failures = failures or []
        self.calls = calls or []


def builder_order(task: Task, config: Any) -> list[str]:
    """The task's builder first, then ``agents.fallback`` in order (Claude only when allowed)."""
    order = [task.assigned_to or config.agents.builder]
    for agent in config.agents.fallback:
        if agent == CLAUDE and not config.agents.allow_claude_fallback:
            continue
        if agent not in order:
            order.append(agent)
    return order


def reask_instructions(previous: str, error_message: str) -> str:
    """What the builder reads on its second try: the exact reason its answer could not be used."""
    note = ("Your previous answer to this task could not be used:\n\n"
            f"{error_message.strip()}\n\n"
            "Answer again with every edit this task needs, in the format described above.")
    return f"{previous.strip()}\n\n{note}" if previous.strip() else note


def build_task(task: Task, context: BuildContext, config: Any, builders: Mapping[str, Builder], policy: RetryPolicy,
               ledger: Ledger, *, repo: GitRepo | None = None,
               alerts: Callable[[list[str]], None] | None = None) -> BuildResult:
    """``task`` built by the builders of ``builder_order`` in turn until one gives usable edits;
    with ``repo`` its edits are checked against the repository (``result.contents``). Each call of a
    paid builder (Claude) is held against the budget first (``alerts`` hears what that raises)."""
    return _TaskBuild(config, builders, policy, ledger, repo, alerts).build(task, context)


class _TaskBuild:
    def __init__(self, config: Any, builders: Mapping[str, Builder], policy: RetryPolicy, ledger: Ledger,
                 repo: GitRepo | None, alerts: Callable[[list[str]], None] | None):
        self.config, self.builders, self.policy, self.ledger = config, builders, policy, ledger
        self.repo, self.alerts = repo, alerts
        self._paid: Paid | None = None  # the paid call in flight, settled by its answer's row

    def build(self, task: Task, context: BuildContext) -> BuildResult:
        failures: list[BuildCall] = []
        calls: list[BuildCall] = []
        deferred_until: str | None = None
        for index, agent in enumerate(builder_order(task, self.config)):
            fallback = index > 0
            try:
                builder = self.builders.get(agent)
            except GitorchError as exc:  # e.g. Claude without an API key: this one cannot take part
                failures.append(BuildCall(agent, error=exc.message))
                continue
            if builder is None:
                failures.append(BuildCall(agent, error="not available on this runner"))
                continue
            if fallback:
                log.warning("task %s: falling back to %s after %s", task.id, agent, failures[-1].error)
            try:
                result = self._with_reask(builder, agent, task, context, calls, fallback)
            except UnusableAnswer as exc:
                failures.append(BuildCall(agent, error=f"its answer could not be used twice: {exc.message}"))
                continue
            except AgentError as exc:
                failure = BuildCall(agent, error=exc.message, artifacts=dict(exc.artifacts))
                failures.append(failure)
                calls.append(failure)
                deferred_until = deferred_until or exc.deferred_until
                continue
            result.fallback, result.calls, result.failures = fallback, calls, failures
            return result
        lines = "\n".join(f"  - {f.agent}: {f.error}" for f in failures)
        shots = [path for f in failures for path in f.artifacts.values()]
        hint = ("see the saved screenshots: " + ", ".join(shots)) if shots else (
            "check `gitorch doctor`; allow a fallback in .gitorch.yml (agents.fallback, agents.allow_claude_fallback)")
        raise BuildFailed(f"no builder could build task {task.id}:\n{lines}", hint=hint, failures=failures,
                          calls=calls, deferred_until=deferred_until,
                          artifacts={f"{f.agent}:{name}": path for f in failures for name, path in f.artifacts.items()})

    def _with_reask(self, builder: Builder, agent: str, task: Task, context: BuildContext, calls: list[BuildCall],
                    fallback: bool) -> BuildResult:
        try:
            result = self._answer(builder, agent, task, context)
        except UnusableAnswer as exc:
            self._record(exc.result, task, context, calls, fallback, error=exc.message)
            log.warning("task %s: %s's answer could not be used; asking once more", task.id, agent)
            first = exc
        else:
            self._record(result, task, context, calls, fallback)
            return result
        # The second answer need only redo the failed blocks: it is read on top of the accepted ones.
        again = dataclasses.replace(context, instructions=reask_instructions(context.instructions, first.message),
                                    accepted=list(first.accepted))
        try:
            result = self._answer(builder, agent, task, again)
        except UnusableAnswer as second:
            self._record(second.result, task, again, calls, fallback, error=second.message)
            raise
        self._record(result, task, again, calls, fallback)
        result.reasked = True
        return result

    def _answer(self, builder: Builder, agent: str, task: Task, context: BuildContext) -> BuildResult:
        """One answer under the retry policy, checked against the repository. A paid builder's call
        is held against the budget first; the row its answer gets settles it, and a call that fails
        without an answer releases it."""
        def attempt() -> BuildResult:
            if agent == CLAUDE:  # the plans' builders cost nothing at the margin
                self._paid = self.ledger.reserve(
                    self.config.models.build, input_tokens=sum(map(len, context.files.values())) // 4 + 3000,
                    output_tokens=max(task.estimated_lines, 50) * 12, run_id=context.run_id)
                if self._paid.alerts and self.alerts is not None:
                    self.alerts(self._paid.alerts)
            try:
                return builder.build(task, context)
            except UnusableAnswer as exc:
                if exc.result is None:
                    self._release()
                raise
            except BaseException:
                self._release()
                raise

        result = self.policy.call(attempt)
        if self.repo is not None:
            with answer_of(result):
                result.contents = self.repo.apply_edits(result.edits, context.files)
        return result

    def _record(self, result: BuildResult | None, task: Task, context: BuildContext, calls: list[BuildCall],
                fallback: bool, error: str | None = None) -> None:
        if result is None:
            self._release()
            return
        calls.append(BuildCall(result.agent, result.model, result.usage, round(result.duration_s, 3), error))
        paid, self._paid = self._paid, None
        # A builder's baseline is what Claude alone would have done for the task: counted once, on the
        # answer that was used, whichever builder gave it.
        alone = None
        if result.agent != CLAUDE and error is None:
            alone = claude_alone(task, context, result.contents or {}, self.config.edits)
        self.ledger.record(agent=result.agent, model=result.model, usage=result.usage, duration_s=result.duration_s,
                           task_type=task.task_type, run_id=context.run_id, step="build", fallback=fallback, paid=paid,
                           claude_alone=alone)

    def _release(self) -> None:
        paid, self._paid = self._paid, None
        if paid is not None:
            self.ledger.release(paid)


# -- a round ----------------------------------------------------------------------------------------


def waves(tasks: list[Task]) -> list[list[Task]]:
    """Tasks in dependency order, grouped so that each group depends only on earlier groups."""
    ids = {t.id for t in tasks}
    remaining = {t.id: t for t in tasks}
    done: set[str] = set()
    out: list[list[Task]] = []
    while remaining:
        ready = [t for t in remaining.values() if all(d in done or d not in ids for d in t.depends_on)]
        if not ready:
            cycle = ", ".join(sorted(remaining))
            raise GitorchError(f"the plan's tasks depend on each other in a circle: {cycle}",
                               hint="ask for the plan again, or edit the dependencies")
        out.append(ready)
        for t in ready:
            done.add(t.id)
            del remaining[t.id]
    return out


def build_round(state: RunState, plan: Plan, tasks: list[Task], round_no: int) -> str:
    """Build and commit the round's tasks; returns the branch's head after them."""
    repo = state.parts.repo
    head = repo.branch_tip(state.branch) or state.base
    assign_chosen(tasks, state.decision(), state.request)
    for wave in waves(tasks):
        tip = repo.branch_tip(state.branch) or state.base
        keys = {t.id: StepKey(StepKind.BUILD, round_no, t.id) for t in wave}
        # Each build is recorded as started (once) before any builder is asked.
        finished = {t.id: state.begin(keys[t.id], f"{t.assigned_to}: {t.description}") for t in wave}
        pending = [t for t in wave if finished[t.id] is None]
        with ThreadPoolExecutor(max_workers=state.config.pipeline.parallelism) as pool:
            futures = {t.id: pool.submit(_build_one, state, plan, t, tip) for t in pending}
        # Every build of the wave has ended. The ones that gave an answer are kept (their calls were
        # paid for) before a failure of another stops the run; the commits follow in task order.
        failure = next((f.exception() for f in futures.values() if f.exception() is not None), None)
        for task in wave:
            if finished[task.id] is None and futures[task.id].exception() is None:
                finished[task.id] = state.finish(keys[task.id], _keep(state, task, futures[task.id].result(), tip))
        if failure is not None:
            raise failure
        for task in wave:
            head = commit_step(state, task, round_no, finished[task.id])
    return head


def _build_one(state: RunState, plan: Plan, task: Task, tip: str) -> BuildResult:
    """Build one task. Runs on a pool thread: it writes ledger rows, never the journal."""
    repo = state.parts.repo
    # Secret files (the one secret policy's) are never read for a builder: it is told they exist.
    withheld = state.config.secrets.policy.withheld(task.files)
    shown = [p for p in task.files if p not in withheld]
    files = repo.read_files(tip, shown) if shown else {}
    context = BuildContext(plan=plan, files={p: c for p, c in files.items() if c is not None}, run_id=state.run.id,
                           repo_root=str(repo.path), base_commit=tip, withheld=withheld)
    policy = RetryPolicy(attempts=state.config.pipeline.attempts, sleep=state.parts.sleep,
                         max_retry_after_s=state.config.anthropic.max_retry_after_s)
    try:
        return build_task(task, context, state.config, state.parts.builders, policy, state.parts.ledger, repo=repo,
                          alerts=state.say_alerts)
    except AgentError as exc:
        if exc.deferred_until:
            raise Paused(RunStatus.PAUSED, f"task {task.id} has to wait: {exc.message}",
                         hint=f"it goes on by itself after {exc.deferred_until} (on the next "
                              f"'gitorch run --resume-due' or scheduled workflow run), or with "
                              f"'gitorch run --resume {state.run.id}'", resume_after=exc.deferred_until) from exc
        raise GitorchError(f"task {task.id} could not be built: {exc.message}", hint=exc.hint) from exc


def _keep(state: RunState, task: Task, result: BuildResult, tip: str) -> dict[str, Any]:
    contents = result.contents if result.contents is not None else {}
    for path, content in contents.items():
        state.store.save_artifact(Artifact(path=path, content=content, task_id=task.id, agent=result.agent,
                                           run_id=state.run.id))
    return {"artifacts": contents, "agent": result.agent, "fallback": result.fallback, "read_at": tip,
            "summary": f"{len(contents)} files by {result.agent}" + (" (fallback)" if result.fallback else "")}

