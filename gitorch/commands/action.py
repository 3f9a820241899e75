"""`gitorch action`: one GitHub event in, the gates applied, the command run, gitorch's answer out.

1. The event is parsed (``events.parse_event``); anything gitorch does not act on ends here with one
   log line and no API call. What the payload alone decides is decided here too, before any API call
   (``permissions.decide_from_payload``): gitorch's own comments, bots, strangers whose
   ``author_association`` the payload gives, closed or locked issues.
2. ``.gitorch.yml`` is read again from the repository's default branch through the API (never from
   the checkout, which may be a PR head) and the event parsed again under it.
3. Comments on pull requests count only on gitorch's own PRs; then ``permissions.check_trigger``
   decides who may trigger and counts the person's daily runs of commands that cost. Refusals are
   logged, not posted.
4. No event is lost: GitHub keeps one running and one pending job per concurrency group and cancels
   the pending one when a newer job queues, so before its own event a job answers, oldest first, the
   trusted ``/gitorch`` commands and review comments on its issue or pull request that came before it
   and that no job answered, and a trigger label no run started from (``catch_up``). Each answered command is recorded in the store's journal under
   ``commands/<repo>/<issue>``, so none is answered twice.
5. The event becomes a command of ``gitorch.commands.table`` and is run there; a new task is first
   routed and the suggestion posted as the one marked comment on the issue, with the
   ``gitorch:planning`` label.
6. The job summary goes to ``GITHUB_STEP_SUMMARY`` and ``pr-number``, ``verdict`` and ``cost-usd`` to
   ``GITHUB_OUTPUT``.
"""

from __future__ import annotations

import logging
import tempfile
from collections.abc import Callable
from dataclasses import replace
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from ..errors import GitorchError
from ..github.events import Event, Ignored, parse_event, read_payload
from ..github.permissions import check_trigger, decide_from_payload
from ..model import CommentInfo, LabelEvent, parse_iso, utcnow
from ..ports import GitHub
from ..redact import redact
from .table import COMMANDS, Ask, Context, Outcome, dispatch, read_command

log = logging.getLogger("gitorch.github")

# A job GitHub cancelled was queued at most a day before the job that replaced it (a job waits at most
# 24 hours for a self-hosted runner, and the example workflow's job at most 2 more): older commands
# were answered, or GitHub dropped their whole queue.
CATCH_UP = timedelta(hours=26)


def _default_branch_config(config: Any, provider: GitHub, path: str, overrides: dict[str, Any]) -> Any:
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
        loaded.repo_root = config.repo_root
    apply_overrides(loaded, overrides)
    return loaded


def apply_overrides(config: Any, overrides: dict[str, Any]) -> None:
    """The Action's inputs (trigger label, builder) over the configuration."""
    if overrides.get("trigger_label"):
        config.github.trigger_label = overrides["trigger_label"]
    if overrides.get("builder"):
        config.agents.builder = overrides["builder"]


def _parse(name: str, payload: dict[str, Any], config: Any) -> Event | Ignored:
    return parse_event(name, payload, trigger_label=config.github.trigger_label,
                       branch_prefix=config.git.branch_prefix)


def ask_for(event: Event) -> Ask:
    """The command an event asks for."""
    if event.kind == "command":
        command, args, error = read_command(event.command or "", event.args)
    else:
        command, args, error = {"dispatch": "task"}.get(event.kind, event.kind), [], None
    if event.kind == "outcome":
        args = ["merged" if event.merged else "closed"]
    return Ask(command=command, args=args, error=error, text=event.text, title=event.title, key=event.key,
               issue=event.issue, pr=event.pr, by=event.actor.login, comment_id=event.comment_id, path=event.path,
               line=event.line, before=event.before, after=event.after)


