"""One task built, whatever it takes: retries, one re-ask with the parse error, then the fallback.

``build_task`` tries the task's builder under the retry policy (attempts with exponential backoff,
``retry-after`` honoured). An answer that cannot be turned into edits is sent back to the same
builder once, with the exact parse error. When a builder still fails, the next one in
``agents.fallback`` takes over (Claude only when ``agents.allow_claude_fallback``); its result is
marked ``fallback=True``. When every builder fails, ``BuildFailed`` says what each one did and keeps
the paths of their screenshots and page dumps.

Every builder call is listed in ``result.extra["calls"]`` (or ``BuildFailed.calls``): agent, model,
usage, duration and error, also for answers that could not be used. With ``store=`` given, each call
that produced an answer is recorded in the ledger right away (tokens, time, fallback); a caller that
records metrics itself should leave ``store`` out and record those entries instead.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from .agents import AgentError, BuildContext, Builder, BuildResult
from .config import Config
from .errors import GitorchError
from .model import CLAUDE, Task
from .retry import RetryPolicy

log = logging.getLogger("gitorch.building")


class BuildFailed(AgentError):
    """Every builder in the order failed on a task. ``failures`` is [(agent, message)]; ``calls`` the
    builder calls made (as in ``BuildResult.extra["calls"]``), so their tokens can still be counted."""

    def __init__(self, message: str, hint: str | None = None, *, failures: list[tuple[str, str]] | None = None,
                 calls: list[dict[str, Any]] | None = None, **kw: Any):
        super().__init__(message, hint, **kw)
        self.failures = failures or []
        self.calls = calls or []


def builder_order(task: Task, config: Config) -> list[str]:
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


def build_task(task: Task, context: BuildContext, config: Config, builders: Mapping[str, Builder],
               policy: RetryPolicy, *, store: Any = None) -> BuildResult:
    """Build ``task``: the builders of ``builder_order`` in turn until one gives usable edits.

    ``builders`` maps agent ids to builders (a lazy mapping is fine: only those tried are looked up).
    With ``context.repo_root`` set, the edits are also checked against the repository with
    ``edits.apply_edits`` and the new contents put in ``result.extra["contents"]``.
    """
    from .edits import EditError

    failures: list[tuple[str, str]] = []
    artifacts: dict[str, str] = {}
    calls: list[dict[str, Any]] = []
    deferred_until: str | None = None
    for index, agent in enumerate(builder_order(task, config)):
        fallback = index > 0
        try:
            builder = builders.get(agent)
        except GitorchError as exc:  # e.g. Claude without an API key: this one cannot take part
            failures.append((agent, exc.message))
            continue
        if builder is None:
            failures.append((agent, "not available on this runner"))
            continue
        if fallback:
            log.warning("task %s: falling back to %s after %s", task.id, agent, failures[-1][1])
        try:
            result = _build_with_reask(builder, agent, task, context, config, policy, store, calls, fallback)
        except EditError as exc:
            failures.append((agent, f"its answer could not be used twice: {exc.message}"))
            continue
        except AgentError as exc:
            failures.append((agent, exc.message))
            calls.append({"agent": agent, "error": type(exc).__name__, "message": exc.message,
                          "artifacts": dict(exc.artifacts)})
            artifacts.update({f"{agent}:{name}": path for name, path in exc.artifacts.items()})
            deferred_until = deferred_until or exc.deferred_until
            continue
        result.fallback = fallback
        result.extra["calls"] = calls
        if failures:
            result.extra["failures"] = [{"agent": a, "message": m} for a, m in failures]
            result.extra["artifacts"] = artifacts
        return result
    lines = "\n".join(f"  - {agent}: {message}" for agent, message in failures)
    hint = ("see the saved screenshots: " + ", ".join(artifacts.values())) if artifacts else (
        "check `gitorch doctor`; allow a fallback in .gitorch.yml (agents.fallback, agents.allow_claude_fallback)")
    raise BuildFailed(f"no builder could build task {task.id}:\n{lines}", hint=hint, failures=failures,
                      calls=calls, artifacts=artifacts, deferred_until=deferred_until)


def _build_with_reask(builder: Builder, agent: str, task: Task, context: BuildContext, config: Config,
                      policy: RetryPolicy, store: Any, calls: list[dict[str, Any]], fallback: bool) -> BuildResult:
    from .edits import EditError, parse_answer

    try:
        result = policy.call(lambda: builder.build(task, context))
        _check_against_repo(result, context, config)
    except EditError as exc:
        first = exc
        _record(getattr(exc, "build_result", None), task, context, config, store, calls, fallback,
                error=exc.message)
        log.warning("task %s: %s's answer could not be used; asking once more", task.id, agent)
    else:
        _record(result, task, context, config, store, calls, fallback)
        result.extra["reasked"] = False
        return result

    # The second answer need only redo the failed blocks: parse it on top of the accepted ones.
    ctx = dataclasses.replace(context, instructions=reask_instructions(context.instructions, first.message))
    try:
        result = policy.call(lambda: builder.build(task, ctx))
        builder_error = None
    except EditError as exc:
        result, builder_error = getattr(exc, "build_result", None), exc
        if result is None:
            raise
    try:
        if first.accepted and result.raw:
            result.edits = parse_answer(result.raw, context.files, config.edits, repo_root=context.repo_root,
                                        previous=first.accepted)
        elif builder_error is not None:
            raise builder_error
        _check_against_repo(result, context, config)
    except EditError as second:
        _record(result, task, ctx, config, store, calls, fallback, error=second.message)
        raise
    _record(result, task, ctx, config, store, calls, fallback)
    result.extra["reasked"] = True
    return result


def _check_against_repo(result: BuildResult, context: BuildContext, config: Config) -> None:
    if context.repo_root is None:
        return
    from .edits import EditError, apply_edits

    try:
        result.extra["contents"] = apply_edits(result.edits, context.files, Path(context.repo_root), config.edits)
    except EditError as exc:
        exc.build_result = result
        raise


def _record(result: BuildResult | None, task: Task, context: BuildContext, config: Config, store: Any,
            calls: list[dict[str, Any]], fallback: bool, error: str | None = None) -> None:
    if result is None:
        return
    calls.append({"agent": result.agent, "model": result.model, "usage": dataclasses.asdict(result.usage),
                  "duration_s": round(result.duration_s, 3), "error": error})
    if store is None:
        return
    from .cost import metric_for

    store.record_metric(metric_for(config, agent=result.agent, model=result.model, usage=result.usage,
                                   duration_s=result.duration_s, task_type=task.task_type,
                                   run_id=context.run_id, step="build", fallback=fallback))
