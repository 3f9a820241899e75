"""A local stand-in for the Anthropic Messages API, for the tests and `gitorch demo`.

The real ``anthropic`` SDK talks to it over HTTP on 127.0.0.1, so what is exercised is the SDK's own
request building, SSE parsing and retries, not a mock of ours. It speaks:

- ``POST /v1/messages``: JSON, or Server-Sent Events when ``stream`` is true (``message_start``,
  ``content_block_start`` / ``content_block_delta`` (``text_delta``, ``input_json_delta``) /
  ``content_block_stop``, ``message_delta`` with usage, ``message_stop``), text and ``tool_use`` blocks.
- ``POST /v1/messages/count_tokens``.

Usage is honest: tokens are counted from the request's text with one deterministic tokenizer
(``count_tokens``), and a prefix ending at a ``cache_control`` breakpoint that is long enough
(``min_cache_tokens``, 1024 by default as for most real models) is a cache write the first time and a
cache read afterwards, per model, within its TTL (5 minutes, or 1 hour with ``ttl: "1h"``).

Answers come from a queue (``enqueue_text``, ``enqueue_tool_use``, ``enqueue_fault``,
``enqueue_stream_cut``...), one per ``/v1/messages`` request, and when the queue is empty from the
``scenario`` (by default ``DemoScenario``, which writes a plausible plan or review from the request).
Every request is kept in ``requests`` so tests can assert what was sent.
"""

from __future__ import annotations

import hashlib
import json
import re
import threading
import time
import uuid
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from typing import Any

from ..git.context import diff_lines
from . import loopback
from .loopback import LoopbackServer

ANTHROPIC_VERSION = "2023-06-01"


def served_models() -> frozenset[str]:
    """The model ids the API answers: those the installed SDK lists as current (retired ones, such as
    claude-sonnet-4-5 after its end of life on 2026-11-30, are not among them)."""
    from typing import get_args

    from anthropic.types import ModelParam

    listed = next(arg for arg in get_args(ModelParam) if get_args(arg))
    return frozenset(get_args(listed))
_TOKEN = re.compile(r"[A-Za-z]{1,6}|[0-9]{1,3}|[^\sA-Za-z0-9]|\n")
MESSAGE_OVERHEAD = 4  # tokens a message's role and framing cost
REQUEST_OVERHEAD = 8
TTL_S = {"5m": 300.0, "1h": 3600.0}


def count_tokens(text: str) -> int:
    """The stand-in's tokenizer: letter runs of up to 6, digit runs of up to 3, each other symbol
    and each newline one token. About 3.5-4 characters a token on code and English, like Claude's."""
    return len(_TOKEN.findall(text))


# -- scripted answers -----------------------------------------------------------------------------


@dataclass
class Reply:
    """One answer to one ``/v1/messages`` request.

    ``status`` other than 200 makes it an error response (``error_type``, ``message``, ``headers``
    such as ``retry-after``). ``cut_after_events`` cuts a streamed answer after that many events (a
    JSON answer: the connection is dropped before any byte). ``delay_s`` waits before answering."""

    text: str = ""
    tool_name: str | None = None
    tool_input: dict[str, Any] | None = None
    status: int = 200
    error_type: str | None = None
    message: str | None = None
    headers: dict[str, str] = field(default_factory=dict)
    cut_after_events: int | None = None
    delay_s: float = 0.0


_ERROR_TYPES = {400: "invalid_request_error", 401: "authentication_error", 403: "permission_error",
                404: "not_found_error", 413: "request_too_large", 429: "rate_limit_error",
                500: "api_error", 529: "overloaded_error"}
_ERROR_MESSAGES = {429: "Number of request tokens has exceeded your per-minute rate limit.",
                   500: "Internal server error", 529: "Overloaded", 401: "invalid x-api-key"}
SPEND_LIMIT_MESSAGE = ("Your credit balance is too low to access the Anthropic API. "
                       "Please go to Plans & Billing to upgrade or purchase credits.")


