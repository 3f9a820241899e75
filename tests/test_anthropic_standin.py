"""The local Anthropic stand-in, driven by the real anthropic SDK over HTTP: JSON and streamed
answers, text and tool_use, count_tokens, honest cache accounting, auth, and the request log."""

from __future__ import annotations

import anthropic
import pytest

from gitorch.simulate.anthropic_api import AnthropicServer, count_tokens

MODEL = "claude-sonnet-5-5"
LONG = "The repository map lists every module and its definitions. " * 200  # well over 1024 tokens


@pytest.fixture
def api():
    with AnthropicServer() as server:
        yield server


@pytest.fixture
def client(api):
    with anthropic.Anthropic(api_key="sk-ant-test-standin-0001", base_url=api.base_url, max_retries=0) as c:
        yield c


def _system(cache: bool = True):
    block = {"type": "text", "text": LONG}
    if cache:
        block["cache_control"] = {"type": "ephemeral"}
    return [block]


def test_json_answer_with_text(api, client):
    api.enqueue_text("Hello from the stand-in")
    message = client.messages.create(model=MODEL, max_tokens=100, messages=[{"role": "user", "content": "hi"}])
    assert message.content[0].text == "Hello from the stand-in"
    assert message.stop_reason == "end_turn"
    assert message.usage.output_tokens == count_tokens("Hello from the stand-in")
    assert message.usage.input_tokens > 0


def test_streamed_tool_use_is_parsed_by_the_sdk(api, client):
    tool_input = {"summary": "s", "tasks": [{"id": "t1", "description": "x" * 300}]}
    api.enqueue_tool_use("write_plan", tool_input, text="Planning now.")
    tools = [{"name": "write_plan", "description": "d", "input_schema": {"type": "object"}}]
    with client.messages.stream(model=MODEL, max_tokens=2000, tools=tools,
                                messages=[{"role": "user", "content": "plan"}]) as stream:
        events = [event.type for event in stream]
        message = stream.get_final_message()
    assert events[0] == "message_start" and events[-1] == "message_stop"
    assert events.count("input_json") > 3  # the tool input arrived in pieces
    assert message.stop_reason == "tool_use"
    assert [b.type for b in message.content] == ["text", "tool_use"]
    assert message.content[1].input == tool_input


def test_long_text_is_cut_at_max_tokens(api, client):
    api.enqueue_text("word " * 500)
    message = client.messages.create(model=MODEL, max_tokens=50, messages=[{"role": "user", "content": "hi"}])
    assert message.stop_reason == "max_tokens"
    assert message.usage.output_tokens == 50


def test_count_tokens_matches_the_input_of_a_real_call(api, client):
    messages = [{"role": "user", "content": "count these words please"}]
    counted = client.messages.count_tokens(model=MODEL, messages=messages, system=_system(False)).input_tokens
    api.enqueue_text("ok")
    message = client.messages.create(model=MODEL, max_tokens=10, messages=messages, system=_system(False))
    assert counted == message.usage.input_tokens
    assert api.requests[0].path == "/v1/messages/count_tokens"


def test_cache_is_written_once_then_read_within_the_ttl():
    now = [1000.0]
    with AnthropicServer(clock=lambda: now[0]) as api, \
            anthropic.Anthropic(api_key="sk-ant-test-1", base_url=api.base_url, max_retries=0) as client:
        def ask(question: str):
            api.enqueue_text("ok")
            return client.messages.create(model=MODEL, max_tokens=10, system=_system(),
                                          messages=[{"role": "user", "content": question}]).usage

        first, second = ask("first question"), ask("second, different question")
        assert first.cache_creation_input_tokens > 1024 and first.cache_read_input_tokens == 0
        assert second.cache_read_input_tokens == first.cache_creation_input_tokens
        assert second.cache_creation_input_tokens == 0
        assert second.input_tokens < 20  # only the varying part is billed at the input rate
        now[0] += 301  # past the 5-minute TTL
        third = ask("third")
        assert third.cache_read_input_tokens == 0 and third.cache_creation_input_tokens > 1024


def test_cache_is_per_model_and_needs_a_long_enough_prefix(api, client):
    def ask(model, system):
        api.enqueue_text("ok")
        return client.messages.create(model=model, max_tokens=10, system=system,
                                      messages=[{"role": "user", "content": "q"}]).usage

    assert ask(MODEL, _system()).cache_creation_input_tokens > 0
    assert ask("claude-opus-5-5", _system()).cache_read_input_tokens == 0  # another model, another cache
    short = [{"type": "text", "text": "short instructions", "cache_control": {"type": "ephemeral"}}]
    usage = ask(MODEL, short)
    assert usage.cache_creation_input_tokens == 0 and usage.cache_read_input_tokens == 0


def test_without_cache_control_nothing_is_cached(api, client):
    for _ in range(2):
        api.enqueue_text("ok")
        usage = client.messages.create(model=MODEL, max_tokens=10, system=_system(cache=False),
                                       messages=[{"role": "user", "content": "q"}]).usage
        assert usage.cache_read_input_tokens == 0 and usage.cache_creation_input_tokens == 0


