"""The Convex mirror: SQLite's outbox drained to a Convex deployment, and live reads from it.

SQLite stays the source of truth. Every write enters the outbox in the same transaction (see
``gitorch.store.sqlite``); this module sends those rows to the deployment's ``mirror:push`` over
Convex's HTTP API, in batches, and marks a row sent only when Convex answered for it. Anything else
(a refused connection, a timeout, a 5xx) leaves the rows pending, notes the error on them and is
tried again with backoff. A record Convex itself refuses is tried again on later passes and parked
after ``convex.park_after_refusals`` refusals: kept in SQLite, no longer sent, until
`gitorch sync --retry-parked`. The functions upsert by (runner, key) and version, so a batch delivered
twice, or an older version arriving after a newer one, changes nothing.

Why not the WebSocket ``ConvexClient`` for writes: a mutation called while its socket is down
raises at once but stays queued and runs after the reconnect, so a retry would store it twice.
And ``ConvexHttpClient`` sends with no timeout, so a hung server would hang the sync; the thin
client below uses ``convex.values`` for the encoding and a ``requests`` session with a timeout.

Runs never wait on Convex: ``ConvexMirror.start()`` drains in a background thread, which a run
nudges with ``kick()`` and stops with ``stop()``; `gitorch sync` drains in the foreground.
Live reads (the dashboard's team mode) follow queries through ``ConvexClient.subscribe`` with
``async for``: a blocking ``for`` over a subscription holds the GIL.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import socket
import threading
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from ..errors import GitorchError
from ..model import Check
from ..retry import backoff_s

log = logging.getLogger("gitorch.convex")

# The version of the functions in convex/ this package expects (convex/records.ts FUNCTIONS_VERSION).
FUNCTIONS_VERSION = 3
PUSH = "mirror:push"
HEARTBEAT = "mirror:heartbeat"
VERSION = "mirror:version"
# Convex accepts up to 16 MiB of arguments per call; stay well under it.
MAX_BATCH_BYTES = 4_000_000
# The dashboard's KPI queries, followed live in team mode.
LIVE_QUERIES: dict[str, tuple[str, dict[str, Any]]] = {
    "sessions": ("mcp:getActiveSessions", {}),
    "today": ("mcp:getTodayMetrics", {}),
    "cost": ("mcp:getCostAnalysis", {"days": 30}),
    "routing": ("mcp:getRoutingStats", {"days": 30}),
    "pending_artifacts": ("mcp:getPendingArtifacts", {}),
}


class ConvexUnavailable(GitorchError):
    """Convex could not be reached or did not answer in time; the rows stay pending."""


class ConvexRequestError(GitorchError):
    """Convex answered, but refused the request (a 4xx, or the function threw)."""


class ConvexSetupError(ConvexRequestError):
    """Convex refuses every request alike: a wrong key, or the functions are not deployed there.
    Sending record by record would not help; the rows stay pending until the set-up is fixed."""


def check_url(url: str) -> str:
    """The deployment URL as the clients want it, or a GitorchError saying what to fix."""
    hint = "set CONVEX_URL to https://<name>.convex.cloud (the 'Deployment URL' in the Convex dashboard)"
    parts = urlsplit(url.strip())
    if parts.scheme not in ("https", "http") or not parts.hostname:
        raise GitorchError(f"CONVEX_URL {url!r} is not a URL", hint=hint)
    if parts.hostname.endswith(".convex.site"):
        raise GitorchError(f"CONVEX_URL {url!r} is the HTTP-actions address (.convex.site), not the deployment's",
                           hint=hint)
    if parts.path not in ("", "/") or parts.query or parts.fragment:
        raise GitorchError(f"CONVEX_URL {url!r} has a path; it must be the deployment's address alone", hint=hint)
    if parts.path == "/":
        raise GitorchError(f"CONVEX_URL {url!r} ends with a slash", hint=f"drop the trailing '/': {url.rstrip('/')}")
    local = parts.hostname in ("127.0.0.1", "localhost", "::1")
    if parts.scheme == "http" and not local:
        raise GitorchError(f"CONVEX_URL {url!r} uses http; a Convex deployment is served over https", hint=hint)
    return url.strip()


# -- the HTTP API ---------------------------------------------------------------------------------


class ConvexHttp:
    """Convex's HTTP API (`/api/query`, `/api/mutation`) with a timeout on every request."""

    def __init__(self, url: str, admin_key: str | None = None, timeout_s: float = 10.0):
        import requests
        from convex import __version__ as client_version

        self.url = check_url(url)
        self.timeout = (min(timeout_s, 5.0), timeout_s)  # connect, read
        self._session = requests.Session()
        self._session.headers["Convex-Client"] = f"python-{client_version}"
        if admin_key:
            self._session.headers["Authorization"] = f"Convex {admin_key}"

    def query(self, path: str, args: dict[str, Any] | None = None) -> Any:
        return self._call("query", path, args)

    def mutation(self, path: str, args: dict[str, Any] | None = None) -> Any:
        return self._call("mutation", path, args)

    def encode(self, args: dict[str, Any]) -> Any:
        """Arguments in Convex's JSON encoding; ValueError for what Convex cannot hold."""
        from convex.values import convex_to_json

        return convex_to_json(args)

    def post_encoded(self, kind: str, path: str, encoded: Any) -> Any:
        import requests
        from convex.values import json_to_convex

        body = {"path": path, "format": "convex_encoded_json", "args": encoded}
        try:
            response = self._session.post(f"{self.url}/api/{kind}", json=body, timeout=self.timeout)
        except requests.Timeout as exc:
            raise ConvexUnavailable(f"Convex did not answer {path} within {self.timeout[1]:.0f}s",
                                    hint="the records stay pending and are sent again later") from exc
        except requests.ConnectionError as exc:
            raise ConvexUnavailable(f"cannot reach Convex at {self.url}: {_reason(exc)}",
                                    hint="check CONVEX_URL and the network; the records stay pending") from exc
        try:
            reply = response.json()
        except ValueError:
            reply = None
        if response.status_code >= 500 or response.status_code in (408, 429):
            raise ConvexUnavailable(f"Convex answered {response.status_code} to {path}",
                                    hint="the records stay pending and are sent again later")
        if response.status_code >= 400:
            detail = f"{reply.get('code')}: {reply.get('message')}" if isinstance(reply, dict) else response.text[:200]
            if response.status_code in (401, 403):
                raise ConvexSetupError(f"Convex refused {path}: {response.status_code} {detail}",
                                       hint="check CONVEX_DEPLOY_KEY (or CONVEX_ADMIN_KEY): it must belong to "
                                            "this deployment")
            raise ConvexRequestError(f"Convex refused {path}: {response.status_code} {detail}",
                                     hint="check CONVEX_URL")
        if not isinstance(reply, dict) or reply.get("status") not in ("success", "error"):
            raise ConvexUnavailable(f"unexpected answer from Convex to {path}: {response.text[:200]}")
        if reply["status"] == "error":
            message = reply.get("errorMessage", "")
            if "Could not find public function" in message:
                raise ConvexSetupError(
                    f"Convex function {path} failed: {message}",
                    hint="deploy the functions ('npx convex deploy' with CONVEX_DEPLOY_KEY) and give gitorch the "
                         "deployment's deploy or admin key as CONVEX_DEPLOY_KEY or CONVEX_ADMIN_KEY")
            raise ConvexRequestError(f"Convex function {path} failed: {message}")
        return json_to_convex(reply["value"])

    def _call(self, kind: str, path: str, args: dict[str, Any] | None) -> Any:
        return self.post_encoded(kind, path, self.encode(args or {}))

    def close(self) -> None:
        self._session.close()


