"""A local stand-in for the OpenAI Responses API, as the Codex CLI uses it, for tests and the demo.

The real ``codex`` binary talks to it over HTTP on 127.0.0.1 (``-c model_providers.<id>.base_url=...``,
``wire_api="responses"``, a dummy key): what is exercised is the binary's own request, SSE parsing,
tool execution in its sandbox and ``--json`` events, not a mock of ours. It speaks:

- ``POST /v1/responses`` with ``stream: true``: Server-Sent Events ``response.created``,
  ``response.output_item.added`` / ``response.output_text.delta`` / ``response.output_item.done`` for
  each output item, then ``response.completed`` with ``usage`` (``input_tokens``,
  ``input_tokens_details.cached_tokens``, ``output_tokens``). Without it (``stream: false`` or absent,
  the API's default) one response object, as the API answers.
- Every request is checked as the API checks it (``responses_request``: known fields of the right
  types, ``model`` and ``input`` present, a model it serves, ``models``); one that fails gets the API's
  error body ``{"error": {"message", "type", "param", "code"}}`` with its status, never a dropped
  connection. What Codex 0.169 really sends is kept in ``tests/fixtures/codex/``.
- Output items are what Codex acts on: a ``function_call`` of ``exec_command`` (a shell command run in
  its sandbox; ``apply_patch <<'EOF' ... EOF`` through it is recognised by Codex and applied as a
  ``file_change``), a ``function_call`` of an MCP tool (``namespace: "mcp__<server>"``, ``name``: the
  tool; Codex lists a server's tools only when it waited for the server, ``required = true``), and a
  final assistant ``message``.

Codex sends the whole conversation with every request (``store: false``), so a scenario is a function
of the request: ``Turn.step`` is how many tool calls the model already made in this conversation.
Answers come from a queue (``enqueue``, ``enqueue_fault``), one per request, and when it is empty from
the ``scenario``. Faults: 429 with ``retry-after``, 500, the ChatGPT plan's usage limit (a 429 whose
error type is ``usage_limit_reached`` with ``resets_at``) and 401. Usage is counted from the request's
text with the Anthropic stand-in's tokenizer; the part of a request that repeats the conversation's
previous request counts as cached, as the real prompt cache does.
"""

from __future__ import annotations

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

from ..agents.codex import KEY_ENV, PROVIDER_ID, STAND_IN_KEY, provider_args
from . import loopback, responses_request
from .anthropic_api import count_tokens
from .loopback import LoopbackServer
from .responses_request import NOT_JSON, Refusal

# A model id with plain function tools. (Codex gives its newest default model a JavaScript "code
# mode" tool instead; the stand-in speaks the plain tools, so tests and the demo name this one.)
MODEL = "gpt-5-codex"
DUMMY_KEY = STAND_IN_KEY  # the key gitorch gives Codex for a codex.base_url without CODEX_API_KEY


# -- what the model does --------------------------------------------------------------------------


@dataclass
class Shell:
    """Run a shell command through Codex's ``exec_command`` tool."""

    cmd: str


@dataclass
class Patch:
    """Change files with Codex's patch format (``*** Begin Patch`` ... ``*** End Patch``)."""

    text: str


@dataclass
class McpCall:
    """Call a tool of an MCP server Codex was given."""

    server: str
    tool: str
    arguments: dict[str, Any] = field(default_factory=dict)


@dataclass
class Say:
    """The final assistant message: the turn ends."""

    text: str


Step = Shell | Patch | McpCall | Say


@dataclass
class Fault:
    """An error response instead of an answer."""

    status: int
    error_type: str
    message: str
    headers: dict[str, str] = field(default_factory=dict)
    extra: dict[str, Any] = field(default_factory=dict)


def write_file(path: str, content: str) -> Patch:
    """A patch that writes ``path`` whole (Codex's ``Add File`` replaces a file that exists)."""
    lines = content.splitlines()
    body = "".join(f"+{line}\n" for line in lines)
    return Patch(f"*** Begin Patch\n*** Add File: {path}\n{body}*** End Patch\n")


