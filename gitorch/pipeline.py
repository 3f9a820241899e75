"""The run: route, confirm, plan, build, commit, push and PR, verify, review, fix; resumable.

The run is a sequence of steps over the store's journal. Each step has a key (``plan``,
``build:r1:t2``, ``commit:r1:t2``, ``review:r1``...). Before a step touches the outside world it is
recorded as started; when it is done its result is recorded. A run that is killed at any point is
run again from the top with the same id: finished steps return their recorded result without acting
again, and a step that had started but not finished is redone through an idempotent operation
(commits compare trees, comments and PRs are found by marker or branch), so nothing happens twice.

Concurrency: one model for the whole pipeline. Independent tasks of a round are built in a thread
pool (``pipeline.parallelism``); everything that writes (commits, the store's journal, GitHub) happens
on the calling thread, in task order.
"""

from __future__ import annotations

import re
import shlex
import subprocess
import tempfile
import time
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, Protocol

from . import cost
from .agents import AgentError, BuildContext, Builder, BuildResult
from .config import Config, repo_key
from .errors import BudgetExceeded, GitorchError
from .gitcli import no_git_env
from .model import CHATGPT, CLAUDE, Artifact, Plan, Review, RoutingDecision, Run, Task, Usage, new_id, utcnow
from .redact import redact, without_secrets
from .store import Store
from .store.sqlite import parse_iso

# Run statuses a person may see.
AWAITING_CONFIRMATION = "awaiting_confirmation"
AWAITING_PLAN_APPROVAL = "awaiting_plan_approval"
AWAITING_RESOLUTION = "awaiting_resolution"  # a git conflict, with Claude's proposed resolution
PAUSED = "paused"
DONE = "done"
FAILED = "failed"
ANSWERED = "answered"
TERMINAL = (DONE, ANSWERED, "cancelled")
# The `gitorch:<stage>` label that shows a run's status on its issue.
STAGES = {"building": "building", "reviewing": "reviewing", DONE: "done", ANSWERED: "done",
          FAILED: "failed", PAUSED: "paused", "cancelled": "failed"}  # a failed or paused run can be resumed


@dataclass
class Request:
    """What a person asked for, from any trigger."""

    text: str
    title: str = ""
    trigger: str = "cli"  # cli, issue, comment, task_md, hook, action
    agent: str | None = None  # a person chose the builder (--agent, /gitorch override, @agent hint)
    issue_number: int | None = None
    base: str = "HEAD"
    tasks: list[dict[str, Any]] = field(default_factory=list)  # TASK.md items, already parsed
    confirmed: bool = False  # /gitorch proceed, --yes
    requested_by: str | None = None
    decision_id: str | None = None  # routed already (the Action posts the suggestion first)
    plan_approved: bool = False  # /gitorch proceed on a plan that waits for approval
    plan_only: bool = False  # /gitorch plan: stop after the plan until a person approves it

    @property
    def from_github(self) -> bool:
        """Started by an event on GitHub (its runs talk back there), not on this machine."""
        return bool(self.requested_by)

    @property
    def headline(self) -> str:
        return (self.title or self.text.strip().splitlines()[0] if self.text.strip() else "task")[:80]


class Progress(Protocol):
    def step(self, key: str, status: str, detail: str = "") -> None: ...


class _Silent:
    def step(self, key: str, status: str, detail: str = "") -> None:
        pass


class Paused(GitorchError):
    """The run stopped on purpose and can be resumed (confirmation, plan approval, budget).
    ``resume_after`` (ISO time) says when it may go on by itself."""

    def __init__(self, status: str, message: str, hint: str | None = None, resume_after: str | None = None):
        super().__init__(message, hint)
        self.status = status
        self.resume_after = resume_after


@dataclass
class RunResult:
    run: Run
    decision: RoutingDecision | None = None
    plan: Plan | None = None
    reviews: list[Review] = field(default_factory=list)
    commits: list[str] = field(default_factory=list)
    cost_usd: float = 0.0
    baseline_cost_usd: float = 0.0
    answer: str | None = None
    message: str = ""
    alerts: list[str] = field(default_factory=list)
    verify: dict[str, Any] | None = None


@dataclass
class Parts:
    """What the pipeline talks to, each behind its interface."""

    store: Store
    router: Any  # gitorch.routing.Router
    architect: Any  # gitorch.agents.Architect
    builders: dict[str, Builder]
    repo_path: Path
    github: Any | None = None  # gitorch.github.provider.GitHubProvider
    confirm: Callable[[RoutingDecision], tuple[str, str | None]] | None = None
    progress: Progress = field(default_factory=_Silent)
    repo_context: Callable[[str, str], str] | None = None  # (task, commit) -> context under the budget
    # (decision, stage, plan, note) -> the body of the run's one comment on the issue
    render_comment: Callable[..., str] | None = None
    sleep: Callable[[float], None] = time.sleep