def test_wrong_or_missing_key_gets_401():
    with AnthropicServer(api_key="sk-ant-the-right-key") as api:
        with anthropic.Anthropic(api_key="sk-ant-a-wrong-key", base_url=api.base_url, max_retries=2) as client:
            with pytest.raises(anthropic.AuthenticationError):
                client.messages.create(model=MODEL, max_tokens=10, messages=[{"role": "user", "content": "q"}])
        assert len(api.requests) == 1  # the SDK does not retry a 401


def test_fault_with_retry_after_is_retried_by_the_sdk(api):
    api.enqueue_fault(429, retry_after=0.2).enqueue_fault(529, retry_after=0.05).enqueue_text("finally")
    with anthropic.Anthropic(api_key="sk-ant-test-2", base_url=api.base_url, max_retries=2) as client:
        message = client.messages.create(model=MODEL, max_tokens=10, messages=[{"role": "user", "content": "q"}])
    assert message.content[0].text == "finally"
    sent = api.message_requests
    assert [r.retry_count for r in sent] == [0, 1, 2]
    assert [r.status for r in sent] == [429, 529, 200]
    assert sent[1].at - sent[0].at >= 0.2  # the wait the server asked for was honoured


def test_invalid_request_is_answered_like_the_api(api, client):
    with pytest.raises(anthropic.BadRequestError, match="max_tokens"):
        client.messages.create(model=MODEL, max_tokens=0, messages=[{"role": "user", "content": "q"}])
    with pytest.raises(anthropic.BadRequestError, match="tool_choice forces tool use"):
        client.messages.create(model=MODEL, max_tokens=2048, messages=[{"role": "user", "content": "q"}],
                               thinking={"type": "enabled", "budget_tokens": 1024},
                               tools=[{"name": "t", "input_schema": {"type": "object"}}],
                               tool_choice={"type": "any"})


def test_request_log_keeps_what_was_sent(api, client):
    api.enqueue_text("ok")
    client.messages.create(model=MODEL, max_tokens=10, system=_system(),
                           messages=[{"role": "user", "content": "find me"}])
    logged = api.message_requests[0]
    assert logged.body["system"][0]["cache_control"] == {"type": "ephemeral"}
    assert "find me" in logged.raw
    assert logged.headers["anthropic-version"]
    assert logged.usage["cache_creation_input_tokens"] > 0


def test_demo_scenario_answers_without_a_script(api, client):
    tools = [{"name": "write_plan", "description": "d", "input_schema": {"type": "object"}}]
    message = client.messages.create(
        model=MODEL, max_tokens=1000, tools=tools,
        messages=[{"role": "user", "content": "<task>\nAdd a --verbose flag\n</task>\nCall write_plan once."}])
    plan = message.content[-1].input
    assert plan["tasks"][0]["description"].startswith("Implement: Add a --verbose flag")


@pytest.mark.parametrize("model", ["claude-imaginary-9", "claude-sonnet-4-5"])  # unknown; retired 2026-11-30
def test_a_model_the_api_does_not_serve_is_refused_with_404(api, client, model):
    with pytest.raises(anthropic.NotFoundError) as err:
        client.messages.create(model=model, max_tokens=10, messages=[{"role": "user", "content": "hi"}])
    assert err.value.body["error"] == {"type": "not_found_error", "message": f"model: {model}"}
    with pytest.raises(anthropic.NotFoundError):
        client.messages.count_tokens(model=model, messages=[{"role": "user", "content": "hi"}])


def test_the_demo_reviewer_judges_by_model_and_says_how_sure_it_is(api, client):
    """Every model rejects unfinished work; only the larger ones reject a subtle fault, which a
    Haiku model approves while unsure."""
    from gitorch.agents.claude import ARCHITECT_TOOLS

    def review(model: str, content: str) -> dict:
        request = (f"Review round 1.\n\n<diff>\n</diff>\n\n## Artifacts\n\n### artifact: a.py\n```\n{content}```\n"
                   "\nReview every artifact above. Answer by calling write_review once.")
        message = client.messages.create(model=model, max_tokens=2000, tools=ARCHITECT_TOOLS,
                                         messages=[{"role": "user", "content": request}])
        return next(b.input for b in message.content if b.type == "tool_use")

    subtle = "import pickle\n\ndef load(blob):\n    return pickle.loads(blob)\n"
    assert (review("claude-haiku-5-5", subtle)["verdict"], review("claude-haiku-5-5", subtle)["confidence"]) == (
        "approve", 0.5)
    assert review("claude-sonnet-5-5", subtle)["verdict"] == "reject"
    unfinished = "def load(blob):\n    raise NotImplementedError\n"
    assert {review(m, unfinished)["verdict"] for m in ("claude-haiku-5-5", "claude-sonnet-5-5")} == {"reject"}
    assert review("claude-haiku-5-5", "x = 1\n")["confidence"] == 0.9