def run_action(config: Any, env: Any, *, provider: GitHub | None = None, store: Any = None,
               router: Any = None, pipeline: Callable[[Context], Any] | None = None,
               config_path: str = ".gitorch.yml", overrides: dict[str, Any] | None = None) -> Outcome:
    """Handle the event ``env`` names (an ``ActionEnv``), write the summary and outputs, return what
    happened. ``pipeline`` makes the run pipeline for the commands (default: assembled from config)."""
    overrides = overrides or {}
    apply_overrides(config, overrides)
    if not env.event_name:
        raise GitorchError("GITHUB_EVENT_NAME is not set", hint="`gitorch action` runs inside GitHub Actions; locally "
                                                               "set GITHUB_EVENT_NAME and GITHUB_EVENT_PATH")
    payload = read_payload(env.event_path)
    event = _parse(env.event_name, payload, config)
    if isinstance(event, Ignored):
        log.info("%s", event)
        return _finish(env, Outcome("ignored", str(event)))
    early = decide_from_payload(event, config.github)
    if early is not None and not early:  # strangers and gitorch's own words cost no API call
        log.info("refused %s from %s: %s", event.key, event.actor.login or "someone", early.reason)
        return _finish(env, Outcome("refused", early.reason))

    repo = env.repository or event.repo
    if provider is None:
        from ..github.rest import RestProvider

        provider = RestProvider(config, repo)
    config = _default_branch_config(config, provider, config_path, overrides)
    event = _parse(env.event_name, payload, config)
    if isinstance(event, Ignored):
        log.info("%s", event)
        return _finish(env, Outcome("ignored", str(event)))

    if event.on_pull and event.gitorch_pr is None and event.pr is not None:
        pull = provider.get_pull(event.pr)
        if not pull.head_ref.startswith(config.git.branch_prefix):
            message = f"ignored {event.event}: #{event.pr} is not a gitorch pull request"
            log.info("%s", message)
            return _finish(env, Outcome("ignored", message))
        event = replace(event, gitorch_pr=True, head_ref=pull.head_ref, head_sha=pull.head_sha)

    if store is None:
        from ..store import open_store

        store = open_store(config)
    ask = ask_for(event)
    gate = check_trigger(event, config.github, provider, store, costly=COMMANDS[ask.command].costs)
    with Context(config, store, config.repo_root or Path.cwd(), github=provider, router=router,
                 pipeline=pipeline) as ctx:
        # What GitHub cancelled before this job is answered even when this event itself is refused (a
        # daily limit): this job may be the last of the burst. Not on a closed issue: the gate refuses there.
        missed = event.issue is not None and event.kind in ("task", "command", "rework")
        caught_up = catch_up(ctx, env.event_name, payload, event) if missed else []
        if not gate:
            result = Outcome("refused", gate.reason)
        else:
            log.info("accepted %s from %s: %s", event.key, event.actor.login, gate.reason)
            try:
                result = dispatch(ctx, ask)
            except GitorchError:
                if event.kind in ("command", "rework"):  # answered with the error; a later job does not ask again
                    _answered(store, event)
                raise
            if event.kind in ("command", "rework") and result.status != "held":
                _answered(store, event)
    if caught_up:
        result.message += "; answered first, as no job had: " + ", ".join(caught_up)
    return _finish(env, result, config.secrets.values())


# -- no event lost --------------------------------------------------------------------------------------


def _answers(event: Event) -> str:
    return f"commands/{event.repo}/{event.issue}"


def _answered(store: Any, event: Event, key: str | None = None) -> None:
    store.journal_finish(_answers(event), key or event.key, {"command": event.command or event.kind,
                                                              "by": event.actor.login,
                                                              "at": utcnow().isoformat(timespec="seconds")})


def _event_time(name: str, payload: dict[str, Any]) -> datetime:
    """When the event happened, as its payload says (now when it does not)."""
    field = {"issue_comment": ("comment", "created_at"), "issues": ("issue", "updated_at"),
             "pull_request_review_comment": ("comment", "created_at"),
             "pull_request_review": ("review", "submitted_at"), "pull_request": ("pull_request", "closed_at")}
    part, key = field.get(name, ("", ""))
    value = payload.get(part) if isinstance(payload.get(part), dict) else {}
    return _time(value.get(key)) or utcnow()


