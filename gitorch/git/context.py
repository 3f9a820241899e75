"""What the architect is shown of a repository: a compact map plus the files most relevant to the
task, cut to a token budget, with secrets redacted.

The map lists every file (grouped by folder) and the definitions of Python files (classes with their
methods, functions with their arguments, found with ``ast``). When that is too long for the budget it
is made coarser step by step: definitions only for the most relevant files, then folders summarised
by their file counts. The relevant files are ranked by how many of the task's words (weighted by how
rare they are in the repository) appear in their path, their definitions and their content, and are
added whole while they fit, the next one cut short if it is worth it.

Token counts use a calibrated estimate (characters per token); when a ``count`` function is given
(``count_tokens`` of the API, which is free) the rendered context is counted once and, if it is over,
rendered again with the ratio measured on it. A 2,000-file repository stays within the budget.

Never included: ``.git``, ``node_modules`` and other build folders, binaries, lock files, and the
contents of ``.env`` files and key files (their values are learned so that a copy of them elsewhere is
redacted too).
"""

from __future__ import annotations

import ast
import math
import os
import re
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

from ..redact import Redactor, env_values
from ..secrets import is_env_file, is_secret_file

SKIP_DIRS = frozenset({".git", "node_modules", "__pycache__", ".venv", "venv", ".tox", ".mypy_cache",
                       ".pytest_cache", ".ruff_cache", "dist", "build", ".eggs", ".idea", ".next", "target"})
LOCK_FILES = frozenset({"package-lock.json", "yarn.lock", "pnpm-lock.yaml", "poetry.lock", "Pipfile.lock",
                        "Cargo.lock", "composer.lock", "uv.lock", "Gemfile.lock", "go.sum", "bun.lockb"})
MAX_FILE_BYTES = 200_000
CHARS_PER_TOKEN = 3.5  # conservative for code; recalibrated from count_tokens when available
MAP_SHARE = 0.35  # of the budget, at most, for the map when files compete for room
MIN_PARTIAL_TOKENS = 200  # a file cut shorter than this is not worth including
_DEF_NAME = re.compile(r"^[ \t]*(?:async[ \t]+)?(?:def|class)[ \t]+(\w+)", re.M)  # fast, for ranking only
_STOP = frozenset("""the and for with that this from into when then than have has are was were will would
should could can not but all any each add make use using new fix bug code file files test tests function
class method value values return returns set get one two more some such also its it's our your their
""".split())


def is_lock_file(path: str) -> bool:
    return PurePosixPath(path).name in LOCK_FILES


# -- token counting -------------------------------------------------------------------------------


@dataclass
class TokenEstimate:
    """Characters per token, measured once against a real count when one is available."""

    chars_per_token: float = CHARS_PER_TOKEN

    def __call__(self, text: str) -> int:
        return math.ceil(len(text) / self.chars_per_token)

    def calibrate(self, text: str, counted: int) -> None:
        if counted > 0 and len(text) > 200:
            self.chars_per_token = len(text) / counted


# -- reading --------------------------------------------------------------------------------------


def read_tree(root: Path, rev: str | None = None, secret_files: Iterable[str] = ()) -> dict[str, str | None]:
    """Every file of the repository: path -> text, or None when its contents are not to be shown
    (binary, too big, lock file, secret file by ``gitorch.secrets`` plus ``secret_files``). ``rev``
    reads a commit (pygit2) instead of the working tree."""
    extra = tuple(secret_files)
    if rev is not None:
        from . import repo as gitops

        files: dict[str, str | None] = {}
        for path in gitops.list_files(root, rev):
            files[path] = None
        texts = gitops.read_files(root, rev, max_bytes=MAX_FILE_BYTES)
        for path in files:
            if not _skipped_path(path, extra) and path in texts:
                files[path] = texts[path]
        return {p: t for p, t in files.items() if not _in_skipped_dir(p)}
    return {path: None if _skipped_path(path, extra) else _read_text(root / path) for path in walk(root)}


