"""The ``chatgpt-pro`` builder: ChatGPT in its web app, driven by Playwright.

One Chromium with a persistent profile (``browser.session_dir``) keeps the login. The browser lives on
a worker thread that owns an asyncio loop running Playwright's async API; ``build()`` is a plain,
thread-safe call that hands the work to that loop. Up to ``browser.pages`` tasks are answered at
once, each in its own page (a semaphore guards the pool); every task gets a new chat.

An answer is complete when the stop button is gone and the answer's HTML has not changed for
``browser.settle_s``. It is turned back into Markdown (code fences with their language, headings and
file names intact) from the rendered HTML. Every way the page can refuse (login wall, usage cap,
rate limit, verification challenge, network error, a selector that no longer matches, no answer in
time) raises its own error; before raising, a screenshot and the page's HTML are saved under
``<state_dir>/runs/<run_id>/browser/`` and their paths are put in ``error.artifacts``.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import re
import threading
import time
from collections.abc import Awaitable, Callable
from contextlib import asynccontextmanager
from datetime import datetime, timedelta
from importlib import resources
from pathlib import Path
from typing import Any, TypeVar

import yaml

from ..config import Config
from ..errors import AgentError, GitorchError, answer_of
from ..model import CHATGPT, BuildContext, BuildResult, Task, Usage
from ..redact import redact
from ..secrets import withheld_note
from . import register_builder

T = TypeVar("T")

MODEL = "chatgpt-web"  # what the ledger records as the model; the plan's model is chosen in the page
# --password-store=basic keeps the profile's cookies readable on another Linux machine (no desktop
# keyring), so a profile logged in on a laptop can be copied to a runner.
LAUNCH_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
               "--disable-component-update", "--disable-sync", "--password-store=basic"]
POLL_S = 0.1
READY_CAP_S = 30.0  # longest wait for the page (or a new turn) to show up before a selector counts as missing
NOTICES = ("login_wall", "challenge", "usage_cap", "rate_limit", "network_error")


# -- the selectors profile ------------------------------------------------------------------------


def load_selectors(overrides: dict[str, str] | None = None) -> dict[str, str]:
    """The packaged profile with ``browser.selectors`` from the config on top."""
    text = resources.files(__package__).joinpath("selectors.yml").read_text(encoding="utf-8")
    selectors: dict[str, str] = yaml.safe_load(text)
    for name, value in (overrides or {}).items():
        if name not in selectors:
            raise GitorchError(f"browser.selectors: unknown selector '{name}'",
                               hint=f"the profile has: {', '.join(selectors)}")
        if not isinstance(value, str) or not value.strip():
            raise GitorchError(f"browser.selectors.{name} is empty",
                               hint="give a Playwright selector such as '#prompt-textarea', or drop the key")
        selectors[name] = value
    return selectors


# -- text ------------------------------------------------------------------------------------------


def html_to_markdown(fragment: str) -> str:
    """The rendered answer back to Markdown: fences with their language, headings, lists, inline code.

    ChatGPT draws a code block as ``<pre>`` holding a language header, a "Copy code" button and the
    highlighted ``<code class="language-xxx">``; only the code's text goes into the fence.
    """
    from markdownify import MarkdownConverter

    class Converter(MarkdownConverter):
        def convert_pre(self, el, text, parent_tags):
            code = el.find("code")
            lang = ""
            if code is not None:
                for cls in code.get("class") or []:
                    if cls.startswith("language-"):
                        lang = cls.removeprefix("language-")
            body = (code if code is not None else el).get_text().rstrip("\n")
            fence = "```"
            while fence in body:
                fence += "`"
            return f"\n\n{fence}{lang}\n{body}\n{fence}\n\n"

    converter = Converter(heading_style="ATX", bullets="-", escape_underscores=False,
                          escape_asterisks=False, escape_misc=False)
    return converter.convert(fragment).strip() + "\n"


def _retry_after(text: str) -> float | None:
    match = re.search(r"in (\d+(?:\.\d+)?)\s*(second|sec|minute|min|hour)", text, re.I)
    if not match:
        return None
    unit = match.group(2).lower()
    factor = 3600 if unit.startswith("hour") else 60 if unit.startswith("min") else 1
    return float(match.group(1)) * factor


def _reset_time(text: str, now: datetime | None = None) -> tuple[str | None, str | None]:
    """("4:12 PM", ISO time of its next occurrence) from a usage-cap notice."""
    match = re.search(r"after (\d{1,2}:\d{2}\s*(?:[AaPp][Mm])?)", text)
    if not match:
        return None, None
    shown = match.group(1).strip()
    now = now or datetime.now().astimezone()
    for fmt in ("%I:%M %p", "%I:%M%p", "%H:%M"):
        try:
            parsed = datetime.strptime(shown.upper(), fmt)
        except ValueError:
            continue
        at = now.replace(hour=parsed.hour, minute=parsed.minute, second=0, microsecond=0)
        if at <= now:
            at += timedelta(days=1)
        return shown, at.isoformat(timespec="seconds")
    return shown, None


# JavaScript run in the page: visible notice texts that are not part of an answer, a prompt or the composer.
_NOTICE_JS = """(els, exclude) => els
  .filter(e => e.getClientRects().length > 0 && !exclude.some(s => { try { return e.closest(s); } catch { return false; } }))
  .map(e => (e.innerText || e.textContent || '').trim().slice(0, 500))
  .filter(t => t.length > 0)"""
_PASTE_JS = """(el, text) => {
  el.focus();
  const data = new DataTransfer();
  data.setData('text/plain', text);
  el.dispatchEvent(new ClipboardEvent('paste', { clipboardData: data, bubbles: true, cancelable: true }));
  return (el.innerText || el.textContent || '').trim().length;
}"""


# -- the browser -----------------------------------------------------------------------------------


class Browser:
    """One Chromium with the persistent profile, run by a worker thread's asyncio loop.

    ``call()`` runs a coroutine on that loop from any thread; ``page()`` lends one of up to
    ``browser.pages`` pages.
    """

    def __init__(self, config: Config, *, headless: bool | None = None):
        self.config = config
        self.settings = config.browser
        self.selectors = load_selectors(self.settings.selectors)
        self.headless = self.settings.headless if headless is None else headless
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="gitorch-browser", daemon=True)
        self._thread.start()
        self._playwright: Any = None
        self._context: Any = None
        self._idle: list[Any] = []
        self._slots = asyncio.Semaphore(self.settings.pages)  # bound to the loop on first use
        self._start_lock = asyncio.Lock()
        self._closed = False
        self._artifact_seq = 0

    # -- plumbing --------------------------------------------------------------------------------
    def call(self, make: Callable[[], Awaitable[T]], timeout_s: float | None = None) -> T:
        if self._closed:
            raise AgentError("the browser builder was closed", agent=CHATGPT, reason="unavailable")

        async def run() -> T:
            return await make()

        future = asyncio.run_coroutine_threadsafe(run(), self._loop)
        try:
            return future.result(timeout=timeout_s)
        except concurrent.futures.TimeoutError:
            future.cancel()
            raise AgentError(f"the browser did not answer within {timeout_s:g} s", agent=CHATGPT,
                                hint="raise browser.timeout_s, or check that Chromium is not stuck", reason="timeout") from None

    async def _ensure_started(self) -> None:
        async with self._start_lock:
            if self._context is not None:
                return
            from playwright.async_api import Error as PlaywrightError
            from playwright.async_api import async_playwright

            profile = Path(self.settings.session_dir).expanduser()
            profile.mkdir(parents=True, exist_ok=True)
            exe = Path(self.settings.executable)
            if not exe.exists():
                raise AgentError(f"Chromium not found at {exe}", agent=CHATGPT,
                                         hint="install it (apt-get install chromium) or set browser.executable", reason="unavailable")
            if self._playwright is None:
                self._playwright = await async_playwright().start()
            try:
                self._context = await self._playwright.chromium.launch_persistent_context(
                    str(profile), executable_path=str(exe), headless=self.headless, args=LAUNCH_ARGS,
                    viewport={"width": 1280, "height": 900},
                )
            except PlaywrightError as exc:
                await self._playwright.stop()
                self._playwright = None
                raise _launch_error(exc, profile, self.headless) from exc
            self._context.on("close", self._forget)
            self._idle = list(self._context.pages)

    def _forget(self, context: Any) -> None:
        """Chromium went away (crashed, or closed by hand): the next task starts it again."""
        if self._context is context:
            self._context, self._idle = None, []

    @asynccontextmanager
    async def page(self):
        async with self._slots:
            await self._ensure_started()
            page = self._idle.pop() if self._idle else await self._context.new_page()
            try:
                yield page
            finally:
                if not page.is_closed() and page.context is self._context:
                    self._idle.append(page)

    def close(self) -> None:
        if self._closed:
            return

        async def shutdown() -> None:
            if self._context is not None:
                try:
                    await self._context.close()
                except Exception:  # already gone with the browser; nothing left to release
                    pass
            if self._playwright is not None:
                await self._playwright.stop()

        try:
            asyncio.run_coroutine_threadsafe(shutdown(), self._loop).result(timeout=30)
        finally:
            self._closed = True
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(timeout=10)
            self._loop.close()

    def __enter__(self) -> Browser:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- one conversation ---------------------------------------------------------------------------
    def ask(self, prompt: str, *, run_id: str | None = None, label: str = "task") -> str:
        """Send ``prompt`` in a new chat and return the answer as Markdown."""
        return self.call(lambda: self._ask(prompt, run_id, label), timeout_s=self.settings.timeout_s + 120)

    async def _ask(self, prompt: str, run_id: str | None, label: str) -> str:
        from playwright.async_api import Error as PlaywrightError

        try:
            async with self.page() as page:
                try:
                    return await self._converse(page, prompt)
                except AgentError as exc:
                    exc.agent = exc.agent or CHATGPT
                    exc.artifacts.update(await self._save_artifacts(page, run_id, label, type(exc).__name__))
                    raise
                except PlaywrightError as exc:
                    err = _playwright_error(exc)
                    err.artifacts.update(await self._save_artifacts(page, run_id, label, type(err).__name__))
                    if "net::" not in str(exc):  # the page itself broke: do not lend it again
                        await _close_quietly(page)
                    raise err from exc
        except PlaywrightError as exc:  # the browser went away while a page was being opened
            raise _playwright_error(exc) from exc

    async def _open_chat(self, page: Any, deadline: float) -> None:
        """Load the app (a new chat) and wait until the composer or a notice shows."""
        from playwright.async_api import Error as PlaywrightError

        sel = self.selectors
        try:
            await page.goto(self.settings.url, wait_until="domcontentloaded",
                            timeout=_ms(min(READY_CAP_S, deadline - time.monotonic())))
        except PlaywrightError as exc:
            raise _playwright_error(exc) from exc
        ready = page.locator(sel["composer"])
        for name in NOTICES:
            ready = ready.or_(page.locator(sel[name]))
        try:
            await ready.first.wait_for(state="visible", timeout=_ms(min(READY_CAP_S, deadline - time.monotonic())))
        except PlaywrightError:
            await self._raise_notice(page)
            raise AgentError(
                f"the ChatGPT page has no composer: selector composer = {sel['composer']!r} matches nothing",
                hint="the page's layout changed; set browser.selectors.composer in .gitorch.yml "
                     "(see the screenshot) and run 'gitorch doctor'", agent=CHATGPT, reason="page_changed") from None
        await self._raise_notice(page)

    async def _notice(self, page: Any) -> tuple[str, str] | None:
        """The first visible notice outside answers, prompts and the composer, as (kind, text)."""
        sel = self.selectors
        exclude = [sel["answer_body"], sel["user_turn"], sel["composer"]]
        combined = page.locator(sel[NOTICES[0]])
        for name in NOTICES[1:]:
            combined = combined.or_(page.locator(sel[name]))
        try:
            if not await combined.evaluate_all(_NOTICE_JS, exclude):
                return None
            for name in NOTICES:
                texts = await page.locator(sel[name]).evaluate_all(_NOTICE_JS, exclude)
                if texts:
                    return name, texts[0]
        except Exception as exc:  # the page navigated while we looked: look again on the next poll
            if "context was destroyed" not in str(exc):
                raise
        return None

    async def _raise_notice(self, page: Any) -> None:
        found = await self._notice(page)
        if found is None:
            return
        kind, text = found
        text = " ".join(text.split())[:300]
        if kind == "login_wall":
            raise AgentError(
                "the ChatGPT session has expired: the page shows a login wall",
                hint="run 'gitorch browser login' on this machine (or copy a logged-in profile into "
                     f"{self.settings.session_dir})", agent=CHATGPT, reason="session_expired")
        if kind == "challenge":
            raise AgentError(
                f"ChatGPT asks for a verification challenge: {text}",
                hint="run 'gitorch browser login' and pass the check by hand; then the session works again",
                agent=CHATGPT, reason="challenge")
        if kind == "usage_cap":
            shown, iso = _reset_time(text)
            raise AgentError(
                f"the ChatGPT plan's usage cap is reached: {text}",
                hint=f"wait until {shown}" if shown else "wait for the cap to reset, or let Claude build", deferred_until=iso, agent=CHATGPT, reason="usage_cap")
        if kind == "rate_limit":
            raise AgentError(f"ChatGPT is rate limiting: {text}", retry_after_s=_retry_after(text),
                              hint="send fewer tasks at once (browser.pages)", agent=CHATGPT, reason="rate_limited")
        raise AgentError(f"the ChatGPT page reports an error: {text}",
                           hint="check the runner's connection; the task is retried", agent=CHATGPT, reason="network")

    async def _converse(self, page: Any, prompt: str) -> str:
        sel = self.selectors
        deadline = time.monotonic() + self.settings.timeout_s
        await self._open_chat(page, deadline)
        turns = page.locator(sel["assistant_turn"])
        before = await turns.count()

        composer = page.locator(sel["composer"]).first
        if not await composer.evaluate(_PASTE_JS, prompt):
            await composer.fill(prompt)  # the composer ignored the paste: type it in instead
        send = page.locator(sel["send_button"]).first
        try:
            await send.wait_for(state="visible", timeout=_ms(min(10.0, deadline - time.monotonic())))
        except Exception:
            await self._raise_notice(page)
            raise AgentError(
                f"no send button: selector send_button = {sel['send_button']!r} matches nothing",
                hint="the page's layout changed; set browser.selectors.send_button in .gitorch.yml", agent=CHATGPT, reason="page_changed") from None
        await send.click()
        return await self._await_answer(page, before, deadline)

    async def _await_answer(self, page: Any, before: int, deadline: float) -> str:
        """Poll until the stop button is gone and the newest turn's HTML has been stable for a moment."""
        sel = self.selectors
        turns = page.locator(sel["assistant_turn"])
        stop = page.locator(sel["stop_button"]).first
        sent = time.monotonic()
        seen_stop = False
        last_html: str | None = None
        stable_since = 0.0
        while True:
            now = time.monotonic()
            if now > deadline:
                await _click_quietly(stop)
                raise AgentError(
                    f"no complete answer from ChatGPT within {self.settings.timeout_s:g} s",
                    hint="raise browser.timeout_s for long tasks, or split the task", agent=CHATGPT, reason="timeout")
            await self._raise_notice(page)
            streaming = await stop.is_visible()
            seen_stop = seen_stop or streaming
            count = await turns.count()
            if count > before:
                turn = turns.nth(count - 1)
                body = turn.locator(sel["answer_body"])
                target = body.first if await body.count() else turn
                html = await target.inner_html()
                if html != last_html:
                    last_html, stable_since = html, now
                elif (not streaming and html.strip() and now - stable_since >= self.settings.settle_s):
                    return html_to_markdown(html)
            elif not seen_stop and now - sent > min(READY_CAP_S, self.settings.timeout_s):
                raise AgentError(
                    "after sending, neither the stop button nor a new assistant turn appeared: selector "
                    f"assistant_turn = {sel['assistant_turn']!r}, stop_button = {sel['stop_button']!r}",
                    hint="the page's layout changed; set browser.selectors.assistant_turn / stop_button", agent=CHATGPT, reason="page_changed")
            await asyncio.sleep(POLL_S)

    async def _save_artifacts(self, page: Any, run_id: str | None, label: str, kind: str) -> dict[str, str]:
        """A screenshot and the page's HTML (secrets masked) next to the run's records."""
        folder = self.config.state_dir / "runs" / (run_id or "no-run") / "browser"
        folder.mkdir(parents=True, exist_ok=True)
        self._artifact_seq += 1
        stamp = datetime.now().strftime("%Y%m%dT%H%M%S")
        slug = re.sub(r"[^A-Za-z0-9_.-]+", "-", label)[:60] or "task"
        kind_slug = re.sub(r"(?<!^)(?=[A-Z])", "-", kind).lower()
        base = folder / f"{stamp}-{self._artifact_seq:03d}-{slug}-{kind_slug}"
        saved: dict[str, str] = {}
        try:
            await page.screenshot(path=f"{base}.png", full_page=True, timeout=10_000)
            saved["screenshot"] = f"{base}.png"
        except Exception:  # a crashed page has nothing to show; the HTML may still come
            pass
        try:
            Path(f"{base}.html").write_text(redact(await page.content(), self.config.secrets.values()),
                                            encoding="utf-8")
            saved["html"] = f"{base}.html"
        except Exception:  # same: keep whatever could be saved
            pass
        return saved