def _reason(exc: BaseException) -> str:
    text = str(exc)
    for marker in ("Connection refused", "Name or service not known", "timed out", "Connection reset"):
        if marker in text:
            return marker.lower()
    return text[:200]


# -- the drain ------------------------------------------------------------------------------------


@dataclass
class DrainResult:
    sent: int = 0  # rows Convex stored (inserted or updated)
    duplicates: int = 0  # rows Convex had already (same version)
    stale: int = 0  # rows older than what Convex holds
    rejected: int = 0  # rows Convex refused; they stay pending with the reason
    parked: int = 0  # rows refused ``park_after_refusals`` times by now: kept, no longer sent
    batches: int = 0
    seconds: float = 0.0
    errors: list[str] = field(default_factory=list)
    refused_ids: set[int] = field(default_factory=set)  # rows refused in this pass (still pending)

    @property
    def delivered(self) -> int:
        return self.sent + self.duplicates + self.stale

    def as_json(self) -> dict[str, Any]:
        return {"sent": self.sent, "duplicates": self.duplicates, "stale": self.stale, "rejected": self.rejected,
                "parked": self.parked, "batches": self.batches, "seconds": round(self.seconds, 3), "errors": self.errors}


@dataclass
class SyncStatus:
    url: str | None
    pending: int
    oldest: dict[str, Any] | None  # table, key, version, created_at, attempts of the oldest pending row
    last_error: str | None
    max_attempts: int
    parked: list[dict[str, Any]]  # the first parked rows: table, key, version, refusals, last_error, parked_at
    parked_count: int

    def as_json(self) -> dict[str, Any]:
        return {"url": self.url, "pending": self.pending, "oldest": self.oldest, "last_error": self.last_error,
                "max_attempts": self.max_attempts, "parked": self.parked_count,
                "parked_records": self.parked}


