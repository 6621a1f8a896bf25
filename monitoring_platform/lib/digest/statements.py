"""The weekly digest's content: for each model and for the fleet, the week's health in words.

Pure logic: the caller passes the metric store's check results and metric values (this week and
the one before) and the alerts the outbox raised; :func:`build_digest` states what happened —
checks that failed, alerts raised and resolved (with how long they lasted), key figures and
model quality against the week before, episodes of unusual input data, label coverage — each
statement with links to the days behind it.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from statistics import mean
from typing import Any

from monitoring_platform.lib.database import as_date as _as_date
from monitoring_platform.lib.digest.episodes import AlertEpisode, alert_episodes, duration_words
from monitoring_platform.lib.digest.weeks import week_days
from monitoring_platform.lib.reports import (
    BUSINESS_METRICS,
    DATA_DRIFT,
    MODEL_PERFORMANCE,
    VALIDATION,
    report_href,
)
from monitoring_platform.lib.reports_site.headlines import HEADLINES, Headline, ModelInfo
from monitoring_platform.lib.reports_site.series import metric_series

# Where a failed check's evidence is: the report of the asset it checks.
ASSET_REPORTS = {
    "inference_logs": VALIDATION,
    "validation": VALIDATION,
    "data_drift_report": DATA_DRIFT,
    "model_performance_report": MODEL_PERFORMANCE,
    "business_metrics_report": BUSINESS_METRICS,
    "business_events": BUSINESS_METRICS,
}
# Check names in words, for people who do not read check names.
CHECK_WORDS = {
    "logs_arrived": "the day's logs arrived",
    "quarantine_share_within_limit": "few enough malformed log records",
    "expectations_met": "the logs met their data contract",
    "dataset_drift_within_threshold": "the input data looked like usual",
    "prediction_drift_within_threshold": "the model's predictions looked like usual",
    "model_quality_within_threshold": "the model's accuracy stayed within its limits",
    "label_coverage_sufficient": "enough true outcomes arrived to judge the model",
    "event_quarantine_share_within_limit": "few enough malformed business events",
    "label_quarantine_share_within_limit": "few enough malformed labels",
    "latency_p95_within_slo": "the service answered fast enough",
    "error_rate_within_budget": "the service failed rarely enough",
}
# The figures a digest compares week over week, in this order.
WEEKLY = (
    "roc_auc",
    "accuracy",
    "mae",
    "rmse",
    "click_through_rate",
    "conversion_rate",
    "revenue_per_1k_predictions",
    "latency_p95_ms",
    "error_rate",
)


@dataclass
class Statement:
    """One sentence of the digest, how good or bad it is, and the days behind it."""

    text: str
    kind: str = "na"  # ok | warn | error | na
    links: list[tuple[str, str]] = field(default_factory=list)  # (label, href from the site root)


@dataclass
class ModelDigest:
    """One model's week as the digest tells it: its worst outcome, headline and statements."""

    name: str
    description: str
    kind: str  # ok | warn | error | na: the week's worst
    headline: str
    days_evaluated: int
    checks_run: int
    checks_failed: int
    alerts_raised: int
    alerts_resolved: int
    statements: list[Statement] = field(default_factory=list)


@dataclass
class Digest:
    """The weekly digest: the week's days, one part per model and the fleet's statements."""

    week: str
    days: list[dt.date]
    models: list[ModelDigest]
    fleet: list[Statement]

    @property
    def title(self) -> str:
        return f"Weekly digest · {self.week} · {self.days[0]} to {self.days[-1]}"


def _day_words(day: dt.date) -> str:
    return day.strftime("%a %d %b").replace(" 0", " ")


def _runs(days: Sequence[dt.date]) -> list[list[dt.date]]:
    """Consecutive days grouped: [Mon, Tue, Thu] -> [[Mon, Tue], [Thu]]."""
    runs: list[list[dt.date]] = []
    for day in sorted(days):
        if runs and (day - runs[-1][-1]).days == 1:
            runs[-1].append(day)
        else:
            runs.append([day])
    return runs


def _headline(metric: str) -> Headline:
    return next(h for h in HEADLINES if h.metric == metric)


def _values(
    metrics: Iterable[Mapping[str, Any]], days: Sequence[dt.date]
) -> dict[str, dict[dt.date, float]]:
    """``{metric: {day: value}}`` of the undimensioned values on ``days``, as the index reads them.

    Latency is the slowest version's.
    """
    wanted = set(days)
    out: dict[str, dict[dt.date, float]] = defaultdict(dict)
    for series in metric_series(metrics).values():
        for (_asset, metric), points in series.items():
            for day, value in points.items():
                if day in wanted:
                    out[metric][day] = value
    return out


def _link(model: str, day: dt.date, report: str, reports: Mapping[dt.date, Sequence[str]]):
    names = reports.get(day, ())
    if report not in names:
        if not names:
            return None
        report = names[0]
    return (_day_words(day), report_href(model, day, report))


