"""The reports index page: rendering, hostile values, headless Chromium, S3 and serve-reports."""

import datetime as dt
import json
import re
import subprocess
import sys
import urllib.request

import pytest

from monitoring_platform.lib.charts import Limit, line_chart
from monitoring_platform.lib.reports import (
    parse_report_keys,
    publish_page,
    publish_site_page,
    refresh_navigation,
)
from monitoring_platform.lib.reports_site.headlines import ModelInfo, model_limits
from monitoring_platform.lib.reports_site.index import render_index
from monitoring_platform.lib.reports_site.series import (
    drifted_columns,
    metric_series,
    quality_overlay,
)
from monitoring_platform.lib.reports_site.status import STALE_NOTE, day_statuses, stale_steps
from monitoring_platform.lib.storage import LocalObjectStore, open_store
from monitoring_platform.lib.validation import ValidationOutcome
from monitoring_platform.lib.validation_page import render_validation_page
from monitoring_platform_tests.browser import visit
from monitoring_platform_tests.conftest import REPO, small_config_dict, write_config

D1, D2, D3 = dt.date(2026, 10, 30), dt.date(2026, 10, 31), dt.date(2026, 11, 1)
HOSTILE = '</script><script>alert("x")</script><img src=x onerror=alert(1)>\u2028'
MODELS = [
    ModelInfo(
        "ctr_ranker",
        "Scores results <b>by</b> clicks",
        "binary_classification",
        {"drift_share": [Limit("error at", 0.5)]},
    ),
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


def metric(model, day, name, value, dims="", asset="data_drift_report", text=""):
    return {
        "model": model,
        "partition_date": day,
        "asset": asset,
        "metric": name,
        "dims": dims,
        "value": value,
        "text_value": text,
    }


PERF, EST = "model_performance_report", "estimated_performance"
# Realized ROC AUC with its interval and the reference's on the first two days; the estimate
# (from predictions alone) with its band on the last two, the labels of the last not in yet.
QUALITY = [
    metric("ctr_ranker", day, name, value, asset=asset)
    for day, asset, values in [
        (D1, PERF, {"roc_auc": 0.80, "roc_auc_low": 0.74, "roc_auc_high": 0.86}),
        (D2, PERF, {"roc_auc": 0.70, "roc_auc_low": 0.60, "roc_auc_high": 0.78}),
        (D1, PERF, {"baseline_roc_auc": 0.82}),
        (D2, PERF, {"baseline_roc_auc": 0.83}),
        (D2, EST, {"roc_auc": 0.72, "roc_auc_low": 0.66, "roc_auc_high": 0.79}),
        (D3, EST, {"roc_auc": 0.71, "roc_auc_low": 0.64, "roc_auc_high": 0.77}),
        (D3, EST, {"calibration_error": 0.02}),
    ]
    for name, value in values.items()
]
AGE, SEX = '{"column": "age"}', '{"column": "sex"}'
DRIFT_COLUMNS = [
    metric("ctr_ranker", D2, "drift_score", 0.5, AGE, text="Wasserstein distance (normed)"),
    metric("ctr_ranker", D2, "drift_detected", 1.0, AGE),
    metric("ctr_ranker", D3, "drift_score", 0.31, AGE, text="Wasserstein distance (normed)"),
    metric("ctr_ranker", D3, "drift_bound", 0.12, AGE),
    metric("ctr_ranker", D3, "drift_detected", 1.0, AGE),
    metric("ctr_ranker", D3, "drift_score", 0.003, SEX, text="chi-square p_value"),
    metric("ctr_ranker", D3, "drift_bound", 1e-4, SEX),
    metric("ctr_ranker", D3, "drift_detected", 0.0, SEX),
]


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
    *QUALITY,
    *DRIFT_COLUMNS,
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


def test_a_day_shows_its_worst_check_outcome():
    reports = parse_report_keys(KEYS)["ctr_ranker"]
    days = day_statuses([c for c in CHECKS if c["model"] == "ctr_ranker"], reports)
    assert {d: s.status for d, s in days.items()} == {D1: "ok", D2: "warn", D3: "error"}
    assert days[D3].failed == [
        {
            "check": "quarantine_share_within_limit",
            "asset": "inference_logs",
            "severity": "ERROR",
            "description": "too many",
            "stale": "",
        }
    ]
    assert days[D3].reports == ["model_performance", "business_metrics"]


def stamped(row, run, minute):
    return {**row, "run_id": run, "recorded_at": dt.datetime(2026, 11, 2, 6, minute)}


def test_steps_an_earlier_run_wrote_are_marked_and_do_not_colour_the_day():
    # D2 was evaluated by run "a"; run "b" re-ran it, ingested and validated, then failed at
    # drift: the drift rows and page are run a's. D1's performance was re-run later, alone
    # ("c", late labels): newer than the logs, so current.
    rows = [
        stamped(metric("ctr_ranker", D1, "rows_in", 9, asset="inference_logs"), "a", 1),
        stamped(metric("ctr_ranker", D1, "drift_share", 0.1), "a", 2),
        stamped(metric("ctr_ranker", D1, "roc_auc", 0.8, asset="model_performance_report"), "c", 9),
        stamped(metric("ctr_ranker", D2, "rows_in", 9, asset="inference_logs"), "a", 3),
        stamped(metric("ctr_ranker", D2, "drift_share", 0.6), "a", 4),
        stamped(metric("ctr_ranker", D2, "rows_in", 9, asset="inference_logs"), "b", 7),
        stamped(check("ctr_ranker", D2, "logs_arrived", True), "b", 7),
        stamped(check("ctr_ranker", D2, "expectations_pass", True, asset="validation"), "b", 8),
        stamped(
            check("ctr_ranker", D2, "drift_ok", False, "ERROR", asset="data_drift_report"), "a", 4
        ),
        stamped(metric("eta_regressor", D2, "drift_share", 0.6), "a", 4),  # no logs rows: unknown
        {**metric("ctr_ranker", D2, "drift_share", 0.6), "run_id": None, "recorded_at": None},
    ]
    stale = stale_steps(rows)
    assert stale == {"ctr_ranker": {D2: {"data_drift_report"}}}
    # A run of D1 started at 06:05 and failed before writing anything: what came before it is
    # an earlier evaluation, the ingest included; the performance re-run at 06:09 is not.
    failed = [("ctr_ranker", D1, dt.datetime(2026, 11, 2, 6, 5, tzinfo=dt.UTC))]
    assert stale_steps(rows, failed) == {
        "ctr_ranker": {D1: {"inference_logs", "data_drift_report"}, D2: {"data_drift_report"}}
    }
    days = day_statuses(
        [r for r in rows if "check_name" in r],
        {D2: ["validation", "data_drift"]},
        stale["ctr_ranker"],
    )
    assert days[D2].status == "ok" and days[D2].passed == 2
    assert days[D2].failed[0]["stale"] == STALE_NOTE
    assert days[D2].stale_reports() == {"data_drift"}

    page = render_index(
        MODELS[:1],
        [r for r in rows if "check_name" in r],
        [r for r in rows if "metric" in r],
        ["ctr_ranker/2026-10-31/data_drift.html", "ctr_ranker/2026-10-31/validation.html"],
        dt.datetime(2026, 11, 2, 7, tzinfo=dt.UTC),
    )
    cell = re.search(r'<td class="day ([a-z ]+)" title="([^"]*)" data-day="2026-10-31">', page)
    assert cell and cell.group(1) == "ok stale"
    assert f"Data drift {STALE_NOTE}" in cell.group(2)
    card = re.search(r'<div class="kpi stale"><div class="v">60.0%</div>', page)
    assert card and f'<div class="d stale-note">{STALE_NOTE}</div>' in page
    assert re.search(
        r'<a class="rep stale" href="ctr_ranker/2026-10-31/data_drift.html"[^>]*'
        + re.escape(STALE_NOTE),
        page,
    )
    assert '<a class="rep" href="ctr_ranker/2026-10-31/validation.html"' in page
    assert "Evaluation incomplete" in page and "Healthy" not in page


def test_series_take_undimensioned_values_and_the_slowest_version():
    rows = METRICS + [
        metric(
            "ctr_ranker",
            D1,
            "latency_p95_ms",
            120,
            '{"model_version": "a"}',
            "business_metrics_report",
        ),
        metric(
            "ctr_ranker",
            D1,
            "latency_p95_ms",
            90,
            '{"model_version": "b"}',
            "business_metrics_report",
        ),
    ]
    series = metric_series(rows)["ctr_ranker"]
    assert series[("data_drift_report", "drift_share")] == {D1: 0.1, D2: 0.6, D3: 0.2}
    assert series[("business_metrics_report", "latency_p95_ms")] == {D1: 120}
    assert ("data_drift_report", "drift_score") not in series
    assert ("data_drift_report", "missing") not in series


def test_quality_trend_draws_the_interval_the_estimate_and_the_baseline():
    series = metric_series(QUALITY)["ctr_ranker"]
    overlay = quality_overlay("roc_auc", "ROC AUC", series)
    assert overlay.lines == {
        "ROC AUC": {D1: 0.80, D2: 0.70},
        "estimated": {D2: 0.72, D3: 0.71},
        "reference baseline": {D1: 0.82, D2: 0.83},
    }
    assert overlay.bands == {
        "ROC AUC": {D1: (0.74, 0.86), D2: (0.60, 0.78)},
        "estimated": {D2: (0.66, 0.79), D3: (0.64, 0.77)},
    }
    assert overlay.styles == {"estimated": "dashed", "reference baseline": "dotted"}
    assert (EST, "calibration_error") not in overlay.keys, "left for the plumbing fold"
    assert quality_overlay("mae", "MAE", series).lines == {}

    chart = line_chart(
        "ROC AUC",
        [D1, D2, D3],
        overlay.lines,
        str,
        bands=overlay.bands,
        styles=overlay.styles,
    )
    # The plot spans 0 to the highest value plus 5%; days sit at the left, middle and right.
    top, height, left, width = chart.top, chart.plot_h, chart.left, chart.plot_w

    def at(day: int, value: float) -> tuple[float, float]:
        return round(left + width * day / 2, 1), round(top + height * (1 - value / 0.903), 1)

    realized, estimated = chart.bands
    assert (realized["name"], estimated["name"]) == ("ROC AUC", "estimated")
    (area,) = realized["areas"]
    corners = [tuple(float(c) for c in p.split(",")) for p in area["points"].split()]
    assert corners == [at(0, 0.86), at(1, 0.78), at(1, 0.60), at(0, 0.74)]
    assert (area["first"], area["last"]) == (str(D1), str(D2))
    assert area["tip"] == f"{D1}: 0.74 to 0.86; {D2}: 0.6 to 0.78"
    assert realized["color"] == chart.series[0]["color"]
    assert estimated["color"] == chart.series[1]["color"] != realized["color"]
    assert [(s["name"], s["style"]) for s in chart.series] == [
        ("ROC AUC", "solid"),
        ("estimated", "dashed"),
        ("reference baseline", "dotted"),
    ]
    # A band with a gap: one area per stretch of days, a lone day a narrow bar.
    gappy = line_chart("x", [D1, D2, D3], {}, str, bands={"x": {D1: (1, 2), D3: (0.5, 1.5)}})
    first, lone = gappy.bands[0]["areas"]
    assert len(first["points"].split()) == 4 and lone["first"] == lone["last"] == str(D3)
    with pytest.raises(ValueError, match="unknown line styles"):
        line_chart("x", [D1], {"a": {D1: 1.0}}, str, styles={"a": "wavy"})


def test_latest_drifted_columns_with_score_and_learned_bound():
    drift = drifted_columns(METRICS)
    assert drift == {
        "day": str(D3),
        "measured": 2,
        "columns": [
            {
                "column": "age",
                "method": "Wasserstein distance (normed)",
                "score": "0.31",
                "bound": "0.12",
                "drift_when": "above 0.12",
            }
        ],
    }
    assert (
        drifted_columns([r for r in METRICS if r["partition_date"] != D3])["columns"][0][
            "drift_when"
        ]
        == "no learned bound (Evidently's fixed threshold)"
    )
    assert drifted_columns(QUALITY) is None
    # A p-value test drifts below its bound.
    sex_drifted = [
        {**r, "value": 1.0} if r["metric"] == "drift_detected" and r["dims"] == SEX else r
        for r in METRICS
    ]
    assert [c["drift_when"] for c in drifted_columns(sex_drifted)["columns"]] == [
        "above 0.12",
        "below 0.0001",
    ]


def test_drifted_columns_read_the_metric_stores_rows(tmp_path):
    from monitoring_platform.lib.metric_store import Metric, MetricStore

    store = MetricStore(f"sqlite:///{tmp_path / 'metrics.db'}")
    for day in (D2, D3):
        rows = [r for r in DRIFT_COLUMNS if r["partition_date"] == day]
        store.replace_metrics(
            "ctr_ranker",
            day,
            "data_drift_report",
            [
                Metric(r["metric"], r["value"], json.loads(r["dims"]), r["text_value"] or None)
                for r in rows
            ],
        )
    drift = drifted_columns(store.metrics(model="ctr_ranker"))
    assert drift == drifted_columns(DRIFT_COLUMNS)
    assert drift["columns"][0]["method"] == "Wasserstein distance (normed)"
    store.dispose()


def test_limits_come_from_the_configuration(tmp_path):
    from monitoring_platform.config import ModelConfig

    model = ModelConfig.model_validate(small_config_dict(tmp_path)["models"][0])
    limits = model_limits(model)
    assert [lim.value for lim in limits["drift_share"]] == [
        model.thresholds.drift.drift_share_warn,
        model.thresholds.drift.drift_share_error,
    ]
    assert limits["latency_p95_ms"][0].value == model.thresholds.latency_p95_slo_ms


def test_links_are_relative_and_values_escaped():
    page = render()
    hrefs = re.findall(r'href="([^"]*)"', page)
    assert hrefs and all(not h.startswith(("/", "http", "file:")) for h in hrefs)
    for key in KEYS[:5]:
        assert f'href="{key}"' in page
    assert "notes.html" not in page and "latest/" not in page
    assert "<img src=x" not in page and "<b>by</b>" not in page
    assert "<script" not in page, "the index runs no script"


def test_index_leads_with_the_verdict_and_folds_the_plumbing(tmp_path):
    path = tmp_path / publish_site_page(LocalObjectStore(tmp_path), "index.html", render())
    seen = visit(
        path,
        evaluate="""() => ({
            verdicts: Array.from(document.querySelectorAll('section.model > p.verdict')).map(
                p => p.className + ': ' + p.textContent),
            failing: Array.from(document.querySelectorAll('#model-ctr_ranker ul.failing li')).map(
                li => li.textContent).slice(0, 1),
            headline: Array.from(document.querySelectorAll(
                '#model-ctr_ranker > .charts figcaption')).map(f => f.textContent),
            limits: document.querySelectorAll('#model-ctr_ranker > .charts line.limit').length,
            bands: Array.from(document.querySelectorAll(
                '#model-ctr_ranker > .charts figure:nth-child(1) polygon.band')).map(b => {
                    const box = b.getBoundingClientRect();
                    return [b.dataset.first, b.dataset.last, box.width, box.height,
                            getComputedStyle(b).fillOpacity, b.textContent];
                }),
            dots: Array.from(document.querySelectorAll(
                '#model-ctr_ranker > .charts figure:nth-child(1) circle')).map(c => {
                    const box = c.getBoundingClientRect();
                    return [c.textContent, box.top + box.height / 2];
                }),
            bandBox: (() => {
                const box = document.querySelector(
                    '#model-ctr_ranker > .charts figure:nth-child(1) polygon.band'
                ).getBoundingClientRect();
                return [box.top, box.bottom];
            })(),
            dashes: Array.from(document.querySelectorAll(
                '#model-ctr_ranker > .charts figure:nth-child(1) polyline')).map(
                l => l.getAttribute('stroke-dasharray')),
            drifted: Array.from(document.querySelectorAll(
                '#model-ctr_ranker table.drifted tbody tr')).map(tr => tr.textContent),
            folded: Array.from(document.querySelectorAll(
                '#model-ctr_ranker details.plumbing figcaption')).map(f => f.textContent),
            foldedOpen: document.querySelector('#model-ctr_ranker details.plumbing').open,
            scripts: document.scripts.length,
            imgs: document.images.length,
            text: document.body.textContent,
        })""",
    )
    assert seen.page_errors == [] and seen.console_errors == [] and seen.dialogs == []
    result = seen.evaluated
    assert result["verdicts"][0].startswith("verdict error: Failing.")
    assert result["failing"] == ["quarantine_share_within_limit ERROR on inference_logs: too many"]
    assert result["headline"] == ["ROC AUC", "Features drifted error at 50.0%"]
    assert result["limits"] == 1
    # The quality trend: the realized interval and the estimate's band, shaded and visible.
    realized, estimated = result["bands"]
    assert realized[:2] == [str(D1), str(D2)] and estimated[:2] == [str(D2), str(D3)]
    assert all(b[2] > 50 and b[3] > 5 and float(b[4]) > 0 for b in (realized, estimated))
    assert realized[5] == f"ROC AUC: {D1}: 0.74 to 0.86; {D2}: 0.6 to 0.78"
    top, bottom = result["bandBox"]
    realized_dots = [y for tip, y in result["dots"] if tip.startswith("ROC AUC ")]
    assert len(realized_dots) == 2 and all(top < y < bottom for y in realized_dots)
    assert result["dashes"] == [None, "6,4", "2,3"], "realized solid, estimate dashed, baseline"
    assert result["drifted"] == ["ageWasserstein distance (normed)0.31above 0.12"]
    assert any(f.startswith("rows_in") for f in result["folded"]) and not result["foldedOpen"]
    assert result["scripts"] == 0 and result["imgs"] == 0
    assert 'alert("x")' in result["text"]  # shown as text (in the folds), never run
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
    publish_site_page(store, "index.html", render())
    store.put_bytes(
        "ctr_ranker/2026-10-31/data_drift.html",
        b"<!DOCTYPE html><title>drift 31</title><p>drift report of the 31st</p>",
        content_type="text/html; charset=utf-8",
    )
    # A report published there, then a later day: the index refreshes the earlier page's bar.
    page = render_validation_page("ctr_ranker", "2026-10-30", ValidationOutcome([], 0), {}, {})
    publish_page(store, "ctr_ranker", D1, "validation", page)
    publish_page(store, "ctr_ranker", D2, "validation", page.replace("2026-10-30", "2026-10-31"))
    assert refresh_navigation(store, ["ctr_ranker"]) == 1
    assert refresh_navigation(store, ["ctr_ranker"]) == 0, "nothing stale the second time"
    url = f"{s3_server}/{bucket}/reports/index.html"
    seen = visit(
        url,
        evaluate="""async () => {
            const a = document.querySelector('a[href="ctr_ranker/2026-10-31/data_drift.html"]');
            const r = await fetch(a.href);
            const css = document.querySelector('link[rel=stylesheet]').sheet.cssRules.length;
            return [a.href, r.status, await r.text(), css];
        }""",
    )
    assert seen.page_errors == [] and seen.dialogs == []
    href, status, body, css_rules = seen.evaluated
    assert href == f"{s3_server}/{bucket}/reports/ctr_ranker/2026-10-31/data_drift.html"
    assert status == 200 and "drift report of the 31st" in body
    assert css_rules > 20, "the site stylesheet loads from the bucket"
    seen = visit(
        f"{s3_server}/{bucket}/reports/ctr_ranker/2026-10-30/validation.html",
        evaluate="""async () => {
            const next = document.querySelector('nav.site a[rel=next]');
            const r = await fetch(next.href);
            return [next.textContent, r.status, document.title];
        }""",
    )
    text, status, title = seen.evaluated
    assert text == "next day 2026-10-31 →" and status == 200
    assert title == "Validation · ctr_ranker · 2026-10-30"


@pytest.mark.slow
def test_serve_reports_serves_the_folder_on_localhost(tmp_path):
    config_path = write_config(tmp_path, small_config_dict(tmp_path))
    reports = tmp_path / "reports"
    (reports / "ctr_ranker" / "2026-10-31").mkdir(parents=True)
    publish_site_page(LocalObjectStore(reports), "index.html", render())
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
        seen = visit(base)
        assert seen.page_errors == [] and "ctr_ranker" in seen.text
    finally:
        proc.terminate()
        proc.wait(timeout=30)
