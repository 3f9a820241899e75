"""`gitorch start` without the terminal: what a person types, and the runs the session holds.

``read_line`` reads a typed line: a task (``@codex …`` or ``@claude …`` asks for an agent), or a session
command (``/status``, ``/stats``, ``/budget``, ``/history``, ``/resume RUN``, ``/help``, ``/quit``).
``read_answer`` reads the answer to a suggestion: proceed, override AGENT, explain, edit or skip.

``Session`` holds one repository's runs. Everything goes through the table of commands
(``gitorch.commands.table``): a task is routed there (``route``), a person's override is the
``override`` command (which teaches the router through ``Router.feedback``, as `gitorch feedback
--override` does), a confirmed task is the ``task`` command and a resumed run ``proceed``. Confirmed
tasks queue and run on threads of their own, at most ``pipeline.parallelism`` at once, while the
person types the next; each run has its own ``Progress`` and its own architect, and they share the
store (a connection per thread), the router (one call at a time) and the builders (one browser).

Leaving holds every run at its next step: a queued task is recorded as a paused run, a running one
pauses when its current step ends. A run still inside a step when the session ends is left as a
killed run is: it goes on from its last finished step. All of them resume with ``/resume RUN`` or
`gitorch run --resume RUN`.

The terminal (``gitorch.cli.session``) only reads lines and draws what the session tells it.
"""

from __future__ import annotations

import difflib
import logging
import queue
import re
import threading
import time
import traceback
import unicodedata
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from ..errors import GitorchError
from ..model import RoutingDecision, RunStatus, StepKey, new_id
from ..ports import Router, Store
from ..run.state import Paused
from .table import Ask, Context, Outcome, dispatch

log = logging.getLogger("gitorch.session")

MAX_LINE_CHARS = 20_000  # a task longer than this belongs in TASK.md
# The session's commands and what each takes after its name.
SESSION_COMMANDS: dict[str, str] = {
    "status": "where each run of this session is",
    "stats": "tokens, cost per agent, saving against Claude alone, routing accuracy  [DAYS]",
    "budget": "the limits, what is spent against them, this month's alerts",
    "history": "the newest runs of this repository  [N]",
    "resume": "continue a run from its last finished step  RUN",
    "help": "these commands",
    "quit": "leave (asks first while runs are going)",
}
ANSWERS = ("proceed", "override", "explain", "edit", "skip")
_ANSWER_WORDS = {"": "proceed", "p": "proceed", "proceed": "proceed", "y": "proceed", "yes": "proceed",
                 "go": "proceed", "o": "override", "override": "override", "e": "explain", "explain": "explain",
                 "why": "explain", "d": "edit", "edit": "edit", "s": "skip", "skip": "skip", "n": "skip",
                 "no": "skip"}
_AGENT_WORD = re.compile(r"^@(?P<name>[A-Za-z][\w-]*)(?:\s+|$)")


# -- what a person types --------------------------------------------------------------------------------


@dataclass
class Said:
    """One typed line, understood: a ``task`` (with the agent asked for), a ``command`` with its
    arguments, or ``nothing``; ``notes`` say what was taken out of it."""

    kind: str
    text: str = ""
    agent: str | None = None
    command: str = ""
    args: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def read_line(line: str) -> Said:
    """``line`` as the person meant it. Raises ``GitorchError`` (saying what is wrong and how to fix
    it) for text that is not UTF-8, too long, an unknown command or agent, or a command missing its
    argument. Characters no one can see are taken out, and a note says so."""
    from ..github.untrusted import clean_text

    _check_text(line)
    text = clean_text(line, limit=MAX_LINE_CHARS)
    notes = []
    if text != unicodedata.normalize("NFC", line).replace("\r\n", "\n").strip():
        notes.append("took out text that cannot be seen on screen (invisible or control characters, or an "
                     "HTML comment); this is what is used: " + _preview(text))
    if not text:
        return Said("nothing", notes=notes)
    if text.startswith("/"):
        return _command(text, notes)
    agent = None
    match = _AGENT_WORD.match(text)
    if match:
        agent = agent_named(match.group("name"))
        text = text[match.end():].strip()
        if not text:
            raise GitorchError(f"say what @{match.group('name')} should do",
                               hint=f"for example: @{match.group('name')} add a --verbose flag to the CLI")
    return Said("task", text=text, agent=agent, notes=notes)


