"""Finding a SEARCH block in a file: exact, then whitespace-normalised, then shifted indentation;
then ``...`` elisions. Never fuzzy: a block that matches nowhere, or more than once, is refused with
the lines that come closest."""

from __future__ import annotations

import difflib
import re
from collections.abc import Callable

from .failures import Refusal


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
                raise Refusal(f"The SEARCH lines match {len(found)} places ({how}), at lines {where}. "
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
    raise Refusal("The SEARCH lines do not match anything in the file.")


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
