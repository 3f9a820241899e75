"""Builder output turned into file edits: lenient with the model's formatting, strict with the repository.

The edit protocol (``builder_instructions`` says it to the builder):

- a whole file: its path (in backticks) alone on a line, then the complete content in a fenced block;
- a change inside a file: the path, then a fenced block of SEARCH/REPLACE pairs
  (``<<<<<<< SEARCH`` / ``=======`` / ``>>>>>>> REPLACE``);
- a deletion: ``DELETE `path``` alone on a line, outside any block.

Paths go in backticks because the browser builder reads the answer back from a rendered page, where
``src/__init__.py`` outside code would turn bold; the parser accepts them bare too.

``parse_answer`` reads an answer into ``Edit`` objects and checks every one against the files in
play (a dry run), so a bad answer fails before anything is written. It forgives the slips models
make (no language tag, four-backtick fences, CRLF, trailing spaces, 5 to 9 marker characters, the
path dressed in ``**``, backticks, ``#`` or ``:``, or given as a comment on the block's first line,
a SEARCH that differs from the file only in whitespace or indentation) and never guesses content.
It refuses, quoting the block: unsafe paths (absolute, ``..``, ``.git``, workflow files, symlinks),
binary content, oversized files, a SEARCH that matches nowhere or more than once, and answers with
no edits. The ``EditError`` it raises is written for the model: the caller sends ``.message`` back
verbatim and parses the reply with ``previous=err.accepted`` so the blocks that were fine count.

``apply_edits`` applies edits to a copy of the files and returns the new contents of the changed
paths (``None``: deleted); it repeats every path check, so half a set never lands.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from .config import EditsConfig
from .errors import GitorchError
from .model import Edit

# ---------------------------------------------------------------------------------------------
# The protocol, as the builder reads it. The examples use paths no repository is likely to have,
# and blocks identical to them are skipped, so a model that echoes the instructions changes nothing.

_EXAMPLE_WHOLE = ("example/hello.py", 'def hello(name):\n    return f"Hello, {name}!"\n')
_EXAMPLE_SEARCH = ("example/calc.py", "def add(a, b):\n    return a+b\n", "def add(a, b):\n    return a + b\n")
_EXAMPLE_DELETE = "example/obsolete.py"


# What runs in CI with the repository's secrets: workflows, and the local actions they call.
WORKFLOW_DIRS = (".github/workflows/", ".github/actions/")


def is_workflow_path(path: str) -> bool:
    """Whether ``path`` (relative, '/'-separated) is a workflow file or part of a local action."""
    lowered = path.lower()
    return any(lowered.startswith(d) and len(lowered) > len(d) for d in WORKFLOW_DIRS)


def builder_instructions(edits_config: EditsConfig | None = None) -> str:
    """How the builder must write its answer: the edit protocol, short and with one example each."""
    cfg = edits_config or EditsConfig()
    name, body = _EXAMPLE_WHOLE
    sr_path, search, replace = _EXAMPLE_SEARCH
    forbidden = "inside .git/" if cfg.allow_workflow_files else "inside .git/ or .github/workflows/"
    return f"""\
How to write your answer: change files only with the blocks below. Put each block's file path,
relative to the repository root, in backticks alone on the line just above the block's opening fence.

1. A new file, or a short file rewritten in full: the path, then the complete new content.

`{name}`
```python
{body}```

2. A change inside an existing file: the path, then one or more SEARCH/REPLACE pairs in a block.

`{sr_path}`
```python
<<<<<<< SEARCH
{search}=======
{replace}>>>>>>> REPLACE
```

SEARCH must copy the current lines exactly (comments, blank lines and indentation too) and match
exactly one place in the file: add a line or two around the change if needed. Keep it short: the
lines that change plus a little context. To insert lines, search for the line before them and
repeat it in REPLACE. An empty SEARCH creates a new file with the REPLACE lines.

3. Deleting a file: a line of its own, outside any block:

DELETE `{_EXAMPLE_DELETE}`

Rules:
- Paths use forward slashes, relative to the repository root: never absolute, never "..",
  never {forbidden}. Text files only (UTF-8), at most {cfg.max_file_bytes} bytes each.
- A whole-file block holds the entire file: no "..." or "rest unchanged" placeholders. For a
  change inside a long file, use SEARCH/REPLACE instead.
- If a file itself contains lines starting with ```, fence its block with four backticks (````).
- Blocks from a previous answer that were accepted must not be sent again.
"""


_LANGUAGES = {
    ".py": "python", ".pyi": "python", ".js": "javascript", ".mjs": "javascript", ".cjs": "javascript",
    ".jsx": "jsx", ".ts": "typescript", ".tsx": "tsx", ".md": "markdown", ".yml": "yaml", ".yaml": "yaml",
    ".json": "json", ".toml": "toml", ".sh": "bash", ".go": "go", ".rs": "rust", ".rb": "ruby",
    ".java": "java", ".kt": "kotlin", ".c": "c", ".h": "c", ".cpp": "cpp", ".hpp": "cpp", ".cs": "csharp",
    ".html": "html", ".css": "css", ".sql": "sql", ".ini": "ini", ".cfg": "ini", ".xml": "xml",
}


def _language(path: str) -> str:
    return _LANGUAGES.get(Path(path).suffix.lower(), "")


def _fence_for(text: str) -> str:
    """Three backticks, or one more than the longest run that starts a line of ``text``."""
    longest = max((len(m.group(1)) for m in re.finditer(r"^[ \t]*(`{3,})", text, re.M)), default=0)
    return "`" * max(3, longest + 1)


