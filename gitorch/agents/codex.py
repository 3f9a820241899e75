"""The ``codex`` builder: OpenAI's Codex CLI, on the ChatGPT plan or an API key.

For each task ``codex exec --json`` runs non-interactively in a scratch tree of the run's base
commit (``gitorch.git.scratch``: a repository of its own under ``<state_dir>/codex/worktrees`` that
borrows the checkout's objects, with none of its git config and no secret file; never the person's
checkout), with the ``workspace-write`` sandbox, a time limit (``codex.timeout_s``) and no standard
input. Codex edits files and may run the repository's tests itself. Its JSON Lines events
(``thread.started``, ``item.*`` with ``agent_message`` / ``command_execution`` / ``file_change`` /
``mcp_tool_call``, ``turn.completed`` with usage, ``turn.failed``, ``error``) are read as they come, for
live progress and for the ledger. What changed in the worktree (``git add -A`` into the worktree's
own index, then a tree diff against the seeded state: new files and deletions included) becomes the
task's edits, whole files or deletions, checked by ``edits.apply_edits`` (nothing under ``.git/``, no
workflow files unless allowed, size limits) after symlinks and binary files are refused; then the
worktree is removed.

With ``codex.mcp`` (the default) Codex is given the store's MCP server (``gitorch.mcp_server``), so the
prompt only names the run and the task, and Codex reads the plan and the other tasks' results there:
by default one server over HTTP on 127.0.0.1 for the builder's lifetime (``codex.mcp_transport:
http``), or ``gitorch mcp`` started by Codex for each task over stdio (``stdio``, a second slower).

Authentication is Codex's own: ``codex login`` once (the ChatGPT plan; ``auth.json`` in
``CODEX_HOME``, ``codex.home``), or ``CODEX_API_KEY``. gitorch's own secrets never reach Codex's
environment, where the model's shell commands run.
"""

from __future__ import annotations

import json
import logging
import os
import re
import shutil
import signal
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from ..config import Config
from ..errors import AgentError, GitorchError, answer_of
from ..git import scratch
from ..model import CODEX, BuildContext, BuildResult, Check, Edit, Task, Usage
from ..redact import redact
from ..secrets import SecretPolicy, withheld_note
from . import register_builder

log = logging.getLogger("gitorch.codex")

MIN_VERSION = (0, 169, 0)  # the version gitorch is tested with (package.json pins it)
PROVIDER_ID = "gitorch"  # the model provider declared when codex.base_url is set
KEY_ENV = "GITORCH_CODEX_KEY"  # the env var that provider reads its key from
STAND_IN_KEY = "sk-local-stand-in-key-not-a-secret"
MCP_TOKEN_ENV = "GITORCH_MCP_TOKEN"  # Codex reads the HTTP MCP server's bearer token from it
PROMPT_LIMIT = 100_000  # bytes: one command-line argument may not exceed 128 KiB on Linux
# Environment passed on to Codex: what a shell needs, nothing secret.
PASSED_ENV = ("PATH", "HOME", "USER", "LOGNAME", "SHELL", "LANG", "LC_ALL", "LC_CTYPE", "TZ", "TMPDIR", "TERM",
              "SSL_CERT_FILE", "SSL_CERT_DIR", "HTTPS_PROXY", "HTTP_PROXY", "NO_PROXY", "https_proxy",
              "http_proxy", "no_proxy")
KILL_GRACE_S = 5.0