def model_digest(
    model: ModelInfo,
    days: list[dt.date],
    checks: Sequence[Mapping[str, Any]],
    metrics: Sequence[Mapping[str, Any]],
    episodes: Sequence[AlertEpisode],
    reports: Mapping[dt.date, Sequence[str]],
) -> ModelDigest:
    """One model's week.

    ``checks``/``metrics`` may hold other days; the week before is read from ``metrics`` for the
    comparisons.
    """
    week = set(days)
    previous = [d - dt.timedelta(days=7) for d in days]
    this_checks = [c for c in checks if _as_date(c["partition_date"]) in week]
    failed = [c for c in this_checks if not c["passed"]]
    evaluated = sorted({_as_date(c["partition_date"]) for c in this_checks})
    statements: list[Statement] = []

    if not evaluated:
        statements.append(Statement("The model was not evaluated this week.", "warn"))
    elif not failed:
        statements.append(
            Statement(
                f"All {len(this_checks)} checks passed on the {len(evaluated)} days evaluated.",
                "ok",
            )
        )
    else:
        by_check: dict[str, list[Mapping[str, Any]]] = defaultdict(list)
        for c in failed:
            by_check[str(c["check_name"])].append(c)
        bad_days = {_as_date(c["partition_date"]) for c in failed}
        statements.append(
            Statement(
                f"{len(failed)} of {len(this_checks)} checks failed, on {len(bad_days)} of the "
                f"{len(evaluated)} days evaluated.",
                "error" if any(str(c["severity"]).upper() == "ERROR" for c in failed) else "warn",
            )
        )
        for name, rows in sorted(by_check.items(), key=lambda kv: (-len(kv[1]), kv[0])):
            fail_days = sorted({_as_date(r["partition_date"]) for r in rows})
            words = CHECK_WORDS.get(name, name.replace("_", " "))
            report = ASSET_REPORTS.get(str(rows[0]["asset"]), VALIDATION)
            severe = any(str(r["severity"]).upper() == "ERROR" for r in rows)
            statements.append(
                Statement(
                    f"Not met on {len(fail_days)} day{'s' if len(fail_days) != 1 else ''}: "
                    f"{words} ({name}).",
                    "error" if severe else "warn",
                    [link for d in fail_days if (link := _link(model.name, d, report, reports))],
                )
            )

    mine = [e for e in episodes if e.model == model.name]
    raised = [e for e in mine if e.raised.date() in week]
    resolved = [e for e in mine if e.resolved is not None and e.resolved.date() in week]
    still_open = [e for e in mine if e.resolved is None and e.raised.date() <= days[-1]]
    if raised or resolved or still_open:
        text = (
            f"{len(raised)} alert{'s' if len(raised) != 1 else ''} raised, {len(resolved)} resolved"
        )
        if resolved:
            spans = sorted(e.duration for e in resolved if e.duration is not None)
            text += (
                f" (open for {duration_words(spans[len(spans) // 2])} at the median, "
                f"{duration_words(spans[-1])} at the longest)"
            )
        if still_open:
            text += f"; {len(still_open)} still open at the end of the week"
        subject_days = sorted({e.day for e in raised if e.day is not None})
        statements.append(
            Statement(
                text + ".",
                "warn" if still_open else "ok",
                [link for d in subject_days if (link := _link(model.name, d, VALIDATION, reports))],
            )
        )
    else:
        statements.append(Statement("No alerts were raised.", "ok"))

    values = _values(metrics, days + previous)
    for metric in WEEKLY:
        statement = _week_over_week(
            model, _headline(metric), values.get(metric, {}), days, previous, reports
        )
        if statement:
            statements.append(statement)
    drift = _drift_episodes(model, values.get("drift_share", {}), this_checks, days, reports)
    statements.extend(drift)
    coverage = _coverage(model, values.get("label_coverage", {}), days, reports)
    if coverage:
        statements.append(coverage)

    kind = "na"
    for s in statements:
        if s.kind == "error" or (s.kind == "warn" and kind != "error"):
            kind = s.kind
        elif s.kind == "ok" and kind == "na":
            kind = "ok"
    headline = {
        "ok": "Healthy all week.",
        "warn": "Worth a look.",
        "error": "Needs attention.",
        "na": "Nothing to judge this week.",
    }[kind]
    return ModelDigest(
        name=model.name,
        description=model.description,
        kind=kind,
        headline=headline,
        days_evaluated=len(evaluated),
        checks_run=len(this_checks),
        checks_failed=len(failed),
        alerts_raised=len(raised),
        alerts_resolved=len(resolved),
        statements=statements,
    )


