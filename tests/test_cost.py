"""Cost arithmetic against the dated price table, overrides, and the budget's alerts and pauses."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest
from expect import check_budget, reservation

from gitorch import config as config_module
from gitorch.config import Config
from gitorch.cost import (
    PRICES,
    PRICES_AS_OF,
    Price,
    PriceTable,
    alias,
    deprecation_warnings,
    hold,
    metric_for,
    paused,
    subscription_usd,
)
from gitorch.errors import BudgetExceeded, GitorchError
from gitorch.model import Metric, Usage
from gitorch.store.sqlite import SqliteStore

NOW = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)
MILLION = 1_000_000


@pytest.fixture
def store(tmp_path):
    s = SqliteStore(tmp_path / "state.db")
    yield s
    s.close()


def spend(store, usd: float, *, at: datetime = NOW - timedelta(hours=1), run_id: str | None = None) -> None:
    store.record_metric(Metric("claude", "claude-sonnet-5-5", Usage(), usd, usd, run_id=run_id, created_at=at))


def budget_config(**budget) -> Config:
    return Config.model_validate({"budget": budget})


# -- the table --------------------------------------------------------------------------------------


def test_price_table_is_dated_and_has_the_models_in_use():
    assert PRICES_AS_OF == "2026-11-27"
    assert PriceTable().as_of == PRICES_AS_OF
    assert PRICES["claude-opus-5-5"] == Price(4.00, 20.00, 5.00, 0.20)
    assert PRICES["claude-sonnet-5-5"].cache_read == 0.10  # cut from 0.20 on 2026-10-07
    defaults = Config().models
    for model in (defaults.plan, defaults.review, defaults.build):
        assert PriceTable().known(model)


@pytest.mark.parametrize("model, expected", [
    ("claude-opus-5-5", 4 + 20 + 5 + 0.20),
    ("claude-sonnet-5-5", 2 + 10 + 2.50 + 0.10),
    ("claude-opus-5", 5 + 25 + 6.25 + 0.50),
    ("claude-sonnet-5", 2 + 10 + 2.50 + 0.20),
    ("claude-opus-4-6", 5 + 25 + 6.25 + 0.50),
    ("claude-sonnet-4-6", 3 + 15 + 3.75 + 0.30),
    ("claude-haiku-4-5", 1 + 5 + 1.25 + 0.10),
    ("claude-sonnet-4-5", 3 + 15 + 3.75 + 0.30),
])
def test_a_million_of_each_token_kind_costs_the_sum_of_the_rates(model, expected):
    usage = Usage(MILLION, MILLION, MILLION, MILLION)
    assert PriceTable().usd(model, usage) == pytest.approx(expected)


def test_each_token_kind_is_priced_at_its_own_rate():
    table = PriceTable()
    # 1000 input at $2, 200 output at $10, 300 cache write at $2.50, 4000 cache read at $0.10 (per MTok)
    assert table.usd("claude-sonnet-5-5", Usage(1000, 200, 300, 4000)) == pytest.approx(
        (1000 * 2 + 200 * 10 + 300 * 2.5 + 4000 * 0.1) / MILLION)
    assert table.usd("claude-sonnet-5-5", Usage(0, 0, 0, 4000)) == pytest.approx(0.0004)
    assert table.usd("claude-sonnet-5-5", Usage(0, 0, 300, 0)) == pytest.approx(0.00075)
    assert table.usd("claude-opus-5-5", Usage()) == 0


def test_haiku_5_5_prompts_up_to_100k_tokens_pay_the_low_rates():
    usage = Usage(input_tokens=90_000, output_tokens=1_000, cache_read_input_tokens=10_000)  # prompt: 100,000
    assert PriceTable().usd("claude-haiku-5-5", usage) == pytest.approx(
        (90_000 * 0.10 + 1_000 * 0.50 + 10_000 * 0.01) / MILLION)


def test_haiku_5_5_above_100k_prompt_tokens_pays_the_high_rates_on_every_token():
    usage = Usage(input_tokens=90_001, output_tokens=1_000, cache_read_input_tokens=10_000)  # prompt: 100,001
    assert PriceTable().usd("claude-haiku-5-5", usage) == pytest.approx(
        (90_001 * 0.50 + 1_000 * 2.50 + 10_000 * 0.05) / MILLION)


def test_haiku_tier_counts_cache_writes_as_prompt_but_not_output():
    table = PriceTable()
    big_prompt = Usage(input_tokens=60_000, cache_creation_input_tokens=50_000)
    assert table.usd("claude-haiku-5-5", big_prompt) == pytest.approx((60_000 * 0.50 + 50_000 * 0.625) / MILLION)
    long_answer = Usage(input_tokens=1_000, output_tokens=200_000)
    assert table.usd("claude-haiku-5-5", long_answer) == pytest.approx((1_000 * 0.10 + 200_000 * 0.50) / MILLION)


def test_dated_model_ids_map_to_their_alias():
    assert alias("claude-sonnet-4-5-20250929") == "claude-sonnet-4-5"
    assert alias("claude-opus-5-5-latest") == "claude-opus-5-5"
    assert alias("claude-opus-5-5") == "claude-opus-5-5"
    table = PriceTable()
    assert table.price("claude-sonnet-4-5-20250929") == PRICES["claude-sonnet-4-5"]
    assert table.usd("claude-haiku-4-5-20251001", Usage(MILLION, 0)) == pytest.approx(1.0)


def test_unknown_model_names_it_and_how_to_add_a_price():
    with pytest.raises(GitorchError) as err:
        PriceTable().usd("claude-imaginary-9", Usage(10, 10))
    assert "claude-imaginary-9" in err.value.message
    assert "prices:" in err.value.hint
    assert ".gitorch.yml" in err.value.hint
    assert "claude-imaginary-9:" in err.value.hint
    assert "claude-sonnet-5-5" in err.value.hint  # lists what is known


def test_prices_from_config_override_the_table():
    cfg = Config.model_validate({"prices": {
        "claude-sonnet-5-5": {"input": 1.0, "output": 5.0, "cache_write": 1.25, "cache_read": 0.05},
        "claude-experimental-6": {"input": 7.0, "output": 30.0, "cache_write": 8.0, "cache_read": 0.7},
    }})
    table = PriceTable.from_config(cfg)
    assert table.usd("claude-sonnet-5-5", Usage(MILLION, MILLION, MILLION, MILLION)) == pytest.approx(7.30)
    assert table.usd("claude-sonnet-5-5-20260301", Usage(MILLION)) == pytest.approx(1.0)  # dated id too
    assert table.usd("claude-experimental-6", Usage(0, MILLION)) == pytest.approx(30.0)
    assert table.usd("claude-opus-5-5", Usage(MILLION)) == pytest.approx(4.0)  # others untouched


def test_config_override_of_a_tiered_model_is_flat():
    cfg = Config.model_validate({"prices": {
        "claude-haiku-5-5": {"input": 0.2, "output": 1.0, "cache_write": 0.25, "cache_read": 0.02}}})
    assert PriceTable.from_config(cfg).usd("claude-haiku-5-5", Usage(200_000)) == pytest.approx(0.04)


def test_price_override_from_the_yml_file(repo):
    (repo / ".gitorch.yml").write_text(
        "prices:\n  claude-opus-5-5:\n    input: 3\n    output: 12\n    cache_write: 3.75\n    cache_read: 0.3\n")
    table = PriceTable.from_config(config_module.load())
    assert table.usd("claude-opus-5-5", Usage(MILLION, MILLION)) == pytest.approx(15.0)


def test_a_price_missing_a_field_is_a_config_error(repo):
    (repo / ".gitorch.yml").write_text("prices:\n  claude-opus-5-5:\n    input: 3\n")
    with pytest.raises(GitorchError) as err:
        config_module.load()
    assert "prices.claude-opus-5-5.output" in err.value.message


def test_estimate_of_a_call_not_made_yet():
    assert PriceTable().estimate("claude-opus-5-5", 10_000, 2_000) == pytest.approx((10_000 * 4 + 2_000 * 20) / MILLION)


# -- deprecated models ------------------------------------------------------------------------------


def test_deprecated_model_is_marked_with_its_end_of_life():
    table = PriceTable()
    before = table.deprecation("claude-sonnet-4-5-20250929", today=date(2026, 11, 27))
    assert "2026-11-30" in before and "claude-sonnet-5-5" in before
    after = table.deprecation("claude-sonnet-4-5", today=date(2026, 12, 1))
    assert "reached its end of life" in after
    assert table.deprecation("claude-sonnet-5-5") is None
    assert table.deprecation("not-a-model") is None


def test_deprecation_warnings_name_the_config_key():
    cfg = Config.model_validate({"models": {"review": "claude-sonnet-4-5"}})
    [warning] = deprecation_warnings(cfg, ["claude-sonnet-4-5-20250929"], today=date(2026, 11, 27))
    assert "models.review" in warning
    assert deprecation_warnings(Config(), ["claude-sonnet-4-5"], today=date(2026, 11, 27))[0].startswith(
        "claude-sonnet-4-5 is deprecated")
    assert deprecation_warnings(Config(), [], today=date(2026, 11, 27)) == []


def test_an_override_keeps_the_deprecation_mark():
    cfg = Config.model_validate({"prices": {
        "claude-sonnet-4-5": {"input": 1, "output": 1, "cache_write": 1, "cache_read": 1}}})
    assert PriceTable.from_config(cfg).price("claude-sonnet-4-5").end_of_life == "2026-11-30"


# -- metrics ----------------------------------------------------------------------------------------


def test_claude_call_costs_its_tokens_and_its_baseline_is_the_same():
    usage = Usage(10_000, 2_000, 0, 50_000)
    m = metric_for(Config(), agent="claude", model="claude-opus-5-5", usage=usage, duration_s=3.2,
                   task_type="planning", run_id="run-1", step="plan")
    expected = (10_000 * 4 + 2_000 * 20 + 50_000 * 0.20) / MILLION
    assert m.cost_usd == pytest.approx(expected)
    assert m.baseline_cost_usd == pytest.approx(expected)
    assert (m.agent, m.model, m.usage, m.duration_s, m.task_type, m.run_id, m.step, m.fallback) == (
        "claude", "claude-opus-5-5", usage, 3.2, "planning", "run-1", "plan", False)


@pytest.mark.parametrize("builder", ["chatgpt-pro", "codex"])
def test_a_builder_on_its_plan_costs_nothing_and_its_baseline_is_what_claude_alone_would_have_sent(builder):
    own = Usage(47_000, 6_000, 0, 40_000)  # e.g. Codex's own instructions, mostly cached
    alone = Usage(20_000, 6_000, estimated=True)  # what gitorch's Claude builder would send and receive
    m = metric_for(Config(), agent=builder, model="gpt-web", usage=own, duration_s=40, claude_alone=alone)
    assert m.cost_usd == 0 and m.usage == own
    assert m.baseline_cost_usd == pytest.approx((20_000 * 2 + 6_000 * 10) / MILLION)  # claude-sonnet-5-5


def test_a_builder_answer_that_was_not_used_adds_nothing_to_the_baseline():
    m = metric_for(Config(), agent="codex", model="gpt-web", usage=Usage(47_000, 500), duration_s=4)
    assert (m.cost_usd, m.baseline_cost_usd) == (0, 0)


def test_builder_baseline_follows_models_build():
    cfg = Config.model_validate({"models": {"build": "claude-opus-5-5"}})
    m = metric_for(cfg, agent="chatgpt-pro", model="gpt-web", usage=Usage(10, 0), duration_s=1,
                   claude_alone=Usage(MILLION, 0))
    assert m.baseline_cost_usd == pytest.approx(4.0)


def test_codex_on_an_api_key_is_priced_when_its_model_has_a_price_in_config():
    cfg = Config.model_validate({"prices": {"gpt-5-codex": {"input": 1.25, "output": 10, "cache_write": 1.25,
                                                           "cache_read": 0.125}}})
    m = metric_for(cfg, agent="codex", model="gpt-5-codex", usage=Usage(MILLION, 0), duration_s=1,
                   claude_alone=Usage(MILLION, 0))
    assert m.cost_usd == pytest.approx(1.25)
    assert m.baseline_cost_usd == pytest.approx(2.0)


def test_fallback_to_claude_is_marked_and_priced():
    m = metric_for(Config(), agent="claude", model="claude-sonnet-5-5", usage=Usage(MILLION, 0), duration_s=1,
                   fallback=True, step="build")
    assert m.fallback and m.cost_usd == pytest.approx(2.0)


def test_metric_for_unknown_agent_or_model_is_refused():
    with pytest.raises(GitorchError, match="unknown agent 'gpt'"):
        metric_for(Config(), agent="gpt", model="x", usage=Usage(), duration_s=0)
    with pytest.raises(GitorchError, match="no price for model 'claude-nope'"):
        metric_for(Config(), agent="claude", model="claude-nope", usage=Usage(1), duration_s=0)


def test_subscription_is_amortised_per_day():
    cfg = budget_config(builder_subscription_usd=200)
    assert subscription_usd(cfg, 365.25 / 12) == pytest.approx(200)
    assert subscription_usd(cfg, 30) == pytest.approx(200 * 30 * 12 / 365.25)


# -- the budget ---------------------------------------------------------------------------------------


def test_below_the_threshold_no_alert_and_no_event(store):
    spend(store, 5.0)
    assert check_budget(store, budget_config(monthly_usd=10, alert_threshold_pct=80), 0.5, now=NOW) == []
    assert store.budget_events() == []


def test_alert_at_the_threshold_is_returned_each_time_and_recorded_once(store):
    cfg = budget_config(monthly_usd=10, alert_threshold_pct=80, per_run_usd=None)
    spend(store, 7.5)
    [alert] = check_budget(store, cfg, 0.5, now=NOW)  # 8.00 of 10.00: exactly 80%
    assert alert.startswith("month budget: $8.00 of $10.00 (80%)")
    assert check_budget(store, cfg, 0.6, now=NOW)
    events = store.budget_events(kind="alert")
    assert len(events) == 1
    assert events[0]["scope"] == "month"
    assert not paused(store, cfg, NOW)


def test_alert_is_recorded_again_in_the_next_month(store):
    cfg = budget_config(monthly_usd=10, alert_threshold_pct=50, per_run_usd=None)
    spend(store, 6.0, at=datetime(2026, 10, 20, tzinfo=UTC))
    spend(store, 6.0, at=NOW - timedelta(hours=1))
    assert check_budget(store, cfg, 0, now=datetime(2026, 10, 21, tzinfo=UTC))
    assert check_budget(store, cfg, 0, now=NOW)
    assert [e["period"] for e in store.budget_events(kind="alert")] == ["2026-10:$10:50%", "2026-11:$10:50%"]


def test_month_limit_pauses_until_the_next_month(store):
    cfg = budget_config(monthly_usd=10, per_run_usd=None)
    spend(store, 9.9)
    spend(store, 50.0, at=datetime(2026, 10, 31, 23, 59, tzinfo=UTC))  # last month does not count
    with pytest.raises(BudgetExceeded) as err:
        check_budget(store, cfg, 0.2, now=NOW)
    assert err.value.scope == "month"
    assert err.value.resume_at == "2026-12-01T00:00:00+00:00"
    assert "$9.90 of $10.00" in err.value.message
    assert "budget.monthly_usd" in err.value.hint and "MONTHLY_BUDGET_USD" in err.value.hint
    with pytest.raises(BudgetExceeded):
        check_budget(store, cfg, 0.2, now=NOW)
    [event] = store.budget_events(kind="paused")
    assert (event["scope"], event["period"]) == ("month", "2026-11:$10")
    assert paused(store, cfg, NOW)


def test_december_month_limit_resumes_next_year(store):
    spend(store, 10.0, at=datetime(2026, 12, 5, tzinfo=UTC))
    with pytest.raises(BudgetExceeded) as err:
        check_budget(store, budget_config(monthly_usd=10), 0.01, now=datetime(2026, 12, 24, tzinfo=UTC))
    assert err.value.resume_at == "2027-01-01T00:00:00+00:00"


def test_daily_limit_pauses_until_tomorrow_and_yesterday_does_not_count(store):
    cfg = budget_config(monthly_usd=100, daily_usd=2.0, per_run_usd=None)
    spend(store, 5.0, at=NOW - timedelta(days=1))
    spend(store, 1.9)
    assert check_budget(store, cfg, 0.05, now=NOW)  # 1.95 of 2.00: an alert, not a pause
    with pytest.raises(BudgetExceeded) as err:
        check_budget(store, cfg, 0.2, now=NOW)
    assert err.value.scope == "day"
    assert err.value.resume_at == "2026-11-28T00:00:00+00:00"
    assert "budget.daily_usd" in err.value.hint
    assert paused(store, cfg, NOW)
    assert not paused(store, cfg, NOW + timedelta(days=1))


def test_per_run_limit_pauses_that_run_only(store):
    cfg = budget_config(monthly_usd=100, per_run_usd=1.0)
    spend(store, 0.9, run_id="run-big")
    with pytest.raises(BudgetExceeded) as err:
        check_budget(store, cfg, 0.2, run_id="run-big", now=NOW)
    assert err.value.scope == "run"
    assert err.value.resume_at is None
    assert "budget.per_run_usd" in err.value.hint
    assert check_budget(store, cfg, 0.2, run_id="run-small", now=NOW) == []
    [event] = store.budget_events(kind="paused")
    assert event["run_id"] == "run-big"
    assert not paused(store, cfg, NOW)  # the month and the day are fine


def test_month_pause_wins_over_run_and_day(store):
    cfg = budget_config(monthly_usd=1.0, daily_usd=1.0, per_run_usd=1.0)
    spend(store, 1.0, run_id="r")
    with pytest.raises(BudgetExceeded) as err:
        check_budget(store, cfg, 0.5, run_id="r", now=NOW)
    assert err.value.scope == "month"


def test_a_builder_call_on_its_plan_goes_ahead_at_a_full_budget(store):
    cfg = budget_config(monthly_usd=10)
    spend(store, 10.0)
    assert check_budget(store, cfg, 0.0, now=NOW)  # an alert (100%), no pause: it costs nothing
    with pytest.raises(BudgetExceeded):
        check_budget(store, cfg, 0.01, now=NOW)


def test_raising_the_limit_lifts_the_pause(store):
    spend(store, 9.9)
    with pytest.raises(BudgetExceeded):
        check_budget(store, budget_config(monthly_usd=10), 0.5, now=NOW)
    assert paused(store, budget_config(monthly_usd=10), NOW)
    raised = budget_config(monthly_usd=20)
    assert not paused(store, raised, NOW)
    assert check_budget(store, raised, 0.5, now=NOW) == []


def test_monthly_budget_from_the_environment(store, repo, monkeypatch):
    monkeypatch.setenv("MONTHLY_BUDGET_USD", "3")
    monkeypatch.setenv("ALERT_THRESHOLD_PCT", "50")
    cfg = config_module.load()
    spend(store, 1.6)
    assert check_budget(store, cfg, 0, now=NOW)
    with pytest.raises(BudgetExceeded):
        check_budget(store, cfg, 1.5, now=NOW)


def test_negative_estimate_is_refused(store):
    with pytest.raises(GitorchError, match="cannot be negative"):
        check_budget(store, Config(), -1, now=NOW)


# -- reservations: calls in flight ------------------------------------------------------------------


def test_calls_in_flight_hold_their_estimate_against_the_limit(store):
    cfg = budget_config(monthly_usd=1.0, per_run_usd=None)
    first, second = reservation(0.4), reservation(0.4)
    hold(store, store, cfg, first)
    hold(store, store, cfg, second)  # 0.8 of 1.0 held by two calls in flight
    with pytest.raises(BudgetExceeded, match=r"\$0.80 of \$1.00 spent and held by calls in flight"):
        hold(store, store, cfg, reservation(0.4))
    assert store.reserved_usd() == pytest.approx(0.8)  # the refused call holds nothing


def test_a_settled_call_counts_what_it_used_and_a_released_one_nothing(store):
    cfg = budget_config(monthly_usd=1.0, per_run_usd=None)
    used, failed = reservation(0.4, "run-1"), reservation(0.4, "run-1")
    hold(store, store, cfg, used)
    hold(store, store, cfg, failed)
    store.settle(used, Metric("claude", "claude-sonnet-5-5", Usage(1, 1), 0.25, 0.25, run_id="run-1"))
    store.release(failed)
    assert store.reserved_usd() == 0
    assert store.spent_usd(run_id="run-1") == pytest.approx(0.25)
    hold(store, store, cfg, reservation(0.7))  # 0.25 spent + 0.7 fits in 1.0


def test_a_reservation_left_by_a_crashed_process_lapses(store):
    cfg = budget_config(monthly_usd=1.0, per_run_usd=None)
    hold(store, store, cfg, reservation(0.9, expires_in_s=0.2))  # its process died before the call ended
    with pytest.raises(BudgetExceeded):
        hold(store, store, cfg, reservation(0.5))
    import time

    time.sleep(0.3)
    hold(store, store, cfg, reservation(0.5))  # the lapsed reservation no longer counts
    assert store.reserved_usd() == pytest.approx(0.5)


def test_the_run_limit_holds_only_that_runs_calls(store):
    cfg = budget_config(monthly_usd=100, per_run_usd=1.0)
    hold(store, store, cfg, reservation(0.8, "run-a"))
    with pytest.raises(BudgetExceeded) as err:
        hold(store, store, cfg, reservation(0.3, "run-a"))
    assert err.value.scope == "run"
    hold(store, store, cfg, reservation(0.8, "run-b"))  # another run has its own limit
