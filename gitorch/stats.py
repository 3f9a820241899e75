"""The figures: one function computes them for `gitorch stats`, the dashboard and the job summary.

``compute`` reads the ledger (metrics), the routing decisions and the budget over the last ``days``
and returns plain JSON-ready data. Money is in USD, rounded to 6 decimals; percentages to 2.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any

from . import cost
from .model import CLAUDE, RoutingDecision, utcnow


def _money(value: float) -> float:
    return round(value, 6)


def _pct(part: float, whole: float) -> float | None:
    return round(part / whole * 100, 2) if whole > 0 else None


def overridden(decision: RoutingDecision) -> bool:
    """A person corrected the suggestion: another agent, or another task type."""
    return (decision.override_agent is not None and decision.override_agent != decision.agent) or (
        decision.override_task_type is not None and decision.override_task_type != decision.task_type)


def has_feedback(decision: RoutingDecision) -> bool:
    return any(v is not None for v in (decision.override_agent, decision.override_task_type,
                                       decision.agent_used, decision.outcome))


def _agent_row() -> dict[str, Any]:
    return {"tokens": 0, "input_tokens": 0, "output_tokens": 0, "cache_write_tokens": 0, "cache_read_tokens": 0,
            "cost_usd": 0.0, "baseline_cost_usd": 0.0, "calls": 0, "fallbacks": 0, "duration_s": 0.0}


MAX_DAYS = 3650


def compute(store: Any, config: Any, days: int = 30, now: datetime | None = None) -> dict[str, Any]:
    """Every figure over the last ``days`` up to ``now`` (UTC).

    - ``claude_tokens``: Claude's tokens (input, cache write, cache read and output);
      ``chatgpt_tokens``: every builder's (``chatgpt-pro`` and ``codex``; each also in ``by_agent``).
    - ``total_cost_usd``: marginal spending; ``baseline_cost_usd``: the same work done by Claude
      alone (builder tokens priced at ``models.build``); ``savings_usd`` their difference,
      ``savings_pct`` its share of the baseline (null while the baseline is 0);
      ``net_savings_usd``: the saving less the builders' plan amortised over the period.
    - ``routing_accuracy_pct``: share of decisions with feedback accepted without override (null
      before any decision has feedback); ``decisions`` and ``overrides`` in the period.
    - ``routing_strategies``: the acting strategy and its shadows scored on the period's feedback:
      accuracy with a 95% Wilson interval per strategy, McNemar's exact test of each shadow against
      the acting one, a switch ``suggestion`` only when significant, and the decisions where they
      disagreed (``gitorch.routing.shadow.compare``).
    - ``budget``: the month (and day) against their limits, the alert and whether paid calls pause.
    - ``review_by_agent``: per agent, the artifacts of the period's runs that were reviewed, approved
      and the pass rate (``review_rates``).
    - ``features_today``: runs completed today (UTC) with an approved review; ``features_completed``
      the same over the period; ``velocity_min_per_feature``: their mean minutes from start to
      finish (null before the first).
    """
    from .errors import GitorchError

    if days > MAX_DAYS:
        raise GitorchError(f"days must be at most {MAX_DAYS} (ten years), not {days}",
                           hint="ask for a shorter period: --days 30 is the last month, --days 365 the last year")
    if days < 1:
        raise GitorchError(f"--days must be at least 1, not {days}", hint="pass --days 30 for the last month")
    now = now or utcnow()
    since = now - timedelta(days=days)
    table = cost.PriceTable.from_config(config)

    by_agent: dict[str, dict[str, Any]] = {}
    models_seen: set[str] = set()
    totals = store.metric_totals(since, until=now)
    for t in totals:
        row = by_agent.setdefault(t["agent"], _agent_row())
        row["tokens"] += (t["input_tokens"] + t["output_tokens"] + t["cache_creation_input_tokens"]
                          + t["cache_read_input_tokens"])
        row["input_tokens"] += t["input_tokens"]
        row["output_tokens"] += t["output_tokens"]
        row["cache_write_tokens"] += t["cache_creation_input_tokens"]
        row["cache_read_tokens"] += t["cache_read_input_tokens"]
        row["cost_usd"] += t["cost_usd"]
        row["baseline_cost_usd"] += t["baseline_cost_usd"]
        row["calls"] += t["calls"]
        row["fallbacks"] += t["fallbacks"]
        row["duration_s"] += t["duration_s"]
        models_seen.add(t["model"])
    for row in by_agent.values():
        for key in ("cost_usd", "baseline_cost_usd"):
            row[key] = _money(row[key])
        row["duration_s"] = round(row["duration_s"], 3)

    total = sum((r["cost_usd"] for r in by_agent.values()), 0.0)
    baseline = sum((r["baseline_cost_usd"] for r in by_agent.values()), 0.0)
    savings = baseline - total
    subscription = cost.subscription_usd(config, days)
    counts = store.decision_counts(since, until=now)

    budget = config.budget
    spent_month = store.spent_usd(since=cost.month_start(now), until=now)
    spent_today = store.spent_usd(since=cost.day_start(now), until=now)
    pct_used = _pct(spent_month, budget.monthly_usd)
    if pct_used is None:  # a limit of 0: any spending uses all of it
        pct_used = 100.0 if spent_month > 0 else 0.0

    features = _features(store, since, now)
    from .routing.shadow import compare

    strategies = compare(store.decisions_since(since, until=now), config.routing.strategy)

    return {
        "claude_tokens": by_agent.get(CLAUDE, {}).get("tokens", 0),
        "chatgpt_tokens": sum(r["tokens"] for agent, r in by_agent.items() if agent != CLAUDE),
        "total_cost_usd": _money(total),
        "baseline_cost_usd": _money(baseline),
        "savings_usd": _money(savings),
        "savings_pct": _pct(savings, baseline),
        "net_savings_usd": _money(savings - subscription),
        "routing_accuracy_pct": _pct(counts["accepted"], counts["with_feedback"]),
        "decisions": counts["decisions"],
        "decisions_with_feedback": counts["with_feedback"],
        "overrides": counts["overrides"],
        "routing_strategies": strategies,
        "by_agent": dict(sorted(by_agent.items())),
        "claude_models": claude_models(totals),
        "review_by_agent": review_rates(store, since, now),
        **features,
        "budget": {
            "monthly_usd": budget.monthly_usd,
            "daily_usd": budget.daily_usd,
            "per_run_usd": budget.per_run_usd,
            "spent_month_usd": _money(spent_month),
            "spent_today_usd": _money(spent_today),
            "pct_used": pct_used,
            "alert_threshold_pct": budget.alert_threshold_pct,
            "alert": pct_used >= budget.alert_threshold_pct,
            "paused": cost.paused(store, config, now),
            "subscription_monthly_usd": budget.builder_subscription_usd,
            "subscription_usd": _money(subscription),
        },
        "period": {"days": days, "since": since.isoformat(), "until": now.isoformat()},
        "prices_as_of": table.as_of,
        "warnings": cost.deprecation_warnings(config, sorted(models_seen), now.date(), table),
    }


def claude_models(totals: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Per Claude model, from ``metric_totals``: ``calls``, ``share_pct`` of Claude's calls, ``cost_usd``
    and ``reasons`` (why the architect's ladder chose it: reason -> calls; builds have none)."""
    rows = [t for t in totals if t["agent"] == CLAUDE]
    all_calls = sum(t["calls"] for t in rows)
    found: dict[str, dict[str, Any]] = {}
    for t in rows:
        row = found.setdefault(t["model"], {"calls": 0, "share_pct": None, "cost_usd": 0.0, "reasons": {}})
        row["calls"] += t["calls"]
        row["cost_usd"] += t["cost_usd"]
        if t.get("reason"):
            row["reasons"][t["reason"]] = row["reasons"].get(t["reason"], 0) + t["calls"]
    for row in found.values():
        row["share_pct"] = _pct(row["calls"], all_calls)
        row["cost_usd"] = _money(row["cost_usd"])
        row["reasons"] = dict(sorted(row["reasons"].items(), key=lambda item: (-item[1], item[0])))
    return dict(sorted(found.items(), key=lambda item: -item[1]["calls"]))


