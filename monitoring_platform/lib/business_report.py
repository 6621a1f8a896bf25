"""The business-metrics page of a model-day: KPIs, system metrics, checks and 30-day trends.

A standalone HTML page with inline SVG charts (no script, no network): one line per model
version over the trailing days. Every value from the data is escaped.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from monitoring_platform.lib.business_metrics import (
    KPI_TITLES,
    Verdict,
    as_date,
    kpi_totals,
    rows_of_day,
    system_totals,
)
from monitoring_platform.lib.html import escape

TREND_DAYS = 30
PALETTE = ("#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b", "#17becf")

_STYLE = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:24px;color:#1d2330;
background:#fafbfc}
h1{font-size:22px;margin:0 0 4px}h2{font-size:17px;margin:28px 0 10px}
.sub{color:#5b6472;margin-bottom:18px}
.cards{display:flex;flex-wrap:wrap;gap:12px}
.card{background:#fff;border:1px solid #dfe3e8;border-radius:8px;padding:12px 16px;min-width:170px}
.card .v{font-size:22px;font-weight:600}.card .l{color:#5b6472;font-size:13px}
table{border-collapse:collapse;background:#fff;font-size:13px}
th,td{border:1px solid #dfe3e8;padding:5px 9px;text-align:right}
th:first-child,td:first-child{text-align:left}
.pass{color:#18794e;font-weight:600}.fail{color:#c62828;font-weight:600}.warn{color:#a15c00;font-weight:600}
.charts{display:grid;grid-template-columns:repeat(auto-fill,minmax(440px,1fr));gap:16px}
.chart{background:#fff;border:1px solid #dfe3e8;border-radius:8px;padding:10px}
.chart h3{font-size:14px;margin:0 0 6px}
.legend span{display:inline-block;margin-right:12px;font-size:12px}
.legend i{display:inline-block;width:10px;height:10px;margin-right:4px;border-radius:2px}
"""


def _share(value: Any) -> str:
    return "–" if value is None else f"{float(value):.2%}"


def _ms(value: Any) -> str:
    return "–" if value is None else f"{float(value):,.1f} ms"


def _int(value: Any) -> str:
    return "–" if value is None else f"{float(value):,.0f}"


def _money(value: Any) -> str:
    return "–" if value is None else f"{float(value):,.2f}"


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


def _table(rows: Sequence[Mapping[str, Any]], columns) -> str:
    if not rows:
        return "<p>No rows for this day.</p>"
    head = "<tr><th>model version</th>" + "".join(f"<th>{escape(t)}</th>" for _, t, _ in columns)
    body = []
    for row in sorted(rows, key=lambda r: str(r["model_version"])):
        cells = "".join(f"<td>{escape(fmt(row.get(name)))}</td>" for name, _, fmt in columns)
        body.append(f"<tr><td>{escape(row['model_version'])}</td>{cells}</tr>")
    return f"<table>{head}</tr>{''.join(body)}</table>"


def _verdicts(verdicts: Sequence[Verdict]) -> str:
    if not verdicts:
        return "<p>No checks configured.</p>"
    rows = []
    for v in verdicts:
        if v.passed:
            status = '<span class="pass">passed</span>'
        elif v.severity == "WARN":
            status = '<span class="warn">warning</span>'
        else:
            status = '<span class="fail">failed</span>'
        numbers = ", ".join(
            f"{k} = {_number(v.observed[k])}"
            for k in ("observed", "threshold", "baseline")
            if k in v.observed
        )
        rows.append(
            f"<tr><td>{escape(v.name)}</td><td>{status}</td>"
            f'<td style="text-align:left">{escape(v.description)}</td>'
            f"<td>{escape(numbers)}</td></tr>"
        )
    return (
        "<table><tr><th>check</th><th>result</th><th>why</th><th>numbers</th></tr>"
        + "".join(rows)
        + "</table>"
    )


def _number(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.6g}"
    return str(value)


