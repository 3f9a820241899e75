"""GitHub Actions as it treats a workflow's `if:` and `concurrency:`, for one workflow file.

Built from GitHub's documentation:

- Expressions (docs.github.com/actions/learn-github-actions/expressions): literals (`null`, booleans,
  numbers, '...' strings with '' for a quote), property access (`a.b`, `a['b']`), `!`, `==`, `!=`,
  `<`, `<=`, `>`, `>=`, `&&`, `||` (which give one of their operands, as in JavaScript), and the
  functions `contains`, `startsWith`, `endsWith`, `fromJSON`, `toJSON`, `format`, and object filters
  (`labels.*.name`: the property of every element, as an array). Strings compare
  ignoring case; a missing property is `null`; a value of another type is coerced to a number for `==`.
  Falsy: `false`, `0`, `-0`, `""`, `null`, `NaN`.
- Concurrency (docs.github.com/actions/using-jobs/using-concurrency): "When a concurrent job or
  workflow is queued, if another job or workflow using the same concurrency group in the repository is
  in progress, the queued job or workflow will be pending. Any existing pending job or workflow in the
  same concurrency group, if it exists, will be canceled and the new queued job or workflow will take
  its place." `cancel-in-progress: true` also cancels the running one. A group set on the workflow
  takes every run of it; a group set on a job only the runs whose job's `if:` holds.

``Actions`` queues deliveries under these rules and runs each job that starts with ``run_job``.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import yaml

_TOKEN = re.compile(r"\s*(?:(?P<num>-?\d+(?:\.\d+)?)|(?P<str>'(?:[^']|'')*')|(?P<op>&&|\|\||==|!=|<=|>=|[<>!()\[\].,*])"
                    r"|(?P<name>[A-Za-z_][A-Za-z0-9_-]*))")


class ExpressionError(ValueError):
    pass


def _tokens(text: str) -> list[tuple[str, str]]:
    out, pos = [], 0
    while pos < len(text):
        if text[pos:].strip() == "":
            break
        m = _TOKEN.match(text, pos)
        if m is None:
            raise ExpressionError(f"cannot read {text[pos:pos + 20]!r}")
        kind = next(k for k, v in m.groupdict().items() if v is not None)
        out.append((kind, m.group(kind)))
        pos = m.end()
    return out


def truthy(value: Any) -> bool:
    if value is None or value is False:
        return False
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return not (value == 0 or math.isnan(value))
    if isinstance(value, str):
        return value != ""
    return True


def _number(value: Any) -> float:
    if value is None:
        return 0.0
    if isinstance(value, bool):
        return 1.0 if value else 0.0
    if isinstance(value, (int, float)):
        return float(value)
    if isinstance(value, str):
        try:
            return float(value.strip()) if value.strip() else 0.0
        except ValueError:
            return math.nan
    return math.nan


def _equal(a: Any, b: Any) -> bool:
    if isinstance(a, str) and isinstance(b, str):
        return a.casefold() == b.casefold()
    if type(a) is type(b) or a is None or b is None:
        if isinstance(a, (dict, list)) or isinstance(b, (dict, list)):
            return a is b
        return a == b
    if isinstance(a, (dict, list)) or isinstance(b, (dict, list)):
        return False
    return _number(a) == _number(b)


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, (dict, list)):
        return json.dumps(value)
    return str(value)


def _contains(search: Any, item: Any) -> bool:
    if isinstance(search, list):
        return any(_equal(x, item) for x in search)
    return _text(item).casefold() in _text(search).casefold()


FUNCTIONS: dict[str, Callable[..., Any]] = {
    "contains": _contains,
    "startswith": lambda s, v: _text(s).casefold().startswith(_text(v).casefold()),
    "endswith": lambda s, v: _text(s).casefold().endswith(_text(v).casefold()),
    "fromjson": lambda s: json.loads(_text(s)),
    "tojson": lambda v: json.dumps(v, indent=2),
    "format": lambda f, *args: re.sub(r"\{(\d+)\}", lambda m: _text(args[int(m.group(1))]), _text(f)),
}


class _Filtered(list):
    """The result of an object filter (``labels.*.name``): an array whose properties are taken item by item."""


class _Parser:
    def __init__(self, text: str, context: dict[str, Any]):
        self.tokens = _tokens(text)
        self.pos = 0
        self.context = context

    def peek(self) -> tuple[str, str] | None:
        return self.tokens[self.pos] if self.pos < len(self.tokens) else None

    def take(self, value: str | None = None) -> tuple[str, str]:
        token = self.peek()
        if token is None or (value is not None and token[1] != value):
            raise ExpressionError(f"expected {value or 'more'}, found {token}")
        self.pos += 1
        return token

    def parse(self) -> Any:
        value = self.or_()
        if self.peek() is not None:
            raise ExpressionError(f"unexpected {self.peek()}")
        return value

    def or_(self) -> Any:
        value = self.and_()
        while self.peek() == ("op", "||"):
            self.take()
            right = self.and_()
            value = value if truthy(value) else right
        return value

    def and_(self) -> Any:
        value = self.compare()
        while self.peek() == ("op", "&&"):
            self.take()
            right = self.compare()
            value = right if truthy(value) else value
        return value

    def compare(self) -> Any:
        value = self.unary()
        while self.peek() in (("op", "=="), ("op", "!="), ("op", "<"), ("op", ">"), ("op", "<="), ("op", ">=")):
            op = self.take()[1]
            right = self.unary()
            if op == "==":
                value = _equal(value, right)
            elif op == "!=":
                value = not _equal(value, right)
            else:
                a, b = _number(value), _number(right)
                value = {"<": a < b, ">": a > b, "<=": a <= b, ">=": a >= b}[op]
        return value

    def unary(self) -> Any:
        if self.peek() == ("op", "!"):
            self.take()
            return not truthy(self.unary())
        return self.postfix()

    def postfix(self) -> Any:
        value = self.primary()
        while self.peek() in (("op", "."), ("op", "[")):
            if self.take()[1] == ".":
                name = self.take()[1]
                if name == "*":  # an object filter: the property of every element
                    items = value if isinstance(value, list) else list(value.values()) if isinstance(value, dict) else []
                    value = _Filtered(items)
                elif isinstance(value, _Filtered):
                    value = _Filtered([i.get(name) for i in value if isinstance(i, dict)])
                else:
                    value = value.get(name) if isinstance(value, dict) else None
            else:
                key = self.or_()
                self.take("]")
                if isinstance(value, dict):
                    value = value.get(_text(key))
                elif isinstance(value, list) and isinstance(key, (int, float)) and 0 <= int(key) < len(value):
                    value = value[int(key)]
                else:
                    value = None
        return value

    def primary(self) -> Any:
        kind, text = self.take()
        if kind == "num":
            return float(text)
        if kind == "str":
            return text[1:-1].replace("''", "'")
        if text == "(":
            value = self.or_()
            self.take(")")
            return value
        if kind != "name":
            raise ExpressionError(f"unexpected {text!r}")
        lowered = text.lower()
        if lowered in ("true", "false"):
            return lowered == "true"
        if lowered == "null":
            return None
        if self.peek() == ("op", "("):
            self.take()
            args = []
            while self.peek() != ("op", ")"):
                args.append(self.or_())
                if self.peek() == ("op", ","):
                    self.take()
            self.take(")")
            if lowered not in FUNCTIONS:
                raise ExpressionError(f"unknown function {text}")
            return FUNCTIONS[lowered](*args)
        return self.context.get(text)


def evaluate(expression: str, context: dict[str, Any]) -> Any:
    """``expression`` (without ``${{ }}``) in ``context`` (``{"github": {...}}``)."""
    return _Parser(expression, context).parse()


def interpolate(text: str, context: dict[str, Any]) -> str:
    """``text`` with every ``${{ ... }}`` replaced by its value."""
    return re.sub(r"\$\{\{(.*?)\}\}", lambda m: _text(evaluate(m.group(1), context)), text)


def job_if(condition: Any, context: dict[str, Any]) -> bool:
    """A job's `if:` (GitHub adds the ${{ }} when it is missing; absent means success())."""
    if condition is None:
        return True
    text = str(condition).strip()
    if text.startswith("${{") and text.endswith("}}"):
        text = text[3:-2]
    return truthy(evaluate(text, context))


