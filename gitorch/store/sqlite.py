"""The embedded store: one SQLite file in the state directory (``.git/gitorch/state.db`` in a
repository, ``$GITORCH_HOME/state.db`` when set).

- WAL, a busy timeout, and ``BEGIN IMMEDIATE`` for every write, so several processes (a pre-push
  hook, a run, the dashboard) can write at once without "database is locked".
- One transaction per logical write (``with db:`` after ``BEGIN IMMEDIATE``: commit or roll back,
  outbox row included). Each thread (and each forked process) gets its own connection, kept open
  until ``close()``: closing the last connection of a WAL database checkpoints it, which made every
  write cost ~25 ms when connections were opened per call.
- Forward-only migrations: plain functions ``m001_...`` run in order on open and recorded by name
  with ``applied_at`` in ``migrations``. A shipped migration is never renamed or edited.
- Every write also enters the ``outbox`` in the same transaction: table, stable key, a version that
  grows with every change of that record, and this store's runner id. A newer version replaces a
  pending older one, so the outbox holds at most one unsent row per record.
- Datetimes are ISO 8601 UTC text (``2026-11-27T05:38:44.123456+00:00``), so they sort as text.
- The figures of a period (``metric_totals``, ``decision_counts``, ``feature_totals``, ...) read sums
  per UTC hour that triggers keep up to date (``HourlySums``), and the rows themselves only for the
  hours the period cuts through; money and time are summed in whole units (``gitorch.store.PICO``),
  so a sum is exact and does not depend on the order of its rows.
"""

from __future__ import annotations

import base64
import contextlib
import errno
import json
import os
import sqlite3
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, fields, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from ..errors import GitorchError
from ..model import (
    Artifact,
    Holder,
    InlineComment,
    Metric,
    Plan,
    Reservation,
    Reserved,
    Review,
    RoutingDecision,
    Run,
    RunStatus,
    SpendWindow,
    StepKey,
    Task,
    Usage,
    Verdict,
    WorkflowStep,
    iso,
    parse_iso,
    utcnow,
)
from ..redact import redact
from .values import NANO, PICO, check_pr_number, check_run_id, from_units

BUSY_TIMEOUT_S = 30.0

# -- time and JSON ------------------------------------------------------------------------------


def _where(*conditions: tuple[str, Any] | str) -> tuple[str, list[Any]]:
    """`` WHERE a AND b`` from ``(clause, value)`` pairs, leaving out those whose value is None,
    and from plain clauses (always kept); and the values in order."""
    clauses, values = [], []
    for condition in conditions:
        if isinstance(condition, str):
            clauses.append(condition)
        elif condition[1] is not None:
            clauses.append(condition[0])
            values.append(condition[1])
    return (" WHERE " + " AND ".join(clauses) if clauses else ""), values


def _units(column: str, scale: int) -> str:
    """SQL for ``gitorch.store.units(column, scale)``: a REAL column as whole ``1/scale`` units."""
    return f"CAST({column} * {float(scale)!r} + (CASE WHEN {column} < 0 THEN -0.5 ELSE 0.5 END) AS INTEGER)"


def _micros(column: str) -> str:
    """SQL for an ISO timestamp column as whole microseconds since 1970 (exact, unlike SQLite's
    own date functions, which keep milliseconds)."""
    return (f"(CAST(strftime('%s', substr({column}, 1, 19)) AS INTEGER) * 1000000 "
            f"+ CAST(substr({column}, 21, 6) AS INTEGER))")


def _json_default(value: Any) -> Any:
    if isinstance(value, datetime):
        return iso(value)
    if isinstance(value, bytes):
        return base64.b64encode(value).decode("ascii")
    if isinstance(value, Path):
        return str(value)
    raise TypeError(f"cannot store {type(value).__name__} as JSON")


def _dumps(value: Any) -> str:
    return json.dumps(value, default=_json_default, separators=(",", ":"), sort_keys=True)


def _loads(text: str | None, empty: Any = None) -> Any:
    return empty if text is None or text == "" else json.loads(text)


# -- migrations ---------------------------------------------------------------------------------

MIGRATIONS: list[Callable[[sqlite3.Connection], None]] = []


def migration(fn: Callable[[sqlite3.Connection], None]) -> Callable[[sqlite3.Connection], None]:
    """Register a forward migration; they run in the order they are defined."""
    MIGRATIONS.append(fn)
    return fn


def _execute_all(db: sqlite3.Connection, script: str) -> None:
    """Run ``;``-separated statements inside the current transaction (``executescript`` would
    commit first). Statements here hold no ``;`` in literals."""
    for statement in script.split(";"):
        if statement.strip():
            db.execute(statement)


@migration
def m001_initial(db: sqlite3.Connection) -> None:
    """The original design's schema: runs (sessions), plans with tasks, artifacts with review status
    and notes, reviews, metrics per agent call, routing decisions with their feedback."""
    _execute_all(db, """
        CREATE TABLE runs (
            id TEXT PRIMARY KEY,
            text TEXT NOT NULL,
            trigger TEXT NOT NULL,
            status TEXT NOT NULL,
            repo TEXT NOT NULL DEFAULT '',
            branch TEXT,
            pr_number INTEGER,
            issue_number INTEGER,
            verdict TEXT,
            rounds INTEGER NOT NULL DEFAULT 0,
            created_at TEXT NOT NULL,
            updated_at TEXT NOT NULL
        );
        CREATE INDEX runs_created ON runs(created_at);
        CREATE TABLE plans (
            id TEXT PRIMARY KEY,
            run_id TEXT,
            summary TEXT NOT NULL,
            created_at TEXT NOT NULL
        );
        CREATE INDEX plans_run ON plans(run_id, created_at);
        CREATE TABLE tasks (
            plan_id TEXT NOT NULL,
            id TEXT NOT NULL,
            position INTEGER NOT NULL,
            description TEXT NOT NULL,
            files TEXT NOT NULL DEFAULT '[]',
            assigned_to TEXT NOT NULL,
            depends_on TEXT NOT NULL DEFAULT '[]',
            estimated_lines INTEGER NOT NULL DEFAULT 0,
            task_type TEXT NOT NULL,
            status TEXT NOT NULL,
            PRIMARY KEY (plan_id, id)
        );
        CREATE TABLE artifacts (
            id TEXT PRIMARY KEY,
            run_id TEXT,
            task_id TEXT NOT NULL,
            path TEXT NOT NULL,
            content TEXT,
            agent TEXT NOT NULL,
            review_status TEXT NOT NULL DEFAULT 'pending',
            notes TEXT NOT NULL DEFAULT '',
            created_at TEXT NOT NULL,
            updated_at TEXT NOT NULL
        );
        CREATE INDEX artifacts_run ON artifacts(run_id, review_status);
        CREATE TABLE reviews (
            id INTEGER PRIMARY KEY,
            run_id TEXT NOT NULL,
            round INTEGER NOT NULL,
            verdict TEXT NOT NULL,
            summary TEXT NOT NULL,
            body TEXT NOT NULL,
            created_at TEXT NOT NULL
        );
        CREATE INDEX reviews_run ON reviews(run_id, round);
        CREATE TABLE metrics (
            id INTEGER PRIMARY KEY,
            agent TEXT NOT NULL,
            model TEXT NOT NULL,
            input_tokens INTEGER NOT NULL DEFAULT 0,
            output_tokens INTEGER NOT NULL DEFAULT 0,
            cost_usd REAL NOT NULL DEFAULT 0,
            task_type TEXT,
            duration_s REAL NOT NULL DEFAULT 0,
            run_id TEXT,
            created_at TEXT NOT NULL
        );
        CREATE INDEX metrics_created ON metrics(created_at);
        CREATE TABLE routing_decisions (
            id TEXT PRIMARY KEY,
            repo TEXT NOT NULL DEFAULT '',
            text TEXT NOT NULL,
            task_type TEXT NOT NULL,
            agent TEXT NOT NULL,
            confidence REAL NOT NULL,
            override_agent TEXT,
            agent_used TEXT,
            outcome TEXT,
            created_at TEXT NOT NULL
        )
    """)


@migration
def m002_ledger(db: sqlite3.Connection) -> None:
    """Cache tokens, the Claude-only baseline, step and fallback on metrics; budget events."""
    _execute_all(db, """
        ALTER TABLE metrics ADD COLUMN cache_creation_input_tokens INTEGER NOT NULL DEFAULT 0;
        ALTER TABLE metrics ADD COLUMN cache_read_input_tokens INTEGER NOT NULL DEFAULT 0;
        ALTER TABLE metrics ADD COLUMN estimated INTEGER NOT NULL DEFAULT 0;
        ALTER TABLE metrics ADD COLUMN baseline_cost_usd REAL NOT NULL DEFAULT 0;
        ALTER TABLE metrics ADD COLUMN step TEXT;
        ALTER TABLE metrics ADD COLUMN fallback INTEGER NOT NULL DEFAULT 0;
        UPDATE metrics SET baseline_cost_usd = cost_usd;
        CREATE INDEX metrics_run ON metrics(run_id);
        CREATE TABLE budget_events (
            id INTEGER PRIMARY KEY,
            kind TEXT NOT NULL,
            scope TEXT NOT NULL,
            period TEXT,
            message TEXT NOT NULL,
            run_id TEXT,
            created_at TEXT NOT NULL
        );
        CREATE UNIQUE INDEX budget_events_once ON budget_events(kind, scope, period) WHERE period IS NOT NULL;
        CREATE INDEX budget_events_created ON budget_events(created_at)
    """)