def classify(message: str, now: datetime | None = None) -> AgentError:
    """The error for a ``turn.failed`` / ``error`` message from Codex."""
    text = " ".join(message.split())
    low = text.lower()
    if "usage limit" in low or "usage_limit" in low:
        shown, iso = _reset_time(text, now)
        return AgentError(
            f"the ChatGPT plan's Codex usage limit is reached: {text}",
            hint=(f"it resets at {shown}; the run is deferred until then" if shown else
                  "wait for the limit to reset, or let another builder take the task (agents.fallback)"), deferred_until=iso, agent=CODEX, reason="usage_cap")
    if ("401" in low or "unauthorized" in low or "not logged in" in low or "refresh token" in low
            or "sign in again" in low or "log in again" in low or "invalid_api_key" in low
            or "incorrect api key" in low or "authentication" in low):
        return AgentError(
            f"Codex is not logged in, or its login could not be refreshed: {text}",
            hint="run 'codex login' on this machine (ChatGPT plan), or set CODEX_API_KEY; on a runner keep "
                 "CODEX_HOME (codex.home) with its auth.json between jobs, one copy per runner", agent=CODEX, reason="session_expired")
    if "429" in low or "rate limit" in low or "too many requests" in low:
        return AgentError(f"Codex is rate limited: {text}", retry_after_s=_retry_after(text),
                                hint="send fewer tasks at once (pipeline.parallelism)", agent=CODEX, reason="rate_limited")
    if (re.search(r"\b5\d\d\b", low) or "high demand" in low or "overloaded" in low or "server error" in low
            or "stream disconnected" in low or "connection" in low or "timed out" in low):
        return AgentError(f"the model service failed: {text}", agent=CODEX,
                                hint="the task is retried; check the service's status if it keeps failing", reason="server_error")
    return AgentError(f"Codex failed: {text}", agent=CODEX,
                       hint="see the Codex log above; 'codex exec' in the repository shows the same", reason="failed")


def _retry_after(text: str) -> float | None:
    match = re.search(r"try again in (\d+(?:\.\d+)?)\s*(ms|s|sec|seconds?|m|min|minutes?)\b", text, re.I)
    if not match:
        return None
    value, unit = float(match.group(1)), match.group(2).lower()
    return value / 1000 if unit == "ms" else value * 60 if unit.startswith("m") and unit != "ms" else value


def _reset_time(text: str, now: datetime | None = None) -> tuple[str | None, str | None]:
    """("7:17 AM", ISO time of its next occurrence) from "... try again at 7:17 AM." (local time)."""
    match = re.search(r"try again (?:at|after) (?:(\w{3,9} \d{1,2}(?:st|nd|rd|th)?,? (?:\d{4} )?)?)"
                      r"(\d{1,2}:\d{2}\s*(?:[AP]M\b|[AP]\.M\.)?)", text, re.I)
    if not match:
        return None, None
    shown = (match.group(1) or "") + match.group(2)
    now = now or datetime.now().astimezone()
    clock = match.group(2).upper().replace(".", "").strip()
    for fmt in ("%I:%M %p", "%I:%M%p", "%H:%M"):
        try:
            parsed = datetime.strptime(clock, fmt)
        except ValueError:
            continue
        at = now.replace(hour=parsed.hour, minute=parsed.minute, second=0, microsecond=0)
        if match.group(1):
            day = re.sub(r"(st|nd|rd|th)|,", "", match.group(1)).split()
            try:
                month = datetime.strptime(day[0][:3], "%b").month
                at = at.replace(month=month, day=int(day[1]), year=int(day[2]) if len(day) > 2 else at.year)
            except (ValueError, IndexError):
                pass
        if at <= now:
            at += timedelta(days=1)
        return shown.strip(), at.isoformat(timespec="seconds")
    return shown.strip(), None


# -- a provider of our own ------------------------------------------------------------------------


def provider_args(base_url: str, *, provider: str = PROVIDER_ID, key_env: str = KEY_ENV) -> list[str]:
    """``-c`` options declaring a Responses API provider at ``base_url`` and selecting it (``codex.base_url``).

    Retries are left to gitorch's one retry policy (``request_max_retries=0``)."""
    def opt(key: str, value: Any) -> list[str]:
        return ["-c", f"{key}={json.dumps(value)}"]

    p = f"model_providers.{provider}"
    return [*opt("model_provider", provider), *opt(f"{p}.name", provider), *opt(f"{p}.base_url", base_url),
            *opt(f"{p}.wire_api", "responses"), *opt(f"{p}.env_key", key_env),
            *opt(f"{p}.request_max_retries", 0), *opt(f"{p}.stream_max_retries", 0)]


# -- the binary -----------------------------------------------------------------------------------


def _parse_version(text: str) -> tuple[int, ...] | None:
    match = re.search(r"(\d+)\.(\d+)\.(\d+)", text)
    return tuple(int(p) for p in match.groups()) if match else None


