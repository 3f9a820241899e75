"""The command line. Thin: parse, call, print.

Importing this module reads no config, opens no database and imports none of the heavy packages
(anthropic, playwright, pygit2, numpy): each command imports what it needs, so the pre-push hook's
idle path stays near Python's own start-up time.
"""

from __future__ import annotations

import json
import logging
import os
import sys
import traceback
from pathlib import Path
from typing import Any

import click

from ..errors import GitorchError

log = logging.getLogger("gitorch.cli")

def _load_config(ctx: click.Context | None = None):
    from .. import config

    return config.load()


def _console():
    from rich.console import Console

    return Console()


def _print_json(data: Any) -> None:
    click.echo(json.dumps(data, indent=2, default=str))


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="gitorch")
def cli() -> None:
    """gitorch: a labelled issue or a TASK.md commit in, a reviewed pull request out.

    Claude plans and reviews; a builder on your ChatGPT plan writes the code.
    """


# -- routing ------------------------------------------------------------------------------------


def _text_argument(ctx: click.Context, param: click.Parameter, value: str | None) -> str | None:
    """TEXT as given on the command line, refused with a clear error when it is not UTF-8."""
    from ..errors import check_text

    return check_text(value, "TEXT") if value is not None else None


@cli.command()
@click.argument("text", required=False, callback=_text_argument)
@click.option("--batch", "batch_file", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="JSON Lines file of {\"text\": ...}; one decision per line, in order.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a panel.")
@click.option("--no-record", is_flag=True, help="Do not store the decision (for dry looks).")
def route(text: str | None, batch_file: Path | None, as_json: bool, no_record: bool) -> None:
    """Suggest a task type and an agent for TEXT, with confidence, cost and saving."""
    from ..routing import Router, repo_key
    from ..routing.batch import route_file
    from ..routing.panel import render
    from ..store import open_store

    if (text is None) == (batch_file is None):
        raise GitorchError("give either TEXT or --batch FILE.jsonl (one of them)",
                           hint="gitorch route \"Add CSV export to reports\"  or  gitorch route --batch tasks.jsonl --json")
    config = _load_config()
    store = open_store(config, read_only=no_record)
    try:
        router = Router(config, store, repo=repo_key(config.repo_root))
        if batch_file is not None:
            if not as_json:
                raise GitorchError("--batch writes JSON Lines only", hint="add --json")
            route_file(router, batch_file, lambda chunk: click.echo(chunk, nl=False), record=not no_record)
            return
        decision = router.route(text, record=not no_record)
    finally:
        store.close()
    if as_json:
        _print_json(decision.as_json())
    else:
        _console().print(render(decision))


def _tell_team(config: Any, store: Any) -> None:
    """One of a team: send the outbox now, so the other runners' routers learn this lesson at their
    next suggestion. Convex away: the lesson waits in the outbox for the next run or 'gitorch sync'."""
    from ..store.convex import mirror_for

    mirror = mirror_for(config, store)
    if mirror is None:
        return
    with mirror:
        try:
            mirror.sync(attempts=1)
        except GitorchError as exc:
            log.warning("the team will learn this later ('gitorch sync' sends it): %s", exc.message)


@cli.command()
@click.argument("decision_id")
@click.option("--override", "override_agent", type=click.Choice(["claude", "chatgpt-pro", "codex"]),
              help="The agent a person chose instead.")
@click.option("--type", "override_task_type",
              type=click.Choice(["planning", "code_generation", "debugging", "refactoring", "review"]),
              help="The task type it really was.")
