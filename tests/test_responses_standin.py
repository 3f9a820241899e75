"""The local Responses API stand-in is as strict as the API: httpx sends it what Codex sends (the
recorded request in tests/fixtures/codex/) and what no client should, and reads the answers.

A malformed request gets the API's HTTP error and error body, never a streamed answer and never a
dropped connection; a request without ``stream: true`` gets one response object, as from the API.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path

import httpx
import pytest

from gitorch.simulate import openai_responses as oa

RECORDED = json.loads((Path(__file__).parent / "fixtures" / "codex" / "responses-request.json").read_text())
KEY = "sk-local-test-key-0001"


@pytest.fixture
def api():
    with oa.ResponsesServer(oa.Script(oa.Say("Hello from the stand-in.")), api_key=KEY) as server:
        yield server


@pytest.fixture(scope="module")
def http():
    with httpx.Client(timeout=10) as c:  # one client: making one costs a third of a second
        yield c


@pytest.fixture
def client(api, http):
    http.base_url = api.base_url
    http.headers["authorization"] = f"Bearer {KEY}"
    return http


def body(**changes) -> dict:
    """A small valid request, changed by ``changes`` (a value of ``...`` removes the key)."""
    request = {"model": oa.MODEL, "input": "Say hello.", "stream": True}
    request.update(changes)
    return {k: v for k, v in request.items() if v is not ...}


def refused(answer: httpx.Response, status: int = 400) -> dict:
    """The API's error object, after checking that it is exactly the API's shape."""
    assert answer.status_code == status, answer.text
    assert answer.headers["content-type"] == "application/json"
    error = answer.json()["error"]
    assert set(error) == {"message", "type", "param", "code"}
    assert error["type"] == "invalid_request_error"
    return error


def events(answer: httpx.Response) -> list[dict]:
    assert answer.status_code == 200, answer.text
    assert answer.headers["content-type"] == "text/event-stream"
    return [json.loads(line[len("data: "):]) for line in answer.text.splitlines() if line.startswith("data: ")]


# -- what Codex really sends is served ----------------------------------------------------------------


def test_the_request_recorded_from_codex_is_served_as_a_stream(api, client):
    headers = {k: v for k, v in RECORDED["headers"].items() if k not in ("authorization", "host")}
    answer = client.post("/responses", content=json.dumps(RECORDED["body"]), headers=headers)
    streamed = events(answer)
    assert [e["type"] for e in streamed][0] == "response.created"
    assert streamed[-1]["type"] == "response.completed"
    assert streamed[-1]["response"]["output"][0]["content"][0]["text"] == "Hello from the stand-in."
    assert streamed[-1]["response"]["usage"]["input_tokens"] > 0
    assert [e["sequence_number"] for e in streamed] == list(range(len(streamed)))
    # the recording is what the scenario reads: the task prompt, two tool calls made, the MCP tools offered
    turn = api.requests[0].turn
    assert turn.prompt.startswith("## Task t1") and turn.step == 2
    assert "mcp__gitorch__get_plan" in turn.tools
    assert api.requests[0].status == 200 and api.requests[0].error is None


def test_the_recording_is_of_codex_0_169_without_its_key():
    assert RECORDED["codex_version"] == "0.169.0"
    assert RECORDED["headers"]["authorization"] == "Bearer <key>"
    assert RECORDED["headers"]["user-agent"].startswith("codex_exec/0.169.0")
    assert list(RECORDED["body"]) == ["model", "stream", "input", "tools", "tool_choice", "parallel_tool_calls",
                                      "reasoning", "store", "include", "prompt_cache_key", "client_metadata"]
    assert RECORDED["body"]["store"] is False and "instructions" not in RECORDED["body"]


# -- malformed requests get the API's errors ---------------------------------------------------------------


def test_a_body_that_is_not_json_is_a_400_that_says_so(client):
    error = refused(client.post("/responses", content=b'{"model": "gpt-5-codex", "input": ',
                                headers={"content-type": "application/json"}))
    assert error["message"].startswith("We could not parse the JSON body of your request.")
    assert error["param"] is None and error["code"] is None


@pytest.mark.parametrize("payload", [b"[]", b'"hello"', b"42", b"null"])
def test_a_json_body_that_is_not_an_object_is_a_400_not_a_dropped_connection(client, payload):
    error = refused(client.post("/responses", content=payload, headers={"content-type": "application/json"}))
    assert error["code"] == "invalid_type" and "expected an object" in error["message"]


def test_an_empty_object_is_missing_its_model(client):
    error = refused(client.post("/responses", json={}))
    assert error == {"message": "Missing required parameter: 'model'.", "type": "invalid_request_error",
                     "param": "model", "code": "missing_required_parameter"}


def test_a_request_without_input_is_refused(client):
    error = refused(client.post("/responses", json=body(input=...)))
    assert (error["param"], error["code"]) == ("input", "missing_required_parameter")


def test_an_integer_input_is_a_400_that_names_the_type(client):
    error = refused(client.post("/responses", json=body(input=7)))
    assert error["param"] == "input" and error["code"] == "invalid_type"
    assert error["message"] == ("Invalid type for 'input': expected one of a string or an array of input items, "
                                "but got an integer instead.")


@pytest.mark.parametrize("key", ["instruction", "messages", "max_tokens"])
def test_an_unknown_top_level_key_is_refused_by_name(client, key):
    error = refused(client.post("/responses", json=body(**{key: "x"})))
    assert error == {"message": f"Unknown parameter: '{key}'.", "type": "invalid_request_error", "param": key,
                     "code": "unknown_parameter"}


def test_an_unknown_model_does_not_exist(client):
    error = refused(client.post("/responses", json=body(model="gpt-9-imaginary")))
    assert error == {"message": "The requested model 'gpt-9-imaginary' does not exist.",
                     "type": "invalid_request_error", "param": "model", "code": "model_not_found"}


@pytest.mark.parametrize(("changes", "param", "code", "said"), [
    ({"stream": "yes"}, "stream", "invalid_type", "expected a boolean, but got a string"),
    ({"model": 5}, "model", "invalid_type", "expected a string, but got an integer"),
    ({"tools": {"type": "function"}}, "tools", "invalid_type", "expected an array, but got an object"),
    ({"tools": [{"type": "function"}]}, "tools[0].name", "missing_required_parameter", "'tools[0].name'"),
    ({"tools": [{"type": "teleport"}]}, "tools[0].type", "invalid_value", "Invalid value: 'teleport'"),
    ({"tool_choice": "sometimes"}, "tool_choice", "invalid_value", "'none', 'auto', and 'required'"),
    ({"input": [{"role": "user"}]}, "input[0].content", "missing_required_parameter", "'input[0].content'"),
    ({"input": [{"role": "robot", "content": "hi"}]}, "input[0].role", "invalid_value", "Invalid value: 'robot'"),
    ({"input": ["hi"]}, "input[0]", "invalid_type", "expected an input item object, but got a string"),
    ({"input": [{"type": "function_call_output", "output": "ok"}]}, "input[0].call_id",
     "missing_required_parameter", "'input[0].call_id'"),
    ({"reasoning": {"effort": "enormous"}}, "reasoning.effort", "invalid_value", "'minimal', 'low'"),
    ({"reasoning": {"summary": "auto", "depth": 3}}, "reasoning.depth", "unknown_parameter", "'reasoning.depth'"),
    ({"include": ["everything"]}, "include[0]", "invalid_value", "'reasoning.encrypted_content'"),
    ({"store": "no"}, "store", "invalid_type", "expected a boolean"),
    ({"temperature": 3}, "temperature", "decimal_above_max_value", "Expected a value <= 2"),
    ({"max_output_tokens": 1}, "max_output_tokens", "integer_below_min_value", "Expected a value >= 16"),
    ({"max_output_tokens": 100.5}, "max_output_tokens", "invalid_type", "expected an integer, but got a decimal"),
    ({"metadata": {"ticket": 12}}, "metadata.ticket", "invalid_type", "expected a string, but got an integer"),
    ({"client_metadata": ["thread"]}, "client_metadata", "invalid_type", "expected an object, but got an array"),
    ({"previous_response_id": "resp_0123"}, "previous_response_id", "previous_response_not_found",
     "Previous response with id 'resp_0123' not found."),
])
def test_a_field_of_the_wrong_type_or_value_is_refused_by_its_path(client, changes, param, code, said):
    error = refused(client.post("/responses", json=body(**changes)))
    assert (error["param"], error["code"]) == (param, code)
    assert said in error["message"]


def test_the_recorded_request_with_one_field_broken_is_refused(client):
    broken = copy.deepcopy(RECORDED["body"])
    broken["input"][4]["arguments"] = {"run_id": "run-rec"}  # an object where the API wants a JSON string
    error = refused(client.post("/responses", json=broken))
    assert error["param"] == "input[4].arguments" and "expected a string, but got an object" in error["message"]


def test_a_refused_request_is_logged_and_uses_up_no_answer(api, client):
    api.enqueue(oa.Say("The queued answer."))
    refused(client.post("/responses", json=body(input=7)))
    assert (api.requests[-1].status, api.requests[-1].error["param"]) == (400, "input")
    assert api.pending == 1
    streamed = events(client.post("/responses", json=body()))
    assert streamed[-1]["response"]["output"][0]["content"][0]["text"] == "The queued answer."


def test_an_unknown_path_is_the_apis_404(client):
    error = refused(client.post("/chat/completions", json=body()), status=404)
    assert error["message"] == "Invalid URL (POST /v1/chat/completions)"
    assert refused(client.get("/files"), status=404)["message"] == "Invalid URL (GET /v1/files)"


def test_a_wrong_key_is_refused_before_the_body_is_read(client):
    answer = client.post("/responses", content=b"not json", headers={"authorization": "Bearer sk-wrong"})
    assert answer.status_code == 401
    assert answer.json()["error"] == {"message": "Incorrect API key provided", "type": "invalid_request_error",
                                      "param": None, "code": "invalid_api_key"}


def test_faults_carry_the_apis_error_shape(api, client):
    api.enqueue_fault(oa.rate_limit(2))
    answer = client.post("/responses", json=body())
    assert answer.status_code == 429 and answer.headers["retry-after"] == "2"
    assert answer.json()["error"] == {"message": "Rate limit reached for requests. Please try again in 2s.",
                                      "type": "rate_limit_exceeded", "param": None, "code": None}


# -- stream: false is answered as the API answers it -----------------------------------------------------


@pytest.mark.parametrize("stream", [False, ...])
def test_a_request_that_does_not_stream_gets_one_response_object(api, client, stream):
    answer = client.post("/responses", json=body(stream=stream, input=[
        {"type": "message", "role": "user", "content": [{"type": "input_text", "text": "Say hello."}]}]))
    assert answer.status_code == 200 and answer.headers["content-type"] == "application/json"
    response = answer.json()
    assert response["object"] == "response" and response["status"] == "completed"
    assert response["id"].startswith("resp_") and response["model"] == oa.MODEL
    assert response["output"][0]["type"] == "message"
    assert response["output"][0]["content"][0] == {"type": "output_text", "text": "Hello from the stand-in.",
                                                   "annotations": []}
    assert response["usage"]["output_tokens"] > 0 and response["usage"]["input_tokens"] > 0
    assert api.requests[-1].turn.prompt == "Say hello."


def test_the_models_it_serves_are_listed_and_can_be_chosen(client):
    with oa.ResponsesServer(oa.Script(oa.Say("ok")), models=("gpt-5-codex", "gpt-5.1-codex")) as other:
        listed = httpx.get(f"{other.base_url}/models").json()
        assert [m["id"] for m in listed["data"]] == ["gpt-5-codex", "gpt-5.1-codex"]
        answer = httpx.post(f"{other.base_url}/responses", json=body(model="gpt-5.1-codex", stream=False))
        assert answer.status_code == 200 and answer.json()["model"] == "gpt-5.1-codex"
    assert [m["id"] for m in client.get("/models").json()["data"]] == [oa.MODEL]