class Pipeline:
    def __init__(self, config: Config, parts: Parts):
        self.config = config
        self.parts = parts
        self.store = parts.store
        self.progress = parts.progress
        self.alerts: list[str] = []

    # -- the journal --------------------------------------------------------------------------------

    def _step(self, run: Run, key: str, action: Callable[[], dict[str, Any]], detail: str = "") -> dict[str, Any]:
        done = self.store.journal_begin(run.id, key, {"detail": detail})
        if done is not None:
            self.progress.step(key, "done", "already done")
            return done
        self.progress.step(key, "start", detail)
        result = action()
        self.store.journal_finish(run.id, key, result)
        self.progress.step(key, "done", result.get("summary", ""))
        return result

    def _set_status(self, run: Run, status: str, **fields: Any) -> None:
        run.status = status
        for name, value in fields.items():
            setattr(run, name, value)
        run.updated_at = utcnow()
        self.store.save_run(run)

    # -- entry points -------------------------------------------------------------------------------

    def start(self, request: Request, run_id: str | None = None) -> RunResult:
        run = Run(id=run_id or new_id("run"), text=request.text, trigger=request.trigger,
                  repo=repo_key(self.parts.repo_path), issue_number=request.issue_number)
        existing = self.store.get_run(run.id)
        if existing is not None:
            return self.resume(run.id, request)
        self.store.save_run(run)
        self.store.journal_begin(run.id, "request", {})
        self.store.journal_finish(run.id, "request", {"request": asdict(request)})
        return self._drive(run, request)

    def resume(self, run_id: str, update: Request | None = None) -> RunResult:
        """Continue a run from its last finished step. ``update`` carries what a person said since
        (a confirmation, an override, an approved plan)."""
        run = self.store.get_run(run_id)
        if run is None:
            raise GitorchError(f"no run with id {run_id}",
                               hint="'gitorch run' prints its run id; 'gitorch dashboard' lists every run")
        recorded = self.store.journal_result(run_id, "request")
        if not recorded:
            raise GitorchError(f"run {run_id} has no recorded request", hint="start it again with 'gitorch run'")
        request = Request(**recorded["request"])
        if run.status == AWAITING_PLAN_APPROVAL:
            request.plan_only = True  # the plan waits for a person, however it came to wait
        if update is not None:
            request.plan_only = request.plan_only or update.plan_only
            if run.status == AWAITING_PLAN_APPROVAL and not update.plan_only:
                request.plan_approved = request.plan_approved or update.confirmed
            if run.status == AWAITING_RESOLUTION and update.confirmed:
                self._approve_resolution(run)
            request.confirmed = request.confirmed or update.confirmed
            request.agent = update.agent or request.agent
        if run.status in TERMINAL:
            return self._result(run, request, message=f"run {run.id} is {run.status} already")
        return self._drive(run, request)

    # -- the run ------------------------------------------------------------------------------------

    def resume_due(self, *, from_github: bool, now: datetime | None = None) -> list[RunResult | GitorchError]:
        """Resume every paused run whose wait is over (a usage cap reset, a new budget period), the
        longest waiting first: `gitorch run --resume-due` takes the runs started on this machine
        (``from_github=False``), the workflow's schedule those started on GitHub, whose comments and
        pull requests need the GitHub client. One run failing does not stop the others; its error
        takes its place in the list."""
        outcomes: list[RunResult | GitorchError] = []
        for run in self.store.runs_due(now or utcnow()):
            recorded = self.store.journal_result(run.id, "request")
            if not recorded or Request(**recorded["request"]).from_github != from_github:
                continue
            try:
                outcomes.append(self.resume(run.id))
            except GitorchError as exc:
                outcomes.append(exc)
        return outcomes

    def _drive(self, run: Run, request: Request) -> RunResult:
        run.resume_after = None  # saved with the next status; a new pause sets it again
        try:
            return self._run(run, request)
        except Paused as pause:
            self._set_status(run, pause.status, resume_after=parse_iso(pause.resume_after))
            if pause.status == PAUSED:
                self._label(request, "paused")
            self._tell(run, request, f"{pause.message}\n\n{pause.hint or ''}".strip())
            return self._result(run, request, message=pause.message + (f"\n{pause.hint}" if pause.hint else ""))
        except BudgetExceeded as exc:
            self._set_status(run, PAUSED, resume_after=parse_iso(exc.resume_at))
            then = (f"It goes on by itself after {exc.resume_at} (UTC), or resume it with "
                    if exc.resume_at else "Resume it with ")
            message = (f"Run {run.id} paused: {exc.message} Everything produced so far is kept. "
                       f"{then}'gitorch run --resume {run.id}' when the budget allows.")
            self._tell(run, request, message)
            self._label(request, "paused")
            return self._result(run, request, message=message)
        except AgentError as exc:
            if not exc.deferred_until:
                raise self._failed(run, request, exc) from exc
            message = (f"Run {run.id} has to wait: {exc.message} Everything produced so far is kept; it goes on by "
                       f"itself after {exc.deferred_until}, or with 'gitorch run --resume {run.id}'.")
            self._set_status(run, PAUSED, resume_after=parse_iso(exc.deferred_until))
            self._label(request, "paused")
            self._tell(run, request, message)
            return self._result(run, request, message=message)
        except GitorchError as exc:
            raise self._failed(run, request, exc) from exc

    def _failed(self, run: Run, request: Request, exc: GitorchError) -> GitorchError:
        self._set_status(run, FAILED)
        message = (f"Run {run.id} failed: {exc.message}\nEverything produced so far is kept; "
                   f"resume with 'gitorch run --resume {run.id}'.")
        self._tell(run, request, message)
        self._label(request, "failed")
        return GitorchError(message, hint=exc.hint)

    def _run(self, run: Run, request: Request) -> RunResult:
        start = self._step(run, "start", lambda: self._start_info(run, request))
        base, branch = start["base"], start["branch"]
        run.branch = branch

        decision = self._route(run, request)
        agent = self._confirm(run, request, decision)

        self._set_status(run, "planning")
        self._label(request, "planning")
        plan = self._plan(run, request, decision, agent)
        if not plan.tasks:
            answer = plan.summary
            self._step(run, "answer", lambda: {"comment": self._tell(run, request, answer)})
            self._finish(run, request, decision, verdict=None, status=ANSWERED)
            return self._result(run, request, answer=answer, message="answered without code")
        plan = self._approve_plan(run, request, plan)
        self._tell(run, request, f"Claude planned {len(plan.tasks)} task(s); building now.")

        reviews: list[Review] = []
        tasks = plan.tasks
        reviewed_head = base
        verify: dict[str, Any] | None = None
        for round_no in range(1, self.config.pipeline.max_review_rounds + 1):
            review, reviewed_head, verify = self._round(run, request, plan, tasks, round_no, base, branch,
                                                        reviewed_head)
            reviews.append(review)
            if review.verdict == "approve":
                break
            tasks = self._fix_tasks(review, round_no, verify)
            if not tasks:
                break
        verdict = reviews[-1].verdict if reviews else None
        self._tick_task_file(run, request, branch)
        self._finish(run, request, decision, verdict=verdict, status=DONE)
        return self._result(run, request, verify=verify)

    def _round(self, run: Run, request: Request, plan: Plan, tasks: list[Task], round_no: int, base: str,
               branch: str, reviewed_head: str) -> tuple[Review, str, dict[str, Any] | None]:
        """Build the round's tasks, publish, verify, review; returns the review, the head and the check."""
        run.rounds = max(run.rounds, round_no)
        self._set_status(run, "building")
        self._label(request, "building")
        head = self._build_round(run, request, plan, tasks, round_no, base, branch)
        pr_number = self._publish(run, request, plan, branch, round_no)
        verify = self._verify(run, head, round_no)
        if verify is not None:
            self._tell(run, request, f"Round {round_no}: `{verify['command']}` exited {verify['exit_code']} on "
                                     f"{head[:10]}.\n\n```\n{verify['tail'][-1500:]}\n```")
        self._set_status(run, "reviewing", pr_number=pr_number)
        self._label(request, "reviewing")
        review = self._review(run, plan, round_no, base, reviewed_head, head, verify)
        self._post_review(run, request, pr_number, head, review, round_no)
        return review, head, verify

    def rework(self, run_id: str, tasks: list[Task], key: str) -> RunResult:
        """One more round on a finished run's branch, for review comments a person left on its PR:
        the tasks are built, pushed and reviewed (only the new changes). ``key`` names the comment
        that asked, so a re-delivered event does the round once."""
        run = self.store.get_run(run_id)
        if run is None:
            raise GitorchError(f"no run with id {run_id}", hint="rework needs the run that opened the pull request")
        request = Request(**(self.store.journal_result(run_id, "request") or {})["request"])
        start = self.store.journal_result(run_id, "start") or {}
        base, branch = start["base"], start["branch"]
        round_no = self._step(run, f"rework:{key}", lambda: {"round": run.rounds + 1})["round"]
        plan = self.store.latest_plan(run_id) or Plan(summary="rework", tasks=[])
        for i, task in enumerate(tasks, 1):
            task.id = f"rework{round_no}-{i}"
            task.assigned_to = task.assigned_to if task.assigned_to in self.parts.builders else self.config.agents.builder
        previous = self.store.journal_result(run_id, f"review:r{round_no - 1}") or {}
        # New work is reviewed as the changes since the last review; a review asked for alone, whole.
        since = previous.get("head", base) if tasks else base
        try:
            review, head, verify = self._round(run, request, plan, tasks, round_no, base, branch, since)
        except GitorchError as exc:
            self._set_status(run, FAILED)
            raise GitorchError(f"rework of run {run.id} failed: {exc.message}", hint=exc.hint) from exc
        self._set_status(run, DONE, verdict=review.verdict)
        self._label(request, "done" if review.verdict == "approve" else "failed")
        return self._result(run, request, verify=verify)

    def _tick_task_file(self, run: Run, request: Request, branch: str) -> None:
        """TASK.md items that asked for this run are ticked off on its branch."""
        if request.trigger != "task_md" or not request.tasks:
            return
        from . import gitops
        from .tasks import TASK_FILE, parse, tick

        def action() -> dict[str, Any]:
            tip = gitops.branch_tip(self.parts.repo_path, branch)
            text = gitops.read_file(self.parts.repo_path, tip, TASK_FILE) if tip else None
            if text is None:
                return {"summary": "no TASK.md on the branch"}
            wanted = {t["id"] for t in request.tasks}
            items = [i for i in parse(text, strict=False).items if i.task_id in wanted]
            result = gitops.commit_artifacts(
                self.parts.repo_path, branch=branch, parent=tip, artifacts={TASK_FILE: tick(text, items)},
                description=f"Tick off {len(items)} TASK.md item(s)", run_id=run.id, task_id="task-md",
                agent="gitorch", author_name=self.config.git.author_name, author_email=self.config.git.author_email)
            return {"commit": result.commit, "summary": f"{len(items)} item(s) ticked"}

        self._step(run, "tick", action)
        plan = self.store.latest_plan(run.id)
        if plan is not None:
            self._publish(run, request, plan, branch, "tick")

    def _start_info(self, run: Run, request: Request) -> dict[str, Any]:
        from . import gitops

        base = gitops.resolve(self.parts.repo_path, request.base)
        branch = gitops.branch_name(self.config.git.branch_prefix, run.id, request.headline)
        return {"base": base, "branch": branch, "summary": f"{branch} from {base[:10]}"}

    # -- route and confirm ---------------------------------------------------------------------------

    def _route(self, run: Run, request: Request) -> RoutingDecision:
        def action() -> dict[str, Any]:
            decision = (self.store.get_decision(request.decision_id) if request.decision_id else None) \
                or self.parts.router.route(request.text)
            return {"decision_id": decision.id, "summary": f"{decision.task_type} -> {decision.agent} "
                    f"({decision.confidence:.0%})"}

        result = self._step(run, "route", action)
        decision = self.store.get_decision(result["decision_id"])
        if decision is None:
            raise GitorchError(f"routing decision {result['decision_id']} is missing from the store")
        if decision.run_id != run.id:
            decision.run_id = run.id
            self.store.record_decision(decision)
        return decision

    def _confirm(self, run: Run, request: Request, decision: RoutingDecision) -> str:
        def action() -> dict[str, Any]:
            chosen, how = decision.agent, "auto"
            if request.agent:
                chosen, how = request.agent, "override"
            elif request.confirmed:
                how = "confirmed"
            elif self.config.routing.auto and not decision.manual and \
                    decision.confidence >= self.config.routing.min_confidence_for_auto:
                how = "auto"
            elif self.parts.confirm is not None:
                answer, agent = self.parts.confirm(decision)
                if answer == "cancel":
                    raise Paused("cancelled", "cancelled by the person at the confirmation prompt")
                chosen, how = (agent or decision.agent), ("override" if agent and agent != decision.agent
                                                          else "confirmed")
            else:
                raise Paused(
                    AWAITING_CONFIRMATION,
                    f"The router suggests {decision.agent} for this {decision.task_type.replace('_', ' ')} task "
                    f"with {decision.confidence:.0%} confidence, below the "
                    f"{self.config.routing.min_confidence_for_auto:.0%} needed to start by itself.",
                    hint="reply '/gitorch proceed' to go ahead, or '/gitorch override claude|chatgpt-pro|codex'",
                )
            if how == "override" and chosen != decision.agent:
                self.parts.router.feedback(decision.id, override_agent=chosen)
            return {"agent": chosen, "how": how, "summary": f"{chosen} ({how})"}

        return self._step(run, "confirm", action)["agent"]

    # -- plan -----------------------------------------------------------------------------------------

    def _plan(self, run: Run, request: Request, decision: RoutingDecision, agent: str) -> Plan:
        def action() -> dict[str, Any]:
            base = self.store.journal_result(run.id, "start")["base"]
            context = self.parts.repo_context(request.text, base) if self.parts.repo_context else ""
            self._budget(run, self.config.models.plan,
                         input_tokens=len(context) // 4 + 2000, output_tokens=self.config.anthropic.max_output_tokens // 2)
            task_text = request.text
            if request.tasks:
                items = "\n".join(f"- {t.get('id', '')}: {t['description']}" for t in request.tasks)
                task_text = f"{request.text}\n\nItems to do (from TASK.md):\n{items}"
            result = self.parts.architect.plan(task_text, context)
            self._record(run, CLAUDE, result.model, result.usage, result.duration_s, "plan", decision.task_type)
            plan = result.plan
            plan.run_id = run.id
            builder = self._builder_for(agent)
            for task in plan.tasks:
                task.assigned_to = self._assign(task, agent, builder, request)
            self.store.save_plan(plan)
            return {"plan_id": plan.id, "summary": f"{len(plan.tasks)} tasks"}

        result = self._step(run, "plan", action, "Claude plans")
        plan = self.store.get_plan(result["plan_id"])
        if plan is None:
            raise GitorchError(f"plan {result['plan_id']} is missing from the store")
        return plan

    def _builder_for(self, agent: str) -> str:
        """The builder a run uses: the chosen agent when it is a builder, else the configured one."""
        if agent in self.parts.builders and agent != CLAUDE:
            return agent
        return self.config.agents.builder

    def _assign(self, task: Task, agent: str, builder: str, request: Request) -> str:
        hinted = next((t.get("agent") for t in request.tasks if t.get("id") == task.id and t.get("agent")), None)
        if hinted:
            return hinted
        if request.agent:  # a person chose: every task goes there
            return request.agent
        if task.assigned_to == CLAUDE:
            return CLAUDE
        return builder if task.assigned_to in (CHATGPT, "codex", builder) else task.assigned_to

    def _approve_plan(self, run: Run, request: Request, plan: Plan) -> Plan:
        """With ``plan_approval: required`` (or after `/gitorch plan`) the run stops after the plan
        until a person approves it; in GitHub mode the tasks they unticked in the comment are
        skipped, and edited ones built as edited."""
        if self.config.pipeline.plan_approval != "required" and not request.plan_only:
            return plan
        approved = self.store.journal_result(run.id, "plan_approved")
        if approved is None:
            if not request.plan_approved:
                raise Paused(AWAITING_PLAN_APPROVAL, "The plan waits for approval. Untick the tasks to leave "
                             "out, or edit them:\n\n" + render_plan(plan),
                             hint=f"reply '/gitorch proceed' (or 'gitorch run --resume {run.id} --yes') to build it")
            body = None
            if self.parts.github is not None and request.issue_number is not None:
                comment = self.parts.github.find_comment(request.issue_number, "suggestion")
                body = comment.body if comment is not None else None
            edited = apply_plan_edits(plan, body) if body else plan
            self.store.save_plan(edited)
            approved = self._step(run, "plan_approved", lambda: {
                "tasks": [t.id for t in edited.tasks], "summary": f"{len(edited.tasks)} tasks approved"})
        kept = set(approved["tasks"])
        plan = self.store.get_plan(plan.id) or plan
        plan.tasks = [t for t in plan.tasks if t.id in kept]
        return plan

    # -- build and commit -------------------------------------------------------------------------------

    def _build_round(self, run: Run, request: Request, plan: Plan, tasks: list[Task], round_no: int, base: str,
                     branch: str) -> str:
        from . import gitops

        head = gitops.branch_tip(self.parts.repo_path, branch) or base
        for wave in _waves(tasks):
            tip = gitops.branch_tip(self.parts.repo_path, branch) or base
            keys = {t.id: f"build:r{round_no}:{t.id}" for t in wave}
            pending = [t for t in wave if not self._finished(run, keys[t.id])]
            for task in pending:  # recorded as started before any builder is asked
                self.store.journal_begin(run.id, keys[task.id], {"detail": task.description})
            with ThreadPoolExecutor(max_workers=self.config.pipeline.parallelism) as pool:
                futures = {t.id: pool.submit(self._build_one, run, plan, t, tip) for t in pending}
                # Wait for all before acting on any, so a failure leaves no half-recorded wave.
                built = {tid: f.result() for tid, f in futures.items()}
            for task in wave:
                result = self._step(run, keys[task.id], lambda task=task, built=built: self._keep_build(run, task, *built[task.id]),
                                    f"{task.assigned_to}: {task.description}")
                head = self._commit(run, request, task, round_no, branch, result)
        return head

    def _finished(self, run: Run, key: str) -> bool:
        return self.store.journal_result(run.id, key) is not None

    def _build_one(self, run: Run, plan: Plan, task: Task, tip: str) -> tuple[BuildResult, dict[str, str | None], str]:
        """Build one task. Runs on a pool thread, so it touches neither the store nor the journal."""
        from . import edits, gitops
        from .building import build_task
        from .retry import RetryPolicy

        files = gitops.read_files(self.parts.repo_path, tip, list(task.files)) if task.files else {}
        files = {p: c for p, c in files.items() if c is not None}
        context = BuildContext(plan=plan, files=files, run_id=run.id, repo_root=str(self.parts.repo_path),
                               base_commit=tip)
        policy = RetryPolicy(attempts=self.config.pipeline.attempts, sleep=self.parts.sleep,
                             max_retry_after_s=self.config.anthropic.max_retry_after_s)
        builders = _Budgeted(self.parts.builders, lambda: self._budget(
            run, self.config.models.build, input_tokens=sum(len(c) for c in files.values()) // 4 + 3000,
            output_tokens=max(task.estimated_lines, 50) * 12))
        try:
            # The ledger rows of every call (re-asks and failed builders too) are written by build_task.
            result: BuildResult = build_task(task, context, self.config, builders, policy, store=self.store)
        except AgentError as exc:
            if exc.deferred_until:
                raise Paused(PAUSED, f"task {task.id} has to wait: {exc.message}",
                             hint=f"it goes on by itself after {exc.deferred_until} (on the next "
                                  f"'gitorch run --resume-due' or scheduled workflow run), or with "
                                  f"'gitorch run --resume {run.id}'", resume_after=exc.deferred_until) from exc
            raise GitorchError(f"task {task.id} could not be built: {exc.message}", hint=exc.hint) from exc
        artifacts = result.extra.get("contents")
        if artifacts is None:
            artifacts = edits.apply_edits(result.edits, files, self.parts.repo_path, self.config.edits)
        return result, artifacts, tip

    def _keep_build(self, run: Run, task: Task, result: BuildResult, artifacts: dict[str, str | None],
                    tip: str) -> dict[str, Any]:
        for path, content in artifacts.items():
            self.store.save_artifact(Artifact(path=path, content=content, task_id=task.id, agent=result.agent,
                                              run_id=run.id))
        return {"artifacts": artifacts, "agent": result.agent, "fallback": result.fallback, "read_at": tip,
                "summary": f"{len(artifacts)} files by {result.agent}" + (" (fallback)" if result.fallback else "")}

    def _commit(self, run: Run, request: Request, task: Task, round_no: int, branch: str,
                built: dict[str, Any]) -> str:
        """Commit the task's artifacts. When the branch moved and the change conflicts, Claude
        proposes a resolution from the conflicting hunks and the run waits for a person to approve
        it; once approved, the resolution is committed on the branch as it is now."""
        from . import gitops

        key = f"commit:r{round_no}:{task.id}"

        def commit(artifacts: dict[str, str | None], parent: str, agent: str) -> dict[str, Any]:
            result = gitops.commit_artifacts(
                self.parts.repo_path, branch=branch, parent=parent, artifacts=artifacts,
                description=task.description, run_id=run.id, task_id=task.id, agent=agent,
                author_name=self.config.git.author_name, author_email=self.config.git.author_email,
                allow_workflow_files=self.config.edits.allow_workflow_files)
            return {"commit": result.commit, "created": result.created, "rebased": result.rebased,
                    "summary": f"{result.commit[:10]} on {branch}"}

        def action() -> dict[str, Any]:
            proposal = self.store.journal_result(run.id, f"resolve:{key}")
            if proposal is not None:
                if self.store.journal_result(run.id, f"approved:{key}") is None:
                    raise Paused(AWAITING_RESOLUTION, _resolution_message(task, proposal),
                                 hint=f"reply '/gitorch proceed' (or 'gitorch run --resume {run.id} --yes') to "
                                      "commit Claude's resolution")
                return commit(proposal["artifacts"], proposal["tip"], CLAUDE)
            try:
                return commit(built["artifacts"], built["read_at"], built["agent"])
            except gitops.ConflictError as exc:
                conflict = exc
            self._step(run, f"resolve:{key}", lambda: self._propose_resolution(run, task, branch, built, conflict))
            return action()

        return self._step(run, key, action)["commit"]

    def _approve_resolution(self, run: Run) -> None:
        """A person approved the resolution the run waits on (only that one: a later conflict asks again)."""
        for step in self.store.journal(run.id):
            key = step["key"].removeprefix("resolve:")
            if step["key"].startswith("resolve:") and step.get("status") == "finished" \
                    and self.store.journal_result(run.id, key) is None:
                self._step(run, f"approved:{key}", lambda: {"summary": "resolution approved"})

    def _propose_resolution(self, run: Run, task: Task, branch: str, built: dict[str, Any],
                            conflict: Any) -> dict[str, Any]:
        """Claude, as a builder, merges the branch's new version of each conflicting file with the task's."""
        from . import gitops

        tip = gitops.branch_tip(self.parts.repo_path, branch)
        current = gitops.read_files(self.parts.repo_path, tip, conflict.paths)
        hunks = "\n\n".join(f"{path}:\n{conflict.hunks.get(path, '')}" for path in conflict.paths)
        ours = "\n\n".join(f"{path} as this task wrote it:\n{built['artifacts'].get(path) or '(deleted)'}"
                            for path in conflict.paths)
        fix = Task(id=f"{task.id}-resolve", description=(
            f"Someone changed {', '.join(conflict.paths)} on the branch while task {task.id} was built "
            f"({task.description.splitlines()[0]}). Write each file so that it keeps their change and does "
            f"what the task asked. The conflicting hunks (ours = the branch now, theirs = the task):\n\n{hunks}"
            f"\n\n{ours}"), files=list(conflict.paths), assigned_to=CLAUDE, task_type="debugging")
        self._budget(run, self.config.models.build, input_tokens=len(hunks + ours) // 3 + 3000, output_tokens=2000)
        context = BuildContext(plan=None, files={p: c for p, c in current.items() if c is not None}, run_id=run.id,
                               repo_root=str(self.parts.repo_path), base_commit=tip)
        result = self.parts.builders[CLAUDE].build(fix, context)
        self._record(run, result.agent, result.model, result.usage, result.duration_s, f"resolve:{task.id}",
                     "debugging")
        from . import edits

        artifacts = edits.apply_edits(result.edits, context.files, self.parts.repo_path, self.config.edits)
        return {"artifacts": {**built["artifacts"], **artifacts}, "tip": tip, "paths": list(conflict.paths),
                "hunks": conflict.hunks, "summary": f"Claude proposes a resolution of {', '.join(conflict.paths)}"}

    # -- publish, verify, review --------------------------------------------------------------------------

    def _publish(self, run: Run, request: Request, plan: Plan, branch: str, round_no: int | str) -> int | None:
        github = self.parts.github
        if github is None:
            return run.pr_number
        from . import gitops

        token = self.config.secrets.github_token.get_secret_value() if self.config.secrets.github_token else None
        def push() -> dict[str, Any]:
            # Someone may have pushed to the branch meanwhile: their commits are kept and ours replayed.
            gitops.fetch_branch(self.parts.repo_path, branch, remote=self.config.git.remote, token=token)
            return {"commit": gitops.push_branch(self.parts.repo_path, branch, remote=self.config.git.remote,
                                                 branch_prefix=self.config.git.branch_prefix, token=token).commit}

        self._step(run, f"push:r{round_no}", push)

        def open_pr() -> dict[str, Any]:
            base_branch = github.default_branch() if hasattr(github, "default_branch") else "main"
            body = redact(pr_body(request, plan, run), self.config.secrets.values())
            pr = github.open_or_update_pr(branch, base_branch, f"gitorch: {request.headline}", body,
                                          request.issue_number)
            return {"pr_number": pr.number, "summary": f"PR #{pr.number}"}

        return self._step(run, "pr", open_pr)["pr_number"]

    def _verify(self, run: Run, head: str, round_no: int) -> dict[str, Any] | None:
        command = self.config.verify.command
        if not command:
            return None
        env = without_secrets(no_git_env(), self.config.secrets.values(), self.config.verify.env_keep)
        return self._step(run, f"verify:r{round_no}", lambda: verify_commit(
            self.parts.repo_path, head, command, self.config.verify.timeout_s, env), f"$ {command}")

    def _review(self, run: Run, plan: Plan, round_no: int, base: str, reviewed_head: str, head: str,
                verify: dict[str, Any] | None) -> Review:
        from . import gitops

        def action() -> dict[str, Any]:
            since = base if round_no == 1 else reviewed_head
            rng = gitops.range_diff(self.parts.repo_path, f"{since}..{head}")
            diff = rng.diff
            if verify is not None:
                diff += f"\n\n# Verification: `{verify['command']}` exited {verify['exit_code']}\n{verify['tail']}"
            self._budget(run, self.config.models.review, input_tokens=len(diff) // 4 + 4000, output_tokens=2000)
            artifacts = {p: c for p, c in rng.files.items() if c is not None}
            result = self.parts.architect.review(plan, diff, artifacts)
            self._record(run, CLAUDE, result.model, result.usage, result.duration_s, f"review:r{round_no}", "review")
            review = result.review
            review.round = round_no
            if verify is not None and verify["exit_code"] != 0 and review.verdict == "approve":
                review.verdict = "reject"
                review.summary += f"\n\nThe verification command failed (exit {verify['exit_code']})."
            self.store.save_review(run.id, review)
            for verdict in review.artifacts:
                for artifact in self.store.artifacts(run.id):
                    if artifact.path == verdict.path and artifact.review_status == "pending":
                        artifact.review_status = "approved" if verdict.approved else "rejected"
                        artifact.notes = verdict.notes
                        self.store.save_artifact(artifact)
            return {"review": _review_dict(review), "head": head,
                    "summary": f"{review.verdict}: {sum(v.approved for v in review.artifacts)}/"
                               f"{len(review.artifacts)} approved"}

        return _review_from(self._step(run, f"review:r{round_no}", action, "Claude reviews")["review"])

    def _post_review(self, run: Run, request: Request, pr_number: int | None, head: str, review: Review,
                     round_no: int) -> None:
        github = self.parts.github
        if github is None or pr_number is None:
            return
        summary = redact(review.summary, self.config.secrets.values())
        # The provider posts the review and sets the `gitorch/review` status on the head commit with it.
        self._step(run, f"post_review:r{round_no}", lambda: {"review": _plain(github.post_review(
            pr_number, head, review.verdict, summary, review.comments))})
        self._tell(run, request, f"Round {round_no}: Claude's verdict is **{review.verdict}**"
                                 + (f" on #{pr_number}." if pr_number else "."))

    def _fix_tasks(self, review: Review, round_no: int, verify: dict[str, Any] | None) -> list[Task]:
        tasks = []
        for i, task in enumerate(review.fix_tasks, 1):
            task.id = f"fix{round_no}-{i}"
            if task.assigned_to != CLAUDE:  # "the builder", as the architect means it: this run's builder
                task.assigned_to = self.config.agents.builder
            tasks.append(task)
        if not tasks:
            for i, verdict in enumerate((v for v in review.artifacts if not v.approved), 1):
                tasks.append(Task(id=f"fix{round_no}-{i}", description=f"Fix {verdict.path}: {verdict.notes}",
                                  files=[verdict.path], assigned_to=self.config.agents.builder,
                                  task_type="debugging"))
        if verify is not None and verify["exit_code"] != 0 and not tasks:
            tasks.append(Task(id=f"fix{round_no}-verify", description=(
                f"The test command `{verify['command']}` fails; make it pass:\n{verify['tail']}"),
                assigned_to=self.config.agents.builder, task_type="debugging"))
        return tasks

    # -- finishing ---------------------------------------------------------------------------------------

    def _finish(self, run: Run, request: Request, decision: RoutingDecision, *, verdict: str | None,
                status: str) -> None:
        def action() -> dict[str, Any]:
            outcome = "success" if verdict in (None, "approve") else "failure"
            self.parts.router.feedback(decision.id, outcome=outcome)
            return {"verdict": verdict, "outcome": outcome, "summary": verdict or status}

        self._step(run, "finish", action)
        self._set_status(run, status, verdict=verdict)
        self._label(request, "done" if verdict != "reject" else "failed")

    def _result(self, run: Run, request: Request, **kw: Any) -> RunResult:
        metrics = [m for m in self.store.metrics_since(run.created_at) if m.run_id == run.id]
        decision_id = (self.store.journal_result(run.id, "route") or {}).get("decision_id")
        plan = self.store.latest_plan(run.id)
        commits = [s["result"]["commit"] for s in self.store.journal(run.id)
                   if s["key"].startswith("commit:") and s.get("result")]
        return RunResult(run=run, decision=self.store.get_decision(decision_id) if decision_id else None,
                         plan=plan, reviews=self.store.reviews(run.id), commits=commits,
                         cost_usd=sum(m.cost_usd for m in metrics),
                         baseline_cost_usd=sum(m.baseline_cost_usd for m in metrics),
                         alerts=list(self.alerts), **kw)

    # -- ledger and budget ----------------------------------------------------------------------------------

    def _record(self, run: Run, agent: str, model: str, usage: Usage, duration_s: float, step: str,
                task_type: str | None, fallback: bool = False) -> None:
        self.store.record_metric(cost.metric_for(self.config, agent=agent, model=model, usage=usage,
                                                 duration_s=duration_s, task_type=task_type, run_id=run.id,
                                                 step=step, fallback=fallback))

    def _budget(self, run: Run, model: str, *, input_tokens: int, output_tokens: int) -> None:
        table = cost.PriceTable.from_config(self.config)
        estimate = table.usd(model, Usage(input_tokens=input_tokens, output_tokens=output_tokens))
        for alert in cost.check_budget(self.store, self.config, estimate, run_id=run.id):
            if alert not in self.alerts:
                self.alerts.append(alert)
                self.progress.step("budget", "alert", alert)

    # -- talking back to the person --------------------------------------------------------------------------

    def _tell(self, run: Run, request: Request, message: str) -> int | None:
        """Say ``message`` where the run was asked for: in GitHub mode, in the run's one comment on the
        issue (found by its marker and edited), under the suggestion and the plan."""
        github = self.parts.github
        if github is None or request.issue_number is None:
            return None
        decision_id = (self.store.journal_result(run.id, "route") or {}).get("decision_id") or request.decision_id
        decision = self.store.get_decision(decision_id) if decision_id else None
        plan = self.store.latest_plan(run.id)
        if self.alerts:  # budget alerts are said where the run was asked for, too
            message = message + "\n\n" + "\n".join(f"> **Budget:** {a}" for a in self.alerts)
        if decision is not None and self.parts.render_comment is not None:
            body = self.parts.render_comment(decision, stage=STAGES.get(run.status, "planning"), plan=plan,
                                             note=message)
        else:
            body = message
        body = redact(body, self.config.secrets.values())
        return github.post_or_update_comment(request.issue_number, "suggestion", body).id

    def _label(self, request: Request, stage: str) -> None:
        if self.parts.github is not None and request.issue_number is not None:
            self.parts.github.set_run_label(request.issue_number, stage)


# -- helpers without state -------------------------------------------------------------------------------


class _Budgeted(Mapping[str, Builder]):
    """The run's builders, with Claude's calls gated by the budget (the subscription builders cost
    nothing at the margin, so they are not)."""

    def __init__(self, builders: Mapping[str, Builder], check: Callable[[], None]):
        self.builders = builders
        self.check = check

    def __getitem__(self, agent: str) -> Builder:
        builder = self.builders[agent]
        return _CheckedBuilder(builder, self.check) if agent == CLAUDE else builder

    def __iter__(self):
        return iter(self.builders)

    def __len__(self) -> int:
        return len(self.builders)


class _CheckedBuilder:
    def __init__(self, builder: Builder, check: Callable[[], None]):
        self.builder, self.check, self.id = builder, check, builder.id

    def build(self, task: Task, context: BuildContext) -> BuildResult:
        self.check()
        return self.builder.build(task, context)

    def close(self) -> None:
        self.builder.close()



def _waves(tasks: list[Task]) -> list[list[Task]]:
    """Tasks in dependency order, grouped so that each group depends only on earlier groups."""
    ids = {t.id for t in tasks}
    remaining = {t.id: t for t in tasks}
    done: set[str] = set()
    waves: list[list[Task]] = []
    while remaining:
        ready = [t for t in remaining.values() if all(d in done or d not in ids for d in t.depends_on)]
        if not ready:
            cycle = ", ".join(sorted(remaining))
            raise GitorchError(f"the plan's tasks depend on each other in a circle: {cycle}",
                               hint="ask for the plan again, or edit the dependencies")
        waves.append(ready)
        for t in ready:
            done.add(t.id)
            del remaining[t.id]
    return waves


def verify_commit(repo_path: Path, commit: str, command: str, timeout_s: float,
                  env: Mapping[str, str]) -> dict[str, Any]:
    """Run the repository's test command on ``commit`` in a scratch worktree (never in the person's),
    with ``env``: the caller leaves gitorch's credentials out, since the tests run code a model wrote."""
    from . import gitops

    with tempfile.TemporaryDirectory(prefix="gitorch-verify-") as scratch:
        tree = Path(scratch) / "tree"
        gitops.run_git(repo_path, ["worktree", "add", "--detach", "--quiet", str(tree), commit])
        started = time.monotonic()
        try:
            proc = subprocess.run(command, shell=True, cwd=tree, capture_output=True, text=True,
                                  timeout=timeout_s, env=dict(env))
            exit_code, output = proc.returncode, proc.stdout + proc.stderr
        except subprocess.TimeoutExpired as exc:
            exit_code = 124
            output = ((exc.stdout or b"").decode(errors="replace") if isinstance(exc.stdout, bytes)
                      else (exc.stdout or "")) + f"\n(timed out after {timeout_s:.0f}s)"
        finally:
            gitops.run_git(repo_path, ["worktree", "remove", "--force", str(tree)])
    tail = "\n".join(output.strip().splitlines()[-40:])
    return {"command": command, "exit_code": exit_code, "tail": redact(tail),
            "duration_s": round(time.monotonic() - started, 2),
            "summary": f"{shlex.split(command)[0] if command.strip() else command} exited {exit_code}"}


def _resolution_message(task: Task, proposal: dict[str, Any]) -> str:
    shown = "\n\n".join(f"`{path}`:\n```\n{(proposal['artifacts'].get(path) or '(deleted)')[:3000]}\n```"
                         for path in proposal["paths"])
    return (f"The branch moved while task {task.id} was built, and the changes conflict in "
            f"{', '.join(proposal['paths'])}. Claude proposes this resolution:\n\n{shown}")


def render_plan(plan: Plan) -> str:
    lines = [plan.summary, ""]
    for t in plan.tasks:
        deps = f" (after {', '.join(t.depends_on)})" if t.depends_on else ""
        lines.append(f"- [x] **{t.id}** {t.description.splitlines()[0]} — {t.assigned_to}{deps}")
    return "\n".join(lines)


_PLAN_LINE = re.compile(r"^\s*[-*] \[(?P<mark>[ xX])\] \*\*(?P<id>[^*]+)\*\* (?P<text>.*?)(?: — (?P<agent>[\w-]+)(?: \(after [^)]*\))?)?\s*$")


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


def pr_body(request: Request, plan: Plan, run: Run) -> str:
    closes = f"Closes #{request.issue_number}\n\n" if request.issue_number else ""
    return f"{closes}{render_plan(plan)}\n\n<sub>gitorch run `{run.id}`</sub>"


def _review_dict(review: Review) -> dict[str, Any]:
    return asdict(review)


def _review_from(data: dict[str, Any]) -> Review:
    from .model import InlineComment, Verdict

    return Review(verdict=data["verdict"], summary=data["summary"],
                  artifacts=[Verdict(**v) for v in data.get("artifacts", [])],
                  comments=[InlineComment(**c) for c in data.get("comments", [])],
                  fix_tasks=[Task(**t) for t in data.get("fix_tasks", [])], round=data.get("round", 1))


def _plain(obj: Any) -> dict[str, Any]:
    if obj is None:
        return {}
    if hasattr(obj, "__dataclass_fields__"):
        return asdict(obj)
    return dict(obj) if isinstance(obj, dict) else {"value": str(obj)}