@click.option("--outcome", type=click.Choice(["success", "failure"]), help="How the work turned out.")
@click.option("--json", "as_json", is_flag=True)
def feedback(decision_id: str, override_agent: str | None, override_task_type: str | None,
             outcome: str | None, as_json: bool) -> None:
    """Teach the router what happened to DECISION_ID."""
    from ..routing import Router
    from ..store import open_store

    config = _load_config()
    store = open_store(config)
    try:
        decision = store.get_decision(decision_id)
        if decision is None:
            raise GitorchError(f"no routing decision with id {decision_id!r}",
                               hint="use the decision_id that 'gitorch route --json' printed, in the same repository")
        router = Router(config, store, repo=decision.repo)
        decision = router.feedback(decision_id, override_agent=override_agent,
                                   override_task_type=override_task_type, outcome=outcome)
        info = router.model_info()
        _tell_team(config, store)
    finally:
        store.close()
    if as_json:
        _print_json({**decision.as_json(), "learned": bool(info.get("learning")) and info["strategy"] == "learned"})
        return
    what = ", ".join(f"{k} {v}" for k, v in (("override", override_agent), ("type", override_task_type),
                                               ("outcome", outcome)) if v)
    learnt = "and learned from it" if config.routing.learning else "(learning is off: ENABLE_LEARNING=false)"
    click.echo(f"recorded {what} for {decision_id} {learnt}")


@cli.command()
@click.option("--json", "as_json", is_flag=True)
@click.option("--days", type=click.IntRange(min=1), default=30, show_default=True)
def stats(as_json: bool, days: int) -> None:
    """Tokens and cost per agent, saving against Claude alone, routing accuracy, budget."""
    from .. import stats as ledger_stats
    from ..store import open_store

    config = _load_config()
    store = open_store(config, read_only=True)
    try:
        data = ledger_stats.compute(store, config, days=days)
    finally:
        store.close()
    if as_json:
        _print_json(data)
    else:
        ledger_stats.render(data, _console())


# -- the run and its steps ----------------------------------------------------------------------


def _read_text(path: Path) -> str:
    """A text file the person named, as UTF-8, with an error that says where it is not."""
    data = path.read_bytes()
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data[:exc.start].count(b"\n") + 1
        raise GitorchError(f"{path} is not UTF-8 text: byte {exc.start} (line {line}) cannot be read",
                           hint="save the file as UTF-8 (most editors: 'Save with encoding')") from None


def _context(cfg: Any, **kw: Any):
    """The commands' context for this repository, on this machine (no GitHub)."""
    from ..commands.table import Context
    from ..store import open_store

    if cfg.repo_root is None:
        raise GitorchError("not inside a git repository", hint="cd into the repository gitorch should work on")
    return Context(cfg, open_store(cfg), cfg.repo_root, **kw)


@cli.command()
@click.argument("text", required=False, callback=_text_argument)
@click.option("--task-file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--agent", type=click.Choice(["claude", "chatgpt-pro", "codex"]))
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
@click.option("--resume", "resume_id", help="Continue the run RUN_ID from its last finished step.")
@click.option("--resume-due", is_flag=True,
              help="Continue every paused run of this machine whose wait is over (usage cap reset, new budget period).")
@click.option("--json", "as_json", is_flag=True)
def run(text, task_file, agent, yes, resume_id, resume_due, as_json) -> None:
    """Plan, build, commit and review TEXT (or TASK.md items) in this repository."""
    from ..commands.table import Ask, dispatch
    from .display import RichProgress, confirm_in_terminal, result_json, run_table, summary_lines

    cfg = _load_config()
    if resume_due:
        return _resume_due(cfg, as_json)
    if not (text or task_file or resume_id):
        raise click.UsageError("give the task as TEXT, or --task-file TASK.md, or --resume RUN_ID (or --resume-due)")
    ask = Ask("proceed" if resume_id else "task", text=text or "", run_id=resume_id, agent=agent, confirmed=yes)
    if task_file is not None and not resume_id:
        from ..git.command import TASK_FILE
        from ..git.taskfile import parse

        items = parse(_read_text(task_file), source=str(task_file)).open_items
        if not items:
            raise GitorchError(f"{task_file} has no unchecked '- [ ]' items", hint="add an item, or pass TEXT")
        ask.text = text or "\n".join(f"- {i.text}" for i in items)
        ask.tasks, ask.task_file = [i.spec() for i in items], TASK_FILE
    console = _console()
    confirm = None
    if not (yes or agent or as_json) and sys.stdin.isatty():
        from ..routing.panel import render as render_decision

        confirm = confirm_in_terminal(console, render_decision)
    with _context(cfg, progress=None if as_json else RichProgress(console), confirm=confirm) as ctx:
        result = dispatch(ctx, ask).run
    if result.held_by is not None:  # another process drives it: nothing was done here, and that is fine
        _print_json(result_json(result)) if as_json else click.echo(result.message)
        return
    if as_json:
        _print_json(result_json(result))
    else:
        if result.plan is not None and result.plan.tasks:
            console.print(run_table(result))
        for line in summary_lines(result):
            console.print(line)
    if result.run.status.waiting or result.run.status == "failed":
        sys.exit(1)