def walk(root: Path):
    """Paths of the working tree's regular files (no symlinks), build and VCS folders left out."""
    for folder, dirs, names in os.walk(root):
        dirs[:] = sorted(d for d in dirs if d not in SKIP_DIRS and not d.endswith(".egg-info"))
        for name in sorted(names):
            full = Path(folder) / name
            if not full.is_symlink() and full.is_file():
                yield full.relative_to(root).as_posix()


def _in_skipped_dir(path: str) -> bool:
    return any(part in SKIP_DIRS for part in PurePosixPath(path).parts[:-1])


def _skipped_path(path: str, extra: tuple[str, ...] = ()) -> bool:
    return is_lock_file(path) or is_secret_file(path, extra)


def _read_text(path: Path) -> str | None:
    try:
        if path.stat().st_size > MAX_FILE_BYTES:
            return None
        data = path.read_bytes()
    except OSError:
        return None
    if b"\0" in data[:8192]:
        return None
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return None


def secret_values(root: Path, paths: Iterable[str], rev: str | None = None) -> list[str]:
    """Values found in the repository's ``.env`` files, to redact wherever else they appear."""
    values: list[str] = []
    for path in paths:
        if not is_env_file(path):
            continue
        if rev is not None:
            from . import repo as gitops

            text = gitops.read_file(root, rev, path)
        else:
            text = _read_text(root / path)
        if text:
            values.extend(env_values(text))
    return values


# -- the map --------------------------------------------------------------------------------------


def python_definitions(source: str) -> list[str]:
    """``class Name(Base): a, b`` and ``def name(args)`` for the top level of a Python file."""
    try:
        tree = ast.parse(source)
    except (SyntaxError, ValueError):
        return []
    out = []
    for node in tree.body:
        if isinstance(node, ast.ClassDef):
            bases = ", ".join(ast.unparse(b) for b in node.bases)
            methods = [n.name for n in node.body if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef))]
            head = f"class {node.name}({bases})" if bases else f"class {node.name}"
            out.append(head + (f": {', '.join(methods)}" if methods else ""))
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            args = [a.arg for a in node.args.posonlyargs + node.args.args + node.args.kwonlyargs]
            out.append(f"def {node.name}({', '.join(args)})")
    return out


@dataclass
class _File:
    path: str
    text: str | None
    score: float = 0.0
    withheld: bool = False  # a secret file: listed, never shown
    _defs: list[str] | None = field(default=None, repr=False)

    @property
    def defs(self) -> list[str]:
        """The file's definitions, parsed with ``ast`` the first time they are shown."""
        if self._defs is None:
            self._defs = python_definitions(self.text) if self.text and self.path.endswith(".py") else []
        return self._defs


def _render_map(files: list[_File], detail: set[str] | None, folders_only: bool, relevant: set[str]) -> str:
    """The repository as a tree. ``detail``: files whose definitions are shown (None: all).
    ``folders_only``: folders summarised with their file count, except relevant files."""
    by_folder: dict[str, list[_File]] = {}
    for f in files:
        folder = str(PurePosixPath(f.path).parent)
        by_folder.setdefault("" if folder == "." else folder, []).append(f)
    lines = [f"## Repository map ({len(files)} files)"]
    for folder in sorted(by_folder):
        members = by_folder[folder]
        label = f"{folder}/" if folder else "./"
        if folders_only:
            shown = [f for f in members if f.path in relevant]
            others = len(members) - len(shown)
            lines.append(f"{label} ({len(members)} files)" + (": " if shown else ""))
            for f in shown:
                lines.append(_file_line(f, detail))
            if shown and others:
                lines.append(f"  ... {others} more")
            continue
        lines.append(label)
        for f in members:
            lines.append(_file_line(f, detail))
    return "\n".join(lines) + "\n"


def _file_line(f: _File, detail: set[str] | None) -> str:
    name = PurePosixPath(f.path).name
    note = " (contents withheld)" if f.withheld else ""
    if f.defs and (detail is None or f.path in detail):
        defs = "; ".join(f.defs)
        if len(defs) > 400:
            defs = defs[:400] + " ..."
        return f"  {name}{note}: {defs}"
    return f"  {name}{note}"


