"""The reports site's ``index.html``: per model what matters first, then the details.

Per model: the latest day's verdict with the failing checks by name, the latest key figures, the
trends of drift, quality, KPIs and service health with their limits drawn in (quality with its
confidence interval, the estimate from predictions alone and the reference baseline), the latest
day's drifted columns against their learned bounds, a calendar of check status with links to
every report, and the plumbing metrics (rows, bytes, objects) behind a fold. A step an earlier
run wrote is marked as such (:mod:`monitoring_platform.lib.reports_site.status`). Pure rendering
from the metric store's rows and the keys found in the reports store, through the ``index.html``
template (autoescaped, no script, relative links only) and the site's one chart implementation
(:mod:`monitoring_platform.lib.charts`).
"""

from __future__ import annotations

import calendar
import datetime as dt
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from monitoring_platform.lib.charts import Chart, line_chart
from monitoring_platform.lib.html import render
from monitoring_platform.lib.reports import (
    REPORT_TITLES,
    Navigation,
    NavLink,
    parse_report_keys,
    report_href,
)
from monitoring_platform.lib.reports_site.headlines import (
    HEADLINES,
    Headline,
    ModelInfo,
    short_number,
)
from monitoring_platform.lib.reports_site.series import (
    PERFORMANCE_ASSET,
    Series,
    drifted_columns,
    metric_series,
    quality_overlay,
)
from monitoring_platform.lib.reports_site.status import (
    STALE_NOTE,
    STATUS_LABELS,
    STATUS_WORDS,
    DayStatus,
    day_statuses,
    stale_steps,
)

INDEX_KEY = "index.html"
TREND_DAYS = 60


def _change(h: Headline, points: Mapping[dt.date, float]) -> dict[str, str]:
    days = sorted(points)
    if len(days) < 2:
        return {"text": "", "kind": ""}
    now, before = points[days[-1]], points[days[-2]]
    if now == before:
        return {"text": f"unchanged since {days[-2]}", "kind": ""}
    word = "up" if now > before else "down"
    good = (now > before) == h.higher_is_better if h.higher_is_better is not None else None
    return {
        "text": f"{word} from {h.fmt(before)} on {days[-2]}",
        "kind": "" if good is None else ("ok" if good else "warn"),
    }