@migration
def m003_routing_details(db: sqlite3.Connection) -> None:
    """Every field of a RoutingDecision, and the router's learned state per repository."""
    _execute_all(db, """
        ALTER TABLE routing_decisions ADD COLUMN task_types TEXT NOT NULL DEFAULT '{}';
        ALTER TABLE routing_decisions ADD COLUMN scores TEXT NOT NULL DEFAULT '{}';
        ALTER TABLE routing_decisions ADD COLUMN reasoning TEXT NOT NULL DEFAULT '';
        ALTER TABLE routing_decisions ADD COLUMN workflow TEXT NOT NULL DEFAULT '[]';
        ALTER TABLE routing_decisions ADD COLUMN estimated_cost_usd REAL NOT NULL DEFAULT 0;
        ALTER TABLE routing_decisions ADD COLUMN estimated_saving_usd REAL NOT NULL DEFAULT 0;
        ALTER TABLE routing_decisions ADD COLUMN strategy TEXT NOT NULL DEFAULT 'keywords';
        ALTER TABLE routing_decisions ADD COLUMN estimates TEXT NOT NULL DEFAULT '{}';
        ALTER TABLE routing_decisions ADD COLUMN manual INTEGER NOT NULL DEFAULT 0;
        ALTER TABLE routing_decisions ADD COLUMN run_id TEXT;
        ALTER TABLE routing_decisions ADD COLUMN override_task_type TEXT;
        ALTER TABLE routing_decisions ADD COLUMN feedback_at TEXT;
        CREATE INDEX routing_decisions_repo ON routing_decisions(repo, created_at);
        CREATE INDEX routing_decisions_created ON routing_decisions(created_at);
        CREATE TABLE router_state (
            repo TEXT PRIMARY KEY,
            state BLOB NOT NULL,
            updated_at TEXT NOT NULL
        )
    """)


@migration
def m004_journal_outbox(db: sqlite3.Connection) -> None:
    """The run journal, the outbox drained to Convex, record versions and this store's runner id."""
    _execute_all(db, """
        CREATE TABLE journal (
            id INTEGER PRIMARY KEY,
            run_id TEXT NOT NULL,
            key TEXT NOT NULL,
            status TEXT NOT NULL CHECK (status IN ('started', 'finished')),
            data TEXT,
            result TEXT,
            attempts INTEGER NOT NULL DEFAULT 1,
            started_at TEXT NOT NULL,
            finished_at TEXT,
            UNIQUE (run_id, key)
        );
        CREATE TABLE record_versions (
            tbl TEXT NOT NULL,
            key TEXT NOT NULL,
            version INTEGER NOT NULL,
            PRIMARY KEY (tbl, key)
        );
        CREATE TABLE outbox (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            tbl TEXT NOT NULL,
            key TEXT NOT NULL,
            version INTEGER NOT NULL,
            runner TEXT NOT NULL,
            payload TEXT NOT NULL,
            created_at TEXT NOT NULL,
            attempts INTEGER NOT NULL DEFAULT 0,
            last_error TEXT,
            sent_at TEXT
        );
        CREATE INDEX outbox_pending ON outbox(sent_at, id);
        CREATE INDEX outbox_record ON outbox(tbl, key);
        CREATE TABLE meta (
            key TEXT PRIMARY KEY,
            value TEXT NOT NULL
        )
    """)
    db.execute("INSERT OR IGNORE INTO meta (key, value) VALUES ('runner_id', ?)", (f"runner-{uuid.uuid4().hex[:12]}",))


@migration
def m005_outbox_parking(db: sqlite3.Connection) -> None:
    """Refusals per outbox row, and when a row refused too often was parked (kept, no longer sent)."""
    _execute_all(db, """
        ALTER TABLE outbox ADD COLUMN refusals INTEGER NOT NULL DEFAULT 0;
        ALTER TABLE outbox ADD COLUMN parked_at TEXT
    """)


@migration
def m006_run_resume_after(db: sqlite3.Connection) -> None:
    """When a paused run may go on by itself."""
    _execute_all(db, """
        ALTER TABLE runs ADD COLUMN resume_after TEXT;
        CREATE INDEX runs_due ON runs(status, resume_after)
    """)


# -- sums per hour -------------------------------------------------------------------------------
#
# The figures of a period (a month of metrics, decisions, runs and their reviews) are sums over many
# rows. Triggers keep those sums per UTC hour in small tables, so a period reads its whole hours
# there and only the (at most two) hours it cuts through from the rows themselves.


@dataclass(frozen=True)
class HourlySums:
    """Sums of the rows of ``source`` that match ``where``, per UTC hour of ``at`` and per ``keys``,
    kept in table ``name``. ``tables`` names, per alias in ``source``, the table and the columns
    whose change moves a row's sums: triggers on them take the old row's sums out and put the new
    row's in."""

    name: str
    source: str
    tables: dict[str, tuple[str, str]]
    at: str
    keys: tuple[tuple[str, str], ...]
    sums: tuple[tuple[str, str], ...]
    where: str | None = None

    def _columns(self) -> str:
        return ", ".join(["hour", *(c for c, _ in self.keys), *(c for c, _ in self.sums)])

    def rows(self, sign: str = "") -> str:
        """SELECT of each matching row's contribution: its hour, keys and (signed) sums."""
        values = [f"substr({self.at}, 1, 13) AS hour", *(f"{e} AS {c}" for c, e in self.keys),
                  *(f"{sign}({e}) AS {c}" for c, e in self.sums)]
        return f"SELECT {', '.join(values)} FROM {self.source}"

    def schema(self) -> list[str]:
        """The table, its triggers, and the sums of the rows already there."""
        keys = [c for c, _ in self.keys]
        # Sums have no declared type, so each keeps the type of what it adds (counts stay integers).
        statements = [
            f"CREATE TABLE {self.name} (hour TEXT NOT NULL, {''.join(f'{k} TEXT NOT NULL, ' for k in keys)}"
            f"{''.join(f'{c} NOT NULL, ' for c, _ in self.sums)}PRIMARY KEY ({', '.join(['hour', *keys])})) "
            "WITHOUT ROWID",
            f"INSERT INTO {self.name} ({self._columns()}) SELECT hour, {''.join(f'{k}, ' for k in keys)}"
            f"{', '.join(f'SUM({c})' for c, _ in self.sums)} FROM ({self.rows()}"
            f"{f' WHERE {self.where}' if self.where else ''}) GROUP BY {', '.join(['hour', *keys])}",
        ]
        add = ", ".join(f"{c} = {c} + excluded.{c}" for c, _ in self.sums)
        for alias, (table, watched) in self.tables.items():
            for n, (when, event, row, sign) in enumerate((
                    ("AFTER", "INSERT", "NEW", ""), ("BEFORE", f"UPDATE OF {watched}", "OLD", "-"),
                    ("AFTER", f"UPDATE OF {watched}", "NEW", ""), ("BEFORE", "DELETE", "OLD", "-"))):
                where = " AND ".join([f"{alias}.rowid = {row}.rowid", *([self.where] if self.where else [])])
                statements.append(
                    f"CREATE TRIGGER {self.name}_{table}_{n} {when} {event} ON {table} BEGIN "
                    f"INSERT INTO {self.name} ({self._columns()}) {self.rows(sign)} WHERE {where} "
                    f"ON CONFLICT ({', '.join(['hour', *keys])}) DO UPDATE SET {add}; END")
        return statements

    def period(self, since: datetime | None, until: datetime | None) -> tuple[str, list[Any]]:
        """SQL for rows (``hour``, keys, sums) that add up to the period ``[since, until)``: the
        whole hours from the table, the hours the period cuts through from the rows."""
        first = None if since is None else _hour_start(since, up=True)
        last = None if until is None else _hour_start(until)

        def raw(lo: datetime | None, hi: datetime | None) -> tuple[str, list[Any]]:
            where, args = _where(*([self.where] if self.where else []), (f"{self.at} >= ?", iso(lo)),
                                 (f"{self.at} < ?", iso(hi)))
            return self.rows() + where, args

        if first is not None and last is not None and first >= last:  # no whole hour in it
            parts = [raw(since, until)]
        else:
            where, args = _where(("hour >= ?", _hour_key(first)), ("hour < ?", _hour_key(last)))
            parts = [(f"SELECT {self._columns()} FROM {self.name}{where}", args)]
            if since is not None and first != _utc(since):
                parts.append(raw(since, first))
            if until is not None and last != _utc(until):
                parts.append(raw(last, until))
        return " UNION ALL ".join(sql for sql, _ in parts), [a for _, args in parts for a in args]


def _utc(value: datetime) -> datetime:
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _hour_start(value: datetime, up: bool = False) -> datetime:
    """The UTC hour ``value`` falls in; with ``up``, the first hour starting at or after it."""
    start = _utc(value).replace(minute=0, second=0, microsecond=0)
    return start + timedelta(hours=1) if up and start != _utc(value) else start


def _hour_key(value: datetime | None) -> str | None:
    return None if value is None else iso(value)[:13]


# What ``decision_counts`` counts (see ``gitorch.stats.has_feedback`` and ``overridden``).
_OVERRIDDEN = ("((override_agent IS NOT NULL AND override_agent != agent) OR "
               "(override_task_type IS NOT NULL AND override_task_type != task_type))")
