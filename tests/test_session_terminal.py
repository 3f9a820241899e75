"""`gitorch start` in a real pseudo-terminal (pexpect): a person types, answers, presses Ctrl-C, leaves.

The stand-ins run in this test's process (the Messages API, the ChatGPT-like page driven in
Chromium); the session is a real `python -m gitorch start` child on a pty, with its line editor,
its toolbar and its rich output. What the person sees is read from the pty with the terminal's
escape sequences taken out.
"""

from __future__ import annotations

import os
import re
import sys
import time
from pathlib import Path

import pexpect
import pytest

import gitorch
from gitorch.simulate import demo_scenario
from gitorch.simulate.demo import ScriptedArchitect, StandIns, git, make_repository
from gitorch.store.sqlite import SqliteStore

pytestmark = [pytest.mark.browser, pytest.mark.slow]

PLAN = {"summary": "An email template.", "tasks": [demo_scenario.PLAN["tasks"][0]]}
ESCAPES = re.compile(r"\x1b\[[0-9;?<=>]*[ -/]*[@-~]|\x1b[()][A-Za-z0-9]|\x1b[=>78]|\x1b\][^\x07]*\x07|[\r\x07]")
SOURCE = str(Path(gitorch.__file__).resolve().parents[1])  # this checkout, for the child's imports
ROWS, COLUMNS = 60, 200


class Screen:
    """The child's output as a person would read it (escape sequences removed), searched forward."""

    def __init__(self, child: pexpect.spawn):
        self.child = child
        self.raw = ""
        self.seen = 0  # what earlier waits consumed

    @property
    def text(self) -> str:
        return ESCAPES.sub("", self.raw)

    def pump(self, seconds: float = 0.05) -> None:
        try:
            while True:
                chunk = self.child.read_nonblocking(65536, timeout=seconds)
                # The line editor asks where the cursor is (to draw its toolbar at the bottom); a
                # terminal answers, and so does this one: the last row, the first column.
                for _ in range(chunk.count("\x1b[6n")):
                    self.child.send(f"\x1b[{ROWS};1R")
                self.raw += chunk
        except pexpect.TIMEOUT:
            pass

    def wait(self, pattern: str, timeout: float = 90.0) -> re.Match[str]:
        deadline = time.monotonic() + timeout
        while True:
            text = self.text
            match = re.compile(pattern, re.S).search(text, self.seen)
            if match:
                self.seen = match.end()
                return match
            if time.monotonic() > deadline:
                raise AssertionError(f"{pattern!r} did not appear; the screen ends with:\n{text[-3000:]}")
            try:
                self.pump()
            except pexpect.EOF:
                if not re.compile(pattern, re.S).search(self.text, self.seen):
                    raise AssertionError(f"the session ended before {pattern!r}:\n{self.text[-3000:]}") from None

    def type(self, line: str) -> None:
        self.child.send(line + "\r")

    def ended(self, timeout: float = 60.0) -> int:
        """The session's exit status, once it has ended by itself."""
        deadline = time.monotonic() + timeout
        while self.child.isalive():
            assert time.monotonic() < deadline, f"the session did not end:\n{self.text[-2000:]}"
            try:
                self.pump(0.1)
            except pexpect.EOF:
                break
        return self.child.wait()


@pytest.fixture
def world(tmp_path):
    repo = make_repository(tmp_path)
    # Each agent call takes a moment, so the person can type while runs are going.
    with StandIns(architect=ScriptedArchitect(plan=PLAN, latency_s=0.6), builder_latency_s=1.0) as standins:
        env = {**os.environ, **standins.env(tmp_path / "state"), "PYTHONPATH": SOURCE, "TERM": "xterm-256color",
               "NO_COLOR": "1"}
        yield repo, env, tmp_path / "state" / "state.db"


def store_decisions(db: Path) -> list:
    with SqliteStore(db) as store:
        return store.recent_decisions(limit=50)


def _start(repo: Path, env: dict[str, str]) -> Screen:
    child = pexpect.spawn(sys.executable, ["-m", "gitorch", "start"], cwd=str(repo), env=env, encoding="utf-8",
                          codec_errors="replace", dimensions=(ROWS, COLUMNS), timeout=90)
    screen = Screen(child)
    screen.wait(r"gitorch start")
    return screen