def _time(text: Any) -> datetime | None:
    try:
        return parse_iso(text) if isinstance(text, str) else None
    except ValueError:  # not a time GitHub writes
        return None


def _issue_part(payload: dict[str, Any], event: Event) -> dict[str, Any]:
    issue = payload.get("issue") if isinstance(payload.get("issue"), dict) else {}
    part = {"number": event.issue, "state": event.issue_state or "open", "locked": event.issue_locked,
            "title": issue.get("title", event.title), "body": issue.get("body") or "",
            "labels": issue.get("labels") or [], "user": issue.get("user") or {}}
    if event.on_pull:
        part["pull_request"] = {}
    return part


def _comment_payload(payload: dict[str, Any], event: Event, comment: CommentInfo) -> dict[str, Any]:
    """A listed comment as the ``issue_comment`` event GitHub delivered for it (to a job it cancelled)."""
    user = {"login": comment.author, "type": comment.author_type}
    return {"action": "created", "repository": payload.get("repository") or {"full_name": event.repo},
            "issue": _issue_part(payload, event), "sender": user,
            "comment": {"id": comment.id, "body": comment.body, "user": user,
                        "author_association": comment.association, "created_at": comment.created_at}}


def _pull_part(event: Event) -> dict[str, Any]:
    """The ``pull_request`` of a delivered review event, as far as gitorch reads it."""
    return {"number": event.pr, "state": event.issue_state or "open", "locked": event.issue_locked,
            "title": event.title, "head": {"ref": event.head_ref or "", "sha": event.head_sha}}


def _review_comment_payload(payload: dict[str, Any], event: Event, comment: CommentInfo) -> dict[str, Any]:
    """A listed review comment as the ``pull_request_review_comment`` event GitHub delivered for it."""
    user = {"login": comment.author, "type": comment.author_type}
    return {"action": "created", "repository": payload.get("repository") or {"full_name": event.repo},
            "pull_request": _pull_part(event), "sender": user,
            "comment": {"id": comment.id, "body": comment.body, "user": user, "path": comment.path,
                        "line": comment.line, "author_association": comment.association,
                        "created_at": comment.created_at}}


def _review_payload(payload: dict[str, Any], event: Event, review: CommentInfo) -> dict[str, Any]:
    """A listed review that requests changes as the ``pull_request_review`` event GitHub delivered for it."""
    user = {"login": review.author, "type": review.author_type}
    return {"action": "submitted", "repository": payload.get("repository") or {"full_name": event.repo},
            "pull_request": _pull_part(event), "sender": user,
            "review": {"id": review.id, "body": review.body, "user": user, "state": "changes_requested",
                       "author_association": review.association, "submitted_at": review.created_at}}


def _label_payload(payload: dict[str, Any], event: Event, added: LabelEvent) -> dict[str, Any]:
    """A trigger label someone added, as the ``issues.labeled`` event GitHub delivered for it."""
    return {"action": "labeled", "repository": payload.get("repository") or {"full_name": event.repo},
            "issue": _issue_part(payload, event), "label": {"name": added.label},
            "sender": {"login": added.actor, "type": added.actor_type}}


