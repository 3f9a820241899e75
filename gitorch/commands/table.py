"""The one table of what a person can ask gitorch to do, and what each does.

Every surface maps its input onto a row of ``COMMANDS``: a label on an issue and `gitorch run TEXT`
become ``task``; a ``/gitorch`` comment its named command; a review comment on a gitorch PR
``rework``; a closed gitorch PR ``outcome``; the workflow's schedule ``resume``; a TASK.md push
``task_md``; `gitorch feedback --override` is ``override``; the pre-push hook's review is ``review``.
A row says its help, whether it may spend money (it counts against the per-person daily limit), and
what it runs. ``dispatch`` runs one; every run of the pipeline starts or moves on from here.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import GitorchError
from ..model import (
    AGENTS,
    Metric,
    Plan,
    PlanResult,
    Review,
    ReviewResult,
    RoutingDecision,
    RunStatus,
    Task,
    TaskSpec,
    utcnow,
)
from ..ports import GitHub, Progress, Router, Store
from ..redact import redact
from ..run.plan import assign_chosen
from ..run.publish import STAGES, waiting_note
from ..run.recover import RUN_BLOCK, block_in
from ..run.state import RunRequest, RunResult

if TYPE_CHECKING:
    from ..git.context import RepoContext

SUGGESTION_KEY = "suggestion"  # the marker of the run's one comment on its issue


@dataclass
class Ask:
    """One request, from any surface: the command and what came with it."""

    command: str
    args: list[str] = field(default_factory=list)
    text: str = ""  # the task, the comment's words
    title: str = ""
    key: str = ""  # stable per delivery: a re-delivered event has the same key
    issue: int | None = None  # the issue or PR the conversation is on (GitHub)
    pr: int | None = None
    by: str | None = None  # the GitHub login who asked; None: a person at this machine
    comment_id: int | None = None
    path: str | None = None  # a review comment's file and line
    line: int | None = None
    before: str | None = None  # a push's range
    after: str | None = None
    run_id: str | None = None  # `gitorch run --resume RUN`
    agent: str | None = None  # `--agent`, `@codex ...`
    tasks: list[TaskSpec] = field(default_factory=list)  # `--task-file`
    task_file: str | None = None
    confirmed: bool = False  # `--yes`
    rev_range: str | None = None  # `gitorch review --range A..B`
    decision_id: str | None = None  # the routing decision already made for this text
    error: str | None = None  # the words could not be understood (``help`` says so)

    @property
    def issue_run(self) -> str | None:
        """The run an issue's events share: a re-delivered event resumes it instead of starting another."""
        return f"run-issue-{self.issue}" if self.issue is not None else None


@dataclass
class Outcome:
    """What a command did. ``status`` is one word (ignored, refused, suggested, answered, learned,
    cancelled, resumed, or the run's status); ``run`` the run it drove, if any."""

    status: str
    message: str
    decision: RoutingDecision | None = None
    plan: Plan | None = None
    run: RunResult | None = None
    review: Review | None = None
    pr_number: int | None = None
    verdict: str | None = None
    metrics: list[Metric] = field(default_factory=list)
    alerts: list[str] = field(default_factory=list)
    comment_url: str | None = None
    text: str = ""  # what a command that only answers said
    call: PlanResult | ReviewResult | None = None  # a plan or review made outside a run
    context: RepoContext | None = None  # what the architect read of the repository for it
    resumed: list[RunResult | GitorchError] = field(default_factory=list)
    figures: dict[str, Any] = field(default_factory=dict)  # what `stats`, `budget` and `history` found

    @property
    def cost_usd(self) -> float:
        return sum(m.cost_usd for m in self.metrics)


