"""A local page that behaves like the ChatGPT web app, for the browser builder's tests and the demo.

It serves the same selectors the real page has (a ProseMirror-like contenteditable composer
``#prompt-textarea``, ``[data-testid="send-button"]``, ``[data-testid="stop-button"]`` while an answer
streams, assistant turns ``[data-message-author-role="assistant"]``, a new-chat link) and streams each
answer in chunks over server-sent events. The Markdown is rendered to HTML on the server with
markdown-it-py, code blocks in ChatGPT's own shape (a language header and a "Copy code" button inside
``<pre>``, highlighted ``code.language-xxx``), so that an agent reading ``innerText`` gets it wrong.

Answers are scripted: ``enqueue()`` them in order, or ``respond(fn)`` to answer from the prompt (for
several pages at once); with neither, ``demo_answer`` writes a plausible one from the prompt (for
``gitorch demo``). Every prompt received is kept in ``prompts``. Faults, per answer or for the
whole page:

- page ``mode``: ``"normal"``, ``"login"`` (session expired: redirected to a login wall),
  ``"challenge"`` (a verification page), ``"changed_layout"`` (the app redesigned: no selector matches);
- per answer ``fault``: ``"usage_cap"``, ``"rate_limit"`` (HTTP 429 and a banner), ``"network_error"``
  (the stream breaks off), ``"never_ending"`` (streams until stopped); slow answers through
  ``first_token_delay_s`` / ``chunk_delay_s``.

Binds 127.0.0.1 on an ephemeral port; use it as a context manager. Loads nothing from the internet.
"""

from __future__ import annotations

import collections
import html
import json
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from http.cookies import SimpleCookie
from http.server import BaseHTTPRequestHandler
from importlib import resources
from typing import Any
from urllib.parse import urlsplit

from markdown_it import MarkdownIt

from .loopback import LoopbackServer

PAGE_MODES = ("normal", "login", "challenge", "changed_layout")
FAULTS = (None, "usage_cap", "rate_limit", "network_error", "never_ending")
SESSION_COOKIE = "next-auth.session-token"  # the real one has the __Secure- prefix (https only)

USAGE_CAP_TEXT = ("You've reached the current usage cap for GPT-5 Pro. You can continue with another model, "
                  "or try again after {reset}.")
RATE_LIMIT_TEXT = "Too many requests. You're sending messages too quickly. Please try again in {seconds} seconds."


@dataclass
class Answer:
    """One scripted answer: Markdown text, how fast it streams, and an optional fault."""

    text: str = ""
    fault: str | None = None
    first_token_delay_s: float | None = None
    chunk_delay_s: float | None = None
    chunk_chars: int | None = None
    retry_after_s: int = 20  # shown in the rate-limit banner
    reset: str = "4:12 PM"  # shown in the usage-cap notice

    def __post_init__(self) -> None:
        if self.fault not in FAULTS:
            raise ValueError(f"unknown fault {self.fault!r}; choose one of {FAULTS[1:]}")


_md = MarkdownIt("commonmark").enable("table").enable("strikethrough")
_KEYWORDS = re.compile(r"\b(def|return|import|from|class|if|else|for|while|const|let|function|async|await)\b")


def _code_block(code: str, lang: str) -> str:
    """A fenced block the way ChatGPT draws it: header with the language, a copy button, highlighted code."""
    body = _KEYWORDS.sub(r'<span class="hljs-keyword">\1</span>', html.escape(code, quote=False))
    cls = f' language-{html.escape(lang)}' if lang else ""
    return (
        '<pre class="overflow-visible!"><div class="contain-inline-size rounded-2xl relative">'
        f'<div class="flex items-center px-4 py-2 text-xs font-sans justify-between h-9">{html.escape(lang or "plaintext")}</div>'
        '<div class="sticky top-9"><div class="absolute end-0 bottom-0 flex h-9 items-center pe-2">'
        '<button class="flex gap-1 items-center select-none py-1" aria-label="Copy">Copy code</button></div></div>'
        f'<div class="overflow-y-auto p-4" dir="ltr"><code class="whitespace-pre!{cls}">{body}</code></div>'
        "</div></pre>"
    )