def delete_file(path: str) -> Patch:
    return Patch(f"*** Begin Patch\n*** Delete File: {path}\n*** End Patch\n")


def rate_limit(retry_after_s: float = 1.0) -> Fault:
    return Fault(429, "rate_limit_exceeded",
                 f"Rate limit reached for requests. Please try again in {retry_after_s:g}s.",
                 headers={"retry-after": f"{retry_after_s:g}"})


def server_error() -> Fault:
    return Fault(500, "server_error", "The server had an error while processing your request.")


def usage_limit(resets_in_s: int = 3600, plan: str = "plus") -> Fault:
    return Fault(429, "usage_limit_reached", "The usage limit has been reached",
                 extra={"plan_type": plan, "resets_at": int(time.time()) + resets_in_s,
                        "resets_in_seconds": resets_in_s})


def unauthorized() -> Fault:
    return Fault(401, "invalid_request_error", "Incorrect API key provided", extra={"code": "invalid_api_key"})


# -- one request as a scenario sees it ---------------------------------------------------------------


@dataclass
class Turn:
    body: dict[str, Any]

    @property
    def items(self) -> list[dict[str, Any]]:
        given = self.body.get("input", [])
        if isinstance(given, str):  # a bare string is one user message
            return [{"type": "message", "role": "user", "content": given}]
        return [i for i in given if isinstance(i, dict)]

    @property
    def prompt(self) -> str:
        """The person's (gitorch's) prompt: the last user message that is not Codex's own context."""
        texts = [_text(i) for i in self.items if i.get("type") == "message" and i.get("role") == "user"]
        texts = [t for t in texts if not t.lstrip().startswith("<")]
        return texts[-1] if texts else ""

    @property
    def step(self) -> int:
        """Tool calls the model already made in this conversation."""
        return sum(1 for i in self.items if i.get("type") in ("function_call", "custom_tool_call"))

    @property
    def outputs(self) -> list[str]:
        """What those tool calls returned, in order."""
        found = []
        for item in self.items:
            if item.get("type") in ("function_call_output", "custom_tool_call_output"):
                out = item.get("output")
                found.append(out if isinstance(out, str) else json.dumps(out))
        return found

    @property
    def tools(self) -> list[str]:
        """Names of the function tools offered (MCP tools as ``mcp__<server>__<tool>``)."""
        names: list[str] = []

        def walk(tools: list[dict[str, Any]], prefix: str = "") -> None:
            for tool in tools:
                if tool.get("type") == "namespace":
                    walk(tool.get("tools", []), f"{tool.get('name', '')}")
                elif tool.get("name"):
                    names.append(f"{prefix}__{tool['name']}" if prefix.startswith("mcp__") else tool["name"])

        walk(self.body.get("tools", []))
        return names


def _text(item: dict[str, Any]) -> str:
    content = item.get("content")
    if isinstance(content, str):
        return content
    return "".join(part.get("text", "") for part in content or [] if isinstance(part, dict))


Scenario = Callable[[Turn], "Step | Fault | list[Step]"]


class Script:
    """A fixed sequence of steps per conversation: step N answers the N-th request of a task."""

    def __init__(self, *steps: Step):
        self.steps = list(steps)

    def __call__(self, turn: Turn) -> Step:
        return self.steps[min(turn.step, len(self.steps) - 1)]


