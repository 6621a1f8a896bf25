"""The metric store's values as the reports site draws them: trends, quality bands, drifted columns.

:func:`metric_series` turns metric rows into per-model day series, :func:`quality_overlay` gathers
what a quality trend draws around the realized metric and :func:`drifted_columns` the latest day's
drifted columns against their learned bounds.
"""

from __future__ import annotations

import datetime as dt
import json
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from monitoring_platform.lib.database import as_date as _as_date
from monitoring_platform.lib.reports_site.headlines import HEADLINES

PERFORMANCE_ASSET = "model_performance_report"
ESTIMATES_ASSET = "estimated_performance"
DRIFT_ASSET = "data_drift_report"
ESTIMATED, BASELINE = "estimated", "reference baseline"


def metric_series(
    metrics: Iterable[Mapping[str, Any]],
) -> dict[str, dict[tuple[str, str], dict[dt.date, float]]]:
    """Per model, ``{(asset, metric): {day: value}}`` of the undimensioned values.

    Each worst-version headline is added as the highest of its per-version values.
    """
    worst = {(h.asset, h.metric) for h in HEADLINES if h.worst_version}
    out: dict[str, dict[tuple[str, str], dict[dt.date, float]]] = defaultdict(
        lambda: defaultdict(dict)
    )
    for row in metrics:
        if row.get("value") is None:
            continue
        key = (str(row["asset"]), str(row["metric"]))
        day, value = _as_date(row["partition_date"]), float(row["value"])
        if not row.get("dims") or row.get("dims") == "{}":
            out[str(row["model"])][key][day] = value
        elif key in worst:
            series = out[str(row["model"])][key]
            series[day] = max(value, series.get(day, value))
    return out


Series = Mapping[tuple[str, str], Mapping[dt.date, float]]


@dataclass
class QualityOverlay:
    """What a quality trend draws around the realized metric.

    That is its confidence interval, the estimate from predictions alone (dashed) with its band,
    and the reference window's quality.
    """

    lines: dict[str, Mapping[dt.date, float]] = field(default_factory=dict)
    bands: dict[str, dict[dt.date, tuple[float, float]]] = field(default_factory=dict)
    styles: dict[str, str] = field(default_factory=dict)
    keys: set[tuple[str, str]] = field(default_factory=set)  # the series drawn here


def _band(series: Series, asset: str, metric: str) -> dict[dt.date, tuple[float, float]]:
    low = series.get((asset, f"{metric}_low"), {})
    high = series.get((asset, f"{metric}_high"), {})
    return {day: (low[day], high[day]) for day in sorted(set(low) & set(high))}


def quality_overlay(metric: str, name: str, series: Series) -> QualityOverlay:
    """The lines and bands of quality metric ``metric``'s trend (its line named ``name``).

    They come from the performance step's ``<m>``, ``<m>_low``, ``<m>_high``, ``baseline_<m>``
    and the estimation step's ``<m>``, ``<m>_low``, ``<m>_high``; missing series are left out.
    """
    out = QualityOverlay()
    for asset, line, style in (
        (PERFORMANCE_ASSET, name, "solid"),
        (ESTIMATES_ASSET, ESTIMATED, "dashed"),
    ):
        points = series.get((asset, metric))
        if points:
            out.lines[line] = points
            if style != "solid":
                out.styles[line] = style
        band = _band(series, asset, metric)
        if band:
            out.bands[line] = band
        out.keys |= {(asset, metric), (asset, f"{metric}_low"), (asset, f"{metric}_high")}
    baseline = series.get((PERFORMANCE_ASSET, f"baseline_{metric}"))
    if baseline:
        out.lines[BASELINE] = baseline
        out.styles[BASELINE] = "dotted"
    out.keys.add((PERFORMANCE_ASSET, f"baseline_{metric}"))
    return out


def _dims(raw: Any) -> dict[str, Any]:
    if isinstance(raw, Mapping):
        return dict(raw)
    try:
        parsed = json.loads(raw) if raw else {}
    except ValueError:
        return {}
    return parsed if isinstance(parsed, dict) else {}


def _bound_words(method: str, bound: float | None) -> str:
    from monitoring_platform.lib.stattests import is_pvalue_test

    if bound is None:
        return "no learned bound (Evidently's fixed threshold)"
    try:
        pvalue = is_pvalue_test(method)
    except ValueError:
        return f"bound {bound:.4g}"
    return f"{'below' if pvalue else 'above'} {bound:.4g}"


def drifted_columns(metrics: Iterable[Mapping[str, Any]]) -> dict[str, Any] | None:
    """One model's latest drift day: the columns found drifted, each score against its learned bound.

    ``None`` when no per-column drift was recorded.
    """
    by_day: dict[dt.date, dict[str, dict[str, Any]]] = defaultdict(dict)
    for row in metrics:
        if str(row["asset"]) != DRIFT_ASSET or row["metric"] not in (
            "drift_score",
            "drift_bound",
            "drift_detected",
        ):
            continue
        column = _dims(row.get("dims")).get("column")
        if column is None:
            continue
        cell = by_day[_as_date(row["partition_date"])].setdefault(str(column), {})
        cell[str(row["metric"])] = None if row.get("value") is None else float(row["value"])
        if row["metric"] == "drift_score":
            cell["method"] = str(row.get("text_value") or "")  # the stat test's name
    days = [d for d, cols in by_day.items() if any("drift_score" in c for c in cols.values())]
    if not days:
        return None
    day = max(days)
    columns = [
        {
            "column": column,
            "method": cell.get("method", ""),
            "score": f"{cell['drift_score']:.4g}",
            "bound": None if cell.get("drift_bound") is None else f"{cell['drift_bound']:.4g}",
            "drift_when": _bound_words(cell.get("method", ""), cell.get("drift_bound")),
        }
        for column, cell in sorted(by_day[day].items())
        if cell.get("drift_detected") and cell.get("drift_score") is not None
    ]
    return {"day": day.isoformat(), "measured": len(by_day[day]), "columns": columns}