def _week_over_week(model, h: Headline, points, days, previous, reports) -> Statement | None:
    now = [points[d] for d in days if d in points]
    before = [points[d] for d in previous if d in points]
    if not now:
        return None
    avg = mean(now)
    report = MODEL_PERFORMANCE if h.asset == "model_performance_report" else BUSINESS_METRICS
    links = [link for d in days if d in points and (link := _link(model.name, d, report, reports))]
    limits = model.limits.get(h.metric, ())
    limit_text = ""
    kind = "na"
    if limits:
        lim = limits[0]
        broken = [
            d
            for d in days
            if d in points
            and ((points[d] < lim.value) if h.higher_is_better else (points[d] > lim.value))
        ]
        limit_text = f" Its {lim.label} is {h.fmt(lim.value)}"
        limit_text += (
            f"; it was outside it on {len(broken)} day{'s' if len(broken) != 1 else ''}."
            if broken
            else "; it stayed inside it every day."
        )
        kind = "warn" if broken else "ok"
    if not before:
        return Statement(
            f"{h.title} averaged {h.fmt(avg)} this week (no figures the week before).{limit_text}",
            kind,
            links,
        )
    prior = mean(before)
    if prior == avg or (prior and abs(avg - prior) / abs(prior) < 0.01):
        change = f"about the same as the week before ({h.fmt(prior)})"
    else:
        direction = "up" if avg > prior else "down"
        relative = f" ({abs(avg - prior) / abs(prior):.0%})" if prior else ""
        better = (avg > prior) == h.higher_is_better if h.higher_is_better is not None else None
        judged = "" if better is None else (", an improvement" if better else ", a worsening")
        change = f"{direction} from {h.fmt(prior)} the week before{relative}{judged}"
        if better is False and kind == "na" and prior and abs(avg - prior) / abs(prior) > 0.1:
            kind = "warn"
    return Statement(f"{h.title} averaged {h.fmt(avg)}, {change}.{limit_text}", kind, links)


def _drift_episodes(model, shares, checks, days, reports) -> list[Statement]:
    flagged = sorted(
        {
            _as_date(c["partition_date"])
            for c in checks
            if c["check_name"] == "dataset_drift_within_threshold" and not c["passed"]
        }
    )
    measured = [d for d in days if d in shares]
    if not measured:
        return []
    if not flagged:
        return [
            Statement(
                "The input data looked like usual every day it was compared "
                f"({len(measured)} days).",
                "ok",
                [],
            )
        ]
    out = []
    for run in _runs(flagged):
        peak = max((shares.get(d, 0.0) for d in run), default=0.0)
        span = (
            _day_words(run[0])
            if len(run) == 1
            else f"{_day_words(run[0])} to {_day_words(run[-1])}"
        )
        out.append(
            Statement(
                f"The input data differed from the usual on {span} ({len(run)} "
                f"day{'s' if len(run) != 1 else ''}): up to {peak:.0%} of the model's inputs "
                "changed their distribution compared with the reference days.",
                "warn",
                [link for d in run if (link := _link(model.name, d, DATA_DRIFT, reports))],
            )
        )
    return out


def _coverage(model, coverage, days, reports) -> Statement | None:
    measured = [d for d in days if d in coverage]
    if not measured:
        return None
    avg = mean(coverage[d] for d in measured)
    limits = model.limits.get("label_coverage", ())
    need = limits[0].value if limits else None
    text = f"On average {avg:.0%} of the week's predictions have received their true outcome so far"
    kind = "na"
    if need is not None:
        text += f" ({need:.0%} are needed once the waiting period ends)"
        kind = "ok" if avg >= need else "warn"
    return Statement(
        text + ".",
        kind,
        [link for d in measured if (link := _link(model.name, d, MODEL_PERFORMANCE, reports))],
    )


def build_digest(
    week: str,
    models: Sequence[ModelInfo],
    checks: Iterable[Mapping[str, Any]],
    metrics: Iterable[Mapping[str, Any]],
    messages: Iterable[Mapping[str, Any]],
    reports: Mapping[str, Mapping[dt.date, Sequence[str]]],
) -> Digest:
    """The digest of ``week`` (``YYYY-Www``) over every model, and the fleet's summary."""
    days = week_days(week)
    checks_by, metrics_by = defaultdict(list), defaultdict(list)
    for row in checks:
        checks_by[str(row["model"])].append(row)
    for row in metrics:
        metrics_by[str(row["model"])].append(row)
    episodes = alert_episodes(messages)
    digests = [
        model_digest(
            m, days, checks_by[m.name], metrics_by[m.name], episodes, reports.get(m.name, {})
        )
        for m in models
    ]
    fleet = []
    attention = [d.name for d in digests if d.kind in ("error", "warn")]
    healthy = [d.name for d in digests if d.kind == "ok"]
    fleet.append(
        Statement(
            f"{len(healthy)} of {len(digests)} models were healthy all week"
            + (f"; worth a look: {', '.join(attention)}." if attention else "."),
            "ok" if not attention else "warn",
            [(name, f"#model-{name}") for name in attention],
        )
    )
    failed = sum(d.checks_failed for d in digests)
    run = sum(d.checks_run for d in digests)
    fleet.append(
        Statement(
            f"{failed} of {run} checks failed across the fleet; "
            f"{sum(d.alerts_raised for d in digests)} alerts were raised and "
            f"{sum(d.alerts_resolved for d in digests)} resolved.",
            "ok" if not failed else "warn",
        )
    )
    return Digest(week=week, days=days, models=digests, fleet=fleet)