class DemoScenario:
    """Answers the demo's tasks (``simulate/demo_scenario.py``) as Codex would: read the plan through
    the gitorch MCP server when it was given one, write the task's file, run the repository's tests,
    then say what it did. A task that asks to finish or fix a file gets the fixed version."""

    def __init__(self, answers: dict[str, str] | None = None, fixes: dict[str, str] | None = None,
                 run_tests: bool = False):
        from . import demo_scenario

        self.answers = demo_scenario.ANSWERS if answers is None else answers
        self.fixes = demo_scenario.FIXES if fixes is None else fixes
        self.run_tests = run_tests

    def steps(self, turn: Turn) -> list[Step]:
        task = turn.prompt.split("## Task", 1)[-1].split("\n## ", 1)[0]
        fixing = bool(re.search(r"\b(Finish|Fix)\b", task))
        run_id = re.search(r"run id[: `]+([A-Za-z0-9_.-]+)", turn.prompt)
        steps: list[Step] = []
        mcp_tools = [t for t in turn.tools if t.startswith("mcp__gitorch__")]
        if run_id and "mcp__gitorch__get_plan" in mcp_tools:
            steps.append(McpCall("gitorch", "get_plan", {"run_id": run_id.group(1)}))
        for path in sorted(self.answers, key=len, reverse=True):
            if path in task:
                content = self.fixes[path] if fixing and path in self.fixes else self.answers[path]
                steps.append(write_file(path, content))
                if self.run_tests:
                    steps.append(Shell("python -m pytest -q -p no:cacheprovider"))
                steps.append(Say(f"Wrote `{path}`."))
                return steps
        return [Say("I could not tell which file this task is about.")]

    def __call__(self, turn: Turn) -> Step:
        steps = self.steps(turn)
        return steps[min(turn.step, len(steps) - 1)]


# -- the server -----------------------------------------------------------------------------------


@dataclass
class LoggedRequest(loopback.LoggedRequest):
    error: dict[str, Any] | None = None  # the error object answered, if the request was refused

    @property
    def turn(self) -> Turn:
        return Turn(self.body)


class ResponsesServer(LoopbackServer):
    """``with ResponsesServer() as api:`` then point Codex at ``api.base_url`` (see ``codex_args``).

    ``latency_s`` is waited before each answer starts (the scripted model's thinking time, which
    benchmarks subtract); ``chunk_chars`` splits a final message into text deltas; ``models`` are the
    model ids it serves (any other is ``model_not_found``).
    """

    def __init__(self, scenario: Scenario | None = None, *, latency_s: float = 0.0, chunk_chars: int = 200,
                 api_key: str | None = None, models: tuple[str, ...] = (MODEL,)):
        super().__init__()
        self.scenario = scenario or DemoScenario()
        self.models = models
        self.latency_s = latency_s
        self.chunk_chars = chunk_chars
        self.api_key = api_key
        self.requests: list[LoggedRequest] = []
        self._queue: deque[Step | Fault] = deque()
        self._lock = threading.Lock()
        self._last_tokens: dict[str, int] = {}  # conversation -> input tokens of its previous request

    # -- scripting -------------------------------------------------------------------------------
    def enqueue(self, *answers: Step | Fault) -> ResponsesServer:
        """Answers for the next requests, in order, before the scenario is asked."""
        with self._lock:
            self._queue.extend(answers)
        return self

    def enqueue_fault(self, fault: Fault, times: int = 1) -> ResponsesServer:
        return self.enqueue(*([fault] * times))

    @property
    def pending(self) -> int:
        with self._lock:
            return len(self._queue)

    def _next(self, turn: Turn) -> Step | Fault:
        with self._lock:
            if self._queue:
                return self._queue.popleft()
        answer = self.scenario(turn)
        if isinstance(answer, list):
            answer = answer[min(turn.step, len(answer) - 1)]
        return answer

    # -- lifecycle -------------------------------------------------------------------------------
    @property
    def base_url(self) -> str:
        return f"{self.address}/v1"

    def codex_args(self, provider: str = PROVIDER_ID, key_env: str = KEY_ENV) -> list[str]:
        """The ``-c`` options that point the Codex CLI at this server."""
        return provider_args(self.base_url, provider=provider, key_env=key_env)

    def env(self) -> dict[str, str]:
        """The environment that points gitorch's Codex builder at this server (no key needed)."""
        return {"CODEX_BASE_URL": self.base_url, "CODEX_MODEL": MODEL}

    thread_name = "responses-stand-in"

    def handler(self) -> type[BaseHTTPRequestHandler]:
        owner = self

        class Handler(_Handler):
            server_owner = owner

        return Handler

    def usage(self, body: dict[str, Any], output_text: str) -> dict[str, Any]:
        tokens = count_tokens(json.dumps(body.get("input", []))) + count_tokens(json.dumps(body.get("tools", [])))
        conversation = str(body.get("prompt_cache_key") or "")
        with self._lock:
            cached = min(self._last_tokens.get(conversation, 0), tokens)
            self._last_tokens[conversation] = tokens
        out = count_tokens(output_text)
        return {"input_tokens": tokens, "input_tokens_details": {"cached_tokens": cached},
                "output_tokens": out, "output_tokens_details": {"reasoning_tokens": 0},
                "total_tokens": tokens + out}