def format_files(files: Mapping[str, str]) -> str:
    """The current content of ``files`` for the prompt, each under its path in the protocol's own shape."""
    if not files:
        return "(no existing files are given for this task)\n"
    parts = []
    for path, content in files.items():
        fence = _fence_for(content)
        body = content if content.endswith("\n") or not content else content + "\n"
        parts.append(f"`{path}`\n{fence}{_language(path)}\n{body}{fence}\n")
    return "\n".join(parts)


# ---------------------------------------------------------------------------------------------
# Errors written for the model.


@dataclass
class BlockFailure:
    """One block that could not be used: what it is, why, and the block as the model wrote it."""

    number: int
    label: str
    reason: str
    quote: str = ""
    suggestion: str = ""


class EditError(GitorchError):
    """The builder's answer cannot be used as it is. ``message`` is written for the model and can be
    sent back verbatim; ``accepted`` holds the edits that were fine (pass them as ``previous=`` when
    parsing the corrected answer); ``failures`` says which blocks failed and why."""

    def __init__(self, message: str, *, failures: list[BlockFailure] | None = None,
                 accepted: list[Edit] | None = None, accepted_labels: list[str] | None = None):
        super().__init__(message, hint="gitorch sends this message back to the builder once; "
                                       "if the next answer fails too, the task fails")
        self.failures = failures or []
        self.accepted = accepted or []
        self.accepted_labels = accepted_labels or []


class _Refusal(Exception):
    """A single edit cannot be applied: ``reason`` for the model, with an optional suggestion."""

    def __init__(self, reason: str, suggestion: str = ""):
        super().__init__(reason)
        self.reason = reason
        self.suggestion = suggestion


_QUOTE_LINES = 40


def _quote(raw: str) -> str:
    lines = raw.rstrip("\n").split("\n")
    if len(lines) > _QUOTE_LINES:
        lines = lines[:30] + [f"[... {len(lines) - 38} more lines ...]"] + lines[-8:]
    text = "\n".join(lines) + "\n"
    fence = _fence_for(text)
    return f"{fence}\n{text}{fence}"


def _error_message(failures: list[BlockFailure], accepted_labels: list[str]) -> str:
    count = f"{len(failures)} block{'s' if len(failures) != 1 else ''}"
    out = [f"Your answer could not be used: {count} failed. Nothing has been changed yet.", ""]
    for failure in failures:
        out.append(f"## {failure.label}")
        out.append(failure.reason)
        if failure.quote:
            out += ["", "The block as you sent it:", _quote(failure.quote)]
        if failure.suggestion:
            out += ["", failure.suggestion]
        out.append("")
    if accepted_labels:
        out.append("These blocks were fine and are kept: " + "; ".join(accepted_labels) + ".")
        out.append("Do not send them again. Send only corrected versions of the failed blocks, "
                   "in the same format.")
    else:
        out.append("Send a corrected answer, in the format described in the instructions.")
    return "\n".join(out).rstrip() + "\n"


# ---------------------------------------------------------------------------------------------
# Paths: every check, in one place.

_KNOWN_NAMES = {"makefile", "dockerfile", "license", "licence", "procfile", "gemfile", "rakefile", "justfile",
                "vagrantfile", "codeowners", "readme", "changelog", "notice", "authors", "containerfile"}
_COMMON_FOLDERS = {"bin", "scripts", "script", "tools", "hooks", "src", "lib", "cmd", "etc", ".github", ".githooks"}


def _normalise(raw: str) -> str:
    path = raw.strip().strip("'\"").replace("\\", "/")
    while path.startswith("./"):
        path = path[2:]
    return re.sub(r"/{2,}", "/", path)


def _is_unsafe_shape(path: str) -> bool:
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


def _looks_like_path(text: str, known: Iterable[str] = ()) -> bool:
    if not text or len(text) > 255 or re.search(r"\s", text) or "://" in text or "`" in text:
        return False
    path = _normalise(text)
    if not path or not re.search(r"[A-Za-z0-9]", path):
        return False
    if _is_unsafe_shape(path) or path in known:
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


