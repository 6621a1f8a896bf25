"""The business-metrics report of a model-day: its checks, its metrics and its page.

:func:`business_metrics_report` judges a model-day's rows of the dbt marts (latency SLO, error
budget, KPI drops) and publishes the page: KPIs, system metrics, checks and 30-day trends, from
the ``business_metrics.html`` template with inline SVG charts (no script), one line per model
version over the trailing days. Every value from the data is autoescaped.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import functools
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from monitoring_platform.config import ModelConfig
from monitoring_platform.lib.business_metrics import (
    KPI_TITLES,
    KPIS,
    check_error_rate,
    check_kpi_drop,
    check_latency,
    checked_kpis,
    day_metrics,
    kpi_totals,
    rows_of_day,
    system_totals,
)
from monitoring_platform.lib.charts import Limit, line_chart
from monitoring_platform.lib.database import as_date
from monitoring_platform.lib.html import milliseconds as _ms
from monitoring_platform.lib.html import money as _money
from monitoring_platform.lib.html import percent, render
from monitoring_platform.lib.html import whole as _int
from monitoring_platform.lib.reports import BUSINESS_METRICS, Navigation, page_heading, page_title
from monitoring_platform.lib.stage import Link, StageResult, Verdict

TREND_DAYS = 30


_share = functools.partial(percent, digits=2)


SYSTEM_COLUMNS: list[tuple[str, str, Callable[[Any], str]]] = [
    ("requests", "requests", _int),
    ("peak_requests_per_minute", "peak req/min", _int),
    ("latency_p50_ms", "p50", _ms),
    ("latency_p95_ms", "p95", _ms),
    ("latency_p99_ms", "p99", _ms),
    ("error_rate", "5xx rate", _share),
    ("throttle_rate", "429 rate", _share),
]
BUSINESS_COLUMNS: list[tuple[str, str, Callable[[Any], str]]] = [
    ("predictions", "predictions", _int),
    ("clicks", "clicked", _int),
    ("conversions", "converted", _int),
    ("revenue", "revenue", _money),
    ("click_through_rate", "CTR", _share),
    ("conversion_rate", "conversion rate", _share),
    ("revenue_per_1k_predictions", "revenue / 1k predictions", _money),
]
TRENDS: list[tuple[str, str, str, Callable[[Any], str]]] = [
    ("system", "requests", "Requests", _int),
    ("system", "latency_p95_ms", "Latency p95 (ms)", _ms),
    ("system", "error_rate", "5xx error rate", _share),
    ("system", "throttle_rate", "429 throttle rate", _share),
    ("business", "click_through_rate", "Click-through rate", _share),
    ("business", "conversion_rate", "Conversion rate", _share),
    ("business", "revenue_per_1k_predictions", "Revenue per 1,000 predictions", _money),
]


def _rows(rows: Sequence[Mapping[str, Any]], columns) -> tuple[list, list[dict]]:
    """Header pairs and formatted rows, one per model version."""
    header = [("model_version", "model version")] + [(name, title) for name, title, _ in columns]
    out = []
    for row in sorted(rows, key=lambda r: str(r["model_version"])):
        cells = {name: fmt(row.get(name)) for name, _, fmt in columns}
        out.append({"model_version": str(row["model_version"]), **cells})
    return header, out


CHECK_COLUMNS = [("check", "check"), ("result", "result"), ("why", "why"), ("numbers", "numbers")]


def check_rows(verdicts: Sequence[Verdict]) -> list[dict]:
    """One row per check: its result in words (coloured), why, and its numbers."""
    rows = []
    for v in verdicts:
        if v.passed:
            result = {"text": "passed", "kind": "ok"}
        elif v.severity == "WARN":
            result = {"text": "warning", "kind": "warn"}
        else:
            result = {"text": "failed", "kind": "error"}
        numbers = ", ".join(
            f"{k} = {_number(v.observed[k])}"
            for k in ("observed", "threshold", "baseline")
            if k in v.observed
        )
        rows.append({"check": v.name, "result": result, "why": v.description, "numbers": numbers})
    return rows


def _number(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.6g}"
    return str(value)


def _by_version(
    rows: Sequence[Mapping[str, Any]], metric: str
) -> dict[str, dict[dt.date, float | None]]:
    series: dict[str, dict[dt.date, float | None]] = {}
    for row in rows:
        value = row.get(metric)
        series.setdefault(str(row["model_version"]), {})[as_date(row["metric_date"])] = (
            None if value is None else float(value)
        )
    return dict(sorted(series.items()))


def render_business_report(
    model: str,
    date: dt.date,
    system_rows: Sequence[Mapping[str, Any]],
    business_rows: Sequence[Mapping[str, Any]],
    verdicts: Sequence[Verdict],
    *,
    slo_ms: float | None = None,
    error_budget: float | None = None,
    trend_days: int = TREND_DAYS,
) -> str:
    """The page for ``model`` on ``date``; rows cover the trailing ``trend_days`` up to ``date``."""
    days = [date - dt.timedelta(days=n) for n in range(trend_days - 1, -1, -1)]
    day_system = rows_of_day(system_rows, date)
    day_business = rows_of_day(business_rows, date)
    kpis = kpi_totals(day_business).get(date, {})
    system = system_totals(day_system).get(date, {})
    cards = [
        ("predictions", _int(kpis.get("predictions"))),
        (KPI_TITLES["click_through_rate"], _share(kpis.get("click_through_rate"))),
        (KPI_TITLES["conversion_rate"], _share(kpis.get("conversion_rate"))),
        (KPI_TITLES["revenue_per_1k_predictions"], _money(kpis.get("revenue_per_1k_predictions"))),
        ("requests", _int(system.get("requests"))),
        ("5xx error rate", _share(system.get("error_rate"))),
        ("429 throttle rate", _share(system.get("throttle_rate"))),
    ]
    charts = []
    for source, metric, title, fmt in TRENDS:
        rows = system_rows if source == "system" else business_rows
        limits = []
        if metric == "latency_p95_ms" and slo_ms is not None:
            limits.append(Limit("SLO", slo_ms))
        elif metric == "error_rate" and error_budget is not None:
            limits.append(Limit("budget", error_budget))
        charts.append(line_chart(title, days, _by_version(rows, metric), fmt, limits))
    failed = [v for v in verdicts if not v.passed]
    errors = [v for v in failed if v.severity != "WARN"]
    if not verdicts:
        verdict = {"kind": "na", "word": "Not judged", "text": "No checks configured."}
    elif failed:
        verdict = {
            "kind": "error" if errors else "warn",
            "word": f"{len(failed)} of {len(verdicts)} checks failed",
            "text": ", ".join(v.name for v in failed) + ".",
        }
    else:
        verdict = {"kind": "ok", "word": "All checks passed", "text": f"{len(verdicts)} checks."}
    business_header, business = _rows(day_business, BUSINESS_COLUMNS)
    system_header, system_table = _rows(day_system, SYSTEM_COLUMNS)
    return render(
        "business_metrics.html",
        title=page_title(BUSINESS_METRICS, model, date.isoformat()),
        heading=page_heading(BUSINESS_METRICS, model, date.isoformat()),
        nav=Navigation(root="../../", model=model, day=date.isoformat()),
        verdict=verdict,
        cards=cards,
        check_columns=CHECK_COLUMNS,
        check_rows=check_rows(verdicts),
        business_columns=business_header,
        business_rows=business,
        system_columns=system_header,
        system_rows=system_table,
        trend_days=trend_days,
        charts=charts,
    )


def history_start(model: ModelConfig, date: dt.date) -> dt.date:
    """The first day of mart rows the report of ``date`` needs: its trends and KPI baselines."""
    return date - dt.timedelta(days=max(TREND_DAYS - 1, model.thresholds.kpi_drop.baseline_days))


def business_verdicts(
    model: ModelConfig,
    date: dt.date,
    system_rows: Sequence[Mapping[str, Any]],
    business_rows: Sequence[Mapping[str, Any]],
) -> list[Verdict]:
    """The day's latency SLO, error budget and KPI drop verdicts, from the marts' rows."""
    limits = model.thresholds
    day_system = rows_of_day(system_rows, date)
    totals = kpi_totals(business_rows)
    return [
        check_latency(day_system, limits.latency_p95_slo_ms),
        check_error_rate(day_system, limits.error_rate_budget),
        *(
            check_kpi_drop(
                kpi, date, totals, getattr(limits.kpi_drop, kpi), limits.kpi_drop.baseline_days
            )
            for kpi in checked_kpis(model)
        ),
    ]


def business_metrics_report(
    model: ModelConfig,
    date: dt.date,
    system_rows: Sequence[Mapping[str, Any]],
    business_rows: Sequence[Mapping[str, Any]],
    publish_page: Callable[[str, str], str],
) -> StageResult:
    """The day's business report from the marts' rows since :func:`history_start`.

    ``publish_page(name, html)`` publishes a report page and returns its URL; every verdict
    links the page.
    """
    limits = model.thresholds
    verdicts = business_verdicts(model, date, system_rows, business_rows)
    trend_start = date - dt.timedelta(days=TREND_DAYS - 1)
    html = render_business_report(
        model.name,
        date,
        [r for r in system_rows if as_date(r["metric_date"]) >= trend_start],
        [r for r in business_rows if as_date(r["metric_date"]) >= trend_start],
        verdicts,
        slo_ms=limits.latency_p95_slo_ms,
        error_budget=limits.error_rate_budget,
    )
    link = publish_page(BUSINESS_METRICS, html)
    day_system = rows_of_day(system_rows, date)
    day_kpis = kpi_totals(business_rows).get(date, {})
    return StageResult(
        metrics=day_metrics(date, system_rows, business_rows),
        verdicts=[dataclasses.replace(v, report=link) for v in verdicts],
        metadata={
            "report": Link(link),
            "status": "ok" if day_system else "no_data",
            "model_versions": sorted({str(r["model_version"]) for r in day_system}),
            **{kpi: day_kpis[kpi] for kpi in KPIS if day_kpis.get(kpi) is not None},
            "trend_window": f"{trend_start}..{date}",
            "failed_checks": [v.name for v in verdicts if not v.passed],
        },
        pages={BUSINESS_METRICS: link},
    )