def _fence(renderer, tokens, idx, options, env) -> str:
    token = tokens[idx]
    lang = token.info.strip().split()[0] if token.info.strip() else ""
    return _code_block(token.content, lang)


_md.add_render_rule("fence", _fence)
_md.add_render_rule("code_block", lambda renderer, tokens, idx, options, env: _code_block(tokens[idx].content, ""))


# The headings of the browser builder's prompt (gitorch.agents.browser.build_prompt).
_HEADINGS = ("Task", "The plan this task belongs to", "Files this task creates or changes", "Repository map",
             "Current content of the files", "Read this first")


def _section(prompt: str, title: str) -> str:
    others = "|".join(re.escape(h) for h in _HEADINGS if h != title)
    match = re.search(rf"^## {re.escape(title)}\b[^\n]*\n(.*?)(?=^## (?:{others})\b|\Z)", prompt, re.M | re.S)
    return match.group(1).strip("\n") if match else ""


def _current_files(section: str) -> dict[str, str]:
    """The files as edits.format_files shows them: a path line, then a fenced block."""
    files = {}
    for match in re.finditer(r"^(\S[^\n]*)\n(`{3,})[^\n]*\n(.*?)^\2[ \t]*$", section, re.M | re.S):
        files[match.group(1).strip().strip('`*')] = match.group(3)
    return files


def demo_answer(prompt: str) -> str:
    """A plausible builder answer for ``gitorch demo``: every file the task names, written in full.

    New files get a small module; files shown in the prompt keep their content with a function (or a
    line) added for the task. Answers in the edit protocol of gitorch.edits (path line, fenced block).
    """
    task = _section(prompt, "Task")
    summary = " ".join(task.split())[:120] or "the task"
    words = [w.lower() for w in re.findall(r"[A-Za-z]{3,}", task)][:3] or ["feature"]
    paths = re.findall(r"^- `([^`]+)`", _section(prompt, "Files this task creates or changes"), re.M)
    current = _current_files(_section(prompt, "Current content of the files"))
    paths = paths or list(current) or [f"src/{'_'.join(words)}.py"]
    blocks = []
    for path in paths:
        before = current.get(path, "")
        if path.endswith(".py"):
            name = "_".join(words)
            addition = f'def {name}():\n    """{summary}"""\n    return "{name}"\n'
            body = (before.rstrip("\n") + "\n\n\n" + addition) if before.strip() else f'"""{summary}"""\n\n\n{addition}'
            lang = "python"
        elif path.endswith(".md"):
            body = (before.rstrip("\n") + f"\n\n- {summary}\n") if before.strip() else f"# {summary}\n"
            lang = "markdown"
        else:
            body = (before.rstrip("\n") + f"\n# {summary}\n") if before.strip() else f"# {summary}\n"
            lang = ""
        fence = "````" if "```" in body else "```"
        blocks.append(f"{path}\n{fence}{lang}\n{body}{fence}")
    return "Here are the changes.\n\n" + "\n\n".join(blocks) + "\n"


def render_markdown(text: str) -> str:
    """Markdown to the HTML the page shows (also for a half-streamed answer with an open fence)."""
    return _md.render(text)