def line_chart(
    title: str,
    days: Sequence[dt.date],
    series: Mapping[str, Mapping[dt.date, float | None]],
    fmt: Callable[[Any], str],
    reference: tuple[str, float] | None = None,
    width: int = 440,
    height: int = 200,
) -> str:
    """An SVG line chart: one line per series over ``days``, an optional horizontal line."""
    left, right, top, bottom = 64, 10, 10, 26
    plot_w, plot_h = width - left - right, height - top - bottom
    values = [v for s in series.values() for v in s.values() if v is not None]
    if reference is not None:
        values.append(reference[1])
    low, high = (min(values + [0.0]), max(values)) if values else (0.0, 1.0)
    if high <= low:
        high = low + 1.0
    high += (high - low) * 0.05
    span = max(len(days) - 1, 1)

    def x(i: int) -> float:
        return left + plot_w * i / span

    def y(v: float) -> float:
        return top + plot_h * (1 - (v - low) / (high - low))

    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'role="img" aria-label="{escape(title)}">',
        f'<rect x="{left}" y="{top}" width="{plot_w}" height="{plot_h}" fill="#fff" '
        'stroke="#dfe3e8"/>',
    ]
    for k in range(5):
        v = low + (high - low) * k / 4
        parts.append(
            f'<line x1="{left}" x2="{left + plot_w}" y1="{y(v):.1f}" y2="{y(v):.1f}" '
            'stroke="#eef0f3"/>'
            f'<text x="{left - 4}" y="{y(v) + 4:.1f}" font-size="10" text-anchor="end" '
            f'fill="#5b6472">{escape(fmt(v))}</text>'
        )
    for i, day in enumerate(days):
        if i in (0, len(days) - 1) or (len(days) > 2 and i == len(days) // 2):
            anchor = "start" if i == 0 else ("end" if i == len(days) - 1 else "middle")
            parts.append(
                f'<text x="{x(i):.1f}" y="{height - 8}" font-size="10" text-anchor="{anchor}" '
                f'fill="#5b6472">{escape(day.isoformat())}</text>'
            )
    if reference is not None:
        label, value = reference
        parts.append(
            f'<line x1="{left}" x2="{left + plot_w}" y1="{y(value):.1f}" y2="{y(value):.1f}" '
            'stroke="#c62828" stroke-dasharray="5,4"/>'
            f'<text x="{left + plot_w - 4}" y="{y(value) - 4:.1f}" font-size="10" '
            f'text-anchor="end" fill="#c62828">{escape(label)} {escape(fmt(value))}</text>'
        )
    for n, (name, points) in enumerate(series.items()):
        color = PALETTE[n % len(PALETTE)]
        segment: list[str] = []
        segments: list[list[str]] = []
        for i, day in enumerate(days):
            v = points.get(day)
            if v is None:
                if segment:
                    segments.append(segment)
                segment = []
                continue
            segment.append(f"{x(i):.1f},{y(v):.1f}")
            parts.append(
                f'<circle cx="{x(i):.1f}" cy="{y(v):.1f}" r="2.5" fill="{color}">'
                f"<title>{escape(name)} {escape(day.isoformat())}: {escape(fmt(v))}</title>"
                "</circle>"
            )
        if segment:
            segments.append(segment)
        for seg in segments:
            if len(seg) > 1:
                parts.append(
                    f'<polyline fill="none" stroke="{color}" stroke-width="1.6" '
                    f'points="{" ".join(seg)}"/>'
                )
    parts.append("</svg>")
    legend = "".join(
        f'<span><i style="background:{PALETTE[n % len(PALETTE)]}"></i>{escape(name)}</span>'
        for n, name in enumerate(series)
    )
    return (
        f'<div class="chart"><h3>{escape(title)}</h3>{"".join(parts)}'
        f'<div class="legend">{legend}</div></div>'
    )


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
    card_html = "".join(
        f'<div class="card"><div class="v">{escape(v)}</div><div class="l">{escape(label)}</div></div>'
        for label, v in cards
    )
    charts = []
    for source, metric, title, fmt in TRENDS:
        rows = system_rows if source == "system" else business_rows
        reference = None
        if metric == "latency_p95_ms" and slo_ms is not None:
            reference = ("SLO", slo_ms)
        elif metric == "error_rate" and error_budget is not None:
            reference = ("budget", error_budget)
        charts.append(line_chart(title, days, _by_version(rows, metric), fmt, reference))
    failed = sum(1 for v in verdicts if not v.passed)
    title = f"Business metrics · {model} · {date.isoformat()}"
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{escape(title)}</title><style>{_STYLE}</style></head>
<body>
<h1>{escape(title)}</h1>
<div class="sub">All model versions together; tables and charts split by model version.
{escape(failed)} of {escape(len(verdicts))} checks failed.</div>
<h2>Key figures of the day</h2>
<div class="cards">{card_html}</div>
<h2>Checks</h2>
{_verdicts(verdicts)}
<h2>Business KPIs by model version</h2>
{_table(day_business, BUSINESS_COLUMNS)}
<h2>System metrics by model version</h2>
{_table(day_system, SYSTEM_COLUMNS)}
<h2>Trends over the last {escape(trend_days)} days</h2>
<div class="charts">{"".join(charts)}</div>
</body></html>
"""
