"""Budget alerts reach people: a webhook, the GitHub Actions log and job summary, the dashboard.

Runs are real (the anthropic SDK against the local Messages API, Claude building, real commits);
the webhook is a local receiver that speaks like Slack's incoming webhooks.
"""

from __future__ import annotations

import json
import logging
import subprocess
import time

import pytest
from expect import check_budget
from standins.webhook import WebhookReceiver

from gitorch import alerts
from gitorch import config as config_module
from gitorch.dashboard import data as dashboard_data
from gitorch.dashboard import render
from gitorch.errors import ConfigError
from gitorch.model import Metric, Usage, utcnow
from gitorch.run.assemble import assemble
from gitorch.run.state import RunRequest
from gitorch.simulate import demo_scenario
from gitorch.simulate.anthropic_api import AnthropicServer
from gitorch.simulate.demo import DEMO_KEY, ScriptedArchitect, make_repository
from gitorch.store import open_store

PLAN = {"summary": "An email template.", "tasks": [demo_scenario.PLAN["tasks"][0]]}
# One limit: the month's, $1. The run and day limits are off so that only the month's periods count;
# the architect's ladder is off so that every call is priced on one model.
BUDGET = "budget:\n  monthly_usd: 1.0\n  per_run_usd: null\nmodels:\n  ladder:\n    enabled: false\n"


@pytest.fixture
def hook():
    with WebhookReceiver() as receiver:
        yield receiver


@pytest.fixture
def world(tmp_path):
    repo = make_repository(tmp_path, config_yaml=BUDGET)
    with AnthropicServer(scenario=ScriptedArchitect(plan=PLAN)) as api:
        env = {"ANTHROPIC_API_KEY": DEMO_KEY, "ANTHROPIC_BASE_URL": api.base_url,
               "GITORCH_HOME": str(tmp_path / "state")}
        yield repo, env


def _spend(store, usd: float) -> None:
    """Spending made earlier this month (another run, another person)."""
    store.record_metric(Metric("claude", "claude-sonnet-5-5", Usage(1, 1), usd, usd, step="earlier"))


def _run(repo, env, text):
    cfg = config_module.load(cwd=repo, env=env)
    pipeline, builders = assemble(cfg, repo_path=repo)
    try:
        return pipeline.start(RunRequest(text=text, confirmed=True, agent="claude")), pipeline.store
    finally:
        builders.close()


def test_a_webhook_gets_one_alert_per_period_and_threshold_over_runs_that_cross_80_then_100_percent(world, hook):
    repo, env = world
    env = {**env, "BUDGET_WEBHOOK_URL": hook.url}
    store = open_store(config_module.load(cwd=repo, env=env))
    _spend(store, 0.78)
    first, _ = _run(repo, env, "Add an email template for shipped orders")
    assert first.run.status == "done" and any("80%" in a for a in first.alerts)
    second, _ = _run(repo, env, "Add a plain-text shipped email too")
    assert second.run.status == "done" and second.alerts  # still past the alert line: said in the run, not sent
    assert len(hook.posts) == 1
    _spend(store, 0.2)
    third, _ = _run(repo, env, "Add an HTML shipped email")
    fourth, _ = _run(repo, env, "Add a shipped email in French")
    assert third.run.status == fourth.run.status == "paused"  # 100%: paid calls stop, runs wait

    texts = [p["text"] for p in hook.posts]
    assert len(texts) == 2, texts
    assert "Budget alert: month budget:" in texts[0] and "alert at 80%" in texts[0]
    assert "Budget paused: month budget:" in texts[1] and "would pass the limit" in texts[1]
    assert all(t.startswith(f"gitorch budget ({repo.name}): ") for t in texts)
    # No secret travels: not the API key, not the webhook's own address.
    sent = json.dumps(hook.posts) + json.dumps([a.headers for a in hook.attempts])
    assert DEMO_KEY not in sent and hook.token not in json.dumps(hook.posts)
    assert [(e["kind"], e["scope"]) for e in store.budget_events()] == [("alert", "month"), ("paused", "month")]
    store.close()