def read_answer(line: str) -> tuple[str, str | None]:
    """An answer to a suggestion: (proceed | override | explain | edit | skip, the agent of an override)."""
    _check_text(line)
    words = line.strip().lower().split()
    word = _ANSWER_WORDS.get(words[0] if words else "")
    if word is None:
        raise GitorchError(f"'{_preview(line.strip(), 40)}' is not an answer",
                           hint="type proceed (or press Enter), override AGENT, explain, edit or skip "
                                "(first letters work: p, o, e, d, s)")
    if word != "override":
        if len(words) > 1:
            raise GitorchError(f"{word} takes nothing after it", hint=f"type just: {word}")
        return word, None
    if len(words) > 2:
        raise GitorchError("override takes one agent", hint="for example: override codex")
    return word, agent_named(words[1]) if len(words) == 2 else None


def agent_named(name: str) -> str:
    """The agent id for a name a person typed (``chatgpt`` is ``chatgpt-pro``), or an error that lists them."""
    from ..git.taskfile import AGENT_HINTS

    found = AGENT_HINTS.get(name.lower().lstrip("@"))
    if found is None:
        close = difflib.get_close_matches(name.lower().lstrip("@"), list(AGENT_HINTS), n=1, cutoff=0.6)
        guess = f"; did you mean {close[0]}?" if close else ""
        raise GitorchError(f"unknown agent '{name}'{guess}", hint="the agents are claude, chatgpt-pro (or chatgpt) "
                                                                  "and codex")
    return found


def _command(text: str, notes: list[str]) -> Said:
    name, *args = text[1:].split()
    name = name.lower()
    if name in ("exit", "q"):
        name = "quit"
    if name not in SESSION_COMMANDS:
        close = difflib.get_close_matches(name, list(SESSION_COMMANDS), n=1, cutoff=0.6)
        guess = f" Did you mean /{close[0]}?" if close else ""
        raise GitorchError(f"unknown command /{name}.{guess}",
                           hint="the commands are " + ", ".join(f"/{c}" for c in SESSION_COMMANDS)
                                + "; anything else you type is a task")
    if name == "resume" and len(args) != 1:
        raise GitorchError("/resume needs the run's id, and only that",
                           hint="/resume run-3f9a1c2e4b (/history lists the runs)")
    if name in ("stats", "history") and (len(args) > 1 or (args and not args[0].isdigit())):
        raise GitorchError(f"/{name} takes at most one number", hint=f"for example: /{name} 7")
    if name not in ("resume", "stats", "history") and args:
        raise GitorchError(f"/{name} takes nothing after it", hint=f"type just: /{name}")
    return Said("command", command=name, args=args, notes=notes)


def _check_text(line: str) -> None:
    bad = next((i for i, ch in enumerate(line) if 0xD800 <= ord(ch) <= 0xDFFF), None)
    if bad is not None:
        byte = ord(line[bad]) - 0xDC00 if 0xDC80 <= ord(line[bad]) <= 0xDCFF else None
        what = f"byte 0x{byte:02x}" if byte is not None else "a broken character"
        raise GitorchError(f"what you typed is not UTF-8 text: {what} at character {bad + 1} cannot be read",
                           hint="set the terminal to UTF-8 (for example LANG=C.UTF-8) and type or paste it again")
    if len(line) > MAX_LINE_CHARS:
        raise GitorchError(f"that is {len(line):,} characters; a task typed here may have at most "
                           f"{MAX_LINE_CHARS:,}", hint="write a long task into TASK.md and run "
                           "'gitorch run --task-file TASK.md', or say it in fewer words (Up brings the line back)")


def _preview(text: str, limit: int = 80) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


# -- the runs -----------------------------------------------------------------------------------------


@dataclass
class Suggestion:
    """A typed task and the router's decision on it, waiting for the person's answer."""

    text: str
    decision: RoutingDecision
    agent: str | None = None  # the agent the person asked for with @agent

    @property
    def chosen(self) -> str:
        return self.agent or self.decision.override_agent or self.decision.agent


@dataclass
class SessionRun:
    """A run of this session: queued, running, then how it ended."""

    id: str
    text: str
    agent: str
    ask: Ask
    state: str = "queued"  # queued, running, then the run's status, or failed
    step: str = ""  # the step in flight
    outcome: Outcome | None = None
    error: GitorchError | None = None
    details: str = ""  # an unexpected failure's traceback, for the crash log

    @property
    def active(self) -> bool:
        return self.state in ("queued", "running")


class Events(Protocol):
    """What the terminal is told as runs move."""

    def step(self, run: SessionRun, key: StepKey | str, status: str, detail: str) -> None: ...

    def ended(self, run: SessionRun) -> None: ...


