"""`gitorch start` in a terminal: a line editor with history (prompt_toolkit), and rich drawing above it.

The prompt stays at the bottom while runs go on: each finished step and each run's end is printed
above it (``patch_stdout``), and the toolbar under the prompt shows the runs in flight and the step
each is in. A typed task gets the routing panel and the question (proceed, override AGENT, explain,
edit, skip). Ctrl-C is a key here, not a signal (the terminal's ISIG is off for the session), so it
clears the line being typed and never reaches a run or the programs a run starts; Ctrl-D is /quit.
What the session does lives in ``gitorch.commands.session``; this module only reads and draws.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from ..commands.session import (
    MAX_LINE_CHARS,
    SESSION_COMMANDS,
    Said,
    Session,
    SessionRun,
    Suggestion,
    agent_named,
    read_answer,
    read_line,
)
from ..errors import GitorchError
from ..model import StepKey
from .display import explain_lines, step_line, summary_lines

PROMPT = "gitorch> "
QUESTION = "proceed? [P]roceed · [o]verride AGENT · [e]xplain · e[d]it · [s]kip > "
_ICONS = {"done": "[green]✓[/]", "alert": "[yellow]![/]", "fail": "[red]✗[/]"}


class Terminal:
    """What the person sees: a line above the prompt per step done and per run that ends, the
    panel and the tables; the toolbar with the runs in flight."""

    def __init__(self, console: Console, crash_log: Callable[[str], Path]):
        self.console = console
        self.crash_log = crash_log
        self.session: Session | None = None

    # -- the session's events (called from the runs' threads) ---------------------------------------

    def step(self, run: SessionRun, key: StepKey | str, status: str, detail: str) -> None:
        if status == "start":
            return  # the toolbar shows the step in flight
        icon = _ICONS.get(status, "·")
        self.console.print(f"[cyan]{run.id}[/] {icon} [bold]{escape(step_line(key))}[/] [dim]{escape(detail)}[/]")

    def ended(self, run: SessionRun) -> None:
        if run.error is not None:
            self.console.print(f"[cyan]{run.id}[/] [red]failed:[/] {escape(run.error.message)}")
            if run.error.hint:
                self.console.print(f"  [dim]hint: {escape(run.error.hint)}[/]")
            if run.details:
                self.console.print(f"  [dim]details in {self.crash_log(run.details)}[/]")
            return
        result = run.outcome.run if run.outcome is not None else None
        if result is None:
            self.console.print(f"[cyan]{run.id}[/] {escape(run.outcome.message if run.outcome else run.state)}")
            return
        colour = "green" if result.run.status == "done" and result.run.verdict != "reject" else "yellow"
        self.console.print(f"[cyan]{run.id}[/] [{colour}]{result.run.status}[/]  {escape(_short(run.text))}")
        for line in summary_lines(result):
            self.console.print(f"  {escape(line)}")

    # -- drawing --------------------------------------------------------------------------------------

    def toolbar(self) -> str:
        runs = self.session.active() if self.session else []
        if not runs:
            return " no run going · type a task, or /help"
        going = [f"{r.id} {r.step or 'starting'}" for r in runs if r.state == "running"]
        queued = sum(r.state == "queued" for r in runs)
        return (" running: " + (" · ".join(going) or "-") + (f"  | {queued} queued" if queued else "")
                + "  | Ctrl-C clears the line, /quit leaves")

    def error(self, exc: GitorchError) -> None:
        self.console.print(f"[red]error:[/] {escape(exc.message)}")
        if exc.hint:
            self.console.print(f"[dim]hint: {escape(exc.hint)}[/]")

    def note(self, text: str) -> None:
        self.console.print(f"[yellow]note:[/] {escape(text)}")


class Prompt:
    """The session's conversation: one line at a time, the question after each suggestion."""

    def __init__(self, session: Session, terminal: Terminal, lines: Any, answers: Any):
        self.session, self.terminal, self.console = session, terminal, terminal.console
        self.lines, self.answers = lines, answers

    def loop(self) -> None:
        """Until /quit (or Ctrl-D) and the person agrees to leave the runs still going."""
        default = ""
        while True:
            try:
                line = self.lines.prompt(PROMPT, default=default, bottom_toolbar=self.terminal.toolbar,
                                         refresh_interval=0.5)
            except KeyboardInterrupt:
                default = ""  # Ctrl-C: the line is cleared; the runs go on
                continue
            except EOFError:
                line = "/quit"
            default = ""
            try:
                said = read_line(line)
                for note in said.notes:
                    self.terminal.note(note)
                if said.kind == "command":
                    if said.command == "quit":
                        if self.leave():
                            return
                        continue
                    self.command(said)
                elif said.kind == "task":
                    default = self.suggest(said)
            except KeyboardInterrupt:
                default = ""
            except GitorchError as exc:
                self.terminal.error(exc)
                default = line if _editable(line) else ""  # nothing typed is lost (Up brings back the rest)

    # -- a task ---------------------------------------------------------------------------------------

    def suggest(self, said: Said) -> str:
        """Route, show the panel, ask; returns the text to put back in the editor (for edit)."""
        from ..routing.panel import render

        suggestion = self.session.suggest(said.text, said.agent)
        self.console.print(render(suggestion.decision))
        if said.agent and said.agent != suggestion.decision.agent:
            self.console.print(f"[bold]You asked for {said.agent}[/]: proceed builds with {said.agent}, "
                               "and the router learns it as an override.")
        while True:
            try:
                answer = self.answers.prompt(QUESTION)
            except KeyboardInterrupt:
                self.console.print("[dim]skipped (Ctrl-C); nothing was started[/]")
                return ""
            except EOFError:
                answer = "skip"
            try:
                word, agent = read_answer(answer)
                if word == "explain":
                    for line in explain_lines(self.session.explain(suggestion)):
                        self.console.print(line)
                    continue
                if word == "edit":
                    self.console.print("[dim]edit the task and press Enter to route it again[/]")
                    return suggestion.text
                if word == "skip":
                    self.console.print("[dim]skipped; nothing was started[/]")
                    return ""
                if word == "override":
                    agent = agent or self._agent()
                    if agent is None:
                        continue
                    run = self.session.override(suggestion, agent)
                    self.console.print(f"override learned: {agent} instead of {suggestion.decision.agent} for this "
                                       f"{suggestion.decision.task_type.replace('_', ' ')} task")
                else:
                    run = self.session.proceed(suggestion)
                self._queued(run, suggestion)
                return ""
            except GitorchError as exc:
                self.terminal.error(exc)

    def _agent(self) -> str | None:
        try:
            return agent_named(self.answers.prompt("which agent? claude, chatgpt-pro or codex > ").strip())
        except (KeyboardInterrupt, EOFError):
            return None

    def _queued(self, run: SessionRun, suggestion: Suggestion) -> None:
        ahead = sum(r.active for r in self.session.runs.values()) - 1
        self.console.print(f"[cyan]{run.id}[/] queued: {run.agent} builds «{escape(_short(suggestion.text))}»"
                           + (f" ({ahead} other run{'s' if ahead != 1 else ''} going)" if ahead > 0 else ""))

    # -- the session's commands -------------------------------------------------------------------------

    def command(self, said: Said) -> None:
        name = said.command
        if name == "help":
            self.help()
        elif name == "status":
            self.status()
        elif name == "stats":
            from .. import stats

            stats.render(self.session.ask("stats", said.args).figures, self.console)
        elif name == "budget":
            self.budget(self.session.ask("budget").figures)
        elif name == "history":
            self.history(self.session.ask("history", said.args).figures["runs"])
        elif name == "resume":
            run = self.session.resume(said.args[0])
            self.console.print(f"[cyan]{run.id}[/] queued to go on from its last finished step")

    def help(self) -> None:
        table = Table(show_header=False, box=None, padding=(0, 2))
        table.add_row("[bold]TEXT[/]", "a task: routed, shown, and run when you say proceed")
        table.add_row("[bold]@codex TEXT[/]", "a task for that agent (@claude, @chatgpt-pro, @codex)")
        for name, what in SESSION_COMMANDS.items():
            table.add_row(f"[bold]/{name}[/]", escape(what))
        table.add_row("[bold]answers[/]", "proceed (Enter), override AGENT, explain, edit, skip")
        table.add_row("[bold]Ctrl-C[/]", "clears the line (runs go on);  [bold]Ctrl-D[/] is /quit")
        self.console.print(table)

    def status(self) -> None:
        shown = self.session.status()
        if not shown:
            self.console.print("no run in this session yet")
            return
        table = Table(title="this session's runs", title_justify="left")
        for column in ("run", "agent", "state", "step", "task"):
            table.add_column(column)
        for run, state in shown:
            table.add_row(run.id, run.agent, escape(state), run.step or "-", escape(_short(run.text, 50)))
        self.console.print(table)

    def budget(self, data: dict[str, Any]) -> None:
        table = Table(title="budget (UTC)", title_justify="left")
        for column in ("limit", "spent", "of", "used"):
            table.add_column(column, justify="left" if column == "limit" else "right")
        for lim in data["limits"]:
            table.add_row(lim["scope"], f"${lim['spent_usd']:.4f}", f"${lim['limit_usd']:.2f}",
                          "-" if lim["pct"] is None else f"{lim['pct']:g}%")
        self.console.print(table)
        per_run = f"; each run may spend ${data['per_run_usd']:.2f}" if data["per_run_usd"] is not None else ""
        if data["held_usd"]:
            self.console.print(f"calls in flight hold ${data['held_usd']:.4f} more")
        state = "[red]paused[/]" if data["paused"] else "[green]go ahead[/]"
        self.console.print(f"alert at {data['alert_threshold_pct']:g}% of a limit{per_run}; paid calls {state}; "
                           f"webhook {'set (address hidden)' if data['webhook'] else 'not set (budget.webhook_url)'}")
        for event in data["events"]:
            self.console.print(f"  [yellow]{event['kind']}[/] {event['created_at'][:16].replace('T', ' ')} "
                               f"{escape(event['message'])}")

    def history(self, runs: list[dict[str, Any]]) -> None:
        if not runs:
            self.console.print("no runs yet")
            return
        table = Table(title="newest runs", title_justify="left")
        for column in ("run", "status", "branch", "cost", "Claude alone", "task"):
            table.add_column(column, justify="right" if column in ("cost", "Claude alone") else "left")
        for r in runs:
            table.add_row(r["id"], r["status"], r["branch"] or "-", f"${r['cost_usd']:.4f}",
                          f"${r['baseline_cost_usd']:.4f}", escape(_short(r["text"], 50)))
        self.console.print(table)

    # -- leaving --------------------------------------------------------------------------------------

    def leave(self) -> bool:
        """Leave, asking first while runs are going; the runs left behind are named with how to resume."""
        active = self.session.active()
        if active:
            names = ", ".join(f"{r.id} ({r.step or r.state})" for r in active)
            self.console.print(f"[yellow]{len(active)} run{'s' if len(active) != 1 else ''} still going:[/] {names}")
            try:
                answer = self.answers.prompt("Leave now? They stop at their next step and go on later with "
                                             "/resume RUN or 'gitorch run --resume RUN'. [y/N] > ")
            except (KeyboardInterrupt, EOFError):
                answer = ""
            if answer.strip().lower() not in ("y", "yes"):
                self.console.print("[dim]staying; the runs go on[/]")
                return False
        for run in self.session.leave():
            where = f" (inside {run.step})" if run.state == "running" and run.step else ""
            self.console.print(f"[cyan]{run.id}[/] left {run.state}{where}: resume with '/resume {run.id}' or "
                               f"'gitorch run --resume {run.id}'")
        return True


