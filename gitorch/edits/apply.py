"""Edits applied to a copy of the files in play (a dry run first, so half a set never lands): every
path checked by the one policy and against the repository on disk (no symbolic links, no file
where a folder must be), contents checked for size and encoding."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from ..config import EditsConfig
from ..model import Edit
from . import paths
from .failures import BlockFailure, EditError, Refusal, error_message, quote
from .matching import _elision, _join, _lines, _match, _positions, _similar
from .protocol import fence_for


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
    # The files that exist now (given and not deleted, or written) and how many of them each folder
    # holds, kept up to date by ``set``: the clash check costs the path's depth, not the answer's size.
    _live: set[str] | None = field(default=None, repr=False)
    _folders: Counter[str] = field(default_factory=Counter, repr=False)

    def check_path(self, raw: str) -> str:
        """The path as the repository names it, or a refusal naming what is wrong with it."""
        try:
            path = paths.check(raw, allow_workflow_files=self.config.allow_workflow_files,
                               secret_files=tuple(self.config.secret_files))
        except paths.PathRefused as exc:
            raise Refusal(exc.reason) from None
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
                raise Refusal(f"The path '{shown}' {what}; files are never written through links.")
            if not here.exists():
                return
            if i < len(parts) - 1 and not here.is_dir():
                raise Refusal(f"The path '{shown}' goes through '{'/'.join(parts[:i + 1])}', which is a file, not a folder.")
        if here.is_dir():
            raise Refusal(f"The path '{shown}' is a folder, not a file.")
        if not here.resolve().is_relative_to(root.resolve()):
            raise Refusal(f"The path '{shown}' leads outside the repository.")

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
                raise Refusal(f"'{path}' is {size} bytes, over the limit of {self.config.max_file_bytes} bytes "
                               "per file; it cannot be edited here.")
            data = (self.root / path).read_bytes()
            try:
                raw = data.decode("utf-8")
            except UnicodeDecodeError:
                raise Refusal(f"'{path}' is a binary file; it cannot be edited as text.") from None
        else:
            self.existed.setdefault(path, False)
            self.originals.setdefault(path, None)
            return None
        if "\x00" in raw:
            raise Refusal(f"'{path}' is a binary file; it cannot be edited as text.")
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
        if self._live is not None:
            self._track(path, content is not None)
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
        if self._live is None:
            self._live = set()
            for p in self.given:
                self._track(p, self.current.get(p, "") is not None)
            for p, c in self.current.items():
                self._track(p, c is not None)
        clash = next((p for p in _parents(path) if p in self._live), None)
        if clash is None and self._folders[path]:
            clash = min(p for p in self._live if p.startswith(path + "/"))
        if clash:
            raise Refusal(f"'{path}' cannot be written: '{clash}' is a file there, and a path cannot be both "
                           "a file and a folder. Delete one of them first.")

    def _track(self, path: str, exists: bool) -> None:
        assert self._live is not None
        if exists == (path in self._live):
            return
        step = 1 if exists else -1
        (self._live.add if exists else self._live.discard)(path)
        for parent in _parents(path):
            self._folders[parent] += step

    def result(self) -> dict[str, str | None]:
        out: dict[str, str | None] = {}
        for path, content in self.current.items():
            if content == self.originals.get(path) or (content is None and not self.existed.get(path)):
                continue
            out[path] = content.replace("\n", "\r\n") if content is not None and path in self.crlf else content
        return out


def _parents(path: str) -> list[str]:
    """``a``, ``a/b`` for ``a/b/c.py``."""
    return [path[:i] for i, ch in enumerate(path) if ch == "/"]


def _check_text(path: str, content: str, config: EditsConfig) -> None:
    if "\x00" in content:
        raise Refusal(f"The content for '{path}' contains NUL bytes: binary files cannot be written. "
                       "Send text files only.")
    if "\ufffd" in content:
        raise Refusal(f"The content for '{path}' contains U+FFFD replacement characters, left where binary "
                       "data or text in another encoding was read: binary files cannot be written.")
    try:
        size = len(content.encode("utf-8"))
    except UnicodeEncodeError:
        raise Refusal(f"The content for '{path}' is not valid UTF-8 text: binary files cannot be written.") from None
    if size > config.max_file_bytes:
        raise Refusal(f"The new content of '{path}' is {size} bytes, over the limit of {config.max_file_bytes} "
                       "bytes per file. Split the change or make the file smaller.")



def _apply_one(tree: _Files, edit: Edit) -> Edit:
    """Apply ``edit`` to ``tree``; the edit as applied (SEARCH as the file has it), or a refusal."""
    path = tree.check_path(edit.path)
    if edit.delete:
        if tree.get(path) is None:
            raise Refusal(f"'{path}' cannot be deleted: there is no such file.")
        tree.set(path, None)
        return Edit(path=path, delete=True)
    if edit.content is not None:
        current = tree.get(path)
        if current is not None and current.strip() and not edit.content.strip():
            raise Refusal(f"The whole-file block for '{path}' is empty, which would erase the file. "
                           f"To remove it, write 'DELETE {path}' instead; otherwise send its full content.")
        if current is not None:
            placeholder = _elision(edit.content, tree.originals.get(path) or current)
            if placeholder:
                raise Refusal(f"The whole-file block for '{path}' leaves content out ('{placeholder}'). "
                               "Send the complete file, or change it with SEARCH/REPLACE blocks.")
        tree.set(path, edit.content)
        return Edit(path=path, content=edit.content)
    if edit.search is None and edit.replace is None:
        raise Refusal(f"The edit for '{path}' has no content, no SEARCH/REPLACE and no deletion.")
    search, replace = edit.search or "", edit.replace or ""
    current = tree.get(path)
    if not search.strip():
        if current is None:
            tree.set(path, replace)
            return Edit(path=path, search="", replace=replace)
        raise Refusal(f"The SEARCH part is empty but '{path}' already exists. Quote the lines to change "
                       "(or the line after which to add) in SEARCH.")
    if current is None:
        raise Refusal(f"'{path}' does not exist (or was not given), so there is nothing to search in. "
                       "To create it, send the whole file.")
    file_lines = tree.lines(path, current)
    s_lines, r_lines = _lines(search), _lines(replace)
    try:
        at, count, new = _match(file_lines, s_lines, r_lines, lambda norm: tree.normalised(path, file_lines, norm))
    except Refusal as refusal:
        hints = []
        if refusal.reason.startswith("The SEARCH lines do not match"):
            similar = _similar(file_lines, s_lines)
            if similar:
                hints.append(f"Did you mean these lines from {path}?\n{quote(_join(similar))}")
            if r_lines and _positions(file_lines, r_lines):
                hints.append(f"The REPLACE lines are already in {path}: this change may have been made already.")
            hints.append("SEARCH must match the current file exactly, including comments and blank lines.")
        raise Refusal(refusal.reason.replace("the file", path), "\n\n".join(hints)) from None
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
        except Refusal as refusal:
            failures.append(BlockFailure(number, f"Edit {number} ({_kind(edit)} {edit.path})", refusal.reason,
                                         _render(edit), refusal.suggestion))
    if failures:
        raise EditError(error_message(failures, []), failures=failures)
    return tree.result()


def _kind(edit: Edit) -> str:
    return "delete" if edit.delete else "whole file" if edit.content is not None else "SEARCH/REPLACE in"


def _render(edit: Edit) -> str:
    if edit.delete:
        return f"DELETE {edit.path}"
    if edit.content is not None:
        fence = fence_for(edit.content)
        return f"{edit.path}\n{fence}\n{edit.content}{'' if edit.content.endswith(chr(10)) else chr(10)}{fence}"
    return f"{edit.path}\n<<<<<<< SEARCH\n{edit.search or ''}=======\n{edit.replace or ''}>>>>>>> REPLACE"
