"""A local Convex deployment on 127.0.0.1 for the tests, the benchmark and `gitorch demo`.

It runs ``convex_server.mjs`` (the project's own ``convex/`` functions inside ``convex-test``, behind
Convex's HTTP API and sync WebSocket) in a Node process, and drives its switches::

    with LocalConvex() as convex:          # an ephemeral port, a fresh admin key
        convex.url                         # http://127.0.0.1:PORT, what CONVEX_URL would hold
        convex.set_mode("hang")            # or "refuse", "error", "slow" (delay_ms=...), "normal"
        convex.restart()                   # stop and start again on the same port, data kept

Data lives in a JSON file (``data_path``, a temporary one by default), so a restart keeps it.
"""

from __future__ import annotations

import json
import os
import queue
import secrets
import shutil
import subprocess
import tempfile
import threading
from pathlib import Path
from typing import Any

from gitorch.errors import GitorchError

SERVER = Path(__file__).with_name("convex_server.mjs")
MODES = ("normal", "refuse", "hang", "error", "slow")


def project_root() -> Path:
    """The checkout that holds ``convex/`` and ``node_modules/``."""
    return Path(__file__).resolve().parents[2]


class LocalConvex:
    def __init__(self, data_path: Path | None = None, port: int = 0, admin_key: str | None = None,
                 convex_dir: Path | None = None, node: str = "node", start_timeout_s: float = 60.0):
        self.convex_dir = convex_dir or project_root() / "convex"
        self.admin_key = admin_key or secrets.token_hex(16)
        self.port = port
        self.node = node
        self.start_timeout_s = start_timeout_s
        self._tmp: tempfile.TemporaryDirectory | None = None
        if data_path is None:
            self._tmp = tempfile.TemporaryDirectory(prefix="gitorch-convex-")
            data_path = Path(self._tmp.name) / "data.json"
        self.data_path = Path(data_path)
        self._proc: subprocess.Popen | None = None
        self._replies: queue.Queue[dict[str, Any]] = queue.Queue()
        self._next_id = 0
        self._lock = threading.Lock()
        self.stderr_path = self.data_path.with_suffix(".log")

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    def start(self) -> LocalConvex:
        if self.running:
            return self
        if shutil.which(self.node) is None:
            raise GitorchError(f"'{self.node}' is not installed; the local Convex server needs Node.js 20 or newer",
                               hint="apt-get install nodejs npm, then run 'npm ci' at the repository root")
        if not (project_root() / "node_modules" / "convex-test").exists():
            raise GitorchError("the npm packages for the local Convex server are missing",
                               hint="run 'npm ci' at the repository root")
        cmd = [self.node, str(SERVER), "--convex-dir", str(self.convex_dir), "--port", str(self.port),
               "--data", str(self.data_path), "--admin-key", self.admin_key]
        stderr = open(self.stderr_path, "ab")  # noqa: SIM115 - handed to the child, closed below
        try:
            self._proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=stderr,
                                          text=True, bufsize=1, env={**os.environ, "NODE_NO_WARNINGS": "1"})
        finally:
            stderr.close()
        self._replies = queue.Queue()
        threading.Thread(target=self._read, args=(self._proc,), daemon=True).start()
        try:
            ready = self._replies.get(timeout=self.start_timeout_s)
        except queue.Empty:
            self.stop()
            raise GitorchError(f"the local Convex server did not start within {self.start_timeout_s:.0f}s",
                               hint=f"see {self.stderr_path}") from None
        if ready.get("event") != "listening":
            self.stop()
            raise GitorchError(f"the local Convex server failed to start: {ready.get('error', ready)}",
                               hint=f"see {self.stderr_path}")
        self.port = int(ready["port"])
        return self

    def _read(self, proc: subprocess.Popen) -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            line = line.strip()
            if line:
                try:
                    self._replies.put(json.loads(line))
                except json.JSONDecodeError:
                    continue
        self._replies.put({"event": "exited", "error": self._tail()})

    def _tail(self) -> str:
        try:
            return self.stderr_path.read_text(errors="replace")[-2000:]
        except OSError:
            return ""

    def _command(self, cmd: str, timeout_s: float = 30.0, **fields: Any) -> dict[str, Any]:
        if not self.running:
            raise GitorchError("the local Convex server is not running", hint="call start() first")
        with self._lock:
            self._next_id += 1
            ident = self._next_id
            assert self._proc is not None and self._proc.stdin is not None
            self._proc.stdin.write(json.dumps({"id": ident, "cmd": cmd, **fields}) + "\n")
            self._proc.stdin.flush()
            while True:
                reply = self._replies.get(timeout=timeout_s)
                if reply.get("id") == ident:
                    break
                if reply.get("event") == "exited":
                    raise GitorchError(f"the local Convex server exited: {reply.get('error')}")
        if not reply.get("ok"):
            raise GitorchError(f"local Convex server: {reply.get('error')}")
        return reply

    def set_mode(self, mode: str, *, after_commit: bool = False, delay_ms: int = 0) -> None:
        """``refuse`` connections, ``hang`` without answering, answer ``error`` (HTTP 500), be ``slow``
        by ``delay_ms``, or back to ``normal``. With ``after_commit`` a hang or error comes after the
        function ran, so the caller cannot tell that it succeeded."""
        if mode not in MODES:
            raise GitorchError(f"unknown mode '{mode}'", hint=f"use one of: {', '.join(MODES)}")
        self._command("mode", mode=mode, afterCommit=after_commit, delayMs=delay_ms)

    def flush(self) -> None:
        """Write the data file now."""
        self._command("flush")

    def stop(self) -> None:
        """Stop the server, keeping its data in ``data_path``."""
        proc, self._proc = self._proc, None
        if proc is None:
            return
        if proc.poll() is None:
            try:
                assert proc.stdin is not None
                proc.stdin.write(json.dumps({"cmd": "stop"}) + "\n")
                proc.stdin.flush()
                proc.stdin.close()
            except (BrokenPipeError, OSError, ValueError):
                pass
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        if proc.stdout is not None:
            proc.stdout.close()

    def restart(self) -> None:
        """Stop, then start on the same port with the same data."""
        self.stop()
        self.start()

    def close(self) -> None:
        self.stop()
        if self._tmp is not None:
            self._tmp.cleanup()
            self._tmp = None

    def __enter__(self) -> LocalConvex:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()
