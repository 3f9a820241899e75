"""The command line. Thin: parse, call, print.

Importing this module reads no config, opens no database and imports none of the heavy packages
(anthropic, playwright, pygit2, sklearn): each command imports what it needs, so the pre-push hook's
idle path stays near Python's own start-up time.
"""

from __future__ import annotations

import json
import sys
import traceback
from pathlib import Path
from typing import Any

import click

from .errors import GitorchError, NotAvailableYet


def _load_config(ctx: click.Context | None = None):
    from . import config

    return config.load()


def _console():
    from rich.console import Console

    return Console()


def _print_json(data: Any) -> None:
    click.echo(json.dumps(data, indent=2, default=str))


def _not_yet(what: str, issue: str) -> None:
    raise NotAvailableYet(
        f"{what} is not available in this version of gitorch yet.",
        hint=f"it arrives with {issue}; see the README for what works today",
    )


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="gitorch")
def cli() -> None:
    """gitorch: a labelled issue or a TASK.md commit in, a reviewed pull request out.

    Claude plans and reviews; a builder on your ChatGPT plan writes the code.
    """


# -- routing ------------------------------------------------------------------------------------


@cli.command()
@click.argument("text", required=False)
@click.option("--batch", "batch_file", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="JSON Lines file of {\"text\": ...}; one decision per line, in order.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a panel.")
@click.option("--no-record", is_flag=True, help="Do not store the decision (for dry looks).")
def route(text: str | None, batch_file: Path | None, as_json: bool, no_record: bool) -> None:
    """Suggest a task type and an agent for TEXT, with confidence, cost and saving."""
    _not_yet("gitorch route", "the router")


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
    _not_yet("gitorch feedback", "the router")


@cli.command()
@click.option("--json", "as_json", is_flag=True)
@click.option("--days", type=click.IntRange(min=1), default=30, show_default=True)
def stats(as_json: bool, days: int) -> None:
    """Tokens and cost per agent, saving against Claude alone, routing accuracy, budget."""
    _not_yet("gitorch stats", "the cost ledger")


# -- the run and its steps ----------------------------------------------------------------------


@cli.command()
@click.argument("text", required=False)
@click.option("--task-file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--agent", type=click.Choice(["claude", "chatgpt-pro", "codex"]))
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
@click.option("--resume", "resume_id", help="Continue the run RUN_ID from its last finished step.")
@click.option("--json", "as_json", is_flag=True)
def run(text, task_file, agent, yes, resume_id, as_json) -> None:
    """Plan, build, commit and review TEXT (or TASK.md items) in this repository."""
    _not_yet("gitorch run", "the pipeline")


@cli.command()
@click.argument("text")
@click.option("--json", "as_json", is_flag=True)
def plan(text: str, as_json: bool) -> None:
    """Ask Claude for a plan for TEXT."""
    _not_yet("gitorch plan", "the architect")


@cli.command()
@click.option("--range", "rev_range", help="A..B: review the commits in this range.")
@click.option("--pr", type=int, help="Review pull request N.")
@click.option("--json", "as_json", is_flag=True)
def review(rev_range: str | None, pr: int | None, as_json: bool) -> None:
    """Ask Claude to review a range of commits or a pull request."""
    _not_yet("gitorch review", "the architect")


@cli.command()
def action() -> None:
    """Entry point of the GitHub Action (reads GITHUB_EVENT_NAME and GITHUB_EVENT_PATH)."""
    _not_yet("gitorch action", "the GitHub integration")


@cli.group()
def hook() -> None:
    """What installed git hooks run."""


@hook.command("pre-push", context_settings={"ignore_unknown_options": True})
@click.argument("remote", required=False)
@click.argument("url", required=False)
def hook_pre_push(remote: str | None, url: str | None) -> None:
    """Run by the pre-push hook with git's ref lines on stdin."""
    _not_yet("gitorch hook pre-push", "the git integration")


@cli.group()
def hooks() -> None:
    """Install or remove gitorch's git hooks."""


@hooks.command("install")
def hooks_install() -> None:
    """Install the pre-push hook, keeping an existing one working."""
    _not_yet("gitorch hooks install", "the git integration")


@cli.group()
def browser() -> None:
    """The ChatGPT browser builder."""


@browser.command("login")
def browser_login() -> None:
    """Open a visible browser once to log in to ChatGPT and keep the session."""
    _not_yet("gitorch browser login", "the browser builder")


@cli.command()
@click.option("--status", is_flag=True, help="Show what is pending instead of sending it.")
def sync(status: bool) -> None:
    """Push the outbox to Convex."""
    _not_yet("gitorch sync", "the Convex mirror")


@cli.command()
@click.option("--port", type=int, default=8765, show_default=True)
def dashboard(port: int) -> None:
    """Serve the dashboard on 127.0.0.1."""
    _not_yet("gitorch dashboard", "the dashboard")


@cli.command()
def mcp() -> None:
    """The MCP server (stdio) over the store."""
    _not_yet("gitorch mcp", "the MCP server")


@cli.command()
@click.option("--builder", type=click.Choice(["chatgpt-pro", "codex"]), default="chatgpt-pro", show_default=True)
def demo(builder: str) -> None:
    """The whole loop on a throwaway repository against local stand-ins; needs no keys."""
    _not_yet("gitorch demo", "the pipeline")


# -- set-up and checks --------------------------------------------------------------------------


@cli.command()
@click.option("--print", "print_only", is_flag=True, help="Print the default .gitorch.yml instead of writing it.")
@click.option("--force", is_flag=True, help="Overwrite an existing .gitorch.yml.")
def init(print_only: bool, force: bool) -> None:
    """Write a commented default .gitorch.yml at the repository root."""
    from . import config

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
    target.write_text(text, encoding="utf-8")
    click.echo(f"wrote {target}")


@cli.command()
@click.option("--json", "as_json", is_flag=True)
def doctor(as_json: bool) -> None:
    """Check config, keys, store and tools; say what to fix."""
    from .doctor import run_checks

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


def _write_crash_log() -> Path:
    import platform
    import tempfile

    from . import __version__
    from .redact import redact

    path = Path(tempfile.gettempdir()) / "gitorch-crash.log"
    body = (
        f"gitorch {__version__}, Python {platform.python_version()}, {platform.platform()}\n"
        f"args: {sys.argv[1:]}\n\n{traceback.format_exc()}"
    )
    path.write_text(redact(body), encoding="utf-8")
    return path