def model_overview(
    model: ModelInfo,
    days: Mapping[dt.date, DayStatus],
    series: Series,
    trend_days: int = TREND_DAYS,
    drift: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """What the index shows for one model, as plain data for the template."""
    latest = days[max(days)] if days else None
    if latest is None:
        verdict = {"kind": "na", "word": "Not evaluated yet", "text": ""}
    else:
        incomplete = bool(latest.stale) and latest.status in ("ok", "na")
        verdict = {
            # Passing checks do not make a day healthy while some of its steps did not finish.
            "kind": "na" if incomplete else latest.status,
            "word": "Evaluation incomplete" if incomplete else STATUS_WORDS[latest.status],
            "text": f"Latest day {latest.day}: {latest.passed} checks passed, "
            f"{sum(not f['stale'] for f in latest.failed)} failed."
            + (f" {latest.stale_text()}." if latest.stale else ""),
        }
    every_day = [d for s in series.values() for d in s]
    axis = []
    if every_day:
        last = max(every_day)
        first = max(min(every_day), last - dt.timedelta(days=trend_days - 1))
        axis = [first + dt.timedelta(days=n) for n in range((last - first).days + 1)]
    cards, charts, shown = [], [], set()
    for h in HEADLINES:
        points = series.get((h.asset, h.metric)) or {}
        overlay = (
            quality_overlay(h.metric, h.title, series) if h.asset == PERFORMANCE_ASSET else None
        )
        if overlay is not None:
            shown |= overlay.keys
        if not points and not (overlay and overlay.lines):
            continue
        shown.add((h.asset, h.metric))
        limits = list(model.limits.get(h.metric, ()))
        note = "; ".join(f"{lim.label} {h.fmt(lim.value)}" for lim in limits)
        if overlay is not None:
            charts.append(
                line_chart(
                    h.title,
                    axis,
                    overlay.lines,
                    h.fmt,
                    limits,
                    note=note,
                    bands=overlay.bands,
                    styles=overlay.styles,
                )
            )
        else:
            charts.append(line_chart(h.title, axis, {h.title: points}, h.fmt, limits, note=note))
        if not points:
            continue
        latest_day = max(points)
        earlier = latest_day in days and h.asset in days[latest_day].stale
        cards.append(
            {
                "title": h.title,
                "value": h.fmt(points[latest_day]),
                "day": latest_day.isoformat(),
                "change": _change(h, points),
                "stale": STALE_NOTE if earlier else "",
            }
        )
    plumbing: list[Chart] = []
    for (asset, metric), points in sorted(series.items(), key=lambda kv: (kv[0][1], kv[0][0])):
        if (asset, metric) in shown:
            continue
        plumbing.append(
            line_chart(
                metric, axis, {metric: points}, short_number, note=asset, width=360, height=150
            )
        )
    return {
        "name": model.name,
        "description": model.description,
        "task": model.task,
        "verdict": verdict,
        "latest": latest,
        "latest_reports": _report_links(model.name, latest) if latest else [],
        "cards": cards,
        "charts": charts,
        "drift": drift,
        "plumbing": plumbing,
        "calendar": calendar_months(model.name, days),
        "days": [_day_row(model.name, days[d]) for d in sorted(days, reverse=True)],
    }


def _report_links(model: str, status: DayStatus) -> list[dict[str, str]]:
    """The day's report links; a page an earlier run wrote says so."""
    earlier = status.stale_reports()
    return [
        {
            "name": n,
            "letter": REPORT_TITLES.get(n, n)[0],
            "title": REPORT_TITLES.get(n, n),
            "href": report_href(model, status.day, n),
            "stale": STALE_NOTE if n in earlier else "",
        }
        for n in status.reports
    ]


def _day_row(model: str, status: DayStatus) -> dict[str, Any]:
    return {
        "id": f"model-{model}-{status.day}",
        "day": status.day.isoformat(),
        "status": status.status,
        "label": STATUS_LABELS[status.status],
        "passed": status.passed,
        "failed": status.failed,
        "reports": _report_links(model, status),
        "stale": status.stale_text(),
    }


def _months(first: dt.date, last: dt.date) -> list[tuple[int, int]]:
    months = []
    year, month = first.year, first.month
    while (year, month) <= (last.year, last.month):
        months.append((year, month))
        year, month = (year + 1, 1) if month == 12 else (year, month + 1)
    return months


def calendar_months(model: str, days: Mapping[dt.date, DayStatus]) -> list[dict[str, Any]]:
    """Month grids of the model's days: each cell's status, its reports, a tooltip."""
    if not days:
        return []
    first, last = min(days), max(days)
    months = []
    for year, month in _months(first, last):
        weeks = []
        for week in calendar.Calendar(firstweekday=0).monthdatescalendar(year, month):
            cells: list[dict[str, Any]] = []
            for day in week:
                status = days.get(day)
                if day.month != month:
                    cells.append({"kind": "pad"})
                elif status is None:
                    kind = "na" if first <= day <= last else "out"
                    cells.append({"kind": kind, "num": day.day})
                else:
                    tip = f"{day}: {STATUS_LABELS[status.status]}"
                    current = [f for f in status.failed if not f["stale"]]
                    if current:
                        tip += " - " + ", ".join(f"{f['check']} ({f['severity']})" for f in current)
                    if status.stale:
                        tip += f"; {status.stale_text()}"
                    cells.append(
                        {
                            "kind": status.status,
                            "stale": bool(status.stale),
                            "num": day.day,
                            "day": day.isoformat(),
                            "tip": tip,
                            "anchor": f"#model-{model}-{day}",
                            "reports": [
                                {
                                    **r,
                                    "title": f"{r['title']} {day}"
                                    + (f" {r['stale']}" if r["stale"] else ""),
                                }
                                for r in _report_links(model, status)
                            ],
                        }
                    )
            weeks.append(cells)
        months.append({"caption": f"{calendar.month_name[month]} {year}", "weeks": weeks})
    return months


def render_index(
    models: Sequence[ModelInfo],
    checks: Iterable[Mapping[str, Any]],
    metrics: Iterable[Mapping[str, Any]],
    report_keys: Iterable[str],
    generated_at: dt.datetime,
    digests: Sequence[tuple[str, str]] = (),
    failed_runs: Iterable[tuple[str, dt.date, dt.datetime]] = (),
) -> str:
    """The whole ``index.html``.

    ``digests`` are (label, relative link) of the weekly digests, ``failed_runs`` as
    :func:`stale_steps` takes them.
    """
    reports = parse_report_keys(report_keys)
    checks_by_model: dict[str, list[Mapping[str, Any]]] = defaultdict(list)
    for row in checks:
        checks_by_model[str(row["model"])].append(row)
    metrics = list(metrics)
    stale = stale_steps(
        [*metrics, *(c for rows in checks_by_model.values() for c in rows)], failed_runs
    )
    metrics_by_model: dict[str, list[Mapping[str, Any]]] = defaultdict(list)
    for row in metrics:
        metrics_by_model[str(row["model"])].append(row)
    series = metric_series(metrics)
    overviews = [
        model_overview(
            m,
            day_statuses(
                checks_by_model.get(m.name, []), reports.get(m.name, {}), stale.get(m.name, {})
            ),
            series.get(m.name, {}),
            drift=drifted_columns(metrics_by_model.get(m.name, [])),
        )
        for m in models
    ]
    nav = Navigation(
        root="",
        extra=tuple(NavLink(m.name, f"#model-{m.name}") for m in models)
        + tuple(NavLink(label, href) for label, href in digests[:1]),
    )
    return render(
        "index.html",
        title="Model monitoring reports",
        heading="Model monitoring reports",
        subtitle=f"{len(models)} models · generated {generated_at.isoformat(timespec='seconds')}",
        nav=nav,
        models=overviews,
        legend=STATUS_LABELS,
        digests=digests,
    )