def test_two_tasks_typed_one_overridden_both_run_to_a_branch_and_stats_show_them(world):
    repo, env, db = world
    screen = _start(repo, env)
    screen.type("Add an email template for shipped orders")
    screen.wait(r"Suggestion\s+chatgpt-pro with \d+% confidence")
    screen.wait(r"proceed\?")
    screen.type("p")
    first = screen.wait(r"(run-\w+) queued: chatgpt-pro builds").group(1)

    # The next task is typed while the first one runs.
    screen.type("Add a plain-text shipped email too")
    screen.wait(r"proceed\?")
    screen.type("e")
    screen.wait(r"Why:.*Scores:.*Task type:")
    screen.wait(r"proceed\?")
    screen.type("override claude")
    screen.wait(r"override learned: claude instead of chatgpt-pro")
    second = screen.wait(r"(run-\w+) queued: claude builds").group(1)

    # The toolbar under the prompt shows each run's step as it goes.
    screen.wait(rf"running: (?:\S+ \S+[^|]* · )?{first} (?:branch|route|confirm|plan|build|commit|review|finish)")
    # Ctrl-C clears the half-typed line; the runs go on.
    screen.child.send("this line is thrown away")
    screen.child.sendcontrol("c")
    screen.type("/status")
    status = screen.wait(r"this session's runs.*?└").group(0)  # "/status" alone was read, not a task
    assert first in status and second in status and ("running" in status or "planning" in status
                                                      or "building" in status or "reviewing" in status)

    screen.wait(rf"{first} done")
    screen.wait(r"verdict: approve")
    done = screen.text
    if f"{second} done" not in done:
        screen.wait(rf"{second} done")
    screen.type("/stats")
    stats = screen.wait(r"per agent.*?└").group(0)
    assert "chatgpt-pro" in stats and "claude" in stats
    screen.type("/quit")
    assert screen.ended() == 0

    with SqliteStore(db) as store:
        runs = {run_id: store.get_run(run_id) for run_id in (first, second)}
        decision = store.decision_for_run(second)
    assert all(r.status == "done" and r.verdict == "approve" for r in runs.values())
    assert decision.override_agent == "claude"
    assert not any("thrown away" in d.text for d in store_decisions(db))  # Ctrl-C left nothing behind
    agents = {run_id: git(repo, "log", "--format=%(trailers:key=Gitorch-Agent,valueonly)",
                          f"main..{r.branch}").split() for run_id, r in runs.items()}
    assert agents == {first: ["chatgpt-pro"], second: ["claude"]}
    assert git(repo, "status", "--porcelain") == ""


def test_leaving_while_a_run_is_going_asks_first_and_a_new_session_resumes_it(world):
    repo, env, db = world
    screen = _start(repo, env)
    os.write(screen.child.child_fd, b"caf\xe9 au lait\r")  # a terminal that is not set to UTF-8
    screen.wait(r"not UTF-8 text: byte 0xe9 at character 4.*?LANG=C.UTF-8")
    screen.child.sendcontrol("c")
    screen.type("@claude Add an email template for shipped orders")
    screen.wait(r"proceed\?")
    screen.type("")  # Enter: proceed
    run_id = screen.wait(r"(run-\w+) queued: claude builds").group(1)
    screen.wait(rf"{run_id} ✓ confirm")
    screen.child.sendcontrol("d")  # Ctrl-D is /quit
    screen.wait(r"1 run still going")
    screen.wait(r"Leave now\?")
    screen.type("n")
    screen.wait(r"staying; the runs go on")
    screen.type("/quit")
    screen.wait(r"Leave now\?")
    screen.type("y")
    screen.wait(rf"{run_id} left \w+.*?/resume {run_id}")
    assert screen.ended() == 0
    with SqliteStore(db) as store:
        left = store.get_run(run_id)
        plans = [e for e in store.journal(run_id) if e["key"] == "plan"]
    assert not left.status.finished

    screen = _start(repo, env)
    screen.wait(rf"unfinished: {run_id}")
    screen.type(f"/resume {run_id}")
    screen.wait(rf"{run_id} queued to go on")
    screen.wait(rf"{run_id} done")
    screen.type("/history")
    screen.wait(rf"newest runs.*{run_id}.*done")
    screen.type("/quit")
    assert screen.ended() == 0
    with SqliteStore(db) as store:
        run = store.get_run(run_id)
        journal = store.journal(run_id)
    assert run.status == "done" and run.verdict == "approve"
    assert [e["key"] for e in journal].count("plan") == 1 and len(plans) <= 1
    assert len(git(repo, "log", "--format=%H", f"main..{run.branch}").split()) == 1
