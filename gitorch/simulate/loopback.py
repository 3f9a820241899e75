"""The one way a local stand-in serves HTTP: on 127.0.0.1, an ephemeral port, a daemon thread."""

from __future__ import annotations

import threading
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass
class LoggedRequest:
    """What reached a stand-in: path, headers (lower-case names), JSON body, status answered."""

    path: str
    headers: dict[str, str]
    body: dict[str, Any]
    status: int = 0
    at: float = 0.0
    usage: dict[str, int] | None = None


class LoopbackServer:
    """Serves ``handler()`` on 127.0.0.1 in a background thread; use it as a context manager.

    Subclasses return a request handler class bound to themselves from ``handler()`` and build their
    public address from ``address``."""

    thread_name = "stand-in"

    def __init__(self, port: int = 0):
        self._port = port
        self._httpd: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    def handler(self) -> type[BaseHTTPRequestHandler]:
        raise NotImplementedError

    @property
    def address(self) -> str:
        """``http://127.0.0.1:PORT`` while the server runs."""
        if self._httpd is None:
            raise RuntimeError(f"{type(self).__name__} is not started; use it as a context manager")
        host, port = self._httpd.server_address[:2]
        return f"http://{host}:{port}"

    def start(self) -> Any:
        self._httpd = ThreadingHTTPServer(("127.0.0.1", self._port), self.handler())
        self._httpd.daemon_threads = True
        self._thread = threading.Thread(target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05},
                                        name=self.thread_name, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
            self._httpd = None
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def __enter__(self) -> Any:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
