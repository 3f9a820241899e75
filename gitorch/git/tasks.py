"""Which TASK.md items a range of commits, or a push, asks for (the format is ``taskfile.py``)."""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import TYPE_CHECKING

from .command import TASK_FILE, run_git
from .taskfile import TaskItem, changed_items

if TYPE_CHECKING:
    from .push import PushedRange


def read_at(repo_root: str | os.PathLike[str], rev: str, path: str = TASK_FILE,
            env: Mapping[str, str] | None = None) -> str | None:
    """A file's text at ``rev`` (None when it is not there)."""
    proc = run_git(repo_root, ["cat-file", "-p", f"{rev}:{path}"], env=env, check=False)
    return proc.stdout if proc.returncode == 0 else None


def work_between(repo_root: str | os.PathLike[str], base: str | None, head: str, path: str = TASK_FILE,
                 env: Mapping[str, str] | None = None) -> list[TaskItem]:
    """Items that commits ``base..head`` added or changed in TASK.md (all open items when base is None)."""
    new = read_at(repo_root, head, path, env)
    if new is None:
        return []
    old = read_at(repo_root, base, path, env) if base else None
    return changed_items(old, new, f"{path} at {head[:12]}")


def work_in_push(repo_root: str | os.PathLike[str], ranges: list[PushedRange],
                 env: Mapping[str, str] | None = None) -> list[TaskItem]:
    """TASK.md items the pushed ranges ask for, each once (by id or text) even when several refs carry it."""
    seen: set[str] = set()
    work: list[TaskItem] = []
    for r in ranges:
        if not r.task_file_changed:
            continue
        for item in work_between(repo_root, r.base, r.head, env=env):
            if item.key not in seen:
                seen.add(item.key)
                work.append(item)
    return work