# -- ranking --------------------------------------------------------------------------------------


def words(text: str) -> list[str]:
    """Lower-case words of a text, identifiers split at underscores and camelCase."""
    spaced = re.sub(r"([a-z0-9])([A-Z])", r"\1 \2", text)
    return [w for w in re.findall(r"[a-z][a-z0-9]{2,}", spaced.lower()) if w not in _STOP]


def rank(files: list[_File], task: str) -> list[_File]:
    """Files by relevance to ``task``: task words in the path count most, then in definitions,
    then in the content (log of the count), each weighted by rarity across the repository."""
    terms = set(words(task))
    named = {p for p in re.findall(r"[\w./-]+\.\w+", task)}
    if not terms and not named:
        return []
    docs: list[tuple[_File, set[str], set[str], Counter[str]]] = []
    df: Counter[str] = Counter()
    for f in files:
        path_words = set(words(f.path.replace("/", " ").replace(".", " ")))
        text = f.text or ""
        def_words = set(words(" ".join(_DEF_NAME.findall(text))))
        lowered = text.lower()
        content = Counter({t: lowered.count(t) for t in terms if t in lowered})
        docs.append((f, path_words, def_words, content))
        df.update(terms & (path_words | def_words | set(content)))
    n = len(files)
    for f, path_words, def_words, content in docs:
        score = 0.0
        for term in terms:
            if not df[term]:
                continue
            idf = math.log(1 + n / df[term])
            score += idf * (3 * (term in path_words) + 2 * (term in def_words) + math.log1p(content[term]))
        if f.path in named or PurePosixPath(f.path).name in named:
            score += 100
        f.score = score
    ranked = [f for f in files if f.score > 0 and f.text is not None]
    return sorted(ranked, key=lambda f: (-f.score, f.path))


# -- the context ----------------------------------------------------------------------------------


@dataclass
class RepoContext:
    """The rendered context and how it was made."""

    text: str
    tokens: int
    budget: int
    files_total: int
    files_included: list[str]
    files_cut: list[str]
    map_detail: str  # "full", "relevant", "folders"
    counted: bool  # tokens counted by the API (else estimated)

    def __str__(self) -> str:
        return self.text


def _render_file(path: str, text: str) -> str:
    fence = "`" * max(3, max((len(m) for m in re.findall(r"`{3,}", text)), default=0) + 1)
    body = text if text.endswith("\n") or not text else text + "\n"
    return f"### file: {path}\n{fence}\n{body}{fence}\n"


def _assemble(files: list[_File], ranked: list[_File], budget: int, est: Callable[[str], int],
              redactor: Redactor) -> tuple[str, list[str], list[str], str]:
    """Map plus relevant files within ``budget`` tokens by the estimate ``est``."""
    top = {f.path for f in ranked[:40]}
    header = "## Relevant files\n"
    map_budget = budget if not ranked else int(budget * MAP_SHARE)
    # From the most detailed map to the coarsest; each file line costs at least ~6 tokens, so the
    # detailed maps are not even drawn (nor every file parsed) when that alone is over the room.
    detail, repo_map = "folders", ""
    for name, everything, folders_only in (("full", None, False), ("relevant", top, False)):
        if len(files) * 6 > map_budget:
            break
        text = _render_map(files, everything, folders_only, top)
        if est(text) <= map_budget:
            detail, repo_map = name, text
            break
    if not repo_map:
        repo_map = _render_map(files, top, True, top)
    if est(repo_map) > map_budget:  # even folder counts are too long: keep the first lines that fit
        lines, kept, used = repo_map.splitlines(), [], 0
        for line in lines:
            cost = est(line + "\n")
            if used + cost > map_budget - 20:
                break
            kept.append(line)
            used += cost
        repo_map = "\n".join(kept) + f"\n... {len(lines) - len(kept)} more lines of the map left out\n"
    repo_map = redactor(repo_map)
    used = est(repo_map) + est(header)
    included, cut, parts = [], [], []
    for f in ranked:
        room = budget - used
        if room < MIN_PARTIAL_TOKENS:
            break
        text = redactor(f.text or "")
        block = _render_file(f.path, text)
        cost = est(block)
        if cost <= room:
            parts.append(block)
            included.append(f.path)
            used += cost
            continue
        keep_chars = int(len(text) * (room - 40) / max(cost, 1))
        if est(text[:keep_chars]) < MIN_PARTIAL_TOKENS:
            continue
        head = text[:keep_chars].rsplit("\n", 1)[0] + "\n"
        block = _render_file(f.path, head + f"... [cut: {len(text) - len(head)} more characters]\n")
        if est(block) <= room:
            parts.append(block)
            included.append(f.path)
            cut.append(f.path)
            used += est(block)
    text = repo_map + ("\n" + header + "\n".join(parts) if parts else "")
    return text, included, cut, detail