class Context:
    """What a command may use: the configuration, the store, GitHub (None on this machine), the
    repository, and the router and pipeline, made when first asked for and closed together."""

    def __init__(self, config: Any, store: Store, repo_path: Path, *, github: GitHub | None = None,
                 progress: Progress | None = None, confirm: Callable | None = None,
                 router: Router | None = None, pipeline: Callable[[Context], Any] | None = None):
        self.config, self.store, self.repo_path, self.github = config, store, repo_path, github
        self.progress, self.confirm = progress, confirm
        self._router = router
        self._make_pipeline = pipeline
        self._pipeline: Any = None
        self._closers: list[Callable[[], None]] = []

    @property
    def router(self) -> Router:
        if self._router is None:
            from ..routing import Router as LearnedRouter
            from ..routing import repo_key

            self._router = LearnedRouter(self.config, self.store,
                                         self.github.repo if self.github is not None else repo_key(self.repo_path))
        return self._router

    def pipeline(self) -> Any:
        """The run pipeline for this repository (``gitorch.run.Pipeline``), assembled once."""
        if self._pipeline is None:
            if self._make_pipeline is not None:
                self._pipeline = self._make_pipeline(self)
            else:
                from ..run.assemble import assemble

                self._pipeline, builders = assemble(self.config, repo_path=self.repo_path, store=self.store,
                                                    github=self.github, progress=self.progress,
                                                    confirm=self.confirm, router=self._router,
                                                    render_comment=suggestion_comment if self.github else None)
                self._closers.append(builders.close)
        return self._pipeline

    def close(self) -> None:
        while self._closers:
            self._closers.pop()()

    def __enter__(self) -> Context:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def suggestion_decision(self, issue: int | None) -> RoutingDecision | None:
        """The routing decision recorded in the suggestion comment on ``issue``."""
        if issue is None or self.github is None:
            return None
        from ..github.provider import markers_in

        comment = self.github.find_comment(issue, SUGGESTION_KEY)
        if comment is None:
            return None
        for kind, key in markers_in(comment.body):
            if kind == "decision":
                return self.store.get_decision(key)
        return None


@dataclass(frozen=True)
class Command:
    name: str
    help: str
    costs: bool  # may spend money: counts against github.runs_per_person_per_day
    run: Callable[[Context, Ask], Outcome]
    comment: bool = True  # a `/gitorch NAME` comment asks for it
    usage: str = ""


# -- the commands -------------------------------------------------------------------------------------


def _ran(result: RunResult, ctx: Context) -> Outcome:
    """The outcome of a command that drove a run (or found it driven elsewhere: ``held``)."""
    run = result.run
    if result.held_by is not None:
        return Outcome("held", result.message, decision=result.decision, run=result, pr_number=run.pr_number)
    return Outcome(str(run.status), result.message or f"run {run.id}: {run.status}", decision=result.decision,
                   plan=result.plan, run=result, pr_number=run.pr_number, verdict=run.verdict,
                   metrics=ctx.store.run_metrics(run.id), alerts=result.alerts)


def task(ctx: Context, ask: Ask) -> Outcome:
    """A task: routed, planned, built, reviewed (from a label, a dispatch, `gitorch run`, the session).
    On GitHub a new task's suggestion is posted first; the event of a run that exists already (here,
    or on GitHub and its branch) moves that run on instead, posting nothing new."""
    trigger = "issue" if ask.issue is not None else ("cli" if ask.by is None else "action")
    request = RunRequest(text=ask.text, title=ask.title, trigger=trigger, agent=ask.agent, issue_number=ask.issue,
                         requested_by=ask.by, decision_id=ask.decision_id, confirmed=ask.confirmed,
                         tasks=list(ask.tasks), task_file=ask.task_file)
    if ask.tasks:
        request.trigger = "task_md"
    run_id = ask.issue_run or (f"run-{ask.key}" if ask.key else None)
    pipeline = ctx.pipeline()
    if run_id is not None and pipeline.known(run_id, ask.issue):
        return _ran(pipeline.resume(run_id), ctx)
    comment_url = _suggest(ctx, ask, request) if ctx.github is not None else None
    outcome = _ran(pipeline.start(request, run_id=run_id), ctx)
    outcome.comment_url = outcome.comment_url or comment_url
    return outcome