def _ms(seconds: float) -> float:
    return max(seconds, 0.05) * 1000


async def _close_quietly(page: Any) -> None:
    try:
        await page.close()
    except Exception:  # already closed with its browser
        pass


async def _click_quietly(locator: Any) -> None:
    try:
        if await locator.is_visible():
            await locator.click(timeout=2000)
    except Exception:  # stopping the answer is a courtesy; the timeout is raised either way
        pass


def _playwright_error(exc: Exception) -> AgentError:
    text = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    if "net::" in text or "NS_ERROR" in text:
        return AgentError(f"the ChatGPT page could not be loaded: {text}", agent=CHATGPT,
                            hint="check the runner's connection and browser.url", reason="network")
    return AgentError(f"the browser failed: {text}", agent=CHATGPT, hint="the task is retried", reason="network")


def _launch_error(exc: Exception, profile: Path, headless: bool) -> AgentError:
    text = str(exc)
    if not headless and ("XServer" in text or "DISPLAY" in text or "X server" in text):
        return AgentError(
            "cannot open a visible browser: this machine has no display",
            hint="run it under a virtual display ('xvfb-run gitorch browser login', then use a VNC viewer), "
                 "or log in on a machine with a screen and copy its profile folder to "
                 f"{profile} (CHATGPT_SESSION_DIR) on the runner", agent=CHATGPT, reason="unavailable")
    if "ProcessSingleton" in text or "SingletonLock" in text or ("profile" in text.lower() and "in use" in text):
        return AgentError(f"the browser profile {profile} is in use by another Chromium",
                                  hint="close that browser (or another gitorch run) and try again", agent=CHATGPT, reason="unavailable")
    first = text.splitlines()[0] if text else type(exc).__name__
    return AgentError(f"Chromium did not start: {first}", agent=CHATGPT,
                              hint="check browser.executable and that the profile folder is writable", reason="unavailable")


