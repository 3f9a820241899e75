"""The dashboard's web server: Starlette routes, server-sent events, and the access rules.

Routes (all GET; the dashboard is read-only):
- ``/``: the page, with every panel rendered;
- ``/events``: server-sent events; each ``panels`` event carries the panels' new HTML whenever
  the source's data changed (the page never polls);
- ``/api/snapshot``: the figures as JSON (the same ``gitorch.stats`` numbers);
- ``/static/...``: the stylesheet and the small script, shipped inside the package.

Access: on 127.0.0.1 only requests naming a loopback host are served (so a web page elsewhere
cannot reach the dashboard through DNS rebinding). Any other address needs a token: the page is
opened once as ``/?token=T``, which sets a cookie and drops the token from the address; scripts
send ``Authorization: Bearer T``.
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import json
import logging
import threading
import time
from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import quote, urlencode

from ..errors import GitorchError
from . import render

log = logging.getLogger("gitorch.dashboard")

LOOPBACK = ("127.0.0.1", "localhost", "::1")
COOKIE = "gitorch_dashboard"
FIRST_SNAPSHOT_TIMEOUT_S = 30.0


class Feed:
    """The newest rendered panels, and a way to wait for the next ones."""

    def __init__(self) -> None:
        self.version = 0
        self.data: dict[str, Any] | None = None
        self.source: dict[str, Any] = {"label": "", "where": "", "notices": [], "mode": "local"}
        self.panels: dict[str, str] = {}
        self.generated_at = ""
        self._changed = asyncio.Condition()

    async def publish(self, snapshot: dict[str, Any] | None, source: dict[str, Any]) -> None:
        if snapshot is not None:
            self.data = snapshot
        panels = await asyncio.to_thread(render.panels, self.data, source)
        if panels == self.panels and source == self.source:
            return
        async with self._changed:
            self.panels, self.source = panels, source
            self.generated_at = (self.data or {}).get("generated_at", "")
            self.version += 1
            self._changed.notify_all()

    async def next(self, seen: int) -> int:
        """Wait until there is a version newer than ``seen``."""
        async with self._changed:
            await self._changed.wait_for(lambda: self.version > seen)
            return self.version

    def event(self) -> dict[str, str]:
        return {"event": "panels", "id": str(self.version), "data": json.dumps({
            "panels": self.panels, "version": self.version, "generated_at": self.generated_at,
            "source": self.source.get("label", "")})}


class TokenGate:
    """Pure ASGI middleware: every request must carry the token (query, cookie or bearer header)."""

    def __init__(self, app: Any, token: str):
        self.app = app
        self.token = token

    def _ok(self, given: str | None) -> bool:
        return given is not None and hmac.compare_digest(given.encode(), self.token.encode())

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        from starlette.requests import Request
        from starlette.responses import PlainTextResponse, RedirectResponse

        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        request = Request(scope)
        in_query = request.query_params.get("token")
        auth = request.headers.get("authorization", "")
        bearer = auth[7:] if auth.lower().startswith("bearer ") else None
        if self._ok(in_query):
            # Keep the token out of the address bar and history: a cookie carries it from now on.
            rest = [(k, v) for k, v in request.query_params.multi_items() if k != "token"]
            target = same_origin_path(scope["path"]) + ("?" + urlencode(rest) if rest else "")
            response = RedirectResponse(target, status_code=303)
            response.set_cookie(COOKIE, self.token, httponly=True, samesite="strict")
            return await response(scope, receive, send)
        if self._ok(request.cookies.get(COOKIE)) or self._ok(bearer):
            return await self.app(scope, receive, send)
        response = PlainTextResponse(
            "gitorch dashboard: this address needs the dashboard's token (GITORCH_DASHBOARD_TOKEN, --token-file "
            "or --token).\n"
            "Open /?token=TOKEN once in the browser, or send 'Authorization: Bearer TOKEN'.\n", status_code=401)
        return await response(scope, receive, send)


def same_origin_path(path: str) -> str:
    """``path`` when a browser reads it as a path on this server; "/" for anything it could take for
    another origin (``//evil.example/x``, ``/\\evil``, ``https://...``) or that holds control characters."""
    if (not path.startswith("/") or path.startswith("//") or "\\" in path
            or any(ord(c) < 32 or ord(c) == 127 for c in path)):
        return "/"
    return quote(path, safe="/:@!$&'()*+,;=-._~")


def create_app(source: Any, *, token: str | None = None, loopback_only: bool = True) -> Any:
    """The ASGI app over ``source`` (a ``LocalSource`` or ``TeamSource``)."""
    from sse_starlette.sse import EventSourceResponse
    from starlette.applications import Starlette
    from starlette.middleware import Middleware
    from starlette.middleware.trustedhost import TrustedHostMiddleware
    from starlette.responses import HTMLResponse, JSONResponse, PlainTextResponse
    from starlette.routing import Mount, Route
    from starlette.staticfiles import StaticFiles

    feed = Feed()
    ready = asyncio.Event()

    async def follow() -> None:
        try:
            async for snapshot, info in source.updates():
                await feed.publish(snapshot, info)
                ready.set()
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # shown on the page, not a dead server
            log.exception("dashboard source failed")
            await feed.publish(None, {**feed.source, "notices": [{
                "level": "error", "kind": "error", "title": "Live updates stopped:",
                "text": f"{type(exc).__name__}: {exc}. Restart 'gitorch dashboard'."}]})
            ready.set()

    @contextlib.asynccontextmanager
    async def lifespan(app: Any) -> AsyncIterator[None]:
        task = asyncio.create_task(follow())
        try:
            await asyncio.wait_for(ready.wait(), FIRST_SNAPSHOT_TIMEOUT_S)
        except TimeoutError:
            log.warning("no data after %.0fs; serving the page anyway", FIRST_SNAPSHOT_TIMEOUT_S)
        yield
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task

    async def index(request: Any) -> Any:
        html = render.page(feed.panels, feed.source, events_url="events")
        return HTMLResponse(html, headers={"Cache-Control": "no-store", "Referrer-Policy": "no-referrer",
                                           "Content-Security-Policy": "default-src 'self'; img-src 'self' data:; "
                                                                      "style-src 'self' 'unsafe-inline'"})

    async def events(request: Any) -> Any:
        async def stream() -> AsyncIterator[dict[str, str]]:
            seen = feed.version
            yield feed.event()
            while True:
                seen = await feed.next(seen)
                yield feed.event()

        return EventSourceResponse(stream(), ping=15, headers={"Cache-Control": "no-store"})

    async def snapshot(request: Any) -> Any:
        if feed.data is None:
            return JSONResponse({"error": "no data yet", "notices": feed.source.get("notices", [])}, status_code=503)
        return JSONResponse({**feed.data, "source": feed.source, "version": feed.version})

    async def health(request: Any) -> Any:
        return PlainTextResponse("ok")

    middleware = []
    if loopback_only:
        middleware.append(Middleware(TrustedHostMiddleware, allowed_hosts=["127.0.0.1", "localhost", "[::1]"]))
    if token:
        middleware.append(Middleware(TokenGate, token=token))
    routes = [
        Route("/", index), Route("/events", events), Route("/api/snapshot", snapshot), Route("/healthz", health),
        Mount("/static", app=StaticFiles(packages=[("gitorch.dashboard", "static")]), name="static"),
    ]
    app = Starlette(routes=routes, middleware=middleware, lifespan=lifespan)
    app.state.feed = feed
    return app


def check_binding(host: str, token: str | None) -> None:
    """Any address but loopback needs a token, so the figures are not open to the network."""
    if host not in LOOPBACK and not token:
        raise GitorchError(
            f"the dashboard would be open to anyone who can reach {host}",
            hint="give a token the page must send, in the environment or a file only you can read: export "
                 "GITORCH_DASHBOARD_TOKEN=\"$(python -c 'import secrets; print(secrets.token_urlsafe(24))')\" "
                 "(or --token-file FILE), or leave out --host to stay on 127.0.0.1")
    if token is not None and len(token) < 16:
        raise GitorchError("the dashboard token is too short (fewer than 16 characters)",
                           hint="use a random one: python -c 'import secrets; print(secrets.token_urlsafe(24))'")


class DashboardServer:
    """uvicorn serving the app, in the foreground (``run``) or in a thread (``start``/``stop``)."""

    def __init__(self, source: Any, *, host: str = "127.0.0.1", port: int = 8765, token: str | None = None):
        import uvicorn

        check_binding(host, token)
        self.host = host
        self.token = token
        self.source = source
        self.app = create_app(source, token=token, loopback_only=host in LOOPBACK)
        self.server = uvicorn.Server(uvicorn.Config(self.app, host=host, port=port, log_level="warning",
                                                    access_log=False, lifespan="on",
                                                    timeout_graceful_shutdown=2))
        self._thread: threading.Thread | None = None

    @property
    def port(self) -> int:
        for server in self.server.servers:
            for sock in server.sockets:
                return sock.getsockname()[1]
        return self.server.config.port

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}/"

    def start(self, timeout_s: float = 60.0) -> DashboardServer:
        self._thread = threading.Thread(target=self._serve, name="gitorch-dashboard", daemon=True)
        self._thread.start()
        deadline = time.monotonic() + timeout_s
        while not self.server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                raise GitorchError(f"the dashboard did not start on {self.host}:{self.server.config.port}",
                                   hint="is the port in use? pick another with --port")
            time.sleep(0.02)
        return self

    def _serve(self) -> None:
        try:
            self.server.run()
        except SystemExit:  # uvicorn exits when it cannot bind; start() reports it
            pass

    def wait(self) -> None:
        """Block until the server stops (Ctrl-C raises KeyboardInterrupt here)."""
        while self._thread is not None and self._thread.is_alive():
            self._thread.join(0.5)

    def stop(self) -> None:
        self.server.should_exit = True
        if self._thread is not None:
            self._thread.join(10)
        self.source.close()

    def __enter__(self) -> DashboardServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
