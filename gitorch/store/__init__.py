"""Where gitorch keeps its state: ``gitorch.ports.Store`` is the protocol, ``SqliteStore`` the
embedded default.

Every write also enters the outbox in the same transaction, so the Convex mirror can never miss a
record or see one that SQLite does not have.
"""

from __future__ import annotations

from typing import Any

from ..ports import Store


def open_store(config: Any) -> Store:
    """The store the configuration names: SQLite in the state directory."""
    from .sqlite import SqliteStore

    return SqliteStore(config.db_path)
