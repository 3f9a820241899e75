"""The store when it cannot be written: busy past the timeout, a full disk, a read-only disk. Each is
a clear error that says what to do and changes nothing; commands that only read still work; and the
"move it aside" hint is kept for a file that is really damaged.

The full and read-only disks are real: a small tmpfs and a read-only bind mount, made in a private
user and mount namespace (``unshare -rm``) so that no privilege is needed and nothing outside the test
sees them.
"""

from __future__ import annotations

import os
import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from gitorch import config as config_module
from gitorch.cli import main
from gitorch.store import sqlite as sqlite_store
from gitorch.store.sqlite import SqliteStore, StoreError


def run_cli(capsys, *args: str) -> tuple[int, str]:
    with pytest.raises(SystemExit) as ended:
        main(list(args))
    return ended.value.code, capsys.readouterr().err


def decisions(path: Path) -> int:
    with sqlite3.connect(path) as db:
        return db.execute("SELECT count(*) FROM routing_decisions").fetchone()[0]


def test_a_lock_held_past_the_busy_timeout_is_a_clear_error_and_nothing_is_recorded(repo, monkeypatch, capsys):
    cfg = config_module.load(cwd=repo)
    SqliteStore(cfg.db_path).close()
    monkeypatch.setattr(sqlite_store, "BUSY_TIMEOUT_S", 0.3)
    holder = sqlite3.connect(cfg.db_path, isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")  # another process in the middle of a long write
    try:
        code, said = run_cli(capsys, "route", "Add CSV export to reports")
    finally:
        holder.rollback()
        holder.close()
    assert code == 1 and f"the state database {cfg.db_path} is busy" in said
    assert "wait for the other gitorch command" in said and "move it aside" not in said
    assert "unexpected" not in said
    assert decisions(cfg.db_path) == 0


def test_a_damaged_file_still_gets_the_move_it_aside_hint(tmp_path):
    path = tmp_path / "state.db"
    path.write_bytes(b"not sqlite at all " * 200)
    with pytest.raises(StoreError) as err:
        SqliteStore(path)
    assert err.value.reason == "damaged" and "move it aside" in err.value.hint


def _namespaces() -> None:
    """The test needs ``unshare -rm``; say so loudly when the machine does not allow it."""
    proc = subprocess.run(["unshare", "-rm", "true"], capture_output=True, text=True)
    if proc.returncode != 0:
        pytest.fail(f"unshare -rm is not allowed here ({proc.stderr.strip()}); these tests need a real "
                    "read-only and a real full filesystem")


def _in_namespace(script: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in sys.path if p)}
    return subprocess.run(["unshare", "-rm", "sh", "-ec", script], cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=120)


@pytest.fixture
def recorded(repo, tmp_path, monkeypatch) -> Path:
    """A state folder of its own, with one recorded decision."""
    state = tmp_path / "state"
    monkeypatch.setenv("GITORCH_HOME", str(state))
    code = subprocess.run([sys.executable, "-m", "gitorch", "route", "Add CSV export to reports"], cwd=repo,
                          capture_output=True, env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}).returncode
    assert code == 0 and decisions(state / "state.db") == 1
    return state


@pytest.mark.slow
def test_on_a_read_only_disk_stats_the_dashboard_and_a_dry_route_work_and_a_write_says_why(repo, recorded):
    _namespaces()
    py = shutil.which("python3") or sys.executable
    dashboard = ("from gitorch import config; from gitorch.dashboard.sources import LocalSource; "
                 "s = LocalSource(config.load()); print('dashboard', s.data_version() >= 0, "
                 "len(s.snapshot()) > 0); s.close()")
    proc = _in_namespace(f"""
mount --bind {recorded} {recorded}
mount -o remount,bind,ro {recorded} {recorded}
touch {recorded}/probe 2>/dev/null && echo WRITABLE || true
{py} -m gitorch stats --json > /dev/null && echo stats-ok
{py} -m gitorch route --no-record "Add CSV export" --json > /dev/null && echo dry-route-ok
{py} -c "{dashboard}"
{py} -m gitorch route "Add CSV export" || echo "route rc=$?"
""", repo)
    out = proc.stdout + proc.stderr
    assert "WRITABLE" not in out, out
    assert "stats-ok" in out and "dry-route-ok" in out and "dashboard True True" in out, out
    assert "route rc=1" in out and "is read-only" in out and "move it aside" not in out, out
    assert "unexpected" not in out
    assert decisions(recorded / "state.db") == 1


@pytest.mark.slow
def test_on_a_full_disk_a_write_says_the_disk_is_full_and_stats_still_work(repo, recorded):
    _namespaces()
    py = shutil.which("python3") or sys.executable
    full = recorded.parent / "full"
    full.mkdir()
    proc = _in_namespace(f"""
mount -t tmpfs -o size=2m tmpfs {full}
cp {recorded}/state.db {full}/
dd if=/dev/zero of={full}/filler bs=4k 2>/dev/null || true
GITORCH_HOME={full} {py} -m gitorch route "Add CSV export" || echo "route rc=$?"
GITORCH_HOME={full} {py} -m gitorch stats --json > /dev/null && echo stats-ok
""", repo)
    out = proc.stdout + proc.stderr
    assert "route rc=1" in out and f"the disk that holds the state database {full}/state.db is full" in out, out
    assert "free some space there" in out and "unexpected" not in out and "move it aside" not in out
    assert "stats-ok" in out, out
