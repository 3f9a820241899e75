"""Bounded input everywhere: hostile config, text that is not UTF-8, payloads nested too deep, long
dependency chains and absurd periods each get a clear error (exit 1) that names the cause and a fix,
and change nothing."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading

import pytest

from gitorch import config as config_module
from gitorch.cli import main
from gitorch.errors import ConfigError, GitorchError
from gitorch.git import taskfile
from gitorch.mcp_server import Handoff
from gitorch.store.sqlite import SqliteStore

# The issue's bomb: nine levels of aliases under routing.accuracy_window, 9**9 values once expanded.
BOMB = "routing:\n  accuracy_window: [&a [l,l,l,l,l,l,l,l,l]" + "".join(
    f", &{b} [" + ", ".join([f"*{a}"] * 9) + "]" for a, b in zip("abcdefgh", "bcdefghi", strict=True)) + "]\n"


def run_cli(capsys, *args: str) -> tuple[int, str]:
    with pytest.raises(SystemExit) as ended:
        main(list(args))
    return ended.value.code, capsys.readouterr().err


def decisions(cfg) -> int:
    store = SqliteStore(cfg.db_path)
    try:
        return len(store.recent_decisions(limit=1000))
    finally:
        store.close()


def test_a_yaml_alias_bomb_is_refused_before_it_is_built_and_never_quoted(repo, capsys):
    assert len(BOMB) < 400 and BOMB.count("*") == 72
    (repo / ".gitorch.yml").write_text(BOMB)
    with pytest.raises(ConfigError) as err:
        config_module.load(cwd=repo)
    assert "more than 10,000 values once its anchors and aliases" in err.value.message
    assert "needs no anchors" in err.value.hint
    code, said = run_cli(capsys, "route", "Add CSV export")
    assert code == 1 and "anchors and aliases" in said and "[l, l" not in said and len(said) < 600


@pytest.mark.parametrize(("content", "cause"), [
    ("routing:\n  accuracy_window: &a [*a]\n", "anchors and aliases"),
    ("routing:\n  accuracy_window: " + "[" * 5000 + "]" * 5000 + "\n", "nested too deeply"),
    ("routing:\n  accuracy_window: " + "[" * 40 + "]" * 40 + "\n", "nested 42 levels deep"),
    ("# " + "x" * 300_000 + "\n", "a configuration file may have at most 262,144"),
    (b"routing:\n  strategy: \xff\n", "not UTF-8 text: byte 21 (line 2)"),
], ids=["self-reference", "5000-deep", "42-deep", "300-KB", "not-utf8"])
def test_hostile_config_files_get_an_error_that_names_the_cause(repo, content, cause):
    path = repo / ".gitorch.yml"
    path.write_bytes(content if isinstance(content, bytes) else content.encode())
    with pytest.raises(ConfigError) as err:
        config_module.load(cwd=repo)
    assert cause in err.value.message and err.value.hint


def test_a_large_value_in_an_error_is_described_not_repeated(repo):
    (repo / ".gitorch.yml").write_text("routing:\n  accuracy_window: [" + ", ".join(["1"] * 5000) + "]\n"
                                       "  strategy: '" + "z" * 500 + "'\n")
    with pytest.raises(ConfigError) as err:
        config_module.load(cwd=repo)
    assert "'routing.accuracy_window' = a list of 5000 items" in err.value.message
    assert "z" * 100 not in err.value.message and len(err.value.message) < 800


def test_route_text_that_is_not_utf8_is_refused_and_nothing_is_recorded(repo, capsys):
    cfg = config_module.load(cwd=repo)
    before = decisions(cfg)
    for text, found in (("fix \udcff bug", "the byte 0xff, which is not UTF-8, at character 5"),
                        ("fix \ud800 bug", "a lone surrogate U+D800 at character 5")):
        code, said = run_cli(capsys, "route", text)
        assert code == 1 and f"TEXT holds {found}" in said and "hint: give the text as UTF-8" in said
    assert decisions(cfg) == before


def test_a_task_file_that_is_not_utf8_names_the_byte_and_line(repo, capsys):
    (repo / "TASK.md").write_bytes(b"# Tasks\n- [ ] do \xff it\n")
    code, said = run_cli(capsys, "run", "--task-file", "TASK.md", "--yes")
    assert code == 1 and "TASK.md is not UTF-8 text: byte 17 (line 2)" in said


def test_an_event_payload_nested_200000_deep_is_refused(repo, tmp_path, monkeypatch, capsys):
    payload = tmp_path / "event.json"
    payload.write_text('{"action": "labeled", "issue": ' + "[" * 200_000 + "]" * 200_000 + "}")
    monkeypatch.setenv("GITHUB_EVENT_NAME", "issues")
    monkeypatch.setenv("GITHUB_EVENT_PATH", str(payload))
    code, said = run_cli(capsys, "action")
    assert code == 1 and "nested too deeply to be a GitHub event" in said


def test_a_1500_item_backward_after_chain_is_read_and_a_circle_at_its_end_is_named():
    n = 1500
    chain = "\n".join(f"- [ ] step {i} (#s{i})" + (f" after #s{i + 1}" if i < n else "") for i in range(1, n + 1))
    parsed = taskfile.parse(chain)
    assert len(parsed.items) == n and parsed.items[0].after == ["s2"]
    with pytest.raises(taskfile.TaskFileError) as err:
        taskfile.parse(chain + " after #s1")
    assert "items wait for each other in a circle: #s1 -> #s2" in err.value.message
    assert err.value.message.count("#s") == n + 1


def test_session_metrics_for_a_billion_days_is_refused(repo):
    cfg = config_module.load(cwd=repo)
    store = SqliteStore(cfg.db_path)
    try:
        with pytest.raises(GitorchError, match="days must be at most 3650") as err:
            Handoff(cfg, store).metrics(10**9)
        assert "--days 365" in err.value.hint
    finally:
        store.close()


@pytest.mark.slow
def test_mcp_answers_a_lone_surrogate_and_a_billion_days_with_errors(repo, tmp_path):
    """Raw JSON-RPC over stdio, as a client that escapes a lone surrogate would send it."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    requests = [
        {"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
            "protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "t", "version": "1"}}},
        {"jsonrpc": "2.0", "method": "notifications/initialized"},
        {"jsonrpc": "2.0", "id": 2, "method": "tools/call", "params": {"name": "route", "arguments": {"text": "fix \ud800"}}},
        {"jsonrpc": "2.0", "id": 3, "method": "tools/call",
         "params": {"name": "session_metrics", "arguments": {"days": 10**9}}},
    ]
    lines = "".join(json.dumps(r) + "\n" for r in requests)  # json escapes the surrogate as \ud800
    proc = subprocess.Popen([sys.executable, "-m", "gitorch", "mcp"], cwd=repo, env=env, stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    answers: dict[int, dict] = {}
    watchdog = threading.Timer(60, proc.kill)  # a server that never answers fails the test, not hangs it
    watchdog.start()
    try:
        assert proc.stdin is not None and proc.stdout is not None
        proc.stdin.write(lines.encode())
        proc.stdin.flush()
        while len(answers) < 3:
            line = proc.stdout.readline()
            assert line, proc.stderr.read().decode() if proc.stderr else "the server ended"
            message = json.loads(line)
            if "id" in message:
                answers[message["id"]] = message
    finally:
        watchdog.cancel()
        proc.stdin.close()
        proc.wait(timeout=30)
    route, metrics = answers[2]["error"], answers[3]["result"]
    assert route["code"] == -32602 and "argument 'text' holds a lone surrogate U+D800 at character 5" in route["message"]
    assert metrics["isError"] and "days must be at most 3650" in metrics["content"][0]["text"]


def test_an_issue_title_that_is_not_utf8_is_refused_before_anything_is_counted(repo, tmp_path, monkeypatch, capsys):
    payload = tmp_path / "event.json"
    payload.write_bytes(b'{"action": "labeled", "label": {"name": "gitorch"}, "repository": {"full_name": "o/r"}, '
                        b'"sender": {"login": "alice", "type": "User"}, "issue": {"number": 7, '
                        b'"title": "Fix \xff the form", "body": "", "state": "open", "author_association": "OWNER"}}')
    monkeypatch.setenv("GITHUB_EVENT_NAME", "issues")
    monkeypatch.setenv("GITHUB_EVENT_PATH", str(payload))
    code, said = run_cli(capsys, "action")
    assert code == 1 and "is not UTF-8: byte 171 cannot be read" in said
    assert not config_module.load(cwd=repo).db_path.exists()  # nothing was opened, let alone counted


def test_the_alias_bomb_stops_gitorch_action_and_lets_the_pre_push_hook_step_aside(repo, tmp_path, monkeypatch):
    (repo / ".gitorch.yml").write_text(BOMB)
    (repo / "TASK.md").write_text("- [ ] Add CSV export\n")
    subprocess.run(["git", "-C", str(repo), "add", "-A"], check=True)
    subprocess.run(["git", "-C", str(repo), "commit", "-qm", "tasks"], check=True)
    event = tmp_path / "event.json"
    event.write_text(json.dumps({"action": "labeled", "label": {"name": "gitorch"}, "repository": {"full_name": "o/r"},
                                 "sender": {"login": "a", "type": "User"},
                                 "issue": {"number": 1, "title": "t", "body": "b", "state": "open"}}))
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path), "GITHUB_EVENT_NAME": "issues",
           "GITHUB_EVENT_PATH": str(event)}
    action = subprocess.run([sys.executable, "-m", "gitorch", "action"], cwd=repo, env=env, capture_output=True,
                            text=True, timeout=60)
    assert action.returncode == 1 and "anchors and aliases" in action.stderr and "[l, l" not in action.stderr
    head = subprocess.run(["git", "-C", str(repo), "rev-parse", "HEAD"], capture_output=True, text=True).stdout.strip()
    hook = subprocess.run([sys.executable, "-m", "gitorch", "hook", "pre-push", "origin", str(tmp_path / "none")],
                          cwd=repo, env=env, capture_output=True, text=True, timeout=60,
                          input=f"refs/heads/main {head} refs/heads/main {'0' * 40}\n")
    assert hook.returncode == 0 and "pre-push check skipped, the push goes on" in hook.stderr
    assert "anchors and aliases" in hook.stderr