class LoggedRequest(loopback.LoggedRequest):
    @property
    def retry_count(self) -> int:
        return int(self.headers.get("x-stainless-retry-count", "0") or 0)

    @property
    def raw(self) -> str:
        """The whole body as text, to search for things that must never be sent."""
        return json.dumps(self.body, ensure_ascii=False)


Scenario = Callable[[dict[str, Any]], Reply]


# -- prompt accounting --------------------------------------------------------------------------


def _strip_cache_control(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _strip_cache_control(v) for k, v in value.items() if k != "cache_control"}
    if isinstance(value, list):
        return [_strip_cache_control(v) for v in value]
    return value


def _block_text(block: Any) -> str:
    if isinstance(block, str):
        return block
    kind = block.get("type")
    if kind == "text":
        return block.get("text", "")
    if kind == "tool_use":
        return block.get("name", "") + " " + json.dumps(block.get("input", {}))
    if kind == "tool_result":
        content = block.get("content", "")
        if isinstance(content, list):
            return "\n".join(_block_text(c) for c in content)
        return str(content)
    if "name" in block and "input_schema" in block:  # a tool definition
        return f"{block['name']}\n{block.get('description', '')}\n{json.dumps(block['input_schema'])}"
    return json.dumps(_strip_cache_control(block))


@dataclass
class _Block:
    tokens: int
    digest: str  # hash of the prompt up to and including this block
    cache_control: dict[str, Any] | None


def _prompt_blocks(body: dict[str, Any]) -> list[_Block]:
    """The request in cache order (tools, system, messages), each block with the running hash."""
    items: list[tuple[Any, int]] = []
    for tool in body.get("tools") or []:
        items.append((tool, 0))
    system = body.get("system")
    if isinstance(system, str):
        system = [{"type": "text", "text": system}]
    for block in system or []:
        items.append((block, 0))
    for message in body.get("messages") or []:
        content = message.get("content")
        if isinstance(content, str):
            content = [{"type": "text", "text": content}]
        for i, block in enumerate(content or []):
            items.append(({"role": message.get("role"), **block} if isinstance(block, dict) else block,
                          MESSAGE_OVERHEAD if i == 0 else 0))
    running = hashlib.sha256(str(body.get("model")).encode())
    blocks = []
    for block, overhead in items:
        running.update(json.dumps(_strip_cache_control(block), sort_keys=True).encode())
        cc = block.get("cache_control") if isinstance(block, dict) else None
        blocks.append(_Block(count_tokens(_block_text(block)) + overhead, running.copy().hexdigest(), cc))
    top = body.get("cache_control")
    if top and blocks and not blocks[-1].cache_control:  # automatic caching: the last block
        blocks[-1].cache_control = top
    return blocks


class PromptCache:
    """Prefixes written by earlier requests, per model, with their expiry."""

    def __init__(self, clock: Callable[[], float] = time.monotonic, min_tokens: int = 1024):
        self.clock = clock
        self.min_tokens = min_tokens
        self._entries: dict[str, float] = {}
        self._lock = threading.Lock()

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()

    def usage(self, body: dict[str, Any]) -> dict[str, int]:
        """input/cache-creation/cache-read split of a request's prompt, updating the cache."""
        blocks = _prompt_blocks(body)
        total = REQUEST_OVERHEAD + sum(b.tokens for b in blocks)
        cumulative, running = [], REQUEST_OVERHEAD
        for b in blocks:
            running += b.tokens
            cumulative.append(running)
        breakpoints = [i for i, b in enumerate(blocks) if b.cache_control]
        now = self.clock()
        read, read_at = 0, -1
        with self._lock:
            for i in reversed(breakpoints):
                expiry = self._entries.get(blocks[i].digest)
                if expiry is not None and expiry > now:
                    read, read_at = cumulative[i], i
                    ttl = TTL_S.get(str(blocks[i].cache_control.get("ttl", "5m")), TTL_S["5m"])
                    self._entries[blocks[i].digest] = now + ttl  # a read refreshes the entry
                    break
            written = read
            for i in breakpoints:
                if i > read_at and cumulative[i] >= self.min_tokens:
                    ttl = TTL_S.get(str(blocks[i].cache_control.get("ttl", "5m")), TTL_S["5m"])
                    self._entries[blocks[i].digest] = now + ttl
                    written = cumulative[i]
        creation = written - read
        return {"input_tokens": total - read - creation, "cache_creation_input_tokens": creation,
                "cache_read_input_tokens": read}