def _suggest(ctx: Context, ask: Ask, request: RunRequest) -> str | None:
    """A new task on GitHub is routed first, and the suggestion posted before anything is spent."""
    if request.decision_id is None:
        request.decision_id = ctx.router.route(ask.text).id
    if ask.issue is None:
        return None
    decision = ctx.store.get_decision(request.decision_id)
    comment = ctx.github.post_or_update_comment(ask.issue, SUGGESTION_KEY, suggestion_comment(decision, stage="planning"))
    ctx.github.set_run_label(ask.issue, "planning")
    return comment.url


def task_md(ctx: Context, ask: Ask) -> Outcome:
    """The TASK.md items a push added or edited, built on one branch and ticked off there."""
    from ..git.command import TASK_FILE
    from ..git.tasks import work_between

    before = ask.before if ask.before and set(ask.before) != {"0"} else None
    items = work_between(ctx.repo_path, before, ask.after or "HEAD")
    if not items:
        return Outcome("ignored", f"no new or edited {TASK_FILE} items in the push")
    request = RunRequest(text="\n".join(f"- {i.text}" for i in items), title=TASK_FILE, trigger="task_md",
                         tasks=[i.spec() for i in items], task_file=TASK_FILE, base=ask.after or "HEAD",
                         requested_by=ask.by, confirmed=True)
    return _ran(ctx.pipeline().start(request, run_id=f"run-push-{(ask.after or '')[:12]}"), ctx)


def proceed(ctx: Context, ask: Ask, *, plan_only: bool = False) -> Outcome:
    """Go ahead with the issue's run (or the run named): confirmed by a person."""
    pipeline = ctx.pipeline()
    run_id = ask.run_id or ask.issue_run
    if run_id is None or ctx.store.get_run(run_id) is None:
        if ask.run_id:
            raise GitorchError(f"no run with id {ask.run_id}",
                               hint="'gitorch run' prints its run id; 'gitorch dashboard' lists every run")
        request = RunRequest(text=ask.text, title=ask.title, trigger="comment", issue_number=ask.issue,
                             confirmed=True, requested_by=ask.by, plan_only=plan_only)
        return _ran(pipeline.start(request, run_id=run_id or f"run-{ask.key}"), ctx)
    update = RunRequest(text="", confirmed=ask.confirmed or ask.by is not None, plan_only=plan_only, agent=ask.agent)
    return _ran(pipeline.resume(run_id, update if (update.confirmed or update.agent or plan_only) else None), ctx)


def plan(ctx: Context, ask: Ask) -> Outcome:
    """Plan and wait: on an issue the plan is posted as a checklist to untick or edit before
    `/gitorch proceed`; on this machine it is printed."""
    if ask.issue is not None or ask.run_id is not None:
        return proceed(ctx, ask, plan_only=True)
    if not ask.text.strip():
        raise GitorchError("the plan needs a task, and TEXT is empty", hint='gitorch plan "add a --verbose flag"')
    from ..git.context import build_context
    from ..run.plan import make_plan

    parts = ctx.pipeline().parts
    context = build_context(ctx.repo_path, ask.text, budget=ctx.config.anthropic.plan_context_tokens,
                            secrets=ctx.config.secrets.values(), count=parts.architect.count_tokens)
    alerts: list[str] = []
    result = make_plan(parts.architect, parts.ledger, ctx.config, ask.text, context.text,
                       parts.ledger.gate(alerts=alerts.extend))
    ctx.store.save_plan(result.plan)
    return Outcome("planned", result.plan.summary, plan=result.plan, call=result, context=context, alerts=alerts)


