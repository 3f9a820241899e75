"""Where the page's data comes from, and how the server learns that it changed.

- ``LocalSource``: this machine's SQLite store. A change by any process (a run, the pre-push hook,
  `gitorch feedback`) bumps SQLite's ``PRAGMA data_version`` on the dashboard's own connection;
  reading it is a few microseconds, so the server checks it every ``interval_s`` and computes the
  figures again only when it moved.
- ``TeamSource``: the team's Convex deployment, followed live over its WebSocket through
  ``gitorch.store.convex.LiveReader`` (Convex pushes a new result whenever any runner's records
  change). While Convex cannot be reached it shows the local store, with a notice saying so.

Each source is an async iterator of ``(snapshot, info)`` pairs: the page's data and a description
of the source (its label, and the notices the page shows).
"""

from __future__ import annotations

import asyncio
import logging
import sqlite3
import time
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path
from typing import Any

from .. import cost
from ..errors import GitorchError
from ..model import utcnow
from . import data

log = logging.getLogger("gitorch.dashboard")

# Figures are computed again at least this often even when nothing was written (the day turns).
REFRESH_S = 60.0


def _failure(exc: BaseException) -> dict[str, str]:
    if isinstance(exc, GitorchError):
        text = exc.message + (f" ({exc.hint})" if exc.hint else "")
    else:
        text = f"{type(exc).__name__}: {exc}"
    return {"level": "error", "kind": "error", "title": "The figures could not be computed.", "text": text}


class LocalSource:
    mode = "local"

    def __init__(self, config: Any, interval_s: float = 0.2):
        from ..store import open_store

        self.config = config
        self.interval_s = interval_s
        self.path = Path(config.db_path)
        # creates and migrates the file when it is new; reads it as it is on a read-only disk
        self.store = open_store(config, read_only=True)
        self._watch = sqlite3.connect(self.store.reading_uri(), uri=True, check_same_thread=False, isolation_level=None)

    def data_version(self) -> int:
        """Changes whenever another connection (any process) commits to the database."""
        return self._watch.execute("PRAGMA data_version").fetchone()[0]

    def info(self, notices: list[dict[str, str]] | None = None) -> dict[str, Any]:
        return {"mode": "local", "label": f"this machine · {self.path}", "where": "this machine's store",
                "notices": notices or []}

    def snapshot(self) -> dict[str, Any]:
        return data.snapshot(self.store, self.config)

    async def updates(self, notices: list[dict[str, str]] | None = None) -> AsyncIterator[tuple[dict, dict]]:
        last, at = None, 0.0
        while True:
            version = self.data_version()
            if version != last or time.monotonic() - at >= REFRESH_S:
                last, at = version, time.monotonic()
                try:
                    yield await asyncio.to_thread(self.snapshot), self.info(notices)
                except GitorchError as exc:
                    yield None, self.info([*(notices or []), _failure(exc)])
            await asyncio.sleep(self.interval_s)

    def close(self) -> None:
        self._watch.close()
        self.store.close()


class TeamSource:
    """Every runner's records from Convex; the local store (with a notice) while Convex is away."""

    mode = "team"

    def __init__(self, config: Any, local: LocalSource, url: str, admin_key: str, *, probe_every_s: float = 10.0,
                 tick_s: float = 0.2, wait_s: float = 5.0):
        from ..store.convex import check_url

        self.config = config
        self.local = local
        self.url = check_url(url)
        self.admin_key = admin_key  # the team's records are read by internal functions only
        self.probe_every_s = probe_every_s
        self.tick_s = tick_s
        self.wait_s = wait_s  # how long the first team result may take before the local store is shown
        self.reachable: bool | None = None
        self.problem = ""

    def info(self, notices: list[dict[str, str]] | None = None) -> dict[str, Any]:
        return {"mode": "team", "label": f"team · Convex {self.url}", "where": f"the team's Convex deployment {self.url}",
                "notices": notices or []}

    def probe(self) -> bool:
        """Convex answers over HTTP (a quick check, so an unreachable deployment shows at once)."""
        from ..store.convex import ConvexHttp

        client = ConvexHttp(self.url, None, timeout_s=min(self.config.convex.timeout_s, 3.0))
        try:
            client.query("mirror:version")
            self.problem = ""
            return True
        except GitorchError as exc:
            self.problem = exc.message
            return False
        finally:
            client.close()

    def _since_ms(self) -> float:
        now = utcnow()
        since = min(now - timedelta(days=data.DAYS), cost.month_start(now))
        return since.timestamp() * 1000

    def _fallback_notice(self) -> dict[str, str]:
        why = self.problem or "no answer yet"
        title = "Convex is unreachable;" if self.reachable is False else "The team's records are not available;"
        return {"level": "warn", "kind": "convex-unreachable", "title": title,
                "text": f"showing this machine's store instead ({why}). The team's runs come back on their own "
                        "when Convex answers again; check CONVEX_URL and `gitorch doctor`."}

    def snapshot(self, records: dict[str, Any]) -> dict[str, Any]:
        from .team import TeamStore

        team = TeamStore(records)
        return data.snapshot(team, self.config, runners=team.runners)

    async def updates(self) -> AsyncIterator[tuple[dict, dict]]:
        from ..store.convex import LiveReader
        from .team import RECORDS_QUERY

        reader: LiveReader | None = None
        task: asyncio.Task | None = None
        next_probe = 0.0
        shown: Any = None  # what the page shows now: the records object, or ("local", data_version)
        subscribed_at = 0.0
        try:
            while True:
                now = time.monotonic()
                if now >= next_probe:
                    self.reachable = await asyncio.to_thread(self.probe)
                    next_probe = now + self.probe_every_s
                    if self.reachable and (task is None or task.done() or (reader and reader.errors)):
                        if task is not None:
                            task.cancel()
                        reader = LiveReader(self.url, queries={"records": (RECORDS_QUERY,
                                                                           {"since": self._since_ms()})},
                                            admin_key=self.admin_key)
                        task = asyncio.create_task(reader.run())
                        subscribed_at = time.monotonic()
                records = reader.latest.get("records") if reader is not None else None
                error = reader.errors.get("records") if reader is not None else None
                if error:
                    self.problem = error
                elif records is None and reader is not None and time.monotonic() - subscribed_at > self.wait_s:
                    error = self.problem = "Convex answers but has not sent the team's records yet"
                if self.reachable and records is not None and not error:
                    if records is not shown:
                        shown = records
                        try:
                            yield await asyncio.to_thread(self.snapshot, records), self.info()
                        except GitorchError as exc:
                            yield None, self.info([_failure(exc)])
                elif self.reachable is False or error:
                    version = ("local", self.local.data_version())
                    if version != shown:
                        shown = version
                        snap = await asyncio.to_thread(self.local.snapshot)
                        info = self.info([self._fallback_notice()])
                        info["label"] = f"this machine · {self.local.path} (Convex unreachable)"
                        info["where"] = "this machine's store"
                        yield snap, info
                if reader is not None:
                    try:
                        await asyncio.wait_for(reader.updated.wait(), self.tick_s)
                    except TimeoutError:
                        pass
                    reader.updated.clear()
                else:
                    await asyncio.sleep(self.tick_s)
        finally:
            if task is not None:
                task.cancel()

    def close(self) -> None:
        self.local.close()