class _Handler(BaseHTTPRequestHandler):
    server_owner: ResponsesServer
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:  # keep test output quiet
        pass

    def do_GET(self) -> None:  # noqa: N802 (http.server's naming)
        if self.path.rstrip("/").endswith("/models"):
            self._send_json(200, {"object": "list", "data": [{"id": m, "object": "model", "created": 0,
                                                              "owned_by": "system"} for m in self.server_owner.models]})
        else:
            self._send_refusal(_no_route("GET", self.path))

    def do_POST(self) -> None:  # noqa: N802
        owner = self.server_owner
        length = int(self.headers.get("content-length") or 0)
        raw = self.rfile.read(length) if length else b""
        if (self.headers.get("content-encoding") or "").lower() == "zstd":
            raw = _unzstd(raw)
        try:
            body: Any = json.loads(raw)
        except ValueError as exc:
            body, refusal = None, Refusal(f"{NOT_JSON} (The body failed to parse at: {exc}.)")
        else:
            refusal = None
        entry = LoggedRequest(self.path, {k.lower(): v for k, v in self.headers.items()},
                              body if isinstance(body, dict) else {}, at=time.monotonic())
        with owner._lock:
            owner.requests.append(entry)
        if not self.path.rstrip("/").endswith("/responses"):
            refusal = _no_route("POST", self.path)
        elif owner.api_key is not None and self.headers.get("authorization", "") != f"Bearer {owner.api_key}":
            entry.status, entry.error = 401, _error(unauthorized())
            self._send_error(unauthorized())
            return
        if refusal is None:
            try:
                responses_request.check(body, owner.models)
            except Refusal as exc:
                refusal = exc
        if refusal is not None:
            entry.status, entry.error = refusal.status, refusal.error()
            self._send_refusal(refusal)
            return
        answer = owner._next(entry.turn)
        if owner.latency_s:
            time.sleep(owner.latency_s)
        if isinstance(answer, Fault):
            entry.status, entry.error = answer.status, _error(answer)
            self._send_error(answer)
            return
        entry.status = 200
        if body.get("stream"):
            self._send_stream(body, answer)
        else:  # the API's default: one response object
            item, text = _item(answer)
            self._send_json(200, _response(body, f"resp_{uuid.uuid4().hex}", "completed", [item],
                                           owner.usage(body, text)))

    def _send_json(self, status: int, data: dict[str, Any], headers: dict[str, str] | None = None) -> None:
        payload = json.dumps(data).encode()
        self.send_response(status)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(payload)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(payload)

    def _send_error(self, fault: Fault) -> None:
        self._send_json(fault.status, {"error": _error(fault)}, fault.headers)

    def _send_refusal(self, refusal: Refusal) -> None:
        self._send_json(refusal.status, {"error": refusal.error()})

    def _send_stream(self, body: dict[str, Any], step: Step) -> None:
        owner = self.server_owner
        response_id = f"resp_{uuid.uuid4().hex}"
        item, text = _item(step)
        events: list[dict[str, Any]] = [
            {"type": "response.created", "response": _response(body, response_id, "in_progress", [], None)},
            {"type": "response.output_item.added", "output_index": 0, "item": _pending(item)},
        ]
        if item["type"] == "message":
            for start in range(0, len(text), max(owner.chunk_chars, 1)):
                events.append({"type": "response.output_text.delta", "output_index": 0, "content_index": 0,
                               "item_id": item["id"], "delta": text[start:start + owner.chunk_chars]})
        events.append({"type": "response.output_item.done", "output_index": 0, "item": item})
        events.append({"type": "response.completed",
                       "response": _response(body, response_id, "completed", [item], owner.usage(body, text))})
        self.send_response(200)
        self.send_header("content-type", "text/event-stream")
        self.send_header("cache-control", "no-cache")
        self.send_header("transfer-encoding", "chunked")
        self.end_headers()
        for number, event in enumerate(events):
            event["sequence_number"] = number
            data = f"event: {event['type']}\ndata: {json.dumps(event)}\n\n".encode()
            self.wfile.write(f"{len(data):x}\r\n".encode() + data + b"\r\n")
            self.wfile.flush()
        self.wfile.write(b"0\r\n\r\n")
        self.wfile.flush()