def review(ctx: Context, ask: Ask) -> Outcome:
    """Review: on GitHub the pull request's head again (only what changed since the last review); on
    this machine a range of commits (`--range A..B`) or a pull request fetched from the remote (`--pr N`)."""
    if ask.by is not None:
        run = ctx.store.run_for_pr(ask.pr) if ask.pr else None
        run = run or (ctx.store.get_run(ask.issue_run) if ask.issue_run else None)
        if run is None or not run.branch:
            return Outcome("answered", "no gitorch pull request to review here")
        return _ran(ctx.pipeline().rework(run.id, [], key=f"review-{ask.comment_id or ask.key}"), ctx)
    from ..git import repo as git
    from ..git.context import build_context
    from ..run.review import review_change

    if ask.pr is not None:
        rev_range = git.fetch_pull(ctx.repo_path, ask.pr, remote=ctx.config.git.remote, token=_token(ctx))
    elif ask.rev_range:
        rev_range = ask.rev_range
    else:
        raise GitorchError("say what to review", hint="gitorch review --range main..HEAD, or --pr N")
    change = git.range_diff(ctx.repo_path, rev_range)
    if not change.files:
        raise GitorchError(f"{rev_range} changes no text file, so there is nothing to review",
                           hint="check the range with: git log --oneline " + rev_range)
    parts = ctx.pipeline().parts
    context = build_context(ctx.repo_path, " ".join(change.files) + "\n" + change.diff[:4000], rev=change.head,
                            budget=ctx.config.anthropic.plan_context_tokens, secrets=ctx.config.secrets.values(),
                            count=parts.architect.count_tokens)
    alerts: list[str] = []
    result = review_change(parts.architect, parts.ledger, ctx.config, None, change.diff, change.files,
                           parts.ledger.gate(alerts=alerts.extend), repo_context=context.text)
    return Outcome(result.review.verdict, result.review.summary, review=result.review, call=result, context=context,
                   alerts=alerts, verdict=result.review.verdict)


def rework(ctx: Context, ask: Ask) -> Outcome:
    """A review comment on a gitorch PR: built on the same branch, reviewed again, answered in its thread."""
    run = ctx.store.run_for_pr(ask.pr) if ask.pr is not None else None
    if run is None:
        return Outcome("ignored", f"no run of this runner opened #{ask.pr}")
    where = f" (in `{ask.path}` at line {ask.line})" if ask.path else ""
    work = Task(id="rework", description=f"Address this review comment{where}:\n\n{ask.text}",
                files=[ask.path] if ask.path else [], task_type="debugging")
    result = ctx.pipeline().rework(run.id, [work], key=str(ask.comment_id or ask.key))
    outcome = _ran(result, ctx)
    if result.held_by is None and ask.comment_id is not None and ask.pr is not None and ctx.github is not None:
        reply = ctx.github.reply_to_review_comment(
            ask.pr, ask.comment_id, f"rework-{ask.comment_id}",
            f"Done in {result.commits[-1][:10] if result.commits else 'no new commit'}; "
            f"Claude's verdict: **{result.run.verdict}**.")
        if reply is None:  # the person deleted the comment before the job ran: the work stands, unanswered
            outcome.message += (f"; review comment {ask.comment_id} on #{ask.pr} was deleted before gitorch could "
                                "answer it, so the rework is on the branch without a reply in the thread")
    return outcome


def retry(ctx: Context, ask: Ask) -> Outcome:
    """The issue's run again from the start, as a new run (the failed one is kept)."""
    recorded = ctx.store.journal_result(ask.issue_run, "request") if ask.issue_run else None
    if not recorded:
        return Outcome("answered", "nothing to retry: no run on this issue yet")
    request = RunRequest.from_journal(recorded["request"])
    request.decision_id, request.confirmed = None, True
    return _ran(ctx.pipeline().start(request, run_id=f"{ask.issue_run}-retry-{ask.comment_id or ask.key}"), ctx)


def cancel(ctx: Context, ask: Ask) -> Outcome:
    """Stop the issue's run; what it made so far is kept."""
    run = ctx.store.get_run(ask.run_id or ask.issue_run or "")
    if run is None or run.status.terminal:
        return Outcome("answered", "no run to cancel")
    run.status = RunStatus.CANCELLED
    ctx.store.save_run(run)
    if ctx.github is not None and ask.issue is not None:
        ctx.github.set_run_label(ask.issue, "failed")
    return Outcome("cancelled", f"run {run.id} cancelled")


