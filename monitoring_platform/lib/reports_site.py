"""The reports site's ``index.html``: per model what matters first, then the details.

Per model: the latest day's verdict with the failing checks by name, the latest key figures, the
trends of drift, quality, KPIs and service health with their limits drawn in (quality with its
confidence interval, the estimate from predictions alone and the reference baseline), the latest
day's drifted columns against their learned bounds, a calendar of check status with links to
every report, and the plumbing metrics (rows, bytes, objects) behind a fold.
Numbers, checks and pages of a step that an earlier run wrote than the day's latest ingest of its
logs (the latest run did not finish that step) are marked as from an earlier evaluation and do not
colour the day (:func:`stale_steps`). Pure rendering from the metric store's rows and the keys found in the reports store, through the
``index.html`` template (autoescaped, no script, relative links only) and the site's one chart
implementation (:mod:`monitoring_platform.lib.charts`).
"""

from __future__ import annotations

import calendar
import datetime as dt
import json
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from monitoring_platform.lib.business_metrics import as_date as _as_date
from monitoring_platform.lib.charts import Chart, Limit, line_chart
from monitoring_platform.lib.html import milliseconds as _ms
from monitoring_platform.lib.html import money as _money
from monitoring_platform.lib.html import number, percent, render
from monitoring_platform.lib.reports import (
    BUSINESS_METRICS,
    DATA_DRIFT,
    MODEL_PERFORMANCE,
    REPORT_TITLES,
    VALIDATION,
    Navigation,
    NavLink,
    parse_report_keys,
    report_href,
)

INDEX_KEY = "index.html"
TREND_DAYS = 60
PERFORMANCE_ASSET = "model_performance_report"
ESTIMATES_ASSET = "estimated_performance"
DRIFT_ASSET = "data_drift_report"
ESTIMATED, BASELINE = "estimated", "reference baseline"


def _num(value: Any) -> str:
    return number(value, 3)


@dataclass(frozen=True)
class Headline:
    """A metric the index leads with: where it is recorded, how it is named and shown."""

    asset: str
    metric: str
    title: str
    fmt: Callable[[Any], str]
    higher_is_better: bool | None = None
    worst_version: bool = False  # the highest of the per-version values (latency)


HEADLINES = (
    Headline("model_performance_report", "roc_auc", "ROC AUC", _num, True),
    Headline("model_performance_report", "accuracy", "Accuracy", percent, True),
    Headline("model_performance_report", "precision", "Precision", percent, True),
    Headline("model_performance_report", "recall", "Recall", percent, True),
    Headline("model_performance_report", "log_loss", "Log loss", _num, False),
    Headline("model_performance_report", "mae", "Mean absolute error", _num, False),
    Headline("model_performance_report", "rmse", "Root mean squared error", _num, False),
    Headline("model_performance_report", "mape", "Mean absolute % error", _num, False),
    Headline("model_performance_report", "label_coverage", "Predictions labelled", percent, True),
    Headline("data_drift_report", "drift_share", "Features drifted", percent, False),
    Headline("business_metrics_report", "click_through_rate", "Click-through rate", percent, True),
    Headline("business_metrics_report", "conversion_rate", "Conversion rate", percent, True),
    Headline(
        "business_metrics_report",
        "revenue_per_1k_predictions",
        "Revenue / 1k predictions",
        _money,
        True,
    ),
    Headline(
        "business_metrics_report",
        "latency_p95_ms",
        "Latency p95 (slowest version)",
        _ms,
        False,
        worst_version=True,
    ),
    Headline("business_metrics_report", "error_rate", "5xx error rate", percent, False),
    Headline("inference_logs", "quarantine_share", "Records quarantined", percent, False),
)


@dataclass(frozen=True)
class ModelInfo:
    """What the site shows of a configured model: its name, description, task and limits."""

    name: str
    description: str = ""
    task: str = ""
    limits: Mapping[str, Sequence[Limit]] = field(default_factory=dict)


def model_limits(model) -> dict[str, list[Limit]]:
    """The limits a model's configuration sets, by metric, as lines on its trend charts."""
    t = model.thresholds
    limits: dict[str, list[Limit]] = {
        "drift_share": [
            Limit("warning at", t.drift.drift_share_warn, "warn"),
            Limit("error at", t.drift.drift_share_error),
        ],
        "label_coverage": [Limit("minimum", t.quality.min_label_coverage)],
        "latency_p95_ms": [Limit("SLO", t.latency_p95_slo_ms)],
        "error_rate": [Limit("budget", t.error_rate_budget)],
        "quarantine_share": [
            Limit("warning at", t.quarantine_share_warn, "warn"),
            Limit("error at", t.quarantine_share_error),
        ],
    }
    for metric, kind, value in t.quality.limits():
        limits.setdefault(metric, []).append(
            Limit("minimum" if kind == "min" else "maximum", value)
        )
    return limits


STATUS_LABELS = {
    "ok": "all checks passed",
    "warn": "a check failed with WARN",
    "error": "a check failed with ERROR",
    "na": "no check results",
}
STATUS_WORDS = {"ok": "Healthy", "warn": "Warning", "error": "Failing", "na": "No results"}


# A day's evaluation starts by ingesting its logs; these steps compute from what it ingested.
LOGS_STEP = "inference_logs"
STEP_REPORTS: dict[str, str | None] = {
    "validation": VALIDATION,
    "data_drift_report": DATA_DRIFT,
    "model_performance_report": MODEL_PERFORMANCE,
    "business_metrics_report": BUSINESS_METRICS,
    "estimated_performance": None,
}
STALE_NOTE = "from an earlier evaluation (the latest run did not finish this step)"