_FEEDBACK = ("(override_agent IS NOT NULL OR override_task_type IS NOT NULL OR agent_used IS NOT NULL "
             "OR outcome IS NOT NULL)")

METRIC_HOURS_M007 = HourlySums(
    "metric_hours", "metrics m",
    {"m": ("metrics", "created_at, agent, model, fallback, input_tokens, output_tokens, cache_creation_input_tokens, "
                      "cache_read_input_tokens, cost_usd, baseline_cost_usd, duration_s")},
    "m.created_at", keys=(("agent", "m.agent"), ("model", "m.model")),
    sums=(("calls", "1"), ("fallbacks", "m.fallback"), ("input_tokens", "m.input_tokens"),
          ("output_tokens", "m.output_tokens"), ("cache_creation_input_tokens", "m.cache_creation_input_tokens"),
          ("cache_read_input_tokens", "m.cache_read_input_tokens"), ("cost_pico", _units("m.cost_usd", PICO)),
          ("baseline_pico", _units("m.baseline_cost_usd", PICO)), ("duration_ns", _units("m.duration_s", NANO))))
# Since m009 the sums are also kept per reason (why the architect's ladder chose the model; '' for none).
METRIC_HOURS = replace(
    METRIC_HOURS_M007, tables={"m": ("metrics", METRIC_HOURS_M007.tables["m"][1] + ", reason")},
    keys=(*METRIC_HOURS_M007.keys, ("reason", "COALESCE(m.reason, '')")))
DECISION_HOURS = HourlySums(
    "decision_hours", "routing_decisions d",
    {"d": ("routing_decisions", "created_at, agent, task_type, override_agent, override_task_type, agent_used, "
                                "outcome")},
    "d.created_at", keys=(),
    sums=(("decisions", "1"), ("with_feedback", _FEEDBACK), ("overrides", _OVERRIDDEN),
          ("accepted", f"{_FEEDBACK} AND NOT {_OVERRIDDEN}")))
# A feature: a run done with an approving verdict (``gitorch.stats.completed``), counted when last updated.
FEATURE_HOURS = HourlySums(
    "feature_hours", "runs r", {"r": ("runs", "status, verdict, created_at, updated_at")},
    "r.updated_at", keys=(),
    sums=(("features", "1"), ("micros", f"{_micros('r.updated_at')} - {_micros('r.created_at')}")),
    where="r.status = 'done' AND r.verdict = 'approve'")
# Reviewed artifacts per agent, counted in the hour their run was created.
REVIEW_HOURS = HourlySums(
    "review_hours", "artifacts a JOIN runs r ON r.id = a.run_id",
    {"a": ("artifacts", "run_id, agent, review_status"), "r": ("runs", "id, created_at")},
    "r.created_at", keys=(("agent", "a.agent"),),
    sums=(("reviewed", "1"), ("approved", "a.review_status = 'approved'")),
    where="a.review_status IN ('approved', 'rejected')")


@migration
def m007_lookups_and_hourly_sums(db: sqlite3.Connection) -> None:
    """Indexes for a run by its pull request, the decision of a run, the metrics of a run by time
    (replaces ``metrics_run``) and the completed runs by when they finished; sums per hour of the
    metrics, decisions, features and reviews, kept by triggers."""
    _execute_all(db, """
        CREATE INDEX runs_pr ON runs(pr_number, created_at);
        CREATE INDEX runs_finished ON runs(status, verdict, updated_at);
        CREATE INDEX routing_decisions_run ON routing_decisions(run_id, created_at);
        CREATE INDEX metrics_run_created ON metrics(run_id, created_at);
        DROP INDEX metrics_run
    """)
    for sums in (METRIC_HOURS_M007, DECISION_HOURS, FEATURE_HOURS, REVIEW_HOURS):
        for statement in sums.schema():
            db.execute(statement)


@migration
def m008_claims_and_reservations(db: sqlite3.Connection) -> None:
    """Who drives each run (a lease with an expiry), and the estimated cost of paid calls in flight,
    held against the budget until their usage settles them."""
    _execute_all(db, """
        CREATE TABLE claims (
            run_id TEXT PRIMARY KEY,
            host TEXT NOT NULL,
            pid INTEGER NOT NULL,
            token TEXT NOT NULL,
            runner TEXT NOT NULL,
            since TEXT NOT NULL,
            expires_at TEXT NOT NULL
        );
        CREATE TABLE reservations (
            id TEXT PRIMARY KEY,
            run_id TEXT,
            model TEXT NOT NULL,
            usd REAL NOT NULL,
            created_at TEXT NOT NULL,
            expires_at TEXT NOT NULL,
            offline INTEGER NOT NULL DEFAULT 0
        );
        CREATE INDEX reservations_run ON reservations(run_id)
    """)


@migration
def m009_metric_reason(db: sqlite3.Connection) -> None:
    """Why each call used its model (the architect's ladder: "small change, tests pass", "concern:
    payments", "escalated: claude-haiku-5-5 rejected"); the hourly sums of metrics are kept per
    reason too (rebuilt from the rows)."""
    db.execute("ALTER TABLE metrics ADD COLUMN reason TEXT")
    for n in range(4):
        db.execute(f"DROP TRIGGER {METRIC_HOURS_M007.name}_metrics_{n}")
    db.execute(f"DROP TABLE {METRIC_HOURS_M007.name}")
    for statement in METRIC_HOURS.schema():
        db.execute(statement)


@migration
def m010_decision_shadows(db: sqlite3.Connection) -> None:
    """What each shadow strategy would have suggested for a decision (``routing.shadow``)."""
    db.execute("ALTER TABLE routing_decisions ADD COLUMN shadows TEXT NOT NULL DEFAULT '{}'")


def applied_migrations(db: sqlite3.Connection) -> list[str]:
    exists = db.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'migrations'").fetchone()
    if not exists:
        return []
    return [row[0] for row in db.execute("SELECT name FROM migrations ORDER BY rowid")]


def migrate(db: sqlite3.Connection, upto: str | None = None) -> list[str]:
    """Apply the missing migrations (inside the caller's transaction); returns the names applied.
    ``upto`` stops after that migration (tests build old schemas with it)."""
    db.execute("CREATE TABLE IF NOT EXISTS migrations (name TEXT PRIMARY KEY, applied_at TEXT NOT NULL)")
    done = set(applied_migrations(db))
    applied = []
    for fn in MIGRATIONS:
        if fn.__name__ not in done:
            fn(db)
            db.execute("INSERT INTO migrations (name, applied_at) VALUES (?, ?)", (fn.__name__, iso(utcnow())))
            applied.append(fn.__name__)
        if fn.__name__ == upto:
            break
    return applied


# -- rows to records ----------------------------------------------------------------------------

_DECISION_COLUMNS = (
    "id", "repo", "text", "task_type", "task_types", "agent", "confidence", "scores", "reasoning", "workflow",
    "estimated_cost_usd", "estimated_saving_usd", "strategy", "estimates", "manual", "run_id", "created_at",
    "override_agent", "override_task_type", "agent_used", "outcome", "feedback_at", "shadows",
)


def _workflow(d: RoutingDecision) -> list[dict[str, Any]]:
    return [{"agent": s.agent, "step": s.step, "confidence": s.confidence} for s in d.workflow]


def _decision_row(d: RoutingDecision) -> tuple[Any, ...]:
    return (
        d.id, d.repo, d.text, d.task_type, _dumps(d.task_types), d.agent, float(d.confidence), _dumps(d.scores),
        d.reasoning, _dumps(_workflow(d)), float(d.estimated_cost_usd),
        float(d.estimated_saving_usd), d.strategy, _dumps(d.estimates), int(d.manual), d.run_id, iso(d.created_at),
        d.override_agent, d.override_task_type, d.agent_used, d.outcome, None, _dumps(d.shadows),
    )


def _decision(row: sqlite3.Row) -> RoutingDecision:
    return RoutingDecision(
        id=row["id"], text=row["text"], task_type=row["task_type"], task_types=_loads(row["task_types"], {}),
        agent=row["agent"], confidence=row["confidence"], scores=_loads(row["scores"], {}),
        reasoning=row["reasoning"], workflow=[WorkflowStep(**s) for s in _loads(row["workflow"], [])],
        estimated_cost_usd=row["estimated_cost_usd"], estimated_saving_usd=row["estimated_saving_usd"],
        strategy=row["strategy"], estimates=_loads(row["estimates"], {}), manual=bool(row["manual"]),
        repo=row["repo"], run_id=row["run_id"], created_at=parse_iso(row["created_at"]),
        override_agent=row["override_agent"], override_task_type=row["override_task_type"],
        agent_used=row["agent_used"], outcome=row["outcome"], shadows=_loads(row["shadows"], {}),
    )


_DECISION_FIELDS = tuple(f.name for f in fields(RoutingDecision))


def _decision_payload(d: RoutingDecision, feedback_at: str | None = None) -> dict[str, Any]:
    """``RoutingDecision.as_json()`` plus ``feedback_at``, without ``asdict``'s deep copies (this
    runs for every decision of `gitorch route --batch`)."""
    payload = {name: getattr(d, name) for name in _DECISION_FIELDS}
    payload["decision_id"] = payload.pop("id")
    payload["workflow"] = _workflow(d)
    payload["created_at"] = iso(d.created_at)
    payload["feedback_at"] = feedback_at
    return payload


