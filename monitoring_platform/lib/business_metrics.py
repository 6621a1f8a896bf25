"""System and business metrics of a model-day, read from the dbt marts, and their threshold checks.

The marts hold one row per model, day and model version. The checks:

- latency p95 of every model version served that day within the SLO;
- 5xx error rate of every model version within the error budget;
- each KPI of the model (all versions together) not dropped by more than its configured share
  against its mean over the trailing days before it.

Every verdict states the observed value, the threshold and, for drops, the baseline.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from monitoring_platform.config import ModelConfig
from monitoring_platform.lib.database import as_date
from monitoring_platform.lib.metric_store import Metric
from monitoring_platform.lib.stage import Verdict

SYSTEM_METRICS = (
    "requests",
    "peak_requests_per_minute",
    "latency_p50_ms",
    "latency_p95_ms",
    "latency_p99_ms",
    "error_rate",
    "throttle_rate",
)
KPIS = ("click_through_rate", "conversion_rate", "revenue_per_1k_predictions")
BUSINESS_METRICS = ("predictions", "clicks", "conversions", "revenue", *KPIS)
KPI_TITLES = {
    "click_through_rate": "click-through rate",
    "conversion_rate": "conversion rate",
    "revenue_per_1k_predictions": "revenue per 1,000 predictions",
}

LATENCY_CHECK = "latency_p95_within_slo"
# Metadata of a check with nothing to judge: it passes, and alerting neither raises nor
# resolves an alert for it.
NOT_EVALUATED = {"evaluated": False}
ERROR_RATE_CHECK = "error_rate_within_budget"


def kpi_check_name(kpi: str) -> str:
    """The name of the check on ``kpi``'s drop."""
    return f"{kpi}_drop_within_limit"


def checked_kpis(model: ModelConfig) -> list[str]:
    """The KPIs whose drop is checked for ``model`` (a null limit, or no events, turns it off)."""
    if not model.events.enabled:
        return []  # a model without business events has no KPIs to check
    drops = model.thresholds.kpi_drop
    return [kpi for kpi in KPIS if getattr(drops, kpi) is not None]


def _float(value: Any) -> float | None:
    return None if value is None else float(value)


def rows_of_day(rows: Iterable[Mapping[str, Any]], date: dt.date) -> list[Mapping[str, Any]]:
    """The rows of ``date``."""
    return [r for r in rows if as_date(r["metric_date"]) == date]


def kpi_totals(
    business_rows: Iterable[Mapping[str, Any]],
) -> dict[dt.date, dict[str, float | None]]:
    """Each day's KPIs over all model versions together (from counts, so exactly)."""
    sums: dict[dt.date, dict[str, float]] = defaultdict(
        lambda: {"predictions": 0.0, "clicks": 0.0, "conversions": 0.0, "revenue": 0.0}
    )
    for row in business_rows:
        counts = sums[as_date(row["metric_date"])]
        for name in ("predictions", "clicks", "conversions", "revenue"):
            counts[name] += float(row[name] or 0)
    totals: dict[dt.date, dict[str, float | None]] = {}
    for day, s in sorted(sums.items()):
        n = s["predictions"]
        totals[day] = {
            **s,
            "click_through_rate": s["clicks"] / n if n else None,
            "conversion_rate": s["conversions"] / n if n else None,
            "revenue_per_1k_predictions": 1000 * s["revenue"] / n if n else None,
        }
    return totals


def system_totals(
    system_rows: Iterable[Mapping[str, Any]],
) -> dict[dt.date, dict[str, float | None]]:
    """Each day's requests, 5xx and 429 rates over all model versions together."""
    sums: dict[dt.date, dict[str, float]] = defaultdict(
        lambda: {"requests": 0.0, "server_errors": 0.0, "throttled_requests": 0.0}
    )
    for row in system_rows:
        counts = sums[as_date(row["metric_date"])]
        for name in ("requests", "server_errors", "throttled_requests"):
            counts[name] += float(row[name] or 0)
    return {
        day: {
            **s,
            "error_rate": s["server_errors"] / s["requests"] if s["requests"] else None,
            "throttle_rate": s["throttled_requests"] / s["requests"] if s["requests"] else None,
        }
        for day, s in sorted(sums.items())
    }


# ---------------------------------------------------------------------------------------------
# Checks


def _fmt_ms(value: float) -> str:
    return f"{value:,.1f} ms"


def _fmt_share(value: float) -> str:
    return f"{value:.2%}"


def _fmt_kpi(kpi: str, value: float | None) -> str:
    if value is None:
        return "n/a"
    return f"{value:,.2f}" if kpi == "revenue_per_1k_predictions" else f"{value:.2%}"


@dataclass(frozen=True)
class _VersionLimit:
    """A limit every model version's value of a column must stay within, and its wording."""

    check: str
    fmt: Callable[[float], str]
    title: str
    limit_name: str
    missing: str  # what a day without values lacks


_VERSION_LIMITS = {
    "latency_p95_ms": _VersionLimit(
        LATENCY_CHECK, _fmt_ms, "Latency p95", "SLO", "latency measured"
    ),
    "error_rate": _VersionLimit(
        ERROR_RATE_CHECK, _fmt_share, "5xx error rate", "budget", "requests"
    ),
}


