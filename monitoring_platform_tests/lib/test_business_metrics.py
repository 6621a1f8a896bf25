"""Threshold checks on the marts' rows, their numbers, and the business-metrics page."""

import datetime as dt

import pytest

from monitoring_platform.lib import business_metrics as bm
from monitoring_platform.lib.alerting.findings import findings_from_checks

DAY = dt.date(2026, 11, 10)


def test_latency_regression_of_one_version_fails_with_its_numbers(system_row):
    rows = [system_row(DAY, "v1", 80.0, 0.01), system_row(DAY, "v2", 412.5, 0.01)]
    verdict = bm.check_latency(rows, 300.0)
    assert not verdict.passed and verdict.severity == "ERROR"
    assert verdict.observed["observed"] == 412.5 and verdict.observed["threshold"] == 300.0
    assert verdict.observed["worst_version"] == "v2"
    assert "412.5 ms" in verdict.description and "300.0 ms" in verdict.description
    assert bm.check_latency(rows[:1], 300.0).passed


def test_error_rate_over_budget_fails(system_row):
    verdict = bm.check_error_rate([system_row(DAY, "v1", 80.0, 0.071)], 0.05)
    assert not verdict.passed
    assert verdict.observed == {
        "observed": 0.071,
        "threshold": 0.05,
        "worst_version": "v1",
        "error_rate_by_version": {"v1": 0.071},
    }
    assert "7.10%" in verdict.description and "5.00%" in verdict.description


def test_kpi_drop_is_measured_against_the_trailing_mean_over_all_versions(business_row):
    rows = []
    for n, clicks in enumerate([60, 64, 56, 60, 62, 58, 60]):
        day = DAY - dt.timedelta(days=7 - n)
        # Two versions whose counts add up to the day's totals.
        rows += [
            business_row(day, "v1", 600, clicks // 2, 6, 180.0),
            business_row(day, "v2", 400, clicks - clicks // 2, 4, 120.0),
        ]
    rows += [business_row(DAY, "v1", 500, 15, 5, 150.0), business_row(DAY, "v2", 500, 15, 5, 150.0)]
    totals = bm.kpi_totals(rows)
    assert totals[DAY]["click_through_rate"] == pytest.approx(30 / 1000)

    verdict = bm.check_kpi_drop("click_through_rate", DAY, totals, 0.3, 7)
    assert not verdict.passed
    assert verdict.observed["baseline"] == pytest.approx(0.06)
    assert verdict.observed["drop"] == pytest.approx(0.5)
    assert verdict.observed["threshold"] == 0.3
    assert "3.00% is 50.0% below its trailing 7-day mean of 6.00%" in verdict.description

    steady = bm.check_kpi_drop("conversion_rate", DAY, totals, 0.3, 7)
    assert steady.passed and steady.observed["drop"] == pytest.approx(0.0)


def test_kpi_without_history_or_data_is_not_evaluated(business_row):
    rows = [business_row(DAY, "v1", 100, 5, 1, 10.0)]
    verdict = bm.check_kpi_drop("click_through_rate", DAY, bm.kpi_totals(rows), 0.3, 7)
    # Nothing to judge: a pass marked not evaluated, which alerting neither raises nor resolves.
    assert verdict.passed and verdict.observed["evaluated"] is False
    assert "Not evaluated" in verdict.description
    no_calls = bm.check_kpi_drop("conversion_rate", DAY, {}, 0.3, 7)
    assert no_calls.passed and no_calls.observed["evaluated"] is False
    rows = [
        {
            "model": "m",
            "day": DAY,
            "check": v.name,
            "passed": v.passed,
            "severity": v.severity,
            "description": v.description,
            "observed": v.observed,
            "event_id": i,
        }
        for i, v in enumerate([verdict, no_calls, bm.check_latency([], 300.0)])
    ]
    assert findings_from_checks(rows) == []
    never_clicked = [business_row(DAY - dt.timedelta(days=1), "v1", 100, 0, 1, 10.0)]
    never_clicked.append(business_row(DAY, "v1", 100, 0, 1, 10.0))
    assert bm.check_kpi_drop("click_through_rate", DAY, bm.kpi_totals(never_clicked), 0.3, 7).passed


def test_day_metrics_per_version_and_overall(system_row, business_row):
    system = [system_row(DAY, "v1", 80.0, 0.01), system_row(DAY, "v2", 90.0, 0.03)]
    business = [
        business_row(DAY, "v1", 900, 50, 5, 100.0),
        business_row(DAY, "v2", 100, 10, 1, 50.0),
    ]
    metrics = {
        (m.name, (m.dims or {}).get("model_version")): m.value
        for m in bm.day_metrics(DAY, system, business)
    }
    assert metrics[("latency_p95_ms", "v2")] == 90.0
    assert metrics[("error_rate", None)] == pytest.approx(0.02)
    assert metrics[("click_through_rate", None)] == pytest.approx(0.06)
    assert metrics[("revenue_per_1k_predictions", None)] == pytest.approx(150.0)


def test_a_model_without_events_checks_no_kpi():
    from monitoring_platform.config import parse_config
    from monitoring_platform.defs.metrics.checks import metrics_check_specs

    text = """
models:
  - name: shop
    task: regression
    events: {enabled: %s}
    features: [{name: x, type: numerical}]
"""
    with_events = parse_config(text % "true").models[0]
    without = parse_config(text % "false").models[0]
    assert bm.checked_kpis(with_events) == list(bm.KPIS)
    assert bm.checked_kpis(without) == []
    from dagster import AssetKey, DailyPartitionsDefinition

    days = DailyPartitionsDefinition(start_date="2026-11-01")
    names = {s.name for s in metrics_check_specs(AssetKey(["shop", "business"]), without, days)}
    assert names == {bm.LATENCY_CHECK, bm.ERROR_RATE_CHECK}