def build_context(root: str | os.PathLike[str], task: str, *, budget: int = 20_000, rev: str | None = None,
                  secrets: Iterable[str] = (), count: Callable[[str], int] | None = None,
                  estimate: TokenEstimate | None = None, secret_files: Iterable[str] = ()) -> RepoContext:
    """The context for ``task`` from the repository at ``root`` (working tree, or commit ``rev``),
    at most ``budget`` tokens. ``secrets``: values to redact besides token shapes and .env values.
    ``count``: an exact counter (``count_tokens``); without it the estimate decides."""
    root = Path(root)
    extra = tuple(secret_files)
    tree = read_tree(root, rev, extra)
    redactor = Redactor([*secrets, *secret_values(root, tree, rev)])
    files = [_File(path, text, withheld=is_secret_file(path, extra)) for path, text in tree.items()]
    ranked = rank(files, task)
    est = estimate or TokenEstimate()
    target = budget
    text, included, cut, detail = _assemble(files, ranked, target, est, redactor)
    tokens, counted = est(text), False
    if count is not None:
        # Count what was drawn, learn the ratio from it, and draw again while the count is over the
        # budget or well under it (at most three times); keep the largest draw within the budget.
        tokens, counted = count(text), True
        est.calibrate(text, tokens)
        drawn = (text, included, cut, detail)
        best = (*drawn, tokens) if tokens <= budget else None
        for _ in range(3):
            complete = drawn[3] == "full" and not drawn[2] and len(drawn[1]) == len(ranked)
            if best is not None and (best[4] >= budget * 0.85 or complete):
                break
            target = max(1, int(target * budget * 0.97 / max(tokens, 1)))
            drawn = _assemble(files, ranked, target, est, redactor)
            n = count(drawn[0])
            if n == tokens:  # nothing more to show, or nothing left to take out
                break
            tokens = n
            if n <= budget and (best is None or n > best[4]):
                best = (*drawn, n)
        text, included, cut, detail, tokens = best if best is not None else (*drawn, tokens)
    return RepoContext(text, tokens, budget, len(files), included, cut, detail, counted)


def diff_lines(diff: str) -> dict[str, dict[int, tuple[str, bool]]]:
    """The lines of a unified diff's new side a review comment may anchor to:
    path -> {line number: (text, added)}; context lines count, removed lines do not."""
    out: dict[str, dict[int, tuple[str, bool]]] = {}
    path: str | None = None
    line = 0
    for raw in diff.splitlines():
        if raw.startswith("+++ "):
            name = raw[4:].strip().split("\t")[0]
            path = None if name == "/dev/null" else name.removeprefix("b/")
        elif raw.startswith("--- ") or raw.startswith("diff --git"):
            continue
        elif raw.startswith("@@"):
            m = re.match(r"@@ -\d+(?:,\d+)? \+(\d+)", raw)
            line = int(m.group(1)) if m else 0
        elif path is None or raw.startswith("\\"):
            continue
        elif raw.startswith("+"):
            out.setdefault(path, {})[line] = (raw[1:], True)
            line += 1
        elif raw.startswith(" "):
            out.setdefault(path, {})[line] = (raw[1:], False)
            line += 1
    return out
