"""A model's days on the reports site: each day's check outcome, its reports and its stale steps.

Numbers, checks and pages of a step that an earlier run wrote than the day's latest ingest of its
logs (the latest run did not finish that step) are marked as from an earlier evaluation and do not
colour the day (:func:`stale_steps`).
"""

from __future__ import annotations

import datetime as dt
import json
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from monitoring_platform.lib.database import as_date as _as_date
from monitoring_platform.lib.reports import (
    BUSINESS_METRICS,
    DATA_DRIFT,
    MODEL_PERFORMANCE,
    REPORT_TITLES,
    VALIDATION,
)

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
