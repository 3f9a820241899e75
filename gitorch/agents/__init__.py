"""The agents and the registry the run's parts are made from.

The architect (Claude) plans and reviews; builders (``chatgpt-pro``, ``codex``, ``claude``) turn a
task into edits, behind the ``Builder`` and ``Architect`` protocols of ``gitorch.ports``. Backends
register a factory under their agent id; the run never imports one. Every result carries the
``Usage`` the call reported (or estimated), the model and the duration, and the run's ledger records it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ..errors import GitorchError
from ..ports import Builder

BuilderFactory = Callable[..., Builder]
_BUILDERS: dict[str, BuilderFactory] = {}


def register_builder(agent_id: str, factory: BuilderFactory) -> None:
    """Make a builder available under ``agent_id`` (idempotent)."""
    _BUILDERS[agent_id] = factory


def builder_ids() -> list[str]:
    _load_builtin()
    return sorted(_BUILDERS)


def get_builder(agent_id: str, **kwargs: Any) -> Builder:
    _load_builtin()
    try:
        factory = _BUILDERS[agent_id]
    except KeyError:
        raise GitorchError(f"no builder named '{agent_id}'",
                           hint=f"choose one of: {', '.join(sorted(_BUILDERS))}") from None
    return factory(**kwargs)


def _load_builtin() -> None:
    """Built-in backends register themselves on import, like a plugin would."""
    import importlib

    for module in ("claude", "browser", "codex"):
        try:
            importlib.import_module(f"{__name__}.{module}")
        except ModuleNotFoundError as exc:  # a backend whose optional package is missing, not a broken one
            if exc.name != f"{__name__}.{module}":
                raise