def binary_version(config: Config) -> str:
    """``codex --version`` ("0.169.0"), or ``CodexUnavailable`` saying what to install."""
    install = "npm install -g @openai/codex@0.169.0 (or set codex.binary to its path)"
    exe = shutil.which(config.codex.binary)
    if exe is None:
        raise AgentError(f"the Codex CLI '{config.codex.binary}' was not found", hint=install, agent=CODEX, reason="unavailable")
    try:
        out = subprocess.run([exe, "--version"], capture_output=True, text=True, timeout=30,
                             stdin=subprocess.DEVNULL, env=_base_env(None))
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise AgentError(f"'{exe} --version' did not run: {exc}", hint=install, agent=CODEX, reason="unavailable") from exc
    version = _parse_version(out.stdout + out.stderr)
    if out.returncode != 0 or version is None:
        text = (out.stdout + out.stderr).strip().splitlines()
        raise AgentError(f"'{exe} --version' is not the Codex CLI: {text[-1] if text else out.returncode}",
                               hint=install, agent=CODEX, reason="unavailable")
    if version < MIN_VERSION:
        raise AgentError(
            f"Codex CLI {'.'.join(map(str, version))} is too old; gitorch needs {'.'.join(map(str, MIN_VERSION))} "
            "or newer (its --json events and sandbox options)", hint=install, agent=CODEX, reason="unavailable")
    return ".".join(map(str, version))


def _base_env(codex_home: Path | None) -> dict[str, str]:
    env = {name: os.environ[name] for name in PASSED_ENV if name in os.environ}
    if codex_home is not None:
        env["CODEX_HOME"] = str(codex_home)
    return env


def login_status(config: Config, codex_home: Path) -> tuple[bool, str]:
    """(logged in?, what ``codex login status`` says)."""
    env = _base_env(codex_home)
    if config.secrets.codex_api_key is not None:
        env["CODEX_API_KEY"] = config.secrets.codex_api_key.get_secret_value()
    exe = shutil.which(config.codex.binary) or config.codex.binary
    try:
        out = subprocess.run([exe, "login", "status"], capture_output=True, text=True, timeout=30,
                             stdin=subprocess.DEVNULL, env=env)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return False, str(exc)
    lines = [line for line in (out.stdout + "\n" + out.stderr).splitlines()
             if line.strip() and not line.startswith("WARNING")]
    said = redact(lines[0] if lines else "", config.secrets.values())
    return out.returncode == 0, said


def default_home(config: Config) -> Path | None:
    """``codex.home``, else ``~/.codex`` when someone logged in there; None: use a scratch one."""
    if config.codex.home:
        return Path(config.codex.home).expanduser()
    personal = Path.home() / ".codex"
    return personal if (personal / "auth.json").exists() else None


def codex_check(config: Config) -> Any:
    """For `gitorch doctor`: the binary, its version and the login."""

    used = config.agents.builder == CODEX or CODEX in config.agents.fallback
    try:
        version = binary_version(config)
    except AgentError as exc:  # unavailable: binary_version raises nothing else
        return Check("codex", "fail" if used else "ok",
                     exc.message if used else f"not used ({exc.message})", exc.hint or "" if used else "")
    if config.codex.base_url:
        return Check("codex", "ok", f"codex-cli {version}; requests go to {config.codex.base_url}")
    home = default_home(config)
    if home is None:
        if config.secrets.codex_api_key is not None:
            return Check("codex", "ok", f"codex-cli {version}; CODEX_API_KEY is set")
        return Check("codex", "fail" if used else "warn", f"codex-cli {version}; not logged in",
                     "run 'codex login' (ChatGPT plan) or set CODEX_API_KEY; on a runner set CODEX_HOME")
    logged_in, said = login_status(config, home)
    if not logged_in:
        return Check("codex", "fail" if used else "warn", f"codex-cli {version}; {said or 'not logged in'} ({home})",
                     f"run 'CODEX_HOME={home} codex login', or set CODEX_API_KEY")
    return Check("codex", "ok", f"codex-cli {version}; {said} ({home})")


# -- events ---------------------------------------------------------------------------------------


