"""The reports index page: rendering, hostile values, headless Chromium, S3 and serve-reports."""

import datetime as dt
import json
import re
import subprocess
import sys
import urllib.request

import pytest

from monitoring_platform.lib.reports_site import (
    ModelInfo,
    day_statuses,
    parse_report_keys,
    render_index,
    report_href,
    trend_series,
)
from monitoring_platform.lib.storage import open_store
from monitoring_platform_tests.browser import visit
from monitoring_platform_tests.conftest import REPO, small_config_dict, write_config

D1, D2, D3 = dt.date(2026, 10, 30), dt.date(2026, 10, 31), dt.date(2026, 11, 1)
HOSTILE = '</script><script>alert("x")</script><img src=x onerror=alert(1)>\u2028'
MODELS = [
    ModelInfo("ctr_ranker", "Scores results <b>by</b> clicks", "binary_classification"),
    ModelInfo("eta_regressor", "ETA", "regression"),
]


def check(model, day, name, passed, severity="ERROR", description="ok", asset="inference_logs"):
    return {
        "model": model,
        "partition_date": day,
        "asset": asset,
        "check_name": name,
        "passed": passed,
        "severity": severity,
        "observed": json.dumps({"description": description}),
    }


def metric(model, day, name, value, dims="", asset="data_drift_report"):
    return {
        "model": model,
        "partition_date": day,
        "asset": asset,
        "metric": name,
        "dims": dims,
        "value": value,
    }


CHECKS = [
    check("ctr_ranker", D1, "logs_arrived", True),
    check("ctr_ranker", D2, "logs_arrived", True),
    check("ctr_ranker", D2, "dataset_drift_within_threshold", False, "WARN", HOSTILE),
    check("ctr_ranker", D3, "quarantine_share_within_limit", False, "ERROR", "too many"),
    check("ctr_ranker", D3, "logs_arrived", True),
    check("eta_regressor", D1, "logs_arrived", True),
]
METRICS = [
    metric("ctr_ranker", D1, "drift_share", 0.1),
    metric("ctr_ranker", D2, "drift_share", 0.6),
    metric("ctr_ranker", D3, "drift_share", 0.2),
    metric("ctr_ranker", D1, "drift_score", 0.9, dims='{"column": "x"}'),  # per column: no chart
    metric("ctr_ranker", D1, "rows_in", 1000, asset="inference_logs"),
    metric("ctr_ranker", D2, "rows_in", 1200, asset="inference_logs"),
    metric("ctr_ranker", D1, "latency_p95_ms", 80, asset="system_metrics"),
    metric("ctr_ranker", D2, HOSTILE, 3.5, asset="business_metrics"),
    metric("ctr_ranker", D3, "missing", None),
    metric("eta_regressor", D1, "drift_share", 0.0),
]
KEYS = [
    "ctr_ranker/2026-10-30/data_drift.html",
    "ctr_ranker/2026-10-30/validation.html",
    "ctr_ranker/2026-10-31/data_drift.html",
    "ctr_ranker/2026-11-01/model_performance.html",
    "ctr_ranker/2026-11-01/business_metrics.html",
    "ctr_ranker/2026-11-01/notes.html",  # not a report name
    "ctr_ranker/latest/data_drift.html",  # not a date
    "ctr_ranker/2026-13-45/data_drift.html",  # not a real date
    "index.html",
    "eta_regressor/2026-10-30/data_drift.html",
]


def render():
    return render_index(MODELS, CHECKS, METRICS, KEYS, dt.datetime(2026, 11, 2, 7, tzinfo=dt.UTC))


def test_report_keys_are_parsed_and_junk_ignored():
    found = parse_report_keys(KEYS)
    assert found["ctr_ranker"] == {
        D1: ["validation", "data_drift"],
        D2: ["data_drift"],
        D3: ["model_performance", "business_metrics"],
    }
    assert found["eta_regressor"] == {D1: ["data_drift"]}
    assert report_href("ctr_ranker", D1, "data_drift") == "ctr_ranker/2026-10-30/data_drift.html"


def test_a_day_shows_its_worst_check_outcome():
    reports = parse_report_keys(KEYS)["ctr_ranker"]
    days = day_statuses([c for c in CHECKS if c["model"] == "ctr_ranker"], reports)
    assert {d: s.status for d, s in days.items()} == {D1: "pass", D2: "warn", D3: "error"}
    assert days[D3].failed == [
        {
            "check": "quarantine_share_within_limit",
            "asset": "inference_logs",
            "severity": "ERROR",
            "description": "too many",
        }
    ]
    assert days[D3].reports == ["model_performance", "business_metrics"]


def test_trends_take_undimensioned_values_with_drift_first():
    trends = trend_series(METRICS)
    names = [s["metric"] for s in trends["ctr_ranker"]]
    assert names[0] == "drift_share" and names.index("latency_p95_ms") < names.index("rows_in")
    assert "drift_score" not in names and "missing" not in names
    drift = trends["ctr_ranker"][0]
    assert drift["points"] == [("2026-10-30", 0.1), ("2026-10-31", 0.6), ("2026-11-01", 0.2)]