@pytest.mark.slow  # the retries wait as they would for a real webhook
def test_a_webhook_that_is_down_never_makes_a_run_fail(world, hook, caplog):
    repo, env = world
    caplog.set_level(logging.WARNING)
    hook.answer(500, times=100)  # a webhook that fails every time
    env = {**env, "BUDGET_WEBHOOK_URL": hook.url}
    store = open_store(config_module.load(cwd=repo, env=env))
    _spend(store, 0.79)
    done, _ = _run(repo, env, "Add an email template for shipped orders")
    assert done.run.status == "done"
    assert len(hook.attempts) == alerts.ATTEMPTS and hook.posts == []  # tried three times, then given up
    hook.stop()  # now nothing listens at all: connection refused
    _spend(store, 0.2)
    paused, _ = _run(repo, env, "Add a plain-text shipped email too")
    assert paused.run.status == "paused" and "gitorch run --resume" in paused.message
    said = [r.getMessage() for r in caplog.records if r.name == "gitorch.alerts"]
    assert any("answered HTTP 500 after 3 attempts" in m for m in said)
    assert any("could not be reached (connection refused) after 3 attempts" in m for m in said)
    logged = "\n".join(r.getMessage() for r in caplog.records)
    assert hook.token not in logged and "/services/" not in logged  # the address is never written down
    store.close()


def test_inside_github_actions_an_alert_is_a_warning_annotation_and_a_job_summary_line(tmp_path, capsys):
    summary = tmp_path / "summary.md"
    env = {"GITHUB_ACTIONS": "true", "GITHUB_STEP_SUMMARY": str(summary), "GITHUB_REPOSITORY": "octo/shop",
           "MONTHLY_BUDGET_USD": "1", "GITORCH_HOME": str(tmp_path / "state")}
    cfg = config_module.load(cwd=tmp_path, env=env)
    with open_store(cfg) as store:
        _spend(store, 0.8)
        first = check_budget(store, cfg, 0.05, now=utcnow())
        again = check_budget(store, cfg, 0.05, now=utcnow())
    assert first == again and len(first) == 1  # said to the run each time...
    err = capsys.readouterr().err
    annotations = [line for line in err.splitlines() if line.startswith("::warning")]
    assert len(annotations) == 1  # ...but to people once
    assert annotations[0].startswith("::warning title=gitorch budget::Budget alert: month budget: $0.85 of $1.00 "
                                     "(85%25) with this call; alert at 80%25")
    assert summary.read_text().count("> **gitorch budget:** Budget alert: month budget: $0.85 of $1.00 (85%)") == 1


def test_an_annotation_cannot_be_broken_into_a_second_workflow_command():
    line = alerts.annotation("Budget alert: 100%\n::error::not from gitorch\r\nend")
    assert "\n" not in line and "\r" not in line
    assert line == "::warning title=gitorch budget::Budget alert: 100%25%0A::error::not from gitorch%0D%0Aend"


def test_the_dashboard_shows_the_budget_alerts_said_this_month(tmp_path):
    env = {"MONTHLY_BUDGET_USD": "100", "GITORCH_HOME": str(tmp_path / "state")}
    cfg = config_module.load(cwd=tmp_path, env=env)
    cfg.budget.per_run_usd = 1.0
    with open_store(cfg) as store:
        store.record_metric(Metric("claude", "claude-sonnet-5-5", Usage(1, 1), 0.85, 0.85, run_id="run-a"))
        check_budget(store, cfg, 0.01, run_id="run-a", now=utcnow())
        snapshot = dashboard_data.snapshot(store, cfg)
    [notice] = snapshot["alerts"]
    assert notice["kind"] == "budget-alert" and notice["text"].startswith("run budget: $0.86 of $1.00 (86%)")
    html = render.panels(snapshot, {"notices": []})["notices"]
    assert 'data-notice="budget-alert"' in html and "run budget: $0.86 of $1.00" in html


# -- the webhook on its own ---------------------------------------------------------------------------


def test_a_failing_webhook_is_retried_with_backoff_and_its_retry_after_honoured(hook):
    waits: list[float] = []
    hook.answer(503, times=1)
    hook.answer(429, retry_after="0.2")
    assert alerts.post(hook.url, {"text": "hello"}, timeout_s=2, sleep=waits.append) is True
    assert [a.status for a in hook.attempts] == [503, 429, 200] and hook.posts == [{"text": "hello"}]
    assert 0.375 <= waits[0] <= 0.5 and waits[1] == 0.2


def test_a_webhook_that_hangs_is_given_up_after_its_timeout(hook):
    hook.delay_s = 1.5
    started = time.monotonic()
    assert alerts.post(hook.url, {"text": "hello"}, timeout_s=0.2, sleep=lambda s: None) is False
    assert time.monotonic() - started < 1.5  # three attempts of 0.2 s, not three of 1.5 s
    assert len(hook.attempts) == alerts.ATTEMPTS