def outbox_status(store: Any, convex: Any) -> SyncStatus:
    """What waits to be sent: how many rows, the oldest one, and the last error Convex gave."""
    head = store.outbox_pending(convex.batch_size)
    oldest = None
    if head:
        row = head[0]
        oldest = {k: row[k] for k in ("table", "key", "version", "runner", "created_at", "attempts")}
    errors = [r for r in head if r.get("last_error")]
    return SyncStatus(
        url=convex.url,
        pending=store.outbox_count(),
        oldest=oldest,
        last_error=errors[0]["last_error"] if errors else None,
        max_attempts=max((r["attempts"] for r in head), default=0),
        parked=[{k: r[k] for k in ("table", "key", "version", "refusals", "last_error", "parked_at")}
                for r in store.outbox_parked(5)],
        parked_count=store.outbox_parked_count(),
    )


def _field_name(name: str) -> str:
    """A dict key as a Convex field name: characters Convex refuses (non-ASCII, control
    characters, a leading '$') written as \\uXXXX escapes, so the record is stored, not refused."""
    if name.isascii() and name.isprintable() and not name.startswith("$"):
        return name
    escaped = "".join(c if " " <= c <= "~" else f"\\u{ord(c):04x}" for c in name)
    return "\\u0024" + escaped[1:] if escaped.startswith("$") else escaped


def convex_safe(value: Any) -> Any:
    """``value`` with every dict key made a valid Convex field name (values are left alone)."""
    if isinstance(value, dict):
        return {_field_name(str(k)): convex_safe(v) for k, v in value.items()}
    if isinstance(value, list):
        return [convex_safe(v) for v in value]
    return value


def _batches(rows: list[dict[str, Any]], encode: Callable[[dict[str, Any]], Any], max_bytes: int):
    """Rows packed into batches under ``max_bytes`` of JSON; rows that cannot be encoded come
    back separately with the reason."""
    batch: list[tuple[dict[str, Any], Any]] = []
    size = 0
    bad: list[tuple[dict[str, Any], str]] = []
    out: list[list[tuple[dict[str, Any], Any]]] = []
    for row in rows:
        record = {"table": row["table"], "key": row["key"], "version": row["version"], "runner": row["runner"],
                  "payload": convex_safe(row["payload"])}
        try:
            encoded = encode(record)
        except (ValueError, TypeError) as exc:
            bad.append((row, f"{row['table']}/{row['key']}: cannot be sent to Convex: {exc}"))
            continue
        length = len(json.dumps(encoded, separators=(",", ":")))
        if batch and size + length > max_bytes:
            out.append(batch)
            batch, size = [], 0
        batch.append((row, encoded))
        size += length
    if batch:
        out.append(batch)
    return out, bad


