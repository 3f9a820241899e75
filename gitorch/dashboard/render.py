"""The page as HTML: one Jinja template per panel, rendered on the server.

The first request gets the whole page; afterwards each server-sent event carries the panels'
new HTML by id, and the page swaps them in (no polling, no client-side framework). Jinja's
autoescape is on: run texts come from GitHub issues and must not become markup.
"""

from __future__ import annotations

from functools import cache
from typing import Any

from markupsafe import Markup

from ..routing.shadow import p_text
from . import charts
from .charts import Rule, Series

PANELS = ("notices", "kpis", "timeline", "charts", "agents", "runs", "decisions")


@cache
def _env():
    from jinja2 import Environment, PackageLoader, select_autoescape

    env = Environment(loader=PackageLoader("gitorch.dashboard", "templates"),
                      autoescape=select_autoescape(default=True, default_for_string=True),
                      trim_blocks=True, lstrip_blocks=True)
    env.filters["usd"] = usd
    env.filters["pct"] = lambda v: "–" if v is None else f"{v:.1f}%"
    env.filters["num"] = lambda v: f"{v:,}"
    env.filters["when"] = lambda iso: iso[:16].replace("T", " ") if iso else ""
    env.filters["duration"] = duration
    env.filters["p_value"] = p_text
    env.globals["agent_colour"] = charts.agent_colour
    return env


def usd(value: float | None) -> str:
    if value is None:
        return "–"
    sign = "-" if value < 0 else ""
    value = abs(value)
    return f"{sign}${value:,.4f}" if 0 < value < 1 else f"{sign}${value:,.2f}"


def duration(seconds: float | None) -> str:
    if seconds is None:
        return ""
    if seconds < 60:
        return f"{seconds:.0f}s" if seconds >= 1 else f"{seconds:.1f}s"
    minutes, secs = divmod(int(round(seconds)), 60)
    if minutes < 60:
        return f"{minutes}m {secs:02d}s"
    return f"{minutes // 60}h {minutes % 60:02d}m"


def chart_set(data: dict[str, Any]) -> dict[str, Any]:
    """The four charts as SVG, with their legends."""
    s = data["series"]
    days = s["days"]
    spent, alone = [], []
    total_spent = total_alone = 0.0
    for a, b in zip(s["cost_usd"], s["baseline_cost_usd"], strict=True):
        total_spent += a
        total_alone += b
        spent.append(total_spent)
        alone.append(total_alone)
    cost = charts.line_chart(
        days, [Series("Claude alone", alone, "#94a3b8", dashed=True), Series("gitorch", spent, "#2563eb")],
        title="Cumulative cost over 30 days: gitorch against Claude alone", band=(0, 1))
    agents = list(s["tokens"])
    token_chart = charts.stacked_bars(
        days, [Series(a, s["tokens"][a], charts.agent_colour(a)) for a in agents],
        title="Tokens per agent per day")
    weeks = [w["week"] for w in s["accuracy"]]
    accuracy = charts.line_chart(
        weeks, [Series("accepted without override", [w["accuracy_pct"] for w in s["accuracy"]], "#7c3aed",
                       points=True)],
        title="Routing accuracy per week", fmt=charts.percent, top=100.0,
        label_of=lambda w: "wk " + charts.short_date(w))
    b = s["budget_month"]
    budget = charts.line_chart(
        b["days"], [Series("spent this month", b["spent_usd"], "#2563eb", points=len(b["days"]) < 3)],
        title="Budget used this month against the monthly limit",
        rules=[Rule(b["monthly_usd"], f"limit {usd(b['monthly_usd'])}", "#dc2626", dashed=False),
               Rule(b["alert_usd"], f"alert at {b['alert_threshold_pct']:g}%", "#d97706")])
    return {
        "cost": {"svg": cost, "legend": [("gitorch (spent)", "#2563eb", False), ("Claude alone", "#94a3b8", True),
                                         ("saving", "#16a34a", False)]},
        "tokens": {"svg": token_chart, "legend": [(a, charts.agent_colour(a), False) for a in agents]},
        "accuracy": {"svg": accuracy, "legend": [("accepted without override", "#7c3aed", False)],
                     "weeks": s["accuracy"]},
        "budget": {"svg": budget, "legend": [("spent", "#2563eb", False), ("limit", "#dc2626", False),
                                             ("alert line", "#d97706", True)]},
    }


def panels(data: dict[str, Any] | None, source: dict[str, Any]) -> dict[str, str]:
    """Each panel's HTML by id, for the page and for the live updates."""
    env = _env()
    if data is None:  # nothing could be computed yet: the notices say why
        return {name: env.get_template("notices.html").render(d=None, s=None, source=source)
                if name == "notices" else "" for name in PANELS}
    context = {"d": data, "s": data["stats"], "source": source, "charts": chart_set(data)}
    return {name: env.get_template(f"{name}.html").render(context) for name in PANELS}


def page(rendered: dict[str, str], source: dict[str, Any], *, events_url: str) -> str:
    """The whole page around the panels' HTML (from ``panels``)."""
    return _env().get_template("page.html").render(
        panels={k: Markup(v) for k, v in rendered.items()}, source=source, events_url=events_url)