# -- the builder -----------------------------------------------------------------------------------


def build_prompt(task: Task, context: BuildContext, config: Config) -> str:
    """edits.builder_instructions() + the task + the plan's summary + the current files."""
    from .. import edits

    parts = [edits.builder_instructions(config.edits).strip(), f"## Task {task.id}\n\n{task.description.strip()}"]
    if context.plan is not None and context.plan.summary.strip():
        parts.append(f"## The plan this task belongs to\n\n{context.plan.summary.strip()}")
    if task.files:
        parts.append("## Files this task creates or changes\n\n" + "\n".join(f"- `{p}`" for p in task.files))
    if context.repo_map.strip():
        parts.append(f"## Repository map\n\n{context.repo_map.strip()}")
    if context.files:
        parts.append("## Current content of the files\n\n" + edits.format_files(context.files).strip())
    if context.withheld:
        parts.append(withheld_note(context.withheld))
    if context.instructions.strip():
        parts.append(f"## Read this first\n\n{context.instructions.strip()}")
    return "\n\n".join(parts) + "\n"


class BrowserBuilder:
    """Builder ``chatgpt-pro``. Thread-safe: call ``build()`` from several threads to use several pages."""

    id = CHATGPT

    def __init__(self, config: Config, **_: Any):
        self.config = config
        self._browser: Browser | None = None
        self._lock = threading.Lock()

    @property
    def browser(self) -> Browser:
        with self._lock:
            if self._browser is None:
                self._browser = Browser(self.config)
            return self._browser

    def build(self, task: Task, context: BuildContext) -> BuildResult:
        """Ask for the task in a new chat; parse the answer into edits.

        Raises ``AgentError`` when the page fails, or ``UnusableAnswer`` when the answer cannot be
        used; that error carries the call, so its tokens are still counted.
        """
        from .. import edits
        from ..git.context import TokenEstimate

        prompt = redact(build_prompt(task, context, self.config), self.config.secrets.values())
        started = time.monotonic()
        raw = self.browser.ask(prompt, run_id=context.run_id, label=task.id)
        estimate = TokenEstimate()
        usage = Usage(input_tokens=estimate(prompt), output_tokens=estimate(raw), estimated=True)
        result = BuildResult(agent=CHATGPT, model=MODEL, edits=[], raw=raw, usage=usage,
                             duration_s=time.monotonic() - started)
        with answer_of(result):
            result.edits = edits.parse_answer(raw, context.files, self.config.edits, repo_root=context.repo_root,
                                              previous=context.accepted)
        return result

    def close(self) -> None:
        with self._lock:
            if self._browser is not None:
                self._browser.close()
                self._browser = None

    def __enter__(self) -> BrowserBuilder:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


