"""What the alerting watches, as plain values: a finding is one observed outcome that may alert.

A finding comes from a check evaluation, a failed or recovered run, the logs-arrival rule or the
watchdog. Its ``key`` (kind, model, subject, day) is the alert's identity: one alert when it
starts failing, one resolve when it passes again. ``event_id`` orders findings of one key, so an
older finding read again never undoes a newer one.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

from monitoring_platform.config import SEVERITIES, Alerts

CHECK = "check"
RUN = "run"
FRESHNESS = "freshness"
WATCHDOG = "watchdog"

# The observed value of a check, by preference; thresholds are never the observed value.
_VALUE_KEYS = ("quarantine_share", "drift_share", "score", "value", "observed")
_THRESHOLD_KEYS = {"warn_threshold", "error_threshold", "threshold"}


@dataclass(frozen=True)
class Finding:
    """Something worth alerting about: a check, a run, late logs or a silent sensor."""

    kind: str
    model: str | None
    subject: str
    day: dt.date | None
    failing: bool
    severity: str
    description: str
    event_id: int
    observed: Mapping[str, Any] = field(default_factory=dict)
    run_id: str | None = None
    run_url: str | None = None
    report_url: str | None = None

    @property
    def key(self) -> str:
        day = self.day.isoformat() if self.day else "-"
        return f"{self.kind}:{self.model or '-'}:{self.subject}:{day}"

    def to_json(self) -> dict[str, Any]:
        out = asdict(self)
        out["day"] = self.day.isoformat() if self.day else None
        out["observed"] = {k: _plain(v) for k, v in self.observed.items()}
        return out

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Finding:
        values = dict(data)
        values["day"] = dt.date.fromisoformat(values["day"]) if values.get("day") else None
        return cls(**values)


def _plain(value: Any) -> Any:
    if value is None or isinstance(value, bool | int | str):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    return str(value)


def severity_rank(severity: str) -> int:
    """WARN below ERROR; an unknown severity ranks as the highest."""
    return SEVERITIES.index(severity) if severity in SEVERITIES else len(SEVERITIES) - 1


# ---------------------------------------------------------------------------------------------
# Routing


def routes_for(alerts: Alerts, finding: Finding) -> list[str]:
    """The routes a failing finding goes to, by the rules, in configuration order."""
    out: list[str] = []
    for rule in alerts.rules:
        if finding.kind != CHECK and not rule.include_system:
            continue
        if (
            rule.models is not None
            and finding.model is not None
            and finding.model not in rule.models
        ):
            continue
        if severity_rank(finding.severity) < severity_rank(rule.min_severity):
            continue
        out += [r for r in rule.routes if r not in out]
    return out


# ---------------------------------------------------------------------------------------------
# Wording


def _is_share(name: str) -> bool:
    return name.endswith(("_share", "_rate", "share", "rate"))


def format_value(name: str, value: Any) -> str:
    """An observed value as people read it: shares as per cent, numbers rounded."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return str(value)
    if _is_share(name) and 0 <= value <= 1:
        return f"{value:.2%}"
    return f"{value:.4g}"


def observed_vs_threshold(finding: Finding) -> str | None:
    """'drift_share 62.50% is at or above the error threshold 50.00%', when the numbers are known."""
    observed = finding.observed
    name = next((k for k in _VALUE_KEYS if _number(observed.get(k)) is not None), None)
    if name is None:
        name = next(
            (
                k
                for k, v in observed.items()
                if k not in _THRESHOLD_KEYS and _is_share(k) and _number(v) is not None
            ),
            None,
        )
    if name is None:
        return None
    value = _number(observed[name])
    level = "error" if finding.severity == "ERROR" else "warn"
    threshold_key = next(
        (k for k in (f"{level}_threshold", "threshold") if _number(observed.get(k)) is not None),
        None,
    )
    text = f"{name} {format_value(name, value)}"
    if threshold_key is None:
        return text
    threshold = _number(observed[threshold_key])
    if value is None or threshold is None:  # both chosen for being numbers
        return text
    label = f"the {level} threshold" if threshold_key != "threshold" else "the threshold"
    relation = "at or above" if value >= threshold else "below"
    return f"{text} is {relation} {label} {format_value(name, threshold)}"


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value) if math.isfinite(value) else None


