"""What every stage returns: its metrics, its check verdicts, its metadata and its pages.

A stage is one function in ``lib/`` that takes plain inputs (frames, tables, configuration, the
day) and returns a :class:`StageResult`. It imports no Dagster: ``defs/publish.py`` turns any
result into Dagster events and metric-store rows in one place, so a stage's verdicts are tested by
calling the function on small frames.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any, Literal

from monitoring_platform.lib.metric_store import Metric

Severity = Literal["WARN", "ERROR"]


@dataclass(frozen=True)
class Verdict:
    """One check's outcome: passed or not, why in words, and the numbers behind it.

    ``severity`` is how bad a failure is (a passing verdict keeps the severity it would fail
    with). ``observed`` holds plain values; ``{"evaluated": False, "reason": ...}`` marks a check
    that had nothing to judge, which passes and never alerts. ``report`` links the page that
    explains the outcome.
    """

    name: str
    passed: bool
    description: str
    observed: dict[str, Any] = field(default_factory=dict)
    severity: Severity = "ERROR"
    report: str | None = None


def graded(value: float, warn: float, error: float) -> tuple[bool, Severity]:
    """Pass below ``warn``; fail with WARN from ``warn``, with ERROR from ``error``."""
    if value >= error:
        return False, "ERROR"
    if value >= warn:
        return False, "WARN"
    return True, "WARN"


def not_evaluated(name: str, reason: str, severity: Severity = "ERROR") -> Verdict:
    """A verdict for a check with nothing to judge: it passes, says why, and never alerts."""
    return Verdict(
        name,
        passed=True,
        description=f"Not evaluated: {reason}",
        observed={"evaluated": False, "reason": reason},
        severity=severity,
    )


# Metadata values that need a kind beyond their Python type; plain numbers, strings and None
# are published as they are, lists and dicts as JSON.


@dataclass(frozen=True)
class Link:
    """A URL (a report page), shown as a link."""

    url: str


@dataclass(frozen=True)
class Location:
    """A file or object location (a lake partition), shown as a path."""

    uri: str


@dataclass(frozen=True)
class Markdown:
    """Text shown rendered as Markdown (a table of columns)."""

    text: str


@dataclass
class StageResult:
    """A stage's outcome for one model-day.

    ``metrics`` replace what the asset recorded for the day in the metric store; ``verdicts`` are
    the asset's checks; ``metadata`` is shown on the materialization; ``pages`` are the report
    pages the stage published (name to URL).
    """

    metrics: list[Metric] = field(default_factory=list)
    verdicts: list[Verdict] = field(default_factory=list)
    metadata: dict[str, Any] = field(default_factory=dict)
    pages: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class ModelDay:
    """One partition: a monitored model and the UTC day evaluated, parsed once."""

    model: str
    day: dt.date

    @property
    def key(self) -> str:
        """The partition key, ``YYYY-MM-DD``."""
        return self.day.isoformat()
