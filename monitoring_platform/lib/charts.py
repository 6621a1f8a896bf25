"""Line charts as plain data: the geometry an SVG template (``macros.html``'s ``chart``) draws.

A series may be drawn solid, dashed or dotted, and may carry a band: its interval day by day
(a confidence interval, an estimate's spread), drawn as a shaded area in the series' colour.

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
DASHES = {"solid": "", "dashed": "6,4", "dotted": "2,3"}


@dataclass(frozen=True)
class Limit:
    """A horizontal line: a threshold, SLO or budget, labelled with its value."""

    label: str
    value: float
    kind: str = "error"


@dataclass
class Chart:
    """A chart ready for its template: its size, plot area, ticks, limits, series and bands."""

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
    bands: list[dict[str, Any]] = field(default_factory=list)


def line_chart(
    title: str,
    days: Sequence[dt.date],
    series: Mapping[str, Mapping[dt.date, float | None]],
    fmt: Callable[[Any], str],
    limits: Sequence[Limit] = (),
    note: str = "",
    width: int = 440,
    height: int = 200,
    bands: Mapping[str, Mapping[dt.date, tuple[float, float]]] | None = None,
    styles: Mapping[str, str] | None = None,
) -> Chart:
    """One line per series over ``days`` (gaps where a day has no value), limits as dashed lines.

    ``bands`` maps a series' name to its ``(low, high)`` by day, shaded behind the lines;
    ``styles`` maps a series' name to ``solid`` (the default), ``dashed`` or ``dotted``.
    """
    bands, styles = bands or {}, styles or {}
    unknown = set(styles.values()) - set(DASHES)
    if unknown:
        raise ValueError(f"unknown line styles {sorted(unknown)}; known: {sorted(DASHES)}")
    right, bottom = 10, 26
    chart = Chart(title=title, note=note, width=width, height=height)
    chart.plot_w = width - chart.left - right
    chart.plot_h = height - chart.top - bottom
    values = [v for s in series.values() for v in s.values() if v is not None]
    values += [limit.value for limit in limits]
    values += [
        v for band in bands.values() for pair in band.values() for v in pair if v is not None
    ]
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
    colors = {name: PALETTE[n % len(PALETTE)] for n, name in enumerate(series)}
    for n, (name, band) in enumerate(bands.items()):
        color = colors.get(name, PALETTE[(len(series) + n) % len(PALETTE)])
        chart.bands.append(
            {
                "name": name,
                "color": color,
                "areas": [_band_area(run, days, x, y, fmt) for run in _runs(days, band) if run],
            }
        )
    for name, points in series.items():
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
                "color": colors[name],
                "style": styles.get(name, "solid"),
                "dash": DASHES[styles.get(name, "solid")],
                "segments": [s for s in segments if s],
                "points": dots,
            }
        )
    return chart


def _runs(
    days: Sequence[dt.date], band: Mapping[dt.date, tuple[float, float]]
) -> list[list[tuple[int, float, float]]]:
    """The band's stretches of consecutive days with an interval: ``(day index, low, high)``."""
    runs: list[list[tuple[int, float, float]]] = [[]]
    for i, day in enumerate(days):
        pair = band.get(day)
        if pair is None or None in pair:
            if runs[-1]:
                runs.append([])
            continue
        low, high = sorted(pair)
        runs[-1].append((i, low, high))
    return runs


def _band_area(
    run: Sequence[tuple[int, float, float]],
    days: Sequence[dt.date],
    x: Callable[[int], float],
    y: Callable[[float], float],
    fmt: Callable[[Any], str],
) -> dict[str, Any]:
    """A polygon along the highs left to right and back along the lows; a lone day is a bar."""
    half = 2.5 if len(run) == 1 else 0.0
    top = [(x(i) - half, y(high)) for i, _low, high in run]
    bottom = [(x(i) - half, y(low)) for i, low, _high in run]
    if half:
        top.append((top[0][0] + 2 * half, top[0][1]))
        bottom.append((bottom[0][0] + 2 * half, bottom[0][1]))
    outline = top + bottom[::-1]
    return {
        "points": " ".join(f"{round(px, 1)},{round(py, 1)}" for px, py in outline),
        "first": days[run[0][0]].isoformat(),
        "last": days[run[-1][0]].isoformat(),
        "tip": "; ".join(f"{days[i]}: {fmt(low)} to {fmt(high)}" for i, low, high in run),
    }
