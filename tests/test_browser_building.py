"""build_task: retries, the re-ask with the exact parse error, and the fallback to Claude.

The browser builder is the real one (Playwright, Chromium, the local ChatGPT-like page); Claude is the
real ClaudeBuilder with the anthropic SDK against the local Messages API stand-in. A scripted builder
(no I/O) stands in only where a test is about build_task's own bookkeeping.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from gitorch import edits
from gitorch.agents.browser import BrowserBuilder
from gitorch.config import Config, Secrets
from gitorch.errors import AgentError, GitorchError, answer_of
from gitorch.git.repository import Repository
from gitorch.model import CHATGPT, CLAUDE, CODEX, BuildContext, BuildResult, Task, Usage
from gitorch.retry import RetryPolicy
from gitorch.run.build import BuildFailed, build_task, builder_order, reask_instructions
from gitorch.run.ledger import Ledger
from gitorch.simulate.anthropic_api import AnthropicServer
from gitorch.simulate.chatgpt_page import ChatGPTPage
from gitorch.store.sqlite import SqliteStore

APP = "def greet(name):\n    return 'hi ' + name\n"
GOOD = "src/app.py\n```python\n<<<<<<< SEARCH\n    return 'hi ' + name\n=======\n    return 'Hello, ' + name\n>>>>>>> REPLACE\n```\n"
BAD = "src/app.py\n```python\n<<<<<<< SEARCH\n    return 'bye ' + name\n=======\n    return 'Hello, ' + name\n>>>>>>> REPLACE\n```\n"
CLAUDE_ANSWER = "src/app.py\n```python\ndef greet(name):\n    return f'Hello, {name}'\n```\n"


@pytest.fixture(scope="module")
def page():
    with ChatGPTPage(first_token_delay_s=0.02, chunk_delay_s=0.01, chunk_chars=200) as server:
        yield server


@pytest.fixture
def api():
    with AnthropicServer() as server:
        yield server


@pytest.fixture
def config(tmp_path_factory, page, api):
    tmp = tmp_path_factory.mktemp("build")
    cfg = Config()
    cfg.state_dir = tmp / "state"
    cfg.browser.url = page.url
    cfg.browser.session_dir = str(tmp_path_factory.getbasetemp() / "shared-profile")
    cfg.browser.timeout_s = 8
    cfg.anthropic.base_url = api.base_url
    cfg.secrets = Secrets(anthropic_api_key="sk-ant-test-key-for-the-local-stand-in")
    page.reset()
    return cfg


@pytest.fixture(scope="module")
def browser_builder(tmp_path_factory, page):
    """One Chromium for the module (the config fixture points every test at the same profile)."""
    cfg = Config()
    cfg.state_dir = tmp_path_factory.mktemp("module-state")
    cfg.browser.url = page.url
    cfg.browser.session_dir = str(tmp_path_factory.getbasetemp() / "shared-profile")
    cfg.browser.timeout_s = 8
    builder = BrowserBuilder(cfg)
    yield builder
    builder.close()


@pytest.fixture
def store(tmp_path):
    db = SqliteStore(tmp_path / "state.db")
    yield db
    db.close()


@pytest.fixture
def ledger(store, config):
    return Ledger(store, config)


def claude_builder(config):
    from gitorch.agents.claude import ClaudeBuilder

    return ClaudeBuilder(config, sleep=lambda s: None)


def task():
    return Task(id="t-greet", description="Say hello properly", files=["src/app.py"], assigned_to=CHATGPT)


def ctx():
    return BuildContext(plan=None, files={"src/app.py": APP}, run_id="run-build")


def policy(waits=None):
    return RetryPolicy(attempts=3, sleep=(waits.append if waits is not None else lambda s: None))


def build_metrics(store):
    return [m for m in store.metrics_since(datetime.now(UTC) - timedelta(hours=1)) if m.step == "build"]


# -- the browser, with retries and the re-ask -----------------------------------------------------------


def test_reask_sends_the_exact_parse_error_and_uses_the_second_answer(config, page, browser_builder, store,
                                                                        ledger):
    page.enqueue(BAD)
    page.enqueue(GOOD)
    result = build_task(task(), ctx(), config, {CHATGPT: browser_builder}, policy(), ledger)

    assert result.agent == CHATGPT and not result.fallback and result.reasked
    assert result.edits[0].replace == "    return 'Hello, ' + name\n"
    first, second = page.prompts
    with pytest.raises(edits.EditError) as err:
        edits.parse_answer(BAD, {"src/app.py": APP})
    assert err.value.message in second and err.value.message not in first  # the exact parse error, verbatim
    assert "return 'bye ' + name" in second  # which quotes the offending block

    rows = build_metrics(store)  # both calls are in the ledger, estimated, at marginal cost 0
    assert [(m.agent, m.fallback, m.cost_usd) for m in rows] == [(CHATGPT, False, 0.0)] * 2
    assert all(m.usage.estimated and m.usage.input_tokens > 0 and m.duration_s > 0 for m in rows)
    # what Claude alone would have cost for the task, counted once: on the answer that was used
    assert rows[0].baseline_cost_usd == 0 and rows[1].baseline_cost_usd > 0


def test_rate_limit_is_retried_after_the_wait_the_page_asks_for(config, page, browser_builder, ledger):
    page.enqueue(fault="rate_limit", retry_after_s=2)
    page.enqueue(GOOD)
    waits: list[float] = []
    result = build_task(task(), ctx(), config, {CHATGPT: browser_builder}, policy(waits), ledger)
    assert waits == [2.0] and result.agent == CHATGPT and not result.fallback


# -- the fallback to Claude ------------------------------------------------------------------------------


def test_expired_session_falls_back_to_claude_and_is_recorded_as_fallback(config, page, api, browser_builder,
                                                                          store, ledger):
    page.mode = "login"
    api.enqueue_text(CLAUDE_ANSWER)
    builders = {CHATGPT: browser_builder, CLAUDE: claude_builder(config)}
    result = build_task(task(), ctx(), config, builders, policy(), ledger)

    assert result.agent == CLAUDE and result.fallback
    assert result.edits[0].content == "def greet(name):\n    return f'Hello, {name}'\n"
    assert "session has expired" in result.failures[0].error
    assert Path(result.failures[0].artifacts["screenshot"]).exists()
    assert "Say hello properly" in api.message_requests[-1].raw  # Claude got the task itself
    rows = build_metrics(store)
    assert [(m.agent, m.fallback) for m in rows] == [(CLAUDE, True)]
    assert rows[0].cost_usd > 0 and not rows[0].usage.estimated  # Claude's reported, priced tokens


def test_second_unusable_answer_falls_back_to_claude(config, page, api, browser_builder, ledger):
    page.enqueue(BAD)
    page.enqueue(BAD)
    api.enqueue_text(CLAUDE_ANSWER)
    builders = {CHATGPT: browser_builder, CLAUDE: claude_builder(config)}
    result = build_task(task(), ctx(), config, builders, policy(), ledger)
    assert result.agent == CLAUDE and result.fallback and len(page.prompts) == 2
    assert "could not be used twice" in result.failures[0].error


def test_without_fallback_the_failure_keeps_the_screenshots(config, page, browser_builder, ledger):
    config.agents.allow_claude_fallback = False
    page.mode = "login"
    with pytest.raises(BuildFailed) as err:
        build_task(task(), ctx(), config, {CHATGPT: browser_builder}, policy(), ledger)
    failure = err.value
    assert "t-greet" in failure.message and "chatgpt-pro: the ChatGPT session has expired" in failure.message
    assert failure.failures[0].agent == CHATGPT
    shot = failure.artifacts["chatgpt-pro:screenshot"]
    assert Path(shot).exists() and shot in failure.hint


def test_usage_cap_without_fallback_defers_to_the_reset_time(config, page, browser_builder, ledger):
    config.agents.fallback = []
    page.enqueue(fault="usage_cap", reset="11:59 PM")
    with pytest.raises(BuildFailed) as err:
        build_task(task(), ctx(), config, {CHATGPT: browser_builder}, policy(), ledger)
    assert err.value.deferred_until and "T23:59:00" in err.value.deferred_until


# -- build_task's own rules (a scripted builder, no I/O) -----------------------------------------------


class ScriptedBuilder:
    """Answers from a list; an exception in the list is raised. Parses like the real text builders."""

    def __init__(self, agent, config, answers):
        self.id, self.config, self.answers, self.contexts = agent, config, list(answers), []

    def build(self, task, context):
        self.contexts.append(context)
        item = self.answers.pop(0)
        if isinstance(item, Exception):
            raise item
        model = self.config.models.build if self.id == CLAUDE else "scripted"  # Claude's calls are priced
        result = BuildResult(agent=self.id, model=model, edits=[], raw=item, usage=Usage(10, 5), duration_s=0.01)
        with answer_of(result):
            result.edits = edits.parse_answer(item, context.files, self.config.edits, repo_root=context.repo_root,
                                              previous=context.accepted)
        return result

    def close(self):
        pass


def test_second_answer_need_only_fix_the_failed_block(config, ledger):
    new_file = "src/extra.py\n```python\nEXTRA = 1\n```\n"
    builder = ScriptedBuilder(CHATGPT, config, [new_file + "\n" + BAD, GOOD])
    result = build_task(task(), ctx(), config, {CHATGPT: builder}, policy(), ledger)
    assert {e.path for e in result.edits} == {"src/extra.py", "src/app.py"}  # the accepted block counts
    assert "Your previous answer to this task could not be used" in builder.contexts[1].instructions


def test_retryable_errors_are_retried_three_times_then_fall_back(config, ledger):
    flaky = ScriptedBuilder(CHATGPT, config, [AgentError("slow down", reason="rate_limited", retry_after_s=1)] * 3)
    claude = ScriptedBuilder(CLAUDE, config, [CLAUDE_ANSWER])
    waits: list[float] = []
    result = build_task(task(), ctx(), config, {CHATGPT: flaky, CLAUDE: claude}, policy(waits), ledger)
    assert waits == [1, 1] and not flaky.answers  # three attempts, two waits
    assert result.agent == CLAUDE and result.fallback


def test_non_retryable_errors_fall_back_at_once(config, ledger):
    broken = ScriptedBuilder(CHATGPT, config, [AgentError("logged out", reason="session_expired"), GOOD])
    claude = ScriptedBuilder(CLAUDE, config, [CLAUDE_ANSWER])
    waits: list[float] = []
    result = build_task(task(), ctx(), config, {CHATGPT: broken, CLAUDE: claude}, policy(waits), ledger)
    assert waits == [] and len(broken.answers) == 1 and result.fallback


def test_unsafe_answer_is_refused_then_reasked_against_the_repository(config, repo, ledger):
    workflow = ".github/workflows/ci.yml\n```yaml\non: push\n```\n"
    builder = ScriptedBuilder(CHATGPT, config, [workflow, GOOD])
    context = BuildContext(plan=None, files={"src/app.py": APP}, repo_root=str(repo))
    result = build_task(task(), context, config, {CHATGPT: builder}, policy(), ledger, repo=Repository(repo, config))
    assert ".github/workflows" in builder.contexts[1].instructions
    assert result.contents == {"src/app.py": "def greet(name):\n    return 'Hello, ' + name\n"}


def test_builder_order_follows_the_config():
    config = Config()
    assert builder_order(task(), config) == [CHATGPT, CLAUDE]
    config.agents.fallback = [CODEX, CLAUDE]
    assert builder_order(task(), config) == [CHATGPT, CODEX, CLAUDE]
    config.agents.allow_claude_fallback = False
    assert builder_order(task(), config) == [CHATGPT, CODEX]
    claude_task = Task(id="t", description="x", assigned_to=CLAUDE)
    assert builder_order(claude_task, config) == [CLAUDE, CODEX]


def test_missing_builder_is_named_in_the_failure(config, ledger):
    with pytest.raises(BuildFailed) as err:
        build_task(task(), ctx(), config, {}, policy(), ledger)
    assert "chatgpt-pro: not available on this runner" in err.value.message
    assert "claude: not available" in err.value.message


class NoKeyBuilders(dict):
    """A lazy mapping whose Claude cannot be made (no API key), as the runner's is."""

    def get(self, agent, default=None):
        if agent == CLAUDE:
            raise GitorchError("ANTHROPIC_API_KEY is not set, so Claude cannot be called")
        return super().get(agent, default)


def test_a_fallback_that_cannot_be_made_is_a_failure_not_a_crash(config, ledger):
    bad = ScriptedBuilder(CHATGPT, config, [BAD, BAD])
    with pytest.raises(BuildFailed) as err:
        build_task(task(), ctx(), config, NoKeyBuilders({CHATGPT: bad}), policy(), ledger)
    assert "claude: ANTHROPIC_API_KEY is not set" in err.value.message
    assert [c.agent for c in err.value.calls] == [CHATGPT, CHATGPT]  # both answers, for the ledger
    assert all(c.error for c in err.value.calls)


def test_reask_instructions_keep_earlier_instructions():
    text = reask_instructions("Keep the style.", "Block 1 failed: SEARCH matches nowhere")
    assert text.startswith("Keep the style.") and text.rstrip().endswith("in the format described above.")
    assert "Block 1 failed: SEARCH matches nowhere" in text
