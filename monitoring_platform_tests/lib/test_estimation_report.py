"""Estimated beside realized quality: the days shown, and the section of the performance page."""

import datetime as dt

from monitoring_platform.lib.estimation_report import (
    HISTORY_DAYS,
    estimate_history,
    estimated_vs_realized_section,
)


def record(day: dt.date, metric: str, value: float, dims=None) -> dict:
    return {"partition_date": day, "metric": metric, "value": value, "dims": dims}


def test_history_pairs_each_days_estimate_and_band_with_realized_quality():
    today = dt.date(2026, 3, 20)
    yesterday = today - dt.timedelta(days=1)
    too_old = today - dt.timedelta(days=HISTORY_DAYS + 1)
    estimated = [
        record(yesterday, "accuracy", 0.8),
        record(yesterday, "accuracy_low", 0.75),
        record(yesterday, "accuracy_high", 0.85),
        record(yesterday, "accuracy", 0.1, dims={"model_version": "v1"}),  # per version: left out
        record(yesterday, "reference_labeled", 3000),  # not a quality metric
        record(today, "accuracy", 0.82),
        record(too_old, "accuracy", 0.5),
    ]
    realized = [
        record(yesterday, "accuracy", 0.79),
        record(yesterday, "label_coverage", 1.0),  # never estimated
        record(today, "accuracy", 0.1),  # today's realized value comes from the run itself
    ]

    rows = estimate_history(estimated, realized, today, {"accuracy": 0.81, "f1": 0.5})

    assert rows == [
        {
            "day": "2026-03-19",
            "metric": "accuracy",
            "estimated": 0.8,
            "low": 0.75,
            "high": 0.85,
            "realized": 0.79,
        },
        {"day": "2026-03-20", "metric": "accuracy", "estimated": 0.82, "realized": 0.81},
    ]


def test_the_section_shows_the_gap_and_says_when_nothing_was_estimated():
    rows = [{"day": "2026-03-20", "metric": "accuracy", "estimated": 0.82, "realized": 0.81}]
    html = estimated_vs_realized_section(rows, "2026-03-20")
    assert "0.8200" in html and "0.8100" in html and "0.0100" in html
    assert "No estimate was recorded" in estimated_vs_realized_section([], "2026-03-20")
