"""Claude through the Anthropic API: the architect (plan, review) and a builder for fallback.

- Structured answers come through tools (``write_plan``, ``write_review``) with a JSON schema. Tool
  choice stays ``auto`` (newer models with thinking refuse forced tool use) and the prompt asks for
  the tool; a text-only answer or an invalid tool input is sent back once with the reason (a
  ``tool_result`` with ``is_error``), then the call fails with that reason.
- Prompt caching: the stable part comes first and carries ``cache_control``: tools, the shared
  instructions and the repository context in ``system``, then (in reviews) the plan; what varies
  (the task, the diff) comes last.
- Retries are the SDK's own (``anthropic.max_retries``, ``retry-after`` honoured). A middleware in the
  SDK's retry loop stops what should not be retried: a 429 saying the credit or spend limit is
  exhausted (``SpendLimitReached``) and a ``retry-after`` longer than ``anthropic.max_retry_after_s``
  (deferred: ``deferred_until`` says when to come back). A stream cut after it started (which the
  SDK cannot retry) is asked again, within the same number of attempts. A missing key or a 401
  fails at once saying which variable to set.
- Every answer is streamed, so a long review is not cut by a timeout; usage of every response
  (cache fields too) is summed on the result for the ledger.
- Everything sent passes through the redactor (configured secrets, token shapes).
"""

from __future__ import annotations

import json
import logging
import re
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import anthropic
import httpx2
from anthropic import Middleware

from ..errors import AgentError, GitorchError, answer_of
from ..git.context import diff_lines
from ..model import (
    AGENTS,
    CLAUDE,
    TASK_TYPES,
    BuildContext,
    BuildResult,
    InlineComment,
    Plan,
    PlanResult,
    Review,
    ReviewResult,
    Task,
    Usage,
    Verdict,
)
from ..redact import Redactor
from ..retry import backoff_s
from . import register_builder

log = logging.getLogger("gitorch.claude")

DEFAULT_BASE_URL = "https://api.anthropic.com"
KEY_HINT = ("export ANTHROPIC_API_KEY=sk-ant-... (CLAUDE_API_KEY works too); "
            "`gitorch demo` runs without a key against the local stand-in")
_CREDIT_WORDS = ("credit balance", "spend limit", "spending limit", "usage limit", "billing", "quota")
_EPHEMERAL = {"type": "ephemeral"}


# -- the client -----------------------------------------------------------------------------------


def _retry_after_s(headers: Any) -> float | None:
    for name, scale in (("retry-after-ms", 0.001), ("retry-after", 1.0)):
        value = headers.get(name)
        if value:
            try:
                return float(value) * scale
            except ValueError:
                continue
    return None


class RetryGate(Middleware):
    """Runs inside the SDK's retry loop, once per attempt: lets the SDK retry what is worth it and
    stops at once what is not (exhausted credit; a wait longer than ``max_retry_after_s``)."""

    def __init__(self, max_retry_after_s: float, clock: Callable[[], datetime] = lambda: datetime.now(UTC)):
        self.max_retry_after_s = max_retry_after_s
        self.clock = clock

    def handle(self, request: Any, call_next: Any) -> Any:
        response = call_next(request)
        status = response.status_code
        if status != 429 and status < 500:
            return response
        http = response.http_response
        text = http.read().decode("utf-8", errors="replace")
        if status == 429 and any(word in text.lower() for word in _CREDIT_WORDS):
            raise AgentError(
                f"the Anthropic account cannot spend more: {_error_message(text)}",
                hint="add credit or raise the spend limit in the Anthropic console, then resume the run",
                agent=CLAUDE, reason="spend_limit")
        after = _retry_after_s(http.headers)
        if after is not None and after > self.max_retry_after_s:
            until = (self.clock() + timedelta(seconds=after)).isoformat(timespec="seconds")
            raise AgentError(
                f"the Anthropic API asked to wait {after:.0f}s ({status}), longer than "
                f"anthropic.max_retry_after_s={self.max_retry_after_s:.0f}; deferred until {until}",
                hint="the run pauses and can be resumed then (gitorch run --resume RUN_ID)",
                agent=CLAUDE, retry_after_s=after, deferred_until=until)
        return response


def _error_message(text: str) -> str:
    try:
        return json.loads(text)["error"]["message"]
    except (ValueError, KeyError, TypeError):
        return text.strip()[:300] or "no details"


