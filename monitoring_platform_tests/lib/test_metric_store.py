"""The metric store replaces a partition's results on SQLite and on PostgreSQL alike."""

import datetime as dt
import json

import pytest

from monitoring_platform.lib.metric_store import Metric, MetricStore

DAY = dt.date(2026, 11, 20)


@pytest.fixture(params=["sqlite", "postgresql"])
def store(request, tmp_path):
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'metrics.db'}"
    else:
        url = request.getfixturevalue("postgres_url")
    store = MetricStore(url)
    yield store
    store.dispose()


def test_rewriting_a_partition_replaces_its_metrics(store):
    first = [Metric("rows_in", 10), Metric("drift_score", 0.2, dims={"column": "price"})]
    store.replace_metrics("m", DAY, "inference_logs", first, run_id="run-1")
    store.replace_metrics("m", DAY + dt.timedelta(days=1), "inference_logs", first)
    second = [Metric("rows_in", 12)]
    store.replace_metrics("m", DAY, "inference_logs", second, run_id="run-2")

    rows = store.metrics(model="m", partition_date=DAY)
    assert [(r["metric"], r["value"], r["run_id"]) for r in rows] == [("rows_in", 12.0, "run-2")]
    assert len(store.metrics(model="m")) == 3


def test_hostile_values_are_stored_verbatim(store):
    reason = "'; DROP TABLE metric_values; -- <script>alert(1)</script>"
    store.replace_metrics("m", DAY, "a", [Metric("by_reason", 1, dims={"reason": reason})])
    (row,) = store.metrics(model="m")
    assert json.loads(row["dims"]) == {"reason": reason}


def test_non_finite_values_become_null(store):
    store.replace_metrics("m", DAY, "a", [Metric("x", float("nan")), Metric("y", float("inf"))])
    assert [r["value"] for r in store.metrics(model="m")] == [None, None]


def test_check_results_are_replaced_per_partition_and_check(store):
    store.record_check("m", DAY, "a", "c", False, "ERROR", {"share": 0.2})
    store.record_check("m", DAY, "a", "c", True, "ERROR", {"share": 0.01})
    store.record_check("m", DAY, "a", "other", True, "WARN", {})
    rows = store.checks(model="m", partition_date=DAY)
    assert [(r["check_name"], r["passed"]) for r in rows] == [("c", True), ("other", True)]
    assert json.loads(rows[0]["observed"]) == {"share": 0.01}
