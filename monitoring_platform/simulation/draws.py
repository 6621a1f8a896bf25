"""Random draws of simulated calls: latency and status, delays, order values, the daily curve."""

from __future__ import annotations

import math

import numpy as np

from monitoring_platform.simulation.scenario import (
    REVENUE_MEDIAN,
    SERVER_ERROR_SHARE,
    SERVER_ERRORS,
    SLOW_CALL_SHARE,
    THROTTLED_SHARE,
)


def latency_and_status(
    rng: np.random.Generator, load: np.ndarray, base_ms: float
) -> tuple[np.ndarray, np.ndarray]:
    """Latency (slower under load, a heavy tail) and HTTP status (429s mostly at peak)."""
    n = len(load)
    latency = base_ms * rng.lognormal(0.0, 0.3, n) * (0.8 + 0.4 * load)
    slow = rng.random(n) < SLOW_CALL_SHARE
    latency[slow] *= rng.uniform(5, 20, int(slow.sum()))
    throttle_share = THROTTLED_SHARE * load**2 / np.mean(load**2)
    draw = rng.random(n)
    status = np.full(n, 200, np.int16)
    throttled = draw < throttle_share
    server_error = ~throttled & (draw < throttle_share + SERVER_ERROR_SHARE)
    codes = list(SERVER_ERRORS)
    status[server_error] = rng.choice(
        codes, int(server_error.sum()), p=[share for share, _ in SERVER_ERRORS.values()]
    )
    status[throttled] = 429
    latency[throttled] = rng.uniform(0.5, 3.0, int(throttled.sum()))
    unavailable = status == 503
    latency[unavailable] = rng.uniform(1.0, 15.0, int(unavailable.sum()))
    timed_out = status == 504
    latency[timed_out] = base_ms * rng.uniform(25, 30, int(timed_out.sum()))
    return np.round(latency, 2), status


def revenue(rng: np.random.Generator, n: int) -> np.ndarray:
    """Order values in currency units, lognormal around ``REVENUE_MEDIAN``."""
    return np.round(rng.lognormal(math.log(REVENUE_MEDIAN), 0.7, n), 2)


def lognormal_ms(rng: np.random.Generator, median_ms: float, sigma: float, n) -> np.ndarray:
    """Delays in milliseconds, lognormal around ``median_ms``."""
    return np.rint(rng.lognormal(math.log(median_ms), sigma, int(n))).astype(np.int64)


def sigmoid(x):
    """The logistic function."""
    return 1.0 / (1.0 + np.exp(-x))


def logit(p: float) -> float:
    """The inverse of the logistic function."""
    return math.log(p / (1 - p))


def intraday_curve() -> np.ndarray:
    """Relative traffic per minute of the day (UTC): peak mid-afternoon, trough at night."""
    hours = (np.arange(1440) + 0.5) / 60
    return (
        1.0
        + 0.7 * np.cos(2 * np.pi * (hours - 15) / 24)
        + 0.12 * np.cos(4 * np.pi * (hours - 12) / 24)
    )


INTRADAY_CURVE = intraday_curve()
