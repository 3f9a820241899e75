"""`gitorch route --batch FILE.jsonl`: read ``{"text": ...}`` lines, route them in chunks, write one
JSON object per line in the same order."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from ..errors import GitorchError

CHUNK = 2000
_SHAPE = 'each line must be a JSON object such as {"text": "Add CSV export to reports"}'


def read_rows(path: Path, shape: str) -> Iterator[tuple[int, Any, str]]:
    """``(line number, decoded value, line)`` for each non-blank line of a JSON Lines file. A file
    that cannot be read and a line that is not JSON are named, with ``shape`` as the hint."""
    try:
        raw = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise GitorchError(f"{path} is not UTF-8 text", hint="save the file as UTF-8 JSON Lines") from exc
    except OSError as exc:
        raise GitorchError(f"cannot read {path}: {exc.strerror}", hint="pass an existing JSON Lines file") from exc
    for number, line in enumerate(raw.splitlines(), 1):
        if not line.strip():
            continue
        try:
            yield number, json.loads(line), line
        except json.JSONDecodeError as exc:
            raise GitorchError(f"{path} line {number} is not valid JSON ({exc.msg}): {line[:80]!r}",
                               hint=shape) from exc


def read_texts(path: Path) -> list[str]:
    """The texts of a JSON Lines file, in order; blank lines are skipped, a bad line is named."""
    texts: list[str] = []
    for number, row, line in read_rows(path, _SHAPE):
        if not isinstance(row, dict) or "text" not in row:
            raise GitorchError(f"{path} line {number} has no \"text\" field: {line[:80]!r}", hint=_SHAPE)
        text = row["text"]
        if not isinstance(text, str) or not text.strip():
            raise GitorchError(f"{path} line {number}: \"text\" must be a non-empty string", hint=_SHAPE)
        texts.append(text)
    if not texts:
        raise GitorchError(f"{path} has no lines to route", hint=_SHAPE)
    return texts


def route_file(router, path: Path, write: Callable[[str], None], record: bool = True) -> int:
    """Route every line of ``path`` and ``write`` one compact JSON object per line. Returns the count."""
    texts = read_texts(path)
    for start in range(0, len(texts), CHUNK):
        decisions = router.route_batch(texts[start: start + CHUNK], record=record)
        write("\n".join(json.dumps(d.as_json(), separators=(",", ":")) for d in decisions) + "\n")
    return len(texts)