def make_client(config: Any) -> anthropic.Anthropic:
    """The SDK client the configuration describes. A missing key fails here, before any request."""
    key = config.secrets.anthropic_api_key
    if key is None or not key.get_secret_value().strip():
        raise GitorchError("ANTHROPIC_API_KEY is not set, so Claude cannot be called", hint=KEY_HINT)
    section = config.anthropic
    return anthropic.Anthropic(
        api_key=key.get_secret_value(),
        base_url=section.base_url or DEFAULT_BASE_URL,
        max_retries=section.max_retries,
        timeout=section.timeout_s,
        middleware=[RetryGate(section.max_retry_after_s)],
    )


def usage_of(message: Any) -> Usage:
    u = message.usage
    return Usage(input_tokens=u.input_tokens or 0, output_tokens=u.output_tokens or 0,
                 cache_creation_input_tokens=u.cache_creation_input_tokens or 0,
                 cache_read_input_tokens=u.cache_read_input_tokens or 0)


def _agent_error(exc: Exception, attempts: int) -> AgentError:
    """An SDK error after the SDK's own retries, as something the pipeline can act on."""
    if isinstance(exc, anthropic.AuthenticationError):
        return AgentError(f"the Anthropic API refused the key (401): {_status_message(exc)}",
                          hint="check ANTHROPIC_API_KEY (or CLAUDE_API_KEY): it must be a valid, active key",
                          agent=CLAUDE)
    if isinstance(exc, anthropic.PermissionDeniedError):
        return AgentError(f"the key may not use this model or feature (403): {_status_message(exc)}",
                          hint="check the models: section of .gitorch.yml and the key's workspace", agent=CLAUDE)
    if isinstance(exc, anthropic.APIStatusError) and (exc.status_code == 429 or exc.status_code >= 500):
        kind = {429: "rate limited", 529: "overloaded"}.get(exc.status_code, f"failing ({exc.status_code})")
        return AgentError(f"the Anthropic API is {kind} after {attempts} attempts: {_status_message(exc)}",
                          hint="try again later; the run can resume from its last finished step",
                          agent=CLAUDE, retry_after_s=_retry_after_s(exc.response.headers))
    if isinstance(exc, anthropic.APIStatusError):
        return AgentError(f"the Anthropic API rejected the request ({exc.status_code}): {_status_message(exc)}",
                          hint="this is a problem with the request; see the message above", agent=CLAUDE)
    if isinstance(exc, anthropic.APITimeoutError):
        return AgentError(f"the Anthropic API did not answer in time after {attempts} attempts",
                          hint="raise anthropic.timeout_s in .gitorch.yml or try again later", agent=CLAUDE)
    return AgentError(f"could not reach the Anthropic API after {attempts} attempts: {exc}",
                      hint="check the network and anthropic.base_url (ANTHROPIC_BASE_URL)", agent=CLAUDE)


def _status_message(exc: anthropic.APIStatusError) -> str:
    body = exc.body
    if isinstance(body, dict):
        error = body.get("error")
        if isinstance(error, dict) and error.get("message"):
            return str(error["message"])
    return str(exc.message)


class ClaudeSession:
    """One way to call Claude: streamed, redacted, usage summed. Shared by the architect and the builder."""

    def __init__(self, config: Any, *, client: anthropic.Anthropic | None = None,
                 sleep: Callable[[float], None] = time.sleep):
        self.config = config
        self.client = client or make_client(config)
        # the configured secrets and the values of the repository's .env files, wherever they appear
        self.redact = Redactor(config.secrets.values())
        self.sleep = sleep

    def count_tokens(self, model: str, text: str) -> int:
        try:
            return self.client.messages.count_tokens(
                model=model, messages=[{"role": "user", "content": self.redact(text)}]).input_tokens
        except AgentError:
            raise
        except anthropic.APIError as exc:
            raise _agent_error(exc, self.config.anthropic.max_retries + 1) from exc

    def call(self, *, model: str, system: list[dict[str, Any]], messages: list[dict[str, Any]],
             tools: list[dict[str, Any]] | None = None, max_tokens: int | None = None) -> Any:
        """One answer (the SDK's final message). Retries a stream cut off after it started."""
        attempts = self.config.anthropic.max_retries + 1
        params: dict[str, Any] = {
            "model": model, "max_tokens": max_tokens or self.config.anthropic.max_output_tokens,
            "system": self._redacted(system), "messages": self._redacted(messages),
        }
        if tools:
            params["tools"] = tools
            params["tool_choice"] = {"type": "auto"}
        for attempt in range(1, attempts + 1):
            try:
                with self.client.messages.stream(**params) as stream:
                    try:
                        message = stream.get_final_message()
                    except (httpx2.TransportError, anthropic.APIStatusError, anthropic.APIConnectionError) as cut:
                        message, problem = None, f"the answer stream broke off: {cut}"
                    else:
                        problem = None if message.stop_reason else "the answer stream ended early"
            except AgentError:
                raise
            except anthropic.APIError as exc:
                raise _agent_error(exc, attempts) from exc
            if problem is None:
                return message
            if attempt == attempts:
                raise AgentError(f"{problem} ({attempts} attempts)",
                                 hint="try again later; the run can resume from its last finished step",
                                 agent=CLAUDE)
            wait = backoff_s(attempt)
            log.warning("%s; asking again in %.2fs", problem, wait)
            self.sleep(wait)
        raise AssertionError("unreachable")

    def _redacted(self, value: Any) -> Any:
        return self.redact.record(value)