register_builder(CHATGPT, BrowserBuilder)


# -- login and doctor ------------------------------------------------------------------------------


def login(config: Config, *, wait_s: float = 900.0, headless: bool = False,
          echo: Callable[[str], None] = print) -> bool:
    """Open the profile in a visible browser at the page and wait until the person has logged in.

    True once the composer shows without a login wall; False if every window was closed or
    ``wait_s`` passed first. ``headless`` is for tests against the local page.
    """
    with Browser(config, headless=headless) as browser:
        return browser.call(lambda: _wait_for_login(browser, wait_s, echo))


async def _wait_for_login(browser: Browser, wait_s: float, echo: Callable[[str], None]) -> bool:
    await browser._ensure_started()
    context = browser._context
    page = context.pages[0] if context.pages else await context.new_page()
    await page.goto(browser.settings.url, wait_until="domcontentloaded")
    echo(f"Log in to ChatGPT in the browser window; waiting up to {wait_s / 60:g} min "
         "(close the window to give up).")
    sel = browser.selectors
    deadline = time.monotonic() + wait_s
    while time.monotonic() < deadline:
        pages = [p for p in context.pages if not p.is_closed()]
        if not pages:
            return False
        for candidate in pages:
            try:
                if (await candidate.locator(sel["composer"]).first.is_visible()
                        and not await candidate.locator(sel["login_wall"]).first.is_visible()):
                    return True
            except Exception:  # the page navigated away while we looked; look again
                continue
        await asyncio.sleep(0.5)
    return False