def resume(ctx: Context, ask: Ask) -> Outcome:
    """Every paused run whose wait is over (usage cap reset, new budget period) and every run a dead
    process left going, the longest waiting first."""
    outcomes = ctx.pipeline().resume_due(from_github=ctx.github is not None)
    lines = [f"failed: {o.message}" if isinstance(o, GitorchError) else f"{o.run.id}: {o.run.status}"
             for o in outcomes]
    return Outcome("resumed" if outcomes else "ignored", "; ".join(lines) if lines else "no run is due",
                   resumed=outcomes)


def override(ctx: Context, ask: Ask) -> Outcome:
    """Use another agent: the router learns from it, and the run uses it until another override."""
    decision = _decision(ctx, ask)
    if decision is None:
        return _no_suggestion(ctx, ask)
    decision = ctx.router.feedback(decision.id, override_agent=ask.args[0])  # the same again teaches nothing
    return _show_suggestion(ctx, ask, decision, explain=False)


def explain(ctx: Context, ask: Ask) -> Outcome:
    """Why the router suggested this agent: its reasoning, the scores, the task-type probabilities."""
    decision = _decision(ctx, ask)
    if decision is None:
        return _no_suggestion(ctx, ask)
    return _show_suggestion(ctx, ask, decision, explain=True)


def status(ctx: Context, ask: Ask) -> Outcome:
    """Where the issue's run is."""
    decision = _decision(ctx, ask)
    found: dict[str, Any] = {}
    if ctx.github is not None and ask.issue is not None:
        issue = ctx.github.get_issue(ask.issue)
        stages = [lb for lb in issue.labels if lb.startswith("gitorch:")]
        text = f"Where this run is: {', '.join(f'`{s}`' for s in stages) or 'no gitorch run yet'}."
    else:
        run = ctx.store.get_run(ask.run_id) if ask.run_id else None
        text = f"run {run.id}: {run.status}" if run else "no run named"
        found = {"status": str(run.status), "branch": run.branch} if run else {}
    if decision is not None:
        text += f" Suggested agent: **{decision.override_agent or decision.agent}**."
    return _reply(ctx, ask, Outcome("answered", "status", decision=decision, figures=found), text)


def help_(ctx: Context, ask: Ask) -> Outcome:
    return _reply(ctx, ask, Outcome("answered", ask.error or "help"), help_text(ask.error))


def outcome(ctx: Context, ask: Ask) -> Outcome:
    """A gitorch PR was closed: merged teaches the router success, closed unmerged failure."""
    merged = ask.args == ["merged"]
    result = "success" if merged else "failure"
    run = ctx.store.run_for_pr(ask.pr) if ask.pr is not None else None
    decision = ctx.store.decision_for_run(run.id) if run is not None else None
    if decision is None:
        return Outcome("ignored", f"#{ask.pr} closed ({result}); no routing decision of this runner's store "
                                  "belongs to it", pr_number=ask.pr)
    decision = ctx.router.feedback(decision.id, outcome=result)
    return Outcome("learned", f"#{ask.pr} {'merged' if merged else 'closed'}: {result} recorded", decision=decision,
                   pr_number=ask.pr)


def route(ctx: Context, ask: Ask) -> Outcome:
    """The router's suggestion for a task, recorded and shown before anything runs (the session's panel)."""
    decision = ctx.router.route(ask.text)
    return Outcome("suggested", f"{decision.task_type} -> {decision.agent} ({decision.confidence:.0%})",
                   decision=decision)


def stats(ctx: Context, ask: Ask) -> Outcome:
    """Tokens and cost per agent, the saving against Claude alone, routing accuracy, budget."""
    from .. import stats as figures

    data = figures.compute(ctx.store, ctx.config, days=_count(ask, "days", 30))
    return Outcome("answered", "stats", figures=data, text=figures.markdown(data))