def _content_params(message: Any) -> list[dict[str, Any]]:
    """An answer's content as it is sent back in the next turn."""
    out = []
    for block in message.content:
        if block.type == "text" and block.text:
            out.append({"type": "text", "text": block.text})
        elif block.type == "tool_use":
            out.append({"type": "tool_use", "id": block.id, "name": block.name, "input": block.input})
    return out


# -- structured answers ---------------------------------------------------------------------------

_TASK_SCHEMA = {
    "type": "object",
    "properties": {
        "id": {"type": "string", "description": "short unique id, e.g. t1"},
        "description": {"type": "string", "description": "what to do, precise enough to build without asking"},
        "files": {"type": "array", "items": {"type": "string"},
                  "description": "repository-relative paths the task creates or changes"},
        "assigned_to": {"type": "string", "enum": list(AGENTS),
                        "description": "who should build it: chatgpt-pro or codex for ordinary code, "
                                       "claude for delicate design work"},
        "depends_on": {"type": "array", "items": {"type": "string"}, "description": "ids of tasks to finish first"},
        "estimated_lines": {"type": "integer", "minimum": 0, "description": "lines to write or change"},
        "task_type": {"type": "string", "enum": list(TASK_TYPES)},
    },
    "required": ["id", "description", "files", "assigned_to", "depends_on", "estimated_lines", "task_type"],
}
PLAN_TOOL = {
    "name": "write_plan",
    "description": "Record the plan: a short summary and the tasks that carry it out, in order. "
                   "For a request that needs no code (a question, an analysis), give the answer in "
                   "'answer' and no tasks.",
    "input_schema": {"type": "object", "properties": {
        "summary": {"type": "string"},
        "tasks": {"type": "array", "items": _TASK_SCHEMA},
        "answer": {"type": "string", "description": "the answer, when the request needs no code"},
    }, "required": ["summary", "tasks"]},
}
REVIEW_TOOL = {
    "name": "write_review",
    "description": "Record the review: a status for every artifact, inline comments on the diff, fix tasks.",
    "input_schema": {"type": "object", "properties": {
        "verdict": {"type": "string", "enum": ["approve", "reject"],
                    "description": "approve only if every artifact is approved"},
        "summary": {"type": "string"},
        "artifacts": {"type": "array", "items": {"type": "object", "properties": {
            "path": {"type": "string"},
            "status": {"type": "string", "enum": ["approved", "rejected"]},
            "notes": {"type": "string"},
        }, "required": ["path", "status", "notes"]}},
        "comments": {"type": "array", "items": {"type": "object", "properties": {
            "path": {"type": "string"},
            "line": {"type": "integer", "description": "line number on the new side of the diff"},
            "body": {"type": "string"},
        }, "required": ["path", "line", "body"]}},
        "fix_tasks": {"type": "array", "items": _TASK_SCHEMA,
                      "description": "one or more tasks for each rejected artifact"},
        "confidence": {"type": "number", "minimum": 0, "maximum": 1,
                       "description": "how sure you are of the verdict, from 0 to 1"},
    }, "required": ["verdict", "summary", "artifacts", "comments", "fix_tasks"]},
}
# Both tools in every architect call: the prefix (tools, system) is then the same for plans and reviews.
ARCHITECT_TOOLS = [PLAN_TOOL, REVIEW_TOOL]

