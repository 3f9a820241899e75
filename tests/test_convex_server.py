"""The local Convex server answers as the real backend does, for both of the `convex` package's clients."""

from __future__ import annotations

import threading

import pytest
import requests
from convex import ConvexClient
from convex.http_client import ConvexExecutionError, ConvexHttpClient
from standins.convex_local import LocalConvex

from gitorch.errors import GitorchError
from gitorch.store.convex import FUNCTIONS_VERSION

pytestmark = pytest.mark.node


@pytest.fixture(scope="module")
def server():
    with LocalConvex() as convex:
        yield convex


def post(server, kind: str, body, headers=None) -> requests.Response:
    return requests.post(f"{server.url}/api/{kind}", json=body, headers=headers or {}, timeout=10)


def test_integer_valued_floats_are_written_as_floats(server):
    response = post(server, "query", {"path": "mirror:version", "args": {}, "format": "convex_encoded_json"})
    assert response.status_code == 200
    assert f'"functions":{FUNCTIONS_VERSION}.0' in response.text  # the Python client rejects a bare integer
    assert ConvexHttpClient(server.url).query("mirror:version")["functions"] == FUNCTIONS_VERSION


@pytest.mark.parametrize("body, code", [
    ("{not json", "BadJsonBody"),
    ([1, 2], "BadJsonBody"),
    ({"args": {}}, "BadJsonBody"),
    ({"path": "mirror:version", "args": "nope"}, "BadJsonBody"),
    ({"path": "mirror:version", "args": {}, "format": "yaml"}, "BadJsonBody"),
    ({"path": "mirror:version", "args": {"$weird": 1}}, "BadConvexValue"),
])
def test_a_malformed_request_gets_a_4xx_with_code_and_message(server, body, code):
    if isinstance(body, str):
        response = requests.post(f"{server.url}/api/query", data=body, timeout=10)
    else:
        response = post(server, "query", body)
    assert response.status_code == 400
    assert response.json()["code"] == code and response.json()["message"]


def test_a_function_that_throws_answers_200_with_status_error(server):
    admin = {"Authorization": f"Convex {server.admin_key}"}
    response = post(server, "mutation", {"path": "mcp:writePlan", "args": {"key": "k"}}, headers=admin)
    assert response.status_code == 200
    reply = response.json()
    assert reply["status"] == "error" and "Missing required field `version`" in reply["errorMessage"]
    client = ConvexHttpClient(server.url)
    client.set_admin_auth(server.admin_key)
    with pytest.raises(ConvexExecutionError, match="Missing required field"):
        client.mutation("mcp:writePlan", {"key": "k"})


def test_calling_a_query_as_a_mutation_says_what_it_is(server):
    reply = post(server, "mutation", {"path": "mirror:version", "args": {}}).json()
    assert "defined as Query" in reply["errorMessage"]


def test_internal_functions_need_the_admin_key(server):
    args = {"table": "metrics", "paginationOpts": {"numItems": 1, "cursor": None}}
    client = ConvexHttpClient(server.url)
    with pytest.raises(ConvexExecutionError, match="Could not find public function"):
        client.query("mirror:dump", args)
    client.set_admin_auth("wrong")
    with pytest.raises(Exception, match="401 BadAdminKey"):
        client.query("mirror:dump", args)
    client.set_admin_auth(server.admin_key)
    assert client.query("mirror:dump", args)["isDone"] is True


def test_the_websocket_client_gets_answers_even_for_failing_mutations(server):
    client = ConvexClient(server.url)
    client.set_admin_auth(server.admin_key)
    results: list[object] = []

    def call() -> None:
        try:
            client.mutation("mcp:updateReviewStatus", {"key": "no-such", "version": 2, "runner": "r",
                                                       "reviewStatus": "approved"})
        except Exception as exc:  # the client raises the function's error
            results.append(exc)

    thread = threading.Thread(target=call, daemon=True)
    thread.start()
    thread.join(20)  # without a Transition after the failure the call would never return
    assert results and "no artifact 'no-such'" in str(results[0])
    assert client.query("mirror:version")["functions"] == FUNCTIONS_VERSION


def test_switches_refuse_and_recover(server):
    server.set_mode("refuse")
    with pytest.raises(requests.ConnectionError):
        post(server, "query", {"path": "mirror:version", "args": {}})
    server.set_mode("error")
    assert post(server, "query", {"path": "mirror:version", "args": {}}).status_code == 500
    server.set_mode("normal")
    assert post(server, "query", {"path": "mirror:version", "args": {}}).json()["status"] == "success"


def test_an_unknown_mode_is_refused(server):
    with pytest.raises(GitorchError, match="unknown mode 'sideways'") as err:
        server.set_mode("sideways")
    assert "normal" in err.value.hint
