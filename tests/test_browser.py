"""The chatgpt-pro builder: real Playwright driving Debian's Chromium against the local ChatGPT-like page."""

from __future__ import annotations

import socket
import threading
import time
from pathlib import Path

import pytest
from expect import agent_error

from gitorch import agents
from gitorch.agents.browser import (
    Browser,
    BrowserBuilder,
    build_prompt,
    check_session,
    html_to_markdown,
    load_selectors,
    login,
)
from gitorch.config import Config, Secrets
from gitorch.errors import AgentError, GitorchError
from gitorch.model import CHATGPT, BuildContext, Plan, Task
from gitorch.simulate.chatgpt_page import ChatGPTPage, render_markdown

pytestmark = pytest.mark.browser

APP = "def greet(name):\n    return 'hi ' + name\n\n\ndef main():\n    print(greet('you'))\n"
ANSWER = """I changed the greeting and added a test.

src/my_app/greet.py
```python
<<<<<<< SEARCH
    return 'hi ' + name
=======
    return f"Hello, {name}!"
>>>>>>> REPLACE
```

### `tests/test_greet.py`

```python
from my_app.greet import greet


def test_greet():
    assert greet("Ada") == "Hello, Ada!"
```

- The *main* function is unchanged.
- Run `pytest -q` to check.
"""


def make_config(tmp: Path, url: str, **browser) -> Config:
    config = Config()
    config.state_dir = tmp / "state"
    config.browser.url = url
    config.browser.session_dir = str(tmp / "profile")
    config.browser.timeout_s = 8
    for key, value in browser.items():
        setattr(config.browser, key, value)
    return config


@pytest.fixture(scope="module")
def server():
    with ChatGPTPage(first_token_delay_s=0.02, chunk_delay_s=0.01, chunk_chars=80) as page:
        yield page


@pytest.fixture(scope="module")
def shared(server, tmp_path_factory):
    """One builder (one Chromium) for the module; tests that need other settings start their own."""
    tmp = tmp_path_factory.mktemp("browser")
    builder = BrowserBuilder(make_config(tmp, server.url))
    yield builder
    builder.close()


@pytest.fixture
def page(server):
    server.reset()
    yield server
    server.reset()


@pytest.fixture
def builder(shared, page):
    settings = shared.config.browser
    saved = (settings.timeout_s, settings.url)
    yield shared
    settings.timeout_s, settings.url = saved


def task(description="Greet people properly and test it", files=("src/my_app/greet.py", "tests/test_greet.py")):
    return Task(id="t1", description=description, files=list(files))


def context(run_id="run-browser", **kw):
    return BuildContext(plan=Plan(summary="Friendlier greetings.", tasks=[]),
                        files={"src/my_app/greet.py": APP}, run_id=run_id, **kw)


# -- a full answer -----------------------------------------------------------------------------------


def test_full_answer_becomes_edits_with_fences_and_file_names_intact(builder, page):
    page.enqueue(ANSWER)
    result = builder.build(task(), context())

    # The Markdown comes back as written (fences, languages, headings, lists, inline code); only the
    # path line above a fence becomes a paragraph of its own, as on the real page.
    assert result.raw == ANSWER.replace("greet.py\n```", "greet.py\n\n```")
    assert result.agent == CHATGPT and not result.fallback
    by_path = {e.path: e for e in result.edits}
    assert set(by_path) == {"src/my_app/greet.py", "tests/test_greet.py"}
    assert by_path["src/my_app/greet.py"].search == "    return 'hi ' + name\n"
    assert by_path["src/my_app/greet.py"].replace == '    return f"Hello, {name}!"\n'
    assert by_path["tests/test_greet.py"].content.startswith("from my_app.greet import greet\n")
    assert result.usage.estimated and result.usage.input_tokens > 100 and result.usage.output_tokens > 20
    assert result.duration_s > 0

    prompt = page.prompts[-1]  # the page got the whole prompt, line breaks and all
    assert "SEARCH" in prompt and "## Task t1" in prompt and "Friendlier greetings." in prompt
    assert APP in prompt
    assert prompt == build_prompt(task(), context(), builder.config)