def _resume_due(cfg: Any, as_json: bool) -> None:
    """`gitorch run --resume-due`: for cron on a machine that runs gitorch from the command line or
    the pre-push hook (runs started on GitHub are resumed by the workflow's schedule)."""
    from ..commands.table import Ask, dispatch
    from .display import result_json

    with _context(cfg) as ctx:
        outcomes = dispatch(ctx, Ask("resume")).resumed
    if as_json:
        _print_json([{"error": o.message} if isinstance(o, GitorchError) else result_json(o) for o in outcomes])
    else:
        for o in outcomes:
            click.echo(f"error: {o.message}" if isinstance(o, GitorchError)
                       else f"{o.run.id}: {o.run.status}" + (f" ({o.message})" if o.message else ""))
        if not outcomes:
            click.echo("no run is due")
    if any(isinstance(o, GitorchError) for o in outcomes):
        sys.exit(1)


@cli.command()
@click.argument("text", callback=_text_argument)
@click.option("--json", "as_json", is_flag=True)
def plan(text: str, as_json: bool) -> None:
    """Ask Claude for a plan for TEXT."""
    from ..commands.table import Ask, dispatch
    from ..cost import PriceTable
    from ..model import to_dict
    from ..redact import Redactor, install_log_redaction

    config = _load_config()
    install_log_redaction(Redactor(config.secrets.values()))
    with _context(config) as ctx:
        outcome = dispatch(ctx, Ask("plan", text=text))
    result, context, p = outcome.call, outcome.context, outcome.plan
    cost_usd = PriceTable.from_config(config).usd(result.model, result.usage)
    if as_json:
        _print_json({"plan_id": p.id, "summary": p.summary, "tasks": [to_dict(t) for t in p.tasks],
                     "model": result.model, "usage": to_dict(result.usage), "cost_usd": round(cost_usd, 6),
                     "context": {"tokens": context.tokens, "budget": context.budget, "files": context.files_total,
                                 "included": context.files_included, "map": context.map_detail},
                     "alerts": outcome.alerts})
        return
    from rich.table import Table

    console = _console()
    for alert in outcome.alerts:
        console.print(f"[yellow]budget:[/] {alert}")
    table = Table(title=f"plan {p.id}: {p.summary}", title_justify="left")
    for column in ("task", "description", "files", "agent", "after", "lines", "type"):
        table.add_column(column)
    for t in p.tasks:
        table.add_row(t.id, t.description, "\n".join(t.files), t.assigned_to, ", ".join(t.depends_on),
                      str(t.estimated_lines), t.task_type)
    console.print(table)
    u = result.usage
    console.print(f"[dim]{result.model}: {u.total_input_tokens} tokens in ({u.cache_read_input_tokens} from cache), "
                  f"{u.output_tokens} out, ${cost_usd:.4f}; context {context.tokens}/{context.budget} "
                  f"tokens from {context.files_total} files[/]")