@dataclass
class Transcript:
    """What one ``codex exec --json`` printed, folded."""

    thread_id: str | None = None
    messages: list[str] = field(default_factory=list)
    commands: list[dict[str, Any]] = field(default_factory=list)
    file_changes: list[dict[str, Any]] = field(default_factory=list)
    tool_calls: list[dict[str, Any]] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    usage: Usage = field(default_factory=Usage)
    reasoning_tokens: int = 0
    completed: bool = False
    failed: str | None = None
    events: int = 0

    def feed(self, event: dict[str, Any]) -> str | None:
        """Take one event; returns a line of progress for people, or None."""
        self.events += 1
        kind = event.get("type", "")
        if kind == "thread.started":
            self.thread_id = event.get("thread_id")
            return f"codex session {self.thread_id}"
        if kind == "turn.completed":
            u = event.get("usage") or {}
            cached = int(u.get("cached_input_tokens") or 0)
            self.usage = self.usage + Usage(input_tokens=max(int(u.get("input_tokens") or 0) - cached, 0),
                                            output_tokens=int(u.get("output_tokens") or 0),
                                            cache_creation_input_tokens=int(u.get("cache_write_input_tokens") or 0),
                                            cache_read_input_tokens=cached)
            self.reasoning_tokens += int(u.get("reasoning_output_tokens") or 0)
            self.completed = True
            return f"done: {self.usage.total_input_tokens} input, {self.usage.output_tokens} output tokens"
        if kind == "turn.failed":
            self.failed = str((event.get("error") or {}).get("message") or "the turn failed")
            return f"failed: {self.failed}"
        if kind == "error":
            self.errors.append(str(event.get("message") or ""))
            return None
        if not kind.startswith("item."):
            return None
        item = event.get("item") or {}
        item_type = item.get("type")
        done = kind == "item.completed"
        if item_type == "agent_message" and done:
            self.messages.append(str(item.get("text") or ""))
            return f"says: {_first_line(item.get('text'))}"
        if item_type == "command_execution":
            if done:
                self.commands.append({"command": item.get("command"), "exit_code": item.get("exit_code"),
                                      "output": str(item.get("aggregated_output") or "")[-2000:]})
                return f"ran `{_first_line(item.get('command'))}` (exit {item.get('exit_code')})"
            return f"running `{_first_line(item.get('command'))}`"
        if item_type == "file_change" and done:
            changes = item.get("changes") or []
            self.file_changes.extend(changes)
            return "changed " + ", ".join(f"{c.get('kind')} {Path(str(c.get('path'))).name}" for c in changes)
        if item_type == "mcp_tool_call" and done:
            self.tool_calls.append({"server": item.get("server"), "tool": item.get("tool"),
                                    "arguments": item.get("arguments"), "error": item.get("error")})
            return f"read {item.get('server')}.{item.get('tool')}"
        if item_type == "error" and done:
            self.warnings.append(str(item.get("message") or ""))
            return None
        if item_type == "reasoning" and done:
            return f"thinks: {_first_line(item.get('text'))}"
        return None


def _first_line(text: Any, width: int = 100) -> str:
    line = str(text or "").strip().splitlines()[0] if str(text or "").strip() else ""
    return line if len(line) <= width else line[: width - 1] + "…"


# -- the worktree ---------------------------------------------------------------------------------


def _git(cwd: Path, *args: str, input: bytes | None = None, check: bool = True) -> bytes:
    env = scratch.git_env(cwd, _base_env(None))
    env.update({"GIT_AUTHOR_NAME": "gitorch", "GIT_AUTHOR_EMAIL": "gitorch@localhost",
                "GIT_COMMITTER_NAME": "gitorch", "GIT_COMMITTER_EMAIL": "gitorch@localhost"})
    out = subprocess.run(["git", *args], cwd=cwd, input=input, capture_output=True, env=env,
                         stdin=None if input is not None else subprocess.DEVNULL)
    if check and out.returncode != 0:
        raise GitorchError(f"git {' '.join(args[:3])} failed in {cwd}: {out.stderr.decode(errors='replace').strip()}",
                           hint="check that the repository is a git repository with the run's base commit")
    return out.stdout


