"""The one secret policy: what is never sent, what is masked, and what code a model wrote may see.

- **Secret files** (``SECRET_FILES``, extended by ``edits.secret_files``) are never sent to a model
  and never written by a builder: the pipeline reads none for a task, the repository context lists
  them as withheld, Codex's scratch worktree holds none, and a builder is told that they exist.
- **Known secret values** are masked wherever they appear (prompts, logs, comments, the store, the
  crash log): the configured secrets, the values of the repository's ``.env`` files, the values of
  environment variables whose names say they are secret, and the credentials ``actions/checkout``
  leaves in the checkout's git config (``http.<url>.extraheader``). They are found once, on first use.
- **Code a model wrote** (the repository's test command) runs with an environment filtered by name
  (``CREDENTIAL_NAMES``) and by value (token shapes, URLs with a user and password, known values).

The masking itself (token shapes, quoted assignments) is ``gitorch.redact``.
"""

from __future__ import annotations

import base64
import fnmatch
import os
import re
import subprocess
import threading
from collections.abc import Iterable, Mapping
from pathlib import Path, PurePosixPath

from .redact import PATTERNS, env_values

# Files whose contents never reach a model: gitignore-like patterns, matched against the file's name
# (or, when the pattern holds a '/', against its whole path). Templates stay visible.
SECRET_FILES: tuple[str, ...] = (
    ".env", ".env.*", "*.env", ".envrc",
    "*.pem", "*.key", "*.p12", "*.pfx", "*.keystore", "*.jks", "*.kdbx", "*.gpg", "*.asc",
    "id_rsa*", "id_dsa*", "id_ecdsa*", "id_ed25519*",
    ".netrc", "_netrc", ".pypirc", ".npmrc", ".git-credentials", ".htpasswd",
    "credentials", "credentials.json", "client_secret*.json", "service-account*.json", "secrets.y*ml",
    "*.tfvars", "terraform.tfstate*",
)
NOT_SECRET: tuple[str, ...] = ("*.example", "*.sample", "*.template", "*.dist", "*.pub")

# Environment variables whose names say they hold a credential: these words anywhere in the name
# (case-insensitive). AUTH does not count inside AUTHOR (GIT_AUTHOR_NAME is an identity), nor PWD in
# the shell's own PWD and OLDPWD (the current folder).
CREDENTIAL_NAMES: tuple[str, ...] = ("PASSWORD", "PASSWD", "PWD", "PASSPHRASE", "SECRET", "TOKEN", "KEY",
                                     "CREDENTIAL", "AUTH", "PRIVATE", "WEBHOOK", "COOKIE", "DATABASE_URL", "DSN")
_EXCEPT = {"AUTH": "AUTH(?!OR)", "PWD": "(?<!^)(?<!^OLD)PWD"}
_CREDENTIAL_NAME = re.compile("|".join(_EXCEPT.get(w, w) for w in CREDENTIAL_NAMES), re.I)
# A URL that carries a user and a password: postgres://user:pw@host/db, https://x:token@github.com
URL_WITH_PASSWORD = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*://[^/\s:@]*:[^/\s@]+@")


def is_secret_file(path: str, extra: Iterable[str] = ()) -> bool:
    """Whether ``path`` (relative, '/'-separated) is a secret file by ``SECRET_FILES`` plus ``extra``."""
    path = PurePosixPath(path).as_posix().lstrip("/")
    name = PurePosixPath(path).name
    if any(fnmatch.fnmatchcase(name.lower(), p) for p in NOT_SECRET):
        return False
    for pattern in (*SECRET_FILES, *extra):
        if "/" in pattern:
            pattern = pattern.lstrip("/")
            if fnmatch.fnmatchcase(path, pattern) or fnmatch.fnmatchcase(path, "*/" + pattern):
                return True
        elif fnmatch.fnmatchcase(name, pattern) or fnmatch.fnmatchcase(name.lower(), pattern):
            return True
    return False


def is_env_file(path: str) -> bool:
    """``.env`` files, whose values are learned to be masked elsewhere."""
    name = PurePosixPath(path).name
    return (name == ".env" or name.startswith(".env.") or name.endswith(".env")) and not any(
        fnmatch.fnmatchcase(name.lower(), p) for p in NOT_SECRET)


def is_credential_name(name: str) -> bool:
    return bool(_CREDENTIAL_NAME.search(name))


def looks_like_credential(value: str) -> bool:
    """A token's shape or a URL with a password in it."""
    return bool(URL_WITH_PASSWORD.search(value)) or any(p.search(value) for p in PATTERNS)


def env_for_code(env: Mapping[str, str], known: Iterable[str] = (), keep: Iterable[str] = ()) -> dict[str, str]:
    """``env`` for a process that runs code a model wrote: every variable whose name says it holds a
    credential (``CREDENTIAL_NAMES``), whose value is a known secret, or whose value looks like one
    (token shapes, URLs with a password) is left out, except the names in ``keep``."""
    known_values = {k for k in known if k}
    kept = set(keep)
    return {name: value for name, value in env.items()
            if name in kept or not (is_credential_name(name) or value in known_values
                                    or looks_like_credential(value))}


