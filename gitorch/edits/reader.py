"""Reading a builder's answer into edits: whole files, SEARCH/REPLACE blocks and deletions, with the
path found where models put it, every edit tried on a copy of the files before any is accepted."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

from ..config import EditsConfig
from ..errors import GitorchError
from ..model import Edit
from .apply import _apply_one, _Files
from .failures import BlockFailure, EditError, Refusal, error_message
from .matching import _join, _words
from .paths import looks_like_path, normalise
from .protocol import _EXAMPLE_DELETE, _EXAMPLE_SEARCH, _EXAMPLE_WHOLE, builder_instructions, language

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
    return s if looks_like_path(s, known) else None


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
    kind = language(path)
    return tag == kind if kind else tag not in _NOT_FILES


def _named_in_prose(line: str, known: Iterable[str], info: str) -> str | None:
    """The one path written in backticks or bold in a sentence such as "Here is the new `src/app.py`:",
    when the block's language fits it (not "Run `tests/test_app.py` with:" above a ```bash block)."""
    names = {m.group(1) or m.group(2) for m in re.finditer(r"`([^`\s]+)`|\*\*([^*\s]+)\*\*", line)}
    names = {n.rstrip(":") for n in names if looks_like_path(n.rstrip(":"), known)}
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
    return next((t for t in tokens if t and looks_like_path(t, known)), None)


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
            if delete and looks_like_path(target, self.known):
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
        comment_path = first["path"] if first and looks_like_path(first["path"], known) else None
        bare_path = _bare_first_line_path(body, fence["info"], known) if not comment_path else None
        if path is None and (comment_path or bare_path):
            path, body = comment_path or bare_path, body[1:]
        elif path and comment_path and normalise(comment_path) == normalise(path):
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
        except Refusal as refusal:
            raise GitorchError(f"an edit accepted earlier no longer applies: {refusal.reason}",
                               hint="pass the same files to parse_answer as for the first answer") from None
    earlier = list(accepted)
    labels: list[str] = []
    failures: list[BlockFailure] = []

    if not text or not text.strip():
        failure = BlockFailure(0, "Empty answer", "Your answer was empty: there were no file edits in it.")
        raise EditError(error_message([failure], []), failures=[failure], accepted=earlier)

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
        except Refusal as refusal:
            failures.append(BlockFailure(number, label, refusal.reason, block.raw, refusal.suggestion))

    if failures:
        raise EditError(error_message(failures, labels), failures=failures, accepted=accepted, accepted_labels=labels)
    if len(accepted) == len(earlier) and not earlier:
        reason = "Your answer contains no file edits."
        if reader.unnamed:
            reason += (" It has code blocks, but none has a file path on the line above it, so gitorch cannot "
                       "tell which file each one is for. The first one is quoted below.")
        failure = BlockFailure(0, "No edits", reason, reader.unnamed[0] if reader.unnamed else "",
                               builder_instructions(config))
        raise EditError(error_message([failure], []), failures=[failure])
    if not tree.result():
        failure = BlockFailure(0, "No change", "Your edits leave every file exactly as it was: the new content "
                               "is the same as the current content. Change the files as the task asks.")
        raise EditError(error_message([failure], []), failures=[failure])
    return accepted


def _same(edit: Edit, other: Edit) -> bool:
    return (edit.path, edit.search, edit.replace) == (other.path, other.search, other.replace) or (
        edit.path == other.path and other.search is not None and other.replace is not None
        and _words(edit.search or "") == _words(other.search) and _words(edit.replace or "") == _words(other.replace))
