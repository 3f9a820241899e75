"""Puts a run together from the configuration: store, router, architect, builders, GitHub.

The pipeline knows its parts only through their interfaces; this is the one place that picks the
concrete ones, so the CLI, the Action and the demo assemble a run the same way.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

from .agents import Builder, get_builder
from .config import Config
from .errors import GitorchError
from .model import BUILDERS
from .pipeline import Parts, Pipeline, Progress
from .store import Store, open_store

log = logging.getLogger("gitorch.runner")


class Builders(Mapping[str, Builder]):
    """Builders made on first use (the browser starts Chromium only when a task needs it), closed
    together at the end of the run, with the Convex mirror's background drain."""

    def __init__(self, config: Config, allowed: list[str]):
        self.config = config
        self.allowed = allowed
        self._made: dict[str, Builder] = {}
        self._lock = threading.Lock()  # pool threads ask at once; each builder is made once
        self.mirror: Any = None  # the Convex mirror draining in the background during the run

    def __getitem__(self, agent: str) -> Builder:
        if agent not in self.allowed:
            raise KeyError(agent)
        with self._lock:
            if agent not in self._made:
                self._made[agent] = get_builder(agent, config=self.config)
            return self._made[agent]

    def get(self, agent: str, default: Any = None) -> Any:
        try:
            return self[agent]
        except KeyError:
            return default

    def __contains__(self, agent: object) -> bool:
        return agent in self.allowed

    def __iter__(self) -> Iterator[str]:
        return iter(self.allowed)

    def __len__(self) -> int:
        return len(self.allowed)

    def close(self) -> None:
        for builder in self._made.values():
            builder.close()
        self._made.clear()
        if self.mirror is not None:  # the thread stops, then one last drain of what the run wrote
            self.mirror.stop()
            try:
                self.mirror.drain()
            except GitorchError as exc:  # Convex away: the rows wait in SQLite for the next drain
                log.warning("Convex mirror: %s; 'gitorch sync' sends the rest later", exc.message)
            self.mirror = None


def assemble(config: Config, *, repo_path: Path, store: Store | None = None, github: Any = None,
             progress: Progress | None = None, confirm: Callable | None = None) -> tuple[Pipeline, Builders]:
    """A pipeline for the repository at ``repo_path``, with the agents the configuration names (the
    demo and the tests point the same configuration at the local stand-ins)."""
    from .agents.claude import ClaudeArchitect
    from .context import build_context
    from .routing import Router, repo_key

    store = store or open_store(config)
    architect = ClaudeArchitect(config)
    lazy = Builders(config, list(BUILDERS))
    from .store.convex import mirror_for

    lazy.mirror = mirror_for(config, store)  # None without CONVEX_URL: state stays in SQLite
    if lazy.mirror is not None:
        lazy.mirror.start()  # runs never wait on Convex: the outbox drains on its own thread

    def repo_context(task: str, commit: str) -> str:
        return build_context(repo_path, task, budget=config.anthropic.plan_context_tokens, rev=commit,
                             secrets=config.secrets.values()).text

    parts = Parts(store=store, router=Router(config, store, repo=repo_key(repo_path)), architect=architect,
                  builders=lazy, repo_path=repo_path, github=github, confirm=confirm,
                  repo_context=repo_context, **({"progress": progress} if progress else {}))
    return Pipeline(config, parts), lazy


def _task_dicts(items: list[Any]) -> list[dict[str, Any]]:
    return [{"id": i.task_id, "description": i.description(), "agent": i.agent, "depends_on": list(i.after)}
            for i in items]


