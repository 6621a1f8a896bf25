"""Line charts as plain data: the geometry an SVG template (``macros.html``'s ``chart``) draws.

The one chart implementation of the reports site: computed here, drawn server-side as inline SVG
by a template (no script), so every label is autoescaped text.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

PALETTE = ("#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b", "#17becf")
LIMIT_COLORS = {"error": "#c62828", "warn": "#b26a00", "info": "#5b6472"}


@dataclass(frozen=True)
class Limit:
    """A horizontal line: a threshold, SLO or budget, labelled with its value."""

    label: str
    value: float
    kind: str = "error"


@dataclass
class Chart:
    title: str
    note: str = ""
    width: int = 440
    height: int = 200
    left: int = 64
    top: int = 10
    plot_w: float = 0.0
    plot_h: float = 0.0
    y_ticks: list[dict[str, Any]] = field(default_factory=list)
    x_ticks: list[dict[str, Any]] = field(default_factory=list)
    limits: list[dict[str, Any]] = field(default_factory=list)
    series: list[dict[str, Any]] = field(default_factory=list)


def line_chart(
    title: str,
    days: Sequence[dt.date],
    series: Mapping[str, Mapping[dt.date, float | None]],
    fmt: Callable[[Any], str],
    limits: Sequence[Limit] = (),
    note: str = "",
    width: int = 440,
    height: int = 200,
) -> Chart:
    """One line per series over ``days`` (gaps where a day has no value), limits as dashed lines."""
    right, bottom = 10, 26
    chart = Chart(title=title, note=note, width=width, height=height)
    chart.plot_w = width - chart.left - right
    chart.plot_h = height - chart.top - bottom
    values = [v for s in series.values() for v in s.values() if v is not None]
    values += [limit.value for limit in limits]
    low, high = (min(values + [0.0]), max(values)) if values else (0.0, 1.0)
    if high <= low:
        high = low + 1.0
    high += (high - low) * 0.05
    span = max(len(days) - 1, 1)

    def x(i: int) -> float:
        return round(chart.left + chart.plot_w * i / span, 1)

    def y(v: float) -> float:
        return round(chart.top + chart.plot_h * (1 - (v - low) / (high - low)), 1)

    chart.y_ticks = [
        {"y": y(low + (high - low) * k / 4), "label": fmt(low + (high - low) * k / 4)}
        for k in range(5)
    ]
    for i, day in enumerate(days):
        if i in (0, len(days) - 1) or (len(days) > 2 and i == len(days) // 2):
            anchor = "start" if i == 0 else ("end" if i == len(days) - 1 else "middle")
            chart.x_ticks.append({"x": x(i), "label": day.isoformat(), "anchor": anchor})
    chart.limits = [
        {
            "y": y(limit.value),
            "label": f"{limit.label} {fmt(limit.value)}",
            "color": LIMIT_COLORS.get(limit.kind, LIMIT_COLORS["info"]),
        }
        for limit in limits
    ]
    for n, (name, points) in enumerate(series.items()):
        segments: list[list[dict[str, Any]]] = [[]]
        dots = []
        for i, day in enumerate(days):
            v = points.get(day)
            if v is None:
                if segments[-1]:
                    segments.append([])
                continue
            point = {"x": x(i), "y": y(v), "day": day.isoformat(), "label": fmt(v)}
            segments[-1].append(point)
            dots.append(point)
        chart.series.append(
            {
                "name": name,
                "color": PALETTE[n % len(PALETTE)],
                "segments": [s for s in segments if s],
                "points": dots,
            }
        )
    return chart