# -- the queue ----------------------------------------------------------------------------------------


@dataclass
class Delivery:
    event_name: str
    payload: dict[str, Any]
    number: int  # github.run_id
    state: str = "queued"  # skipped, pending, running, cancelled, completed
    group: str | None = None


@dataclass
class Actions:
    """One workflow's runs under GitHub's concurrency rule. ``deliver`` queues an event; ``finish``
    ends the running job of a group (``run_job`` is called for each job that starts, when it starts
    or when ``run_queued`` is called)."""

    workflow: dict[str, Any]
    repository: str
    run_job: Callable[[Delivery], None] | None = None
    deliveries: list[Delivery] = field(default_factory=list)
    running: dict[str, Delivery] = field(default_factory=dict)
    pending: dict[str, Delivery] = field(default_factory=dict)

    @classmethod
    def from_file(cls, text: str, repository: str, **kw: Any) -> Actions:
        return cls(yaml.safe_load(text), repository, **kw)

    @property
    def job(self) -> dict[str, Any]:
        [job] = self.workflow["jobs"].values()
        return job

    def context(self, delivery: Delivery) -> dict[str, Any]:
        return {"github": {"event_name": delivery.event_name, "event": delivery.payload,
                           "repository": self.repository, "run_id": delivery.number,
                           "ref": delivery.payload.get("ref") or "refs/heads/main",
                           "actor": (delivery.payload.get("sender") or {}).get("login")}}

    def _group(self, spec: Any, context: dict[str, Any]) -> tuple[str | None, bool]:
        if spec is None:
            return None, False
        if isinstance(spec, str):
            return interpolate(spec, context), False
        return interpolate(str(spec["group"]), context), truthy(spec.get("cancel-in-progress", False))

    def deliver(self, event_name: str, payload: dict[str, Any]) -> Delivery:
        delivery = Delivery(event_name, payload, number=len(self.deliveries) + 1)
        self.deliveries.append(delivery)
        context = self.context(delivery)
        group, cancel_running = self._group(self.workflow.get("concurrency"), context)
        if group is None:  # a workflow-level group takes the run before its job's `if:` is looked at
            if not job_if(self.job.get("if"), context):
                delivery.state = "skipped"
                return delivery
            group, cancel_running = self._group(self.job.get("concurrency"), context)
        delivery.group = group
        if group is None:
            delivery.state = "running"
            return delivery
        if group in self.running:
            if cancel_running:
                self.running.pop(group).state = "cancelled"
            else:
                older = self.pending.pop(group, None)
                if older is not None:
                    older.state = "cancelled"
                delivery.state = "pending"
                self.pending[group] = delivery
                return delivery
        delivery.state = "running"
        self.running[group] = delivery
        return delivery

    def finish(self, delivery: Delivery) -> None:
        """``delivery``'s job ran to its end; the group's pending run starts."""
        if delivery.state != "skipped":
            delivery.state = "completed"
        if delivery.group is not None and self.running.get(delivery.group) is delivery:
            del self.running[delivery.group]
            waiting = self.pending.pop(delivery.group, None)
            if waiting is not None:
                waiting.state = "running"
                self.running[delivery.group] = waiting

    def run_queued(self) -> None:
        """Run every job that is running (or starts as others finish), oldest first, to its end."""
        while True:
            started = [d for d in self.deliveries if d.state == "running"]
            if not started:
                return
            delivery = started[0]
            if not job_if(self.job.get("if"), self.context(delivery)):
                delivery.state = "skipped"  # a workflow-level group held the slot; the job itself is skipped
            elif self.run_job is not None:
                self.run_job(delivery)
            self.finish(delivery)

    def cancelled(self) -> list[Delivery]:
        return [d for d in self.deliveries if d.state == "cancelled"]
