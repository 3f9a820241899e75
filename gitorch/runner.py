"""Puts a run together from the configuration: store, router, architect, builders, GitHub.

The pipeline knows its parts only through their interfaces; this is the one place that picks the
concrete ones, so the CLI, the Action and the demo assemble a run the same way.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

from .agents import Builder, get_builder
from .config import Config
from .model import BUILDERS
from .pipeline import Parts, Pipeline, Progress
from .store import Store, open_store


class Builders(Mapping[str, Builder]):
    """Builders made on first use (the browser starts Chromium only when a task needs it), and
    closed together at the end of the run."""

    def __init__(self, config: Config, allowed: list[str], made: dict[str, Builder] | None = None):
        self.config = config
        self.allowed = allowed
        self._made: dict[str, Builder] = dict(made or {})
        self._lock = threading.Lock()  # pool threads ask at once; each builder is made once

    def __getitem__(self, agent: str) -> Builder:
        if agent not in self.allowed:
            raise KeyError(agent)
        with self._lock:
            if agent not in self._made:
                self._made[agent] = get_builder(agent, config=self.config)
            return self._made[agent]

    def get(self, agent: str, default: Any = None) -> Any:
        try:
            return self[agent]
        except KeyError:
            return default

    def __contains__(self, agent: object) -> bool:
        return agent in self.allowed

    def __iter__(self) -> Iterator[str]:
        return iter(self.allowed)

    def __len__(self) -> int:
        return len(self.allowed)

    def close(self) -> None:
        for builder in self._made.values():
            builder.close()
        self._made.clear()


def assemble(config: Config, *, repo_path: Path, store: Store | None = None, github: Any = None,
             progress: Progress | None = None, confirm: Callable | None = None,
             builders: dict[str, Builder] | None = None, architect: Any = None) -> tuple[Pipeline, Builders]:
    """A pipeline for the repository at ``repo_path``. ``builders``/``architect`` replace the
    configured ones (the demo and tests pass builders wired to the local stand-ins the same way)."""
    from .agents.claude import ClaudeArchitect
    from .context import build_context
    from .routing import Router

    store = store or open_store(config)
    architect = architect or ClaudeArchitect(config)
    lazy = Builders(config, list(BUILDERS), builders)

    def repo_context(task: str) -> str:
        return build_context(repo_path, task, budget=config.anthropic.plan_context_tokens,
                             secrets=config.secrets.values()).text

    parts = Parts(store=store, router=Router(config, store, repo=str(repo_path)), architect=architect,
                  builders=lazy, repo_path=repo_path, github=github, confirm=confirm,
                  repo_context=repo_context, **({"progress": progress} if progress else {}))
    return Pipeline(config, parts), lazy
