"""The warehouse's source tables: delete-then-insert per model-day on DuckDB and PostgreSQL."""

import datetime as dt
import subprocess
import sys

import pyarrow as pa
import pytest

from monitoring_platform.config import parse_config
from monitoring_platform.lib.warehouse import (
    DuckDBWarehouse,
    PostgresWarehouse,
    WarehouseError,
    event_rows,
    inference_rows,
    label_rows,
)

CONFIG = """
models:
  - name: shop
    task: binary_classification
    features: [{name: price, type: numerical}]
    events: {click_event: tap, conversion_event: order}
  - name: eta
    task: regression
    features: [{name: km, type: numerical}]
"""
DAY = dt.date(2026, 11, 3)
UTC = dt.UTC


def calls(n: int, version: str = "v1") -> pa.Table:
    return pa.table(
        {
            "request_id": [f"{version}-{i}" for i in range(n)],
            "timestamp": pa.array(
                [dt.datetime(2026, 11, 3, 10, i % 60, tzinfo=UTC) for i in range(n)],
                pa.timestamp("us", tz="UTC"),
            ),
            "model_version": pa.DictionaryArray.from_arrays(pa.array([0] * n), pa.array([version])),
            "prediction": [0.5] * n,
            "latency_ms": [10.0 + i for i in range(n)],
            "status_code": pa.array([200] * n, pa.int32()),
            "error": pa.nulls(n, pa.string()),
            "price": [1.0] * n,
            "object_key": ["k"] * n,
            "line_no": list(range(n)),
        }
    )


def events(n: int) -> pa.Table:
    return pa.table(
        {
            "request_id": [f"v1-{i}" for i in range(n)],
            "event_type": ["tap", "order", "view"][:n] + ["tap"] * max(0, n - 3),
            "value": [1.0] * n,
            "timestamp": pa.array(
                [dt.datetime(2026, 11, 3, 11, tzinfo=UTC)] * n, pa.timestamp("us", tz="UTC")
            ),
        }
    )


@pytest.fixture(params=["duckdb", "postgres"])
def warehouse(request, tmp_path):
    if request.param == "duckdb":
        return DuckDBWarehouse(tmp_path / "w.duckdb")
    return PostgresWarehouse(request.getfixturevalue("postgres_url"))


def test_rows_for_the_source_tables():
    shop = parse_config(CONFIG).model("shop")
    rows = inference_rows(shop, DAY, calls(3)).to_pylist()
    assert rows[0]["model_name"] == "shop" and rows[0]["dt"] == DAY
    assert rows[0]["model_version"] == "v1" and rows[0]["prediction_score"] == 0.5
    assert rows[0]["predicted_class"] is None and rows[2]["latency_ms"] == 12.0
    kinds = [r["event_kind"] for r in event_rows(shop, DAY, events(3)).to_pylist()]
    assert kinds == ["click", "conversion", "other"]
    labels = pa.table(
        {
            "request_id": ["a", "b"],
            "label": [1, 0],
            "labeled_at": pa.array(
                [dt.datetime(2026, 11, 3, tzinfo=UTC)] * 2, pa.timestamp("us", tz="UTC")
            ),
        }
    )
    got = label_rows(shop, DAY, labels).to_pylist()
    assert [(r["label"], r["label_value"]) for r in got] == [("1", 1.0), ("0", 0.0)]


def test_reloading_a_model_day_replaces_only_that_model_day(warehouse):
    config = parse_config(CONFIG)
    shop, eta = config.model("shop"), config.model("eta")
    next_day = DAY + dt.timedelta(days=1)
    warehouse.replace_partitions(
        "shop", DAY, {"inference_logs": inference_rows(shop, DAY, calls(5))}
    )
    warehouse.replace_partitions(
        "shop", next_day, {"inference_logs": inference_rows(shop, next_day, calls(4))}
    )
    warehouse.replace_partitions("eta", DAY, {"inference_logs": inference_rows(eta, DAY, calls(3))})
    assert warehouse.count("inference_logs", "shop", DAY) == 5

    loaded = warehouse.replace_partitions(
        "shop",
        DAY,
        {
            "inference_logs": inference_rows(shop, DAY, calls(2, "v2")),
            "business_events": event_rows(shop, DAY, events(2)),
            "labels": None,
        },
    )
    assert loaded == {"inference_logs": 2, "business_events": 2, "labels": 0}
    assert warehouse.count("inference_logs", "shop", DAY) == 2
    assert warehouse.count("inference_logs", "shop", next_day) == 4
    assert warehouse.count("inference_logs", "eta", DAY) == 3
    assert warehouse.count("business_events", "shop", DAY) == 2
    # Loading the same again does not duplicate.
    warehouse.replace_partitions("shop", DAY, {"business_events": event_rows(shop, DAY, events(2))})
    assert warehouse.count("business_events", "shop", DAY) == 2


def test_marts_read_as_empty_before_dbt_ran(warehouse):
    warehouse.ensure_tables()
    assert warehouse.mart_rows("fct_model_daily_system_metrics", "shop", DAY, DAY) == []


def test_identifiers_are_checked():
    with pytest.raises(WarehouseError, match="not an SQL identifier"):
        DuckDBWarehouse("w.duckdb", raw_schema="raw; drop table x")
    with pytest.raises(WarehouseError, match="unknown source table"):
        DuckDBWarehouse("w.duckdb").count("users", "shop", DAY)


