"""Puts a run together from the configuration: store, router, architect, builders, repository, GitHub.

The run knows its parts only through ``gitorch.ports``; this is the one place that picks the
concrete adapters, so the CLI, the Action, the session and the demo assemble a run the same way.
"""

from __future__ import annotations

import dataclasses
import logging
import threading
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from ..agents import get_builder
from ..config import Config
from ..errors import GitorchError
from ..model import BUILDERS
from ..ports import Builder, GitHub, Progress, Router, Store
from ..store import open_store
from .ledger import Ledger
from .pipeline import Pipeline
from .state import Parts

log = logging.getLogger("gitorch.run.assemble")


class Builders(Mapping[str, Builder]):
    """Builders made on first use (the browser starts Chromium only when a task needs it), closed
    together at the end of the run, with the Convex mirror's background drain."""

    def __init__(self, config: Config, allowed: list[str]):
        self.config = config
        self.allowed = allowed
        self._made: dict[str, Builder] = {}
        self._lock = threading.Lock()  # pool threads ask at once; each builder is made once
        self.mirror: Any = None  # the Convex mirror draining in the background during the run
        self.team: Any = None  # the team's claims and budget on Convex, when this runner is one of a team

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
        _close_team(self.mirror, self.team)
        self.mirror = self.team = None


def _close_team(mirror: Any, team: Any) -> None:
    if mirror is not None:  # the thread stops, then one last drain of what was written (spend too)
        mirror.stop()
        try:
            mirror.drain()
        except GitorchError as exc:  # Convex away: the rows wait in SQLite for the next drain
            log.warning("Convex mirror: %s; 'gitorch sync' sends the rest later", exc.message)
    if team is not None:
        team.close()


@contextmanager
def paying(config: Config, store: Store) -> Iterator[Ledger]:
    """The ledger a paid call outside a run goes through (the pre-push hook's review): the team's
    budget when this machine is one of a team, whose spend is sent before it returns."""
    from ..store.convex import mirror_for
    from ..store.team import team_for

    mirror = mirror_for(config, store)
    team = team_for(config, store, mirror)
    try:
        yield Ledger(store, config, budget=team)
    finally:
        _close_team(mirror, team)


def assemble(config: Config, *, repo_path: Path, store: Store | None = None, github: GitHub | None = None,
             progress: Progress | None = None, confirm: Callable | None = None,
             router: Router | None = None, render_comment: Callable[..., str] | None = None) -> tuple[Pipeline, Builders]:
    """A pipeline for the repository at ``repo_path``, with the agents the configuration names (the
    demo and the tests point the same configuration at the local stand-ins). ``render_comment``
    writes the run's one comment on its issue, in GitHub mode."""
    from ..agents.claude import ClaudeArchitect
    from ..git.repository import Repository
    from ..routing import Router as LearnedRouter
    from ..store.convex import mirror_for
    from ..store.team import team_for

    store = store or open_store(config)
    repo = Repository(repo_path, config)
    lazy = Builders(config, list(BUILDERS))
    lazy.mirror = mirror_for(config, store)  # None without CONVEX_URL: state stays in SQLite
    if lazy.mirror is not None:
        lazy.mirror.start()  # runs never wait on Convex: the outbox drains on its own thread
    # One of a team (CONVEX_URL and its key): claims and the budget live in the team's Convex
    lazy.team = team_for(config, store, lazy.mirror)
    parts = Parts(store=store, router=router or LearnedRouter(config, store, repo=github.repo if github else repo.key),
                  architect=ClaudeArchitect(config), builders=lazy, repo=repo,
                  ledger=Ledger(store, config, budget=lazy.team), claims=lazy.team or store,
                  github=github, confirm=confirm, render_comment=render_comment,
                  **({"progress": progress} if progress else {}))
    return Pipeline(config, parts), lazy


def alongside(pipeline: Pipeline, *, progress: Progress) -> Pipeline:
    """A pipeline for one more run driven at the same time in this process (the session's runs, each
    on a thread of its own): the same store, router, builders (one browser), repository and ledger,
    with its own progress and its own architect, which keeps the repository context its run's plan
    read for that run's review."""
    from ..agents.claude import ClaudeArchitect

    parts = dataclasses.replace(pipeline.parts, architect=ClaudeArchitect(pipeline.config), progress=progress)
    return Pipeline(pipeline.config, parts)
