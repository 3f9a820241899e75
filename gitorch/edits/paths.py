"""The one path policy: what builder output may write, for the edits a model proposes and for the
commit that lands them.

``check`` takes a path as a model wrote it and returns it as the repository names it, or raises
``PathRefused`` with a reason written for the model (it is sent back to the builder, and shown to a
person when a commit refuses a path). The rules: not empty, no control characters, not absolute, not
a folder, no ``..``, never inside ``.git`` (in any spelling a filesystem treats as the same name), not
a secret file (``gitorch.secrets``: ``.env``, keys, credentials, plus ``edits.secret_files``), and not
a workflow file or local action unless ``edits.allow_workflow_files``. The commit layer accepts
only paths already in the form ``check`` returns.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from ..secrets import is_secret_file

# What runs in CI with the repository's secrets: workflows, and the local actions they call.
WORKFLOW_DIRS = (".github/workflows/", ".github/actions/")


def is_workflow_path(path: str) -> bool:
    """Whether ``path`` (relative, '/'-separated) is a workflow file or part of a local action."""
    lowered = path.lower()
    return any(lowered.startswith(d) and len(lowered) > len(d) for d in WORKFLOW_DIRS)




class PathRefused(Exception):
    """A path builder output may not write; ``reason`` is written for the model."""

    def __init__(self, reason: str, *, secret: bool = False):
        super().__init__(reason)
        self.reason = reason
        self.secret = secret  # a secret file: withheld from builders, never written by one


def check(raw: str, *, allow_workflow_files: bool = False, secret_files: tuple[str, ...] = ()) -> str:
    """``raw`` as the repository names it, or ``PathRefused`` saying why it may not be written."""
    shown = raw.strip() if isinstance(raw, str) else repr(raw)
    if not isinstance(raw, str) or not raw.strip():
        raise PathRefused("The block has an empty file path.")
    if any(ord(c) < 32 or ord(c) == 127 for c in raw):
        raise PathRefused(f"The path {raw!r} contains control characters.")
    path = normalise(raw)
    if path.startswith(("/", "~")) or re.match(r"^[A-Za-z]:", path):
        raise PathRefused(f"The path '{shown}' is absolute. Use a path relative to the repository root.")
    if path.endswith("/"):
        raise PathRefused(f"The path '{shown}' names a folder, not a file.")
    parts = [p for p in path.split("/") if p != "."]
    if ".." in parts:
        raise PathRefused(f"The path '{shown}' contains '..'. Paths must stay inside the repository.")
    if any(is_git_dir(p) for p in parts):
        raise PathRefused(f"The path '{shown}' is inside a .git folder, which must never be changed.")
    path = "/".join(parts)
    if is_workflow_path(path) and not allow_workflow_files:
        raise PathRefused(f"The path '{shown}' is a GitHub Actions workflow file or local action; changing "
                          "them is not allowed here. Leave .github/workflows/ and .github/actions/ alone.")
    if is_secret_file(path, secret_files):
        raise PathRefused(f"The path '{shown}' is a secret file (its contents are withheld); it is never "
                          "written by a builder. Leave it alone, and put new settings in code or in a "
                          "template such as .env.example.", secret=True)
    return path


_KNOWN_NAMES = {"makefile", "dockerfile", "license", "licence", "procfile", "gemfile", "rakefile", "justfile",
                "vagrantfile", "codeowners", "readme", "changelog", "notice", "authors", "containerfile"}
_COMMON_FOLDERS = {"bin", "scripts", "script", "tools", "hooks", "src", "lib", "cmd", "etc", ".github", ".githooks"}


def normalise(raw: str) -> str:
    """A path as a model may write it (quoted, with backslashes, ``./`` or doubled slashes), as the
    repository names it."""
    path = raw.strip().strip("'\"").replace("\\", "/")
    while path.startswith("./"):
        path = path[2:]
    return re.sub(r"/{2,}", "/", path)


def is_unsafe_shape(path: str) -> bool:
    """Paths that must be recognised as paths so that they can be refused."""
    parts = path.split("/")
    return (path.startswith(("/", "~")) or bool(re.match(r"^[A-Za-z]:", path)) or ".." in parts
            or any(is_git_dir(p) for p in parts))


_IGNORABLE = dict.fromkeys(map(ord, "\u200b\u200c\u200d\u200e\u200f\u202a\u202b\u202c\u202d\u202e"
                                   "\u206a\u206b\u206c\u206d\u206e\u206f\ufeff"))


def is_git_dir(part: str) -> bool:
    """``.git`` in any case, and the spellings some filesystems treat as the same name
    (trailing dots or spaces on Windows, the 8.3 short name, invisible characters on macOS)."""
    return part.translate(_IGNORABLE).rstrip(". ").lower() in (".git", "git~1")


def looks_like_path(text: str, known: Iterable[str] = ()) -> bool:
    if not text or len(text) > 255 or re.search(r"\s", text) or "://" in text or "`" in text:
        return False
    path = normalise(text)
    if not path or not re.search(r"[A-Za-z0-9]", path):
        return False
    if is_unsafe_shape(path) or path in known:
        return True
    parts = path.rstrip("/").split("/")
    if not all(re.fullmatch(r"[\w.@+~-]+", part) for part in parts):
        return False
    base = parts[-1]
    if re.search(r"\.[A-Za-z][\w+-]*$", base) or base.lower() in _KNOWN_NAMES:
        return True
    # No extension (bin/run, hooks/pre-push): only under a folder the repository has, so that
    # a heading such as "Input/output:" is not taken for a file.
    return len(parts) > 1 and (parts[0] + "/" in known or parts[0] in _COMMON_FOLDERS)