def action_pipeline(repo_path: Path, progress: Progress | None = None) -> Callable[[Any], Any]:
    """The pipeline at `gitorch action`'s call site: a checked GitHub request becomes a run (or moves
    one on). Run ids come from the issue, so a re-delivered event resumes the same run."""
    from .github import render
    from .model import Task
    from .pipeline import TERMINAL, Request

    def handle(ctx: Any) -> Any:
        req, config, result = ctx.request, ctx.config, ctx.result
        pipeline, builders = assemble(config, repo_path=repo_path, store=ctx.store, github=ctx.provider,
                                      progress=progress)
        pipeline.parts.render_comment = render.suggestion
        store = pipeline.store
        issue_run = f"run-issue-{req.issue}" if req.issue is not None else None
        try:
            if req.kind == "resume":
                outcomes = pipeline.resume_due(from_github=True)
                lines = [f"{o.run.id}: {o.run.status}" if not isinstance(o, GitorchError) else f"failed: {o.message}"
                         for o in outcomes]
                result.status = "resumed" if outcomes else "ignored"
                result.message = "; ".join(lines) if lines else "no paused run is due"
                return result
            if req.kind in ("task", "dispatch"):
                request = Request(text=req.text, title=req.title, trigger="issue" if req.issue else "action",
                                  issue_number=req.issue, requested_by=req.actor.login,
                                  decision_id=ctx.decision.id if ctx.decision else None)
                outcome = pipeline.start(request, run_id=issue_run or f"run-{req.key}")
            elif req.kind == "task_md":
                from .tasks import work_between

                items = work_between(repo_path, req.before if req.before and set(req.before) != {"0"} else None,
                                     req.after or "HEAD")
                if not items:
                    result.status, result.message = "ignored", "no new or edited TASK.md items in the push"
                    return result
                request = Request(text="\n".join(f"- {i.text}" for i in items), title="TASK.md",
                                  trigger="task_md", tasks=_task_dicts(items), base=req.after or "HEAD",
                                  requested_by=req.actor.login, confirmed=True)
                outcome = pipeline.start(request, run_id=f"run-push-{(req.after or '')[:12]}")
            elif req.kind == "rework":
                run = next((r for r in store.list_runs(500) if r.pr_number == req.pr), None)
                if run is None:
                    result.status, result.message = "ignored", f"no run of this runner opened #{req.pr}"
                    return result
                where = f" (in `{req.path}` at line {req.line})" if req.path else ""
                task = Task(id="rework", description=f"Address this review comment{where}:\n\n{req.text}",
                            files=[req.path] if req.path else [], task_type="debugging")
                outcome = pipeline.rework(run.id, [task], key=str(req.comment_id or req.key))
                if req.comment_id is not None and req.pr is not None:
                    ctx.provider.reply_to_review_comment(
                        req.pr, req.comment_id, f"rework-{req.comment_id}",
                        f"Done in {outcome.commits[-1][:10] if outcome.commits else 'no new commit'}; "
                        f"Claude's verdict: **{outcome.run.verdict}**.")
            elif req.command == "cancel":
                run = store.get_run(issue_run) if issue_run else None
                if run is None or run.status in TERMINAL:
                    result.status, result.message = "answered", "no run to cancel"
                    return result
                run.status = "cancelled"
                store.save_run(run)
                ctx.provider.set_run_label(req.issue, "failed")
                result.status, result.message = "cancelled", f"run {run.id} cancelled"
                return result
            elif req.command == "retry":
                old = store.journal_result(issue_run, "request") if issue_run else None
                if not old:
                    result.status, result.message = "answered", "nothing to retry: no run on this issue yet"
                    return result
                request = Request(**old["request"])
                request.decision_id, request.confirmed = None, True
                outcome = pipeline.start(request, run_id=f"{issue_run}-retry-{req.comment_id}")
            elif req.command == "review":  # review the PR's head again (only what changed since)
                run = next((r for r in store.list_runs(500)
                            if (req.pr and r.pr_number == req.pr) or r.id == issue_run), None)
                if run is None or not run.branch:
                    result.status, result.message = "answered", "no gitorch pull request to review here"
                    return result
                outcome = pipeline.rework(run.id, [], key=f"review-{req.comment_id or req.key}")
            else:  # proceed, plan: move the issue's run on, confirmed by a person; plan stops after the plan
                plan_only = req.command == "plan"
                if issue_run is None or store.get_run(issue_run) is None:
                    request = Request(text=req.text, title=req.title, trigger="comment", issue_number=req.issue,
                                      confirmed=True, requested_by=req.actor.login, plan_only=plan_only)
                    outcome = pipeline.start(request, run_id=issue_run or f"run-{req.key}")
                else:
                    outcome = pipeline.resume(issue_run, Request(text="", confirmed=True, plan_only=plan_only))
        finally:
            builders.close()
        result.status = outcome.run.status
        result.message = outcome.message or f"run {outcome.run.id}: {outcome.run.status}"
        result.pr_number = outcome.run.pr_number
        result.verdict = outcome.run.verdict
        result.plan = outcome.plan
        result.metrics = [m for m in store.metrics_since(outcome.run.created_at) if m.run_id == outcome.run.id]
        return result

    return handle