class SharedRouter:
    """The session's router, used by the prompt and by every run's thread: one call at a time, so
    what it learns from one never overwrites what it learns from another."""

    def __init__(self, router: Router):
        self._router = router
        self._lock = threading.Lock()

    def route(self, text: str, *, record: bool = True) -> RoutingDecision:
        with self._lock:
            return self._router.route(text, record=record)

    def feedback(self, decision_id: str, **kw: Any) -> RoutingDecision:
        with self._lock:
            return self._router.feedback(decision_id, **kw)


class RunProgress:
    """One run's ``Progress``: tells the terminal, and once the session is being left holds the run
    at the start of its next step (the step is recorded as begun, so a resume redoes it)."""

    def __init__(self, session: Session, run: SessionRun):
        self.session, self.run = session, run

    def step(self, key: StepKey | str, status: str, detail: str = "") -> None:
        label = key.label if isinstance(key, StepKey) else key
        if status == "start" and isinstance(key, StepKey):
            if self.session.leaving:
                raise Paused(RunStatus.PAUSED, f"Run {self.run.id} was left when the session ended, before its "
                                               f"{label} step; everything it made so far is kept.",
                             hint=f"resume it with '/resume {self.run.id}' in 'gitorch start', or "
                                  f"'gitorch run --resume {self.run.id}'")
            self.run.step = label
        elif self.run.step == label:
            self.run.step = ""
        self.session.events.step(self.run, key, status, detail)