class ConvexMirror:
    """Drains a store's outbox to Convex, by hand (``drain``/``sync``) or in the background."""

    def __init__(self, store: Any, convex: Any, admin_key: str | None, *, client: ConvexHttp | None = None,
                 sleep: Callable[[float], None] = time.sleep):
        """``convex`` is the config's ``convex`` section (url, timeout_s, batch_size, interval_s)."""
        if not convex.url:
            raise GitorchError("Convex is not configured: CONVEX_URL is empty",
                               hint="export CONVEX_URL=https://<name>.convex.cloud (see docs/convex.md); "
                                    "without it gitorch keeps everything in SQLite only")
        self.store = store
        self.settings = convex
        self.client = client or keyed_client(convex, admin_key, "write with")
        self.sleep = sleep
        self.run_id: str | None = None  # the run this process is on, shown in the team's sessions
        self.session = f"{socket.gethostname()}:{os.getpid()}:{int(time.time())}"
        self.started_at = time.time() * 1000
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()
        self._wake = threading.Event()
        self.last_result: DrainResult | None = None
        self.failures = 0  # consecutive failed drains in the background

    # -- one pass --------------------------------------------------------------------------------

    def drain(self, max_rows: int | None = None, *, stop: threading.Event | None = None) -> DrainResult:
        """Send pending rows oldest first until none are left (or ``max_rows`` were tried, or
        ``stop`` is set). Raises ConvexUnavailable when Convex cannot be reached, ConvexSetupError
        when it refuses the key or lacks the functions; what was sent stays sent."""
        result = DrainResult()
        started = time.perf_counter()
        tried = 0
        try:
            while not (stop is not None and stop.is_set()) and (max_rows is None or tried < max_rows):
                limit = self.settings.batch_size if max_rows is None else min(self.settings.batch_size,
                                                                              max_rows - tried)
                # Rows refused earlier in this pass stay pending; look past them.
                refused = result.refused_ids
                rows = [r for r in self.store.outbox_pending(limit + len(refused)) if r["id"] not in refused][:limit]
                if not rows:
                    break
                tried += len(rows)
                self._send(rows, result)
        finally:
            result.seconds = time.perf_counter() - started
            self.last_result = result
        return result

    def _send(self, rows: list[dict[str, Any]], result: DrainResult) -> None:
        batches, bad = _batches(rows, self.client.encode, MAX_BATCH_BYTES)
        for row, reason in bad:
            self._refused(row, reason, result)
        for batch in batches:
            try:
                answers = self.client.post_encoded("mutation", PUSH, {"records": [e for _, e in batch]})
            except (ConvexUnavailable, ConvexSetupError) as exc:
                self.store.outbox_mark_failed([r["id"] for r, _ in batch], exc.message)
                raise
            except ConvexRequestError as exc:
                if len(batch) == 1:
                    self._refused(batch[0][0], exc.message, result)
                    continue
                # The batch as a whole was refused: send one by one to find the record at fault.
                for single in batch:
                    self._send_one(single, result)
                continue
            result.batches += 1
            self._settle([r for r, _ in batch], answers, result)

    def _send_one(self, item: tuple[dict[str, Any], Any], result: DrainResult) -> None:
        row, encoded = item
        try:
            answers = self.client.post_encoded("mutation", PUSH, {"records": [encoded]})
        except (ConvexUnavailable, ConvexSetupError) as exc:
            self.store.outbox_mark_failed([row["id"]], exc.message)
            raise
        except ConvexRequestError as exc:
            self._refused(row, exc.message, result)
            return
        result.batches += 1
        self._settle([row], answers, result)

    def _refused(self, row: dict[str, Any], reason: str, result: DrainResult) -> None:
        """Convex refused this record: it stays pending with the reason, and is parked (kept, no
        longer sent) once refused ``park_after_refusals`` times, so a record no deployment accepts
        does not cost a request every few seconds for as long as the runner lives."""
        parked = self.store.outbox_mark_refused([row["id"]], reason, self.settings.park_after_refusals)
        if parked:
            log.warning("parked %s/%s after %d refusals (%s); 'gitorch sync --retry-parked' sends it again",
                        row["table"], row["key"], self.settings.park_after_refusals, reason)
        result.refused_ids.add(row["id"])
        result.rejected += 1
        result.parked += parked
        result.errors.append(reason)

    def _settle(self, rows: list[dict[str, Any]], answers: Any, result: DrainResult) -> None:
        """Mark sent what Convex answered for; keep pending, with the reason, what it rejected."""
        if not isinstance(answers, list) or len(answers) != len(rows):
            raise ConvexRequestError(f"{PUSH} answered {len(answers) if isinstance(answers, list) else answers!r} "
                                     f"results for {len(rows)} records",
                                     hint="the deployed functions do not match this gitorch; run 'gitorch doctor'")
        sent: list[int] = []
        for row, answer in zip(rows, answers, strict=True):
            outcome = answer.get("outcome")
            if outcome == "rejected":
                self._refused(row, answer.get("error") or "rejected", result)
                continue
            sent.append(row["id"])
            if outcome == "duplicate":
                result.duplicates += 1
            elif outcome == "stale":
                result.stale += 1
            else:
                result.sent += 1
        self.store.outbox_mark_sent(sent)

    def sync(self, attempts: int = 3) -> DrainResult:
        """`gitorch sync`: drain, retrying an unreachable Convex a few times with backoff."""
        for attempt in range(1, attempts + 1):
            try:
                return self.drain()
            except ConvexUnavailable as exc:
                if attempt == attempts:
                    raise
                wait = backoff_s(attempt)
                log.warning("%s; retrying in %.1fs", exc.message, wait)
                self.sleep(wait)
        raise AssertionError("unreachable")

    def status(self) -> SyncStatus:
        return outbox_status(self.store, self.settings)

    def heartbeat(self, stopped: bool = False) -> None:
        """Tell the team this process is alive (best effort: never raises)."""
        args: dict[str, Any] = {"runner": self.store.runner, "session": self.session, "host": socket.gethostname(),
                                "startedAt": self.started_at, "pending": self.store.outbox_count(),
                                "stopped": stopped}
        if self.run_id:
            args["runId"] = self.run_id
        try:
            self.client.mutation(HEARTBEAT, args)
        except GitorchError as exc:
            log.info("heartbeat not sent: %s", exc.message)

    # -- in the background ------------------------------------------------------------------------

    def start(self) -> ConvexMirror:
        """Drain in a daemon thread from now on; returns at once."""
        if self._thread is None or not self._thread.is_alive():
            self._stop = threading.Event()  # each thread its own: a stuck old one stays stopped
            self._thread = threading.Thread(target=self._loop, args=(self._stop,), name="gitorch-convex-drain",
                                            daemon=True)
            self._thread.start()
        return self

    def kick(self) -> None:
        """Something was written: drain soon instead of at the next interval (never blocks)."""
        self._wake.set()

    def stop(self, timeout_s: float = 1.0) -> bool:
        """Stop the background drain; waits at most ``timeout_s`` for a request in flight.
        Rows not sent stay in SQLite for the next drain. Returns whether the thread ended."""
        thread = self._thread
        if thread is None:
            return True
        self._stop.set()
        self._wake.set()
        thread.join(timeout_s)
        self._thread = None
        return not thread.is_alive()

    def _loop(self, stop: threading.Event) -> None:
        beat_every = max(self.settings.interval_s, 30.0)
        last_beat = 0.0
        while not stop.is_set():
            self._wake.clear()
            try:
                self.drain(stop=stop)
                self.failures = 0
                wait = self.settings.interval_s
                if time.monotonic() - last_beat >= beat_every:
                    self.heartbeat()
                    last_beat = time.monotonic()
            except GitorchError as exc:
                self.failures += 1
                wait = backoff_s(self.failures)
                log.warning("Convex drain failed (%s); next try in %.1fs", exc.message, wait)
            except Exception:  # a bug must not kill the thread silently, nor the run
                self.failures += 1
                wait = backoff_s(self.failures)
                log.exception("Convex drain crashed; next try in %.1fs", wait)
            self._wake.wait(wait)
        if self.failures == 0:
            self.heartbeat(stopped=True)

    def close(self) -> None:
        self.stop()
        self.client.close()

    def __enter__(self) -> ConvexMirror:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def keyed_client(convex: Any, admin_key: str | None, purpose: str) -> ConvexHttp:
    """A client of the deployment that carries its key: every gitorch function but the version needs it."""
    if not admin_key:
        raise GitorchError(f"CONVEX_URL is set but no key to {purpose}",
                           hint="export CONVEX_DEPLOY_KEY (or CONVEX_ADMIN_KEY) from the deployment's settings")
    return ConvexHttp(convex.url, admin_key, convex.timeout_s)


