"""TASK.md: work written down as a Markdown checklist.

The format (documented with an example in docs/git.md)::

    ## Login
    - [ ] Add a /login endpoint that checks the password hash (#login) @claude
          Return 401 on a wrong password; lines indented under an item are its details.
    - [ ] Tests for the login endpoint after #login @chatgpt-pro
    - [x] Set up the project

* an item is ``- [ ]`` (open) or ``- [x]`` (done); ``*`` and ``+`` bullets work too;
* ``##`` headings group items (the heading goes along as context);
* ``@claude``, ``@chatgpt-pro`` (or ``@chatgpt``) and ``@codex`` ask for an agent;
* ``(#id)`` names an item, ``after #id`` (``after #a, #b``) makes it wait for others;
* fenced code blocks are ignored, so examples in the file never become work.

Only items that a push adds, edits or reopens become work: ticking one off, moving it or adding an
id to it does not. Which items a push or a range of commits asks for is ``gitorch.git.tasks``.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterable
from dataclasses import dataclass, field, replace

from ..errors import GitorchError
from ..model import TaskSpec
from .command import TASK_FILE

AGENT_HINTS: dict[str, str] = {"claude": "claude", "chatgpt-pro": "chatgpt-pro", "chatgpt": "chatgpt-pro",
                               "codex": "codex"}

_ITEM = re.compile(r"^(?P<indent>[ \t]*)[-*+][ \t]+\[(?P<mark>[ xX])\][ \t]+(?P<body>\S.*?)\s*$")
# Lines that look like a checkbox but are not one, such as "- []", "-[ ]", "[ ] x" or "- [ ]" alone.
_NEAR_ITEM = re.compile(r"^[ \t]*(?:[-*+][ \t]*)?\[[ \t]*[xX]?[ \t]*\](?!\()")
_HEADING = re.compile(r"^(?P<level>#{1,6})[ \t]+(?P<title>.*?)[ \t#]*$")
_FENCE = re.compile(r"^[ \t]*(```|~~~)")
_ID = re.compile(r"\(#(?P<id>[A-Za-z0-9][\w-]*)\)")
_BAD_ID = re.compile(r"\(#(?P<id>[^)]*)\)")
_REF = r"#[A-Za-z0-9][\w-]*"
_AFTER = re.compile(rf"\bafter[ \t]+(?P<refs>{_REF}(?:[ \t]*(?:,|&|\band\b)[ \t]*{_REF})*)", re.IGNORECASE)
_AGENT = re.compile(r"(?<![\w.@])@(?P<name>[A-Za-z][\w-]*)")


class TaskFileError(GitorchError):
    """TASK.md could not be read; ``problems`` holds (line, message) pairs, first one in ``line``."""

    def __init__(self, source: str, problems: list[tuple[int, str]]):
        self.problems = sorted(problems)
        self.line = self.problems[0][0]
        lines = [f"{source} line {n}: {msg}" for n, msg in self.problems]
        super().__init__("\n".join(lines), hint="see docs/git.md for the TASK.md format: "
                         "'- [ ] what to do (#id) after #other @claude'")


@dataclass
class TaskItem:
    """One checklist item. ``line`` is 1-based; ``details`` are the lines indented under it."""

    line: int
    text: str
    checked: bool = False
    id: str | None = None
    agent: str | None = None
    after: list[str] = field(default_factory=list)
    section: str = ""
    details: str = ""

    @property
    def key(self) -> str:
        """What identifies the item across edits: its id, else its text."""
        return f"#{self.id}" if self.id else _norm(self.text)

    @property
    def content(self) -> tuple[str, str, str | None, tuple[str, ...]]:
        return _norm(self.text), _norm(self.details), self.agent, tuple(self.after)

    @property
    def task_id(self) -> str:
        if self.id:
            return self.id
        slug = re.sub(r"[^a-z0-9]+", "-", self.text.lower()).strip("-")[:40].rstrip("-")
        return slug or f"line-{self.line}"

    def description(self) -> str:
        parts = [self.text]
        if self.details:
            parts.append(self.details)
        if self.section:
            parts.append(f"(TASK.md section: {self.section})")
        return "\n\n".join(parts)

    def spec(self) -> TaskSpec:
        """The item as a task a run is asked to do."""
        return TaskSpec(id=self.task_id, description=self.description(), agent=self.agent,
                        depends_on=list(self.after))


@dataclass
class TaskFile:
    items: list[TaskItem]
    source: str = TASK_FILE

    @property
    def open_items(self) -> list[TaskItem]:
        return [i for i in self.items if not i.checked]

    def by_id(self, item_id: str) -> TaskItem | None:
        return next((i for i in self.items if i.id == item_id), None)


def _indent(line: str) -> int:
    expanded = line.expandtabs(4)
    return len(expanded) - len(expanded.lstrip())


def _norm(text: str) -> str:
    return " ".join(text.split()).lower()


def _parse_body(body: str, line_no: int, problems: list[tuple[int, str]]) -> tuple[str, str | None, str | None,
                                                                                   list[str]]:
    ids = [m.group("id") for m in _ID.finditer(body)]
    for bad in _BAD_ID.finditer(body):
        if not _ID.fullmatch(bad.group(0)):
            problems.append((line_no, f"'{bad.group(0)}' is not a valid id; use letters, digits, '-' and '_', "
                                      "like (#add-login)"))
    if len(set(ids)) > 1:
        problems.append((line_no, f"an item has one id, this one has {len(ids)}: "
                                  + ", ".join(f"(#{i})" for i in ids)))
    after: list[str] = []
    for m in _AFTER.finditer(body):
        after.extend(ref[1:] for ref in re.findall(_REF, m.group("refs")))
    agents: list[str] = []
    for m in _AGENT.finditer(body):
        name = m.group("name")
        if name.lower() in AGENT_HINTS:
            agents.append(AGENT_HINTS[name.lower()])
            continue
        close = difflib.get_close_matches(name.lower(), list(AGENT_HINTS), n=1, cutoff=0.75)
        if close:
            problems.append((line_no, f"unknown agent '@{name}'; did you mean '@{close[0]}'? "
                                      f"Agents: {', '.join('@' + a for a in AGENT_HINTS)}"))
    if len(set(agents)) > 1:
        problems.append((line_no, f"an item goes to one agent, this one names {len(set(agents))}: "
                                  + ", ".join("@" + a for a in dict.fromkeys(agents))))
    text = _ID.sub("", body)
    text = _AFTER.sub("", text)
    text = _AGENT.sub(lambda m: "" if m.group("name").lower() in AGENT_HINTS else m.group(0), text)
    text = " ".join(text.split()).strip(" ,;")
    if not text:
        problems.append((line_no, "the item says nothing to do besides its markers; describe the work"))
    return text, (ids[0] if ids else None), (agents[0] if agents else None), list(dict.fromkeys(after))


def parse(text: str, source: str = TASK_FILE, strict: bool = True) -> TaskFile:
    """The items of a TASK.md. With ``strict`` every problem raises TaskFileError naming its line;
    otherwise bad lines are skipped (used for the older side of a comparison)."""
    problems: list[tuple[int, str]] = []
    items: list[TaskItem] = []
    section = ""
    in_fence = False
    current: TaskItem | None = None
    current_indent = 0
    detail_lines: list[str] = []

    def close() -> None:
        nonlocal current, detail_lines
        if current is not None:
            current.details = "\n".join(detail_lines).strip("\n")
            items.append(current)
        current, detail_lines = None, []

    for n, raw in enumerate(text.splitlines(), start=1):
        if _FENCE.match(raw):
            if not in_fence and current is not None and _indent(raw) <= current_indent:
                close()  # a code block after the list, not inside an item
            in_fence = not in_fence
            if current is not None:
                detail_lines.append(raw.strip())
            continue
        if in_fence:
            if current is not None:
                detail_lines.append(raw.rstrip())
            continue
        item = _ITEM.match(raw)
        if item:
            close()
            body_problems: list[tuple[int, str]] = []
            body, item_id, agent, after = _parse_body(item.group("body"), n, body_problems)
            problems.extend(body_problems)
            current = TaskItem(line=n, text=body, checked=item.group("mark") != " ", id=item_id, agent=agent,
                               after=after, section=section)
            current_indent = _indent(raw)
            if body_problems and not strict:
                current = None
            continue
        if _NEAR_ITEM.match(raw):
            close()
            problems.append((n, f"'{raw.strip()}' is not a checklist item; write '- [ ] what to do' "
                                "(or '- [x] ...' when done)"))
            continue
        heading = _HEADING.match(raw)
        if heading:
            close()
            if len(heading.group("level")) >= 2:
                section = heading.group("title").strip()
            continue
        if current is not None:
            indent = _indent(raw)
            if not raw.strip():
                detail_lines.append("")
                continue
            if indent > current_indent:
                detail_lines.append(raw.strip())
                continue
            close()
    close()

    seen: dict[str, int] = {}
    for item in items:
        if item.id is None:
            continue
        if item.id in seen:
            problems.append((item.line, f"id #{item.id} is used twice (first on line {seen[item.id]}); "
                                        "each id names one item"))
        else:
            seen[item.id] = item.line
    for item in items:
        for dep in item.after:
            if dep not in seen:
                problems.append((item.line, f"'after #{dep}' names no item; give the item it waits for an id "
                                            f"with (#{dep})"))
            elif dep == item.id:
                problems.append((item.line, f"#{dep} cannot wait for itself"))
    problems.extend(_cycles(items))
    if problems and strict:
        raise TaskFileError(source, problems)
    return TaskFile(items=items, source=source)


def _cycles(items: list[TaskItem]) -> list[tuple[int, str]]:
    """Every circle of ``after`` references, found depth-first with an explicit stack (a chain of
    thousands of items is as fine as a short one)."""
    graph = {i.id: [d for d in i.after if d != i.id] for i in items if i.id}
    line = {i.id: i.line for i in items if i.id}
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    found: list[tuple[int, str]] = []
    for start in graph:
        if start in state:
            continue
        path = [start]
        state[start] = 1
        pending = [iter(graph[start])]
        while pending:
            dep = next(pending[-1], None)
            if dep is None:
                state[path.pop()] = 2
                pending.pop()
                continue
            if dep not in graph:
                continue
            if state.get(dep) == 1:
                loop = path[path.index(dep):] + [dep]
                found.append((line[dep], "items wait for each other in a circle: "
                                         + " -> ".join(f"#{x}" for x in loop)))
            elif dep not in state:
                state[dep] = 1
                path.append(dep)
                pending.append(iter(graph[dep]))
    return found


def changed_items(old_text: str | None, new_text: str, source: str = TASK_FILE) -> list[TaskItem]:
    """Open items in ``new_text`` that ``old_text`` did not have as open items with the same content:
    added, edited (text, details, agent, dependencies) or reopened ones, in file order."""
    new = parse(new_text, source)
    if old_text is None:
        return new.open_items
    old = parse(old_text, source, strict=False)
    old_open = {i.key: i.content for i in old.items if not i.checked}
    old_open_contents = {i.content for i in old.items if not i.checked}
    work = []
    for item in new.open_items:
        if old_open.get(item.key) == item.content:
            continue
        if item.content in old_open_contents:  # only an id was added or changed
            continue
        work.append(item)
    return work


def tick(text: str, items: Iterable[TaskItem]) -> str:
    """``text`` with the given items ticked off (``[ ]`` -> ``[x]``), found by id or text, so the
    result is right even when the file changed since the items were read. Others stay as they are."""
    keys = {i.key for i in items}
    texts = {_norm(i.text) for i in items}
    lines = text.splitlines(keepends=True)
    for item in parse(text, strict=False).open_items:
        if item.key in keys or _norm(item.text) in texts:
            lines[item.line - 1] = lines[item.line - 1].replace("[ ]", "[x]", 1)
    return "".join(lines)


def render(items: Iterable[TaskItem], title: str = "Tasks") -> str:
    """A TASK.md holding just ``items`` (e.g. those a push asked for, with the agents chosen).
    Dependencies on items left out (done already, or not part of this run) are dropped."""
    items = list(items)
    ids = {i.id for i in items if i.id}
    out = [f"# {title}", ""]
    section = None
    for item in items:
        if item.section != section:
            section = item.section
            if section:
                out += [f"## {section}", ""]
        marks = [item.text]
        if item.id:
            marks.append(f"(#{item.id})")
        after = [d for d in item.after if d in ids]
        if after:
            marks.append("after " + ", ".join(f"#{d}" for d in after))
        if item.agent:
            marks.append(f"@{item.agent}")
        out.append(f"- [{'x' if item.checked else ' '}] " + " ".join(marks))
        out.extend(f"  {line}" if line else "" for line in item.details.splitlines())
    return "\n".join(out) + "\n"


def with_agent(item: TaskItem, agent: str) -> TaskItem:
    return replace(item, agent=agent)