# -- features, series and runs (the dashboard's charts and tables) ---------------------------------

def completed(run: Any) -> bool:
    """A feature: the run finished and the architect approved its work (the store's
    ``feature_totals`` counts the same runs in SQL)."""
    return run.status == "done" and run.verdict == "approve"


def _features(store: Any, since: datetime, now: datetime) -> dict[str, Any]:
    done = store.feature_totals(since, until=now)
    today = store.feature_totals(cost.day_start(now), until=now)
    count = done["features"]
    return {
        "features_today": today["features"],
        "features_completed": count,
        "velocity_min_per_feature": round(done["seconds"] / 60 / count, 2) if count else None,
    }


def review_rates(store: Any, since: datetime, now: datetime) -> dict[str, dict[str, Any]]:
    """Per agent, over the runs started in the period: ``reviewed`` artifacts, ``approved`` among them
    and ``pass_pct`` (the builders' review pass rates side by side)."""
    return {agent: {**c, "pass_pct": _pct(c["approved"], c["reviewed"])}
            for agent, c in sorted(store.review_counts(since, until=now).items())}


def _week_start(day: date) -> date:
    return day - timedelta(days=day.weekday())


def series(store: Any, config: Any, days: int = 30, now: datetime | None = None, weeks: int = 6) -> dict[str, Any]:
    """Figures over time, from the same rows as ``compute`` (the daily sums add up to its totals).

    - ``days``: the UTC dates of the period, oldest first (the first one partly: the period is
      ``compute``'s, ``days`` x 24 hours up to ``now``); ``cost_usd`` and ``baseline_cost_usd`` per
      date; ``tokens``: per agent, the tokens per date.
    - ``accuracy``: per week (Monday, UTC) of the last ``weeks``: decisions, with feedback,
      overrides and the share accepted (null for a week without feedback).
    - ``budget_month``: the month so far, per date: cumulative spending, against the limit and the
      alert line (USD).
    """
    now = now or utcnow()
    since = now - timedelta(days=days)
    dates = [since.date() + timedelta(days=i) for i in range((now.date() - since.date()).days + 1)]
    index = {d: i for i, d in enumerate(dates)}
    spent = [0.0] * len(dates)
    baseline = [0.0] * len(dates)
    tokens: dict[str, list[int]] = {}
    for row in store.metric_totals_by_day(since, until=now):
        i = index[date.fromisoformat(row["day"])]
        spent[i] += row["cost_usd"]
        baseline[i] += row["baseline_cost_usd"]
        tokens.setdefault(row["agent"], [0] * len(dates))[i] += row["tokens"]

    this_week = _week_start(now.astimezone(UTC).date())
    starts = [this_week - timedelta(weeks=weeks - 1 - i) for i in range(weeks)]
    buckets = {w: {"week": w.isoformat(), "decisions": 0, "with_feedback": 0, "overrides": 0, "accepted": 0}
               for w in starts}
    first = datetime(starts[0].year, starts[0].month, starts[0].day, tzinfo=UTC)
    for day in store.decision_counts_by_day(first, until=now):
        bucket = buckets[_week_start(date.fromisoformat(day["day"]))]
        for key in ("decisions", "with_feedback", "overrides", "accepted"):
            bucket[key] += day[key]
    accuracy = [{**b, "accuracy_pct": _pct(b["accepted"], b["with_feedback"])} for b in buckets.values()]

    month = cost.month_start(now)
    month_dates = [month.date() + timedelta(days=i) for i in range((now.date() - month.date()).days + 1)]
    daily = dict.fromkeys(month_dates, 0.0)
    for row in store.metric_totals_by_day(month, until=now):
        daily[date.fromisoformat(row["day"])] += row["cost_usd"]
    running, cumulative = 0.0, []
    for d in month_dates:
        running += daily[d]
        cumulative.append(_money(running))
    budget = config.budget
    return {
        "days": [d.isoformat() for d in dates],
        "cost_usd": [_money(v) for v in spent],
        "baseline_cost_usd": [_money(v) for v in baseline],
        "tokens": dict(sorted(tokens.items())),
        "accuracy": accuracy,
        "budget_month": {
            "days": [d.isoformat() for d in month_dates],
            "spent_usd": cumulative,
            "monthly_usd": budget.monthly_usd,
            "alert_usd": _money(budget.monthly_usd * budget.alert_threshold_pct / 100),
            "alert_threshold_pct": budget.alert_threshold_pct,
        },
    }