# -- the demo scenario -----------------------------------------------------------------------------


class DemoScenario:
    """Answers like a careful architect would, from the request alone: a plan that touches the files
    the repository context names as relevant, a review that approves clean work and rejects work
    left with TODO / FIXME / NotImplementedError, for a build request (Claude as the builder)
    whole-file blocks in gitorch.edits' protocol, and for anything else a short text.

    Reviews depend on the model, as they would: every model rejects unfinished work, but only the
    larger ones (Sonnet, Opus) reject the subtler faults of ``SUBTLE_FAULTS``; a Haiku model approves
    such a file and says it is unsure (confidence 0.5). Every review states its confidence."""

    REJECT_MARKERS = ("TODO", "FIXME", "NotImplementedError")
    SUBTLE_FAULTS = {"pickle.loads(": "unpickles data it did not write (code execution)",
                     'execute(f"': "builds SQL from a formatted string (injection)",
                     "verify=False": "turns TLS certificate checks off"}

    def __call__(self, body: dict[str, Any]) -> Reply:
        tools = [t.get("name") for t in body.get("tools") or []]
        last = _last_user_text(body)
        asked = re.findall(r"\bcall(?:ing)? (?:the )?(\w+)", last)
        wanted = next((name for name in reversed(asked) if name in tools), tools[0] if len(tools) == 1 else None)
        if wanted == "write_plan":
            return Reply(text="Here is the plan.", tool_name="write_plan", tool_input=self.plan(body, last))
        if wanted == "write_review":
            return Reply(text="Review done.", tool_name="write_review",
                         tool_input=self.review(last, str(body.get("model") or "")))
        if not tools and re.match(r"Task \S+: ", last):
            return Reply(text=self.build(last))
        return Reply(text="Understood.")

    def build(self, last: str) -> str:
        """Whole-file blocks (the edit protocol of gitorch.edits) for every file the task names:
        existing content kept, one small documented function added."""
        description = re.match(r"Task \S+: (.*)", last)
        title = description.group(1).strip() if description else "the task"
        files_line = re.search(r"^Files: (.*)$", last, flags=re.M)
        paths = [p.strip() for p in (files_line.group(1) if files_line else "").split(",")
                 if p.strip() and not p.strip().startswith("(")] or [_module_name(title)]
        blocks = []
        for path in paths:
            shown = re.search(rf"^{re.escape(path)}\n(`{{3,}})[^\n]*\n(.*?)^\1$", last, flags=re.M | re.S)
            current = shown.group(2) if shown else ""
            name = "_".join(w.lower() for w in re.findall(r"[A-Za-z]{3,}", title)[:3]) or "feature"
            if path.endswith(".py"):
                addition = f'def {name}():\n    """{title}"""\n    return True\n'
            else:
                addition = f"{title}\n"
            content = (current.rstrip("\n") + "\n\n\n" if current.strip() else "") + addition
            fence = "````" if "```" in content else "```"
            blocks.append(f"{path}\n{fence}\n{content}{fence}\n")
        return "Here are the changes.\n\n" + "\n".join(blocks)

    def plan(self, body: dict[str, Any], last: str) -> dict[str, Any]:
        task = _between(last, "<task>", "</task>") or last.strip()
        context = "\n".join(_block_text(b) for b in body.get("system") or [] if isinstance(b, dict))
        relevant = re.findall(r"^### file: (\S+)", context + "\n" + last, flags=re.M)
        files = [f for f in relevant if not f.startswith("tests/")][:2] or [_module_name(task)]
        first_line = task.strip().splitlines()[0] if task.strip() else "the change"
        tasks = [{"id": "t1", "description": f"Implement: {first_line}", "files": files,
                  "assigned_to": "chatgpt-pro", "depends_on": [], "estimated_lines": 40,
                  "task_type": "code_generation"}]
        if re.search(r"\btests?\b", task, flags=re.I) or not any(f.startswith("tests/") for f in relevant):
            tasks.append({"id": "t2", "description": f"Add tests for: {first_line}",
                          "files": ["tests/test_" + files[0].rsplit("/", 1)[-1].removesuffix(".py") + ".py"],
                          "assigned_to": "chatgpt-pro", "depends_on": ["t1"], "estimated_lines": 30,
                          "task_type": "code_generation"})
        return {"summary": f"{len(tasks)} task(s) for: {first_line}", "tasks": tasks}

    def review(self, last: str, model: str = "") -> dict[str, Any]:
        artifacts = [(m[0], m[2]) for m in
                     re.findall(r"^### artifact: (\S+)\n(`{3,})[^\n]*\n(.*?)^\2$", last, flags=re.M | re.S)]
        lines = diff_lines(_between(last, "<diff>", "</diff>") or "")
        for path in re.findall(r"^### artifact: (\S+)\n\(a new file", last, flags=re.M):  # content in the diff
            artifacts.append((path, "\n".join(text for _, (text, added) in sorted(lines.get(path, {}).items()))))
        small = "haiku" in model
        verdicts, comments, fixes = [], [], []
        confidence = 0.9
        for path, content in artifacts:
            marker = next((m for m in self.REJECT_MARKERS if m in content), None)
            if marker is not None:
                notes, ask, body = f"Unfinished work left in place ({marker}).", f"Finish the {marker} in {path}", \
                    f"Finish this: {marker} left here."
            else:
                marker = next((m for m in self.SUBTLE_FAULTS if m in content), None)
                if marker is not None and small:  # a small model sees something odd but cannot judge it
                    confidence = 0.5
                    marker = None
                if marker is not None:
                    fault = self.SUBTLE_FAULTS[marker]
                    notes, ask, body = f"Unsafe: it {fault}.", f"Fix {path}: it {fault}", f"This {fault}."
            if marker is None:
                verdicts.append({"path": path, "status": "approved", "notes": "Matches the plan; reads cleanly."})
                continue
            verdicts.append({"path": path, "status": "rejected", "notes": notes})
            for line_no, (text, added) in sorted(lines.get(path, {}).items()):
                if added and marker in text:
                    comments.append({"path": path, "line": line_no, "body": body})
                    break
            fixes.append({"id": f"fix-{len(fixes) + 1}", "description": ask,
                          "files": [path], "assigned_to": "chatgpt-pro", "depends_on": [],
                          "estimated_lines": 15, "task_type": "debugging"})
        verdict = "approve" if verdicts and not fixes else "reject"
        return {"verdict": verdict, "summary": f"{len(verdicts) - len(fixes)} of {len(verdicts)} approved.",
                "artifacts": verdicts, "comments": comments, "fix_tasks": fixes, "confidence": confidence}