def _editable(line: str) -> bool:
    """A refused line goes back into the editor to be fixed, when it can be shown there."""
    return len(line) <= MAX_LINE_CHARS and "\n" not in line and not any(0xD800 <= ord(c) <= 0xDFFF for c in line)


def _short(text: str, limit: int = 70) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


@contextmanager
def _ctrl_c_is_a_key() -> Iterator[None]:
    """Turn the terminal's ISIG off for the session: Ctrl-C (and Ctrl-\\) arrive as keys to the line
    editor instead of signals to every process in the group (the runs' git, tests and browser)."""
    try:
        import termios
    except ImportError:  # not a POSIX terminal: Ctrl-C stays what the system makes of it
        yield
        return
    try:
        fd = sys.stdin.fileno()
        saved = termios.tcgetattr(fd)
    except (termios.error, OSError, ValueError):
        yield
        return
    changed = list(saved)
    changed[3] &= ~termios.ISIG
    termios.tcsetattr(fd, termios.TCSADRAIN, changed)
    try:
        yield
    finally:
        termios.tcsetattr(fd, termios.TCSADRAIN, saved)


def start(config: Any, *, crash_log: Callable[[str], Path]) -> None:
    """Run the session in this terminal until the person leaves."""
    from prompt_toolkit import PromptSession
    from prompt_toolkit.completion import WordCompleter
    from prompt_toolkit.history import InMemoryHistory
    from prompt_toolkit.patch_stdout import patch_stdout

    from ..redact import Redactor, install_log_redaction
    from ..store import open_store

    install_log_redaction(Redactor(config.secrets.values()))
    terminal = Terminal(Console(), crash_log)
    session = Session(config, open_store(config), config.repo_root, terminal)
    terminal.session = session
    history = InMemoryHistory()
    for text in session.recent_texts():
        history.append_string(text)
    words = [f"/{c}" for c in SESSION_COMMANDS] + ["@claude", "@chatgpt-pro", "@codex"]
    lines = PromptSession(history=history, completer=WordCompleter(words), complete_while_typing=False)
    answers = PromptSession(completer=WordCompleter(["proceed", "override", "explain", "edit", "skip", "claude",
                                                     "chatgpt-pro", "codex"]), complete_while_typing=False)
    with _ctrl_c_is_a_key(), patch_stdout(raw=True):
        terminal.console = Console(file=sys.stdout, force_terminal=sys.stdout.isatty() or None)
        console = terminal.console
        console.print(f"[bold]gitorch start[/] · {escape(session.repo)} · type a task (or @codex TEXT, @claude "
                      "TEXT), /help for the commands")
        for run in session.unfinished():
            console.print(f"[yellow]unfinished:[/] [cyan]{run.id}[/] ({run.status}) {escape(_short(run.text, 50))}"
                          f"  [dim]/resume {run.id}[/]")
        Prompt(session, terminal, lines, answers).loop()
    if session.still_running():
        # A run is inside a step: it is left as a killed run is (it goes on from its last finished
        # step); closing the browser under it would only make it fail or fall back to a paid builder.
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(0)
    session.close()