def runs(store: Any, limit: int = 50) -> list[dict[str, Any]]:
    """The newest runs with what each cost, what Claude alone would have cost and the saving."""
    found = store.list_runs(limit=limit)
    costs = store.run_costs([r.id for r in found])
    out = []
    for r in found:
        spent, alone = costs[r.id]["cost_usd"], costs[r.id]["baseline_cost_usd"]
        out.append({
            "id": r.id, "text": r.text, "trigger": r.trigger, "status": r.status, "repo": r.repo,
            "branch": r.branch, "pr_number": r.pr_number, "issue_number": r.issue_number, "verdict": r.verdict,
            "rounds": r.rounds, "created_at": r.created_at.isoformat(), "updated_at": r.updated_at.isoformat(),
            "minutes": round((r.updated_at - r.created_at).total_seconds() / 60, 2),
            "cost_usd": _money(spent), "baseline_cost_usd": _money(alone), "savings_usd": _money(alone - spent),
            "completed": completed(r),
            "resume_after": r.resume_after.isoformat() if r.resume_after else None,
        })
    return out


# -- presenting the figures -----------------------------------------------------------------------


def _usd(value: float | None) -> str:
    if value is None:
        return "-"
    sign = "-" if value < 0 else ""
    return f"{sign}${abs(value):,.4f}" if abs(value) < 1 else f"{sign}${abs(value):,.2f}"


