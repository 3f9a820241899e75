"""A chat webhook on 127.0.0.1 for the budget-alert tests: it keeps what it is sent and answers as told.

    with WebhookReceiver() as hook:
        hook.url                      # http://127.0.0.1:PORT/services/T000/B000/<secret>
        hook.answer(500, times=2)     # the next two posts fail, then it answers 200 "ok" again
        hook.answer(429, retry_after="0.2")
        hook.delay_s = 2.0            # every answer waits (a webhook that hangs)
        hook.posts                    # the JSON bodies it accepted, in order
        hook.attempts                 # every request, accepted or not

Like Slack's incoming webhooks: a POST of JSON with a ``text`` is answered 200 ``ok``.
"""

from __future__ import annotations

import json
import secrets
import threading
import time
from collections import deque
from http.server import BaseHTTPRequestHandler
from typing import Any

from gitorch.simulate.loopback import LoggedRequest, LoopbackServer


class WebhookReceiver(LoopbackServer):
    thread_name = "webhook-stand-in"

    def __init__(self) -> None:
        super().__init__()
        self.token = "hooksecret" + secrets.token_hex(12)  # the part of the address that is a credential
        self.posts: list[dict[str, Any]] = []
        self.attempts: list[LoggedRequest] = []
        self.delay_s = 0.0
        self._answers: deque[tuple[int, dict[str, str]]] = deque()
        self._lock = threading.Lock()

    @property
    def url(self) -> str:
        return f"{self.address}/services/T000/B000/{self.token}"

    def answer(self, status: int, *, times: int = 1, retry_after: str | None = None,
               location: str | None = None) -> None:
        headers = {k: v for k, v in (("Retry-After", retry_after), ("Location", location)) if v is not None}
        with self._lock:
            self._answers.extend([(status, headers)] * times)

    def handler(self) -> type[BaseHTTPRequestHandler]:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                with receiver._lock:
                    status, headers = receiver._answers.popleft() if receiver._answers else (200, {})
                try:
                    data = json.loads(body)
                except ValueError:
                    data, status = {"raw": body.decode("utf-8", "replace")}, 400
                if not self.path.endswith(receiver.token):
                    status = 404
                receiver.attempts.append(LoggedRequest(self.path, {k.lower(): v for k, v in self.headers.items()},
                                                       data, status, time.monotonic()))
                if receiver.delay_s:
                    time.sleep(receiver.delay_s)
                if status == 200:
                    receiver.posts.append(data)
                answer = b"ok" if status == 200 else b"invalid_payload"
                try:
                    self.send_response(status)
                    for name, value in headers.items():
                        self.send_header(name, value)
                    self.send_header("Content-Type", "text/plain")
                    self.send_header("Content-Length", str(len(answer)))
                    self.end_headers()
                    self.wfile.write(answer)
                except (BrokenPipeError, ConnectionResetError):  # the client gave up waiting
                    pass

        return Handler
