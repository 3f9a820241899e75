"""TASK.md items in a push: routing suggestions, proceed / override / explain, background runs."""

from __future__ import annotations

import io
import os
import re
import subprocess
import time
from pathlib import Path

import pytest

from gitorch.commands import pre_push
from gitorch.git import hook as installer
from gitorch.git import taskfile as tasks

ITEMS = """\
# Tasks

## Login
- [ ] Add a /login endpoint that checks the password hash (#login) @claude
- [ ] Write unit tests for the login endpoint after #login @codex
- [x] Set up the project
"""


def git(repo: Path, *args: str) -> str:
    return subprocess.run(["git", "-C", str(repo), *args], check=True, capture_output=True, text=True).stdout.strip()


def push(repo: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["git", "-C", str(repo), "push", "origin", "main"], capture_output=True, text=True,
                          timeout=120)


def commit_items(repo: Path, text: str = ITEMS, config: str | None = None) -> str:
    (repo / "TASK.md").write_text(text)
    if config is not None:
        (repo / ".gitorch.yml").write_text(config)
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "tasks")
    return git(repo, "rev-parse", "HEAD")


def task_file_in(output: str) -> Path:
    match = re.search(r"--task-file (\S+)", output)
    assert match, output
    return Path(match.group(1))


def test_suggest_shows_the_router_and_the_command_to_start(repo: Path, remote: Path):
    installer.install(repo)
    head = commit_items(repo)
    result = push(repo)
    assert result.returncode == 0, result.stderr
    assert "this push adds 2 TASK.md items" in result.stderr
    assert "Add a /login endpoint that checks the password hash" in result.stderr
    assert re.search(r"-> claude( \(asked for @claude; the router suggests [\w-]+\))?: \w+, confidence \d+%",
                     result.stderr), result.stderr
    assert "suggestions only (pre_push.tasks: suggest)" in result.stderr
    written = tasks.parse(task_file_in(result.stderr).read_text())
    assert [(i.text, i.agent, i.after) for i in written.items] == [
        ("Add a /login endpoint that checks the password hash", "claude", []),
        ("Write unit tests for the login endpoint", "codex", ["login"])]
    assert git(remote, "rev-parse", "main") == head


@pytest.mark.slow
def test_run_starts_in_the_background_and_says_where_to_follow(repo: Path, remote: Path):
    installer.install(repo)
    commit_items(repo, config="pre_push:\n  tasks: run\n")
    started = time.monotonic()
    result = push(repo)
    assert result.returncode == 0, result.stderr
    match = re.search(r"started a run for 2 items in the background; follow it with: tail -f (\S+)", result.stderr)
    assert match, result.stderr
    log = Path(match.group(1))
    assert log.exists() and log.with_name(log.name.removesuffix(".log") + "-TASK.md").exists()
    deadline = started + 60
    while time.monotonic() < deadline and not log.read_text():
        time.sleep(0.2)
    assert log.read_text()  # the detached `gitorch run` wrote to it (here it stops: no API key)


def test_items_already_pushed_are_not_suggested_again(repo: Path, remote: Path):
    commit_items(repo)
    git(repo, "push", "-q", "origin", "main")
    installer.install(repo)
    commit_items(repo, ITEMS.replace("- [ ] Add a /login", "- [x] Add a /login") + "- [ ] Add a logout endpoint\n")
    result = push(repo)
    assert "this push adds 1 TASK.md item:" in result.stderr and "Add a logout endpoint" in result.stderr


class Terminal:
    """A terminal the person answers on: what they type, and what the hook asked."""

    def __init__(self, typed: str):
        self._in = io.StringIO(typed)
        self.shown = io.StringIO()

    def write(self, text: str) -> None:
        self.shown.write(text)

    def flush(self) -> None:
        pass

    def readline(self) -> str:
        return self._in.readline()


def run_hook(repo: Path, typed: str, remote_sha: str) -> tuple[int, str, Terminal]:
    head = git(repo, "rev-parse", "HEAD")
    err = io.StringIO()
    tty = Terminal(typed)
    env = {k: v for k, v in os.environ.items()}
    code = pre_push.run_pre_push(["origin", "url"], f"refs/heads/main {head} refs/heads/main {remote_sha}\n".encode(),
                             env, cwd=repo, err=err, tty=tty)
    return code, err.getvalue(), tty


def test_terminal_override_changes_the_agent_and_teaches_the_router(repo: Path, remote: Path):
    from gitorch import config as config_module
    from gitorch.store import open_store

    old = git(repo, "rev-parse", "HEAD")
    commit_items(repo, "- [ ] Refactor the session store into its own module (#store)\n")
    code, out, tty = run_hook(repo, "o\ncodex\n", old)
    assert code == 0
    assert "[p]roceed, [o]verride, [e]xplain?" in tty.shown.getvalue()
    assert "-> codex (the router learns from this)" in out
    assert [i.agent for i in tasks.parse(task_file_in(out).read_text()).items] == ["codex"]
    store = open_store(config_module.load(cwd=repo))
    [decision] = [d for d in store.recent_decisions(limit=5) if "session store" in d.text]
    assert decision.override_agent == "codex"


def test_terminal_explain_prints_the_reasoning_then_asks_again(repo: Path, remote: Path):
    old = git(repo, "rev-parse", "HEAD")
    commit_items(repo, "- [ ] Fix the crash when the password is empty\n")
    code, out, tty = run_hook(repo, "e\nwhat\np\n", old)
    assert code == 0
    assert "scores: " in out and "answer p, o or e" in out
    assert tty.shown.getvalue().count("[p]roceed, [o]verride, [e]xplain?") == 3