def _percent(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f}%"


def render(data: dict[str, Any], console: Any) -> None:
    """``compute``'s figures as rich tables on ``console``."""
    from rich.table import Table

    period = data["period"]
    summary = Table(title=f"gitorch stats: last {period['days']} days", show_header=False, title_justify="left")
    summary.add_column("figure")
    summary.add_column("value", justify="right")
    summary.add_row("Claude tokens", f"{data['claude_tokens']:,}")
    summary.add_row("builder tokens (ChatGPT plan)", f"{data['chatgpt_tokens']:,}")
    summary.add_row("spent (marginal)", _usd(data["total_cost_usd"]))
    summary.add_row("Claude alone would have cost", _usd(data["baseline_cost_usd"]))
    summary.add_row("saving", f"{_usd(data['savings_usd'])} ({_percent(data['savings_pct'])})")
    summary.add_row("saving after the builder plan", _usd(data["net_savings_usd"]))
    accuracy = _percent(data["routing_accuracy_pct"]) if data["routing_accuracy_pct"] is not None \
        else "no feedback yet"
    summary.add_row("routing accuracy", accuracy)
    summary.add_row("decisions / overrides", f"{data['decisions']} / {data['overrides']}")
    summary.add_row("features completed (today)", f"{data['features_completed']} ({data['features_today']})")
    velocity = data["velocity_min_per_feature"]
    summary.add_row("minutes per feature", "-" if velocity is None else f"{velocity:.1f}")
    console.print(summary)
    render_strategies(data["routing_strategies"], console)

    if data["by_agent"]:
        agents = Table(title="per agent", title_justify="left")
        for column in ("agent", "calls", "tokens", "input", "output", "cache write", "cache read", "cost",
                       "Claude-alone cost", "fallbacks", "review pass"):
            agents.add_column(column, justify="left" if column == "agent" else "right")
        for agent, row in data["by_agent"].items():
            reviewed = data["review_by_agent"].get(agent)
            passed = f"{_percent(reviewed['pass_pct'])} of {reviewed['reviewed']}" if reviewed else "-"
            agents.add_row(agent, str(row["calls"]), f"{row['tokens']:,}", f"{row['input_tokens']:,}",
                           f"{row['output_tokens']:,}", f"{row['cache_write_tokens']:,}",
                           f"{row['cache_read_tokens']:,}", _usd(row["cost_usd"]), _usd(row["baseline_cost_usd"]),
                           str(row["fallbacks"]), passed)
        console.print(agents)

    if data["claude_models"]:
        models = Table(title="Claude's models (the architect's ladder)", title_justify="left")
        for column in ("model", "calls", "share", "cost", "why"):
            models.add_column(column, justify="right" if column in ("calls", "share", "cost") else "left")
        for model, row in data["claude_models"].items():
            why = "; ".join(f"{reason} ×{n}" for reason, n in row["reasons"].items()) or "-"
            models.add_row(model, str(row["calls"]), _percent(row["share_pct"]), _usd(row["cost_usd"]), why)
        console.print(models)

    b = data["budget"]
    budget = Table(title="budget (UTC)", show_header=False, title_justify="left")
    budget.add_column("figure")
    budget.add_column("value", justify="right")
    state = "[red]paused[/]" if b["paused"] else "[yellow]alert[/]" if b["alert"] else "[green]ok[/]"
    budget.add_row("this month", f"{_usd(b['spent_month_usd'])} of {_usd(b['monthly_usd'])} "
                                 f"({_percent(b['pct_used'])}; alert at {b['alert_threshold_pct']:g}%)")
    budget.add_row("today", _usd(b["spent_today_usd"]) + (f" of {_usd(b['daily_usd'])}" if b["daily_usd"] else ""))
    if b["per_run_usd"] is not None:
        budget.add_row("per run limit", _usd(b["per_run_usd"]))
    budget.add_row("builder plan", f"{_usd(b['subscription_monthly_usd'])} a month, "
                                   f"{_usd(b['subscription_usd'])} over this period")
    budget.add_row("state", state)
    console.print(budget)
    console.print(f"[dim]prices as of {data['prices_as_of']}[/]")
    for warning in data["warnings"]:
        console.print(f"[yellow]warning:[/] {warning}")