def test_inner_text_would_lose_the_fences_the_agent_does_not():
    rendered = render_markdown("a.py\n```python\nx = 1\n```\n")
    assert "Copy code" in rendered and "language-python" in rendered  # ChatGPT's own code-block markup
    assert html_to_markdown(rendered) == "a.py\n\n```python\nx = 1\n```\n"


def test_long_streamed_answer_is_taken_only_when_streaming_has_stopped(builder, page):
    body = "".join(f"    value_{i} = compute({i})  # step {i}\n" for i in range(500))
    long_answer = f"src/big.py\n\n```python\ndef big():\n{body}    return value_499\n```\n"
    # Four chunks, each pause (0.6 s) longer than the settle time: stable text alone must not end the wait.
    page.enqueue(long_answer, chunk_chars=len(long_answer) // 4 + 1, chunk_delay_s=0.6)
    result = builder.build(task("Write big()", ["src/big.py"]), context())
    assert result.raw == long_answer
    assert result.edits[0].content.endswith("    return value_499\n")
    assert len(result.raw) > 20_000


def test_error_text_in_the_prompt_or_answer_is_not_taken_for_a_notice(builder, page):
    page.enqueue('src/limits.py\n```python\nMESSAGE = "Too many requests. A network error occurred."\n```\n')
    # The prompt (shown in the person's turn) says it too.
    result = builder.build(task("Show 'Too many requests' when you hit your usage limit", ["src/limits.py"]),
                           context())
    assert result.edits[0].path == "src/limits.py"


def test_secrets_never_reach_the_page(builder, page):
    key = "sk-ant-api03-" + "x" * 40
    builder.config.secrets = Secrets(anthropic_api_key=key)
    try:
        page.enqueue(ANSWER)
        builder.build(task(), BuildContext(plan=None, files={"src/my_app/greet.py": APP + f"# {key}\n"}))
    finally:
        builder.config.secrets = Secrets()
    assert key not in page.prompts[-1] and "[REDACTED]" in page.prompts[-1]


# -- each failure: its own error, a screenshot and the page's HTML -------------------------------------


def assert_saved(exc: GitorchError, run_id: str = "run-browser") -> None:
    shot, dump = Path(exc.artifacts["screenshot"]), Path(exc.artifacts["html"])
    assert shot.exists() and shot.read_bytes()[:4] == b"\x89PNG"
    assert dump.exists() and "<html" in dump.read_text()
    assert shot.parent.parts[-3:] == ("runs", run_id, "browser")


def test_login_wall_raises_session_expired(builder, page):
    page.mode = "login"
    with agent_error("session_expired") as err:
        builder.build(task(), context())
    assert not err.value.retryable and "gitorch browser login" in err.value.hint
    assert_saved(err.value)
    assert "Log in" in Path(err.value.artifacts["html"]).read_text()


def test_usage_cap_raises_with_the_reset_time(builder, page):
    page.enqueue(fault="usage_cap", reset="4:12 PM")
    with agent_error("usage_cap") as err:
        builder.build(task(), context())
    assert "4:12 PM" in err.value.message + (err.value.hint or "") and "T16:12:00" in err.value.deferred_until
    assert not err.value.retryable
    assert_saved(err.value)


def test_rate_limit_counts_as_a_429_with_retry_after(builder, page):
    page.enqueue(fault="rate_limit", retry_after_s=7)
    with agent_error("rate_limited") as err:
        builder.build(task(), context())
    assert err.value.retryable and err.value.retry_after_s == 7
    assert_saved(err.value)


def test_verification_challenge(builder, page):
    page.mode = "challenge"
    with agent_error("challenge") as err:
        builder.build(task(), context())
    assert "Verify you are human" in err.value.message and not err.value.retryable
    assert_saved(err.value)


def test_stream_breaking_off_is_a_retryable_network_error(builder, page):
    page.enqueue(ANSWER, fault="network_error", chunk_chars=40)
    with agent_error("network") as err:
        builder.build(task(), context())
    assert err.value.retryable and "network error" in err.value.message
    assert_saved(err.value)


def closed_port_url() -> str:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}/"  # nothing listens there any more


