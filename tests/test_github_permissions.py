"""Who may trigger gitorch: associations, the permission API, bots, the allow-list, the daily limit."""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta

import pytest

from gitorch import config as config_module
from gitorch.commands.table import COMMANDS
from gitorch.github.events import Actor, Event
from gitorch.github.permissions import check_trigger, runs_today
from gitorch.github.rest import RestProvider
from gitorch.retry import RetryPolicy
from gitorch.simulate.github_api import GitHubDouble
from gitorch.store.sqlite import SqliteStore

TOKEN = "ghs_" + "p" * 36


@pytest.fixture
def gh():
    with GitHubDouble() as double:
        yield double


@pytest.fixture
def cfg(gh):
    return config_module.load(env={"GITHUB_TOKEN": TOKEN, "GITHUB_API_URL": gh.base_url})


@pytest.fixture
def provider(gh, cfg):
    with RestProvider(cfg, gh.full_name, policy=RetryPolicy(attempts=2, sleep=lambda s: None)) as p:
        yield p


@pytest.fixture
def store(tmp_path):
    with SqliteStore(tmp_path / "state.db") as s:
        yield s


def request(login="alice", *, association=None, type="User", kind="task", command=None, key="issue-1",
            state="open", locked=False, from_gitorch=False) -> Event:
    return Event(kind=kind, event="issues", action="labeled", repo="octo-org/sample",
                   actor=Actor(login, type, association), key=key, issue=1, issue_state=state, issue_locked=locked,
                   command=command, from_gitorch=from_gitorch)


def test_trusted_association_is_decided_without_any_api_call(gh, cfg, provider, store):
    for association in ("OWNER", "MEMBER", "COLLABORATOR"):
        assert check_trigger(request(association=association, key=f"k-{association}"), cfg.github, provider, store)
    assert gh.requests == []


def test_untrusted_association_is_refused_without_any_api_call(gh, cfg, provider, store, caplog):
    caplog.set_level(logging.INFO, logger="gitorch.github")
    for association in ("CONTRIBUTOR", "FIRST_TIME_CONTRIBUTOR", "NONE"):
        decision = check_trigger(request(association=association), cfg.github, provider, store)
        assert not decision and association in decision.reason
    assert gh.requests == [] and gh.comments == {}  # refusals are logged, never posted
    assert "refused issue-1 from alice: alice is NONE" in caplog.text


def test_associations_are_configurable(cfg, provider, store):
    cfg.github.trusted_associations = ["OWNER"]
    assert not check_trigger(request(association="MEMBER"), cfg.github, provider, store)


def test_without_association_the_permission_api_decides(gh, cfg, provider, store):
    gh.add_collaborator("writer", "write")
    gh.add_collaborator("admin", "admin")
    gh.add_collaborator("reader", "read")
    assert check_trigger(request("writer", key="a"), cfg.github, provider, store).lookup
    assert check_trigger(request("admin", key="b"), cfg.github, provider, store)
    refused = check_trigger(request("reader", key="c"), cfg.github, provider, store)
    assert not refused and "write or admin is needed" in refused.reason
    assert not check_trigger(request("stranger", key="d"), cfg.github, provider, store)
    assert [p for m, p, s in gh.requests] == [f"/repos/{gh.full_name}/collaborators/{u}/permission"
                                              for u in ("writer", "admin", "reader", "stranger")]


@pytest.mark.parametrize("status", [502, 403, 404])
def test_an_api_that_cannot_answer_means_no_run(gh, cfg, provider, store, status):
    gh.add_collaborator("writer", "write")
    gh.fail("GET", "/collaborators/", status, times=5)
    decision = check_trigger(request("writer"), cfg.github, provider, store)
    assert not decision and "no run" in decision.reason


def test_unreachable_api_means_no_run(gh, cfg, provider, store):
    gh.add_collaborator("writer", "write")
    gh.stop()
    assert not check_trigger(request("writer"), cfg.github, provider, store)
    assert not check_trigger(request("writer"), cfg.github, None, store)


def test_bots_never_trigger_unless_allowed(cfg, provider, store):
    bot = request("renovate[bot]", association="OWNER", type="Bot")
    assert "is a bot" in check_trigger(bot, cfg.github, provider, store).reason
    cfg.github.allowed_bots = ["renovate[bot]"]
    assert check_trigger(bot, cfg.github, provider, store)


def test_a_login_ending_in_bot_proves_nothing(gh, cfg, provider, store):
    cfg.github.allowed_bots = ["helper[bot]"]
    # a person whose name looks like an allowed bot is still a person: association decides
    assert not check_trigger(request("helper[bot]", association="NONE", type="User"), cfg.github, provider, store)
    # and a real bot with a name that is not on the list is refused whatever its association
    assert not check_trigger(request("other[bot]", association="OWNER", type="Bot"), cfg.github, provider, store)


def test_gitorch_own_text_never_triggers(cfg, provider, store):
    decision = check_trigger(request(association="OWNER", from_gitorch=True), cfg.github, provider, store)
    assert not decision and "gitorch's own" in decision.reason


def test_closed_and_locked_issues_are_skipped(cfg, provider, store):
    assert "closed" in check_trigger(request(association="OWNER", state="closed"), cfg.github, provider, store).reason
    assert "locked" in check_trigger(request(association="OWNER", locked=True), cfg.github, provider, store).reason


def test_daily_limit_per_person(cfg, provider, store):
    cfg.github.runs_per_person_per_day = 2
    assert check_trigger(request(association="OWNER", key="issue-1"), cfg.github, provider, store)
    assert check_trigger(request(association="OWNER", key="issue-1"), cfg.github, provider, store)  # re-delivered
    assert check_trigger(request(association="OWNER", key="issue-2"), cfg.github, provider, store)
    third = check_trigger(request(association="OWNER", key="issue-3"), cfg.github, provider, store)
    assert not third and "limit of 2 runs per day" in third.reason
    # questions that cost nothing are not counted, other people have their own count
    status = request(association="OWNER", kind="command", command="status", key="c-9")
    assert check_trigger(status, cfg.github, provider, store, costly=COMMANDS["status"].costs)
    assert check_trigger(request("bob", association="OWNER", key="issue-3"), cfg.github, provider, store)
    assert runs_today(store, "octo-org/sample", "alice") == 2
    tomorrow = datetime.now(UTC) + timedelta(days=1)
    assert check_trigger(request(association="OWNER", key="issue-3"), cfg.github, provider, store, now=tomorrow)


def test_zero_runs_per_day_turns_github_triggers_off(cfg, provider, store):
    cfg.github.runs_per_person_per_day = 0
    assert not check_trigger(request(association="OWNER"), cfg.github, provider, store)


def test_the_schedule_passes_the_gate_without_a_person():
    config = config_module.load(env={})
    request = Event(kind="resume", event="schedule", action=None, repo="acme/shop",
                      actor=Actor("schedule", "Schedule"), key="schedule-cron")
    decision = check_trigger(request, config.github, provider=None)
    assert decision.allowed and "schedule" in decision.reason
