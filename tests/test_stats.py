"""`gitorch stats`: the figures from a store filled with known metrics and decisions."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
from click.testing import CliRunner
from expect import check_budget

from gitorch import config as config_module
from gitorch.cli import cli
from gitorch.config import Config
from gitorch.cost import metric_for
from gitorch.errors import BudgetExceeded, GitorchError
from gitorch.model import Artifact, Metric, RoutingDecision, Run, Usage
from gitorch.stats import compute, markdown, series
from gitorch.store import open_store
from gitorch.store.sqlite import SqliteStore

NOW = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)


@pytest.fixture
def store(tmp_path):
    s = SqliteStore(tmp_path / "state.db")
    yield s
    s.close()


def decision(i: int, agent: str = "claude", task_type: str = "planning", **over) -> RoutingDecision:
    return RoutingDecision(
        id=f"dec-{i}", text=f"task {i}", task_type=task_type, task_types={task_type: 1.0}, agent=agent,
        confidence=0.9, scores={"claude": 80.0, "chatgpt-pro": 50.0}, reasoning="", workflow=[],
        estimated_cost_usd=0.0, estimated_saving_usd=0.0, created_at=over.pop("created_at", NOW - timedelta(days=1)),
        **over,
    )


def fill(store, cfg: Config) -> None:
    """Known work: two Claude calls, two builder calls, one fallback, one call outside the period."""
    at = NOW - timedelta(days=2)

    def record(agent, model, usage, **kw):
        m = metric_for(cfg, agent=agent, model=model, usage=usage, duration_s=1.0, **kw)
        m.created_at = at
        store.record_metric(m)

    # plan on opus: 10k in, 2k out, 50k cache read -> 0.04 + 0.04 + 0.01 = 0.09
    record("claude", "claude-opus-5-5", Usage(10_000, 2_000, 0, 50_000), step="plan")
    # review on sonnet: 20k in, 1k out, 4k cache write -> 0.04 + 0.01 + 0.01 = 0.06
    record("claude", "claude-sonnet-5-5", Usage(20_000, 1_000, 4_000, 0), step="review")
    # builder: 30k in, 10k out; Claude alone would have sent the same -> baseline at sonnet 0.06 + 0.10 = 0.16, cost 0
    record("chatgpt-pro", "chatgpt-web", Usage(30_000, 10_000, estimated=True), step="build",
           claude_alone=Usage(30_000, 10_000, estimated=True))
    # codex: 5k in, 5k out; Claude alone the same -> baseline 0.01 + 0.05 = 0.06, cost 0
    record("codex", "gpt-5-codex", Usage(5_000, 5_000), step="build", claude_alone=Usage(5_000, 5_000))
    # Claude as fallback builder: 1k in 1k out on sonnet -> 0.002 + 0.01 = 0.012
    record("claude", "claude-sonnet-5-5", Usage(1_000, 1_000), step="build", fallback=True)
    # outside a 30-day window
    old = metric_for(cfg, agent="claude", model="claude-opus-5-5", usage=Usage(1_000_000, 0), duration_s=1)
    old.created_at = NOW - timedelta(days=45)
    store.record_metric(old)


def test_figures_from_known_metrics(store):
    cfg = Config()
    fill(store, cfg)
    data = compute(store, cfg, days=30, now=NOW)
    assert data["claude_tokens"] == 62_000 + 25_000 + 2_000
    assert data["chatgpt_tokens"] == 40_000 + 10_000
    assert data["total_cost_usd"] == pytest.approx(0.09 + 0.06 + 0.012)
    assert data["baseline_cost_usd"] == pytest.approx(0.09 + 0.06 + 0.012 + 0.16 + 0.06)
    assert data["savings_usd"] == pytest.approx(0.22)
    assert data["savings_pct"] == pytest.approx(0.22 / 0.382 * 100, abs=0.01)
    claude = data["by_agent"]["claude"]
    assert claude == {"tokens": 89_000, "input_tokens": 31_000, "output_tokens": 4_000, "cache_write_tokens": 4_000,
                      "cache_read_tokens": 50_000, "cost_usd": pytest.approx(0.162),
                      "baseline_cost_usd": pytest.approx(0.162), "calls": 3, "fallbacks": 1, "duration_s": 3.0}
    assert data["by_agent"]["chatgpt-pro"]["cost_usd"] == 0
    assert data["by_agent"]["chatgpt-pro"]["baseline_cost_usd"] == pytest.approx(0.16)
    assert data["by_agent"]["codex"]["tokens"] == 10_000
    assert list(data["by_agent"]) == ["chatgpt-pro", "claude", "codex"]
    assert data["period"] == {"days": 30, "since": (NOW - timedelta(days=30)).isoformat(), "until": NOW.isoformat()}
    assert data["prices_as_of"] == "2026-11-27"
    json.dumps(data)  # plain JSON


def test_stats_show_the_share_of_claude_calls_per_model_and_why_each_was_chosen(store):
    cfg = Config()
    fill(store, cfg)
    for reason in ("small change (40 lines), tests pass, no concern", "small request (120 tokens)",
                   "small change (40 lines), tests pass, no concern"):
        m = metric_for(cfg, agent="claude", model="claude-haiku-5-5", usage=Usage(10_000, 1_000), duration_s=1,
                       step="review", reason=reason)
        m.created_at = NOW - timedelta(days=1)
        store.record_metric(m)
    models = compute(store, cfg, days=30, now=NOW)["claude_models"]
    assert list(models) == ["claude-haiku-5-5", "claude-sonnet-5-5", "claude-opus-5-5"]
    assert models["claude-haiku-5-5"] == {
        "calls": 3, "share_pct": 50.0, "cost_usd": pytest.approx(3 * 0.0015),
        "reasons": {"small change (40 lines), tests pass, no concern": 2, "small request (120 tokens)": 1}}
    assert models["claude-sonnet-5-5"]["reasons"] == {}  # rows from before the ladder, and Claude's builds


def test_a_longer_period_takes_in_older_work(store):
    cfg = Config()
    fill(store, cfg)
    data = compute(store, cfg, days=60, now=NOW)
    assert data["total_cost_usd"] == pytest.approx(0.162 + 4.0)
    assert data["by_agent"]["claude"]["calls"] == 4


def test_subscription_is_amortised_over_the_period_and_net_saving(store):
    cfg = Config.model_validate({"budget": {"builder_subscription_usd": 200}})
    fill(store, cfg)
    data = compute(store, cfg, days=30, now=NOW)
    assert data["budget"]["subscription_usd"] == pytest.approx(200 * 30 * 12 / 365.25, abs=1e-5)
    assert data["net_savings_usd"] == pytest.approx(0.22 - 200 * 30 * 12 / 365.25, abs=1e-5)


def test_routing_accuracy_is_the_share_accepted_without_override(store):
    store.record_decisions([decision(i) for i in range(1, 7)])
    store.record_feedback("dec-1", override_agent="chatgpt-pro")  # overridden
    store.record_feedback("dec-2", outcome="success")  # accepted
    store.record_feedback("dec-3", override_agent="claude", outcome="success")  # same agent: accepted
    store.record_feedback("dec-4", override_task_type="debugging")  # task type corrected: overridden
    store.record_feedback("dec-5", agent_used="claude", outcome="failure")  # accepted, went badly
    # dec-6: no feedback, not counted
    data = compute(store, Config(), now=NOW)
    assert data["decisions"] == 6
    assert data["decisions_with_feedback"] == 5
    assert data["overrides"] == 2
    assert data["routing_accuracy_pct"] == 60.0


def test_routing_accuracy_is_null_before_any_feedback(store):
    store.record_decisions([decision(1), decision(2)])
    data = compute(store, Config(), now=NOW)
    assert data["decisions"] == 2
    assert data["routing_accuracy_pct"] is None
    assert data["overrides"] == 0


def test_decisions_outside_the_period_are_left_out(store):
    store.record_decisions([decision(1, created_at=NOW - timedelta(days=40)), decision(2)])
    store.record_feedback("dec-1", override_agent="chatgpt-pro")
    data = compute(store, Config(), days=30, now=NOW)
    assert (data["decisions"], data["overrides"], data["routing_accuracy_pct"]) == (1, 0, None)


def test_budget_figures_alert_and_pause(store):
    cfg = Config.model_validate({"budget": {"monthly_usd": 10, "alert_threshold_pct": 80, "daily_usd": 5}})
    store.record_metric(Metric("claude", "claude-opus-5-5", Usage(), 6.0, 6.0, created_at=NOW - timedelta(days=3)))
    store.record_metric(Metric("claude", "claude-opus-5-5", Usage(), 2.5, 2.5, created_at=NOW - timedelta(hours=2)))
    store.record_metric(Metric("claude", "claude-opus-5-5", Usage(), 9.0, 9.0,
                               created_at=datetime(2026, 10, 30, tzinfo=UTC)))  # last month
    budget = compute(store, cfg, now=NOW)["budget"]
    assert budget["spent_month_usd"] == pytest.approx(8.5)
    assert budget["spent_today_usd"] == pytest.approx(2.5)
    assert budget["pct_used"] == 85.0
    assert budget["alert"] is True
    assert budget["paused"] is False
    assert (budget["monthly_usd"], budget["daily_usd"], budget["alert_threshold_pct"]) == (10, 5, 80)
    with pytest.raises(BudgetExceeded):
        check_budget(store, cfg, 2.0, now=NOW)
    assert compute(store, cfg, now=NOW)["budget"]["paused"] is True


def test_empty_store_gives_zeros_and_nulls(store):
    data = compute(store, Config(), now=NOW)
    assert (data["claude_tokens"], data["chatgpt_tokens"], data["total_cost_usd"], data["baseline_cost_usd"],
            data["savings_usd"]) == (0, 0, 0, 0, 0)
    assert data["savings_pct"] is None
    assert data["routing_accuracy_pct"] is None
    assert data["by_agent"] == {}
    assert data["budget"]["alert"] is False and data["budget"]["paused"] is False


def test_deprecated_models_in_use_are_warned_about(store):
    store.record_metric(Metric("claude", "claude-sonnet-4-5-20250929", Usage(10), 0.0, 0.0,
                               created_at=NOW - timedelta(days=1)))
    [warning] = compute(store, Config(), now=NOW)["warnings"]
    assert "claude-sonnet-4-5-20250929" in warning and "2026-11-30" in warning


def test_days_below_one_is_refused(store):
    with pytest.raises(GitorchError, match="--days"):
        compute(store, Config(), days=0)


def test_markdown_summary_uses_the_same_figures(store):
    fill(store, Config())
    text = markdown(compute(store, Config(), now=NOW))
    assert "| Claude tokens | 89,000 |" in text
    assert "| saving | $0.2200 (57.6%) |" in text
    assert "| Claude's calls per model | claude-sonnet-5-5 66.7%, claude-opus-5-5 33.3% |" in text


def test_features_velocity_and_review_rates_from_known_runs(store, monkeypatch):
    from gitorch.store import sqlite as sqlite_module

    def run(run_id, start, end, status="done", verdict="approve", artifacts=()):
        monkeypatch.setattr(sqlite_module, "utcnow", lambda: end)  # save_run stamps updated_at
        store.save_run(Run(id=run_id, text=run_id, status=status, verdict=verdict, created_at=start))
        for i, (agent, review) in enumerate(artifacts):
            store.save_artifact(Artifact(f"f{i}.py", "x", "t1", agent, run_id=run_id, review_status=review))

    today = NOW.replace(hour=0)
    run("a", today + timedelta(hours=1), today + timedelta(hours=1, minutes=30, microseconds=250),
        artifacts=[("chatgpt-pro", "approved"), ("chatgpt-pro", "rejected"), ("codex", "approved")])
    run("b", NOW - timedelta(days=3), NOW - timedelta(days=2, hours=23), artifacts=[("chatgpt-pro", "approved")])
    run("c", NOW - timedelta(days=1), NOW - timedelta(hours=20), verdict="reject", artifacts=[("codex", "rejected")])
    run("d", NOW - timedelta(days=40), NOW - timedelta(days=39), artifacts=[("chatgpt-pro", "rejected")])
    run("e", NOW - timedelta(hours=2), NOW - timedelta(hours=1), status="building",
        artifacts=[("claude", "pending")])
    data = compute(store, Config(), now=NOW)
    assert (data["features_completed"], data["features_today"]) == (2, 1)
    assert data["velocity_min_per_feature"] == round((30 + 60) / 2 + 0.00025 / 60 / 2, 2)
    assert data["review_by_agent"] == {
        "chatgpt-pro": {"reviewed": 3, "approved": 2, "pass_pct": 66.67},
        "codex": {"reviewed": 2, "approved": 1, "pass_pct": 50.0},
    }


def test_series_per_day_and_per_week_from_known_rows(store):
    cfg = Config()
    calls = ((1, "claude", 0.5), (2, "codex", 0.0), (30, "claude", 0.25), (24 * 40, "claude", 9))
    for hours_ago, agent, spent in calls:
        store.record_metric(Metric(agent, "m", Usage(100, 10), spent, spent + 0.125, run_id="run-1",
                                   created_at=NOW - timedelta(hours=hours_ago)))
    store.record_decisions([decision(1, created_at=NOW - timedelta(hours=3)),
                            decision(2, created_at=NOW - timedelta(days=8)),
                            decision(3, created_at=NOW - timedelta(days=9))])
    store.record_feedback("dec-2", override_agent="chatgpt-pro")
    store.record_feedback("dec-3", outcome="success")
    data = series(store, cfg, now=NOW)
    assert data["days"][-2:] == ["2026-11-26", "2026-11-27"]
    assert data["cost_usd"][-2:] == [0.25, 0.5]
    assert data["baseline_cost_usd"][-2:] == [0.375, 0.75]
    assert data["tokens"] == {"claude": [0] * 29 + [110, 110], "codex": [0] * 30 + [110]}
    weeks = {w["week"]: w for w in data["accuracy"]}
    assert weeks["2026-11-23"] == {"week": "2026-11-23", "decisions": 1, "with_feedback": 0, "overrides": 0,
                                   "accepted": 0, "accuracy_pct": None}
    assert weeks["2026-11-16"] == {"week": "2026-11-16", "decisions": 2, "with_feedback": 2, "overrides": 1,
                                   "accepted": 1, "accuracy_pct": 50.0}
    assert data["budget_month"]["spent_usd"][-2:] == [0.25, 0.75]


def test_a_tie_at_the_seventh_decimal_rounds_the_same_whatever_order_the_calls_came_in(tmp_path):
    """The exact sum is $0.0185145; adding these as floats gives 0.018514 or 0.018515 by order."""
    import itertools

    costs = (0.0020818, 0.0017865, 0.0146462)
    seen = set()
    for i, order in enumerate(itertools.permutations(costs)):
        with SqliteStore(tmp_path / f"{i}.db") as s:
            for c in order:
                s.record_metric(Metric("claude", "m", Usage(1, 1), c, c, run_id="run-1",
                                       created_at=NOW - timedelta(hours=1)))
            data = compute(s, Config(), now=NOW)
            seen.add((data["total_cost_usd"], series(s, Config(), now=NOW)["cost_usd"][-1],
                      s.run_costs(["run-1"])["run-1"]["cost_usd"], s.spent_usd()))
    assert seen == {(0.018514, 0.018514, 0.0185145, 0.0185145)}


# -- the command --------------------------------------------------------------------------------------


def test_stats_json_on_an_empty_store_has_null_routing_accuracy():
    result = CliRunner().invoke(cli, ["stats", "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert data["routing_accuracy_pct"] is None
    for key in ("claude_tokens", "chatgpt_tokens", "total_cost_usd", "baseline_cost_usd", "savings_usd",
                "savings_pct", "decisions", "overrides", "by_agent", "budget", "period", "prices_as_of"):
        assert key in data
    assert data["budget"]["monthly_usd"] == 100.0


def test_stats_reads_the_store_of_the_repository(repo, monkeypatch):
    monkeypatch.setenv("MONTHLY_BUDGET_USD", "50")
    cfg = config_module.load()
    s = open_store(cfg)
    s.record_metric(metric_for(cfg, agent="claude", model="claude-opus-5-5", usage=Usage(100_000, 10_000),
                               duration_s=2))
    s.record_metric(metric_for(cfg, agent="chatgpt-pro", model="chatgpt-web", usage=Usage(50_000, 20_000),
                               duration_s=30, claude_alone=Usage(50_000, 20_000)))
    s.record_decision(decision(1, created_at=datetime.now(UTC)))
    s.record_feedback("dec-1", outcome="success")
    s.close()
    result = CliRunner().invoke(cli, ["stats", "--json", "--days", "7"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert data["claude_tokens"] == 110_000
    assert data["chatgpt_tokens"] == 70_000
    assert data["total_cost_usd"] == pytest.approx(0.6)
    assert data["baseline_cost_usd"] == pytest.approx(0.6 + 0.3)
    assert data["routing_accuracy_pct"] == 100.0
    assert data["budget"]["monthly_usd"] == 50
    assert data["period"]["days"] == 7


def test_stats_prints_tables():
    s = open_store(config_module.load())
    s.record_metric(Metric("claude", "claude-opus-5-5", Usage(1000, 100), 0.006, 0.006))
    s.close()
    result = CliRunner().invoke(cli, ["stats"])
    assert result.exit_code == 0, result.output
    assert "gitorch stats: last 30 days" in result.output
    assert "per agent" in result.output
    assert "routing accuracy" in result.output and "no feedback yet" in result.output
    assert "prices as of 2026-11-27" in result.output


def test_stats_days_must_be_positive():
    result = CliRunner().invoke(cli, ["stats", "--days", "0"])
    assert result.exit_code == 2
    assert "--days" in result.output