def check_session(config: Config) -> tuple[bool, list[str]]:
    """For `gitorch doctor`: (logged in?, names of selectors that match nothing on the idle page).

    The composer, the new-chat link and the send button (after typing a character, then erased) are
    checked; the turn, stop and answer selectors only show while a message is answered, so they are
    not. Raises ``BrowserUnavailable`` when Chromium does not start and ``ChallengeRequired`` when
    the page asks for a verification.
    """
    with Browser(config) as browser:
        return browser.call(lambda: _check(browser), timeout_s=READY_CAP_S + 60)


async def _check(browser: Browser) -> tuple[bool, list[str]]:
    sel = browser.selectors
    async with browser.page() as page:
        try:
            await browser._open_chat(page, time.monotonic() + min(READY_CAP_S, browser.settings.timeout_s))
        except AgentError as exc:
            if exc.reason == "session_expired":
                return False, []
            if exc.reason == "page_changed":
                return True, ["composer"]
            raise
        missing = []
        if not await page.locator(sel["new_chat"]).count():
            missing.append("new_chat")
        composer = page.locator(sel["composer"]).first
        await composer.click()
        await page.keyboard.type("x")
        try:
            await page.locator(sel["send_button"]).first.wait_for(state="visible", timeout=2000)
        except Exception:
            missing.append("send_button")
        await page.keyboard.press("Backspace")
        return True, missing