def test_unreachable_page_is_a_network_error(builder, page):
    builder.config.browser.url = closed_port_url()
    with agent_error("network") as err:
        builder.build(task(), context())
    assert "ERR_CONNECTION_REFUSED" in err.value.message
    assert "html" in err.value.artifacts


def test_never_ending_answer_times_out_and_is_stopped(builder, page):
    builder.config.browser.timeout_s = 3
    page.enqueue("Thinking about it...\n\n", fault="never_ending", chunk_delay_s=0.05)
    started = time.monotonic()
    with agent_error("timeout") as err:
        builder.build(task(), context())
    assert 3 <= time.monotonic() - started < 8
    assert err.value.retryable and "3 s" in err.value.message
    assert_saved(err.value)
    deadline = time.monotonic() + 3
    while page.streams and time.monotonic() < deadline:  # the agent pressed stop: the stream ends
        time.sleep(0.05)
    assert page.streams == 0


def test_changed_layout_names_the_missing_selector(builder, page):
    builder.config.browser.timeout_s = 1.5
    page.mode = "changed_layout"
    with agent_error("page_changed") as err:
        builder.build(task(), context())
    assert "selector composer" in err.value.message and "#prompt-textarea" in err.value.message
    assert "browser.selectors.composer" in err.value.hint
    assert_saved(err.value)


def test_selectors_overridden_in_config_follow_a_changed_layout(page, tmp_path):
    page.mode = "changed_layout"
    page.enqueue(ANSWER)
    config = make_config(tmp_path, page.url, selectors={
        "composer": "#composer-input", "send_button": '[data-testid="composer-submit"]',
        "stop_button": '[data-testid="composer-cancel"]', "assistant_turn": '[data-turn-role="assistant"]',
        "new_chat": '[data-testid="sidebar-new"]'})
    with BrowserBuilder(config) as builder:
        result = builder.build(task(), context())
    assert {e.path for e in result.edits} == {"src/my_app/greet.py", "tests/test_greet.py"}


def test_unknown_or_empty_selector_override_is_refused():
    with pytest.raises(GitorchError) as err:
        load_selectors({"composr": "#x"})
    assert "composr" in err.value.message and "composer" in err.value.hint
    with pytest.raises(GitorchError) as err:
        load_selectors({"composer": "  "})
    assert "browser.selectors.composer" in err.value.message


def test_missing_chromium_is_reported_with_the_fix(page, tmp_path):
    config = make_config(tmp_path, page.url, executable=str(tmp_path / "no-chromium"))
    with BrowserBuilder(config) as builder, agent_error("unavailable") as err:
        builder.build(task(), context())
    assert "apt-get install chromium" in err.value.hint


def test_a_profile_in_use_by_another_browser_is_reported(builder, page):
    page.enqueue(ANSWER)
    builder.build(task(), context())  # the shared builder holds the profile now
    with Browser(builder.config) as second, agent_error("unavailable") as err:
        second.ask("hello")
    assert "in use by another Chromium" in err.value.message and "close that browser" in err.value.hint


# -- several tasks at once -----------------------------------------------------------------------------


def answer_for(prompt: str):
    from gitorch.simulate.chatgpt_page import Answer

    name = "alpha" if "Write alpha" in prompt else "beta"
    return Answer(f"src/{name}.py\n```python\nNAME = {name!r}\n```\n", first_token_delay_s=1.5)


def build_in_threads(builder, names):
    results, errors = {}, []

    def one(name):
        try:
            results[name] = builder.build(Task(id=name, description=f"Write {name}", files=[f"src/{name}.py"]),
                                          BuildContext(plan=None, files={}))
        except Exception as exc:  # collected and asserted on below
            errors.append(exc)

    threads = [threading.Thread(target=one, args=(n,)) for n in names]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors
    return results


def test_two_tasks_at_once_in_two_pages(page, tmp_path):
    page.respond(answer_for)
    with BrowserBuilder(make_config(tmp_path, page.url, pages=2)) as builder:
        results = build_in_threads(builder, ["alpha", "beta"])
        assert len(builder.browser._context.pages) == 2
    assert page.peak_streams == 2
    assert results["alpha"].edits[0].content == "NAME = 'alpha'\n"
    assert results["beta"].edits[0].content == "NAME = 'beta'\n"


