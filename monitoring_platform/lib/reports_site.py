"""The reports site's ``index.html``: per model a calendar of check status, report links, trends.

Pure rendering: the caller passes the metric store's rows and the keys found in the reports
store. The page is one self-contained file with relative links only, so it works opened from a
local folder and served from an S3 bucket alike; its charts are SVG drawn by a small inline
script from data embedded with :func:`~monitoring_platform.lib.html.script_json`. Every value is
treated as hostile: markup goes through :func:`~monitoring_platform.lib.html.escape` and the
script builds the charts with DOM text nodes only.
"""

from __future__ import annotations

import calendar
import datetime as dt
import json
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from monitoring_platform.lib.html import escape, script_json
from monitoring_platform.lib.reports import REPORT_TITLES, parse_report_keys, report_href

INDEX_KEY = "index.html"
# Trend charts come in this order (first matching pattern wins); other metrics follow by name.
_CHART_ORDER = (
    "drift_share",
    "label_coverage",
    "coverage",
    "accuracy",
    "roc_auc",
    "auc",
    "f1",
    "precision",
    "recall",
    "log_loss",
    "rmse",
    "mae",
    "latency_p95",
    "latency",
    "error_rate",
    "ctr",
    "conversion",
    "revenue",
    "kpi",
    "quarantine_share",
)

STATUS_LABELS = {
    "pass": "all checks passed",
    "warn": "a check failed with WARN",
    "error": "a check failed with ERROR",
    "none": "no check results",
}


@dataclass(frozen=True)
class ModelInfo:
    name: str
    description: str = ""
    task: str = ""


@dataclass
class DayStatus:
    day: dt.date
    status: str = "none"
    passed: int = 0
    failed: list[dict[str, str]] = field(default_factory=list)
    reports: list[str] = field(default_factory=list)


def _as_date(value: Any) -> dt.date:
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    return dt.date.fromisoformat(str(value)[:10])


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
    checks: Iterable[Mapping[str, Any]], reports: Mapping[dt.date, list[str]]
) -> dict[dt.date, DayStatus]:
    """One model's days: the worst check outcome of each day and the reports it has."""
    days: dict[dt.date, DayStatus] = {}
    for row in checks:
        day = _as_date(row["partition_date"])
        status = days.setdefault(day, DayStatus(day))
        if row["passed"]:
            status.passed += 1
        else:
            status.failed.append(
                {
                    "check": str(row["check_name"]),
                    "asset": str(row["asset"]),
                    "severity": str(row["severity"]),
                    "description": _description(row.get("observed")),
                }
            )
    for day, names in reports.items():
        days.setdefault(day, DayStatus(day)).reports = list(names)
    for status in days.values():
        severities = {f["severity"].upper() for f in status.failed}
        if "ERROR" in severities:
            status.status = "error"
        elif status.failed:
            status.status = "warn"
        elif status.passed:
            status.status = "pass"
    return days


def _chart_rank(metric: str) -> tuple[int, str]:
    for rank, pattern in enumerate(_CHART_ORDER):
        if pattern in metric:
            return rank, metric
    return len(_CHART_ORDER), metric