def _write_ahead_log(db: sqlite3.Connection) -> None:
    """Put the database in WAL mode. SQLite answers "locked" at once, without waiting, while another
    process opens the same new file; that is waited out here as ``busy_timeout`` waits elsewhere."""
    deadline = time.monotonic() + BUSY_TIMEOUT_S
    while True:
        try:
            db.execute("PRAGMA journal_mode = WAL")
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or time.monotonic() > deadline:
                raise
            time.sleep(0.02)


def _metric(row: sqlite3.Row) -> Metric:
    return Metric(
        agent=row["agent"], model=row["model"],
        usage=Usage(row["input_tokens"], row["output_tokens"], row["cache_creation_input_tokens"],
                    row["cache_read_input_tokens"], bool(row["estimated"])),
        cost_usd=row["cost_usd"], baseline_cost_usd=row["baseline_cost_usd"], duration_s=row["duration_s"],
        task_type=row["task_type"], run_id=row["run_id"], step=row["step"], fallback=bool(row["fallback"]),
        created_at=parse_iso(row["created_at"]), reason=row["reason"],
    )


def _holder(row: sqlite3.Row) -> Holder:
    return Holder(row["host"], row["pid"], row["token"], row["runner"], parse_iso(row["since"]),
                  parse_iso(row["expires_at"]))


def _run(row: sqlite3.Row) -> Run:
    return Run(
        id=row["id"], text=row["text"], trigger=row["trigger"], status=row["status"], repo=row["repo"],
        branch=row["branch"], pr_number=row["pr_number"], issue_number=row["issue_number"], verdict=row["verdict"],
        rounds=row["rounds"], created_at=parse_iso(row["created_at"]), updated_at=parse_iso(row["updated_at"]),
        resume_after=parse_iso(row["resume_after"]),
    )


def _task(row: sqlite3.Row) -> Task:
    return Task(
        id=row["id"], description=row["description"], files=_loads(row["files"], []),
        assigned_to=row["assigned_to"], depends_on=_loads(row["depends_on"], []),
        estimated_lines=row["estimated_lines"], task_type=row["task_type"], status=row["status"],
    )


def _artifact(row: sqlite3.Row) -> Artifact:
    return Artifact(
        path=row["path"], content=row["content"], task_id=row["task_id"], agent=row["agent"], run_id=row["run_id"],
        review_status=row["review_status"], notes=row["notes"], id=row["id"],
    )


def _review(body: dict[str, Any]) -> Review:
    return Review(
        verdict=body["verdict"], summary=body["summary"],
        artifacts=[Verdict(**v) for v in body.get("artifacts", [])],
        comments=[InlineComment(**c) for c in body.get("comments", [])],
        fix_tasks=[Task(**t) for t in body.get("fix_tasks", [])],
        round=body.get("round", 1), confidence=body.get("confidence"),
    )


def _journal_entry(row: sqlite3.Row) -> dict[str, Any]:
    return {
        "run_id": row["run_id"], "key": row["key"], "status": row["status"], "data": _loads(row["data"]),
        "result": _loads(row["result"]), "attempts": row["attempts"], "started_at": row["started_at"],
        "finished_at": row["finished_at"],
    }


class StoreError(GitorchError):
    """The state database could not be used: ``reason`` says why in a word (busy, full, read_only,
    damaged, cannot_open, missing, io, failed)."""

    def __init__(self, message: str, hint: str | None = None, *, reason: str = "failed"):
        super().__init__(message, hint)
        self.reason = reason


def store_error(path: Path, exc: sqlite3.DatabaseError) -> StoreError:
    """What a failure of SQLite means for the person, and what to do. Only a file that SQLite finds
    damaged gets the "move it aside" hint."""
    text = str(exc).lower()
    nothing = "nothing was changed"
    if "locked" in text or "busy" in text:
        return StoreError(f"the state database {path} is busy: another gitorch process held it for more than "
                          f"{BUSY_TIMEOUT_S:g} s", reason="busy",
                          hint=f"wait for the other gitorch command (a run, 'gitorch sync') to finish, then try "
                               f"again; {nothing}")
    if "full" in text or ("disk i/o" in text and _no_space(path)):
        return StoreError(f"the disk that holds the state database {path} is full", reason="full",
                          hint=f"free some space there, or point GITORCH_HOME at another disk; {nothing}")
    if "readonly" in text or "read-only" in text:
        return StoreError(f"the state database {path} is read-only", reason="read_only",
                          hint="make the file and its folder writable, or point GITORCH_HOME at a folder you can "
                               "write; commands that only read (gitorch stats, gitorch dashboard) still work")
    if "not a database" in text or "malformed" in text or "corrupt" in text:
        return StoreError(f"the state database {path} is damaged: {exc}", reason="damaged",
                          hint="move it aside; gitorch starts a new one and rebuilds a run it meets again from its "
                               "issue, pull request and branch before doing anything, so no work is done twice "
                               "(the old file keeps the costs and routing lessons)")
    if "unable to open" in text:
        return StoreError(f"cannot open the state database {path}: {exc}", reason="cannot_open",
                          hint="check that its folder exists and that you may write to it, or point GITORCH_HOME "
                               "at a folder you can write")
    if "disk i/o" in text:
        return StoreError(f"the disk that holds the state database {path} failed: {exc}", reason="io",
                          hint=f"check the disk and its free space, then try again; {nothing}")
    return StoreError(f"the state database {path} failed: {exc}", reason="failed",
                      hint="try again; if it keeps failing, run 'gitorch doctor'")


def _no_space(path: Path) -> bool:
    """Whether the filesystem that holds ``path`` has no free block left (SQLite reports a full disk
    as an I/O error when it cannot even map its shared-memory file)."""
    try:
        return os.statvfs(path.parent).f_bavail == 0
    except OSError:
        return False


def _translated(path: Path, exc: sqlite3.DatabaseError) -> Exception:
    """``exc`` as a ``StoreError`` when it is about the database itself; a constraint or a programming
    error stays what it is (a bug, not the person's problem)."""
    if isinstance(exc, (sqlite3.IntegrityError, sqlite3.ProgrammingError, sqlite3.InterfaceError)):
        return exc
    return store_error(path, exc)