def withheld_note(paths: Iterable[str]) -> str:
    """What a builder is told about the secret files its task names."""
    listed = "\n".join(f"- `{p}`" for p in paths)
    if not listed:
        return ""
    return ("## Withheld files\n\nThese files exist but hold secrets, so their contents are not shown. "
            "Do not write, create or delete them; if the task needs a new setting, add it to the code or "
            f"a template (such as `.env.example`) and say so:\n\n{listed}")


def credential_config(repo_root: Path) -> list[str]:
    """The credentials in a checkout's git config: ``http.<url>.extraheader`` values (what
    ``actions/checkout`` writes), their base64 payloads, and the passwords of remote URLs."""
    proc = subprocess.run(["git", "-C", str(repo_root), "config", "--get-regexp",
                           r"^(http\..*\.extraheader|remote\..*\.url|url\..*)$"],
                          capture_output=True, text=True, stdin=subprocess.DEVNULL, errors="replace")
    values: list[str] = []
    for line in proc.stdout.splitlines():
        key, _, value = line.partition(" ")
        if key.endswith("extraheader"):
            header = value.split(":", 1)[-1].strip()
            values += [value, header]
            scheme, _, payload = header.partition(" ")
            if payload:
                values.append(payload)
                if scheme.lower() == "basic":
                    try:
                        user_pass = base64.b64decode(payload, validate=True).decode()
                    except ValueError:
                        user_pass = ""
                    values += [user_pass, user_pass.partition(":")[2]]
        else:
            m = re.match(r"[A-Za-z][A-Za-z0-9+.-]*://[^/\s:@]*:([^/\s@]+)@", value)
            if m:
                values.append(m.group(1))
    return [v for v in values if len(v) >= 6]


class SecretPolicy:
    """The policy for one configuration: ``configured`` secret values, ``extra_files`` patterns, the
    repository at ``repo_root`` and the process ``environ``. The values found in files, the
    environment and git config are gathered once, on first use (never on the pre-push hook's idle path)."""

    def __init__(self, configured: Iterable[str] = (), *, extra_files: Iterable[str] = (),
                 repo_root: Path | None = None, environ: Mapping[str, str] | None = None):
        self.configured = [v for v in configured if v]
        self.extra_files = tuple(extra_files)
        self.repo_root = repo_root
        self.environ = dict(environ or {})
        self._found: list[str] | None = None
        self._lock = threading.Lock()

    def is_secret_file(self, path: str) -> bool:
        return is_secret_file(path, self.extra_files)

    def withheld(self, paths: Iterable[str]) -> list[str]:
        return [p for p in paths if self.is_secret_file(p)]

    def values(self) -> list[str]:
        """Every secret value to mask: configured, then found (longest first when masking)."""
        with self._lock:
            if self._found is None:
                self._found = self._find()
            return [*self.configured, *self._found]

    def _find(self) -> list[str]:
        found = [v for name, v in self.environ.items() if is_credential_name(name) and len(v) >= 8]
        root = self.repo_root
        if root is not None and root.is_dir():
            found += file_values(root)
            found += credential_config(root)
        return list(dict.fromkeys(found))

    def env_for_code(self, env: Mapping[str, str], keep: Iterable[str] = ()) -> dict[str, str]:
        return env_for_code(env, self.values(), keep)


_NOT_SEARCHED = frozenset({".git", "node_modules", ".venv", "venv", "__pycache__", ".tox", ".mypy_cache"})


def file_values(root: Path) -> list[str]:
    """The values of the ``.env`` files in the working tree at ``root`` (build folders left out)."""
    values: list[str] = []
    for folder, dirs, names in os.walk(root):
        dirs[:] = [d for d in dirs if d not in _NOT_SEARCHED]
        for name in names:
            rel = (Path(folder) / name).relative_to(root).as_posix()
            if not is_env_file(rel):
                continue
            try:
                full = Path(folder) / name
                if full.is_symlink() or full.stat().st_size > 1_000_000:
                    continue
                values += env_values(full.read_text(encoding="utf-8", errors="replace"))
            except OSError:
                continue
    return values


def remove_secret_files(tree: Path, policy: SecretPolicy) -> list[str]:
    """Take the secret files out of a scratch tree where code a model wrote runs (Codex's worktree,
    the test command's tree); returns their paths. Symbolic links to a secret file go too."""
    removed = []
    for folder, dirs, names in os.walk(tree):
        dirs[:] = [d for d in dirs if d != ".git"]
        for name in names:
            full = Path(folder) / name
            rel = full.relative_to(tree).as_posix()
            target = full.resolve() if full.is_symlink() else full
            if policy.is_secret_file(rel) or (full.is_symlink() and policy.is_secret_file(target.name)):
                full.unlink()
                removed.append(rel)
    return removed