ARCHITECT_INSTRUCTIONS = """\
You are the architect of a software change. You write plans that builders carry out, and you review \
what they produced. You answer only through the tool the request names, called exactly once.

Planning (write_plan):
- Split the work into small tasks a builder can finish in one answer (up to about 300 lines each).
- Name every file a task creates or changes, as a path relative to the repository root. Never plan \
changes inside .git/ or .github/workflows/.
- Order tasks with depends_on; independent tasks can be built at the same time.
- assigned_to: chatgpt-pro for ordinary code and tests, codex when the task needs to run commands, \
claude for delicate design or security-sensitive work. The router may change it.
- estimated_lines: lines written or changed. task_type: one of planning, code_generation, debugging, \
refactoring, review.
- A request that needs no code (a question, an analysis): no tasks, and the answer in 'answer'.

Reviewing (write_review):
- Give every artifact listed in the request a status: approved or rejected, with notes that say why.
- Reject work that is wrong, unfinished (TODO, FIXME, NotImplementedError), unsafe, or that does not \
do what its task asked. Do not reject for taste.
- Inline comments point at a file and a line number on the new side of the diff (added or context \
lines only).
- For every rejected artifact add at least one fix task that says exactly what to change.
- verdict is approve only if every artifact is approved.
- confidence: how sure you are of the verdict, from 0 to 1. Say below 0.7 when part of the change \
needs more judgement than you can give it (security, data, concurrency): a stronger model then \
reviews it again.

The repository context below was cut to a token budget; secrets in it are shown as [REDACTED].
"""


class InvalidAnswer(Exception):
    """A tool input that does not meet the schema or the rules; the message is written for the model."""


def _tasks(raw: Any, what: str) -> list[Task]:
    if not isinstance(raw, list):
        raise InvalidAnswer(f"{what} must be a list of tasks")
    tasks: list[Task] = []
    seen: set[str] = set()
    problems: list[str] = []
    for i, item in enumerate(raw):
        where = f"{what}[{i}]"
        if not isinstance(item, dict):
            problems.append(f"{where} is not an object")
            continue
        tid = str(item.get("id") or "").strip()
        if not tid:
            problems.append(f"{where} has no id")
        elif tid in seen:
            problems.append(f"{where}: id '{tid}' is used twice")
        seen.add(tid)
        description = str(item.get("description") or "").strip()
        if not description:
            problems.append(f"{where} ('{tid}') has no description")
        files = item.get("files", [])
        if not isinstance(files, list) or not all(isinstance(f, str) and f.strip() for f in files):
            problems.append(f"{where} ('{tid}'): files must be a list of paths")
            files = []
        for f in files:
            parts = f.replace("\\", "/").split("/")
            if f.startswith("/") or ".." in parts or ".git" in parts or f.startswith(".github/workflows/"):
                problems.append(f"{where} ('{tid}'): '{f}' is not a path a task may touch "
                                "(relative, no '..', nothing in .git/ or .github/workflows/)")
        agent = item.get("assigned_to", "chatgpt-pro")
        if agent not in AGENTS:
            problems.append(f"{where} ('{tid}'): assigned_to '{agent}' is not one of {', '.join(AGENTS)}")
        task_type = item.get("task_type", "code_generation")
        if task_type not in TASK_TYPES:
            problems.append(f"{where} ('{tid}'): task_type '{task_type}' is not one of {', '.join(TASK_TYPES)}")
        depends = item.get("depends_on", [])
        if not isinstance(depends, list) or not all(isinstance(d, str) for d in depends):
            problems.append(f"{where} ('{tid}'): depends_on must be a list of task ids")
            depends = []
        lines = item.get("estimated_lines", 0)
        if not isinstance(lines, int) or isinstance(lines, bool) or lines < 0:
            problems.append(f"{where} ('{tid}'): estimated_lines must be a whole number >= 0")
            lines = 0
        tasks.append(Task(id=tid, description=description, files=[f.strip() for f in files],
                          assigned_to=agent, depends_on=list(depends), estimated_lines=lines, task_type=task_type))
    ids = {t.id for t in tasks}
    for t in tasks:
        for d in t.depends_on:
            if d not in ids:
                problems.append(f"task '{t.id}' depends on '{d}', which is not a task of the {what}")
            elif d == t.id:
                problems.append(f"task '{t.id}' depends on itself")
    if not problems and _has_cycle(tasks):
        problems.append(f"the dependencies between the {what} form a cycle")
    if problems:
        raise InvalidAnswer("; ".join(problems))
    return tasks