@cli.command()
@click.option("--range", "rev_range", help="A..B: review the commits in this range.")
@click.option("--pr", type=int, help="Review pull request N (fetched from the remote).")
@click.option("--json", "as_json", is_flag=True)
def review(rev_range: str | None, pr: int | None, as_json: bool) -> None:
    """Ask Claude to review a range of commits or a pull request. Exits 1 when the verdict is reject."""
    from ..commands.table import Ask, dispatch
    from ..cost import PriceTable
    from ..model import to_dict
    from ..redact import Redactor, install_log_redaction

    if not (rev_range or pr):
        raise GitorchError("say what to review", hint="gitorch review --range main..HEAD, or --pr N")
    config = _load_config()
    install_log_redaction(Redactor(config.secrets.values()))
    with _context(config) as ctx:
        outcome = dispatch(ctx, Ask("review", rev_range=rev_range, pr=pr))
    result, r = outcome.call, outcome.review
    shown = rev_range or f"#{pr}"
    cost_usd = PriceTable.from_config(config).usd(result.model, result.usage)
    if as_json:
        _print_json({"verdict": r.verdict, "summary": r.summary, "range": shown,
                     "artifacts": [{"path": v.path, "status": "approved" if v.approved else "rejected",
                                    "notes": v.notes} for v in r.artifacts],
                     "comments": [to_dict(c) for c in r.comments], "fix_tasks": [to_dict(t) for t in r.fix_tasks],
                     "model": result.model, "usage": to_dict(result.usage), "cost_usd": round(cost_usd, 6),
                     "alerts": outcome.alerts})
    else:
        from rich.table import Table

        console = _console()
        for alert in outcome.alerts:
            console.print(f"[yellow]budget:[/] {alert}")
        mark = "[green]approve[/]" if r.verdict == "approve" else "[red]reject[/]"
        console.print(f"{shown}: {mark}  {r.summary}")
        table = Table(show_header=True)
        for column in ("file", "status", "notes"):
            table.add_column(column)
        for v in r.artifacts:
            table.add_row(v.path, "[green]approved[/]" if v.approved else "[red]rejected[/]", v.notes)
        console.print(table)
        for c in r.comments:
            console.print(f"  {c.path}:{c.line}: {c.body}")
        for t in r.fix_tasks:
            console.print(f"  fix {t.id}: {t.description} ({', '.join(t.files)})")
        console.print(f"[dim]{result.model}: {result.usage.total_input_tokens} tokens in, "
                      f"{result.usage.output_tokens} out, ${cost_usd:.4f}[/]")
    if r.verdict != "approve":
        sys.exit(1)


@cli.command()
@click.option("--config", "config_path", default=".gitorch.yml", show_default=True,
              help="Config file in the repository, read from the default branch through the API.")
@click.option("--trigger-label", help="Label that starts a run (overrides github.trigger_label).")
@click.option("--builder", type=click.Choice(["chatgpt-pro", "codex", "claude"]), help="Overrides agents.builder.")
@click.option("--dry-run", "dry_run", type=click.Path(file_okay=False, path_type=Path),
              help="Write what would be posted as Markdown files in this folder instead of calling GitHub.")
@click.option("--json", "as_json", is_flag=True)
def action(config_path: str, trigger_label: str | None, builder: str | None, dry_run: Path | None,
           as_json: bool) -> None:
    """Entry point of the GitHub Action (reads GITHUB_EVENT_NAME and GITHUB_EVENT_PATH)."""
    import logging

    from .. import config as config_module
    from ..commands.action import run_action

    logging.basicConfig(level=logging.INFO, format="gitorch: %(message)s")
    logging.getLogger("httpx").setLevel(logging.WARNING)  # one line per request is noise in the job log
    cfg = _load_config()
    env = config_module.action_env()
    provider = None
    if dry_run is not None:
        from ..github.local import LocalProvider

        provider = LocalProvider(dry_run, env.repository or "local/repo", repo_root=cfg.repo_root,
                                 secrets=cfg.secrets.values())
    if cfg.repo_root is None:
        raise GitorchError("gitorch action runs in a checkout of the repository",
                           hint="add 'actions/checkout' before the gitorch step (see the example workflow)")
    result = run_action(cfg, env, provider=provider, config_path=config_path,
                        overrides={"trigger_label": trigger_label, "builder": builder})
    if as_json:
        _print_json({"status": result.status, "message": result.message, "pr_number": result.pr_number,
                     "verdict": result.verdict, "cost_usd": round(result.cost_usd, 6),
                     "decision_id": result.decision.id if result.decision else None,
                     "comment_url": result.comment_url})
    else:
        click.echo(f"{result.status}: {result.message}")


@cli.group()
def routing() -> None:
    """The router's strategies."""


@routing.command("promote")
@click.argument("name")
def routing_promote(name: str) -> None:
    """Make strategy NAME the acting one in .gitorch.yml (the old one becomes a shadow)."""
    from ..routing.promote import promote

    config = _load_config()
    if config.repo_root is None:
        raise GitorchError("not inside a git repository: there is no .gitorch.yml to change",
                           hint="run 'gitorch routing promote' in your repository (where 'gitorch init' wrote .gitorch.yml)")
    result = promote(config.repo_root, name)
    if not result["changed"]:
        click.echo(f"{name} is already the routing strategy in {result['path']}; nothing to do")
        return
    click.echo(f"routing.strategy is now {name} (was {result['was']}); shadows: "
               f"{', '.join(result['shadow'])}. Edited {result['path']}.")