def _utc(when: Any) -> Any:
    if isinstance(when, dt.datetime) and when.tzinfo is None:
        return when.replace(tzinfo=dt.UTC)  # SQLite hands back UTC without its zone
    return when


def stale_steps(
    rows: Iterable[Mapping[str, Any]],
    failed_runs: Iterable[tuple[str, dt.date, dt.datetime]] = (),
) -> dict[str, dict[dt.date, set[str]]]:
    """Per model and day, the steps whose results describe an earlier evaluation than the day's latest.

    A step is stale when an earlier run than the day's latest ingest of its logs wrote it, or when
    it was written before a later run of the day that failed (``failed_runs``: model, day and
    start of each failed run that evaluated the day from its logs). ``rows`` are metric values and
    check results (each with ``model``, ``partition_date``, ``asset``, ``run_id``,
    ``recorded_at``); rows without a run id are not evidence either way.
    """
    latest: dict[tuple[str, dt.date, str], tuple[Any, str]] = {}
    for row in rows:
        if not row.get("run_id") or row.get("recorded_at") is None:
            continue
        key = (str(row["model"]), _as_date(row["partition_date"]), str(row["asset"]))
        when = _utc(row["recorded_at"])
        if key not in latest or when > latest[key][0]:
            latest[key] = (when, str(row["run_id"]))
    failed: dict[tuple[str, dt.date], dt.datetime] = {}
    for model, day, started in failed_runs:
        model_day = (model, _as_date(day))
        failed[model_day] = max(_utc(started), failed.get(model_day, _utc(started)))
    stale: dict[str, dict[dt.date, set[str]]] = defaultdict(lambda: defaultdict(set))
    for (model, day, asset), (when, run) in latest.items():
        if asset != LOGS_STEP and asset not in STEP_REPORTS:
            continue
        logs = latest.get((model, day, LOGS_STEP))
        newer_logs = asset != LOGS_STEP and logs is not None and run != logs[1] and when < logs[0]
        before_failure = (model, day) in failed and when < failed[(model, day)]
        if newer_logs or before_failure:
            stale[model][day].add(asset)
    return stale


@dataclass
class DayStatus:
    """One model's day on the index: its outcome, its checks, its reports and its stale steps."""

    day: dt.date
    status: str = "na"
    passed: int = 0
    failed: list[dict[str, str]] = field(default_factory=list)
    reports: list[str] = field(default_factory=list)
    stale: set[str] = field(default_factory=set)  # steps whose results an earlier run wrote

    def stale_reports(self) -> set[str]:
        return {r for s in self.stale if (r := STEP_REPORTS.get(s))}

    def stale_text(self) -> str:
        titles = sorted(REPORT_TITLES.get(r, r) for r in self.stale_reports()) or sorted(self.stale)
        return f"{', '.join(titles)} {STALE_NOTE}" if titles else ""


def _description(observed: Any) -> str:
    if isinstance(observed, str):
        try:
            observed = json.loads(observed)
        except ValueError:
            return observed
    if isinstance(observed, dict):
        return str(observed.get("description", ""))
    return ""


def day_statuses(
    checks: Iterable[Mapping[str, Any]],
    reports: Mapping[dt.date, list[str]],
    stale: Mapping[dt.date, set[str]] | None = None,
) -> dict[dt.date, DayStatus]:
    """One model's days: each day's worst current check outcome, its reports and its stale steps.

    ``stale`` (from :func:`stale_steps`) names the steps whose results an earlier run wrote. A
    stale step's checks are listed, marked as such, and do not colour the day.
    """
    stale = stale or {}
    days: dict[dt.date, DayStatus] = {}
    for row in checks:
        day = _as_date(row["partition_date"])
        status = days.setdefault(day, DayStatus(day))
        earlier = str(row["asset"]) in stale.get(day, ())
        if row["passed"]:
            status.passed += not earlier
        else:
            status.failed.append(
                {
                    "check": str(row["check_name"]),
                    "asset": str(row["asset"]),
                    "severity": str(row["severity"]),
                    "description": _description(row.get("observed")),
                    "stale": STALE_NOTE if earlier else "",
                }
            )
    for day, names in reports.items():
        days.setdefault(day, DayStatus(day)).reports = list(names)
    for day, steps in stale.items():
        if steps:
            days.setdefault(day, DayStatus(day)).stale = set(steps)
    for status in days.values():
        severities = {f["severity"].upper() for f in status.failed if not f["stale"]}
        if "ERROR" in severities:
            status.status = "error"
        elif any(not f["stale"] for f in status.failed):
            status.status = "warn"
        elif status.passed:
            status.status = "ok"
    return days


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
            line_chart(metric, axis, {metric: points}, _num, note=asset, width=360, height=150)
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


def reports_server(root: str, port: int = 8000, host: str = "127.0.0.1"):
    """An HTTP server for the reports folder (the index at ``/``); call ``serve_forever()``."""
    import functools
    import http.server
    from pathlib import Path

    folder = Path(root)
    if not folder.is_dir():
        raise FileNotFoundError(
            f"no reports folder at {root}; run an evaluation (or the demo) first"
        )

    class Handler(http.server.SimpleHTTPRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:  # quiet by default
            pass

    handler = functools.partial(Handler, directory=str(folder))
    return http.server.ThreadingHTTPServer((host, port), handler)
