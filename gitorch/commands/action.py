"""`gitorch action`: one GitHub event in, the gates applied, the command run, gitorch's answer out.

1. The event is parsed (``events.parse_event``); anything gitorch does not act on ends here with one
   log line and no API call.
2. ``.gitorch.yml`` is read again from the repository's default branch through the API (never from
   the checkout, which may be a PR head) and the event parsed again under it.
3. Comments on pull requests count only on gitorch's own PRs; then ``permissions.check_trigger``
   decides who may trigger and counts the person's daily runs of commands that cost. Refusals are
   logged, not posted.
4. The event becomes a command of ``gitorch.commands.table`` and is run there; a new task is first
   routed and the suggestion posted as the one marked comment on the issue, with the
   ``gitorch:planning`` label.
5. The job summary goes to ``GITHUB_STEP_SUMMARY`` and ``pr-number``, ``verdict`` and ``cost-usd`` to
   ``GITHUB_OUTPUT``.
"""

from __future__ import annotations

import logging
import tempfile
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

from ..errors import GitorchError
from ..github.events import Event, Ignored, parse_event, read_payload
from ..github.permissions import check_trigger
from ..ports import GitHub
from ..redact import redact
from .table import COMMANDS, Ask, Context, Outcome, dispatch, read_command

log = logging.getLogger("gitorch.github")


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
    if not gate:
        return _finish(env, Outcome("refused", gate.reason))
    log.info("accepted %s from %s: %s", event.key, event.actor.login, gate.reason)

    with Context(config, store, config.repo_root or Path.cwd(), github=provider, router=router,
                 pipeline=pipeline) as ctx:
        result = dispatch(ctx, ask)
    return _finish(env, result, config.secrets.values())


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
