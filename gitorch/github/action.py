"""`gitorch action`: one GitHub event in, the gates applied, gitorch's answer out.

1. The event is parsed (``events.parse_event``); anything gitorch does not act on ends here with one
   log line and no API call.
2. ``.gitorch.yml`` is read again from the repository's default branch through the API (never from
   the checkout, which may be a PR head) and the event parsed again under it.
3. Comments on pull requests count only on gitorch's own PRs; then ``permissions.check_trigger``
   decides who may trigger and counts the person's daily runs. Refusals are logged, not posted.
4. The request is answered: a task is routed and the suggestion posted as the one marked comment on
   the issue, with the ``gitorch:planning`` label; ``/gitorch override|explain|status`` and an unknown
   command are answered on the spot; a closed gitorch PR teaches the router. Everything that runs
   the pipeline (plan, build, review, rework, TASK.md, retry, cancel) goes through ``pipeline``, the
   single call site the pipeline joins at.
5. The job summary goes to ``GITHUB_STEP_SUMMARY`` and ``pr-number``, ``verdict`` and ``cost-usd`` to
   ``GITHUB_OUTPUT``.
"""

from __future__ import annotations

import logging
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from ..errors import GitorchError
from ..model import Metric, Plan, RoutingDecision
from ..redact import redact
from . import render
from .events import Ignored, Request, parse_event, read_payload
from .permissions import check_trigger
from .provider import GitHubProvider, markers_in

log = logging.getLogger("gitorch.github")

SUGGESTION_KEY = "suggestion"


@dataclass
class ActionResult:
    status: str  # ignored, refused, suggested, answered, learned, handed-over, resumed, done, failed
    message: str
    request: Request | None = None
    decision: RoutingDecision | None = None
    plan: Plan | None = None
    pr_number: int | None = None
    verdict: str | None = None
    metrics: list[Metric] = field(default_factory=list)
    comment_url: str | None = None

    @property
    def cost_usd(self) -> float:
        return sum(m.cost_usd for m in self.metrics)


@dataclass
class ActionContext:
    """What the pipeline gets at the call site: the checked request and everything to act on it."""

    request: Request
    config: Any
    provider: GitHubProvider
    store: Any
    get_router: Callable[[], Any]
    decision: RoutingDecision | None
    result: ActionResult

    @property
    def router(self) -> Any:
        """The repository's router (built on first use)."""
        return self.get_router()


Pipeline = Callable[[ActionContext], ActionResult]


def _default_branch_config(config: Any, provider: GitHubProvider, path: str, overrides: dict[str, Any]) -> Any:
    from .. import config as config_module

    text = provider.read_config_from_default_branch(path)
    if text is None:
        loaded = config
    else:
        with tempfile.TemporaryDirectory(prefix="gitorch-config-") as folder:
            file = Path(folder) / ".gitorch.yml"
            file.write_text(text, encoding="utf-8")
            try:
                loaded = config_module.load(file=file)
            except GitorchError as exc:
                raise GitorchError(f"{path} on the default branch is invalid: {exc.message}", hint=exc.hint) from None
        loaded.secrets = config.secrets
        loaded.state_dir = config.state_dir
    apply_overrides(loaded, overrides)
    return loaded


def apply_overrides(config: Any, overrides: dict[str, Any]) -> None:
    """The Action's inputs (trigger label, builder) over the configuration."""
    if overrides.get("trigger_label"):
        config.github.trigger_label = overrides["trigger_label"]
    if overrides.get("builder"):
        config.agents.builder = overrides["builder"]


def _parse(name: str, payload: dict[str, Any], config: Any) -> Request | Ignored:
    return parse_event(name, payload, trigger_label=config.github.trigger_label,
                       branch_prefix=config.git.branch_prefix)


def run_action(config: Any, env: Any, *, provider: GitHubProvider | None = None, store: Any = None,
               router: Any = None, pipeline: Pipeline | None = None, config_path: str = ".gitorch.yml",
               overrides: dict[str, Any] | None = None) -> ActionResult:
    """Handle the event ``env`` names (an ``ActionEnv``), write the summary and outputs, return what happened."""
    overrides = overrides or {}
    apply_overrides(config, overrides)
    if not env.event_name:
        raise GitorchError("GITHUB_EVENT_NAME is not set", hint="`gitorch action` runs inside GitHub Actions; locally "
                                                               "set GITHUB_EVENT_NAME and GITHUB_EVENT_PATH")
    payload = read_payload(env.event_path)
    request = _parse(env.event_name, payload, config)
    if isinstance(request, Ignored):
        log.info("%s", request)
        return _finish(env, ActionResult("ignored", str(request)))

    repo = env.repository or request.repo
    if provider is None:
        from .rest import RestProvider

        provider = RestProvider(config, repo)
    config = _default_branch_config(config, provider, config_path, overrides)
    request = _parse(env.event_name, payload, config)
    if isinstance(request, Ignored):
        log.info("%s", request)
        return _finish(env, ActionResult("ignored", str(request)))

    if request.on_pull and request.gitorch_pr is None and request.pr is not None:
        pull = provider.get_pull(request.pr)
        if not pull.head_ref.startswith(config.git.branch_prefix):
            message = f"ignored {request.event}: #{request.pr} is not a gitorch pull request"
            log.info("%s", message)
            return _finish(env, ActionResult("ignored", message, request))
        request = replace(request, gitorch_pr=True, head_ref=pull.head_ref, head_sha=pull.head_sha)

    if store is None:
        from ..store import open_store

        store = open_store(config)
    gate = check_trigger(request, config.github, provider, store)
    if not gate:
        return _finish(env, ActionResult("refused", gate.reason, request))
    log.info("accepted %s from %s: %s", request.key, request.actor.login, gate.reason)

    def get_router() -> Any:
        nonlocal router
        if router is None:
            from ..routing import Router

            router = Router(config, store, repo)
        return router

    result = _answer(request, config, provider, store, get_router, pipeline)
    return _finish(env, result, config.secrets.values())