def render_strategies(compared: dict[str, Any], console: Any) -> None:
    """The strategies' accuracies, their paired tests, a switch suggestion and recent disagreements."""
    from rich.markup import escape
    from rich.table import Table

    from .routing.shadow import p_text

    if not compared["strategies"]:
        return
    table = Table(title="routing strategies (scored from feedback)", title_justify="left",
                  caption="wins / losses: decisions only the shadow got right / only the acting one got right",
                  caption_justify="left")
    for column in ("strategy", "scored", "accuracy", "95% interval", "wins / losses", "McNemar p"):
        table.add_column(column, justify="left" if column == "strategy" else "right")
    for name, row in compared["strategies"].items():
        test = compared["tests"].get(name)
        low, high = row["interval_pct"]
        table.add_row(name + (" (acting)" if row["acting"] else " (shadow)"), str(row["scored"]),
                      _percent(row["accuracy_pct"]), f"{low:.1f}-{high:.1f}%",
                      f"{test['only_shadow_right']} / {test['only_acting_right']}" if test else "-",
                      p_text(test["p_value"]) if test else "-")
    console.print(table)
    if compared["suggestion"]:
        console.print(f"[green]suggestion:[/] {escape(compared['suggestion']['message'])}")
    elif compared["tests"]:
        console.print("[dim]no switch suggested: no shadow is significantly better (McNemar exact, p < 0.05)[/]")
    if compared["disagreements"]:
        shown = Table(title=f"where they disagreed ({compared['disagreement_count']}, newest first)",
                      title_justify="left")
        for column in ("decision", "request", *compared["strategies"]):
            shown.add_column(column)
        for item in compared["disagreements"][:10]:
            cells = []
            for name in compared["strategies"]:
                suggestion = item["suggestions"].get(name)
                mark = {True: " ✓", False: " ✗"}.get(item["right"].get(name), "")
                cells.append(f"{suggestion['agent']} / {suggestion['task_type']}{mark}" if suggestion else "-")
            shown.add_row(item["decision_id"], escape(item["text"][:60]), *cells)
        console.print(shown)


def markdown(data: dict[str, Any]) -> str:
    """``compute``'s figures as a Markdown table (for a GitHub job summary or a PR comment)."""
    b = data["budget"]
    accuracy = _percent(data["routing_accuracy_pct"]) if data["routing_accuracy_pct"] is not None \
        else "no feedback yet"
    lines = [
        f"| gitorch, last {data['period']['days']} days | |",
        "| --- | ---: |",
        f"| Claude tokens | {data['claude_tokens']:,} |",
        f"| builder tokens | {data['chatgpt_tokens']:,} |",
        f"| spent | {_usd(data['total_cost_usd'])} |",
        f"| Claude alone | {_usd(data['baseline_cost_usd'])} |",
        f"| saving | {_usd(data['savings_usd'])} ({_percent(data['savings_pct'])}) |",
        f"| routing accuracy | {accuracy} ({data['decisions']} decisions, {data['overrides']} overrides) |",
        f"| features completed | {data['features_completed']} ({data['features_today']} today)"
        + (f", {data['velocity_min_per_feature']:.1f} min each |" if data["velocity_min_per_feature"] is not None
           else " |"),
        f"| month's budget | {_usd(b['spent_month_usd'])} of {_usd(b['monthly_usd'])} ({_percent(b['pct_used'])})"
        f"{' - paused' if b['paused'] else ' - alert' if b['alert'] else ''} |",
    ]
    if data.get("claude_models"):
        lines.append("| Claude's calls per model | " + ", ".join(
            f"{model} {_percent(row['share_pct'])}" for model, row in data["claude_models"].items()) + " |")
    return "\n".join(lines) + "\n"
