"""Threshold checks on the marts' rows, their numbers, and the business-metrics page."""

import datetime as dt

import pytest

from monitoring_platform.lib import business_metrics as bm
from monitoring_platform.lib.alerting.findings import findings_from_checks
from monitoring_platform.lib.business_report import render_business_report
from monitoring_platform.lib.reports import publish_page
from monitoring_platform.lib.storage import LocalObjectStore
from monitoring_platform_tests.browser import visit

DAY = dt.date(2026, 11, 10)


def system_row(day, version, p95, error_rate, requests=1000):
    return {
        "model_name": "shop",
        "metric_date": day,
        "model_version": version,
        "requests": requests,
        "peak_requests_per_minute": 9,
        "latency_p50_ms": p95 / 2,
        "latency_p95_ms": p95,
        "latency_p99_ms": p95 * 2,
        "server_errors": round(error_rate * requests),
        "throttled_requests": 10,
        "error_rate": error_rate,
        "throttle_rate": 10 / requests,
    }


def business_row(day, version, predictions, clicks, conversions, revenue):
    return {
        "model_name": "shop",
        "metric_date": day,
        "model_version": version,
        "predictions": predictions,
        "clicks": clicks,
        "conversions": conversions,
        "revenue": revenue,
        "click_through_rate": clicks / predictions,
        "conversion_rate": conversions / predictions,
        "revenue_per_1k_predictions": 1000 * revenue / predictions,
    }


def test_latency_regression_of_one_version_fails_with_its_numbers():
    rows = [system_row(DAY, "v1", 80.0, 0.01), system_row(DAY, "v2", 412.5, 0.01)]
    verdict = bm.check_latency(rows, 300.0)
    assert not verdict.passed and verdict.severity == "ERROR"
    assert verdict.observed["observed"] == 412.5 and verdict.observed["threshold"] == 300.0
    assert verdict.observed["worst_version"] == "v2"
    assert "412.5 ms" in verdict.description and "300.0 ms" in verdict.description
    assert bm.check_latency(rows[:1], 300.0).passed


def test_error_rate_over_budget_fails():
    verdict = bm.check_error_rate([system_row(DAY, "v1", 80.0, 0.071)], 0.05)
    assert not verdict.passed
    assert verdict.observed == {
        "observed": 0.071,
        "threshold": 0.05,
        "worst_version": "v1",
        "error_rate_by_version": {"v1": 0.071},
    }
    assert "7.10%" in verdict.description and "5.00%" in verdict.description


def test_kpi_drop_is_measured_against_the_trailing_mean_over_all_versions():
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


def test_kpi_without_history_or_data_is_not_evaluated():
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


def test_day_metrics_per_version_and_overall():
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


@pytest.mark.slow
def test_report_page_renders_in_chromium_with_hostile_versions(tmp_path):
    hostile = '</svg><script>alert("x")</script><img src=x onerror=alert(1)>'
    system, business = [], []
    for n in range(30):
        day = DAY - dt.timedelta(days=29 - n)
        system.append(system_row(day, "v1", 80.0 + n, 0.01))
        business.append(business_row(day, "v1", 1000, 60, 6, 180.0))
        if n > 25:
            system.append(system_row(day, hostile, 400.0, 0.02))
            business.append(business_row(day, hostile, 200, 10, 1, 30.0))
    verdicts = [bm.check_latency(bm.rows_of_day(system, DAY), 300.0)]
    html = render_business_report(
        "shop", DAY, system, business, verdicts, slo_ms=300.0, error_budget=0.05
    )
    key = publish_page(LocalObjectStore(tmp_path), "shop", DAY, "business_metrics", html)
    seen = visit(tmp_path / key, evaluate="document.querySelectorAll('svg polyline').length")
    assert seen.page_errors == [] and seen.console_errors == [] and seen.dialogs == []
    assert seen.title == "Business metrics · shop · 2026-11-10"
    assert "Business metrics of shop on 2026-11-10" in seen.text
    assert "latency_p95_within_slo" in seen.text and "failed" in seen.text
    assert hostile in seen.text  # shown as text, never run
    assert seen.evaluated >= 7 * 2  # a line per version per chart


def test_a_model_without_events_checks_no_kpi():
    from monitoring_platform.config import parse_config
    from monitoring_platform.defs.metrics.checks import checked_kpis, metrics_check_specs

    text = """
models:
  - name: shop
    task: regression
    events: {enabled: %s}
    features: [{name: x, type: numerical}]
"""
    with_events = parse_config(text % "true").models[0]
    without = parse_config(text % "false").models[0]
    assert checked_kpis(with_events) == list(bm.KPIS)
    assert checked_kpis(without) == []
    from dagster import AssetKey, DailyPartitionsDefinition

    days = DailyPartitionsDefinition(start_date="2026-11-01")
    names = {s.name for s in metrics_check_specs(AssetKey(["shop", "business"]), without, days)}
    assert names == {bm.LATENCY_CHECK, bm.ERROR_RATE_CHECK}
