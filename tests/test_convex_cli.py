"""`gitorch sync`, `gitorch sync --status` and the doctor's Convex check, as a user runs them."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner
from standins.convex_local import LocalConvex

from gitorch import config as config_module
from gitorch.cli import cli
from gitorch.model import Metric, Usage
from gitorch.store import convex as convex_module
from gitorch.store.convex import doctor_check
from gitorch.store.sqlite import SqliteStore

pytestmark = pytest.mark.node


@pytest.fixture(scope="module")
def server():
    with LocalConvex() as convex:
        yield convex


@pytest.fixture
def convex(server, monkeypatch):
    monkeypatch.setenv("CONVEX_URL", server.url)
    monkeypatch.setenv("CONVEX_ADMIN_KEY", server.admin_key)
    yield server
    server.set_mode("normal")


def write_metrics(n: int) -> SqliteStore:
    store = SqliteStore(config_module.load().db_path)
    for i in range(n):
        store.record_metric(Metric(agent="claude", model="claude-sonnet-5-5", usage=Usage(i, 1), cost_usd=0.1,
                                   baseline_cost_usd=0.1))
    return store


def test_sync_sends_the_outbox_and_status_shows_nothing_left(convex):
    store = write_metrics(3)
    runner = CliRunner()

    before = runner.invoke(cli, ["sync", "--status"])
    result = runner.invoke(cli, ["sync"])
    after = runner.invoke(cli, ["sync", "--status", "--json"])

    assert "pending: 3 records" in before.output and "oldest: metrics/" in before.output
    assert result.exit_code == 0, result.output
    assert f"sent 3 records to {convex.url}" in result.output and "0 pending" in result.output
    assert json.loads(after.output)["pending"] == 0
    assert store.outbox_count() == 0


def test_sync_while_convex_is_down_fails_with_a_hint_and_status_shows_the_error(convex, monkeypatch):
    monkeypatch.setattr(convex_module, "backoff_s", lambda attempt: 0.0)
    write_metrics(2)
    convex.set_mode("refuse")
    runner = CliRunner()

    result = runner.invoke(cli, ["sync"])
    status = runner.invoke(cli, ["sync", "--status"])

    assert result.exit_code == 1
    assert "cannot reach Convex" in str(result.exception)
    assert "pending: 2 records" in status.output
    assert "3 failed attempts" in status.output
    assert "last error: cannot reach Convex" in status.output


def test_sync_without_convex_configured_says_how_to_set_it_up():
    result = CliRunner().invoke(cli, ["sync"])
    assert result.exit_code == 1
    assert "CONVEX_URL is empty" in result.exception.message
    assert "docs/convex.md" in result.exception.hint


def test_sync_status_works_without_convex():
    write_metrics(1)
    result = CliRunner().invoke(cli, ["sync", "--status"])
    assert result.exit_code == 0
    assert "Convex: not configured" in result.output and "pending: 1 record\n" in result.output


def test_doctor_check_passes_against_a_deployment_with_our_functions(convex):
    check = doctor_check(config_module.load())
    assert (check.status, check.name) == ("ok", "convex")
    assert f"functions v{convex_module.FUNCTIONS_VERSION}" in check.detail


def test_doctor_check_catches_functions_of_another_version(convex, monkeypatch):
    deployed = convex_module.FUNCTIONS_VERSION
    monkeypatch.setattr(convex_module, "FUNCTIONS_VERSION", deployed + 1)
    check = doctor_check(config_module.load())
    assert check.status == "fail" and f"version {deployed}" in check.detail and "npx convex deploy" in check.fix


def test_doctor_check_fails_when_convex_does_not_answer(convex):
    convex.set_mode("refuse")
    check = doctor_check(config_module.load())
    assert check.status == "fail" and "cannot reach Convex" in check.detail


def test_doctor_check_warns_without_a_key(convex, monkeypatch):
    monkeypatch.delenv("CONVEX_ADMIN_KEY")
    check = doctor_check(config_module.load())
    assert check.status == "warn" and "CONVEX_DEPLOY_KEY" in check.fix


def test_doctor_check_names_a_bad_url(monkeypatch):
    monkeypatch.setenv("CONVEX_URL", "https://happy-otter-123.convex.cloud/")
    check = doctor_check(config_module.load())
    assert check.status == "fail" and "trailing" in check.fix


def test_doctor_check_without_convex_is_fine():
    assert doctor_check(config_module.load()).status == "ok"


def test_status_lists_parked_records_and_retry_parked_sends_them_again(convex):
    store = write_metrics(1)
    with store._write() as db:
        store._enqueue(db, "nonsense", "n-1", {"a": 1})
    runner = CliRunner()

    refused = runner.invoke(cli, ["sync"])
    for _ in range(4):  # the default parks a record at its fifth refusal
        runner.invoke(cli, ["sync"])
    status = runner.invoke(cli, ["sync", "--status"])
    check = doctor_check(config_module.load(), store)
    again = runner.invoke(cli, ["sync", "--retry-parked", "--json"])

    assert refused.exit_code == 1 and "Convex refused 1 record" in str(refused.exception)
    assert "parked: 1 record Convex refused 5 times" in status.output
    assert "nonsense/n-1 v1: " in status.output and "unknown table 'nonsense'" in status.output
    assert check.status == "warn" and "1 record parked" in check.detail and "--retry-parked" in check.fix
    assert again.exit_code == 1  # still refused: the deployment was not fixed
    assert json.loads(again.output)["requeued"] == 1
    assert store.outbox_parked_count() == 0 and store.outbox_count() == 1
    assert doctor_check(config_module.load(), store).status == "ok"