@dataclass
class _Files:
    """The files in play, the repository on disk (when given), and the changes made so far."""

    given: Mapping[str, str]
    root: Path | None
    config: EditsConfig
    current: dict[str, str | None] = field(default_factory=dict)  # path -> LF content, None: deleted
    crlf: set[str] = field(default_factory=set)
    existed: dict[str, bool] = field(default_factory=dict)
    originals: dict[str, str | None] = field(default_factory=dict)
    _lines: dict[str, tuple[str, list[str]]] = field(default_factory=dict)
    _normalised: dict[tuple[str, Callable[[str], str]], tuple[list[str], list[str]]] = field(default_factory=dict)

    def check_path(self, raw: str) -> str:
        """The normalised path, or a refusal naming what is wrong with it."""
        if not raw.strip():
            raise _Refusal("The block has an empty file path.")
        if any(ord(c) < 32 or ord(c) == 127 for c in raw):
            raise _Refusal(f"The path {raw!r} contains control characters.")
        path = _normalise(raw)
        if path.startswith(("/", "~")) or re.match(r"^[A-Za-z]:", path):
            raise _Refusal(f"The path '{raw.strip()}' is absolute. Use a path relative to the repository root.")
        if path.endswith("/"):
            raise _Refusal(f"The path '{raw.strip()}' names a folder, not a file.")
        parts = [p for p in path.split("/") if p != "."]
        if ".." in parts:
            raise _Refusal(f"The path '{raw.strip()}' contains '..'. Paths must stay inside the repository.")
        if any(is_git_dir(p) for p in parts):
            raise _Refusal(f"The path '{raw.strip()}' is inside a .git folder, which must never be changed.")
        if is_workflow_path("/".join(parts)) and not self.config.allow_workflow_files:
            raise _Refusal(f"The path '{raw.strip()}' is a GitHub Actions workflow file or local action; changing "
                           "them is not allowed here. Leave .github/workflows/ and .github/actions/ alone.")
        path = "/".join(parts)
        if self.root is not None:
            self._check_on_disk(path, raw.strip())
        return path

    def _check_on_disk(self, path: str, shown: str) -> None:
        root = self.root
        assert root is not None
        here = root
        parts = path.split("/")
        for i, part in enumerate(parts):
            here = here / part
            if here.is_symlink():
                what = "is a symbolic link" if i == len(parts) - 1 else f"goes through the symbolic link '{'/'.join(parts[:i + 1])}'"
                raise _Refusal(f"The path '{shown}' {what}; files are never written through links.")
            if not here.exists():
                return
            if i < len(parts) - 1 and not here.is_dir():
                raise _Refusal(f"The path '{shown}' goes through '{'/'.join(parts[:i + 1])}', which is a file, not a folder.")
        if here.is_dir():
            raise _Refusal(f"The path '{shown}' is a folder, not a file.")
        if not here.resolve().is_relative_to(root.resolve()):
            raise _Refusal(f"The path '{shown}' leads outside the repository.")

    def resolve_known(self, path: str) -> str:
        """``path``, or the one given file with the same name when the model got the folder wrong."""
        if path in self.given or path in self.current or self._on_disk(path):
            return path
        base = path.rsplit("/", 1)[-1]
        same = [p for p in self.given if p.rsplit("/", 1)[-1] == base]
        return same[0] if len(same) == 1 else path

    def _on_disk(self, path: str) -> bool:
        return self.root is not None and (self.root / path).is_file() and not (self.root / path).is_symlink()

    def get(self, path: str) -> str | None:
        """Current content (LF line ends) of ``path``, None when it does not exist."""
        if path in self.current:
            return self.current[path]
        if path in self.given:
            raw = self.given[path]
        elif self._on_disk(path):
            assert self.root is not None
            size = (self.root / path).stat().st_size
            if size > self.config.max_file_bytes:
                raise _Refusal(f"'{path}' is {size} bytes, over the limit of {self.config.max_file_bytes} bytes "
                               "per file; it cannot be edited here.")
            data = (self.root / path).read_bytes()
            try:
                raw = data.decode("utf-8")
            except UnicodeDecodeError:
                raise _Refusal(f"'{path}' is a binary file; it cannot be edited as text.") from None
        else:
            self.existed.setdefault(path, False)
            self.originals.setdefault(path, None)
            return None
        if "\x00" in raw:
            raise _Refusal(f"'{path}' is a binary file; it cannot be edited as text.")
        if "\r\n" in raw:
            self.crlf.add(path)
        text = raw.replace("\r\n", "\n")
        self.existed.setdefault(path, True)
        self.originals.setdefault(path, text)
        return text

    def set(self, path: str, content: str | None, lines: list[str] | None = None) -> None:
        if content is not None:
            _check_text(path, content, self.config)
            self._check_no_clash(path)
        self.current[path] = content
        self._lines.pop(path, None)  # normalised views are checked against the lines they came from
        if content is not None and lines is not None:
            self._lines[path] = (content, lines)

    def normalised(self, path: str, lines: list[str], norm: Callable[[str], str]) -> list[str]:
        """``lines`` of ``path`` passed through ``norm``, kept while the file does not change."""
        key = (path, norm)
        cached = self._normalised.get(key)
        if cached is None or cached[0] is not lines:
            cached = self._normalised[key] = (lines, [norm(x) for x in lines])
        return cached[1]

    def splice_normalised(self, path: str, old: list[str], lines: list[str], at: int, count: int,
                          new: list[str]) -> None:
        """Carry the normalised views of ``old`` over to ``lines`` (``new`` put at ``at`` for ``count`` lines)."""
        for (where, norm), (source, view) in list(self._normalised.items()):
            if where == path and source is old:
                self._normalised[(where, norm)] = (lines, view[:at] + [norm(x) for x in new] + view[at + count:])

    def lines(self, path: str, content: str) -> list[str]:
        """``content`` (the current text of ``path``) as lines, kept between edits of the same file."""
        cached = self._lines.get(path)
        if cached is None or cached[0] is not content:
            cached = self._lines[path] = (content, _lines(content))
        return cached[1]

    def _check_no_clash(self, path: str) -> None:
        """A file cannot also be a folder: ``a.py`` and ``a.py/b`` in one tree."""
        live = {p for p in self.given if self.current.get(p, "") is not None}
        live |= {p for p, c in self.current.items() if c is not None}
        parents = {path[:i] for i, ch in enumerate(path) if ch == "/"}
        clash = next((p for p in live if p in parents or p.startswith(path + "/")), None)
        if clash:
            raise _Refusal(f"'{path}' cannot be written: '{clash}' is a file there, and a path cannot be both "
                           "a file and a folder. Delete one of them first.")

    def result(self) -> dict[str, str | None]:
        out: dict[str, str | None] = {}
        for path, content in self.current.items():
            if content == self.originals.get(path) or (content is None and not self.existed.get(path)):
                continue
            out[path] = content.replace("\n", "\r\n") if content is not None and path in self.crlf else content
        return out


def _check_text(path: str, content: str, config: EditsConfig) -> None:
    if "\x00" in content:
        raise _Refusal(f"The content for '{path}' contains NUL bytes: binary files cannot be written. "
                       "Send text files only.")
    if "\ufffd" in content:
        raise _Refusal(f"The content for '{path}' contains U+FFFD replacement characters, left where binary "
                       "data or text in another encoding was read: binary files cannot be written.")
    try:
        size = len(content.encode("utf-8"))
    except UnicodeEncodeError:
        raise _Refusal(f"The content for '{path}' is not valid UTF-8 text: binary files cannot be written.") from None
    if size > config.max_file_bytes:
        raise _Refusal(f"The new content of '{path}' is {size} bytes, over the limit of {config.max_file_bytes} "
                       "bytes per file. Split the change or make the file smaller.")