def _error(fault: Fault) -> dict[str, Any]:
    """The API's error object: message, type, param and code always, then what the fault adds."""
    return {"message": fault.message, "type": fault.error_type, "param": None, "code": None, **fault.extra}


def _no_route(method: str, path: str) -> Refusal:
    return Refusal(f"Invalid URL ({method} {path.split('?', 1)[0]})", status=404)


def _response(body: dict[str, Any], response_id: str, status: str, output: list[dict[str, Any]],
              usage: dict[str, Any] | None) -> dict[str, Any]:
    """A response object as the API returns it (and as ``response.*`` events carry it)."""
    now = int(time.time())
    return {"id": response_id, "object": "response", "created_at": now, "status": status,
            "completed_at": now if status == "completed" else None, "error": None, "incomplete_details": None,
            "instructions": body.get("instructions"), "max_output_tokens": body.get("max_output_tokens"),
            "model": body["model"], "output": output, "parallel_tool_calls": body.get("parallel_tool_calls", True),
            "previous_response_id": None, "prompt_cache_key": body.get("prompt_cache_key"),
            "reasoning": {"effort": None, "summary": None, **(body.get("reasoning") or {})},
            "store": body.get("store", True), "temperature": body.get("temperature", 1.0),
            "text": body.get("text") or {"format": {"type": "text"}}, "tool_choice": body.get("tool_choice", "auto"),
            "tools": body.get("tools", []), "top_p": body.get("top_p", 1.0),
            "truncation": body.get("truncation") or "disabled", "usage": usage, "user": body.get("user"),
            "metadata": body.get("metadata") or {}}


def _item(step: Step) -> tuple[dict[str, Any], str]:
    """The output item for ``step`` and the text it counts as output."""
    call_id = f"call_{uuid.uuid4().hex[:12]}"
    if isinstance(step, Say):
        return ({"type": "message", "id": f"msg_{uuid.uuid4().hex[:12]}", "role": "assistant", "status": "completed",
                 "content": [{"type": "output_text", "text": step.text, "annotations": []}]}, step.text)
    if isinstance(step, Shell):
        name, args = "exec_command", {"cmd": step.cmd}
    elif isinstance(step, Patch):
        patch = step.text if step.text.endswith("\n") else step.text + "\n"
        name, args = "exec_command", {"cmd": f"apply_patch <<'PATCH'\n{patch}PATCH\n"}
    elif isinstance(step, McpCall):  # Codex offers an MCP server's tools in a namespace mcp__<server>
        arguments = json.dumps(step.arguments)
        return ({"type": "function_call", "id": f"fc_{uuid.uuid4().hex[:12]}", "call_id": call_id,
                 "namespace": f"mcp__{step.server}", "name": step.tool, "arguments": arguments,
                 "status": "completed"}, arguments)
    else:
        raise TypeError(f"not a step: {step!r}")
    arguments = json.dumps(args)
    return ({"type": "function_call", "id": f"fc_{uuid.uuid4().hex[:12]}", "call_id": call_id, "name": name,
             "arguments": arguments, "status": "completed"}, arguments)


def _pending(item: dict[str, Any]) -> dict[str, Any]:
    pending = dict(item, status="in_progress")
    if item["type"] == "message":
        pending["content"] = []
    return pending


def _unzstd(raw: bytes) -> bytes:
    try:
        import zstandard
    except ImportError:  # pragma: no cover - codex compresses only for OpenAI's own endpoint
        return raw
    return zstandard.ZstdDecompressor().decompressobj().decompress(raw)
