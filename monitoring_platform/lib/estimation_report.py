"""Estimated beside realized quality: the gaps, and the section of the performance page.

The performance step compares the day's realized quality with the estimate made before its
labels arrived, and shows the last days' estimates (with their bands) beside realized values.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Iterable
from typing import Any

import numpy as np
import pandas as pd

from monitoring_platform.config import ModelConfig
from monitoring_platform.lib.estimation import estimate_gaps
from monitoring_platform.lib.estimation_methods import ALL_METRICS, BAND
from monitoring_platform.lib.estimation_stage import read_estimates
from monitoring_platform.lib.metric_store import Metric, MetricStore
from monitoring_platform.lib.performance import PerformanceResult
from monitoring_platform.lib.storage import ObjectStore

# The asset whose metrics hold the daily estimates, and the one holding realized quality.
ESTIMATED_ASSET = "estimated_performance"
REALIZED_ASSET = "model_performance_report"
# How many earlier days the performance page shows next to the day.
HISTORY_DAYS = 14


def realized_against_estimate(
    lake_store: ObjectStore,
    store: MetricStore,
    model: ModelConfig,
    date: dt.date,
    result: PerformanceResult,
) -> tuple[list[Metric], str]:
    """The day's estimate against its realized quality, for the performance step.

    Returns the gap estimated - realized per metric (overall and per version) as metric-store
    rows, and the page's "estimated vs realized" section; nothing without estimation.
    """
    if not model.estimation.enabled:
        return [], ""
    estimates = read_estimates(lake_store, model, date)
    gaps = estimate_gaps(estimates, result.metrics, result.by_version)
    metrics = [
        Metric(f"{name}_estimate_gap", gap, {"model_version": v} if v else None)
        for v, name, gap in gaps
    ]
    history = estimate_history(
        store.metrics(model=model.name, asset=ESTIMATED_ASSET),
        store.metrics(model=model.name, asset=REALIZED_ASSET),
        date,
        result.metrics,
    )
    return metrics, estimated_vs_realized_section(history, str(date))


def estimate_history(
    estimated: Iterable[dict[str, Any]],
    realized: Iterable[dict[str, Any]],
    date: dt.date,
    realized_today: dict[str, float],
) -> list[dict[str, Any]]:
    """The last ``HISTORY_DAYS`` days' estimates (value, band) beside realized values.

    ``estimated`` and ``realized`` are metric-store records of the two steps; overall values
    only (no dimensions). Realized values of earlier days come from the records, the day's own
    from ``realized_today``. One row per day and estimated metric, by metric then day.
    """
    first = date - dt.timedelta(days=HISTORY_DAYS)
    rows: dict[tuple[str, str], dict[str, Any]] = {}

    def row(day: Any, metric: str) -> dict[str, Any]:
        return rows.setdefault((str(day), metric), {"day": str(day), "metric": metric})

    for record in estimated:
        day = record["partition_date"]
        if record["dims"] or not first <= day <= date:
            continue
        name = record["metric"]
        for suffix, field in (("_low", "low"), ("_high", "high"), ("", "estimated")):
            base = name.removesuffix(suffix) if suffix else name
            if (suffix and name.endswith(suffix)) or (not suffix and base in ALL_METRICS):
                if base in ALL_METRICS:
                    row(day, base)[field] = record["value"]
                break
    names = {metric for _day, metric in rows}
    for record in realized:
        day = record["partition_date"]
        if record["dims"] or not first <= day < date or record["metric"] not in names:
            continue
        row(day, record["metric"])["realized"] = record["value"]
    for metric, value in realized_today.items():
        if metric in names:
            row(date, metric)["realized"] = value
    return sorted(rows.values(), key=lambda r: (r["metric"], r["day"]))


CHART_WIDTH, CHART_HEIGHT, CHART_PAD = 360, 120, 6


def estimated_vs_realized_section(history: list[dict], current_day: str) -> str:
    """Per metric, each day's estimate with its band beside the realized value.

    Shown as a table and an inline SVG chart (no script). ``history`` rows: day, metric,
    estimated, low, high, realized (any may be missing).
    """
    from monitoring_platform.lib.html import escape

    style = "font-family:system-ui,sans-serif;margin:1.5rem 2rem"
    if not history:
        return (
            f"<section id='estimated-vs-realized' style='{style}'>"
            "<h2 style='font-size:1.15rem'>Estimated vs realized</h2>"
            "<p>No estimate was recorded for these days.</p></section>"
        )
    frame = pd.DataFrame(history)
    parts = [
        f"<section id='estimated-vs-realized' style='{style}'>",
        "<h2 style='font-size:1.15rem'>Estimated vs realized</h2>",
        "<p>The estimate is made from the day's predictions as soon as its logs are in, before "
        f"labels arrive; the band is its {BAND:.0%} range for the day's sample size. The realized "
        "value uses the labels received so far.</p>",
    ]
    for metric, rows in frame.groupby("metric", sort=True):
        rows = rows.sort_values("day")
        parts.append(f"<h3 style='font-size:1rem'>{escape(metric)}</h3>")
        parts.append(_history_chart(rows))
        body = []
        for row in rows.itertuples(index=False):
            estimated, low, high, realized = (
                getattr(row, k, None) for k in ("estimated", "low", "high", "realized")
            )
            gap = None
            if estimated is not None and realized is not None and _present(estimated):
                gap = estimated - realized if _present(realized) else None
            weight = " style='font-weight:600'" if str(row.day) == current_day else ""
            cells = [
                escape(row.day),
                _number(estimated),
                f"{_number(low)} – {_number(high)}" if _present(low) else "–",
                _number(realized),
                _number(gap),
            ]
            body.append(f"<tr{weight}>" + "".join(f"<td>{c}</td>" for c in cells) + "</tr>")
        parts.append(
            "<table style='border-collapse:collapse' border='1' cellpadding='4'><thead><tr>"
            "<th>day</th><th>estimated</th><th>band</th><th>realized</th>"
            "<th>estimated − realized</th></tr></thead><tbody>" + "".join(body) + "</tbody></table>"
        )
    parts.append("</section>")
    return "".join(parts)


def _present(value) -> bool:
    return value is not None and not (isinstance(value, float) and math.isnan(value))


def _number(value) -> str:
    return f"{value:.4f}" if _present(value) else "–"


def _history_chart(rows: pd.DataFrame) -> str:
    """Band (shaded), estimate (line) and realized values (dots) over the days shown."""
    columns = [c for c in ("estimated", "low", "high", "realized") if c in rows]
    values = rows[columns].to_numpy(dtype=float)
    finite = values[np.isfinite(values)]
    if len(finite) == 0:
        return ""
    lowest, highest = float(finite.min()), float(finite.max())
    span = highest - lowest or 1.0
    n = len(rows)

    def x(i: int) -> float:
        return CHART_PAD + (CHART_WIDTH - 2 * CHART_PAD) * (i / (n - 1) if n > 1 else 0.5)

    def y(v: float) -> float:
        return CHART_PAD + (CHART_HEIGHT - 2 * CHART_PAD) * (1 - (v - lowest) / span)

    def column(name: str) -> list[float]:
        return rows[name].astype(float).tolist() if name in rows else [math.nan] * n

    low, high, estimated, realized = (column(c) for c in ("low", "high", "estimated", "realized"))
    shapes = []
    band = [(x(i), y(v)) for i, v in enumerate(high) if math.isfinite(v)] + [
        (x(i), y(v)) for i, v in reversed(list(enumerate(low))) if math.isfinite(v)
    ]
    if len(band) >= 3:
        points = " ".join(f"{a:.1f},{b:.1f}" for a, b in band)
        shapes.append(f"<polygon points='{points}' fill='#9ec5fe' fill-opacity='0.5'/>")
    line = [(x(i), y(v)) for i, v in enumerate(estimated) if math.isfinite(v)]
    if len(line) >= 2:
        points = " ".join(f"{a:.1f},{b:.1f}" for a, b in line)
        shapes.append(
            f"<polyline points='{points}' fill='none' stroke='#0d6efd' stroke-width='2'/>"
        )
    shapes += [
        f"<circle cx='{x(i):.1f}' cy='{y(v):.1f}' r='3' fill='#dc3545'/>"
        for i, v in enumerate(realized)
        if math.isfinite(v)
    ]
    return (
        f"<svg role='img' aria-label='estimated (line, band) and realized (dots)' "
        f"width='{CHART_WIDTH}' height='{CHART_HEIGHT}' viewBox='0 0 {CHART_WIDTH} {CHART_HEIGHT}' "
        f"style='display:block;margin:.25rem 0 .5rem'>{''.join(shapes)}</svg>"
    )
