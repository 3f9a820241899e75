"""What a push holds: the commits each ref adds, read the way pre-commit reads them.

Only the standard library and ``git`` itself: the pre-push hook's idle path runs through here.
"""

from __future__ import annotations

import os
from collections.abc import Mapping

from ..errors import GitorchError
from .command import TASK_FILE, ZERO_SHA, run_git


class PushedRange:
    """One ref of a push: the commits in ``base..head`` are new to the remote (``base`` None: the
    whole history is, e.g. the first push of a repository)."""

    __slots__ = ("local_ref", "remote_ref", "head", "base", "task_file_changed")

    def __init__(self, local_ref: str, remote_ref: str, head: str, base: str | None, task_file_changed: bool):
        self.local_ref, self.remote_ref, self.head = local_ref, remote_ref, head
        self.base, self.task_file_changed = base, task_file_changed

    def __eq__(self, other: object) -> bool:
        return isinstance(other, PushedRange) and all(getattr(self, k) == getattr(other, k) for k in self.__slots__)

    def __repr__(self) -> str:
        return "PushedRange(" + ", ".join(f"{k}={getattr(self, k)!r}" for k in self.__slots__) + ")"


def parse_ref_lines(stdin: str) -> list[tuple[str, str, str, str]]:
    """git's pre-push lines: ``<local ref> <local sha> <remote ref> <remote sha>``."""
    out = []
    for n, line in enumerate(stdin.splitlines(), start=1):
        if not line.strip():
            continue
        parts = line.rsplit(maxsplit=3)
        if len(parts) != 4 or not all(len(p) in (40, 64) and all(c in "0123456789abcdef" for c in p)
                                      for p in (parts[1], parts[3])):
            raise GitorchError(f"pre-push input line {n} is not '<local ref> <sha> <remote ref> <sha>': {line!r}",
                               hint="gitorch hook pre-push reads what git passes to a pre-push hook on stdin")
        out.append((parts[0], parts[1], parts[2], parts[3]))
    return out


def _task_file_changed(root: str, base: str | None, head: str, env: Mapping[str, str] | None) -> bool:
    if base is None:
        return run_git(root, ["cat-file", "-e", f"{head}:{TASK_FILE}"], env=env, check=False).returncode == 0
    proc = run_git(root, ["diff", "--quiet", "--no-ext-diff", "--no-renames", base, head, "--", TASK_FILE],
                   env=env, check=False)
    return proc.returncode != 0


def push_ranges(repo_root: str | os.PathLike[str], remote: str, lines: list[tuple[str, str, str, str]],
                env: Mapping[str, str] | None = None) -> list[PushedRange]:
    """What each ref of a push adds, read the way pre-commit reads it: deleted refs are skipped; an
    update starts at the remote's old tip (a force push too: what the remote gains); a new branch,
    or an old tip this clone never saw, starts at the first commit no remote has."""
    root = os.fspath(repo_root)
    out = []
    for local_ref, local_sha, remote_ref, remote_sha in lines:
        if local_sha.strip("0") == "":
            continue  # a deletion
        if not remote_ref.startswith("refs/heads/"):
            continue  # tags and notes carry no TASK.md work
        if remote_sha.strip("0") != "":
            # One git call on the common path: exit 0 unchanged, 1 changed, 128 unknown old tip.
            proc = run_git(root, ["diff", "--quiet", "--no-ext-diff", "--no-renames", remote_sha, local_sha,
                                  "--", TASK_FILE], env=env, check=False)
            if proc.returncode in (0, 1):
                out.append(PushedRange(local_ref, remote_ref, local_sha, remote_sha, proc.returncode == 1))
                continue
        named = remote and all(c.isalnum() or c in "._-" for c in remote)
        proc = run_git(root, ["rev-list", local_sha, "--topo-order", "--reverse", "--not",
                              f"--remotes={remote}" if named else "--remotes"], env=env)
        new_commits = proc.stdout.split()
        if not new_commits:
            continue
        parent = run_git(root, ["rev-parse", "--verify", "-q", f"{new_commits[0]}^"], env=env, check=False)
        base = parent.stdout.strip() if parent.returncode == 0 else None
        out.append(PushedRange(local_ref, remote_ref, local_sha, base, _task_file_changed(root, base, local_sha, env)))
    return out


def range_from_pre_commit(repo_root: str | os.PathLike[str], env: Mapping[str, str]) -> list[PushedRange]:
    """The range the pre-commit framework hands its pre-push hooks in ``PRE_COMMIT_*`` variables."""
    root = os.fspath(repo_root)
    head = env.get("PRE_COMMIT_TO_REF") or env.get("PRE_COMMIT_LOCAL_BRANCH")
    if not head:
        return []
    head_sha = run_git(root, ["rev-parse", "--verify", f"{head}^{{commit}}"], env=env).stdout.strip()
    base = env.get("PRE_COMMIT_FROM_REF") or None
    if base == ZERO_SHA:
        base = None
    return [PushedRange(env.get("PRE_COMMIT_LOCAL_BRANCH", head), env.get("PRE_COMMIT_REMOTE_BRANCH", ""), head_sha,
                        base, _task_file_changed(root, base, head_sha, env))]


