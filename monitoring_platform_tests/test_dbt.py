"""The dbt project on generated traffic: marts equal a pandas computation, on DuckDB and PostgreSQL."""

import datetime as dt
import os
import subprocess

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest

from monitoring_platform.config import load_config
from monitoring_platform.defs.metrics.resources import (
    DBT_PROJECT_DIR,
    WarehouseResource,
    dbt_executable,
)
from monitoring_platform.lib import events as events_lib
from monitoring_platform.lib import lake
from monitoring_platform.lib.ingest import ingest_partition
from monitoring_platform.lib.storage import LocalObjectStore
from monitoring_platform.lib.warehouse import (
    BUSINESS_MART,
    SYSTEM_MART,
    Warehouse,
    inference_rows,
    load_model_day,
)
from monitoring_platform.simulation import generate_traffic
from monitoring_platform_tests.conftest import small_config_dict, write_config

START = dt.date(2026, 11, 2)
END = dt.date(2026, 11, 4)
DAYS = [START + dt.timedelta(days=n) for n in range((END - START).days + 1)]
KEY = ["model_name", "metric_date", "model_version"]


@pytest.fixture(scope="module")
def lake_days(tmp_path_factory):
    """Three days of both models, ingested into the lake (calls and events)."""
    tmp = tmp_path_factory.mktemp("dbt")
    config = load_config(write_config(tmp, small_config_dict(tmp, requests_per_day=900)))
    generate_traffic(config, START, END, seed=5)
    lake_store = LocalObjectStore(tmp / "lake")
    for model in config.models:
        for day in DAYS:
            work = tmp / "work" / model.name / day.isoformat()
            logs = ingest_partition(
                LocalObjectStore(config.logs_root(model)), model, day.isoformat(), work / "logs"
            )
            lake.write_partition(
                lake_store, lake.ACCEPTED, model.name, day.isoformat(), logs.accepted_path
            )
            events = events_lib.ingest_events(
                LocalObjectStore(config.events_root(model)), model, day.isoformat(), work / "ev"
            )
            lake.write_partition(
                lake_store, events_lib.ACCEPTED, model.name, day.isoformat(), events.accepted_path
            )
    return config, lake_store, tmp


