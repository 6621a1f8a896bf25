"""Rows of the metric store and report keys the reports index's tests render from."""

import datetime as dt
import json

from monitoring_platform.lib.charts import Limit
from monitoring_platform.lib.reports_site.headlines import ModelInfo
from monitoring_platform.lib.reports_site.index import render_index

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
    """The index of MODELS over CHECKS, METRICS and KEYS."""
    return render_index(MODELS, CHECKS, METRICS, KEYS, dt.datetime(2026, 11, 2, 7, tzinfo=dt.UTC))
