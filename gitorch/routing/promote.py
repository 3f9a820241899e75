"""`gitorch routing promote NAME`: make a shadow strategy the acting one, in `.gitorch.yml`.

The file is edited as text so its comments, order and layout stay as the person wrote them: only
the ``strategy:`` and ``shadow:`` lines under a block-style ``routing:`` change (or are added). The
strategy that acted until now becomes a shadow, so the comparison goes on. The result is parsed and
validated before it is written (atomically); a layout this cannot edit safely (flow style, anchors,
a file that does not parse) is refused with the lines to write by hand.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

import yaml

from ..config import CONFIG_FILE, STRATEGIES, RoutingConfig
from ..errors import GitorchError

_ROUTING = re.compile(r"^routing:[ \t]*(#.*)?$")
_KEY = re.compile(r"^(?P<indent>[ \t]+)(?P<key>[\w-]+):(?P<value>[^#\n]*?)(?P<comment>[ \t]+#.*)?$")
MAX_BYTES = 1_000_000


def _manual(name: str, shadows: list[str], why: str) -> GitorchError:
    return GitorchError(
        f"cannot edit {CONFIG_FILE} safely: {why}",
        hint=f"edit it by hand: under 'routing:' set 'strategy: {name}' and 'shadow: [{', '.join(shadows)}]'")


def _flow(items: list[str]) -> str:
    return "[" + ", ".join(items) + "]"


def promote(root: Path, name: str) -> dict[str, Any]:
    """Make ``name`` the acting strategy in ``root/.gitorch.yml``; returns what changed."""
    if name not in STRATEGIES:
        raise GitorchError(f"unknown routing strategy {name!r}", hint=f"use one of: {', '.join(STRATEGIES)}")
    path = root / CONFIG_FILE
    text = ""
    if path.exists():
        raw = path.read_bytes()
        if len(raw) > MAX_BYTES:
            raise GitorchError(f"{path} is larger than {MAX_BYTES:,} bytes", hint="a configuration file is small; "
                               "check that this is the right file")
        try:
            text = raw.decode("utf-8")
            data = yaml.safe_load(text) or {}
        except (UnicodeDecodeError, yaml.YAMLError) as exc:
            raise GitorchError(f"{path} cannot be read as UTF-8 YAML ({exc})",
                               hint="fix the file (gitorch init --print shows a valid one), then promote again") from exc
    else:
        data = {}
    routing = data.get("routing", {}) if isinstance(data, dict) else None
    if not isinstance(routing, dict):
        raise _manual(name, [], "'routing' is not a mapping")
    before = str(routing.get("strategy", RoutingConfig().strategy))
    shadows = [str(s) for s in routing.get("shadow") or []]
    if before == name:
        return {"path": str(path), "strategy": name, "shadow": shadows, "changed": False}
    after_shadows = [before, *(s for s in shadows if s not in (name, before))]
    updated = _edit(text, name, after_shadows)
    check = yaml.safe_load(updated) or {}
    if not isinstance(check, dict) or not isinstance(check.get("routing"), dict) or \
            check["routing"].get("strategy") != name or list(check["routing"].get("shadow") or []) != after_shadows:
        raise _manual(name, after_shadows, "the edited file would not say what was meant")
    try:
        RoutingConfig.model_validate(check["routing"])
    except ValueError as exc:
        raise _manual(name, after_shadows, f"the routing section would not be valid ({exc})") from exc
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(updated, encoding="utf-8")
    os.replace(tmp, path)
    return {"path": str(path), "strategy": name, "shadow": after_shadows, "changed": True, "was": before}


def _edit(text: str, name: str, shadows: list[str]) -> str:
    lines = text.splitlines(keepends=True)
    if lines and not lines[-1].endswith("\n"):
        lines[-1] += "\n"
    start = next((i for i, line in enumerate(lines) if _ROUTING.match(line.rstrip("\r\n"))), None)
    if start is None:
        if re.search(r"^routing\s*:", text, re.M):
            raise _manual(name, shadows, "'routing:' is written in a form this does not edit (flow style?)")
        block = f"\nrouting:\n  strategy: {name}\n  shadow: {_flow(shadows)}\n"
        return "".join(lines) + block if lines else block.lstrip("\n")
    end = start + 1
    while end < len(lines) and (not lines[end].strip() or lines[end][0] in " \t" or lines[end].lstrip().startswith("#")):
        end += 1
    while end > start + 1 and not lines[end - 1].strip():  # trailing blank lines belong to the file, not the block
        end -= 1
    block = lines[start + 1:end]
    keys = [(i, m) for i, line in enumerate(block) if (m := _KEY.match(line.rstrip("\r\n")))]
    indent = min((m["indent"] for _, m in keys), key=len, default="  ")
    children = [(i, m) for i, m in keys if m["indent"] == indent]
    if any(c in m["value"] for _, m in children if m["key"] in ("strategy", "shadow") for c in "&*{!|>"):
        raise _manual(name, shadows, "routing.strategy or routing.shadow uses an anchor, a tag or a block scalar")
    wanted = {"strategy": name, "shadow": _flow(shadows)}
    for key, value in wanted.items():
        found = next(((i, m) for i, m in children if m["key"] == key), None)
        if found is None:
            block.append(f"{indent}{key}: {value}\n")
            continue
        i, m = found
        block[i] = f"{indent}{key}: {value}{m['comment'] or ''}\n"
        j = i + 1  # a block-style list under the key goes: the flow list replaces it
        while j < len(block) and block[j].strip() and (len(block[j]) - len(block[j].lstrip()) > len(indent)
                                                       or block[j].lstrip().startswith("- ")):
            j += 1
        del block[i + 1:j]
        children = [(k - (j - i - 1) if k > i else k, mm) for k, mm in children]
    return "".join([*lines[: start + 1], *block, *lines[end:]])
