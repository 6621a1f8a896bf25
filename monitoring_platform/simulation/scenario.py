"""The incidents a simulated range carries, and the constants of the simulated traffic."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass

PARTS_PER_DAY = 4
GZIP_LEVEL = 1
MS_PER_DAY = 86_400_000
MS_PER_PART = MS_PER_DAY // PARTS_PER_DAY
EPOCH = dt.date(1970, 1, 1)

# Monday to Sunday; the mean is 1.
WEEKDAY_VOLUME = (1.04, 1.07, 1.08, 1.06, 1.01, 0.89, 0.85)
DAILY_VOLUME_NOISE = 0.04

OPTIONAL_NULL_SHARE = 0.03
SLOW_CALL_SHARE = 0.01
THROTTLED_SHARE = 0.015
SERVER_ERROR_SHARE = 0.02
SERVER_ERRORS = {
    500: (0.40, "internal error: model inference failed"),
    502: (0.20, "bad gateway: the model server closed the connection"),
    503: (0.25, "service unavailable: the model server is overloaded"),
    504: (0.15, "gateway timeout: no answer from the model server"),
}
THROTTLED_ERROR = "too many requests: rate limit exceeded"

# Traffic share of the newer version at each step of a rollout, before it serves everything.
PARTIAL_ROLLOUT_SHARES = (0.1, 0.5)
# Noise of each version's estimate of the hidden relationship (later versions are better).
VERSION_NOISE = 0.6
VERSION_IMPROVEMENT = 0.75

DRIFT_SHIFT_SD = 1.0
UNSEEN_SHARE = 0.08
UNSEEN_EFFECT = 1.0
# Correlation between the relationship before and during drift.
CONCEPT_STABILITY = 0.8

CLICK_RATE = 0.1
CLICK_LOGIT_SCALE = 1.8
CONVERSION_AFTER_CLICK = 0.1
ETA_MEDIAN_MINUTES = 32.0
ETA_LOG_SCALE = 0.3
ETA_LOG_NOISE = 0.08
ORDER_RATE = 0.7
ORDER_ETA_SENSITIVITY = 1.5
MULTICLASS_LOGIT_SCALE = 2.0
MULTICLASS_CONVERSION = 0.1
REVENUE_MEDIAN = 30.0

GARBAGE_LINES = (
    "<html><head><title>502 Bad Gateway</title></head><body>nginx</body></html>",
    "upstream connect error or disconnect/reset before headers. reset reason: connection failure",
    "log shipper: buffer full, dropped 17 records",
)
LOG_FIELDS = (
    "request_id",
    "timestamp",
    "model_version",
    "features",
    "prediction",
    "latency_ms",
    "status_code",
    "error",
)


@dataclass(frozen=True)
class Scenario:
    """Which days carry drift or a schema bug, when a new version rolls out, how dirty logs are."""

    # Covariate shift, a new category mix with an unseen category, a changed relationship.
    drift_days: Sequence[dt.date] = ()
    # From this hour (UTC) on, one numerical feature is sent as text and another is renamed.
    schema_bug_day: dt.date | None = None
    schema_bug_hour: int = 14
    # Shares of log lines damaged in transit and of records sent twice.
    malformed_rate: float = 1 / 2000
    duplicate_rate: float = 4e-4
    # The first day of the newer version's canary; each step (10 %, 50 %, 100 %) lasts this long.
    rollout_start: dt.date | None = None
    rollout_step_days: int = 1
    # A slow build: on this day the newer versions answer this many times slower.
    latency_regression_day: dt.date | None = None
    latency_regression_factor: float = 6.0


def default_scenario(start: dt.date, end: dt.date) -> Scenario:
    """The default incidents of a range of days.

    Drift on the last two days, a schema bug on the sixth, a rollout from 40 % of the range whose
    first canary day is a slow build (ranges of ten days or more).
    """
    n_days = (end - start).days + 1
    rollout_start = start + dt.timedelta(days=max(1, round(0.4 * n_days)))
    return Scenario(
        drift_days=[end - dt.timedelta(days=1), end] if n_days >= 5 else [],
        schema_bug_day=start + dt.timedelta(days=5) if n_days >= 8 else None,
        rollout_start=rollout_start,
        rollout_step_days=max(1, n_days // 7),
        latency_regression_day=rollout_start if n_days >= 10 else None,
    )


def rollout_shares(versions: Sequence[str], scenario: Scenario, day: dt.date) -> dict[str, float]:
    """The share of traffic each model version serves on ``day``."""
    current = versions[0]
    if scenario.rollout_start is None or day < scenario.rollout_start:
        return {current: 1.0}
    step = (day - scenario.rollout_start).days // scenario.rollout_step_days
    for newer in versions[1:]:
        if step < len(PARTIAL_ROLLOUT_SHARES):
            share = PARTIAL_ROLLOUT_SHARES[step]
            return {current: 1.0 - share, newer: share}
        current, step = newer, step - len(PARTIAL_ROLLOUT_SHARES) - 1
        if step < 0:
            break
    return {current: 1.0}