def test_links_are_relative_and_values_escaped():
    page = render()
    hrefs = re.findall(r'href="([^"]*)"', page)
    assert hrefs and all(not h.startswith(("/", "http", "file:")) for h in hrefs)
    for key in KEYS[:5]:
        assert f'href="{key}"' in page
    assert "notes.html" not in page and "latest/" not in page
    assert "<img src=x" not in page and "<b>by</b>" not in page
    assert page.count("<script") == 2  # the data block and the chart script, nothing injected


def test_index_opens_in_chromium_with_charts_drawn_and_inert_values(tmp_path):
    path = tmp_path / "index.html"
    path.write_text(render(), encoding="utf-8")
    seen = visit(
        path,
        wait_for="body[data-charts-drawn=yes]",
        evaluate="""() => ({
            charts: Array.from(document.querySelectorAll('div.charts')).map(
                d => [d.dataset.model, d.querySelectorAll('svg.trend polyline').length,
                      Number(d.dataset.series)]),
            points: document.querySelectorAll('svg.trend circle').length,
            cells: Array.from(document.querySelectorAll('td.day[data-day]')).map(
                td => [td.dataset.day, td.className]),
            scripts: document.scripts.length,
            imgs: document.images.length,
        })""",
    )
    assert seen.page_errors == [] and seen.console_errors == [] and seen.dialogs == []
    result = seen.evaluated
    assert result["charts"] == [["ctr_ranker", 4, 4], ["eta_regressor", 1, 1]]
    assert result["points"] == 3 + 2 + 1 + 1 + 1
    assert result["scripts"] == 2 and result["imgs"] == 0
    cells = dict(result["cells"])
    assert cells["2026-10-30"].endswith("pass") and cells["2026-11-01"].endswith("error")
    assert 'alert("x")' in seen.text  # shown as text, never run
    assert "Scores results <b>by</b> clicks" in seen.text


def test_index_served_from_an_s3_bucket_links_to_the_reports(s3_bucket, s3_server):
    bucket, factory = s3_bucket
    # A static website: the bucket lets anyone read the reports, as a public site would.
    policy = {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": "*",
                "Action": "s3:GetObject",
                "Resource": f"arn:aws:s3:::{bucket}/reports/*",
            }
        ],
    }
    factory().put_bucket_policy(Bucket=bucket, Policy=json.dumps(policy))
    store = open_store(f"s3://{bucket}/reports", factory)
    store.put_bytes("index.html", render().encode(), content_type="text/html; charset=utf-8")
    store.put_bytes(
        "ctr_ranker/2026-10-31/data_drift.html",
        b"<!DOCTYPE html><title>drift 31</title><p>drift report of the 31st</p>",
        content_type="text/html; charset=utf-8",
    )
    url = f"{s3_server}/{bucket}/reports/index.html"
    seen = visit(
        url,
        wait_for="body[data-charts-drawn=yes]",
        evaluate="""async () => {
            const a = document.querySelector('a[href="ctr_ranker/2026-10-31/data_drift.html"]');
            const r = await fetch(a.href);
            return [a.href, r.status, await r.text()];
        }""",
    )
    assert seen.page_errors == [] and seen.dialogs == []
    href, status, body = seen.evaluated
    assert href == f"{s3_server}/{bucket}/reports/ctr_ranker/2026-10-31/data_drift.html"
    assert status == 200 and "drift report of the 31st" in body


@pytest.mark.slow
def test_serve_reports_serves_the_folder_on_localhost(tmp_path):
    config_path = write_config(tmp_path, small_config_dict(tmp_path))
    reports = tmp_path / "reports"
    (reports / "ctr_ranker" / "2026-10-31").mkdir(parents=True)
    (reports / "index.html").write_text(render(), encoding="utf-8")
    (reports / "ctr_ranker" / "2026-10-31" / "data_drift.html").write_text("<p>drift</p>")
    proc = subprocess.Popen(
        [sys.executable, "-m", "monitoring_platform.cli", "--config", str(config_path)]
        + ["serve-reports", "--port", "0"],
        cwd=REPO,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        line = proc.stdout.readline()
        match = re.search(r"http://127\.0\.0\.1:(\d+)/", line)
        assert match, line
        base = match.group(0)
        with urllib.request.urlopen(base, timeout=30) as response:
            assert response.status == 200 and b"Model monitoring reports" in response.read()
        with urllib.request.urlopen(base + "ctr_ranker/2026-10-31/data_drift.html") as response:
            assert response.read() == b"<p>drift</p>"
        seen = visit(base, wait_for="body[data-charts-drawn=yes]")
        assert seen.page_errors == [] and "ctr_ranker" in seen.text
    finally:
        proc.terminate()
        proc.wait(timeout=30)
