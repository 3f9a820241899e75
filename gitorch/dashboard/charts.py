"""Charts drawn by the server as inline SVG: nothing to download, readable offline, crisp at any size.

Two shapes cover the dashboard: ``line_chart`` (lines over a shared x axis, optional shaded band
between two of them, horizontal reference lines such as a limit) and ``stacked_bars``. Every text
that reaches the SVG is escaped; each point carries a ``<title>`` so hovering shows its value.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date
from html import escape

from markupsafe import Markup

WIDTH, HEIGHT = 560, 210
LEFT, RIGHT, TOP, BOTTOM = 58, 14, 12, 26

# One colour per agent, everywhere on the page.
AGENT_COLOURS = {"claude": "#d97757", "chatgpt-pro": "#10a37f", "codex": "#6366f1"}
OTHER_COLOUR = "#64748b"


def agent_colour(agent: str) -> str:
    return AGENT_COLOURS.get(agent, OTHER_COLOUR)


@dataclass
class Series:
    name: str
    values: Sequence[float | None]
    colour: str
    dashed: bool = False
    points: bool = False


@dataclass
class Rule:
    """A horizontal reference line (a limit, an alert threshold)."""

    value: float
    label: str
    colour: str
    dashed: bool = True


def nice_ticks(top: float, count: int = 4) -> list[float]:
    """Round tick values from 0 to at least ``top``."""
    if top <= 0:
        return [0.0, 1.0]
    raw = top / count
    magnitude = 10 ** math.floor(math.log10(raw))
    step = next(m * magnitude for m in (1, 2, 2.5, 5, 10) if m * magnitude >= raw)
    ticks = [0.0]
    while ticks[-1] < top - 1e-12:
        ticks.append(round(ticks[-1] + step, 10))
    return ticks


def short_date(iso_day: str) -> str:
    d = date.fromisoformat(iso_day)
    return f"{d:%b} {d.day}"


def usd(value: float) -> str:
    if value == 0:
        return "$0"
    if abs(value) < 10:
        return f"${value:,.2f}"
    return f"${value:,.0f}"


def tokens(value: float) -> str:
    for size, suffix in ((1e9, "G"), (1e6, "M"), (1e3, "k")):
        if abs(value) >= size:
            return f"{value / size:.3g}{suffix}"
    return f"{value:.0f}"


def percent(value: float) -> str:
    return f"{value:.0f}%"


class _Frame:
    """Maps data to the plot area and draws the axes."""

    def __init__(self, labels: Sequence[str], top: float, fmt: Callable[[float], str], bars: bool = False):
        self.labels = list(labels)
        self.ticks = nice_ticks(top)
        self.top = self.ticks[-1] or 1.0
        self.fmt = fmt
        self.bars = bars
        self.plot_w = WIDTH - LEFT - RIGHT
        self.plot_h = HEIGHT - TOP - BOTTOM

    def x(self, i: int) -> float:
        n = len(self.labels)
        if self.bars:
            return LEFT + self.plot_w * (i + 0.5) / max(n, 1)
        return LEFT + (self.plot_w * i / (n - 1) if n > 1 else self.plot_w / 2)

    def y(self, value: float) -> float:
        return TOP + self.plot_h * (1 - min(max(value, 0.0), self.top) / self.top)

    def axes(self, label_of: Callable[[str], str]) -> list[str]:
        out = []
        for tick in self.ticks:
            y = self.y(tick)
            out.append(f'<line x1="{LEFT}" x2="{WIDTH - RIGHT}" y1="{y:.1f}" y2="{y:.1f}" class="grid"/>')
            out.append(f'<text x="{LEFT - 6}" y="{y + 4:.1f}" text-anchor="end" class="tick">'
                       f"{escape(self.fmt(tick))}</text>")
        n = len(self.labels)
        every = max(1, math.ceil(n / 7))
        for i in range(0, n, every):
            x = self.x(i)
            anchor = "start" if x - LEFT < 20 else "end" if WIDTH - RIGHT - x < 20 else "middle"
            out.append(f'<text x="{x:.1f}" y="{HEIGHT - 8}" text-anchor="{anchor}" class="tick">'
                       f"{escape(label_of(self.labels[i]))}</text>")
        return out


def _svg(body: list[str], title: str) -> Markup:
    return Markup(
        f'<svg viewBox="0 0 {WIDTH} {HEIGHT}" role="img" aria-label="{escape(title)}" class="chart" '
        f'xmlns="http://www.w3.org/2000/svg"><title>{escape(title)}</title>' + "".join(body) + "</svg>")


def _path(frame: _Frame, values: Sequence[float | None]) -> str:
    """An SVG path through the values; None leaves a gap."""
    parts, pen_down = [], False
    for i, v in enumerate(values):
        if v is None:
            pen_down = False
            continue
        parts.append(f"{'L' if pen_down else 'M'}{frame.x(i):.1f},{frame.y(v):.1f}")
        pen_down = True
    return " ".join(parts)


def line_chart(labels: Sequence[str], series: Sequence[Series], *, title: str,
               fmt: Callable[[float], str] = usd, rules: Sequence[Rule] = (),
               band: tuple[int, int] | None = None, band_colour: str = "#16a34a",
               label_of: Callable[[str], str] = short_date, top: float | None = None) -> Markup:
    """Lines over ``labels``. ``band=(upper, lower)`` shades the area between two series (the
    saving between the Claude-only baseline and the spending)."""
    values = [v for s in series for v in s.values if v is not None] + [r.value for r in rules]
    frame = _Frame(labels, top if top is not None else max(values, default=0.0), fmt)
    body = frame.axes(label_of)
    if band is not None and labels:
        upper, lower = series[band[0]].values, series[band[1]].values
        if all(v is not None for v in (*upper, *lower)):
            edge = [f"{frame.x(i):.1f},{frame.y(v):.1f}" for i, v in enumerate(upper)]
            edge += [f"{frame.x(i):.1f},{frame.y(v):.1f}" for i, v in reversed(list(enumerate(lower)))]
            body.append(f'<polygon points="{" ".join(edge)}" fill="{band_colour}" fill-opacity="0.14" '
                        f'class="band"/>')
    for rule in rules:
        y = frame.y(rule.value)
        dash = ' stroke-dasharray="6 4"' if rule.dashed else ""
        body.append(f'<line x1="{LEFT}" x2="{WIDTH - RIGHT}" y1="{y:.1f}" y2="{y:.1f}" stroke="{rule.colour}" '
                    f'stroke-width="1.5"{dash} class="rule"/>')
        label_y = y - 5 if y - 5 > TOP + 10 else y + 14  # below the line when it runs along the top
        body.append(f'<text x="{WIDTH - RIGHT - 4}" y="{label_y:.1f}" text-anchor="end" class="rule-label" '
                    f'fill="{rule.colour}">{escape(rule.label)}</text>')
    for s in series:
        dash = ' stroke-dasharray="5 4"' if s.dashed else ""
        body.append(f'<path d="{_path(frame, s.values)}" fill="none" stroke="{s.colour}" stroke-width="2.2" '
                    f'stroke-linejoin="round"{dash} class="line" data-series="{escape(s.name)}"/>')
        for i, v in enumerate(s.values):
            if v is None:
                continue
            r = 3.2 if s.points else 6
            visible = "" if s.points else ' fill-opacity="0"'
            body.append(f'<circle cx="{frame.x(i):.1f}" cy="{frame.y(v):.1f}" r="{r}" fill="{s.colour}"{visible}>'
                        f"<title>{escape(label_of(labels[i]))}: {escape(s.name)} {escape(fmt(v))}</title></circle>")
    return _svg(body, title)


def stacked_bars(labels: Sequence[str], stacks: Sequence[Series], *, title: str,
                 fmt: Callable[[float], str] = tokens, label_of: Callable[[str], str] = short_date) -> Markup:
    """One bar per label, the series stacked in order."""
    totals = [sum((s.values[i] or 0) for s in stacks) for i in range(len(labels))]
    frame = _Frame(labels, max(totals, default=0.0), fmt, bars=True)
    body = frame.axes(label_of)
    width = max(2.0, frame.plot_w / max(len(labels), 1) * 0.72)
    for i, label in enumerate(labels):
        base = 0.0
        for s in stacks:
            v = s.values[i] or 0
            if v <= 0:
                continue
            y_top, y_base = frame.y(base + v), frame.y(base)
            body.append(f'<rect x="{frame.x(i) - width / 2:.1f}" y="{y_top:.1f}" width="{width:.1f}" '
                        f'height="{max(y_base - y_top, 0.5):.1f}" fill="{s.colour}" class="bar" '
                        f'data-series="{escape(s.name)}"><title>{escape(label_of(label))}: {escape(s.name)} '
                        f"{escape(fmt(v))}</title></rect>")
            base += v
    return _svg(body, title)
