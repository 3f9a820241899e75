"""Installing the pre-push hook the way pre-commit does.

Installing writes a small shell script marked with an ``# ID:`` line that calls gitorch through the
absolute path of the interpreter it was installed with. A hook that was there before is kept as
``pre-push.legacy`` and run first with the same arguments and stdin; uninstalling puts it back.
What the hook does on a push is ``gitorch.commands.pre_push``.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping
from pathlib import Path

from ..errors import GitorchError
from .command import HOOK_NAME, LEGACY_SUFFIX, run_git

HOOK_ID = "gitorch-pre-push-5d83b09e"  # changing the template means a new id, the old one goes below
PRIOR_IDS: tuple[str, ...] = ("gitorch-pre-push-7c1e4a2f",)

TEMPLATE = """#!/bin/sh
# gitorch pre-push hook, written by 'gitorch hooks install'; 'gitorch hooks uninstall' puts back
# what was here before (kept as pre-push.legacy, which this hook runs first).
# ID: {hook_id}
GITORCH_PYTHON={python}
GITORCH_PATH={path}
HERE="${{0%/*}}"
if [ -x "$GITORCH_PYTHON" ] && [ -d "$GITORCH_PATH/gitorch" ]; then
    # -S: no site-packages at start-up; gitorch loads them only when the push holds work for it.
    exec "$GITORCH_PYTHON" -S -c 'import sys; sys.path.append(sys.argv.pop(1)); import gitorch.__main__ as m; m.hook()' \\
        "$GITORCH_PATH" --hook-dir "$HERE" "$@"
elif [ -x "$GITORCH_PYTHON" ]; then
    exec "$GITORCH_PYTHON" -m gitorch hook pre-push --hook-dir "$HERE" "$@"
elif command -v gitorch >/dev/null 2>&1; then
    exec gitorch hook pre-push --hook-dir "$HERE" "$@"
fi
echo "gitorch: $GITORCH_PYTHON is gone and gitorch is not on PATH; pushing without it (activate its environment, or run 'gitorch hooks install' again)" >&2
if [ -x "$HERE/pre-push.legacy" ]; then
    exec "$HERE/pre-push.legacy" "$@"
fi
exit 0
"""


# -- installing -------------------------------------------------------------------------------------


class InstallResult:
    """What install or uninstall did: ``action`` is installed, updated, unchanged, removed,
    restored or not-installed; ``legacy`` the kept hook, if any."""

    __slots__ = ("path", "action", "legacy")

    def __init__(self, path: Path, action: str, legacy: Path | None = None):
        self.path, self.action, self.legacy = path, action, legacy

    def __repr__(self) -> str:
        return f"InstallResult({self.path!s}, {self.action!r}, legacy={self.legacy!s})"


def hook_dir(repo_root: str | os.PathLike[str], env: Mapping[str, str] | None = None) -> Path:
    """Where git reads this repository's hooks: ``core.hooksPath`` when set and inside the
    repository, else ``hooks/`` under the git common dir (shared by all worktrees)."""
    from pathlib import Path

    root = Path(repo_root)
    top = run_git(root, ["rev-parse", "--show-toplevel"], env=env, check=False)
    if top.returncode != 0:
        raise GitorchError(f"{root} is not inside a git working tree",
                           hint="run 'gitorch hooks install' from your repository")
    worktree = Path(top.stdout.strip())
    setting = run_git(root, ["config", "--get", "core.hooksPath"], env=env, check=False).stdout.strip()
    if setting:
        where = Path(os.path.expanduser(setting))
        where = (worktree / where if not where.is_absolute() else where).resolve()
        common = Path(run_git(root, ["rev-parse", "--path-format=absolute", "--git-common-dir"],
                              env=env).stdout.strip()).resolve()
        inside = worktree.resolve() in (where, *where.parents) or common in (where, *where.parents)
        if not inside:
            raise GitorchError(
                f"core.hooksPath is set to {setting}, a folder outside this repository; gitorch will not "
                "write its hook there (it would run for every repository that shares that folder)",
                hint="install it for this repository only after 'git config --unset core.hooksPath' "
                     "(or 'git config --global --unset core.hooksPath' if it is set globally)")
        return where
    common = run_git(root, ["rev-parse", "--path-format=absolute", "--git-common-dir"], env=env).stdout.strip()
    return Path(common) / "hooks"


def is_ours(path: Path) -> bool:
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return False
    return any(f"# ID: {i}" in text for i in (HOOK_ID, *PRIOR_IDS))


def hook_script(python: str) -> str:
    import shlex

    package_parent = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))  # where `gitorch/` lives
    return TEMPLATE.format(hook_id=HOOK_ID, python=shlex.quote(python), path=shlex.quote(package_parent))


def install(repo_root: str | os.PathLike[str], python: str | None = None,
            env: Mapping[str, str] | None = None) -> InstallResult:
    """Install the pre-push hook; an existing foreign hook becomes ``pre-push.legacy``."""
    directory = hook_dir(repo_root, env)
    directory.mkdir(parents=True, exist_ok=True)
    hook = directory / HOOK_NAME
    legacy = directory / (HOOK_NAME + LEGACY_SUFFIX)
    script = hook_script(python or sys.executable)
    action = "installed"
    if hook.exists() or hook.is_symlink():
        if is_ours(hook):
            if hook.read_text(encoding="utf-8") == script:
                return InstallResult(hook, "unchanged", legacy if legacy.exists() else None)
            action = "updated"
        elif legacy.exists() or legacy.is_symlink():
            raise GitorchError(
                f"{hook} and {legacy} both exist and neither is gitorch's; installing would lose one of them",
                hint=f"merge them into {hook.name}, delete {legacy.name}, then run 'gitorch hooks install' again")
        else:
            os.replace(hook, legacy)
    tmp = hook.with_name(f".{HOOK_NAME}.gitorch-tmp")
    tmp.write_text(script, encoding="utf-8")
    tmp.chmod(0o755)
    os.replace(tmp, hook)
    return InstallResult(hook, action, legacy if legacy.exists() or legacy.is_symlink() else None)


def uninstall(repo_root: str | os.PathLike[str], env: Mapping[str, str] | None = None) -> InstallResult:
    """Remove gitorch's hook and put back the one it replaced. A foreign hook is left alone."""
    directory = hook_dir(repo_root, env)
    hook = directory / HOOK_NAME
    legacy = directory / (HOOK_NAME + LEGACY_SUFFIX)
    if not is_ours(hook):
        return InstallResult(hook, "not-installed")
    hook.unlink()
    if legacy.exists() or legacy.is_symlink():
        os.replace(legacy, hook)
        return InstallResult(hook, "restored", None)
    return InstallResult(hook, "removed")


