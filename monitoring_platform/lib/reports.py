"""Where reports live in the reports storage: ``<model>/<YYYY-MM-DD>/<name>.html``."""

from __future__ import annotations

import datetime as dt

from monitoring_platform.lib.storage import join_key

VALIDATION = "validation"
DATA_DRIFT = "data_drift"
MODEL_PERFORMANCE = "model_performance"
BUSINESS_METRICS = "business_metrics"
REPORT_NAMES = (VALIDATION, DATA_DRIFT, MODEL_PERFORMANCE, BUSINESS_METRICS)
HTML_CONTENT_TYPE = "text/html; charset=utf-8"


def report_key(model: str, date: str | dt.date, name: str) -> str:
    return join_key(model, str(date), f"{name}.html")