def budget(ctx: Context, ask: Ask) -> Outcome:
    """Each limit with what is spent against it, whether paid calls pause, and the alerts said this month."""
    from .. import cost

    now = utcnow()
    config = ctx.config.budget
    limits = []
    for lim in cost.limits(ctx.config, ask.run_id, now):
        w = lim.window
        spent = ctx.store.spent_usd(since=w.since, until=w.until, run_id=w.run_id)
        limits.append({"scope": lim.scope, "limit_usd": lim.limit_usd, "spent_usd": round(spent, 6),
                       "pct": round(spent / lim.limit_usd * 100, 1) if lim.limit_usd else None})
    events = [e for e in ctx.store.budget_events(since=cost.month_start(now)) if e["kind"] in ("alert", "paused")]
    data = {"limits": limits, "held_usd": round(ctx.store.reserved_usd(ask.run_id), 6),
            "per_run_usd": config.per_run_usd, "alert_threshold_pct": config.alert_threshold_pct,
            "paused": cost.paused(ctx.store, ctx.config, now), "events": events,
            "webhook": config.webhook_url is not None}
    lines = [f"{lim['scope']}: ${lim['spent_usd']:.2f} of ${lim['limit_usd']:.2f}"
             + (f" ({lim['pct']:g}%)" if lim["pct"] is not None else "") for lim in limits]
    lines.append(f"alert at {config.alert_threshold_pct:g}%; paid calls {'pause' if data['paused'] else 'go ahead'}")
    return Outcome("answered", "budget", figures=data, text="\n".join(lines))


def history(ctx: Context, ask: Ask) -> Outcome:
    """The newest runs of this machine's store: status, branch, cost against Claude alone."""
    from .. import stats as figures

    runs = figures.runs(ctx.store, limit=_count(ask, "runs", 15))
    text = "\n".join(f"{r['id']}: {r['status']} {r['branch'] or ''} ${r['cost_usd']:.4f}".rstrip() for r in runs)
    return Outcome("answered", "history", figures={"runs": runs}, text=text or "no runs yet")


# -- helpers of the commands --------------------------------------------------------------------------


def _decision(ctx: Context, ask: Ask) -> RoutingDecision | None:
    if ask.decision_id:
        return ctx.store.get_decision(ask.decision_id)
    return ctx.suggestion_decision(ask.issue)


def _no_suggestion(ctx: Context, ask: Ask) -> Outcome:
    where = f"#{ask.issue}" if ask.issue is not None else "this"
    return _reply(ctx, ask, Outcome("answered", "no suggestion yet"),
                  f"There is no gitorch suggestion on {where} to {ask.command}; add the trigger label first.")


def _show_suggestion(ctx: Context, ask: Ask, decision: RoutingDecision, *, explain: bool) -> Outcome:
    result = Outcome("answered", ask.command, decision=decision)
    if ctx.github is not None and ask.issue is not None:
        body = suggestion_comment(decision, explain=explain)
        run = ctx.store.get_run(ask.issue_run) if ask.issue_run else None
        if run is not None:  # the issue's run owns the comment: its hidden record, plan and what it waits for stay
            current = ctx.github.find_comment(ask.issue, SUGGESTION_KEY)
            text = current.body if current is not None else ""
            plan = ctx.store.latest_plan(run.id)
            recorded = ctx.store.journal_result(run.id, "request")
            if plan is not None and recorded:  # shown as it will be built
                assign_chosen(plan.tasks, decision, RunRequest.from_journal(recorded["request"]))
            note = waiting_note(run, decision, ctx.config, plan, text)
            body = block_in(RUN_BLOCK, text) + "\n" + redact(suggestion_comment(
                decision, explain=explain, stage=STAGES.get(run.status, "planning"), plan=plan, note=note),
                ctx.config.secrets.values())
        result.comment_url = ctx.github.post_or_update_comment(ask.issue, SUGGESTION_KEY, body).url
    return result


def _reply(ctx: Context, ask: Ask, result: Outcome, text: str) -> Outcome:
    """Answer a comment with a comment of its own (one per asking comment); elsewhere, the text."""
    if ctx.github is not None and ask.issue is not None:
        comment = ctx.github.post_or_update_comment(ask.issue, f"reply-{ask.comment_id}", text)
        result.comment_url = comment.url
    result.text = text
    return result


