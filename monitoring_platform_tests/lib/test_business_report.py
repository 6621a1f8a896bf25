"""The business report of a model-day judged without Dagster, and its page in a browser."""

import datetime as dt

import pytest

from monitoring_platform.config import parse_config
from monitoring_platform.lib import business_metrics as bm
from monitoring_platform.lib.business_report import (
    business_metrics_report,
    history_start,
    render_business_report,
)
from monitoring_platform.lib.reports import publish_page
from monitoring_platform.lib.stage import Link
from monitoring_platform.lib.storage import LocalObjectStore
from monitoring_platform_tests.browser import visit

DAY = dt.date(2026, 11, 10)
CONFIG = """
models:
  - name: shop
    task: regression
    events: {enabled: true}
    features: [{name: x, type: numerical}]
    thresholds:
      latency_p95_slo_ms: 300
      error_rate_budget: 0.05
      kpi_drop: {conversion_rate: null, baseline_days: %d}
"""
MODEL = parse_config(CONFIG % 7).models[0]


def marts(system_row, business_row, today_clicks):
    system, business = [], []
    for n in range(8):
        day = DAY - dt.timedelta(days=7 - n)
        system.append(system_row(day, "v1", 120.0, 0.01))
        business.append(business_row(day, "v1", 1000, today_clicks if day == DAY else 60, 6, 9.0))
    return system, business


def test_the_report_judges_the_day_and_every_verdict_links_its_page(
    system_row, business_row, pages
):
    system, business = marts(system_row, business_row, today_clicks=30)
    result = business_metrics_report(MODEL, DAY, system, business, pages)
    link = "https://reports.test/business_metrics.html"
    assert result.pages == {"business_metrics": link}
    assert result.metadata["report"] == Link(link)
    names = [v.name for v in result.verdicts]
    # conversion_rate's limit is null: its drop is not checked.
    assert names == [
        bm.LATENCY_CHECK,
        bm.ERROR_RATE_CHECK,
        bm.kpi_check_name("click_through_rate"),
        bm.kpi_check_name("revenue_per_1k_predictions"),
    ]
    assert all(v.report == link for v in result.verdicts)
    ctr = result.verdicts[2]
    assert not ctr.passed and ctr.observed["drop"] == pytest.approx(0.5)
    assert result.metadata["failed_checks"] == [ctr.name]
    assert result.metadata["status"] == "ok" and result.metadata["model_versions"] == ["v1"]
    assert result.metadata["click_through_rate"] == pytest.approx(0.03)
    assert ctr.name in pages.published["business_metrics"]
    day_metrics = {m.name for m in result.metrics if m.dims is None}
    assert {"requests", "error_rate", "click_through_rate"} <= day_metrics


def test_a_day_without_rows_is_reported_as_no_data_and_not_judged(system_row, business_row, pages):
    system, business = marts(system_row, business_row, today_clicks=60)
    earlier = [r for r in system if r["metric_date"] != DAY]
    result = business_metrics_report(
        MODEL, DAY, earlier, [r for r in business if r["metric_date"] != DAY], pages
    )
    assert result.metadata["status"] == "no_data"
    assert all(v.passed and v.observed["evaluated"] is False for v in result.verdicts)
    assert result.metadata["failed_checks"] == []


def test_the_history_covers_the_trends_or_the_longer_baseline():
    assert history_start(MODEL, DAY) == DAY - dt.timedelta(days=29)
    long_baseline = parse_config(CONFIG % 60).models[0]
    assert history_start(long_baseline, DAY) == DAY - dt.timedelta(days=60)


@pytest.mark.slow
def test_report_page_renders_in_chromium_with_hostile_versions(tmp_path, system_row, business_row):
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