@pytest.mark.parametrize("status", [400, 403, 404, 410])
def test_a_webhook_that_refuses_is_not_asked_again(hook, status):
    hook.answer(status)
    assert alerts.post(hook.url, {"text": "hello"}, timeout_s=2, sleep=lambda s: None) is False
    assert len(hook.attempts) == 1


def test_a_redirect_is_not_followed(hook):
    hook.answer(302, location="http://127.0.0.1:9/elsewhere")
    assert alerts.post(hook.url, {"text": "hello"}, timeout_s=2, sleep=lambda s: None) is False
    assert len(hook.attempts) == 1


# -- the webhook's address: a secret, and a new input ---------------------------------------------------


@pytest.mark.parametrize("url, why", [
    ("http://hooks.example.com/services/T0/B0/hooksecretXYZ", "https://"),
    ("ftp://hooks.example.com/services/hooksecretXYZ", "https://"),
    ("javascript:alert('hooksecretXYZ')", "https://"),
    ("https://hooks.example.com/services/hooksecretXYZ with spaces", "without spaces"),
    ("https://hooks.example.com/services/\u200bhooksecretXYZ", "visible characters"),
    ("https://hooks.example.com/services/\udce9hooksecretXYZ", "visible characters"),  # not UTF-8 in the environment
    ("https://hooks.example.com/" + "hooksecretXYZ" * 200, "at most 2048"),
])
def test_a_bad_webhook_address_is_refused_without_repeating_it(tmp_path, url, why):
    with pytest.raises(ConfigError) as info:
        config_module.load(cwd=tmp_path, env={"BUDGET_WEBHOOK_URL": url})
    text = str(info.value)
    assert "budget.webhook_url" in text and "BUDGET_WEBHOOK_URL" in text and why in text
    assert "hooksecretXYZ" not in text and "value hidden" in text


def test_a_webhook_address_in_the_file_is_read_and_kept_secret(tmp_path):
    (tmp_path / ".git").mkdir()
    (tmp_path / ".git" / "HEAD").write_text("ref: refs/heads/main\n")
    (tmp_path / ".gitorch.yml").write_text("budget:\n  webhook_url: https://hooks.slack.com/services/T0/B0/"
                                           "hooksecretXYZ\n")
    cfg = config_module.load(cwd=tmp_path, env={})
    assert cfg.budget.webhook_url.get_secret_value().endswith("hooksecretXYZ")
    assert "hooksecretXYZ" not in repr(cfg) and "hooksecretXYZ" not in str(cfg.budget)
    assert any(v.endswith("hooksecretXYZ") for v in cfg.secrets.values())  # redacted wherever secrets are


def test_the_webhook_address_is_never_printed_logged_or_stored(tmp_path, hook, caplog, capsys):
    caplog.set_level(logging.DEBUG)
    summary = tmp_path / "summary.md"
    env = {"BUDGET_WEBHOOK_URL": hook.url, "GITHUB_ACTIONS": "true", "GITHUB_STEP_SUMMARY": str(summary),
           "MONTHLY_BUDGET_USD": "1", "GITORCH_HOME": str(tmp_path / "state")}
    cfg = config_module.load(cwd=tmp_path, env=env)
    with open_store(cfg) as store:
        _spend(store, 0.8)
        check_budget(store, cfg, 0.05, now=utcnow())
        hook.answer(500, times=3)
        _spend(store, 0.2)
        with pytest.raises(Exception, match="would pass the limit"):
            check_budget(store, cfg, 0.05, now=utcnow())
        stored = json.dumps(store.budget_events()) + json.dumps(store.outbox_pending(100), default=str)
        page = json.dumps(dashboard_data.snapshot(store, cfg), default=str)
    out = capsys.readouterr()
    written = [out.out, out.err, summary.read_text(), stored, page, json.dumps(hook.posts),
               "\n".join(r.getMessage() for r in caplog.records)]
    assert len(hook.posts) == 1 and len(hook.attempts) == 1 + alerts.ATTEMPTS
    for text in written:
        assert hook.token not in text


def test_the_test_command_a_model_wrote_never_sees_the_webhook_address(repo, monkeypatch):
    from gitorch.git.repository import Repository

    url = "https://chat.example.com/hooks/hooksecretXYZ0123"  # no known shape: found by its value
    monkeypatch.setenv("BUDGET_WEBHOOK_URL", url)
    monkeypatch.setenv("NOTIFY_TARGET", url)
    cfg = config_module.load(cwd=repo)
    head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=repo, capture_output=True, text=True).stdout.strip()
    result = Repository(repo, cfg).verify(head, "env | grep hooksecretXYZ0123 || echo none-found", timeout_s=30)
    assert result.tail.strip() == "none-found"