# ---------------------------------------------------------------------------------------------
# SEARCH matching: exact, then whitespace-normalised, then shifted indentation. Never fuzzy.


def _lines(text: str) -> list[str]:
    """Lines of ``text`` without line ends; a final newline adds no empty line."""
    if not text:
        return []
    return text[:-1].split("\n") if text.endswith("\n") else text.split("\n")


def _join(lines: list[str]) -> str:
    return "\n".join(lines) + "\n" if lines else ""


def _squash(line: str) -> str:
    """Leading whitespace kept, inner runs of whitespace made one space, trailing removed."""
    body = line.lstrip(" \t")
    return line[: len(line) - len(body)] + " ".join(body.split())


def _words(line: str) -> str:
    return " ".join(line.split())


def _width(line: str, tabsize: int) -> int:
    indent = line[: len(line) - len(line.lstrip(" \t"))]
    return len(indent.expandtabs(tabsize))


def _positions(hay: list[str], needle: list[str]) -> list[int]:
    k, first, found, i = len(needle), needle[0], [], -1
    while True:
        try:
            i = hay.index(first, i + 1)
        except ValueError:
            return found
        if hay[i:i + k] == needle:
            found.append(i)


def _reindented(file_lines: list[str], search: list[str], replace: list[str], at: int, tabsize: int) -> list[str] | None:
    """``replace`` moved to the file's indentation, when ``search`` maps onto the file's lines at ``at``
    level for level (a constant shift, or a consistent change of indent width); None otherwise."""
    levels: dict[int, int] = {}
    for f, s in zip(file_lines[at:at + len(search)], search, strict=True):
        if s.strip() and levels.setdefault(_width(s, tabsize), _width(f, tabsize)) != _width(f, tabsize):
            return None
    widths = sorted(levels)
    if any(levels[a] >= levels[b] for a, b in zip(widths, widths[1:], strict=False)):
        return None
    low, high = widths[0], widths[-1]
    scale = (levels[high] - levels[low]) / (high - low) if high > low else 1.0

    def width(w: int) -> int:
        return levels[w] if w in levels else max(0, round(levels[low] + (w - low) * scale))

    tabs = any(f[:1] == "\t" for f in file_lines[at:at + len(search)])
    out = []
    for line in replace:
        if not line.strip():
            out.append("")
            continue
        w = width(_width(line, tabsize))
        indent = "\t" * (w // tabsize) + " " * (w % tabsize) if tabs else " " * w
        out.append(indent + line.lstrip(" \t"))
    return out


def _match(file_lines: list[str], search: list[str], replace: list[str],
           view: Callable[[Callable[[str], str]], list[str]] | None = None) -> tuple[int, int, list[str]]:
    """Where ``search`` sits in the file, how many lines, and the replacement to put there.
    ``view(norm)`` gives the file's lines normalised by ``norm`` (cached by the caller)."""
    view = view or (lambda norm: [norm(x) for x in file_lines])
    attempts = [(search, replace)]
    lead = next((i for i, s in enumerate(search) if s.strip()), len(search))
    trail = next((i for i, s in enumerate(reversed(search)) if s.strip()), len(search))
    if lead or trail:
        core = search[lead:len(search) - trail]
        r_lead = min(lead, next((i for i, s in enumerate(replace) if s.strip()), len(replace)))
        r_trail = min(trail, next((i for i, s in enumerate(reversed(replace)) if s.strip()), len(replace)))
        attempts.append((core, replace[r_lead:len(replace) - r_trail]))
    for s_lines, r_lines in attempts:
        if not s_lines:
            continue
        for how, norm in (("exactly", None), ("ignoring whitespace", _squash), ("ignoring indentation", _words)):
            if norm is None:
                found = _positions(file_lines, s_lines)
            else:
                found = _positions(view(norm), [norm(x) for x in s_lines])
            if len(found) > 1:
                where = ", ".join(str(i + 1) for i in found[:8])
                raise _Refusal(f"The SEARCH lines match {len(found)} places ({how}), at lines {where}. "
                               "Include more surrounding lines in SEARCH so that it matches exactly one place.")
            if found:
                at = found[0]
                if norm is _words:
                    for tabsize in (4, 8):
                        moved = _reindented(file_lines, s_lines, r_lines, at, tabsize)
                        if moved is not None:
                            return at, len(s_lines), moved
                    continue  # inner text matches but indentation is not a constant shift: not the same lines
                return at, len(s_lines), r_lines
    raise _Refusal("The SEARCH lines do not match anything in the file.")


def _similar(file_lines: list[str], search: list[str]) -> list[str]:
    """The lines of the file most like ``search``, for a "did you mean"."""
    wanted = [s.strip() for s in search if s.strip()]
    if not wanted or not file_lines:
        return []
    stripped = [f.strip() for f in file_lines]
    index: dict[str, list[int]] = {}
    for i, line in enumerate(stripped):
        index.setdefault(line, []).append(i)
    starts: set[int] = set()
    probe = [(j, s) for j, s in enumerate(search) if s.strip()]
    for j, line in probe[:4] + probe[-2:]:
        for close in difflib.get_close_matches(line.strip(), index.keys(), n=3, cutoff=0.6):
            starts.update(max(0, i - j) for i in index[close])
    target = "\n".join(s.strip() for s in search)
    best, best_at = 0.0, -1
    for at in sorted(starts)[:200]:
        window = "\n".join(stripped[at:at + len(search)])
        ratio = difflib.SequenceMatcher(None, target, window).ratio()
        if ratio > best:
            best, best_at = ratio, at
    if best < 0.6:
        return []
    return file_lines[best_at:best_at + len(search)]


_ELISION_COMMENT = re.compile(r"^\s*(?:#|//|/\*|<!--|--|;|\{/\*)\s*(?P<text>.*?)\s*(?:\*/\}?|-->)?\s*$")
_ELISION_WORDS = re.compile(r"\b(?:rest|existing|unchanged|remaining|omitted|as before|previous|other|same)\b", re.I)
_ELISION_PHRASE = re.compile(
    r"(?:the )?(?:rest of (?:the )?(?:file|code|class|module|function|implementation|content)|"
    r"(?:existing|remaining|other|previous) (?:code|methods|functions|imports|tests|content)|everything else)"
    r"(?: (?:remains|stays|is|are|left))?(?: (?:unchanged|the same|as before|as is))?|omitted for brevity", re.I)


def _elision(content: str, original: str) -> str | None:
    """A placeholder line such as ``# ... rest of the file unchanged`` that the original does not have."""
    have = set(original.split("\n"))
    for line in content.split("\n"):
        m = _ELISION_COMMENT.match(line)
        if not m or line in have:
            continue
        text = m["text"]
        dotted = ("..." in text or "…" in text) and _ELISION_WORDS.search(text)
        if dotted or _ELISION_PHRASE.fullmatch(text.strip(" .()[]:")):
            return line.strip()
    return None


def _apply_one(tree: _Files, edit: Edit) -> Edit:
    """Apply ``edit`` to ``tree``; the edit as applied (SEARCH as the file has it), or a refusal."""
    path = tree.check_path(edit.path)
    if edit.delete:
        if tree.get(path) is None:
            raise _Refusal(f"'{path}' cannot be deleted: there is no such file.")
        tree.set(path, None)
        return Edit(path=path, delete=True)
    if edit.content is not None:
        current = tree.get(path)
        if current is not None and current.strip() and not edit.content.strip():
            raise _Refusal(f"The whole-file block for '{path}' is empty, which would erase the file. "
                           f"To remove it, write 'DELETE {path}' instead; otherwise send its full content.")
        if current is not None:
            placeholder = _elision(edit.content, tree.originals.get(path) or current)
            if placeholder:
                raise _Refusal(f"The whole-file block for '{path}' leaves content out ('{placeholder}'). "
                               "Send the complete file, or change it with SEARCH/REPLACE blocks.")
        tree.set(path, edit.content)
        return Edit(path=path, content=edit.content)
    if edit.search is None and edit.replace is None:
        raise _Refusal(f"The edit for '{path}' has no content, no SEARCH/REPLACE and no deletion.")
    search, replace = edit.search or "", edit.replace or ""
    current = tree.get(path)
    if not search.strip():
        if current is None:
            tree.set(path, replace)
            return Edit(path=path, search="", replace=replace)
        raise _Refusal(f"The SEARCH part is empty but '{path}' already exists. Quote the lines to change "
                       "(or the line after which to add) in SEARCH.")
    if current is None:
        raise _Refusal(f"'{path}' does not exist (or was not given), so there is nothing to search in. "
                       "To create it, send the whole file.")
    file_lines = tree.lines(path, current)
    s_lines, r_lines = _lines(search), _lines(replace)
    try:
        at, count, new = _match(file_lines, s_lines, r_lines, lambda norm: tree.normalised(path, file_lines, norm))
    except _Refusal as refusal:
        hints = []
        if refusal.reason.startswith("The SEARCH lines do not match"):
            similar = _similar(file_lines, s_lines)
            if similar:
                hints.append(f"Did you mean these lines from {path}?\n{_quote(_join(similar))}")
            if r_lines and _positions(file_lines, r_lines):
                hints.append(f"The REPLACE lines are already in {path}: this change may have been made already.")
            hints.append("SEARCH must match the current file exactly, including comments and blank lines.")
        raise _Refusal(refusal.reason.replace("the file", path), "\n\n".join(hints)) from None
    matched = file_lines[at:at + count]
    new_lines = file_lines[:at] + new + file_lines[at + count:]
    updated = _join(new_lines)
    tree.set(path, updated if current.endswith("\n") else updated.removesuffix("\n"), new_lines)
    tree.splice_normalised(path, file_lines, new_lines, at, count, new)
    return Edit(path=path, search=_join(matched), replace=_join(new))


def apply_edits(edits: Iterable[Edit], files: Mapping[str, str], repo_root: str | Path | None = None,
                edits_config: EditsConfig | None = None) -> dict[str, str | None]:
    """New contents of every path the edits change (None: deleted), computed on a copy; all or nothing.

    ``files`` are the current contents the edits were written against; a path not among them is read
    from ``repo_root`` when given. Raises ``EditError`` when any edit cannot be applied.
    """
    tree = _Files(files, Path(repo_root) if repo_root else None, edits_config or EditsConfig())
    failures = []
    for number, edit in enumerate(edits, 1):
        try:
            _apply_one(tree, edit)
        except _Refusal as refusal:
            failures.append(BlockFailure(number, f"Edit {number} ({_kind(edit)} {edit.path})", refusal.reason,
                                         _render(edit), refusal.suggestion))
    if failures:
        raise EditError(_error_message(failures, []), failures=failures)
    return tree.result()


def _kind(edit: Edit) -> str:
    return "delete" if edit.delete else "whole file" if edit.content is not None else "SEARCH/REPLACE in"


def _render(edit: Edit) -> str:
    if edit.delete:
        return f"DELETE {edit.path}"
    if edit.content is not None:
        fence = _fence_for(edit.content)
        return f"{edit.path}\n{fence}\n{edit.content}{'' if edit.content.endswith(chr(10)) else chr(10)}{fence}"
    return f"{edit.path}\n<<<<<<< SEARCH\n{edit.search or ''}=======\n{edit.replace or ''}>>>>>>> REPLACE"


# ---------------------------------------------------------------------------------------------
# Reading an answer.

_FENCE = re.compile(r"^(?P<indent>[ \t]*)(?P<fence>`{3,}|~{3,})[ \t]*(?P<info>[^`\n]*?)[ \t]*$")
_SEARCH = re.compile(r"^[ \t]*<{5,9}[ \t]*(?:SEARCH|ORIGINAL)[ \t]*$", re.I)
_DIVIDER = re.compile(r"^[ \t]*={5,9}[ \t]*$")
_REPLACE = re.compile(r"^[ \t]*>{5,9}[ \t]*(?:REPLACE|UPDATED)[ \t]*$", re.I)
_MALFORMED = re.compile(r"^[ \t]*(?:<{2,}[ \t]*(?:SEARCH|ORIGINAL)|>{2,}[ \t]*(?:REPLACE|UPDATED))\b", re.I)
_DELETE = re.compile(r"^[ \t]*(?:(?:[-*+]|\d+[.)])[ \t]+)?(?:\*\*)?DELETE(?:[ \t]+FILE)?(?:\*\*)?(?:[ \t]*:|[ \t])"
                     r"[ \t]*(?P<path>\S+)[ \t]*$", re.I)
_COMMENT_PATH = re.compile(r"^[ \t]*(?:#(?!!)|//|--|;+|%|/\*|<!--)[ \t]*(?:(?:file(?:name)?|path)[ \t]*:[ \t]*)?"
                           r"(?P<path>\S+?)[ \t]*(?:\*/|-->)?[ \t]*$", re.I)
_MARKDOWN = (".md", ".markdown", ".mdx", ".qmd", ".rmd")


@dataclass
class _Block:
    """One edit as found in the answer, with the lines that carried it (for quoting)."""

    kind: str  # whole, replace, delete, problem
    path: str | None
    raw: str
    content: str | None = None
    search: str | None = None
    replace: str | None = None
    problem: str = ""


_LABEL = re.compile(r"^\**(?:file(?:name)?|path|new file|updated file|update|create)\**[ \t]*[:=-]?\**[ \t]+(?=\S)|"
                    r"^\**(?:file(?:name)?|path)\**[ \t]*:\**", re.I)
_NOTE = re.compile(r"[ \t]*\((?:new|updated|changed|modified|new file|full file|complete)[^)]*\)$", re.I)


def _peel(text: str) -> str:
    """A path with its dressing taken off: list bullets, headings, a label, ``**``, backticks, quotes, a colon.

    A ``**`` left inside the path is what a rendered ``__`` turns into when a page's HTML is read
    back as Markdown (``src/__init__.py`` shows as ``src/**init**.py``), so it becomes ``__`` again.
    """
    s = text.strip()
    for _ in range(2):  # "- path", "### path", "### 2. path"
        s = re.sub(r"^(?:[-*+]|\d+[.)])[ \t]+", "", s)
        s = re.sub(r"^#+[ \t]*", "", s)
    previous = None
    while s != previous:
        previous = s
        s = _NOTE.sub("", _LABEL.sub("", s)).strip().rstrip(":").strip()
        for left, right in (("**", "**"), ("`", "`"), ("'", "'"), ('"', '"'), ("*", "*")):
            if len(s) > len(left) + len(right) and s.startswith(left) and s.endswith(right):
                s = s[len(left):-len(right)].strip()
    return s.replace("**", "__")


def _clean_path_line(line: str, known: Iterable[str]) -> str | None:
    """A path written alone on a line, dressed in list bullets, headings, **, backticks or a colon."""
    s = _peel(line)
    return s if _looks_like_path(s, known) else None


_ALIASES = {"py": "python", "python3": "python", "js": "javascript", "node": "javascript", "ts": "typescript",
            "yml": "yaml", "sh": "bash", "shell": "bash", "zsh": "bash", "md": "markdown", "golang": "go",
            "rb": "ruby", "rs": "rust", "c++": "cpp"}
_NOT_FILES = {"bash", "console", "shell-session", "text", "plaintext", "txt", "output", "powershell", "ps", "cmd",
              "terminal"}


def _fits(info: str, path: str) -> bool:
    """Whether a block fenced as ``info`` can be the content of ``path`` (```bash under `app.py` cannot)."""
    words = info.split()
    if not words:
        return True
    tag = _ALIASES.get(words[0].lower(), words[0].lower())
    kind = _language(path)
    return tag == kind if kind else tag not in _NOT_FILES


def _named_in_prose(line: str, known: Iterable[str], info: str) -> str | None:
    """The one path written in backticks or bold in a sentence such as "Here is the new `src/app.py`:",
    when the block's language fits it (not "Run `tests/test_app.py` with:" above a ```bash block)."""
    names = {m.group(1) or m.group(2) for m in re.finditer(r"`([^`\s]+)`|\*\*([^*\s]+)\*\*", line)}
    names = {n.rstrip(":") for n in names if _looks_like_path(n.rstrip(":"), known)}
    return names.pop() if len(names) == 1 and _fits(info, next(iter(names))) else None


def _header_path(lines: list[str], at: int, known: Iterable[str], info: str = "") -> str | None:
    """The path above line ``at``: the nearest non-blank line, or the one above it when that is a bare path."""
    seen = 0
    j = at - 1
    while j >= 0 and seen < 2:
        line = lines[j]
        if not line.strip():
            j -= 1
            continue
        if _FENCE.match(line) or _REPLACE.match(line) or _DELETE.match(line):
            return None
        path = _clean_path_line(line, known)
        if path is None and seen == 0:
            path = _named_in_prose(line, known, info)
        if path:
            return path
        seen += 1
        j -= 1
    return None


def _info_path(info: str, known: Iterable[str]) -> str | None:
    """A path written in the fence's info string: ```python src/app.py, ```src/app.py, ```py title="a.py"."""
    tokens = []
    for token in re.split(r"[ \t]+|\btitle=|\bfile(?:name)?=", info):
        token = token.strip().strip("'\"{}")
        tokens += [token] if re.match(r"^[A-Za-z]:[\\/]", token) else token.split(":")
    return next((t for t in tokens if t and _looks_like_path(t, known)), None)


def _bare_first_line_path(body: list[str], info: str, known: Iterable[str]) -> str | None:
    """A path alone on the block's first line ("src/app.py", "Filename: src/app.py") followed by content;
    not in shell blocks, where a line like "scripts/setup.sh" is a command to run."""
    if len(body) < 2 or body[0].strip().startswith("./"):
        return None
    words = info.split()
    if words and _ALIASES.get(words[0].lower(), words[0].lower()) in _NOT_FILES:
        return None
    path = _clean_path_line(body[0], known)
    return path if path and _fits(info, path) else None


def _looks_like_diff(body: list[str]) -> bool:
    text = "\n".join(body)
    return bool(re.search(r"^--- \S.*\n\+\+\+ \S", text, re.M) or re.search(r"^@@ -\d+(,\d+)? \+\d+(,\d+)? @@", text, re.M))


class _Reader:
    """Walks an answer once and collects its blocks."""

    def __init__(self, text: str, known: set[str], given: list[str]):
        self.lines = text.split("\n")
        self.known = known  # given paths, and their top folders with a trailing "/"
        self.only_file = given[0] if len(given) == 1 else None
        self.blocks: list[_Block] = []
        self.unnamed: list[str] = []
        self.last_path: str | None = None

    def read(self) -> None:
        lines, i = self.lines, 0
        while i < len(lines):
            line = lines[i]
            fence = _FENCE.match(line)
            if fence:
                i = self._fenced(i, fence)
                continue
            if _SEARCH.match(line):
                i = self._pairs(lines, i, _header_path(lines, i, self.known))
                continue
            delete = _DELETE.match(line)
            target = _peel(delete["path"]) if delete else ""
            if delete and _looks_like_path(target, self.known):
                self.blocks.append(_Block("delete", target, line.strip()))
            i += 1

    def _fenced(self, start: int, fence: re.Match[str]) -> int:
        lines, known = self.lines, self.known
        marker, indent = fence["fence"], len(fence["indent"])
        path = _info_path(fence["info"], known) or _header_path(lines, start, known, fence["info"])
        nested = bool(path and path.lower().endswith(_MARKDOWN))
        close = re.compile(rf"^[ \t]*{re.escape(marker[0])}{{{len(marker)},}}[ \t]*$")
        depth, end = 0, len(lines)
        for j in range(start + 1, len(lines)):
            inner = _FENCE.match(lines[j]) if nested else None
            if close.match(lines[j]):
                if depth == 0:
                    end = j
                    break
                depth -= 1
            elif inner and inner["fence"][0] == marker[0]:
                depth += 1 if inner["info"] else -1 if depth else 0
        body = [_dedent(line, indent) for line in lines[start + 1:end]]
        raw = "\n".join(lines[max(0, start - 1) if path else start:min(end + 1, len(lines))])
        if any(_SEARCH.match(line) for line in body):
            self._pairs(body, 0, path, in_fence=True)
            return end + 1
        if any(_MALFORMED.match(line) for line in body):
            self.blocks.append(_Block("problem", path, raw, problem=(
                "This block looks like SEARCH/REPLACE, but its marker lines are not recognised. Write them "
                "exactly as '<<<<<<< SEARCH', '=======' and '>>>>>>> REPLACE', each alone on its line.")))
            return end + 1
        first = _COMMENT_PATH.match(body[0]) if body else None
        comment_path = first["path"] if first and _looks_like_path(first["path"], known) else None
        bare_path = _bare_first_line_path(body, fence["info"], known) if not comment_path else None
        if path is None and (comment_path or bare_path):
            path, body = comment_path or bare_path, body[1:]
        elif path and comment_path and _normalise(comment_path) == _normalise(path):
            body = body[1:]  # the path repeated as a comment: a marker, not content
        if path is None:
            if _looks_like_diff(body):
                self.blocks.append(_Block("problem", None, raw, problem=(
                    "This block is a unified diff; diffs are not accepted. Send SEARCH/REPLACE blocks "
                    "or whole files instead.")))
            elif any(line.strip() for line in body):
                self.unnamed.append(raw)
            return end + 1
        if _looks_like_diff(body) and fence["info"].strip().lower() in ("diff", "patch") \
                and not path.lower().endswith((".diff", ".patch")):
            self.blocks.append(_Block("problem", path, raw, problem=(
                "This block is a unified diff; diffs are not accepted. Send SEARCH/REPLACE blocks "
                "or whole files instead.")))
            return end + 1
        if end == len(lines):
            self.blocks.append(_Block("problem", path, raw, problem=(
                "This block has no closing fence: the answer seems cut off, so the file would be cut off "
                "too. Send the complete block again.")))
            return end
        self.blocks.append(_Block("whole", path, raw, content=_join(body)))
        return end + 1

    def _pairs(self, lines: list[str], i: int, path: str | None, in_fence: bool = False) -> int:
        """SEARCH/REPLACE pairs from line ``i``; inside a fence, path lines between pairs switch the file."""
        stop = len(lines)
        pending_path = None
        while i < stop:
            line = lines[i]
            if not _SEARCH.match(line):
                if not in_fence and line.strip() and not _FENCE.match(line):
                    return i  # outside a fence, the pairs end at the first other line
                if in_fence and line.strip():
                    pending_path = _clean_path_line(line, self.known) or pending_path
                i += 1
                continue
            j = i + 1
            divider = replace_end = None
            while j < stop:
                if divider is None and _DIVIDER.match(lines[j]):
                    divider = j
                elif divider is not None and _REPLACE.match(lines[j]):
                    replace_end = j
                    break
                elif _SEARCH.match(lines[j]) or (divider is None and _REPLACE.match(lines[j])):
                    break
                j += 1
            target = pending_path or path or self.last_path or self.only_file
            raw = "\n".join(lines[i:min(j + 1, stop)])
            if target:
                raw = f"{target}\n{raw}"
            if divider is None or replace_end is None:
                missing = "=======" if divider is None else ">>>>>>> REPLACE"
                self.blocks.append(_Block("problem", target, raw, problem=(
                    f"This SEARCH/REPLACE block is not complete: the '{missing}' line is missing. Each block is "
                    "'<<<<<<< SEARCH', the old lines, '=======', the new lines, '>>>>>>> REPLACE'.")))
                i = j if j < stop and _SEARCH.match(lines[j]) else j + 1
                pending_path = None
                continue
            if target is None:
                self.blocks.append(_Block("problem", None, raw, problem=(
                    "This SEARCH/REPLACE block has no file path. Put the path alone on the line above the block.")))
            else:
                self.blocks.append(_Block("replace", target, raw, search=_join(lines[i + 1:divider]),
                                          replace=_join(lines[divider + 1:replace_end])))
                self.last_path = target
            pending_path = None
            i = replace_end + 1
        return i


def _dedent(line: str, indent: int) -> str:
    """A block's line with the fence's own indentation (a fence inside a list item) taken off."""
    taken = 0
    while taken < indent and taken < len(line) and line[taken] in " \t":
        taken += 1
    return line[taken:]


def _is_example(block: _Block) -> bool:
    """A block copied from the instructions' examples."""
    if block.kind == "whole":
        return (block.path, block.content) == _EXAMPLE_WHOLE
    if block.kind == "replace":
        return (block.path, block.search, block.replace) == _EXAMPLE_SEARCH
    return block.kind == "delete" and block.path == _EXAMPLE_DELETE


def _label(number: int, block: _Block) -> str:
    kind = {"whole": "whole file ", "replace": "SEARCH/REPLACE ", "delete": "DELETE "}.get(block.kind, "")
    return f"Block {number} ({kind}{block.path})" if block.path else f"Block {number}"


def parse_answer(text: str, files: Mapping[str, str], edits_config: EditsConfig | None = None, *,
                 repo_root: str | Path | None = None, previous: Iterable[Edit] = ()) -> list[Edit]:
    """The edits in a builder's answer, each checked against ``files`` (the current contents).

    ``previous`` are edits accepted from an earlier answer to the same task (``EditError.accepted``):
    they are applied first and returned first, so a corrected answer only needs the failed blocks.
    Raises ``EditError`` (message written for the model) when any block cannot be used.
    """
    config = edits_config or EditsConfig()
    tree = _Files(files, Path(repo_root) if repo_root else None, config)
    accepted: list[Edit] = []
    for edit in previous:
        try:
            accepted.append(_apply_one(tree, edit))
        except _Refusal as refusal:
            raise GitorchError(f"an edit accepted earlier no longer applies: {refusal.reason}",
                               hint="pass the same files to parse_answer as for the first answer") from None
    earlier = list(accepted)
    labels: list[str] = []
    failures: list[BlockFailure] = []

    if not text or not text.strip():
        failure = BlockFailure(0, "Empty answer", "Your answer was empty: there were no file edits in it.")
        raise EditError(_error_message([failure], []), failures=[failure], accepted=earlier)

    known = set(files) | {p.split("/", 1)[0] + "/" for p in files if "/" in p}
    if tree.root is not None and tree.root.is_dir():
        known |= {entry.name + "/" for entry in tree.root.iterdir()}
    reader = _Reader(text.replace("\r\n", "\n").replace("\r", "\n"), known, list(files))
    reader.read()
    number = 0
    for block in reader.blocks:
        if _is_example(block):
            continue
        number += 1
        label = _label(number, block)
        if block.kind == "problem":
            failures.append(BlockFailure(number, label, block.problem, block.raw))
            continue
        assert block.path is not None
        try:
            path = tree.resolve_known(tree.check_path(block.path))
            edit = Edit(path=path, content=block.content, search=block.search, replace=block.replace,
                        delete=block.kind == "delete")
            if block.kind == "replace" and any(_same(edit, e) for e in earlier):
                continue  # a block accepted last time, sent again
            if block.kind == "whole" and tree.get(path) == block.content and path not in tree.current:
                continue  # the current file echoed back unchanged
            accepted.append(_apply_one(tree, edit))
            labels.append(label)
        except _Refusal as refusal:
            failures.append(BlockFailure(number, label, refusal.reason, block.raw, refusal.suggestion))

    if failures:
        raise EditError(_error_message(failures, labels), failures=failures, accepted=accepted, accepted_labels=labels)
    if len(accepted) == len(earlier) and not earlier:
        reason = "Your answer contains no file edits."
        if reader.unnamed:
            reason += (" It has code blocks, but none has a file path on the line above it, so gitorch cannot "
                       "tell which file each one is for. The first one is quoted below.")
        failure = BlockFailure(0, "No edits", reason, reader.unnamed[0] if reader.unnamed else "",
                               builder_instructions(config))
        raise EditError(_error_message([failure], []), failures=[failure])
    if not tree.result():
        failure = BlockFailure(0, "No change", "Your edits leave every file exactly as it was: the new content "
                               "is the same as the current content. Change the files as the task asks.")
        raise EditError(_error_message([failure], []), failures=[failure])
    return accepted


def _same(edit: Edit, other: Edit) -> bool:
    return (edit.path, edit.search, edit.replace) == (other.path, other.search, other.replace) or (
        edit.path == other.path and other.search is not None and other.replace is not None
        and _words(edit.search or "") == _words(other.search) and _words(edit.replace or "") == _words(other.replace))