class SqliteStore:
    """The ``Store`` protocol over one SQLite file. Safe to use from several threads and processes."""

    def __init__(self, path: str | Path, *, read_only: bool = False):
        """``read_only``: open an existing file without ever writing to it (no migration, no WAL
        files created), for commands that only read, on a store they may not write."""
        self.path = Path(path).expanduser()
        self.read_only = read_only
        self._uri: str | None = None
        self._local = threading.local()
        self._lock = threading.Lock()
        # (pid, thread) that opened each connection, so close() and dead threads' leftovers can be found
        self._connections: list[tuple[int, threading.Thread, sqlite3.Connection]] = []
        self._generation = 0
        if read_only:
            if not self.path.is_file():
                raise StoreError(f"there is no state database at {self.path} yet", reason="missing",
                                 hint="it is made by the first command that records something ('gitorch route ...')")
            self._uri = self._read_only_uri()
        else:
            try:
                self.path.parent.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                raise StoreError(f"cannot create the state folder {self.path.parent}: {exc.strerror}",
                                 hint="make it writable, or point GITORCH_HOME at a folder you can write",
                                 reason="read_only" if exc.errno in (errno.EROFS, errno.EACCES, errno.EPERM)
                                 else "cannot_open") from exc
        try:
            db = self._connection()
            if not read_only:
                _write_ahead_log(db)
                if len(applied_migrations(db)) < len(MIGRATIONS):
                    with self._write() as db:
                        migrate(db)
            elif len(applied_migrations(db)) < len(MIGRATIONS):
                raise StoreError(f"the state database {self.path} was written by an older gitorch and cannot be "
                                 "upgraded while it is read-only", reason="read_only",
                                 hint="run one command that writes (such as 'gitorch route ...') where it is writable")
            self.runner = db.execute("SELECT value FROM meta WHERE key = 'runner_id'").fetchone()[0]
        except sqlite3.DatabaseError as exc:
            self.close()
            raise store_error(self.path, exc) from exc
        except StoreError:
            self.close()
            raise

    def _read_only_uri(self) -> str:
        """A URI that opens the file without writing: ``mode=ro``, or, where SQLite cannot even create
        the WAL's shared-memory file there (a read-only folder), ``immutable=1``."""
        from urllib.parse import quote

        base = f"file:{quote(str(self.path.resolve()))}"
        try:
            probe = sqlite3.connect(f"{base}?mode=ro", uri=True)
            try:
                probe.execute("SELECT count(*) FROM sqlite_master").fetchone()
                return f"{base}?mode=ro"
            finally:
                probe.close()
        except sqlite3.OperationalError:
            return f"{base}?immutable=1"

    def reading_uri(self) -> str:
        """A URI that opens this database for reading only (a watcher's second connection)."""
        from urllib.parse import quote

        return self._uri or f"file:{quote(str(self.path))}?mode=ro"

    # -- connections -------------------------------------------------------------------------------

    def _connection(self) -> sqlite3.Connection:
        """This thread's connection, opened on first use (again after a fork or ``close()``).
        Connections of threads that have ended (a server's request threads) are closed here."""
        local = self._local
        if getattr(local, "db", None) is None or local.pid != os.getpid() or local.generation != self._generation:
            if self._uri is not None:
                db = sqlite3.connect(self._uri, uri=True, timeout=BUSY_TIMEOUT_S, isolation_level=None,
                                     check_same_thread=False)
            else:
                db = sqlite3.connect(self.path, timeout=BUSY_TIMEOUT_S, isolation_level=None, check_same_thread=False)
            db.row_factory = sqlite3.Row
            if self._uri is None:
                db.execute("PRAGMA synchronous = NORMAL")
            local.db, local.pid, local.generation = db, os.getpid(), self._generation
            pid = os.getpid()
            with self._lock:
                ended = [c for c in self._connections if c[0] == pid and not c[1].is_alive()]
                self._connections = [c for c in self._connections if c not in ended]
                self._connections.append((pid, threading.current_thread(), db))
            for _, _, old in ended:
                old.close()
        return local.db

    @contextlib.contextmanager
    def _read(self) -> Iterator[sqlite3.Connection]:
        try:
            yield self._connection()
        except sqlite3.DatabaseError as exc:
            error = _translated(self.path, exc)
            if error is exc:
                raise
            raise error from exc

    @contextlib.contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        """One transaction, taking the write lock up front so that a busy database waits
        (busy_timeout) instead of failing half-way. Commits at the end, rolls back on error.
        A store that cannot be written (busy past the timeout, a full disk, read-only) raises
        ``StoreError`` saying which, and nothing of the transaction is kept."""
        db = self._connection()
        try:
            db.execute("BEGIN IMMEDIATE")
            with db:
                yield db
        except sqlite3.DatabaseError as exc:
            error = _translated(self.path, exc)
            if error is exc:
                raise
            raise error from exc

    def _enqueue(self, db: sqlite3.Connection, table: str, key: str, payload: dict[str, Any]) -> None:
        """Put a record into the outbox inside the caller's transaction."""
        self._enqueue_many(db, table, [(key, payload)])

    def _enqueue_many(self, db: sqlite3.Connection, table: str, items: list[tuple[str, dict[str, Any]]]) -> None:
        """Outbox rows for many records at once: each record's version grows by one, and its new
        row replaces an unsent older one. A key given twice counts once (its last payload)."""
        latest = dict(items)
        now = iso(utcnow())
        db.executemany(
            "INSERT INTO record_versions (tbl, key, version) VALUES (?, ?, 1) "
            "ON CONFLICT (tbl, key) DO UPDATE SET version = version + 1",
            [(table, key) for key in latest],
        )
        db.executemany("DELETE FROM outbox WHERE tbl = ? AND key = ? AND sent_at IS NULL",
                       [(table, key) for key in latest])
        db.executemany(
            "INSERT INTO outbox (tbl, key, version, runner, payload, created_at) "
            "SELECT tbl, key, version, ?, ?, ? FROM record_versions WHERE tbl = ? AND key = ?",
            [(self.runner, _dumps(payload), now, table, key) for key, payload in latest.items()],
        )

    def schema_version(self) -> list[str]:
        """The migrations applied, in order."""
        with self._read() as db:
            return applied_migrations(db)

    # -- routing ---------------------------------------------------------------------------------

    def record_decision(self, decision: RoutingDecision) -> None:
        self.record_decisions([decision])

    def record_decisions(self, decisions: list[RoutingDecision]) -> None:
        if not decisions:
            return
        placeholders = ", ".join("?" * len(_DECISION_COLUMNS))
        updates = ", ".join(f"{c} = excluded.{c}" for c in _DECISION_COLUMNS if c not in ("id", "feedback_at"))
        with self._write() as db:
            db.executemany(
                f"INSERT INTO routing_decisions ({', '.join(_DECISION_COLUMNS)}) VALUES ({placeholders}) "
                f"ON CONFLICT (id) DO UPDATE SET {updates}",
                [_decision_row(d) for d in decisions],
            )
            items = []
            for d in decisions:
                feedback_at = None
                if any(v is not None for v in (d.override_agent, d.override_task_type, d.agent_used, d.outcome)):
                    feedback_at = db.execute("SELECT feedback_at FROM routing_decisions WHERE id = ?",
                                             (d.id,)).fetchone()[0]
                items.append((d.id, _decision_payload(d, feedback_at)))
            self._enqueue_many(db, "routing_decisions", items)

    def get_decision(self, decision_id: str) -> RoutingDecision | None:
        with self._read() as db:
            row = db.execute("SELECT * FROM routing_decisions WHERE id = ?", (decision_id,)).fetchone()
        return _decision(row) if row else None

    def record_feedback(
        self,
        decision_id: str,
        *,
        override_agent: str | None = None,
        override_task_type: str | None = None,
        agent_used: str | None = None,
        outcome: str | None = None,
    ) -> RoutingDecision:
        if outcome is not None and outcome not in ("success", "failure"):
            raise GitorchError(f"outcome {outcome!r} is not known", hint="use 'success' or 'failure'")
        with self._write() as db:
            row = db.execute("SELECT * FROM routing_decisions WHERE id = ?", (decision_id,)).fetchone()
            if row is None:
                raise GitorchError(
                    f"no routing decision with id {decision_id!r} in {self.path}",
                    hint="use the decision_id that 'gitorch route --json' printed (run it in the same repository, "
                         "or with the same GITORCH_HOME)",
                )
            decision = _decision(row)
            for name, value in (("override_agent", override_agent), ("override_task_type", override_task_type),
                                ("agent_used", agent_used), ("outcome", outcome)):
                if value is not None:
                    setattr(decision, name, value)
            feedback_at = iso(utcnow())
            db.execute(
                "UPDATE routing_decisions SET override_agent = ?, override_task_type = ?, agent_used = ?, "
                "outcome = ?, feedback_at = ? WHERE id = ?",
                (decision.override_agent, decision.override_task_type, decision.agent_used, decision.outcome,
                 feedback_at, decision_id),
            )
            self._enqueue(db, "routing_decisions", decision.id, _decision_payload(decision, feedback_at))
        return decision

    def recent_decisions(self, repo: str | None = None, limit: int = 50) -> list[RoutingDecision]:
        """Newest first; ``repo=None`` means every repository."""
        where, args = _where(("repo = ?", repo))
        sql = f"SELECT * FROM routing_decisions{where} ORDER BY created_at DESC, rowid DESC LIMIT ?"
        with self._read() as db:
            return [_decision(r) for r in db.execute(sql, (*args, limit))]

    def judged_decisions(self, repo: str, limit: int = 500) -> list[RoutingDecision]:
        """This repository's newest ``limit`` decisions that have feedback, newest first."""
        sql = ("SELECT * FROM routing_decisions WHERE repo = ? AND feedback_at IS NOT NULL "
               "ORDER BY feedback_at DESC, rowid DESC LIMIT ?")
        with self._read() as db:
            return [_decision(r) for r in db.execute(sql, (repo, limit))]

    def decisions_since(self, since: datetime, until: datetime | None = None) -> list[RoutingDecision]:
        """Oldest first, created at or after ``since`` (and before ``until`` when given)."""
        where, args = _where(("created_at >= ?", iso(since)), ("created_at < ?", iso(until)))
        with self._read() as db:
            return [_decision(r) for r in db.execute(f"SELECT * FROM routing_decisions{where} "
                                                     "ORDER BY created_at, rowid", args)]

    def decision_for_run(self, run_id: str) -> RoutingDecision | None:
        """The newest decision recorded for run ``run_id``, or None."""
        with self._read() as db:
            row = db.execute("SELECT * FROM routing_decisions WHERE run_id = ? "
                             "ORDER BY created_at DESC, rowid DESC LIMIT 1", (check_run_id(run_id),)).fetchone()
        return _decision(row) if row else None

    def decision_counts(self, since: datetime, until: datetime | None = None) -> dict[str, int]:
        """Over a period: ``decisions``; ``with_feedback`` (any of override, agent used, outcome);
        ``overrides`` (a person chose another agent or another task type, as
        ``gitorch.stats.overridden`` says); ``accepted`` (feedback without override)."""
        rows, args = DECISION_HOURS.period(since, until)
        sql = ("SELECT COALESCE(SUM(decisions), 0) AS decisions, COALESCE(SUM(with_feedback), 0) AS with_feedback, "
               f"COALESCE(SUM(overrides), 0) AS overrides, COALESCE(SUM(accepted), 0) AS accepted FROM ({rows})")
        with self._read() as db:
            return dict(db.execute(sql, args).fetchone())

    def decision_counts_by_day(self, since: datetime, until: datetime | None = None) -> list[dict[str, Any]]:
        """``decision_counts`` per UTC day with a decision, oldest first, each with its ``day``
        (``YYYY-MM-DD``)."""
        rows, args = DECISION_HOURS.period(since, until)
        sql = ("SELECT substr(hour, 1, 10) AS day, SUM(decisions) AS decisions, SUM(with_feedback) AS with_feedback, "
               f"SUM(overrides) AS overrides, SUM(accepted) AS accepted FROM ({rows}) "
               "GROUP BY day HAVING SUM(decisions) > 0 ORDER BY day")
        with self._read() as db:
            return [dict(r) for r in db.execute(sql, args)]

    def load_router_state(self, repo: str) -> bytes | None:
        with self._read() as db:
            row = db.execute("SELECT state FROM router_state WHERE repo = ?", (repo,)).fetchone()
        return bytes(row[0]) if row else None

    def save_router_state(self, repo: str, state: bytes) -> None:
        self.update_router_state(repo, lambda _stored: state)

    def update_router_state(self, repo: str, change: Callable[[bytes | None], bytes]) -> None:
        """``change`` maps the state stored now to the new one, in one write transaction: no other
        process saves between the read and the write."""
        now = iso(utcnow())
        with self._write() as db:
            row = db.execute("SELECT state FROM router_state WHERE repo = ?", (repo,)).fetchone()
            state = change(bytes(row[0]) if row else None)
            db.execute(
                "INSERT INTO router_state (repo, state, updated_at) VALUES (?, ?, ?) "
                "ON CONFLICT (repo) DO UPDATE SET state = excluded.state, updated_at = excluded.updated_at",
                (repo, sqlite3.Binary(state), now),
            )
            self._enqueue(db, "router_state", repo or "(default)", {"repo": repo, "state": state, "updated_at": now})

    # -- the ledger ------------------------------------------------------------------------------

    def record_metric(self, metric: Metric) -> None:
        with self._write() as db:
            self._insert_metric(db, metric)

    def _insert_metric(self, db: sqlite3.Connection, metric: Metric) -> None:
        u = metric.usage
        cursor = db.execute(
            "INSERT INTO metrics (agent, model, input_tokens, output_tokens, cache_creation_input_tokens, "
            "cache_read_input_tokens, estimated, cost_usd, baseline_cost_usd, duration_s, task_type, run_id, "
            "step, fallback, created_at, reason) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (metric.agent, metric.model, u.input_tokens, u.output_tokens, u.cache_creation_input_tokens,
             u.cache_read_input_tokens, int(u.estimated), float(metric.cost_usd), float(metric.baseline_cost_usd),
             float(metric.duration_s), metric.task_type, metric.run_id, metric.step, int(metric.fallback),
             iso(metric.created_at), metric.reason),
        )
        self._enqueue(db, "metrics", f"{self.runner}:{cursor.lastrowid}", asdict(metric))

    def metrics_since(self, since: datetime, until: datetime | None = None,
                      run_id: str | None = None) -> list[Metric]:
        """Oldest first, created at or after ``since``; optionally before ``until`` and for one run
        (then through the index on run and time)."""
        where, args = _where(("run_id = ?", run_id), ("created_at >= ?", iso(since)), ("created_at < ?", iso(until)))
        with self._read() as db:
            return [_metric(r) for r in db.execute(f"SELECT * FROM metrics{where} ORDER BY created_at, id", args)]

    def run_metrics(self, run_id: str) -> list[Metric]:
        """Every metric of run ``run_id``, oldest first."""
        with self._read() as db:
            return [_metric(r) for r in db.execute("SELECT * FROM metrics WHERE run_id = ? ORDER BY created_at, id",
                                                   (check_run_id(run_id),))]

    def run_costs(self, run_ids: list[str]) -> dict[str, dict[str, Any]]:
        """For each of ``run_ids``: ``calls``, ``cost_usd`` and ``baseline_cost_usd`` over all its
        metrics (zeros for a run without any)."""
        found = {check_run_id(i): {"calls": 0, "cost_usd": 0.0, "baseline_cost_usd": 0.0} for i in run_ids}
        ids = list(found)
        with self._read() as db:
            for start in range(0, len(ids), 500):
                chunk = ids[start:start + 500]
                rows = db.execute(f"SELECT run_id, COUNT(*) AS calls, SUM({_units('cost_usd', PICO)}) AS cost_pico, "
                                  f"SUM({_units('baseline_cost_usd', PICO)}) AS baseline_pico FROM metrics "
                                  f"WHERE run_id IN ({', '.join('?' * len(chunk))}) GROUP BY run_id", chunk)
                for r in rows:
                    totals = from_units(r)
                    found[totals.pop("run_id")] = totals
        return found

    def metric_totals(self, since: datetime, until: datetime | None = None) -> list[dict[str, Any]]:
        """Sums per agent, model and reason over a period: ``agent``, ``model``, ``reason`` (None when
        none was given), ``calls``, ``fallbacks``, the four token counts as named in ``Usage``,
        ``cost_usd``, ``baseline_cost_usd``, ``duration_s``."""
        rows, args = METRIC_HOURS.period(since, until)
        sql = ("SELECT agent, model, NULLIF(reason, '') AS reason, SUM(calls) AS calls, SUM(fallbacks) AS fallbacks, "
               "SUM(input_tokens) AS input_tokens, SUM(output_tokens) AS output_tokens, "
               "SUM(cache_creation_input_tokens) AS cache_creation_input_tokens, "
               "SUM(cache_read_input_tokens) AS cache_read_input_tokens, SUM(cost_pico) AS cost_pico, "
               f"SUM(baseline_pico) AS baseline_pico, SUM(duration_ns) AS duration_ns FROM ({rows}) "
               "GROUP BY agent, model, reason HAVING SUM(calls) > 0 ORDER BY agent, model, reason")
        with self._read() as db:
            return [from_units(r) for r in db.execute(sql, args)]

    def metric_totals_by_day(self, since: datetime, until: datetime | None = None) -> list[dict[str, Any]]:
        """Sums per UTC day and agent over a period, oldest day first: ``day`` (``YYYY-MM-DD``),
        ``agent``, ``calls``, ``tokens`` (input, output and both cache counts), ``cost_usd``,
        ``baseline_cost_usd``."""
        rows, args = METRIC_HOURS.period(since, until)
        sql = ("SELECT substr(hour, 1, 10) AS day, agent, SUM(calls) AS calls, "
               "SUM(input_tokens + output_tokens + cache_creation_input_tokens + cache_read_input_tokens) AS tokens, "
               f"SUM(cost_pico) AS cost_pico, SUM(baseline_pico) AS baseline_pico FROM ({rows}) "
               "GROUP BY day, agent HAVING SUM(calls) > 0 ORDER BY day, agent")
        with self._read() as db:
            return [from_units(r) for r in db.execute(sql, args)]

    def spent_usd(self, since: datetime | None = None, run_id: str | None = None,
                  until: datetime | None = None) -> float:
        """Marginal spending recorded since ``since`` (all time when None) and before ``until``,
        or by one run."""
        with self._read() as db:
            return self._spent(db, since, until, run_id)

    @staticmethod
    def _spent(db: sqlite3.Connection, since: datetime | None, until: datetime | None, run_id: str | None) -> float:
        if run_id is not None:
            where, args = _where(("run_id = ?", run_id), ("created_at >= ?", iso(since)),
                                 ("created_at < ?", iso(until)))
            sql = f"SELECT COALESCE(SUM({_units('cost_usd', PICO)}), 0) FROM metrics{where}"
        else:
            rows, args = METRIC_HOURS.period(since, until)
            sql = f"SELECT COALESCE(SUM(cost_pico), 0) FROM ({rows})"
        return db.execute(sql, args).fetchone()[0] / PICO

    # -- the budget: reservations of calls in flight ------------------------------------------------

    def reserve(self, reservation: Reservation, windows: list[SpendWindow]) -> Reserved:
        """Hold ``reservation`` against every window at once, in one transaction: granted only when
        each window's spending, plus what calls in flight reserved, plus this one stays within its
        limit. Reservations past their expiry (a crashed process's) no longer count."""
        with self._write() as db:
            db.execute("DELETE FROM reservations WHERE expires_at <= ?", (iso(utcnow()),))
            committed = []
            for window in windows:
                where, args = _where(("run_id = ?", window.run_id))
                held = db.execute(f"SELECT COALESCE(SUM(usd), 0) FROM reservations{where}", args).fetchone()[0]
                committed.append(self._spent(db, window.since, window.until, window.run_id) + held)
            granted = all(c + reservation.usd <= w.limit_usd + 1e-9 for c, w in zip(committed, windows, strict=True))
            if granted:
                db.execute("INSERT INTO reservations (id, run_id, model, usd, created_at, expires_at) "
                           "VALUES (?, ?, ?, ?, ?, ?)",
                           (reservation.id, reservation.run_id, reservation.model, reservation.usd,
                            iso(reservation.created_at), iso(reservation.expires_at)))
        return Reserved(granted, committed)

    def settle(self, reservation: Reservation | None, metric: Metric) -> None:
        """The call is made: its ledger row replaces its reservation, in one transaction (a call
        made without one, a builder priced after the fact, just adds its row)."""
        with self._write() as db:
            if reservation is not None:
                db.execute("DELETE FROM reservations WHERE id = ?", (reservation.id,))
            self._insert_metric(db, metric)

    def record_spend(self, metric: Metric, reservation_id: str, totals: list[str]) -> None:
        """A team runner's paid call: its ledger row and the ``spend`` record that settles its
        reservation in Convex (``totals``: the team totals it adds to), in one transaction, so the
        team learns what every recorded call cost once the outbox delivers it."""
        with self._write() as db:
            self._insert_metric(db, metric)
            self._enqueue(db, "spend", reservation_id, {"reservation_id": reservation_id, "run_id": metric.run_id,
                                                   "usd": metric.cost_usd, "totals": totals,
                                                   "created_at": metric.created_at})

    def release(self, reservation: Reservation) -> None:
        """The call was not made, or failed without an answer: its reservation no longer counts."""
        with self._write() as db:
            db.execute("DELETE FROM reservations WHERE id = ?", (reservation.id,))

    def first_alert(self, key: str) -> bool:
        """A machine of its own: the alert this store recorded first (``record_budget_event``) is news."""
        return True

    def reserved_usd(self, run_id: str | None = None) -> float:
        """What calls in flight hold now (of one run, or all)."""
        where, args = _where(("expires_at > ?", iso(utcnow())), ("run_id = ?", run_id))
        with self._read() as db:
            return db.execute(f"SELECT COALESCE(SUM(usd), 0) FROM reservations{where}", args).fetchone()[0]

    # -- claims: one process drives a run at a time --------------------------------------------------

    def claim(self, run_id: str, holder: Holder, lease_s: float, *, take_over: Holder | None = None) -> Holder:
        """Take or renew the claim on ``run_id`` for ``lease_s`` seconds, in one transaction; returns
        who holds it now: ``holder`` (with its ``since`` and ``expires_at``), or another live one.
        ``take_over``: a holder known to be dead (its process is gone), whose claim is taken at once."""
        now = utcnow()
        with self._write() as db:
            row = db.execute("SELECT * FROM claims WHERE run_id = ?", (run_id,)).fetchone()
            dead = take_over is not None and row is not None and row["token"] == take_over.token
            if row is not None and row["token"] != holder.token and parse_iso(row["expires_at"]) > now and not dead:
                return _holder(row)
            since = parse_iso(row["since"]) if row is not None and row["token"] == holder.token else now
            expires = now + timedelta(seconds=lease_s)
            db.execute("INSERT OR REPLACE INTO claims (run_id, host, pid, token, runner, since, expires_at) "
                       "VALUES (?, ?, ?, ?, ?, ?, ?)", (run_id, holder.host, holder.pid, holder.token, holder.runner,
                                                      iso(since), iso(expires)))
        return Holder(holder.host, holder.pid, holder.token, holder.runner, since, expires)

    def renew(self, run_id: str, holder: Holder, lease_s: float) -> bool:
        """Keep the claim for ``lease_s`` more seconds; False when it is no longer ``holder``'s."""
        with self._write() as db:
            cursor = db.execute("UPDATE claims SET expires_at = ? WHERE run_id = ? AND token = ?",
                                (iso(utcnow() + timedelta(seconds=lease_s)), run_id, holder.token))
        return cursor.rowcount == 1

    def release_claim(self, run_id: str, holder: Holder) -> None:
        with self._write() as db:
            db.execute("DELETE FROM claims WHERE run_id = ? AND token = ?", (run_id, holder.token))

    def holder(self, run_id: str) -> Holder | None:
        """Who holds ``run_id`` now (None: nobody, or the claim lapsed)."""
        with self._read() as db:
            row = db.execute("SELECT * FROM claims WHERE run_id = ? AND expires_at > ?",
                             (run_id, iso(utcnow()))).fetchone()
        return _holder(row) if row is not None else None

    def record_budget_event(self, kind: str, scope: str, message: str, run_id: str | None = None,
                            period: str | None = None) -> bool:
        """Record an alert or a pause. With ``period`` (e.g. ``2026-11`` or ``run-abc:80``) it is
        recorded once: returns False when the same kind, scope and period is there already."""
        now = iso(utcnow())
        with self._write() as db:
            cursor = db.execute(
                "INSERT OR IGNORE INTO budget_events (kind, scope, period, message, run_id, created_at) "
                "VALUES (?, ?, ?, ?, ?, ?)",
                (kind, scope, period, message, run_id, now),
            )
            if cursor.rowcount == 0:
                return False
            self._enqueue(db, "budget_events", f"{self.runner}:{cursor.lastrowid}",
                          {"kind": kind, "scope": scope, "period": period, "message": message, "run_id": run_id,
                           "created_at": now})
        return True

    def budget_events(self, since: datetime | None = None, kind: str | None = None) -> list[dict[str, Any]]:
        """Oldest first."""
        where, args = _where(("created_at >= ?", iso(since)), ("kind = ?", kind))
        with self._read() as db:
            return [dict(r) for r in db.execute("SELECT kind, scope, period, message, run_id, created_at "
                                                f"FROM budget_events{where} ORDER BY created_at, id", args)]

    # -- runs, plans, artifacts, reviews -----------------------------------------------------------

    def save_run(self, run: Run) -> None:
        """Insert or update by id; stamps ``run.updated_at``."""
        run.updated_at = utcnow()
        with self._write() as db:
            db.execute(
                "INSERT INTO runs (id, text, trigger, status, repo, branch, pr_number, issue_number, verdict, rounds, "
                "created_at, updated_at, resume_after) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) "
                "ON CONFLICT (id) DO UPDATE SET "
                "text = excluded.text, trigger = excluded.trigger, status = excluded.status, repo = excluded.repo, "
                "branch = excluded.branch, pr_number = excluded.pr_number, issue_number = excluded.issue_number, "
                "verdict = excluded.verdict, rounds = excluded.rounds, updated_at = excluded.updated_at, "
                "resume_after = excluded.resume_after",
                (run.id, run.text, run.trigger, run.status, run.repo, run.branch, run.pr_number, run.issue_number,
                 run.verdict, run.rounds, iso(run.created_at), iso(run.updated_at), iso(run.resume_after)),
            )
            self._enqueue(db, "runs", run.id, asdict(run))

    def get_run(self, run_id: str) -> Run | None:
        with self._read() as db:
            row = db.execute("SELECT * FROM runs WHERE id = ?", (run_id,)).fetchone()
        return _run(row) if row else None

    def runs_due(self, now: datetime) -> list[Run]:
        """Runs to continue now, the longest waiting first: paused runs whose ``resume_after`` has
        come, and runs left going by a process that died (no live claim on them)."""
        going = ", ".join(f"'{s}'" for s in RunStatus if s.going)
        with self._read() as db:
            return [_run(r) for r in db.execute(
                "SELECT * FROM runs WHERE (status = 'paused' AND resume_after <= ?) OR (status IN "
                f"({going}) AND NOT EXISTS (SELECT 1 FROM claims c WHERE c.run_id = runs.id AND c.expires_at > ?)) "
                "ORDER BY COALESCE(resume_after, updated_at), created_at", (iso(now), iso(now)))]

    def list_runs(self, limit: int = 50) -> list[Run]:
        """Newest first."""
        with self._read() as db:
            return [_run(r) for r in db.execute("SELECT * FROM runs ORDER BY created_at DESC, rowid DESC LIMIT ?",
                                                (limit,))]

    def run_for_pr(self, pr_number: int, repo: str | None = None) -> Run | None:
        """The newest run with pull request ``pr_number`` (in ``repo`` when given), or None."""
        where, args = _where(("pr_number = ?", check_pr_number(pr_number)), ("repo = ?", repo))
        with self._read() as db:
            row = db.execute(f"SELECT * FROM runs{where} ORDER BY created_at DESC, rowid DESC LIMIT 1",
                             args).fetchone()
        return _run(row) if row else None

    def feature_totals(self, since: datetime, until: datetime | None = None) -> dict[str, Any]:
        """The runs completed in a period (status ``done``, verdict ``approve``, as
        ``gitorch.stats.completed`` says; counted when last updated): ``features`` and ``seconds``,
        the sum of their times from start to last update."""
        rows, args = FEATURE_HOURS.period(since, until)
        sql = f"SELECT COALESCE(SUM(features), 0), COALESCE(SUM(micros), 0) FROM ({rows})"
        with self._read() as db:
            features, micros = db.execute(sql, args).fetchone()
        return {"features": features, "seconds": micros / 1_000_000}

    def review_counts(self, since: datetime, until: datetime | None = None) -> dict[str, dict[str, int]]:
        """Per agent, over the artifacts of the runs started in a period: ``reviewed`` (approved or
        rejected) and ``approved``; agents without a reviewed artifact are left out."""
        rows, args = REVIEW_HOURS.period(since, until)
        sql = (f"SELECT agent, SUM(reviewed) AS reviewed, SUM(approved) AS approved FROM ({rows}) "
               "GROUP BY agent HAVING SUM(reviewed) > 0 ORDER BY agent")
        with self._read() as db:
            return {r["agent"]: {"reviewed": r["reviewed"], "approved": r["approved"]} for r in db.execute(sql, args)}

    def save_plan(self, plan: Plan) -> None:
        """Insert or replace a plan with its tasks (in the plan's order)."""
        with self._write() as db:
            db.execute(
                "INSERT INTO plans (id, run_id, summary, created_at) VALUES (?, ?, ?, ?) ON CONFLICT (id) DO UPDATE "
                "SET run_id = excluded.run_id, summary = excluded.summary",
                (plan.id, plan.run_id, plan.summary, iso(plan.created_at)),
            )
            db.execute("DELETE FROM tasks WHERE plan_id = ?", (plan.id,))
            db.executemany(
                "INSERT INTO tasks (plan_id, id, position, description, files, assigned_to, depends_on, "
                "estimated_lines, task_type, status) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [(plan.id, t.id, i, t.description, _dumps(t.files), t.assigned_to, _dumps(t.depends_on),
                  t.estimated_lines, t.task_type, t.status) for i, t in enumerate(plan.tasks)],
            )
            self._enqueue(db, "plans", plan.id, asdict(plan))

    def _plan(self, db: sqlite3.Connection, row: sqlite3.Row | None) -> Plan | None:
        if row is None:
            return None
        tasks = [_task(t) for t in db.execute("SELECT * FROM tasks WHERE plan_id = ? ORDER BY position", (row["id"],))]
        return Plan(summary=row["summary"], tasks=tasks, id=row["id"], run_id=row["run_id"],
                    created_at=parse_iso(row["created_at"]))

    def get_plan(self, plan_id: str) -> Plan | None:
        with self._read() as db:
            return self._plan(db, db.execute("SELECT * FROM plans WHERE id = ?", (plan_id,)).fetchone())

    def latest_plan(self, run_id: str) -> Plan | None:
        with self._read() as db:
            row = db.execute("SELECT * FROM plans WHERE run_id = ? ORDER BY created_at DESC, rowid DESC LIMIT 1",
                             (run_id,)).fetchone()
            return self._plan(db, row)

    def save_artifact(self, artifact: Artifact) -> None:
        """Insert or update by id (a review updates ``review_status`` and ``notes``)."""
        now = iso(utcnow())
        with self._write() as db:
            db.execute(
                "INSERT INTO artifacts (id, run_id, task_id, path, content, agent, review_status, notes, created_at, "
                "updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (id) DO UPDATE SET "
                "run_id = excluded.run_id, task_id = excluded.task_id, path = excluded.path, "
                "content = excluded.content, agent = excluded.agent, review_status = excluded.review_status, "
                "notes = excluded.notes, updated_at = excluded.updated_at",
                (artifact.id, artifact.run_id, artifact.task_id, artifact.path, artifact.content, artifact.agent,
                 artifact.review_status, artifact.notes, now, now),
            )
            self._enqueue(db, "artifacts", artifact.id, {**asdict(artifact), "updated_at": now})

    def artifacts(self, run_id: str, review_status: str | None = None) -> list[Artifact]:
        """In the order they were first saved."""
        where, args = _where(("run_id = ?", run_id), ("review_status = ?", review_status))
        with self._read() as db:
            return [_artifact(r) for r in db.execute(f"SELECT * FROM artifacts{where} ORDER BY rowid", args)]

    def save_review(self, run_id: str, review: Review) -> None:
        body = asdict(review)
        now = iso(utcnow())
        with self._write() as db:
            cursor = db.execute(
                "INSERT INTO reviews (run_id, round, verdict, summary, body, created_at) VALUES (?, ?, ?, ?, ?, ?)",
                (run_id, review.round, review.verdict, review.summary, _dumps(body), now),
            )
            self._enqueue(db, "reviews", f"{self.runner}:{cursor.lastrowid}",
                          {**body, "run_id": run_id, "created_at": now})

    def reviews(self, run_id: str) -> list[Review]:
        """By round, then in the order they were saved."""
        with self._read() as db:
            rows = db.execute("SELECT body FROM reviews WHERE run_id = ? ORDER BY round, id", (run_id,)).fetchall()
        return [_review(json.loads(r[0])) for r in rows]

    # -- the journal -----------------------------------------------------------------------------

    def journal_begin(self, run_id: str, key: str | StepKey, data: dict[str, Any] | None = None) -> dict[str, Any] | None:
        """Record that step ``key`` of ``run_id`` starts. Returns its result when it finished
        before (the caller must then not act again); None means: go ahead. A step that started
        but never finished (the process died) counts one more attempt."""
        key, now = str(key), iso(utcnow())
        with self._write() as db:
            row = db.execute("SELECT * FROM journal WHERE run_id = ? AND key = ?", (run_id, key)).fetchone()
            if row is not None and row["status"] == "finished":
                result = _loads(row["result"])
                return {} if result is None else result  # never None: None means "go ahead"
            if row is None:
                db.execute("INSERT INTO journal (run_id, key, status, data, started_at) VALUES (?, ?, 'started', ?, ?)",
                           (run_id, key, None if data is None else _dumps(data), now))
            else:
                db.execute(
                    "UPDATE journal SET attempts = attempts + 1, started_at = ?, data = COALESCE(?, data) "
                    "WHERE run_id = ? AND key = ?",
                    (now, None if data is None else _dumps(data), run_id, key),
                )
            entry = _journal_entry(db.execute("SELECT * FROM journal WHERE run_id = ? AND key = ?",
                                              (run_id, key)).fetchone())
            self._enqueue(db, "journal", f"{run_id}:{key}", entry)
        return None

    def journal_finish(self, run_id: str, key: str | StepKey, result: dict[str, Any]) -> None:
        """Record the step's result. Finishing a step twice keeps the first result."""
        key, now = str(key), iso(utcnow())
        with self._write() as db:
            row = db.execute("SELECT status FROM journal WHERE run_id = ? AND key = ?", (run_id, key)).fetchone()
            if row is not None and row["status"] == "finished":
                return
            if row is None:
                db.execute(
                    "INSERT INTO journal (run_id, key, status, result, started_at, finished_at) "
                    "VALUES (?, ?, 'finished', ?, ?, ?)",
                    (run_id, key, _dumps(result), now, now),
                )
            else:
                db.execute(
                    "UPDATE journal SET status = 'finished', result = ?, finished_at = ? WHERE run_id = ? AND key = ?",
                    (_dumps(result), now, run_id, key),
                )
            entry = _journal_entry(db.execute("SELECT * FROM journal WHERE run_id = ? AND key = ?",
                                              (run_id, key)).fetchone())
            self._enqueue(db, "journal", f"{run_id}:{key}", entry)

    def journal_result(self, run_id: str, key: str | StepKey) -> dict[str, Any] | None:
        """The result of step ``key`` if it finished, else None."""
        with self._read() as db:
            row = db.execute("SELECT result FROM journal WHERE run_id = ? AND key = ? AND status = 'finished'",
                             (run_id, str(key))).fetchone()
        if row is None:
            return None
        result = _loads(row["result"])
        return {} if result is None else result

    def journal(self, run_id: str) -> list[dict[str, Any]]:
        """The run's steps in the order they first started."""
        with self._read() as db:
            return [_journal_entry(r) for r in db.execute("SELECT * FROM journal WHERE run_id = ? ORDER BY id",
                                                          (run_id,))]

    # -- the outbox ------------------------------------------------------------------------------

    def outbox_pending(self, limit: int = 100) -> list[dict[str, Any]]:
        """Unsent rows, oldest first (the row shape is documented in ``gitorch.store``)."""
        with self._read() as db:
            rows = db.execute(
                "SELECT id, tbl, key, version, runner, payload, created_at, attempts, last_error FROM outbox "
                "WHERE sent_at IS NULL AND parked_at IS NULL ORDER BY id LIMIT ?",
                (limit,),
            ).fetchall()
        return [{"id": r["id"], "table": r["tbl"], "key": r["key"], "version": r["version"], "runner": r["runner"],
                 "payload": json.loads(r["payload"]), "created_at": r["created_at"], "attempts": r["attempts"],
                 "last_error": r["last_error"]} for r in rows]

    def outbox_count(self) -> int:
        """How many rows wait to be sent (parked rows are not)."""
        with self._read() as db:
            return db.execute("SELECT COUNT(*) FROM outbox WHERE sent_at IS NULL AND parked_at IS NULL").fetchone()[0]

    def outbox_parked(self, limit: int = 100) -> list[dict[str, Any]]:
        """Parked rows, oldest first: ``id``, ``table``, ``key``, ``version``, ``refusals``, ``last_error``,
        ``parked_at``."""
        with self._read() as db:
            rows = db.execute("SELECT id, tbl, key, version, refusals, last_error, parked_at FROM outbox "
                              "WHERE sent_at IS NULL AND parked_at IS NOT NULL ORDER BY id LIMIT ?", (limit,))
            return [{**dict(r), "table": r["tbl"]} for r in rows]

    def outbox_parked_count(self) -> int:
        with self._read() as db:
            return db.execute("SELECT COUNT(*) FROM outbox WHERE sent_at IS NULL AND parked_at IS NOT NULL"
                              ).fetchone()[0]

    def outbox_unpark(self) -> int:
        """Queue every parked row again (after the deployment was fixed); returns how many."""
        with self._write() as db:
            return db.execute("UPDATE outbox SET parked_at = NULL, refusals = 0 "
                              "WHERE sent_at IS NULL AND parked_at IS NOT NULL").rowcount

    def outbox_mark_sent(self, ids: list[int]) -> None:
        if not ids:
            return
        now = iso(utcnow())
        with self._write() as db:
            db.executemany("UPDATE outbox SET sent_at = ? WHERE id = ?", [(now, i) for i in ids])

    def outbox_mark_failed(self, ids: list[int], error: str) -> None:
        if not ids:
            return
        message = redact(error)[:2000]
        with self._write() as db:
            db.executemany("UPDATE outbox SET attempts = attempts + 1, last_error = ? WHERE id = ?",
                           [(message, i) for i in ids])

    def outbox_mark_refused(self, ids: list[int], error: str, park_after: int) -> int:
        if not ids:
            return 0
        message = redact(error)[:2000]
        now = iso(utcnow())
        with self._write() as db:
            db.executemany("UPDATE outbox SET attempts = attempts + 1, refusals = refusals + 1, last_error = ?, "
                           "parked_at = CASE WHEN refusals + 1 >= ? THEN ? ELSE parked_at END WHERE id = ?",
                           [(message, park_after, now, i) for i in ids])
            marks = ",".join("?" * len(ids))
            return db.execute(f"SELECT COUNT(*) FROM outbox WHERE parked_at = ? AND id IN ({marks})",
                              (now, *ids)).fetchone()[0]

    def close(self) -> None:
        """Close every connection this store opened in this process; the store reopens on next use."""
        with self._lock:
            connections, self._connections = self._connections, []
            self._generation += 1
        for pid, _, db in connections:
            if pid == os.getpid():  # a forked child leaves its parent's connections alone
                db.close()

    def __enter__(self) -> SqliteStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