class ChatGPTPage(LoopbackServer):
    """The local stand-in. ``with ChatGPTPage() as page: config.browser.url = page.url``."""

    def __init__(self, *, mode: str = "normal", first_token_delay_s: float = 0.05, chunk_delay_s: float = 0.01,
                 chunk_chars: int = 60, default_answer: str | None = None, auto_login_after_s: float | None = None):
        super().__init__()
        self.mode = mode
        self.first_token_delay_s = first_token_delay_s
        self.chunk_delay_s = chunk_delay_s
        self.chunk_chars = chunk_chars
        self.default_answer = default_answer
        self.auto_login_after_s = auto_login_after_s  # the login page logs "the person" in by itself
        self.prompts: list[str] = []
        self._queue: collections.deque[Answer] = collections.deque()
        self._responder: Callable[[str], str | Answer] | None = None
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._sessions: set[str] = set()
        self.streams = 0  # answers streaming right now
        self.peak_streams = 0  # the most answers that streamed at once
        self._template = resources.files(__package__).joinpath("chatgpt_page.html").read_text(encoding="utf-8")

    # -- scripting -----------------------------------------------------------------------------------
    @property
    def mode(self) -> str:
        return self._mode

    @mode.setter
    def mode(self, value: str) -> None:
        if value not in PAGE_MODES:
            raise ValueError(f"unknown page mode {value!r}; choose one of {PAGE_MODES}")
        self._mode = value

    def enqueue(self, text: str = "", **options: Any) -> Answer:
        """Script the next answer (served in order, one per prompt)."""
        answer = Answer(text, **options)
        with self._lock:
            self._queue.append(answer)
        return answer

    def respond(self, fn: Callable[[str], str | Answer] | None) -> None:
        """Answer every prompt the queue does not cover with ``fn(prompt)``."""
        self._responder = fn

    def _next_answer(self, prompt: str) -> Answer:
        with self._lock:
            self.prompts.append(prompt)
            if self._queue:
                return self._queue.popleft()
        if self._responder is not None:
            got = self._responder(prompt)
            return got if isinstance(got, Answer) else Answer(got)
        if self.default_answer is not None:
            return Answer(self.default_answer)
        return Answer(demo_answer(prompt))

    # -- lifecycle -----------------------------------------------------------------------------------
    thread_name = "chatgpt-page"

    @property
    def url(self) -> str:
        return self.address + "/"

    def handler(self) -> type[BaseHTTPRequestHandler]:
        page = self

        class Handler(_Handler):
            stand_in = page

        return Handler

    def start(self) -> ChatGPTPage:
        self._stopping.clear()
        return super().start()

    def stop(self) -> None:
        self._stopping.set()  # answers streaming now end, so the server can shut down
        super().stop()

    # -- pages ---------------------------------------------------------------------------------------
    def reset(self) -> None:
        """Back to a normal page with no scripted answers (between tests sharing one server)."""
        with self._lock:
            self._queue.clear()
            self.prompts.clear()
            self.peak_streams = 0
        self._responder = None
        self.mode = "normal"

    def app_html(self) -> str:
        return self._template.replace("__LAYOUT__", "changed" if self.mode == "changed_layout" else "normal")

    def _chunks(self, answer: Answer):
        size = answer.chunk_chars or self.chunk_chars
        text = answer.text
        for start in range(0, len(text), size):
            yield text[: start + size]


_LOGIN_PAGE = """<!doctype html><html><head><meta charset="utf-8"><title>Log in - ChatGPT</title></head>
<body><main><h1>Welcome back</h1><p>Your session has expired. Log in to continue.</p>
<form method="post" action="/auth/login" id="login-form">
<button type="submit" data-testid="login-button">Log in</button>
<button type="button" data-testid="signup-button">Sign up for free</button></form>
<script>const after = __AUTO__; if (after !== null) setTimeout(() => document.getElementById('login-form').submit(), after * 1000);</script>
</main></body></html>"""

_CHALLENGE_PAGE = """<!doctype html><html><head><meta charset="utf-8"><title>Just a moment...</title></head>
<body><div class="main-wrapper"><h1>chatgpt.com</h1><h2>Verify you are human by completing the action below.</h2>
<form id="challenge-form" method="post"><div id="cf-challenge-running"><label><input type="checkbox"> Verify you are human</label></div></form>
<p>chatgpt.com needs to review the security of your connection before proceeding.</p></div></body></html>"""