def mirror_for(config: Any, store: Any) -> ConvexMirror | None:
    """The background mirror for a run: None when CONVEX_URL is not set, or when there is no key to
    write with (logged; the outbox keeps everything for a later `gitorch sync`). A run must not fail
    for want of Convex. A malformed CONVEX_URL still raises: that is a mistake to fix now."""
    if not config.convex.url:
        return None
    check_url(config.convex.url)
    key = config.secrets.convex_admin_key
    if key is None:
        log.warning("CONVEX_URL is set but neither CONVEX_DEPLOY_KEY nor CONVEX_ADMIN_KEY is; "
                    "records stay in SQLite until 'gitorch sync' runs with a key")
        return None
    return ConvexMirror(store, config.convex, key.get_secret_value())


# -- live reads -----------------------------------------------------------------------------------


async def _follow(client: Any, query: str, args: dict[str, Any]) -> AsyncIterator[Any]:
    subscription = client.subscribe(query, args)
    try:
        async for value in subscription:
            yield value
    finally:
        if subscription.inner.exists():  # a cancelled wait has dropped it already
            subscription.unsubscribe()


async def follow(url: str, query: str, args: dict[str, Any] | None = None, *,
                 admin_key: str | None = None) -> AsyncIterator[Any]:
    """Every new result of ``query`` as Convex pushes it, starting with the current one. gitorch's
    queries are internal: ``admin_key`` (the deploy key) is needed to read them."""
    from convex import ConvexClient

    client = ConvexClient(check_url(url))
    if admin_key:
        client.set_admin_auth(admin_key)
    async for value in _follow(client, query, args or {}):
        yield value