class Worktree:
    """A scratch tree of ``base`` under ``folder`` (``gitorch.git.scratch``: no credential config,
    no secret file), seeded with ``files``; removed on exit."""

    def __init__(self, repo_root: Path, base: str, folder: Path, files: dict[str, str] | None = None,
                 policy: SecretPolicy | None = None):
        self.repo_root = repo_root
        self.base = base
        self.path = folder
        self.files = files or {}
        self.policy = policy or SecretPolicy()
        self.seeded_tree = ""
        self.withheld: list[str] = []

    def __enter__(self) -> Worktree:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        try:
            self.withheld = scratch.checkout(self.repo_root, self.base, self.path, self.policy, _base_env(None))
        except GitorchError:
            self.remove()
            raise
        try:
            for rel, content in self.files.items():
                target = self.path / rel
                if (".git" in Path(rel).parts or target.is_symlink() or self.policy.is_secret_file(rel)
                        or not target.resolve().is_relative_to(self.path.resolve())):
                    continue  # only files inside the working tree are seeded
                if not target.exists() or target.read_text(encoding="utf-8", errors="replace") != content:
                    target.parent.mkdir(parents=True, exist_ok=True)
                    target.write_text(content, encoding="utf-8")
            self.seeded_tree = self.snapshot()
        except BaseException:
            self.remove()
            raise
        return self

    def snapshot(self) -> str:
        """The tree of everything in the worktree now (ignored files left out), in its own index."""
        _git(self.path, "add", "-A", "--", ".")
        return _git(self.path, "write-tree").decode().strip()

    def changes(self) -> list[tuple[str, str, str]]:
        """(status, mode, path) for each path that differs from the seeded state: A, M, D, T."""
        tree = self.snapshot()
        raw = _git(self.path, "diff-tree", "-r", "--no-renames", "-z", self.seeded_tree, tree)
        parts = raw.split(b"\0")
        found = []
        for meta, path in zip(parts[0::2], parts[1::2], strict=False):
            if not meta.startswith(b":"):
                continue
            _, new_mode, _, _, status = meta[1:].decode().split(" ")
            found.append((status[0], new_mode, path.decode("utf-8", errors="surrogateescape")))
        return found

    def remove(self) -> None:
        if self.path.exists():
            shutil.rmtree(self.path, ignore_errors=True)

    def __exit__(self, *exc: object) -> None:
        self.remove()


def collect_edits(tree: Worktree, max_bytes: int) -> list[Edit]:
    """What Codex changed as whole-file edits and deletions. Symlinks and binary files are refused."""
    from ..edits import BlockFailure, EditError

    edits: list[Edit] = []
    refused: list[BlockFailure] = []
    for status, mode, path in tree.changes():
        if status == "D":
            edits.append(Edit(path=path, delete=True))
            continue
        label = f"Change {len(edits) + len(refused) + 1} ({path})"
        if mode == "120000":
            refused.append(BlockFailure(len(refused) + 1, label, "it is a symbolic link; write a regular file",
                                        path, ""))
            continue
        if mode == "160000":
            refused.append(BlockFailure(len(refused) + 1, label, "it is a submodule; change files only", path, ""))
            continue
        data = (tree.path / path).read_bytes()
        if len(data) > max_bytes:
            refused.append(BlockFailure(len(refused) + 1, label,
                                        f"the file has {len(data)} bytes, more than edits.max_file_bytes ({max_bytes})",
                                        path, ""))
            continue
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError:
            text = None
        if text is None or "\0" in text:
            refused.append(BlockFailure(len(refused) + 1, label, "it is a binary file; only text files can be built",
                                        path, ""))
            continue
        edits.append(Edit(path=path, content=text))
    if refused:
        lines = "\n".join(f"- {f.label}: {f.reason}" for f in refused)
        raise EditError(f"These changes cannot be used:\n{lines}\n\nUndo them and change regular text files only.",
                        failures=refused)
    return edits


# -- the prompt -----------------------------------------------------------------------------------