def test_page_limit_of_one_answers_one_task_at_a_time(builder, page):
    page.respond(answer_for)
    results = build_in_threads(builder, ["alpha", "beta"])
    assert page.peak_streams == 1 and len(results) == 2


# -- login and doctor ------------------------------------------------------------------------------------


def test_login_without_a_display_explains_the_ways_out(page, tmp_path, monkeypatch):
    monkeypatch.delenv("DISPLAY", raising=False)
    with agent_error("unavailable") as err:
        login(make_config(tmp_path, page.url), wait_s=5, echo=lambda _: None)
    assert "no display" in err.value.message
    assert "xvfb-run gitorch browser login" in err.value.hint and "copy" in err.value.hint


def test_browser_login_command_without_a_display(page, tmp_path, monkeypatch, capsys):
    from gitorch.cli import main

    monkeypatch.delenv("DISPLAY", raising=False)

    monkeypatch.setenv("CHATGPT_URL", page.url)
    monkeypatch.setenv("CHATGPT_SESSION_DIR", str(tmp_path / "profile"))
    monkeypatch.chdir(tmp_path)
    with pytest.raises(SystemExit) as exit_:
        main(["browser", "login"])
    assert exit_.value.code == 1
    err = capsys.readouterr().err
    assert "no display" in err and "xvfb-run gitorch browser login" in err


def test_login_keeps_the_session_in_the_profile(tmp_path):
    with ChatGPTPage(mode="login") as page:
        config = make_config(tmp_path, page.url)
        assert check_session(config) == (False, [])
        page.auto_login_after_s = 0.3  # the person logs in, in the window `login` opened
        assert login(config, wait_s=15, headless=True, echo=lambda _: None) is True
        page.enqueue(ANSWER)
        with BrowserBuilder(config) as builder:  # a new browser on the same profile is logged in
            assert builder.build(task(), context()).edits


def test_doctor_check_names_selectors_that_no_longer_match(page, tmp_path):
    page.mode = "changed_layout"
    assert check_session(make_config(tmp_path, page.url, timeout_s=1.5)) == (True, ["composer"])
    page.mode = "normal"
    overrides = {"new_chat": "#gone", "send_button": "#also-gone"}
    assert check_session(make_config(tmp_path, page.url, selectors=overrides)) == (True, ["new_chat", "send_button"])


def test_registered_as_chatgpt_pro(tmp_path):
    builder = agents.get_builder(CHATGPT, config=make_config(tmp_path, closed_port_url()))
    assert isinstance(builder, BrowserBuilder) and builder.id == CHATGPT
    assert AgentError("x", reason="rate_limited").retryable and AgentError("x", reason="timeout").retryable
    assert not AgentError("x", reason="session_expired").retryable
    builder.close()


def test_a_browser_that_went_away_is_started_again(builder, page):
    browser = builder.browser
    browser.call(lambda: browser._context.close())  # as if Chromium crashed or was closed by hand
    page.enqueue(ANSWER)
    assert builder.build(task(), context()).edits


def test_a_closed_browser_refuses_work(page, tmp_path):
    browser = Browser(make_config(tmp_path, page.url))
    browser.close()
    with agent_error("unavailable"):
        browser.ask("hello")


# -- the stand-in itself ----------------------------------------------------------------------------------


def test_with_nothing_scripted_the_page_writes_a_demo_answer(builder, page):
    result = builder.build(task(), context())
    by_path = {e.path: e.content for e in result.edits}
    assert set(by_path) == {"src/my_app/greet.py", "tests/test_greet.py"}
    assert by_path["src/my_app/greet.py"].startswith(APP.rstrip("\n"))  # the current file, extended
    assert "def greet_people_properly():" in by_path["src/my_app/greet.py"]


def test_the_page_refuses_unknown_modes_and_faults():
    with pytest.raises(ValueError, match="unknown page mode"):
        ChatGPTPage(mode="offline")
    page = ChatGPTPage()
    with pytest.raises(ValueError, match="unknown fault"):
        page.enqueue("x", fault="meltdown")
    with pytest.raises(RuntimeError, match="context manager"):
        page.url  # noqa: B018 (the property raises)