def _last_user_text(body: dict[str, Any]) -> str:
    for message in reversed(body.get("messages") or []):
        if message.get("role") == "user":
            content = message.get("content")
            if isinstance(content, str):
                return content
            return "\n".join(_block_text(b) for b in content or [])
    return ""


def _between(text: str, start: str, end: str) -> str | None:
    i = text.find(start)
    j = text.find(end, i + len(start)) if i >= 0 else -1
    return text[i + len(start):j] if i >= 0 and j >= 0 else None


def _module_name(task: str) -> str:
    words = [w.lower() for w in re.findall(r"[A-Za-z]{3,}", task)][:3] or ["feature"]
    return "_".join(words) + ".py"


# -- the server -------------------------------------------------------------------------------------


class AnthropicServer(LoopbackServer):
    """The stand-in, as a context manager: ``with AnthropicServer() as api: api.base_url``.

    ``api_key``: when set, any other key is answered with 401 (a missing key always is).
    ``scenario``: answers when the queue is empty. ``clock``: for cache TTLs (tests move it on).
    ``chunk_chars``: size of the text pieces a streamed answer is cut into. ``models``: the ids it
    answers (by default ``served_models()``); any other is a 404 ``not_found_error``, as the API says."""

    def __init__(self, *, api_key: str | None = None, scenario: Scenario | None = None,
                 clock: Callable[[], float] = time.monotonic, min_cache_tokens: int = 1024,
                 chunk_chars: int = 40, port: int = 0, models: frozenset[str] | None = None):
        super().__init__(port)
        self.api_key = api_key
        self.models = served_models() if models is None else models
        self.scenario: Scenario = scenario or DemoScenario()
        self.cache = PromptCache(clock, min_cache_tokens)
        self.chunk_chars = chunk_chars
        self.requests: list[LoggedRequest] = []
        self._queue: deque[Reply] = deque()
        self._lock = threading.Lock()

    # -- scripting ---------------------------------------------------------------------------------

    def enqueue(self, *replies: Reply) -> AnthropicServer:
        with self._lock:
            self._queue.extend(replies)
        return self

    def enqueue_text(self, text: str) -> AnthropicServer:
        return self.enqueue(Reply(text=text))

    def enqueue_tool_use(self, name: str, tool_input: dict[str, Any], text: str = "") -> AnthropicServer:
        return self.enqueue(Reply(text=text, tool_name=name, tool_input=tool_input))

    def enqueue_fault(self, status: int, *, retry_after: float | None = None, message: str | None = None,
                      error_type: str | None = None, times: int = 1) -> AnthropicServer:
        """``times`` error answers; ``retry_after`` in seconds (sent as ``retry-after``, and as
        ``retry-after-ms`` too when it is not a whole number, as the real API does for short waits)."""
        headers: dict[str, str] = {}
        if retry_after is not None:
            headers["retry-after"] = str(max(1, round(retry_after))) if retry_after >= 1 else "1"
            if retry_after != int(retry_after) or retry_after < 1:
                headers["retry-after-ms"] = str(int(retry_after * 1000))
        reply = Reply(status=status, error_type=error_type, message=message, headers=headers)
        return self.enqueue(*([reply] * times))

    def enqueue_spend_limit(self) -> AnthropicServer:
        """A 429 saying the account's credit is exhausted (waiting will not help)."""
        return self.enqueue(Reply(status=429, error_type="rate_limit_error", message=SPEND_LIMIT_MESSAGE))

    def enqueue_stream_cut(self, after_events: int = 4, text: str = "This answer will be cut " * 20) -> AnthropicServer:
        return self.enqueue(Reply(text=text, cut_after_events=after_events))

    def pending(self) -> int:
        return len(self._queue)

    @property
    def message_requests(self) -> list[LoggedRequest]:
        return [r for r in self.requests if r.path == "/v1/messages"]

    # -- lifecycle ---------------------------------------------------------------------------------

    thread_name = "anthropic-standin"

    @property
    def base_url(self) -> str:
        return self.address

    def handler(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class Handler(_Handler):
            api = server

        return Handler

    # -- answering ---------------------------------------------------------------------------------

    def _next_reply(self, body: dict[str, Any]) -> Reply:
        with self._lock:
            if self._queue:
                return self._queue.popleft()
        return self.scenario(body)


class _Handler(BaseHTTPRequestHandler):
    api: AnthropicServer
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:  # keep test output quiet
        pass

    def do_POST(self) -> None:  # noqa: N802 (http.server's naming)
        length = int(self.headers.get("content-length") or 0)
        raw = self.rfile.read(length) if length else b""
        try:
            body = json.loads(raw or b"{}")
        except json.JSONDecodeError:
            body = {}
        entry = LoggedRequest(self.path.split("?")[0], {k.lower(): v for k, v in self.headers.items()},
                              body, at=time.monotonic())
        with self.api._lock:
            self.api.requests.append(entry)
        error = self._check(entry)
        if error:
            entry.status = error[0]
            self._send_error(*error)
            return
        if entry.path == "/v1/messages/count_tokens":
            # counting never reads or writes the cache
            total = REQUEST_OVERHEAD + sum(b.tokens for b in _prompt_blocks(body))
            entry.status = 200
            entry.usage = {"input_tokens": total}
            self._send_json(200, {"input_tokens": total})
            return
        if entry.path != "/v1/messages":
            entry.status = 404
            self._send_error(404, "not_found_error", f"no route for {entry.path}")
            return
        reply = self.api._next_reply(body)
        if reply.delay_s:
            time.sleep(reply.delay_s)
        if reply.status != 200:
            entry.status = reply.status
            message = reply.message or _ERROR_MESSAGES.get(reply.status, "error")
            self._send_error(reply.status, reply.error_type or _ERROR_TYPES.get(reply.status, "api_error"),
                             message, reply.headers)
            return
        if reply.cut_after_events is not None and not body.get("stream"):
            entry.status = -1  # dropped
            self.close_connection = True
            self.connection.shutdown(2)
            return
        usage = self.api.cache.usage(body)
        message = _message(body, reply, usage)
        entry.usage = {**usage, "output_tokens": message["usage"]["output_tokens"]}
        entry.status = 200
        if body.get("stream"):
            self._send_stream(message, reply.cut_after_events)
        else:
            self._send_json(200, message)

    def _check(self, entry: LoggedRequest) -> tuple[int, str, str] | None:
        # the SDK sends the key as a bearer token; older clients and curl as x-api-key
        key = entry.headers.get("x-api-key") or entry.headers.get("authorization", "").removeprefix("Bearer ").strip()
        if not key or (self.api.api_key is not None and key != self.api.api_key):
            return 401, "authentication_error", "invalid x-api-key"
        if not entry.headers.get("anthropic-version"):
            return 400, "invalid_request_error", "anthropic-version: header is required"
        body = entry.body
        if not body.get("model"):
            return 400, "invalid_request_error", "model: Field required"
        if body["model"] not in self.api.models:
            return 404, "not_found_error", f"model: {body['model']}"
        if not body.get("messages"):
            return 400, "invalid_request_error", "messages: Field required"
        if entry.path == "/v1/messages" and not body.get("max_tokens"):
            return 400, "invalid_request_error", "max_tokens: Field required"
        choice = (body.get("tool_choice") or {}).get("type")
        if choice in ("any", "tool") and (body.get("thinking") or {}).get("type") in ("enabled", "adaptive"):
            return 400, "invalid_request_error", "Thinking may not be enabled when tool_choice forces tool use."
        names = {t.get("name") for t in body.get("tools") or []}
        if choice == "tool" and body["tool_choice"].get("name") not in names:
            return 400, "invalid_request_error", "tool_choice.name: tool not found in tools"
        return None

    def _send_json(self, status: int, data: dict[str, Any], headers: dict[str, str] | None = None) -> None:
        payload = json.dumps(data).encode()
        self.send_response(status)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(payload)))
        self.send_header("request-id", "req_" + uuid.uuid4().hex[:24])
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(payload)

    def _send_error(self, status: int, error_type: str, message: str, headers: dict[str, str] | None = None) -> None:
        self._send_json(status, {"type": "error", "error": {"type": error_type, "message": message},
                                 "request_id": "req_" + uuid.uuid4().hex[:24]}, headers)

    def _send_stream(self, message: dict[str, Any], cut_after: int | None) -> None:
        self.send_response(200)
        self.send_header("content-type", "text/event-stream")
        self.send_header("cache-control", "no-cache")
        self.send_header("transfer-encoding", "chunked")
        self.send_header("request-id", "req_" + uuid.uuid4().hex[:24])
        self.end_headers()
        for n, (name, data) in enumerate(_events(message, self.api.chunk_chars)):
            if cut_after is not None and n >= cut_after:
                self.wfile.flush()
                self.close_connection = True
                self.connection.shutdown(2)  # no closing chunk: the client sees a cut body
                return
            chunk = f"event: {name}\ndata: {json.dumps(data)}\n\n".encode()
            self.wfile.write(f"{len(chunk):x}\r\n".encode() + chunk + b"\r\n")
        self.wfile.write(b"0\r\n\r\n")
        self.wfile.flush()