def build_prompt(task: Task, context: BuildContext, *, mcp: bool) -> str:
    """The task for Codex. With the MCP server, the plan and the other tasks stay out of the prompt:
    Codex reads them through ``gitorch`` (get_plan, get_task, pending_artifacts)."""
    parts = [f"## Task {task.id}\n\n{task.description.strip()}"]
    if task.files:
        parts.append("## Files this task creates or changes\n\n" + "\n".join(f"- `{p}`" for p in task.files))
    plan = context.plan
    if mcp and context.run_id:
        parts.append(
            "## Context\n\n"
            f"This task is part of gitorch run id `{context.run_id}`. The plan, the other tasks and what they "
            "produced are in the `gitorch` MCP server: call its `get_plan` tool with this run id (and "
            "`get_task` or `pending_artifacts` for other tasks' files) before you start.")
    elif plan is not None:
        if plan.summary.strip():
            parts.append(f"## The plan this task belongs to\n\n{plan.summary.strip()}")
        others = [t for t in plan.tasks if t.id != task.id]
        if others:
            parts.append("## The plan's other tasks\n\n" + "\n".join(
                f"- {t.id} ({t.status}): {t.description.strip()}"
                + (f" Files: {', '.join(t.files)}." if t.files else "") for t in others))
        if context.repo_map.strip():
            parts.append(f"## Repository map\n\n{context.repo_map.strip()}")
        done = [(p, c) for p, c in context.files.items() if p not in task.files]
        if done:
            from .. import edits

            parts.append("## Files the other tasks wrote\n\n" + edits.format_files(dict(done)).strip())
    if context.withheld:
        parts.append(withheld_note(context.withheld))
    if context.instructions.strip():
        parts.append(f"## Read this first\n\n{context.instructions.strip()}")
    parts.append(
        "## How to work\n\n"
        "Change the files in this working directory directly. Keep to the files this task names unless "
        "another change is needed for it to work; do not touch .git or .github/workflows. Run the "
        "repository's tests if it has them. Do not commit. End with a short summary of what you changed.")
    return "\n\n".join(parts) + "\n"


# -- the builder ----------------------------------------------------------------------------------


Progress = Callable[[str, str], None]  # (task id, line)


