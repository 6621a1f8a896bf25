"""Every asset key of the platform, in one place.

A monitored model's assets are prefixed by its name; the dbt models shared by every model live
under ``warehouse/``; the site-wide assets (the index, the digest) have their own keys.
"""

from __future__ import annotations

from dagster import AssetKey

WAREHOUSE_PREFIX = "warehouse"

LOG_OBJECTS = "log_objects"
INFERENCE_LOGS = "inference_logs"
REFERENCE_WINDOW = "reference_window"
DATA_DRIFT_REPORT = "data_drift_report"
LABELS = "labels"
MODEL_PERFORMANCE_REPORT = "model_performance_report"
ESTIMATED_PERFORMANCE = "estimated_performance"
BUSINESS_EVENTS = "business_events"
WAREHOUSE_TABLES = "warehouse_tables"
BUSINESS_METRICS_REPORT = "business_metrics_report"

REPORTS_INDEX_KEY = AssetKey(["reports_index"])
WEEKLY_DIGEST_KEY = AssetKey(["digest", "weekly_digest"])


def model_asset_key(model: str, asset: str) -> AssetKey:
    """The key of one of a model's assets: ``<model>/<asset>``."""
    return AssetKey([model, asset])


def dbt_model_key(name: str) -> AssetKey:
    """The key of a dbt model shared by every monitored model: ``warehouse/<name>``."""
    return AssetKey([WAREHOUSE_PREFIX, name])