class LiveReader:
    """Follows the team's active sessions and the KPI queries over one WebSocket; ``latest`` holds
    the newest result of each, and ``on_change(name, value)`` hears about every update. For the
    dashboard's team mode."""

    def __init__(self, url: str, queries: dict[str, tuple[str, dict[str, Any]]] | None = None,
                 on_change: Callable[[str, Any], None] | None = None, *, admin_key: str | None = None):
        self.url = check_url(url)
        self.admin_key = admin_key  # the team's records are internal functions: only the key reads them
        self.queries = dict(LIVE_QUERIES if queries is None else queries)
        self.on_change = on_change
        self.latest: dict[str, Any] = {}
        self.errors: dict[str, str] = {}
        self.updated = asyncio.Event()

    async def _watch(self, client: Any, name: str, query: str, args: dict[str, Any]) -> None:
        try:
            async for value in _follow(client, query, args):
                self.latest[name] = value
                self.errors.pop(name, None)
                self.updated.set()
                if self.on_change is not None:
                    self.on_change(name, value)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # a failing query is shown, not fatal to the others
            self.errors[name] = str(exc)
            self.updated.set()

    async def run(self) -> None:
        """Follow every query until cancelled."""
        from convex import ConvexClient

        client = ConvexClient(self.url)
        if self.admin_key:
            client.set_admin_auth(self.admin_key)
        await asyncio.gather(*(self._watch(client, name, q, a) for name, (q, a) in self.queries.items()))


# -- gitorch doctor -------------------------------------------------------------------------------


def doctor_check(config: Any, store: Any | None = None):
    """`gitorch doctor`: CONVEX_URL answers, the deployed functions are the ones this package
    expects, and a key to write with is set."""

    url = config.convex.url
    if not url:
        return Check("convex", "ok", "not configured: state stays in SQLite on this machine")
    try:
        url = check_url(url)
    except GitorchError as exc:
        return Check("convex", "fail", exc.message, exc.hint or "")
    key = config.secrets.convex_admin_key
    client = ConvexHttp(url, None, min(config.convex.timeout_s, 5.0))
    try:
        version = client.query(VERSION)
    except ConvexUnavailable as exc:
        return Check("convex", "fail", exc.message, "check CONVEX_URL and that the deployment is running")
    except ConvexRequestError as exc:
        return Check("convex", "fail", f"{url} answers, but gitorch's functions are not deployed there ({exc.message})",
                     "npx convex deploy (with CONVEX_DEPLOY_KEY set), see docs/convex.md")
    finally:
        client.close()
    deployed = int(version.get("functions", 0)) if isinstance(version, dict) else 0
    if deployed != FUNCTIONS_VERSION:
        return Check("convex", "fail", f"{url} runs functions version {deployed}; this gitorch needs {FUNCTIONS_VERSION}",
                     "deploy the convex/ folder of this gitorch version: npx convex deploy")
    if key is None:
        return Check("convex", "warn", f"{url} answers (functions v{deployed}) but no key to write with is set",
                     "export CONVEX_DEPLOY_KEY (or CONVEX_ADMIN_KEY) so runs can be mirrored")
    pending = f"; {store.outbox_count()} records waiting to be sent" if store is not None else ""
    parked = store.outbox_parked_count() if store is not None else 0
    if parked:
        first = store.outbox_parked(1)[0]
        return Check("convex", "warn", f"{url} answers, functions v{deployed}{pending}; {parked} record"
                     f"{'s' if parked != 1 else ''} parked after Convex refused them (first: {first['table']}/"
                     f"{first['key']}: {first['last_error']})",
                     "see 'gitorch sync --status'; after fixing the deployment, 'gitorch sync --retry-parked'")
    return Check("convex", "ok", f"{url} answers, functions v{deployed}{pending}")