class CodexBuilder:
    """Builder ``codex``. Thread-safe: each task gets its own worktree and Codex process."""

    id = CODEX

    def __init__(self, config: Config, *, progress: Progress | None = None, **_: Any):
        self.config = config
        self.progress = progress
        self._version: str | None = None
        self._lock = threading.Lock()
        self._scratch_home: Path | None = None
        self._mcp: Any = None
        self.transcripts: list[Transcript] = []

    # -- set-up ----------------------------------------------------------------------------------
    def version(self) -> str:
        with self._lock:
            if self._version is None:
                self._version = binary_version(self.config)
            return self._version

    def codex_home(self) -> Path:
        home = default_home(self.config)
        if home is not None:
            home.mkdir(parents=True, exist_ok=True)
            return home
        with self._lock:
            if self._scratch_home is None:
                root = self.config.state_dir / "codex"
                root.mkdir(parents=True, exist_ok=True)
                self._scratch_home = Path(tempfile.mkdtemp(prefix="home-", dir=root))
            return self._scratch_home

    def command(self, worktree: Path, prompt: str) -> list[str]:
        c = self.config.codex
        exe = shutil.which(c.binary) or c.binary
        args = [exe, "exec", "--json", "-s", "workspace-write", "-C", str(worktree), "--disable", "plugins",
                "-c", 'shell_environment_policy.inherit="core"']
        if c.model:
            args += ["-m", c.model]
        if c.base_url:
            args += provider_args(c.base_url)
            args += ["-c", "analytics.enabled=false"]
        if c.mcp:
            server = "mcp_servers.gitorch"
            if c.mcp_transport == "http":
                args += ["-c", f"{server}.url={json.dumps(self.mcp_http().url)}",
                         "-c", f'{server}.bearer_token_env_var="{MCP_TOKEN_ENV}"']
            else:
                import sys

                # the server is this gitorch (the folder it is imported from), whatever else is installed
                home, code = json.dumps(str(self.config.state_dir)), json.dumps(str(Path(__file__).parents[2]))
                args += ["-c", f"{server}.command={json.dumps(sys.executable)}",
                         "-c", f'{server}.args=["-m", "gitorch", "mcp"]',
                         "-c", f"{server}.env={{GITORCH_HOME = {home}, PYTHONPATH = {code}}}",
                         "-c", f"{server}.cwd={json.dumps(str(self.config.repo_root or worktree))}"]
            # Codex shows a server's tools to the model only when it waited for the server.
            args += ["-c", f"{server}.required=true", "-c", f"{server}.startup_timeout_sec=30"]
        return [*args, "--", prompt]

    def mcp_http(self) -> Any:
        """The store's MCP server over HTTP, started on first use and kept until ``close()``."""
        from ..mcp_server import HttpServer

        with self._lock:
            if self._mcp is None:
                self._mcp = HttpServer(self.config).start()
            return self._mcp

    def environment(self) -> dict[str, str]:
        env = _base_env(self.codex_home())
        key = self.config.secrets.codex_api_key
        if key is not None:
            env["CODEX_API_KEY"] = key.get_secret_value()
        if self.config.codex.base_url:
            env[KEY_ENV] = key.get_secret_value() if key is not None else STAND_IN_KEY
        if self._mcp is not None:
            env[MCP_TOKEN_ENV] = self._mcp.token
        return env

    # -- one task --------------------------------------------------------------------------------
    def build(self, task: Task, context: BuildContext) -> BuildResult:
        """Run Codex on ``task`` in a scratch worktree; its changes become the edits.

        Raises ``AgentError`` when Codex fails, or ``UnusableAnswer`` (carrying the call, for the
        ledger) when its changes cannot be used."""
        from .. import edits

        self.version()
        repo_root = Path(context.repo_root or self.config.repo_root or "")
        if not context.repo_root and self.config.repo_root is None:
            raise GitorchError("the Codex builder needs a repository to work in",
                               hint="run gitorch inside a git repository")
        base = context.base_commit or _git(repo_root, "rev-parse", "HEAD").decode().strip()
        mcp = self.config.codex.mcp and context.run_id is not None
        policy = self.config.secrets.policy
        prompt = redact(build_prompt(task, context, mcp=mcp), policy.values())
        if len(prompt.encode()) > PROMPT_LIMIT:
            raise GitorchError(f"the prompt for task {task.id} is {len(prompt.encode())} bytes, more than Codex "
                               f"can be given ({PROMPT_LIMIT})", hint="split the task, or keep codex.mcp on")
        slug = re.sub(r"[^A-Za-z0-9_.-]+", "-", f"{context.run_id or 'run'}-{task.id}")[:60]
        folder = Path(tempfile.mkdtemp(prefix=f"{slug}-", dir=self._worktrees()))
        folder.rmdir()  # the scratch checkout creates it
        started = time.monotonic()
        seed = {p: c for p, c in context.files.items() if c is not None}
        with Worktree(repo_root, base, folder, seed, policy) as tree:
            transcript = self._run(task, tree.path, prompt, mcp)
            result = BuildResult(agent=CODEX, model=self.config.codex.model or "codex-default", edits=[],
                                 raw="\n\n".join(transcript.messages), usage=transcript.usage,
                                 duration_s=time.monotonic() - started,
                                 extra={"prompt": prompt, "prompt_chars": len(prompt), "thread_id": transcript.thread_id,
                                        "commands": transcript.commands, "mcp_calls": transcript.tool_calls,
                                        "warnings": transcript.warnings, "codex_version": self._version})
            with answer_of(result):
                result.edits = collect_edits(tree, self.config.edits.max_file_bytes)
                current = {e.path: _current(tree, base, e.path, context.files) for e in result.edits}
                current = {p: c for p, c in current.items() if c is not None}
                result.contents = edits.apply_edits(result.edits, current, repo_root, self.config.edits)
                if not result.edits:
                    raise edits.EditError(
                        "You changed no file. Make the changes this task asks for in the working directory.")
        return result

    def _worktrees(self) -> Path:
        folder = self.config.state_dir / "codex" / "worktrees"
        folder.mkdir(parents=True, exist_ok=True)
        return folder

    def _run(self, task: Task, worktree: Path, prompt: str, mcp: bool) -> Transcript:
        transcript = Transcript()
        stderr = tempfile.TemporaryFile()
        try:
            try:
                command = self.command(worktree, prompt)  # starts the MCP server first, if used
                proc = subprocess.Popen(command, cwd=worktree, env=scratch.git_env(worktree, self.environment()),
                                        stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=stderr,
                                        start_new_session=True)
            except OSError as exc:
                raise AgentError(f"Codex could not be started: {exc}", agent=CODEX,
                                       hint="check codex.binary ('gitorch doctor')", reason="unavailable") from exc
            reader = threading.Thread(target=self._read, args=(proc, transcript, task.id), daemon=True)
            reader.start()
            timeout = self.config.codex.timeout_s
            try:
                proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                _stop(proc)
                _stop_leftovers(worktree)
                reader.join(timeout=5)
                raise AgentError(f"Codex did not finish task {task.id} within {timeout:g} s", agent=CODEX,
                                   hint="raise codex.timeout_s for long tasks, or split the task", reason="timeout") from None
            _stop_leftovers(worktree)  # a server the model started in the background does not outlive the task
            reader.join(timeout=10)
            stderr.seek(0)
            err_text = redact(stderr.read().decode(errors="replace"), self.config.secrets.values())
        finally:
            stderr.close()
        with self._lock:
            self.transcripts.append(transcript)
        if transcript.failed or (transcript.errors and not transcript.completed):
            raise classify(transcript.failed or transcript.errors[-1])
        if proc.returncode != 0 or not transcript.completed:
            lines = [line for line in err_text.splitlines() if line.strip() and not line.startswith("WARNING")]
            tail = " | ".join(lines[-3:]) or f"exit status {proc.returncode}"
            raise classify(f"codex exec ended without finishing (exit {proc.returncode}): {tail}")
        return transcript

    def _read(self, proc: subprocess.Popen, transcript: Transcript, task_id: str) -> None:
        assert proc.stdout is not None
        for raw in proc.stdout:
            line = raw.decode("utf-8", errors="replace").strip()
            if not line.startswith("{"):
                continue
            try:
                event = json.loads(line)
            except ValueError:
                continue
            said = transcript.feed(event)
            if said:
                said = redact(said, self.config.secrets.values())
                log.info("task %s: %s", task_id, said)
                if self.progress is not None:
                    self.progress(task_id, said)

    def close(self) -> None:
        with self._lock:
            if self._mcp is not None:
                self._mcp.stop()
                self._mcp = None
            if self._scratch_home is not None:
                shutil.rmtree(self._scratch_home, ignore_errors=True)
                self._scratch_home = None

    def __enter__(self) -> CodexBuilder:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _current(tree: Worktree, base: str, path: str, files: dict[str, str]) -> str | None:
    """The content ``path`` had before Codex ran: as given to the task, else at the base commit."""
    if path in files:
        return files[path]
    out = subprocess.run(["git", "show", f"{base}:{path}"], cwd=tree.path, capture_output=True,
                         stdin=subprocess.DEVNULL)
    return out.stdout.decode("utf-8", errors="replace") if out.returncode == 0 else None


def _stop(proc: subprocess.Popen) -> None:
    """Stop Codex and everything it started (its own process group)."""
    for sig, wait in ((signal.SIGTERM, KILL_GRACE_S), (signal.SIGKILL, 5.0)):
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            return
        try:
            proc.wait(timeout=wait)
            return
        except subprocess.TimeoutExpired:
            continue


def _stop_leftovers(worktree: Path) -> None:
    """Kill what the model's commands left running in the worktree (a command Codex ran in a session
    of its own outlives Codex's process group). Linux: processes whose working folder is in it."""
    root = str(worktree.resolve())
    proc_dir = Path("/proc")
    if not proc_dir.is_dir():
        return
    for entry in proc_dir.iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cwd = os.readlink(entry / "cwd")
        except OSError:  # gone, or not ours to look at
            continue
        if cwd == root or cwd.startswith(root + os.sep):
            try:
                os.kill(int(entry.name), signal.SIGKILL)
            except OSError:
                pass


register_builder(CODEX, CodexBuilder)