def _answer(request: Request, config: Any, provider: GitHubProvider, store: Any, router: Callable[[], Any],
            pipeline: Pipeline | None) -> ActionResult:
    if request.kind in ("task", "dispatch"):
        decision = router().route(request.text)
        result = ActionResult("suggested", f"suggested {decision.agent} for {request.key}", request, decision)
        if request.issue is not None:
            comment = provider.post_or_update_comment(request.issue, SUGGESTION_KEY,
                                                      render.suggestion(decision, stage="planning"))
            provider.set_run_label(request.issue, "planning")
            result.comment_url = comment.url
        return _hand_over(request, config, provider, store, router, decision, result, pipeline)

    if request.kind == "outcome":
        return _learn_outcome(request, store, router)

    if request.kind == "command" and request.command in ("help", "override", "explain", "status"):
        return _answer_command(request, provider, store, router)

    # proceed, plan, review, retry, cancel, rework on a gitorch PR, TASK.md pushes: the pipeline's work
    decision = _issue_decision(request, provider, store)
    return _hand_over(request, config, provider, store, router, decision,
                      ActionResult("accepted", f"{request.kind} {request.command or ''}".strip(), request, decision),
                      pipeline)


def _hand_over(request: Request, config: Any, provider: GitHubProvider, store: Any, router: Callable[[], Any],
               decision: RoutingDecision | None, result: ActionResult, pipeline: Pipeline | None) -> ActionResult:
    """THE call site where the pipeline takes a checked request over (plan, build, PR, review)."""
    if pipeline is None:
        log.info("%s: no pipeline wired into `gitorch action`; stopping after the gates and the suggestion",
                 request.key)
        return result
    return pipeline(ActionContext(request, config, provider, store, router, decision, result))


def _issue_decision(request: Request, provider: GitHubProvider, store: Any) -> RoutingDecision | None:
    """The routing decision recorded in the suggestion comment on the request's issue."""
    if request.issue is None:
        return None
    comment = provider.find_comment(request.issue, SUGGESTION_KEY)
    if comment is None:
        return None
    for kind, key in markers_in(comment.body):
        if kind == "decision":
            return store.get_decision(key)
    return None


def _answer_command(request: Request, provider: GitHubProvider, store: Any, router: Callable[[], Any]) -> ActionResult:
    assert request.issue is not None
    reply_key = f"reply-{request.comment_id}"
    if request.command == "help":
        comment = provider.post_or_update_comment(request.issue, reply_key, render.help_text(request.error))
        return ActionResult("answered", request.error or "help", request, comment_url=comment.url)
    decision = _issue_decision(request, provider, store)
    if request.command == "status":
        issue = provider.get_issue(request.issue)
        stages = [lb for lb in issue.labels if lb.startswith("gitorch:")]
        text = f"Where this run is: {', '.join(f'`{s}`' for s in stages) or 'no gitorch run yet'}."
        if decision is not None:
            text += f" Suggested agent: **{decision.override_agent or decision.agent}**."
        comment = provider.post_or_update_comment(request.issue, reply_key, text)
        return ActionResult("answered", "status", request, decision, comment_url=comment.url)
    if decision is None:
        comment = provider.post_or_update_comment(
            request.issue, reply_key, f"There is no gitorch suggestion on #{request.issue} to {request.command}; "
                                      f"add the trigger label first.")
        return ActionResult("answered", "no suggestion yet", request, comment_url=comment.url)
    if request.command == "override":
        decision = router().feedback(decision.id, override_agent=request.args[0])
    comment = provider.post_or_update_comment(request.issue, SUGGESTION_KEY,
                                              render.suggestion(decision, explain=request.command == "explain"))
    return ActionResult("answered", request.command or "", request, decision, comment_url=comment.url)


def _learn_outcome(request: Request, store: Any, router: Callable[[], Any]) -> ActionResult:
    outcome = "success" if request.merged else "failure"
    run = next((r for r in store.list_runs(limit=500) if r.pr_number == request.pr), None)
    decision = None
    if run is not None:
        decision = next((d for d in store.recent_decisions(limit=500) if d.run_id == run.id), None)
    if decision is None:
        message = f"#{request.pr} closed ({outcome}); no routing decision of this runner's store belongs to it"
        log.info("%s", message)
        return ActionResult("ignored", message, request, pr_number=request.pr)
    decision = router().feedback(decision.id, outcome=outcome)
    return ActionResult("learned", f"#{request.pr} {'merged' if request.merged else 'closed'}: {outcome} recorded",
                        request, decision, pr_number=request.pr)


def _finish(env: Any, result: ActionResult, secrets: list[str] | None = None) -> ActionResult:
    """Job summary and step outputs, when running inside GitHub Actions."""
    if env.step_summary:
        with open(env.step_summary, "a", encoding="utf-8") as fh:
            fh.write(redact(render.job_summary(result), secrets or []))
    if env.output:
        with open(env.output, "a", encoding="utf-8") as fh:
            fh.write(f"pr-number={result.pr_number or ''}\n")
            fh.write(f"verdict={result.verdict or ''}\n")
            fh.write(f"cost-usd={result.cost_usd:.4f}\n")
    return result
