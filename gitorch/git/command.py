"""The git command line, for what is cheaper to ask git than to load pygit2 for.

Only the standard library is imported here (redaction loads on an error), because the pre-push
hook's idle path runs through this module and must cost little more than Python's start-up.
Pushing and fetching also go through git itself, so the person's credential helpers apply.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Mapping

from ..errors import GitError

ZERO_SHA = "0" * 40
SKIP_ENV = "GITORCH_SKIP"  # set to 1: gitorch's pre-push hook steps aside (other hooks still run)
TASK_FILE = "TASK.md"
HOOK_NAME = "pre-push"
LEGACY_SUFFIX = ".legacy"  # the hook that was there before gitorch's, run first
RUNNING_ENV = "GITORCH_HOOK_RUNNING"  # set for the legacy hook, so a gitorch hook inside it stays quiet
_KEEP = frozenset({
    "GIT_EXEC_PATH", "GIT_SSH", "GIT_SSH_COMMAND", "GIT_SSL_CAINFO", "GIT_SSL_NO_VERIFY", "GIT_CONFIG_NOSYSTEM",
    "GIT_TERMINAL_PROMPT", "GIT_ASKPASS", "GIT_HTTP_PROXY_AUTHMETHOD", "GIT_AUTHOR_NAME", "GIT_AUTHOR_EMAIL",
    "GIT_COMMITTER_NAME", "GIT_COMMITTER_EMAIL", "GIT_CONFIG_GLOBAL", "GIT_CONFIG_SYSTEM", "GIT_CONFIG_COUNT",
})


def no_git_env(env: Mapping[str, str] | None = None) -> dict[str, str]:
    """The environment without the ``GIT_*`` variables git exports into hooks (``GIT_DIR``,
    ``GIT_INDEX_FILE``... would point git at the hook's repository and index), as pre-commit does.
    Credentials, identity and ``GIT_CONFIG_KEY_n``/``VALUE_n`` settings are kept."""
    source = os.environ if env is None else env
    return {k: v for k, v in source.items()
            if not k.startswith("GIT_") or k in _KEEP or k.startswith(("GIT_CONFIG_KEY_", "GIT_CONFIG_VALUE_"))}


def run_git(repo_path: str | os.PathLike[str], args: list[str], *, env: Mapping[str, str] | None = None,
            secrets: list[str] | None = None, check: bool = True) -> subprocess.CompletedProcess[str]:
    """Run the git command line in ``repo_path`` without the hook's ``GIT_*`` variables. A failure
    (when ``check``) is a GitError quoting git's own words with any ``secrets`` masked."""
    proc = subprocess.run(["git", "-C", str(repo_path), *args], capture_output=True, text=True,
                          env=no_git_env(env), stdin=subprocess.DEVNULL)
    if check and proc.returncode != 0:
        from ..redact import redact

        output = redact((proc.stderr or proc.stdout).strip(), secrets or [])
        raise GitError(f"git {args[0]} failed: {output}",
                       hint="check the remote's address and your access to it ('git remote -v')"
                       if args[0] in ("push", "fetch", "ls-remote") else "check the repository with 'git status'")
    return proc