def _message(body: dict[str, Any], reply: Reply, usage: dict[str, int]) -> dict[str, Any]:
    content: list[dict[str, Any]] = []
    out_text = reply.text
    stop_reason = "end_turn"
    if reply.tool_name is not None:
        stop_reason = "tool_use"
    output_tokens = count_tokens(out_text) + (count_tokens(json.dumps(reply.tool_input or {})) + 8
                                              if reply.tool_name is not None else 0)
    max_tokens = int(body.get("max_tokens") or 0)
    if max_tokens and output_tokens > max_tokens:
        stop_reason = "max_tokens"
        if reply.tool_name is None:  # cut the text where the tokens run out
            pieces = _TOKEN.finditer(out_text)
            end = 0
            for i, m in enumerate(pieces):
                if i >= max_tokens:
                    break
                end = m.end()
            out_text = out_text[:end]
        output_tokens = max_tokens
    if out_text:
        content.append({"type": "text", "text": out_text})
    if reply.tool_name is not None and stop_reason != "max_tokens":
        content.append({"type": "tool_use", "id": "toolu_" + uuid.uuid4().hex[:24], "name": reply.tool_name,
                        "input": reply.tool_input or {}})
    return {
        "id": "msg_" + uuid.uuid4().hex[:24], "type": "message", "role": "assistant", "model": body.get("model"),
        "content": content, "stop_reason": stop_reason, "stop_sequence": None,
        "usage": {**usage, "output_tokens": output_tokens, "service_tier": "standard",
                  "cache_creation": {"ephemeral_5m_input_tokens": usage["cache_creation_input_tokens"],
                                     "ephemeral_1h_input_tokens": 0}},
    }


