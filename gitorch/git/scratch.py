"""A scratch tree where code a model wrote runs (Codex's work, the repository's test command).

It is a repository of its own that borrows the checkout's objects (``objects/info/alternates``):
none of the checkout's git config is there (``http.<url>.extraheader`` tokens that
``actions/checkout`` leaves, credential helpers, remotes with passwords), git is told to read no
global or system config in it, and the secret policy's files are taken out of it.
"""

from __future__ import annotations

import subprocess
from collections.abc import Mapping
from pathlib import Path

from ..errors import GitError
from ..secrets import SecretPolicy, remove_secret_files

EMPTY_CONFIG = "gitorch-empty-config"  # in the scratch's .git: what git reads as the global config


def git_env(tree: Path, env: Mapping[str, str]) -> dict[str, str]:
    """``env`` for git (and what it runs) in the scratch ``tree``: no global or system config."""
    return {**env, "GIT_CONFIG_GLOBAL": str(tree / ".git" / EMPTY_CONFIG), "GIT_CONFIG_NOSYSTEM": "1"}


def checkout(source: Path, commit: str, tree: Path, policy: SecretPolicy, env: Mapping[str, str]) -> list[str]:
    """``commit`` of the repository at ``source`` checked out (detached) into the new folder
    ``tree``; returns the secret files taken out."""
    def git(*args: str, cwd: Path) -> str:
        proc = subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True, env=git_env(tree, env),
                              stdin=subprocess.DEVNULL, errors="replace")
        if proc.returncode != 0:
            raise GitError(f"git {args[0]} failed for a scratch tree: {proc.stderr.strip()[:500]}",
                           hint="check that the repository has the commit " + commit[:12])
        return proc.stdout

    common = Path(git("rev-parse", "--path-format=absolute", "--git-common-dir", cwd=source).strip())
    commit = git("rev-parse", "--verify", "--end-of-options", f"{commit}^{{commit}}", cwd=source).strip()
    tree.mkdir(parents=True, exist_ok=False)
    git("init", "--quiet", str(tree), cwd=tree)
    dot_git = tree / ".git"
    (dot_git / EMPTY_CONFIG).write_text("", encoding="utf-8")
    (dot_git / "objects" / "info" / "alternates").write_text(f"{common / 'objects'}\n", encoding="utf-8")
    git("checkout", "--quiet", "--detach", commit, cwd=tree)
    removed = remove_secret_files(tree, policy)
    if removed:  # what was taken out does not show as deleted to the code that runs there
        exclude = dot_git / "info" / "exclude"
        exclude.parent.mkdir(parents=True, exist_ok=True)
        with exclude.open("a", encoding="utf-8") as fh:
            fh.writelines(f"/{p}\n" for p in removed)
        git("update-index", "--skip-worktree", "--", *removed, cwd=tree)
    return removed