def trend_series(metrics: Iterable[Mapping[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    """Per model, one series per (asset, metric) of undimensioned values, ordered for charts."""
    points: dict[str, dict[tuple[str, str], dict[str, float]]] = defaultdict(
        lambda: defaultdict(dict)
    )
    for row in metrics:
        if row.get("dims") or row.get("value") is None:
            continue
        day = _as_date(row["partition_date"]).isoformat()
        points[str(row["model"])][(str(row["asset"]), str(row["metric"]))][day] = float(
            row["value"]
        )
    out: dict[str, list[dict[str, Any]]] = {}
    for model, by_metric in points.items():
        series = [
            {"asset": asset, "metric": metric, "points": sorted(values.items())}
            for (asset, metric), values in by_metric.items()
        ]
        series.sort(key=lambda s: (_chart_rank(s["metric"]), s["asset"]))
        out[model] = series
    return out


def _months(first: dt.date, last: dt.date) -> list[tuple[int, int]]:
    months = []
    year, month = first.year, first.month
    while (year, month) <= (last.year, last.month):
        months.append((year, month))
        year, month = (year + 1, 1) if month == 12 else (year, month + 1)
    return months


def _calendar(model: str, days: Mapping[dt.date, DayStatus]) -> str:
    if not days:
        return '<p class="empty">No evaluations recorded yet.</p>'
    parts = []
    first, last = min(days), max(days)
    for year, month in _months(first, last):
        rows = []
        for week in calendar.Calendar(firstweekday=0).monthdatescalendar(year, month):
            cells = []
            for day in week:
                if day.month != month:
                    cells.append('<td class="pad"></td>')
                    continue
                status = days.get(day)
                if status is None:
                    kind = "none" if first <= day <= last else "out"
                    cells.append(f'<td class="day {kind}"><span class="num">{day.day}</span></td>')
                    continue
                title = f"{day.isoformat()}: {STATUS_LABELS[status.status]}"
                if status.failed:
                    title += " - " + ", ".join(
                        f"{f['check']} ({f['severity']})" for f in status.failed
                    )
                links = "".join(
                    f'<a class="rep" href="{escape(report_href(model, day, name))}" '
                    f'title="{escape(REPORT_TITLES.get(name, name))} {day.isoformat()}">'
                    f"{escape(REPORT_TITLES.get(name, name)[0])}</a>"
                    for name in status.reports
                )
                cells.append(
                    f'<td class="day {status.status}" title="{escape(title)}" '
                    f'data-day="{day.isoformat()}"><a class="num" href="#{escape(model)}-{day.isoformat()}">'
                    f"{day.day}</a>{links}</td>"
                )
            rows.append("<tr>" + "".join(cells) + "</tr>")
        head = "".join(f"<th>{name}</th>" for name in ("Mo", "Tu", "We", "Th", "Fr", "Sa", "Su"))
        parts.append(
            f'<table class="month"><caption>{calendar.month_name[month]} {year}</caption>'
            f"<thead><tr>{head}</tr></thead><tbody>{''.join(rows)}</tbody></table>"
        )
    return '<div class="calendar">' + "".join(parts) + "</div>"


def _day_table(model: str, days: Mapping[dt.date, DayStatus]) -> str:
    if not days:
        return ""
    rows = []
    for day in sorted(days, reverse=True):
        status = days[day]
        reports = " ".join(
            f'<a href="{escape(report_href(model, day, name))}">{escape(REPORT_TITLES.get(name, name))}</a>'
            for name in status.reports
        )
        failed = "".join(
            f'<li><b>{escape(f["check"])}</b> <span class="sev {escape(f["severity"].lower())}">'
            f"{escape(f['severity'])}</span> on {escape(f['asset'])}: {escape(f['description'])}</li>"
            for f in status.failed
        )
        rows.append(
            f'<tr id="{escape(model)}-{day.isoformat()}"><td>{day.isoformat()}</td>'
            f'<td><span class="badge {status.status}">{escape(STATUS_LABELS[status.status])}</span>'
            f" ({status.passed} passed, {len(status.failed)} failed)</td>"
            f"<td>{reports or '-'}</td><td><ul>{failed}</ul></td></tr>"
        )
    return (
        f"<details><summary>Day by day ({len(days)} days)</summary>"
        '<table class="days"><thead><tr><th>day</th><th>checks</th><th>reports</th>'
        f"<th>failed checks</th></tr></thead><tbody>{''.join(rows)}</tbody></table></details>"
    )


_STYLE = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:0;color:#1d2330;background:#f6f7f9}
header{background:#1d2330;color:#fff;padding:16px 24px}header h1{margin:0;font-size:20px}
header p{margin:4px 0 0;color:#c9cfdb;font-size:13px}
main{padding:8px 24px 40px}section.model{background:#fff;border:1px solid #dde1e8;border-radius:8px;margin:16px 0;padding:12px 20px}
section.model h2{margin:4px 0}p.desc{color:#4a5366;margin:2px 0 10px}
.legend span{display:inline-block;margin-right:14px;font-size:12px}
.legend i{display:inline-block;width:12px;height:12px;border-radius:2px;margin-right:4px;vertical-align:middle}
.calendar{display:flex;flex-wrap:wrap;gap:16px}table.month{border-collapse:separate;border-spacing:3px;font-size:12px}
table.month caption{font-weight:600;text-align:left}table.month th{color:#6b7385;font-weight:500}
td.day{width:46px;height:40px;vertical-align:top;border-radius:4px;padding:2px 3px}td.pad{width:46px}
td.day a.num{color:inherit;text-decoration:none;font-weight:600;display:block}
td.day a.rep{display:inline-block;font-size:10px;margin-right:2px;color:#1d2330;background:rgba(255,255,255,.7);border-radius:2px;padding:0 2px;text-decoration:none}
.pass,i.pass{background:#b9e4c4}.warn,i.warn{background:#ffe29a}.error,i.error{background:#f5a3a3}.none,i.none{background:#e8eaee}
.badge{border-radius:3px;padding:1px 5px}table.days{border-collapse:collapse;font-size:13px;width:100%}
table.days td,table.days th{border-bottom:1px solid #e4e7ec;padding:4px 6px;text-align:left;vertical-align:top}
table.days ul{margin:0;padding-left:16px}.sev.error{color:#b42318}.sev.warn{color:#935f00}
.charts{display:grid;grid-template-columns:repeat(auto-fill,minmax(300px,1fr));gap:12px;margin:12px 0}
figure.chart{margin:0;border:1px solid #e4e7ec;border-radius:6px;padding:6px 8px;background:#fff}
figure.chart figcaption{font-size:12px;font-weight:600}figure.chart figcaption small{color:#6b7385;font-weight:400}
svg.trend{width:100%;height:120px}svg.trend polyline{fill:none;stroke:#3366cc;stroke-width:1.5}
svg.trend circle{fill:#3366cc}svg.trend text{font-size:9px;fill:#6b7385}svg.trend line{stroke:#d0d5dd}
p.empty{color:#6b7385}header a{color:#9cc3ff}td.day.out{background:#f3f4f6;color:#b0b6c3}
"""

# Draws each model's series as an SVG line chart; text goes in through textContent only.
_SCRIPT = """
(function () {
  "use strict";
  var NS = "http://www.w3.org/2000/svg";
  var data = JSON.parse(document.getElementById("trend-data").textContent);
  function el(name, attrs, text) {
    var node = document.createElementNS(NS, name);
    for (var k in attrs) { node.setAttribute(k, String(attrs[k])); }
    if (text !== undefined) { node.textContent = text; }
    return node;
  }
  function fmt(v) {
    var a = Math.abs(v);
    if (a !== 0 && (a < 0.01 || a >= 1e6)) { return v.toExponential(2); }
    return String(Math.round(v * 1000) / 1000);
  }
  var containers = document.querySelectorAll("div.charts");
  for (var c = 0; c < containers.length; c++) {
    var box = containers[c];
    var series = data[box.getAttribute("data-model")] || [];
    for (var s = 0; s < series.length; s++) {
      var one = series[s];
      var pts = one.points;
      var fig = document.createElement("figure");
      fig.className = "chart";
      var cap = document.createElement("figcaption");
      cap.textContent = one.metric + " ";
      var small = document.createElement("small");
      small.textContent = one.asset + " \\u00b7 last " + fmt(pts[pts.length - 1][1]);
      cap.appendChild(small);
      fig.appendChild(cap);
      var W = 300, H = 120, L = 40, R = 6, T = 8, B = 18;
      var svg = el("svg", {"class": "trend", viewBox: "0 0 " + W + " " + H, role: "img"});
      svg.appendChild(el("title", {}, one.metric + " over time"));
      var vals = pts.map(function (p) { return p[1]; });
      var lo = Math.min.apply(null, vals), hi = Math.max.apply(null, vals);
      if (hi === lo) { hi = lo + (lo === 0 ? 1 : Math.abs(lo) * 0.1); }
      var t0 = Date.parse(pts[0][0]), t1 = Date.parse(pts[pts.length - 1][0]);
      var span = t1 - t0 || 1;
      function x(p) { return pts.length === 1 ? (L + W - R) / 2 : L + (Date.parse(p[0]) - t0) / span * (W - L - R); }
      function y(v) { return T + (1 - (v - lo) / (hi - lo)) * (H - T - B); }
      svg.appendChild(el("line", {x1: L, x2: W - R, y1: H - B, y2: H - B}));
      svg.appendChild(el("text", {x: 2, y: T + 6}, fmt(hi)));
      svg.appendChild(el("text", {x: 2, y: H - B}, fmt(lo)));
      svg.appendChild(el("text", {x: L, y: H - 4}, pts[0][0]));
      svg.appendChild(el("text", {x: W - R, y: H - 4, "text-anchor": "end"}, pts[pts.length - 1][0]));
      svg.appendChild(el("polyline", {points: pts.map(function (p) { return x(p).toFixed(1) + "," + y(p[1]).toFixed(1); }).join(" ")}));
      for (var i = 0; i < pts.length; i++) {
        var dot = el("circle", {cx: x(pts[i]).toFixed(1), cy: y(pts[i][1]).toFixed(1), r: 2});
        dot.appendChild(el("title", {}, pts[i][0] + ": " + fmt(pts[i][1])));
        svg.appendChild(dot);
      }
      fig.appendChild(svg);
      box.appendChild(fig);
    }
    box.setAttribute("data-drawn", String(series.length));
  }
  document.body.setAttribute("data-charts-drawn", "yes");
})();
"""


def render_index(
    models: Sequence[ModelInfo],
    checks: Iterable[Mapping[str, Any]],
    metrics: Iterable[Mapping[str, Any]],
    report_keys: Iterable[str],
    generated_at: dt.datetime,
) -> str:
    """The whole ``index.html``."""
    reports = parse_report_keys(report_keys)
    checks_by_model: dict[str, list[Mapping[str, Any]]] = defaultdict(list)
    for row in checks:
        checks_by_model[str(row["model"])].append(row)
    trends = trend_series(metrics)
    legend = "".join(
        f'<span><i class="{key}"></i>{escape(label)}</span>' for key, label in STATUS_LABELS.items()
    )
    sections = []
    for model in models:
        days = day_statuses(checks_by_model.get(model.name, []), reports.get(model.name, {}))
        latest = days[max(days)] if days else None
        summary = (
            f"Latest day {latest.day.isoformat()}: {STATUS_LABELS[latest.status]}."
            if latest
            else "Not evaluated yet."
        )
        n_series = len(trends.get(model.name, []))
        sections.append(
            f'<section class="model" id="{escape(model.name)}">'
            f"<h2>{escape(model.name)}</h2>"
            f'<p class="desc">{escape(model.description)}'
            f"{' &middot; ' + escape(model.task) if model.task else ''}</p>"
            f"<p>{escape(summary)}</p>"
            f'<div class="legend">{legend}</div>'
            f"<h3>Check status and reports</h3>{_calendar(model.name, days)}"
            f"{_day_table(model.name, days)}"
            f"<h3>Trends</h3>"
            + (
                f'<div class="charts" data-model="{escape(model.name)}" data-series="{n_series}"></div>'
                if n_series
                else '<p class="empty">No metrics recorded yet.</p>'
            )
            + "</section>"
        )
    nav = " &middot; ".join(f'<a href="#{escape(m.name)}">{escape(m.name)}</a>' for m in models)
    return (
        "<!DOCTYPE html>\n"
        '<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        "<title>Model monitoring reports</title>"
        f"<style>{_STYLE}</style></head><body>"
        "<header><h1>Model monitoring reports</h1>"
        f"<p>{len(models)} models &middot; generated {escape(generated_at.isoformat(timespec='seconds'))}"
        f" &middot; {nav}</p></header>"
        f"<main>{''.join(sections)}</main>"
        f'<script type="application/json" id="trend-data">{script_json(trends)}</script>'
        f"<script>{_SCRIPT}</script>"
        "</body></html>\n"
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
