"""Where gitorch keeps its state: ``gitorch.ports.Store`` is the protocol, ``SqliteStore`` the
embedded default.

Every write also enters the outbox in the same transaction, so the Convex mirror can never miss a
record or see one that SQLite does not have.
"""

from __future__ import annotations

from typing import Any

from ..ports import Store


def open_store(config: Any, *, read_only: bool = False) -> Store:
    """The store the configuration names: SQLite in the state directory. ``read_only`` (commands that
    only read): when the store cannot be written (a read-only disk or folder, a full disk), it is
    opened read-only instead of failing."""
    from .sqlite import SqliteStore, StoreError

    try:
        return SqliteStore(config.db_path)
    except StoreError as exc:
        if not read_only or exc.reason not in ("read_only", "cannot_open", "full") or not config.db_path.is_file():
            raise
    return SqliteStore(config.db_path, read_only=True)