def _has_cycle(tasks: list[Task]) -> bool:
    deps = {t.id: set(t.depends_on) for t in tasks}
    done: set[str] = set()
    while deps:
        ready = [t for t, d in deps.items() if d <= done]
        if not ready:
            return True
        for t in ready:
            done.add(t)
            del deps[t]
    return False


def parse_plan(data: Any) -> Plan:
    if not isinstance(data, dict):
        raise InvalidAnswer("the input must be an object with summary and tasks")
    answer = str(data.get("answer") or "").strip()
    if not data.get("tasks"):
        if answer:  # a question or an analysis: answered, nothing to build
            return Plan(summary=answer, tasks=[])
        raise InvalidAnswer("tasks is missing or empty: a plan needs at least one task, or an 'answer' "
                            "when the request needs no code")
    tasks = _tasks(data["tasks"], "tasks")
    return Plan(summary=str(data.get("summary") or "").strip(), tasks=tasks)


def parse_review(data: Any, artifacts: dict[str, str | None], diff: str, round_no: int = 1) -> tuple[Review, int]:
    """The review, with every artifact given a status and comments anchored on the diff's new side.
    Returns it with the number of comments moved or dropped. The verdict is computed, not trusted."""
    if not isinstance(data, dict):
        raise InvalidAnswer("the input must be an object with verdict, summary, artifacts, comments, fix_tasks")
    raw_verdicts = data.get("artifacts")
    if not isinstance(raw_verdicts, list):
        raise InvalidAnswer("artifacts must be a list with one entry per artifact")
    verdicts: dict[str, Verdict] = {}
    problems = []
    for i, item in enumerate(raw_verdicts):
        if not isinstance(item, dict) or item.get("status") not in ("approved", "rejected"):
            problems.append(f"artifacts[{i}] needs a path and a status of approved or rejected")
            continue
        path = str(item.get("path", "")).strip()
        if path not in artifacts:
            problems.append(f"artifacts[{i}]: '{path}' is not one of the artifacts under review")
            continue
        verdicts[path] = Verdict(path, item["status"] == "approved", str(item.get("notes") or "").strip())
    missing = [p for p in artifacts if p not in verdicts]
    if missing:
        problems.append("no status for: " + ", ".join(missing))
    fix_tasks = _tasks(data.get("fix_tasks") or [], "fix_tasks") if not problems else []
    rejected = [v.path for v in verdicts.values() if not v.approved]
    if rejected and not fix_tasks and not problems:
        problems.append("artifacts are rejected (" + ", ".join(rejected) + ") but fix_tasks is empty: "
                        "add at least one fix task for each rejected artifact")
    if problems:
        raise InvalidAnswer("; ".join(problems))
    comments, adjusted = anchor_comments(data.get("comments") or [], diff, verdicts)
    ordered = [verdicts[p] for p in artifacts]
    verdict = "approve" if ordered and all(v.approved for v in ordered) else "reject"
    summary = str(data.get("summary") or "").strip()
    confidence = data.get("confidence")
    if isinstance(confidence, bool) or not isinstance(confidence, int | float) or not 0 <= confidence <= 1:
        confidence = None  # optional: a review without a usable confidence is taken as sure
    return Review(verdict=verdict, summary=summary, artifacts=ordered, comments=comments,
                  fix_tasks=fix_tasks, round=round_no, confidence=confidence), adjusted


def anchor_comments(raw: list[Any], diff: str, verdicts: dict[str, Verdict],
                    reach: int = 3) -> tuple[list[InlineComment], int]:
    """Comments on lines of the diff's new side. One a few lines off is moved to the nearest line
    that is in the diff; one that cannot be placed is kept as a note of its artifact."""
    lines = diff_lines(diff)
    out, adjusted = [], 0
    for item in raw:
        if not isinstance(item, dict):
            continue
        path, body = str(item.get("path", "")).strip(), str(item.get("body", "")).strip()
        try:
            line = int(item.get("line"))
        except (TypeError, ValueError):
            line = 0
        if not body:
            continue
        anchors = lines.get(path, {})
        if line in anchors:
            out.append(InlineComment(path, line, body))
            continue
        adjusted += 1
        near = sorted((abs(n - line), n) for n in anchors if abs(n - line) <= reach)
        if near:
            out.append(InlineComment(path, near[0][1], body))
        elif path in verdicts:
            v = verdicts[path]
            v.notes = (v.notes + f"\n(line {line}) {body}").strip()
    return out, adjusted