class Session:
    """One repository's session: suggestions, the queue of confirmed tasks, the runs in flight."""

    def __init__(self, config: Any, store: Store, repo_path: Path, events: Events, *,
                 router: Router | None = None, at_once: int | None = None):
        from ..routing import Router as LearnedRouter
        from ..routing import repo_key

        self.config, self.store, self.repo_path, self.events = config, store, repo_path, events
        self.repo = repo_key(repo_path)
        self.router = SharedRouter(router or LearnedRouter(config, store, self.repo))
        self.ctx = Context(config, store, repo_path, router=self.router)
        self.at_once = at_once or config.pipeline.parallelism
        self.runs: dict[str, SessionRun] = {}
        self.leaving = False
        self._queue: queue.Queue[SessionRun | None] = queue.Queue()
        self._workers: list[threading.Thread] = []
        self._lock = threading.Lock()

    # -- a task, from suggestion to run -------------------------------------------------------------

    def suggest(self, text: str, agent: str | None = None) -> Suggestion:
        """The router's suggestion for ``text`` (recorded; nothing runs yet)."""
        outcome = dispatch(self.ctx, Ask("route", text=text))
        return Suggestion(text=text, decision=outcome.decision, agent=agent)

    def explain(self, suggestion: Suggestion) -> RoutingDecision:
        return dispatch(self.ctx, Ask("explain", decision_id=suggestion.decision.id)).decision

    def override(self, suggestion: Suggestion, agent: str) -> SessionRun:
        """Use ``agent`` instead: the router learns it (as `gitorch feedback --override`), then the task queues."""
        suggestion.decision = dispatch(self.ctx, Ask("override", args=[agent],
                                                     decision_id=suggestion.decision.id)).decision
        suggestion.agent = agent
        return self.proceed(suggestion)

    def proceed(self, suggestion: Suggestion) -> SessionRun:
        """Queue the task with the agent chosen; an agent asked for with @agent teaches the router first."""
        if suggestion.agent and suggestion.agent != suggestion.decision.agent \
                and suggestion.decision.override_agent != suggestion.agent:
            suggestion.decision = dispatch(self.ctx, Ask("override", args=[suggestion.agent],
                                                         decision_id=suggestion.decision.id)).decision
        key = new_id()
        # An agent the person named builds every task; otherwise the plan's tasks go to the builder.
        ask = Ask("task", text=suggestion.text, key=key, decision_id=suggestion.decision.id, agent=suggestion.agent,
                  confirmed=True)
        return self._enqueue(SessionRun(id=f"run-{key}", text=suggestion.text, agent=suggestion.chosen, ask=ask))

    def resume(self, run_id: str) -> SessionRun:
        """Queue a run of this repository (this session's or an earlier one's) to go on from its last
        finished step."""
        mine = self.runs.get(run_id)
        if mine is not None and mine.active:
            raise GitorchError(f"{run_id} is {mine.state} in this session already", hint="/status shows where it is")
        run = self.store.get_run(run_id)
        if run is None:
            raise GitorchError(f"no run with id {run_id!r} in this repository's store",
                               hint="/history lists the runs with their ids")
        if run.repo and run.repo != self.repo:
            raise GitorchError(f"{run_id} is a run of {run.repo}, not of {self.repo}",
                               hint=f"resume it from that repository: gitorch run --resume {run_id}")
        if run.status.terminal:
            raise GitorchError(f"{run_id} is {run.status} already; there is nothing to resume",
                               hint="type the task again to start a new run")
        decision = self.store.decision_for_run(run_id)
        agent = (decision.override_agent or decision.agent) if decision else "-"
        return self._enqueue(SessionRun(id=run_id, text=run.text, agent=agent,
                                        ask=Ask("proceed", run_id=run_id, confirmed=True)))

    # -- what the session shows ---------------------------------------------------------------------

    def status(self) -> list[tuple[SessionRun, str]]:
        """Each run of this session with where the store says it is (the ``status`` command): its
        status, "queued", or "starting" while its thread sets it up."""
        shown = []
        for run in self.runs.values():
            if run.state == "queued":
                shown.append((run, "queued"))
                continue
            outcome = dispatch(self.ctx, Ask("status", run_id=run.id, decision_id=run.ask.decision_id))
            shown.append((run, outcome.figures.get("status", "starting")))
        return shown

    def ask(self, command: str, args: list[str] | None = None) -> Outcome:
        """A command of the table that only answers (``stats``, ``budget``, ``history``)."""
        return dispatch(self.ctx, Ask(command, args=list(args or [])))

    def active(self) -> list[SessionRun]:
        return [r for r in self.runs.values() if r.active]

    def unfinished(self, limit: int = 50) -> list[Any]:
        """Runs of this repository that an earlier session or command left unfinished."""
        return [r for r in self.store.list_runs(limit) if not r.status.finished and r.repo == self.repo
                and r.id not in self.runs]

    def recent_texts(self, limit: int = 50) -> list[str]:
        """The texts of the newest runs, oldest first: the line editor's history to start with."""
        return [r.text for r in reversed(self.store.list_runs(limit)) if r.text.strip()]

    # -- leaving ------------------------------------------------------------------------------------

    def leave(self, grace_s: float = 3.0) -> list[SessionRun]:
        """Hold every run: queued tasks are recorded as paused runs here and now, running ones pause at
        the start of their next step (waiting up to ``grace_s`` for them). Returns the runs left
        unfinished, each resumable with /resume RUN or `gitorch run --resume RUN`."""
        self.leaving = True
        while True:
            try:
                run = self._queue.get_nowait()
            except queue.Empty:
                break
            if run is not None and run.active:
                self._drive(run)  # recorded, then paused at its first step
        for _ in self._workers:
            self._queue.put(None)
        deadline = time.monotonic() + grace_s
        for worker in self._workers:
            worker.join(max(0.0, deadline - time.monotonic()))
        return [r for r in self.runs.values() if r.active or r.state not in ("done", "answered", "cancelled")]

    def still_running(self) -> bool:
        """A run's thread is inside a step still (after ``leave``)."""
        return any(w.is_alive() for w in self._workers)

    def close(self) -> None:
        """Close the builders and the store; only once no run is in flight."""
        self.ctx.close()
        self.store.close()

    # -- the queue ----------------------------------------------------------------------------------

    def _enqueue(self, run: SessionRun) -> SessionRun:
        if self.leaving:
            raise GitorchError("the session is ending", hint="start 'gitorch start' again")
        self.runs[run.id] = run
        with self._lock:
            while len(self._workers) < self.at_once:
                worker = threading.Thread(target=self._work, name=f"gitorch-session-{len(self._workers) + 1}",
                                          daemon=True)
                self._workers.append(worker)
                worker.start()
        self._queue.put(run)
        return run

    def _work(self) -> None:
        while True:
            run = self._queue.get()
            if run is None:
                return
            self._drive(run)

    def _drive(self, run: SessionRun) -> None:
        run.state = "running"
        try:
            run.outcome = dispatch(self._run_context(run), run.ask)
            run.state = str(run.outcome.run.run.status) if run.outcome.run else run.outcome.status
        except GitorchError as exc:
            run.error, run.state = exc, "failed"
        except Exception as exc:  # one run's surprise never ends the session or the other runs
            run.details = traceback.format_exc()
            run.error = GitorchError(f"unexpected failure: {type(exc).__name__}",
                                     hint=f"everything it made so far is kept; '/resume {run.id}' tries again")
            run.state = "failed"
        finally:
            run.step = ""
            self.events.ended(run)

    def _run_context(self, run: SessionRun) -> Context:
        """A context whose pipeline is the session's, with this run's progress and architect."""
        from ..run.assemble import alongside

        with self._lock:
            shared = self.ctx.pipeline()  # assembled once, on the first run: one set of builders
        pipeline = alongside(shared, progress=RunProgress(self, run))
        return Context(self.config, self.store, self.repo_path, router=self.router, pipeline=lambda _: pipeline)

