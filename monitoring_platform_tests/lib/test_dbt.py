"""dbt inside the process: builds the marts from the loaded rows, reports a failure's cause."""

import datetime as dt
import json
import os

import pyarrow as pa
import pytest

from monitoring_platform.config import parse_config
from monitoring_platform.defs.metrics.resources import DBT_PROJECT_DIR, WarehouseResource
from monitoring_platform.lib import dbt as dbt_lib
from monitoring_platform.lib.warehouse import SYSTEM_MART, inference_rows

CONFIG = """
models:
  - name: shop
    task: binary_classification
    features: [{name: price, type: numerical}]
"""
DAY = dt.date(2026, 11, 3)


def calls(statuses: list[int]) -> pa.Table:
    n = len(statuses)
    return pa.table(
        {
            "request_id": [f"r{i}" for i in range(n)],
            "timestamp": pa.array(
                [dt.datetime(2026, 11, 3, 10, i % 60, tzinfo=dt.UTC) for i in range(n)],
                pa.timestamp("us", tz="UTC"),
            ),
            "model_version": ["v1"] * n,
            "prediction": [0.5] * n,
            "latency_ms": [float(i) for i in range(n)],
            "status_code": pa.array(statuses, pa.int32()),
        }
    )


@pytest.fixture(params=["duckdb", "postgres"])
def warehouse(request, tmp_path, monkeypatch) -> WarehouseResource:
    if request.param == "duckdb":
        return WarehouseResource(kind="duckdb", path=str(tmp_path / "w.duckdb"))
    monkeypatch.setenv("TEST_DBT_WAREHOUSE_URL", request.getfixturevalue("postgres_url"))
    return WarehouseResource(kind="postgres", url_env="TEST_DBT_WAREHOUSE_URL")


def build(resource: WarehouseResource, start: str, end: str) -> dbt_lib.DbtRun:
    window = json.dumps({"start_date": start, "end_date": end, "models": ["shop"]})
    return dbt_lib.invoke(
        DBT_PROJECT_DIR, resource.kind, ["build", "--vars", window], resource.dbt_environment()
    )


def test_builds_the_marts_twice_in_one_process_and_names_a_failures_cause(warehouse):
    resource, warehouse = warehouse, warehouse.get()
    shop = parse_config(CONFIG).model("shop")
    statuses = [200] * 17 + [500] * 3
    warehouse.replace_partitions(
        "shop", DAY, {"inference_logs": inference_rows(shop, DAY, calls(statuses))}
    )

    first = build(resource, "2026-11-03", "2026-11-04")
    assert first.success, first.lines[-5:]
    [row] = warehouse.mart_rows(SYSTEM_MART, "shop", DAY, DAY)
    assert row["requests"] == len(statuses) and row["server_errors"] == 3
    tests = [e for e in first.events if e["info"]["name"] == "LogTestResult"]
    assert tests and all(e["data"]["status"] == "pass" for e in tests)
    # Only results (with their node) are kept as events; the run folder is this process's own.
    assert {e["info"]["name"] for e in first.events} <= dbt_lib.RESULT_EVENTS
    assert all("node_info" in e["data"] for e in first.events)
    assert first.target_path is not None and first.target_path.name == f"run-{os.getpid()}"

    warehouse.replace_partitions(
        "shop", DAY, {"inference_logs": inference_rows(shop, DAY, calls([200] * 4))}
    )
    second = build(resource, "2026-11-03", "2026-11-04")
    assert second.success
    [row] = warehouse.mart_rows(SYSTEM_MART, "shop", DAY, DAY)
    assert row["requests"] == 4 and row["server_errors"] == 0

    failed = build(resource, "3 November", "2026-11-04")
    assert not failed.success
    assert "expected an ISO date" in dbt_lib.dbt_failure_cause(failed.lines)
    # A failed run's folder is kept aside; the next run gets the process's folder again.
    assert failed.target_path is not None and failed.target_path.name.startswith("failed-")
    assert failed.target_path.exists()
    assert build(resource, "2026-11-03", "2026-11-04").target_path == first.target_path


def test_a_second_warehouse_in_the_same_process_gets_its_own_parse(tmp_path):
    """DuckDB's catalog is the file's name: a manifest parsed for one file cannot build another."""
    shop = parse_config(CONFIG).model("shop")
    for name in ("first.duckdb", "second.duckdb"):
        resource = WarehouseResource(kind="duckdb", path=str(tmp_path / name))
        resource.get().replace_partitions(
            "shop", DAY, {"inference_logs": inference_rows(shop, DAY, calls([200] * 5))}
        )
        run = build(resource, "2026-11-03", "2026-11-04")
        assert run.success, (name, run.lines[-5:])
        [row] = resource.get().mart_rows(SYSTEM_MART, "shop", DAY, DAY)
        assert row["requests"] == 5


def test_only_the_newest_failed_folders_are_kept(tmp_path):
    """Each failed build's compiled SQL is kept for reading, but not without end."""
    target = tmp_path / "target"
    for n in range(dbt_lib.KEEP_FAILED + 3):
        old = target / f"failed-1-{n}"
        (old / "compiled").mkdir(parents=True)
        os.utime(old, (1_000_000 + n, 1_000_000 + n))
    run = target / f"run-{os.getpid()}"
    (run / "compiled").mkdir(parents=True)
    kept = dbt_lib._keep_failed(run)
    assert kept.exists() and not run.exists()
    left = sorted(p.name for p in target.glob("failed-*"))
    assert len(left) == dbt_lib.KEEP_FAILED and kept.name in left
    # The oldest went first.
    assert {f"failed-1-{n}" for n in range(4)}.isdisjoint(left)