def _count(ask: Ask, what: str, default: int) -> int:
    """The command's one number argument (days, runs), or ``default``."""
    if not ask.args:
        return default
    if len(ask.args) != 1 or not ask.args[0].isdigit() or not 1 <= int(ask.args[0]) <= 3650:
        raise GitorchError(f"{ask.command} takes one number of {what} from 1 to 3650, not {' '.join(ask.args)!r}",
                           hint=f"for example: {ask.command} {default}")
    return int(ask.args[0])


def _token(ctx: Context) -> str | None:
    token = ctx.config.secrets.github_token
    return token.get_secret_value() if token else None


# -- the table ----------------------------------------------------------------------------------------


COMMANDS: dict[str, Command] = {c.name: c for c in (
    Command("proceed", "go ahead with the suggested agent (when gitorch asked first)", True, proceed),
    Command("override", "use another agent: /gitorch override claude|chatgpt-pro|codex", True, override,
            usage="AGENT"),
    Command("explain", "show why gitorch suggested this agent", False, explain),
    Command("plan", "plan, post the plan as a checklist and wait: untick or edit tasks, then proceed", True, plan),
    Command("review", "review the pull request again", True, review),
    Command("retry", "run the failed step again", True, retry),
    Command("cancel", "stop the run", False, cancel),
    Command("status", "show where the run is", False, status),
    Command("help", "list these commands", False, help_, comment=False),
    Command("task", "route, plan, build and review a task", True, task, comment=False),
    Command("task_md", "build the TASK.md items a push added", True, task_md, comment=False),
    Command("rework", "address a review comment on a gitorch pull request", True, rework, comment=False),
    Command("outcome", "learn from a gitorch pull request that was merged or closed", False, outcome, comment=False),
    Command("resume", "continue paused runs whose wait is over", False, resume, comment=False),
    Command("route", "suggest an agent for a task, with confidence and reasoning; nothing runs", False, route,
            comment=False),
    Command("stats", "tokens, cost per agent, saving against Claude alone, routing accuracy", False, stats,
            comment=False),
    Command("budget", "the limits, what is spent against them, and this month's alerts", False, budget,
            comment=False),
    Command("history", "the newest runs with their status, branch and cost", False, history, comment=False),
)}


def suggestion_comment(decision: RoutingDecision, **kw: Any) -> str:
    """The run's one comment on its issue: the suggestion, the stage, the plan, a note, the commands."""
    from ..github import render

    return render.suggestion(decision, commands=comment_commands(), **kw)


def comment_commands() -> list[str]:
    """The commands a `/gitorch` comment may name, in the order the help lists them."""
    return [c.name for c in COMMANDS.values() if c.comment]


def help_text(error: str | None = None) -> str:
    lines = [f"gitorch did not understand that: {error}." if error else "gitorch commands:", ""]
    lines += [f"- `/gitorch {c.name}`: {c.help}" for c in COMMANDS.values() if c.comment]
    return "\n".join(lines)


def read_command(word: str, args: list[str]) -> tuple[str, list[str], str | None]:
    """A `/gitorch WORD ARGS` comment as (command, args, error): an unknown word or a missing
    argument becomes ``help`` with the reason."""
    name = word.lower()
    if not name:
        return "help", [], None
    if name not in COMMANDS or not COMMANDS[name].comment:
        return "help", [word, *args], f"unknown command '{word}'; known: {', '.join(comment_commands())}"
    if name == "override" and (len(args) != 1 or args[0] not in AGENTS):
        return "help", args, f"override needs one agent: {'|'.join(AGENTS)}"
    return name, args, None


def dispatch(ctx: Context, ask: Ask) -> Outcome:
    """Run ``ask``'s command."""
    command = COMMANDS.get(ask.command)
    if command is None:
        raise GitorchError(f"unknown command '{ask.command}'", hint=f"one of: {', '.join(COMMANDS)}")
    return command.run(ctx, ask)