@cli.group()
def hook() -> None:
    """What installed git hooks run."""


@hook.command("pre-push", context_settings={"ignore_unknown_options": True})
@click.argument("remote", required=False)
@click.argument("url", required=False)
@click.option("--hook-dir", type=click.Path(file_okay=False, path_type=Path), hidden=True,
              help="Folder of the installed hook (where pre-push.legacy lives).")
def hook_pre_push(remote: str | None, url: str | None, hook_dir: Path | None) -> None:
    """Run by the pre-push hook with git's ref lines on stdin."""
    import os

    from ..commands.pre_push import main as hook_main

    argv = [*(["--hook-dir", str(hook_dir)] if hook_dir else []), *(a for a in (remote, url) if a is not None)]
    sys.exit(hook_main(argv, sys.stdin.buffer, os.environ))


@cli.group()
def hooks() -> None:
    """Install or remove gitorch's git hooks."""


@hooks.command("install")
def hooks_install() -> None:
    """Install the pre-push hook, keeping an existing one working."""
    from ..git.hook import install

    result = install(Path.cwd())
    messages = {"installed": "installed", "updated": "updated", "unchanged": "already installed, nothing to do"}
    click.echo(f"gitorch pre-push hook {messages[result.action]}: {result.path}")
    if result.legacy is not None:
        click.echo(f"your existing hook is kept as {result.legacy} and runs first")


@hooks.command("uninstall")
def hooks_uninstall() -> None:
    """Remove the pre-push hook and put back the one it replaced."""
    from ..git.hook import uninstall

    result = uninstall(Path.cwd())
    messages = {"removed": "removed", "restored": "removed; your previous hook is back in place",
                "not-installed": "is not installed here, nothing to do"}
    click.echo(f"gitorch pre-push hook {messages[result.action]}: {result.path}")


@cli.group()
def browser() -> None:
    """The ChatGPT browser builder."""


@browser.command("login")
def browser_login() -> None:
    """Open a visible browser once to log in to ChatGPT and keep the session."""
    from ..agents.browser import login

    config = _load_config()
    profile = Path(config.browser.session_dir).expanduser()
    click.echo(f"Opening {config.browser.url} with the profile {profile}.")
    if not login(config, echo=click.echo):
        raise GitorchError("the login did not finish: the window was closed or the wait ran out",
                           hint="run 'gitorch browser login' again and log in until the chat box shows")
    click.echo(f"Logged in. The session is kept in {profile}; the builder uses it from now on.")