def run_dbt(
    resource: WarehouseResource, tmp, *args: str, check: bool = True, project_dir=DBT_PROJECT_DIR
) -> str:
    target = tmp / f"dbt-target-{len(list(tmp.glob('dbt-target-*')))}"
    env = {**os.environ, **resource.dbt_environment(), "DBT_SEND_ANONYMOUS_USAGE_STATS": "false"}
    done = subprocess.run(
        [
            dbt_executable(),
            "build",
            "--project-dir",
            str(project_dir),
            "--profiles-dir",
            str(project_dir),
            "--target",
            resource.kind,
            "--target-path",
            str(target),
            "--log-path",
            str(target),
            *args,
        ],
        cwd=project_dir,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0 or not check, done.stdout[-4000:]
    return done.stdout


def lake_frames(config, lake_store, days=DAYS, mutate=None):
    """Accepted calls and events of every model, as pandas, read straight from the lake."""
    calls, events = [], []
    for model in config.models:
        for day in days:
            c = pq.read_table(
                lake_store.local_path(lake.partition_key(lake.ACCEPTED, model.name, day))
            ).to_pandas()
            c["model_name"], c["metric_date"] = model.name, day
            if mutate is not None:
                c = mutate(model.name, day, c)
            calls.append(c)
            e = pq.read_table(
                lake_store.local_path(lake.partition_key(events_lib.ACCEPTED, model.name, day))
            ).to_pandas()
            e["model_name"] = model.name
            e["kind"] = [events_lib.event_kind(model, t) for t in e["event_type"]]
            events.append(e)
    return pd.concat(calls, ignore_index=True), pd.concat(events, ignore_index=True)


def expected_system(calls: pd.DataFrame) -> pd.DataFrame:
    rows = []
    for (model, day, version), g in calls.groupby(["model_name", "metric_date", "model_version"]):
        served = g.loc[g.status_code != 429, "latency_ms"].to_numpy()
        minute = pd.to_datetime(g["timestamp"], utc=True).dt.floor("min")
        rows.append(
            {
                "model_name": model,
                "metric_date": day,
                "model_version": version,
                "requests": len(g),
                "peak_requests_per_minute": int(minute.value_counts().max()),
                "latency_p50_ms": np.quantile(served, 0.5),
                "latency_p95_ms": np.quantile(served, 0.95),
                "latency_p99_ms": np.quantile(served, 0.99),
                "server_errors": int(g.status_code.between(500, 599).sum()),
                "throttled_requests": int((g.status_code == 429).sum()),
                "error_rate": g.status_code.between(500, 599).mean(),
                "throttle_rate": (g.status_code == 429).mean(),
            }
        )
    return pd.DataFrame(rows).sort_values(KEY, ignore_index=True)


def expected_business(calls: pd.DataFrame, events: pd.DataFrame) -> pd.DataFrame:
    per_request = events.groupby(["model_name", "request_id"]).apply(
        lambda e: pd.Series(
            {
                "clicked": int((e.kind == "click").any()),
                "converted": int((e.kind == "conversion").any()),
                "revenue": e.loc[e.kind == "conversion", "value"].fillna(0).sum(),
            }
        ),
        include_groups=False,
    )
    joined = calls.merge(per_request.reset_index(), on=["model_name", "request_id"], how="left")
    joined[["clicked", "converted", "revenue"]] = joined[
        ["clicked", "converted", "revenue"]
    ].fillna(0)
    rows = []
    for (model, day, version), g in joined.groupby(["model_name", "metric_date", "model_version"]):
        s = g[g.status_code.between(200, 299)]
        n = len(s)
        rows.append(
            {
                "model_name": model,
                "metric_date": day,
                "model_version": version,
                "predictions": n,
                "clicks": int(s.clicked.sum()),
                "conversions": int(s.converted.sum()),
                "revenue": float(s.revenue.sum()),
                "click_through_rate": s.clicked.sum() / n if n else np.nan,
                "conversion_rate": s.converted.sum() / n if n else np.nan,
                "revenue_per_1k_predictions": 1000 * s.revenue.sum() / n if n else np.nan,
            }
        )
    return pd.DataFrame(rows).sort_values(KEY, ignore_index=True)


def mart_frame(warehouse: Warehouse, mart: str, config) -> pd.DataFrame:
    rows = []
    for model in config.models:
        rows += warehouse.mart_rows(mart, model.name, START, END)
    frame = pd.DataFrame(rows)
    frame["metric_date"] = [dt.date.fromisoformat(str(d)[:10]) for d in frame["metric_date"]]
    return frame.sort_values(KEY, ignore_index=True)


def assert_frames_equal(actual: pd.DataFrame, expected: pd.DataFrame) -> None:
    assert len(actual) == len(expected) > 0
    for column in expected.columns:
        got, want = actual[column].tolist(), expected[column].tolist()
        if column in KEY:
            assert got == want, column
        else:
            np.testing.assert_allclose(
                np.asarray(got, float), np.asarray(want, float), rtol=1e-9, err_msg=column
            )


def load_all(warehouse: Warehouse, config, lake_store) -> None:
    for model in config.models:
        for day in DAYS:
            load_model_day(warehouse, lake_store, model, day)


@pytest.mark.slow
def test_duckdb_marts_equal_pandas_and_rerunning_a_day_replaces_it(lake_days):
    config, lake_store, tmp = lake_days
    resource = WarehouseResource(kind="duckdb", path=str(tmp / "warehouse.duckdb"))
    warehouse = resource.get()
    load_all(warehouse, config, lake_store)
    out = run_dbt(resource, tmp)
    assert "ERROR=0" in out and "PASS=" in out

    calls, events = lake_frames(config, lake_store)
    assert_frames_equal(mart_frame(warehouse, SYSTEM_MART, config), expected_system(calls))
    assert_frames_equal(
        mart_frame(warehouse, BUSINESS_MART, config), expected_business(calls, events)
    )
    # Both versions of the rollout are present, with clicks for the click model.
    business = mart_frame(warehouse, BUSINESS_MART, config)
    assert business[business.model_name == "ctr_ranker"].clicks.sum() > 0
    assert business.model_version.nunique() >= 3

    # Re-load one model-day with fewer calls (the first half of the day), then re-run dbt for
    # that day and model only: the day is replaced, other days and models stay as they were.
    day, model = DAYS[1], config.model("ctr_ranker")
    accepted = lake.read_partition(lake_store, lake.ACCEPTED, model.name, day)
    half = accepted.slice(0, accepted.num_rows // 2)
    warehouse.replace_partitions(
        model.name, day, {"inference_logs": inference_rows(model, day, half)}
    )
    run_dbt(
        resource,
        tmp,
        "--vars",
        f'{{start_date: "{day}", end_date: "{day + dt.timedelta(days=1)}", models: [{model.name}]}}',
    )

    def halve(name, d, frame):
        return frame.iloc[: len(frame) // 2] if (name, d) == (model.name, day) else frame

    calls, events = lake_frames(config, lake_store, mutate=halve)
    assert_frames_equal(mart_frame(warehouse, SYSTEM_MART, config), expected_system(calls))
    assert_frames_equal(
        mart_frame(warehouse, BUSINESS_MART, config), expected_business(calls, events)
    )


def window_vars(day: dt.date, model: str) -> str:
    return f'{{start_date: "{day}", end_date: "{day + dt.timedelta(days=1)}", models: [{model}]}}'


@pytest.mark.slow
def test_tests_judge_the_run_window_and_the_marts_contract_rejects_bad_rows(lake_days, tmp_path):
    import duckdb

    config, lake_store, _tmp = lake_days
    resource = WarehouseResource(kind="duckdb", path=str(tmp_path / "warehouse.duckdb"))
    load_all(resource.get(), config, lake_store)
    assert "ERROR=0" in run_dbt(resource, tmp_path)
    # A refund on a successful call of the first day: that day's revenue turns negative.
    with duckdb.connect(resource.path) as conn:
        conn.execute(
            "insert into monitoring_raw.business_events "
            "with refunded as (select e.* from monitoring_raw.business_events e "
            "join monitoring_raw.inference_logs c using (model_name, request_id) "
            "where c.dt = ? and c.status_code between 200 and 299 limit 1) "
            "select * replace ('conversion' as event_kind, -1e9 as value) from refunded",
            [DAYS[0]],
        )
    test = "accepted_range_fct_model_daily_business_metrics_revenue__0"
    # The later day's run judges the later day: its tests pass.
    later = run_dbt(resource, tmp_path, "--vars", window_vars(DAYS[1], "ctr_ranker"))
    assert "ERROR=0" in later and f"Failure in test {test}" not in later
    # The first day's run judges the first day: the test fails there.
    first = run_dbt(resource, tmp_path, "--vars", window_vars(DAYS[0], "ctr_ranker"), check=False)
    assert f"Failure in test {test}" in first
    # The marts' enforced contract refuses a null and a bound their arithmetic guarantees.
    insert = (
        "insert into analytics.fct_model_daily_system_metrics (model_name, metric_date, "
        "model_version, requests, peak_requests_per_minute, server_errors, throttled_requests, "
        "error_rate, throttle_rate) values ('m', date '2026-11-02', 'v', {}, {}, 0, 0, {}, 0)"
    )
    with duckdb.connect(resource.path) as conn:
        conn.execute(insert.format(5, 2, 0.2))  # a good row goes in
        # A null count, no request, a share outside [0, 1], a busiest minute above the day.
        for bad in (("null", 1, 0), (0, 1, 0), (1, 1, 1.5), (1, 1, -0.1), (1, 2, 0)):
            with pytest.raises(duckdb.ConstraintException):
                conn.execute(insert.format(*bad))


@pytest.mark.slow
def test_postgres_marts_equal_pandas(lake_days, postgres_url, monkeypatch):
    config, lake_store, tmp = lake_days
    monkeypatch.setenv("MONITORING_TEST_WAREHOUSE_URL", postgres_url)
    resource = WarehouseResource(kind="postgres", url_env="MONITORING_TEST_WAREHOUSE_URL")
    warehouse = resource.get()
    load_all(warehouse, config, lake_store)
    out = run_dbt(resource, tmp)
    assert "ERROR=0" in out and "PASS=" in out

    calls, events = lake_frames(config, lake_store)
    assert_frames_equal(mart_frame(warehouse, SYSTEM_MART, config), expected_system(calls))
    assert_frames_equal(
        mart_frame(warehouse, BUSINESS_MART, config), expected_business(calls, events)
    )


@pytest.mark.slow
def test_manifest_is_parsed_offline_when_missing_or_stale(tmp_path):
    import json
    import shutil

    from monitoring_platform.defs.metrics.resources import ensure_manifest

    project = tmp_path / "dbt_project"
    shutil.copytree(DBT_PROJECT_DIR, project, ignore=shutil.ignore_patterns("target", "logs"))
    manifest = ensure_manifest(project)
    nodes = json.loads(manifest.read_text())["nodes"]
    assert "model.monitoring_platform.fct_model_daily_system_metrics" in nodes
    assert nodes["model.monitoring_platform.fct_model_daily_business_metrics"]["contract"][
        "enforced"
    ]
    first = manifest.stat().st_mtime_ns
    assert ensure_manifest(project).stat().st_mtime_ns == first  # fresh: not parsed again

    model = project / "models" / "marts" / "fct_model_daily_system_metrics.sql"
    later = manifest.stat().st_mtime + 10
    os.utime(model, (later, later))
    assert ensure_manifest(project).stat().st_mtime_ns != first  # stale: parsed again


@pytest.mark.slow
@pytest.mark.parametrize("kind", ["duckdb", "postgres"])
def test_a_view_is_replaced_only_when_its_sql_changed(tmp_path, kind, request, monkeypatch):
    """``stable_view``: dbt's view, created again only for new SQL or a full refresh."""
    import shutil

    import duckdb
    from sqlalchemy import create_engine, text

    if kind == "postgres":
        url = request.getfixturevalue("postgres_url")
        monkeypatch.setenv("MONITORING_TEST_VIEW_URL", url)
        resource = WarehouseResource(kind="postgres", url_env="MONITORING_TEST_VIEW_URL")
    else:
        resource = WarehouseResource(kind="duckdb", path=str(tmp_path / "warehouse.duckdb"))
    resource.get().ensure_tables()
    project = tmp_path / "project"
    shutil.copytree(DBT_PROJECT_DIR, project, ignore=shutil.ignore_patterns("target", "logs"))
    query = (
        "select {} from information_schema.views "
        "where table_schema = 'analytics' and table_name = 'stg_labels'"
    )

    def view_columns() -> str:
        if kind == "duckdb":
            with duckdb.connect(resource.path, read_only=True) as conn:
                return conn.execute(query.format("view_definition")).fetchone()[0]
        engine = create_engine(url)
        try:
            with engine.connect() as conn:
                return conn.execute(text(query.format("view_definition"))).scalar_one()
        finally:
            engine.dispose()

    def build(*args: str) -> int:
        """Build the view; how many views the build created."""
        before = set(tmp_path.glob("dbt-target-*"))
        run_dbt(resource, tmp_path, "--select", "stg_labels", *args, project_dir=project)
        (target,) = set(tmp_path.glob("dbt-target-*")) - before
        return (target / "dbt.log").read_text().count('create view "')

    assert build() == 1  # new: created
    assert "label_value" in view_columns()
    assert build() == 0  # the same SQL: left as it is, and still there
    assert "label_value" in view_columns()
    model = project / "models" / "staging" / "stg_labels.sql"
    model.write_text(model.read_text().replace("    label_value,\n", ""))
    assert build() == 1  # changed SQL: created again
    assert "label_value" not in view_columns()
    assert build() == 0
    assert build("--full-refresh") == 1