def _events(message: dict[str, Any], chunk: int):
    """The SSE events of a message, in the order the real API sends them."""
    start = {**message, "content": [], "stop_reason": None,
             "usage": {**message["usage"], "output_tokens": 1}}
    yield "message_start", {"type": "message_start", "message": start}
    for index, block in enumerate(message["content"]):
        if block["type"] == "text":
            yield "content_block_start", {"type": "content_block_start", "index": index,
                                          "content_block": {"type": "text", "text": ""}}
            if index == 0:
                yield "ping", {"type": "ping"}
            text = block["text"]
            for i in range(0, len(text), chunk):
                yield "content_block_delta", {"type": "content_block_delta", "index": index,
                                              "delta": {"type": "text_delta", "text": text[i:i + chunk]}}
        else:
            yield "content_block_start", {"type": "content_block_start", "index": index,
                                          "content_block": {"type": "tool_use", "id": block["id"],
                                                            "name": block["name"], "input": {}}}
            raw = json.dumps(block["input"])
            for i in range(0, len(raw), chunk):
                yield "content_block_delta", {"type": "content_block_delta", "index": index,
                                              "delta": {"type": "input_json_delta", "partial_json": raw[i:i + chunk]}}
        yield "content_block_stop", {"type": "content_block_stop", "index": index}
    yield "message_delta", {"type": "message_delta",
                            "delta": {"stop_reason": message["stop_reason"], "stop_sequence": None},
                            "usage": {"output_tokens": message["usage"]["output_tokens"],
                                      "input_tokens": message["usage"]["input_tokens"],
                                      "cache_creation_input_tokens": message["usage"]["cache_creation_input_tokens"],
                                      "cache_read_input_tokens": message["usage"]["cache_read_input_tokens"]}}
    yield "message_stop", {"type": "message_stop"}