@cli.command()
@click.option("--status", is_flag=True, help="Show what is pending instead of sending it.")
@click.option("--retry-parked", is_flag=True, help="Send again the records parked after Convex refused them.")
@click.option("--json", "as_json", is_flag=True)
def sync(status: bool, retry_parked: bool, as_json: bool) -> None:
    """Push the outbox to Convex."""
    from ..redact import redact
    from ..store import open_store
    from ..store.convex import ConvexMirror, outbox_status

    cfg = _load_config()
    store = open_store(cfg)
    try:
        if status:
            state = outbox_status(store, cfg.convex)
            if as_json:
                _print_json(state.as_json())
                return
            click.echo(f"Convex: {state.url or 'not configured (CONVEX_URL is empty)'}")
            click.echo(f"pending: {state.pending} record{'s' if state.pending != 1 else ''}")
            if state.oldest:
                o = state.oldest
                click.echo(f"oldest: {o['table']}/{o['key']} v{o['version']}, written {o['created_at']}, "
                           f"{o['attempts']} failed attempt{'s' if o['attempts'] != 1 else ''}")
            click.echo(f"last error: {state.last_error or 'none'}")
            if state.parked_count:
                click.echo(f"parked: {state.parked_count} record{'s' if state.parked_count != 1 else ''} Convex "
                           f"refused {cfg.convex.park_after_refusals} times, kept here and no longer sent "
                           "('gitorch sync --retry-parked' sends them again):")
                for p in state.parked:
                    click.echo(f"  {p['table']}/{p['key']} v{p['version']}: {p['last_error']}")
            return
        requeued = store.outbox_unpark() if retry_parked else 0
        key = cfg.secrets.convex_admin_key
        with ConvexMirror(store, cfg.convex, key.get_secret_value() if key else None) as mirror:
            result = mirror.sync()
            left, parked = store.outbox_count(), store.outbox_parked_count()
        if as_json:
            _print_json({**result.as_json(), "pending": left, "parked_total": parked, "requeued": requeued})
        else:
            click.echo(f"sent {result.sent} record{'s' if result.sent != 1 else ''} to {cfg.convex.url} "
                       f"in {result.batches} batch{'es' if result.batches != 1 else ''} ({result.seconds:.2f}s); "
                       f"{result.duplicates} already there, {result.stale} older than Convex's; {left} pending"
                       + (f", {parked} parked" if parked else ""))
        if result.rejected:
            raise GitorchError(
                f"Convex refused {result.rejected} record{'s' if result.rejected != 1 else ''}: "
                f"{redact(result.errors[0], cfg.secrets.values())}",
                hint="they stay in SQLite; deploy this gitorch's convex/ functions (npx convex deploy) and run "
                     "'gitorch sync' again (records refused "
                     f"{cfg.convex.park_after_refusals} times are parked: 'gitorch sync --retry-parked'), "
                     "or see 'gitorch sync --status'",
            )
    finally:
        store.close()


@cli.command()
@click.option("--port", type=click.IntRange(0, 65535), default=8765, show_default=True,
              help="Port to listen on (0 picks a free one).")
@click.option("--open", "open_browser", is_flag=True, help="Open the page in the default browser.")
@click.option("--store", "store_kind", type=click.Choice(["local", "convex"]), default=None,
              help="local: this machine's SQLite store; convex: the team's deployment (CONVEX_URL), every "
                   "runner's runs. Default: convex when CONVEX_URL is set, else local.")
@click.option("--host", default="127.0.0.1", show_default=True,
              help="Address to bind. Anything but 127.0.0.1/localhost needs --token.")
@click.option("--token-file", type=click.Path(exists=True, dir_okay=False, path_type=Path), default=None,
              help="File holding the secret the page must send (at least 16 characters); required with "
                   "--host unless GITORCH_DASHBOARD_TOKEN is set. Open http://HOST:PORT/?token=TOKEN once, or "
                   "send 'Authorization: Bearer TOKEN'.")
@click.option("--token", default=None, hidden=True,
              help="The secret itself (visible to every user in 'ps': prefer --token-file or GITORCH_DASHBOARD_TOKEN).")
def dashboard(port: int, open_browser: bool, store_kind: str | None, host: str, token_file: Path | None,
              token: str | None) -> None:
    """Serve a read-only, live dashboard: KPIs, the active run, charts, runs and routing decisions.

    It listens on 127.0.0.1 only, unless --host names another address; then a token is required
    (GITORCH_DASHBOARD_TOKEN or --token-file) and every request must carry it.
    """
    from ..dashboard.app import DashboardServer, check_binding
    from ..dashboard.sources import LocalSource, TeamSource

    cfg = _load_config()
    if token_file is not None:
        if token_file.stat().st_size > 4096:
            raise GitorchError(f"{token_file} is {token_file.stat().st_size:,} bytes, too long for a token file",
                               hint="the file should hold the token alone, on one line")
        token = _read_text(token_file).strip()
        if not token.isprintable() or any(c.isspace() for c in token):
            raise GitorchError(f"{token_file} holds more than one token (spaces, line breaks or control characters)",
                               hint="the file should hold the token alone, on one line")
    elif token is None and cfg.secrets.dashboard_token is not None:
        token = cfg.secrets.dashboard_token.get_secret_value().strip()
    check_binding(host, token)
    kind = store_kind or ("convex" if cfg.convex.url else "local")
    if kind == "convex" and not cfg.convex.url:
        raise GitorchError("--store convex needs the team's deployment, but CONVEX_URL is empty",
                           hint="export CONVEX_URL=https://<name>.convex.cloud, or use --store local")
    key = cfg.secrets.convex_admin_key
    if kind == "convex" and key is None:
        raise GitorchError("--store convex reads the team's records, which only the deployment's key may read, "
                           "but neither CONVEX_DEPLOY_KEY nor CONVEX_ADMIN_KEY is set",
                           hint="export CONVEX_DEPLOY_KEY from the deployment's settings, or use --store local")
    local = LocalSource(cfg)
    source = TeamSource(cfg, local, cfg.convex.url, key.get_secret_value()) if kind == "convex" else local
    with DashboardServer(source, host=host, port=port, token=token) as server:
        where = f"team: Convex {cfg.convex.url}" if kind == "convex" else f"local store {cfg.db_path}"
        click.echo(f"gitorch dashboard ({where}) on {server.url} - Ctrl-C stops it", err=True)
        if open_browser:
            import webbrowser

            webbrowser.open(server.url + (f"?token={token}" if token else ""))
        try:
            server.wait()
        except KeyboardInterrupt:
            pass