def _check_each_version(
    column: str, day_rows: Sequence[Mapping[str, Any]], limit: float
) -> Verdict:
    """``column`` of every model version at most ``limit``; the worst version is the observed value."""
    spec = _VERSION_LIMITS[column]
    measured = {
        str(r["model_version"]): float(r[column]) for r in day_rows if r.get(column) is not None
    }
    if not measured:
        return Verdict(
            spec.check,
            True,
            f"Not evaluated: no {spec.missing} for the day (no accepted calls loaded).",
            {"threshold": limit, **NOT_EVALUATED},
            severity="WARN",
        )
    fmt, worst = spec.fmt, max(measured, key=lambda version: measured[version])
    over = {v: value for v, value in measured.items() if value > limit}
    by_version = ", ".join(f"{v}: {fmt(value)}" for v, value in sorted(measured.items()))
    if over:
        text = (
            f"{spec.title} of {', '.join(sorted(over))} above the {spec.limit_name} of "
            f"{fmt(limit)}: worst {worst} at {fmt(measured[worst])} ({by_version})."
        )
    else:
        text = f"{spec.title} within the {spec.limit_name} of {fmt(limit)} ({by_version})."
    return Verdict(
        spec.check,
        not over,
        text,
        {
            "observed": measured[worst],
            "threshold": limit,
            "worst_version": worst,
            f"{column}_by_version": measured,
        },
    )


def check_latency(day_rows: Sequence[Mapping[str, Any]], slo_ms: float) -> Verdict:
    """Latency p95 of every model version within ``slo_ms``."""
    return _check_each_version("latency_p95_ms", day_rows, slo_ms)


def check_error_rate(day_rows: Sequence[Mapping[str, Any]], budget: float) -> Verdict:
    """The 5xx rate of every model version within ``budget``."""
    return _check_each_version("error_rate", day_rows, budget)


def baseline_dates(date: dt.date, days: int) -> list[dt.date]:
    """The ``days`` days before ``date``, oldest first."""
    return [date - dt.timedelta(days=n) for n in range(days, 0, -1)]


def check_kpi_drop(
    kpi: str,
    date: dt.date,
    totals: Mapping[dt.date, Mapping[str, float | None]],
    max_drop: float,
    baseline_days: int,
) -> Verdict:
    """``kpi`` on ``date`` not below its trailing mean by more than ``max_drop`` (a share)."""
    name, title = kpi_check_name(kpi), KPI_TITLES[kpi]
    observed = (totals.get(date) or {}).get(kpi)
    window = baseline_dates(date, baseline_days)
    history: list[float] = [
        value for d in window if (value := (totals.get(d) or {}).get(kpi)) is not None
    ]
    numbers: dict[str, Any] = {"threshold": max_drop, "baseline_window_days": baseline_days}
    if observed is None:
        return Verdict(
            name,
            True,
            f"Not evaluated: no {title} for {date} (no successful predictions loaded).",
            {**numbers, **NOT_EVALUATED},
            severity="WARN",
        )
    numbers["observed"] = observed
    if not history:
        return Verdict(
            name,
            True,
            f"Not evaluated: {title} is {_fmt_kpi(kpi, observed)}, but the {baseline_days} "
            f"days before {date} have no values to compare with.",
            {**numbers, **NOT_EVALUATED},
            severity="WARN",
        )
    baseline = sum(history) / len(history)
    numbers.update({"baseline": baseline, "baseline_days_found": len(history)})
    if baseline <= 0:
        return Verdict(
            name,
            True,
            f"{title.capitalize()} is {_fmt_kpi(kpi, observed)}; its trailing mean is 0, "
            "so there is nothing to drop from.",
            {**numbers, "drop": 0.0},
        )
    drop = (baseline - observed) / baseline
    numbers["drop"] = drop
    change = f"{abs(drop):.1%} {'below' if drop > 0 else 'above'}"
    text = (
        f"{title.capitalize()} {_fmt_kpi(kpi, observed)} is {change} its trailing "
        f"{len(history)}-day mean of {_fmt_kpi(kpi, baseline)} (largest drop allowed: "
        f"{max_drop:.0%})."
    )
    return Verdict(name, drop <= max_drop, text, numbers)


# ---------------------------------------------------------------------------------------------
# Metric-store values


def day_metrics(
    date: dt.date,
    system_rows: Sequence[Mapping[str, Any]],
    business_rows: Sequence[Mapping[str, Any]],
) -> list[Metric]:
    """The day's system and business metrics, per model version and for all versions."""
    metrics: list[Metric] = []
    for row in rows_of_day(system_rows, date):
        dims = {"model_version": str(row["model_version"])}
        metrics += [Metric(name, _float(row.get(name)), dims=dims) for name in SYSTEM_METRICS]
    for row in rows_of_day(business_rows, date):
        dims = {"model_version": str(row["model_version"])}
        metrics += [Metric(name, _float(row.get(name)), dims=dims) for name in BUSINESS_METRICS]
    system = system_totals(rows_of_day(system_rows, date)).get(date)
    if system:
        metrics += [
            Metric(name, system[name]) for name in ("requests", "error_rate", "throttle_rate")
        ]
    business = kpi_totals(rows_of_day(business_rows, date)).get(date)
    if business:
        metrics += [Metric(name, business[name]) for name in BUSINESS_METRICS]
    return metrics