class _Handler(BaseHTTPRequestHandler):
    stand_in: ChatGPTPage
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:  # quiet
        pass

    def _send(self, status: int, body: str, content_type: str = "text/html; charset=utf-8",
              headers: dict[str, str] | None = None) -> None:
        data = body.encode("utf-8")
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        self.send_header("Cache-Control", "no-store")
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        self.end_headers()
        self.wfile.write(data)

    def _logged_in(self) -> bool:
        cookie = SimpleCookie(self.headers.get("Cookie", ""))
        morsel = cookie.get(SESSION_COOKIE)
        return morsel is not None and morsel.value in self.stand_in._sessions

    def do_GET(self) -> None:
        page = self.stand_in
        path = urlsplit(self.path).path
        if path == "/auth/login":
            auto = "null" if page.auto_login_after_s is None else repr(float(page.auto_login_after_s))
            self._send(200, _LOGIN_PAGE.replace("__AUTO__", auto))
        elif path == "/" or path.startswith("/c/"):
            if page.mode == "login" and not self._logged_in():
                self._send(302, "", headers={"Location": "/auth/login"})
            elif page.mode == "challenge":
                self._send(403, _CHALLENGE_PAGE)
            else:
                self._send(200, page.app_html())
        elif path == "/favicon.ico":
            self._send(204, "")
        else:
            self._send(404, "not found", "text/plain")

    def do_POST(self) -> None:
        page = self.stand_in
        path = urlsplit(self.path).path
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        if path == "/auth/login":
            token = f"session-{len(page._sessions) + 1}-{time.monotonic_ns()}"
            page._sessions.add(token)
            cookie = f"{SESSION_COOKIE}={token}; Path=/; Max-Age=2592000; HttpOnly; SameSite=Lax"
            self._send(303, "", headers={"Location": "/", "Set-Cookie": cookie})
            return
        if path != "/backend-api/conversation":
            self._send(404, "not found", "text/plain")
            return
        if page.mode == "login" and not self._logged_in():
            self._send(401, json.dumps({"detail": "Your session has expired. Please log in again."}),
                       "application/json")
            return
        try:
            prompt = json.loads(raw or b"{}")["prompt"]
        except (ValueError, KeyError):
            self._send(400, json.dumps({"detail": "expected JSON {\"prompt\": ...}"}), "application/json")
            return
        answer = page._next_answer(prompt)
        if answer.fault == "rate_limit":
            detail = RATE_LIMIT_TEXT.format(seconds=answer.retry_after_s)
            self._send(429, json.dumps({"detail": detail}), "application/json",
                       headers={"Retry-After": str(answer.retry_after_s)})
            return
        self._stream(answer)

    def _event(self, data: dict[str, Any] | str) -> None:
        payload = data if isinstance(data, str) else json.dumps(data)
        chunk = f"data: {payload}\n\n".encode()
        self.wfile.write(f"{len(chunk):x}\r\n".encode() + chunk + b"\r\n")
        self.wfile.flush()

    def _stream(self, answer: Answer) -> None:
        page = self.stand_in
        with page._lock:
            page.streams += 1
            page.peak_streams = max(page.peak_streams, page.streams)
        try:
            self._stream_answer(answer)
        finally:
            with page._lock:
                page.streams -= 1

    def _stream_answer(self, answer: Answer) -> None:
        page = self.stand_in
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Cache-Control", "no-store")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        first = page.first_token_delay_s if answer.first_token_delay_s is None else answer.first_token_delay_s
        delay = page.chunk_delay_s if answer.chunk_delay_s is None else answer.chunk_delay_s
        try:
            if page._stopping.wait(first):
                return
            if answer.fault == "usage_cap":
                self._event({"error": "usage_cap", "message": USAGE_CAP_TEXT.format(reset=answer.reset)})
            elif answer.fault == "never_ending":
                text = answer.text or "Let me think about this step by step.\n\n"
                shown = ""
                while not page._stopping.wait(delay or 0.05):
                    shown += text[: page.chunk_chars] if len(shown) < 20000 else ""
                    self._event({"html": render_markdown(shown)})
            else:
                shown = ""
                for n, shown in enumerate(page._chunks(answer)):
                    if answer.fault == "network_error" and n >= 2:
                        self.close_connection = True
                        self.connection.shutdown(2)  # the stream breaks off mid-answer
                        return
                    self._event({"html": render_markdown(shown)})
                    if page._stopping.wait(delay):
                        return
                if answer.fault == "network_error":  # answers too short to break mid-way
                    self.close_connection = True
                    self.connection.shutdown(2)
                    return
                self._event({"html": render_markdown(answer.text), "done": True})
            self._event("[DONE]")
            self.wfile.write(b"0\r\n\r\n")
            self.wfile.flush()
        except (BrokenPipeError, ConnectionResetError, OSError):  # the page stopped the answer or went away
            self.close_connection = True