@cli.command()
def mcp() -> None:
    """The MCP server (stdio) over the store: plans, artifacts, reviews, metrics, routing.

    Add it to Claude Code with `claude mcp add gitorch -- gitorch mcp`, or to Codex with
    `codex mcp add gitorch -- gitorch mcp` (see docs/mcp.md)."""
    from ..mcp_server import serve

    serve(_load_config())


@cli.command()
def start() -> None:
    """The interactive session: type tasks, see each suggestion, confirm or override it, watch the runs.

    Confirmed tasks queue and run while you type the next; /status, /stats, /budget, /history,
    /resume RUN and /quit; Ctrl-C clears the line (never the runs)."""
    from .session import start as start_session

    cfg = _load_config()
    if cfg.repo_root is None:
        raise GitorchError("not inside a git repository", hint="cd into the repository gitorch should work on")
    if not (sys.stdin.isatty() and sys.stdout.isatty()):
        raise GitorchError("gitorch start is a session for a terminal, and this input or output is not one",
                           hint="run it in a terminal; in a script use 'gitorch run TEXT --yes'")
    start_session(cfg, crash_log=_write_crash_log)


@cli.command()
@click.option("--builder", type=click.Choice(["chatgpt-pro", "codex"]), default="chatgpt-pro", show_default=True)
@click.option("--json", "as_json", is_flag=True, help="Print a summary object instead of the story.")
def demo(builder: str, as_json: bool) -> None:
    """The whole loop on a throwaway repository against local stand-ins; needs no keys."""
    from ..simulate.demo import run_demo

    console = _console()
    if as_json:
        from rich.console import Console

        console = Console(file=open("/dev/null", "w"))  # noqa: SIM115 (the run's story is not wanted)
    summary = run_demo(console, builder=builder)
    if as_json:
        _print_json(summary)


# -- set-up and checks --------------------------------------------------------------------------


@cli.command()
@click.option("--print", "print_only", is_flag=True, help="Print the default .gitorch.yml instead of writing it.")
@click.option("--force", is_flag=True, help="Overwrite an existing .gitorch.yml.")
def init(print_only: bool, force: bool) -> None:
    """Write a commented .gitorch.yml, an example workflow (with its runner label in actionlint's
    settings), and install the pre-push hook."""
    from .. import config
    from ..git.hook import install
    from ..github import workflow as github_workflow

    text = config.default_yaml()
    if print_only:
        click.echo(text, nl=False)
        return
    root = config.find_repo_root(Path.cwd().resolve())
    if root is None:
        raise GitorchError("not inside a git repository", hint="run 'git init' first, or cd into your repository")
    target = root / config.CONFIG_FILE
    if target.exists() and not force:
        raise GitorchError(f"{target} exists already", hint="edit it, or pass --force to replace it with the defaults")
    lint = github_workflow.lint_config_plan(root)  # a file it cannot extend stops init before anything is written
    target.write_text(text, encoding="utf-8")
    click.echo(f"wrote {target}")
    workflow = root / github_workflow.WORKFLOW_PATH
    if not workflow.exists():
        workflow.parent.mkdir(parents=True, exist_ok=True)
        workflow.write_text(github_workflow.example_workflow(), encoding="utf-8")
        click.echo(f"wrote {workflow} (for a self-hosted runner labelled 'gitorch'; see the README)")
    if lint.text is not None:
        lint.path.parent.mkdir(parents=True, exist_ok=True)
        lint.path.write_text(lint.text, encoding="utf-8")
        click.echo(f"{'wrote' if lint.action == 'write' else 'added the runner label to'} {lint.path} "
                   "(so actionlint knows the 'gitorch' runner label)")
    result = install(root)
    click.echo(f"pre-push hook: {result.action} at {result.path}")