def sentence(finding: Finding, action: str = "trigger") -> str:
    """One sentence: what failed (or recovered), how badly, for which model and day."""
    where = " ".join(
        part for part in (finding.model, finding.day.isoformat() if finding.day else None) if part
    )
    where = f"{where}: " if where else ""
    if action == "resolve":
        if finding.kind == RUN:
            return f"{where}{finding.subject} succeeded again."
        if finding.kind == FRESHNESS:
            return f"{where}logs have arrived."
        if finding.kind == WATCHDOG:
            return f"{finding.subject} is ticking again."
        return f"{where}{finding.subject} passes again."
    prefix = "still failing: " if action == "remind" else ""
    if finding.kind == CHECK:
        how = observed_vs_threshold(finding)
        detail = how if how else _first_sentence(finding.description)
        return f"{prefix}{where}{finding.subject} failed ({finding.severity}): {detail}."
    return f"{prefix}{where}{_first_sentence(finding.description)}."


def _first_sentence(text: str) -> str:
    text = " ".join(text.split())
    return text.rstrip(".") if text else "no description"


def findings_from_checks(rows: Iterable[Mapping[str, Any]]) -> list[Finding]:
    """Findings from check-result rows (``model, day, check, passed, severity, ...``).

    A check that had nothing to judge (``evaluated: false`` in its metadata) is no finding: it
    neither raises nor resolves an alert.
    """
    return [
        Finding(
            kind=CHECK,
            model=row["model"],
            subject=row["check"],
            day=row["day"],
            failing=not row["passed"],
            severity=row["severity"],
            description=row.get("description") or "",
            event_id=row["event_id"],
            observed=row.get("observed") or {},
            run_id=row.get("run_id"),
            run_url=row.get("run_url"),
            report_url=row.get("report_url"),
        )
        for row in rows
        if (row.get("observed") or {}).get("evaluated") is not False
    ]


def run_url(base_url: str, run_id: str | None) -> str | None:
    """The Dagster UI page of a run, when there is a run."""
    return f"{base_url.rstrip('/')}/runs/{run_id}" if run_id else None


# ---------------------------------------------------------------------------------------------
# Rules that are not Dagster checks


def logs_due(day: dt.date, due_hour: int) -> dt.datetime:
    """When a day's logs must have arrived: the next day at ``due_hour`` UTC."""
    return dt.datetime.combine(day + dt.timedelta(days=1), dt.time(due_hour), tzinfo=dt.UTC)


def freshness_finding(
    model: str, day: dt.date, objects: int, now: dt.datetime, due_hour: int
) -> Finding | None:
    """A finding about a day's logs once they are due; None before the deadline."""
    due = logs_due(day, due_hour)
    if now < due:
        return None
    failing = objects == 0
    description = (
        f"no log objects for {day} had arrived by {due:%Y-%m-%d %H:%M} UTC"
        if failing
        else f"{objects} log objects for {day} have arrived"
    )
    return Finding(
        kind=FRESHNESS,
        model=model,
        subject="logs_arrived_on_time",
        day=day,
        failing=failing,
        severity="ERROR",
        description=description,
        event_id=event_id_at(now),
        observed={"objects": objects, "due": due.isoformat()},
    )


def watchdog_finding(
    sensor: str,
    last_tick: dt.datetime | None,
    watching_since: dt.datetime,
    now: dt.datetime,
    silent_minutes: int,
) -> Finding:
    """Is the check sensor ticking? Failing once it has been silent for ``silent_minutes``."""
    reference = last_tick or watching_since
    silent = now - reference
    failing = silent > dt.timedelta(minutes=silent_minutes)
    if last_tick is None:
        description = (
            f"{sensor} has not ticked since the watchdog started at {reference:%Y-%m-%d %H:%M} UTC"
        )
    else:
        description = (
            f"{sensor} last ticked at {last_tick:%Y-%m-%d %H:%M} UTC, "
            f"{silent.total_seconds() / 60:.0f} minutes ago (limit {silent_minutes})"
        )
    return Finding(
        kind=WATCHDOG,
        model=None,
        subject=sensor,
        day=None,
        failing=failing,
        severity="ERROR",
        description=("alerting is blind: " if failing else "") + description,
        event_id=event_id_at(now),
        observed={"silent_minutes": round(silent.total_seconds() / 60, 1)},
    )


def event_id_at(now: dt.datetime) -> int:
    """An ordering id for findings that do not come from the event log: microseconds."""
    return int(now.timestamp() * 1_000_000)