# -- the architect --------------------------------------------------------------------------------


def _fence(text: str) -> str:
    longest, run = 0, 0
    for ch in text:
        run = run + 1 if ch == "`" else 0
        longest = max(longest, run)
    return "`" * max(3, longest + 1)


def _artifact_block(path: str, content: str | None) -> str:
    if content is None:
        return f"### artifact: {path}\n(deleted)\n"
    fence = _fence(content)
    body = content if content.endswith("\n") or not content else content + "\n"
    return f"### artifact: {path}\n{fence}\n{body}{fence}\n"


class ClaudeArchitect:
    """Plans and reviews. ``repo_context`` given to ``plan`` is kept and reused by later reviews of
    the same run, so their cached prefix is the same."""

    id = CLAUDE

    def __init__(self, config: Any, *, client: anthropic.Anthropic | None = None,
                 sleep: Callable[[float], None] = time.sleep, cache: bool = True):
        self.config = config
        self.session = ClaudeSession(config, client=client, sleep=sleep)
        self.repo_context = ""
        self._mark = {"cache_control": _EPHEMERAL} if cache else {}  # cache=False: for the benchmark's baseline

    def count_tokens(self, text: str, model: str | None = None) -> int:
        return self.session.count_tokens(model or self.config.models.plan, text)

    def _system(self, repo_context: str) -> list[dict[str, Any]]:
        context = repo_context.strip() or "(no repository context was given)"
        return [{"type": "text", "text": ARCHITECT_INSTRUCTIONS},
                {"type": "text", "text": "# Repository context\n\n" + context, **self._mark}]

    def _structured(self, *, model: str, tool: str, system: list[dict[str, Any]], content: list[dict[str, Any]],
                    parse: Callable[[Any], Any]) -> tuple[Any, Usage, int]:
        """Ask for ``tool``; one more turn with the reason when the answer is unusable."""
        messages: list[dict[str, Any]] = [{"role": "user", "content": content}]
        usage = Usage()
        for turn in (1, 2):
            message = self.session.call(model=model, system=system, messages=messages, tools=ARCHITECT_TOOLS)
            usage = usage + usage_of(message)
            use = next((b for b in message.content if b.type == "tool_use" and b.name == tool), None)
            if message.stop_reason == "max_tokens":
                reason = (f"the answer was cut at max_tokens={self.config.anthropic.max_output_tokens} "
                          "before the tool input was complete")
                follow: dict[str, Any] = {"type": "text", "text": f"{reason}. Call {tool} again, more briefly."}
            elif use is None:
                reason = f"the answer did not call {tool}"
                follow = {"type": "text", "text": f"You answered without calling {tool}. "
                                                  f"Call {tool} now, once, with the whole answer."}
            else:
                try:
                    return parse(use.input), usage, turn
                except InvalidAnswer as exc:
                    reason = str(exc)
                    follow = {"type": "tool_result", "tool_use_id": use.id, "is_error": True,
                              "content": f"Invalid {tool} input: {reason}. Call {tool} again with the "
                                         "whole corrected input."}
            log.warning("Claude's %s answer was not usable (%s)%s", tool, reason,
                        "; asking once more" if turn == 1 else "")
            if turn == 2:
                raise AgentError(f"Claude's {tool} answer was not usable twice: {reason}",
                                 hint="try again; if it keeps failing, simplify the request", agent=CLAUDE)
            messages += [{"role": "assistant", "content": _content_params(message)},
                         {"role": "user", "content": [follow]}]
        raise AssertionError("unreachable")

    def plan(self, task: str, repo_context: str, *, model: str | None = None) -> PlanResult:
        self.repo_context = repo_context
        model = model or self.config.models.plan
        started = time.monotonic()
        content = [{"type": "text", "text": f"<task>\n{task.strip()}\n</task>\n\n"
                                            "Plan this change. Answer by calling write_plan once."}]
        plan, usage, calls = self._structured(model=model, tool="write_plan", system=self._system(repo_context),
                                              content=content, parse=parse_plan)
        plan.summary = self.session.redact(plan.summary)
        for t in plan.tasks:
            t.description = self.session.redact(t.description)
        return PlanResult(plan=plan, usage=usage, model=model, duration_s=time.monotonic() - started, calls=calls)

    def review(self, plan: Plan | None, diff: str, artifacts: dict[str, str | None], *,
               repo_context: str | None = None, round_no: int = 1, model: str | None = None) -> ReviewResult:
        """Review ``diff`` and the new contents of ``artifacts`` (path -> content, None: deleted)."""
        if not artifacts:
            raise GitorchError("nothing to review: the change has no files",
                               hint="check the range (A..B) or that the builder produced artifacts")
        model = model or self.config.models.review
        started = time.monotonic()
        context = self.repo_context if repo_context is None else repo_context
        plan_text = (json.dumps({"summary": plan.summary, "tasks": [t.__dict__ for t in plan.tasks]}, indent=1)
                     if plan is not None else "(no plan: review the change on its own merits)")
        content = [
            {"type": "text", "text": f"<plan>\n{plan_text}\n</plan>", **self._mark},
            {"type": "text", "text": self._review_request(diff, artifacts, round_no)},
        ]
        review, usage, calls = self._structured(
            model=model, tool="write_review", system=self._system(context), content=content,
            parse=lambda data: parse_review(data, artifacts, diff, round_no)[0])
        return ReviewResult(review=review, usage=usage, model=model, duration_s=time.monotonic() - started,
                            calls=calls)

    def _review_request(self, diff: str, artifacts: dict[str, str | None], round_no: int) -> str:
        """The diff and the artifacts, cut to ``anthropic.review_context_tokens`` (estimated)."""
        budget_chars = int(self.config.anthropic.review_context_tokens * 3.5)
        if len(diff) > budget_chars // 2:
            diff = diff[: budget_chars // 2] + "\n... [diff cut to the review budget]\n"
        room = budget_chars - len(diff)
        blocks = []
        # A new file's whole content is in the diff already: it is not sent a second time.
        new_files = set(re.findall(r"^diff --git a/\S+ b/(\S+)\nnew file mode", diff, flags=re.M))
        for path, content in artifacts.items():
            if path in new_files and content is not None:
                blocks.append(f"### artifact: {path}\n(a new file: its whole content is in the diff above)\n")
                continue
            share = max(2000, room // max(1, len(artifacts)))
            if content is not None and len(content) > share:
                content = content[:share] + "\n... [cut to the review budget]\n"
            blocks.append(_artifact_block(path, content))
        head = f"Review round {round_no}." + (" The previous round's fix tasks were built; check them."
                                               if round_no > 1 else "")
        return (f"{head}\n\n<diff>\n{diff.rstrip()}\n</diff>\n\n## Artifacts\n\n" + "\n".join(blocks)
                + "\nReview every artifact above. Answer by calling write_review once.")


# -- Claude as a builder ----------------------------------------------------------------------------


class ClaudeBuilder:
    """Builds a task with the edit protocol of ``gitorch.edits``: used when routed to Claude or as the
    fallback when the subscription builders fail."""

    id = CLAUDE

    def __init__(self, config: Any = None, *, client: anthropic.Anthropic | None = None,
                 sleep: Callable[[float], None] = time.sleep, **_: Any):
        if config is None:
            from .. import config as config_module

            config = config_module.load()
        self.config = config
        self.session = ClaudeSession(config, client=client, sleep=sleep)

    def build(self, task: Task, context: BuildContext) -> BuildResult:
        from .. import edits

        model = self.config.models.build
        started = time.monotonic()
        stable, request = edits.claude_request(task, context, self.config.edits)
        system = [{"type": "text", "text": stable, "cache_control": _EPHEMERAL}]
        message = self.session.call(model=model, system=system,
                                    messages=[{"role": "user", "content": [{"type": "text", "text": request}]}])
        raw = "".join(b.text for b in message.content if b.type == "text")
        result = BuildResult(agent=CLAUDE, model=model, edits=[], raw=raw, usage=usage_of(message),
                             duration_s=time.monotonic() - started)
        with answer_of(result):  # an unusable answer carries the call: its tokens were spent
            result.edits = edits.parse_answer(raw, context.files, self.config.edits, repo_root=context.repo_root,
                                              previous=context.accepted)
        return result

    def close(self) -> None:
        self.session.client.close()


register_builder(CLAUDE, ClaudeBuilder)