@cli.command()
@click.option("--json", "as_json", is_flag=True)
def doctor(as_json: bool) -> None:
    """Check config, keys, store and tools; say what to fix."""
    from ..commands.doctor import run_checks

    checks = run_checks()
    if as_json:
        _print_json([c.__dict__ for c in checks])
    else:
        from rich.table import Table

        table = Table(title="gitorch doctor")
        for column in ("check", "status", "detail"):
            table.add_column(column)
        marks = {"ok": "[green]ok[/]", "warn": "[yellow]warn[/]", "fail": "[red]fail[/]"}
        for c in checks:
            table.add_row(c.name, marks[c.status], c.detail + (f"\n[dim]fix: {c.fix}[/]" if c.fix else ""))
        _console().print(table)
    if any(c.status == "fail" for c in checks):
        sys.exit(1)


def main(argv: list[str] | None = None) -> None:
    """Run the CLI: expected failures print their hint and exit 1, Ctrl-C exits 130, anything
    else says "unexpected" and writes the traceback to a log file instead of the terminal."""
    try:
        cli.main(args=argv, standalone_mode=False)
    except click.exceptions.Abort:
        click.echo("aborted", err=True)
        sys.exit(130)
    except KeyboardInterrupt:
        click.echo("interrupted", err=True)
        sys.exit(130)
    except click.ClickException as exc:
        exc.show()
        sys.exit(exc.exit_code)
    except GitorchError as exc:
        click.secho(f"error: {exc.message}", fg="red", err=True)
        if exc.hint:
            click.echo(f"hint: {exc.hint}", err=True)
        sys.exit(exc.exit_code)
    except SystemExit:
        raise
    except Exception:
        log = _write_crash_log()
        click.secho(f"error: unexpected failure; details in {log}", fg="red", err=True)
        click.echo("hint: please attach that file when you report the problem", err=True)
        sys.exit(3)


def _write_crash_log(details: str | None = None) -> Path:
    """The traceback being handled (or ``details``, one caught on another thread) in ``crash.log`` in
    gitorch's own folder: created private (0600) under a fresh name that no link can stand in for, then
    moved into place (a link planted at ``crash.log`` is replaced, never followed); every secret the
    policy knows of and every token shape masked, and command-line values of options that name a secret."""
    import platform
    import secrets as random_names

    from .. import __version__
    from ..config import crash_context
    from ..redact import redact

    folder, known = crash_context()
    args = _masked_args(sys.argv[1:])
    body = redact(f"gitorch {__version__}, Python {platform.python_version()}, {platform.platform()}\n"
                  f"args: {args}\n\n{details or traceback.format_exc()}", known)
    folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    path = folder / "crash.log"
    fresh = folder / f".crash.{os.getpid()}.{random_names.token_hex(8)}.log"
    fd = os.open(fresh, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
    try:
        with os.fdopen(fd, "w", encoding="utf-8", errors="replace") as fh:
            fh.write(body)
        os.replace(fresh, path)
    except BaseException:
        fresh.unlink(missing_ok=True)
        raise
    return path


def _masked_args(args: list[str]) -> list[str]:
    """``args`` with the value of any option whose name says it is secret (``--token X``, ``--key=X``) masked."""
    from ..redact import MASK
    from ..secrets import is_credential_name

    out: list[str] = []
    hide_next = False
    for arg in args:
        name, eq, _ = arg.partition("=")
        if hide_next:
            out.append(MASK)
            hide_next = False
        elif arg.startswith("--") and is_credential_name(name):
            out.append(f"{name}={MASK}" if eq else arg)
            hide_next = not eq
        else:
            out.append(arg)
    return out