def test_a_duckdb_writer_waits_for_another_process_to_let_go(tmp_path):
    path = tmp_path / "w.duckdb"
    shop = parse_config(CONFIG).model("shop")
    DuckDBWarehouse(path).ensure_tables()
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import duckdb, sys; c = duckdb.connect(sys.argv[1]); print('ready', flush=True); "
            "sys.stdin.read(); c.close()",
            str(path),
        ],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout.readline().strip() == "ready"
        impatient = DuckDBWarehouse(path, lock_wait_seconds=0.5)
        with pytest.raises(WarehouseError, match="cannot open the warehouse"):
            impatient.count("inference_logs", "shop", DAY)
        patient = DuckDBWarehouse(path, lock_wait_seconds=120)
        holder.stdin.close()
        patient.replace_partitions(
            "shop", DAY, {"inference_logs": inference_rows(shop, DAY, calls(3))}
        )
        assert patient.count("inference_logs", "shop", DAY) == 3
    finally:
        holder.kill() if holder.poll() is None else None
        holder.wait()


def test_warehouse_configuration_is_validated():
    from monitoring_platform.config import ConfigError

    base = CONFIG.replace("models:", "warehouse: {type: postgres}\nmodels:", 1)
    with pytest.raises(ConfigError, match="warehouse: a postgres warehouse needs `url_env`"):
        parse_config(base)
    with pytest.raises(ConfigError, match="warehouse.raw_schema"):
        parse_config(CONFIG.replace("models:", "warehouse: {raw_schema: 'a b'}\nmodels:", 1))
    config = parse_config(
        CONFIG.replace("models:", "warehouse: {type: postgres, url_env: WH_URL}\nmodels:", 1)
    )
    assert config.warehouse.url_env == "WH_URL"
    assert config.model("shop").thresholds.kpi_drop.click_through_rate == 0.3


DBT_LOCK_OUTPUT = """\
04:12:01  Running with dbt=1.10.13
04:12:02  Encountered an error:
Traceback (most recent call last):
  File "/venv/lib/python3.11/site-packages/dbt/adapters/duckdb/environments/__init__.py", line 164
    conn = duckdb.connect(creds.path, read_only=False, config=config)
_duckdb.IOException: IO Error: Could not set lock on file "/var/warehouse.duckdb": Conflicting \
lock is held in /usr/bin/python3.11 (PID 26048).
"""
DBT_TEST_OUTPUT = """\
04:12:01  1 of 3 START test not_null_fct_model_daily_system_metrics_requests ...... [RUN]
04:12:01  1 of 3 FAIL 2 not_null_fct_model_daily_system_metrics_requests ...... [FAIL 2 in 0.03s]
04:12:02  Completed with 1 error, 0 partial successes, and 0 warnings:
04:12:02
04:12:02  Failure in test not_null_fct_model_daily_system_metrics_requests (models/marts/_marts.yml)
04:12:02    Got 2 results, configured to fail if != 0
04:12:02
04:12:02  Done. PASS=2 WARN=0 ERROR=1 SKIP=0 NO-OP=0 TOTAL=3
"""


def test_the_cause_of_a_dbt_failure_is_one_line():
    from monitoring_platform.lib.dbt import dbt_failure_cause

    assert dbt_failure_cause(DBT_LOCK_OUTPUT.splitlines()) == (
        'IOException: IO Error: Could not set lock on file "/var/warehouse.duckdb": Conflicting '
        "lock is held in /usr/bin/python3.11 (PID 26048)."
    )
    assert dbt_failure_cause(DBT_TEST_OUTPUT.splitlines()) == (
        "Failure in test not_null_fct_model_daily_system_metrics_requests "
        "(models/marts/_marts.yml): Got 2 results, configured to fail if != 0"
    )
    assert dbt_failure_cause([]) == "dbt printed nothing"


HOLD = """
import sys, time
from monitoring_platform.lib.warehouse import DuckDBWarehouse
kind, path, seconds = sys.argv[1], sys.argv[2], float(sys.argv[3])
if kind == "platform":
    with DuckDBWarehouse(path).exclusive():
        print("held", flush=True)
        time.sleep(seconds)
else:  # a process outside the platform with the DuckDB file open
    import duckdb
    con = duckdb.connect(path)
    print("held", flush=True)
    time.sleep(seconds)
    con.close()
"""


@pytest.mark.parametrize("holder", ["platform", "outside"])
def test_warehouse_writers_wait_for_a_held_warehouse(tmp_path, holder):
    import time

    path = tmp_path / "warehouse.duckdb"
    held = subprocess.Popen(
        [sys.executable, "-c", HOLD, holder, str(path), "2"], stdout=subprocess.PIPE, text=True
    )
    try:
        assert held.stdout.readline().strip() == "held"
        impatient = DuckDBWarehouse(path, lock_wait_seconds=0.3)
        with pytest.raises(WarehouseError, match="warehouse.duckdb"):
            impatient.wait_until_openable()
        began = time.monotonic()
        warehouse = DuckDBWarehouse(path)
        with warehouse.exclusive():
            warehouse.wait_until_openable()
            waited = time.monotonic() - began
        assert 0.5 < waited < 30
    finally:
        held.wait(timeout=30)