def _missed(ctx: Context, name: str, payload: dict[str, Any], event: Event) -> list[tuple[datetime, int, str, str,
                                                                                          dict[str, Any]]]:
    """What happened on the issue before ``event`` that no job answered, as (time, id, answer key,
    event name, payload), oldest first: ``/gitorch`` comments, review comments and reviews that
    request changes on a gitorch pull request, and the trigger label of an issue no run of this store
    has started."""
    store, provider, trigger = ctx.store, ctx.github, ctx.config.github.trigger_label
    before = _event_time(name, payload)
    answered = {row.get("key") for row in store.journal(_answers(event)) if row.get("status") == "finished"}
    own = event.comment_id if event.event == "issue_comment" else None

    def fresh(when: datetime | None, key: str) -> bool:
        return when is not None and before - CATCH_UP <= when <= before and key not in answered

    found = []
    for comment in provider.comments(event.issue):
        when, key = _time(comment.created_at), f"comment-{comment.id}"
        if fresh(when, key) and (own is None or comment.id < own):  # after this event: its own job, or a later one
            found.append((when, comment.id, key, "issue_comment", _comment_payload(payload, event, comment)))
    if event.on_pull and event.gitorch_pr and event.pr is not None:
        own_review = event.comment_id if event.event == "pull_request_review_comment" else None
        for comment in provider.review_comments(event.pr):
            when, key = _time(comment.created_at), f"review-comment-{comment.id}"
            if fresh(when, key) and (own_review is None or comment.id < own_review):
                found.append((when, comment.id, key, "pull_request_review_comment",
                              _review_comment_payload(payload, event, comment)))
        own_review = event.key if event.event == "pull_request_review" else None
        for review in provider.changes_requested(event.pr):
            when, key = _time(review.created_at), f"review-{review.id}"
            if fresh(when, key) and key != own_review:
                found.append((when, review.id, key, "pull_request_review", _review_payload(payload, event, review)))
    labels = [lb.get("name") if isinstance(lb, dict) else lb for lb in _issue_part(payload, event)["labels"]]
    if event.kind != "task" and not event.on_pull and trigger in labels and \
            ctx.store.get_run(ask_for(event).issue_run or "") is None:
        added = [a for a in provider.labels_added(event.issue) if a.label == trigger]
        if added:  # the last time it was added is the event that starts the run
            last = added[-1]
            when, key = _time(last.created_at), f"label-{last.id}"
            if fresh(when, key):
                found.append((when, last.id, key, "issues", _label_payload(payload, event, last)))
    return sorted(found, key=lambda item: (item[0], item[1]))


def catch_up(ctx: Context, name: str, payload: dict[str, Any], event: Event) -> list[str]:
    """Answer, oldest first, what came on the event's issue or pull request before it and that no job
    answered (their jobs were cancelled while pending): trusted ``/gitorch`` commands, review comments
    on a gitorch pull request, and a trigger label no run answered. Each goes through the same parsing
    and gate as a delivered event. Returns what was answered."""
    config, store, provider = ctx.config, ctx.store, ctx.github
    done: list[str] = []
    for _, _, key, missed_name, missed_payload in _missed(ctx, name, payload, event):
        missed = _parse(missed_name, missed_payload, config)
        if isinstance(missed, Ignored) or missed.kind not in ("command", "task", "rework"):
            continue
        missed = replace(missed, gitorch_pr=event.gitorch_pr, head_ref=event.head_ref, head_sha=event.head_sha)
        ask = ask_for(missed)
        if not check_trigger(missed, config.github, provider, store, costly=COMMANDS[ask.command].costs):
            if missed.kind == "task":  # decided as its own job would have; not looked up again
                _answered(store, missed, key)
            continue
        log.info("answering %s (%s from %s): its job never ran", key, ask.command, missed.actor.login)
        try:
            result = dispatch(ctx, ask)
        except GitorchError as exc:  # said where it belongs; the next command, and this event, go on
            log.warning("%s: %s", key, exc.message)
            result = Outcome("failed", exc.message)
        if result.status != "held":
            _answered(store, missed, key)
            done.append(f"{key} ({ask.command}: {result.status})")
    return done


def _finish(env: Any, result: Outcome, secrets: list[str] | None = None) -> Outcome:
    """Job summary and step outputs, when running inside GitHub Actions."""
    from ..github import render

    if env.step_summary:
        with open(env.step_summary, "a", encoding="utf-8") as fh:
            fh.write(redact(render.job_summary(result), secrets or []))
    if env.output:
        with open(env.output, "a", encoding="utf-8") as fh:
            fh.write(f"pr-number={result.pr_number or ''}\n")
            fh.write(f"verdict={result.verdict or ''}\n")
            fh.write(f"cost-usd={result.cost_usd:.4f}\n")
    return result
