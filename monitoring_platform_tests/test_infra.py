"""infra/: compose, Dockerfile, Helm values, Grafana, and the instance config on PostgreSQL."""

import datetime as dt
import importlib
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time

import pytest
import sqlalchemy as sa
import yaml

from monitoring_platform.config import load_config
from monitoring_platform.lib.metric_store import Metric, MetricStore
from monitoring_platform.lib.redaction import env_names
from monitoring_platform_tests.conftest import END_TO_END, REPO, small_config_dict, write_config

INFRA = REPO / "infra"


def _yaml(path):
    return yaml.safe_load((INFRA / path).read_text())


def test_compose_stack_has_every_service_and_its_files():
    compose = _yaml("docker-compose.yml")
    services = compose["services"]
    assert {"postgres", "minio", "user_code", "webserver", "daemon", "grafana"} <= set(services)
    build = services["user_code"]["build"]
    assert (INFRA / build["context"] / build["dockerfile"]).resolve() == INFRA / "Dockerfile"
    assert services["webserver"]["command"][0] == "dagster-webserver"
    assert services["daemon"]["command"][:2] == ["dagster-daemon", "run"]
    for name, service in services.items():
        for volume in service.get("volumes", []):
            source = volume.split(":")[0]
            if source.startswith("./"):
                assert (INFRA / source).exists(), (name, source)
        for dep in service.get("depends_on", {}):
            assert dep in services, (name, dep)
    env = compose["x-dagster-env"]
    assert {"DAGSTER_PG_HOST", "DAGSTER_PG_PASSWORD", "DAGSTER_PG_DB"} <= set(env)
    # Secrets come from the environment: every password is a ${...} reference.
    text = (INFRA / "docker-compose.yml").read_text()
    for line in text.splitlines():
        if re.search(r"PASSWORD\s*:", line):
            assert "${" in line, line
    workspace = _yaml("workspace.yaml")
    grpc = workspace["load_from"][0]["grpc_server"]
    assert grpc["host"] == "user_code" and grpc["location_name"] == "monitoring_platform"


def test_compose_monitoring_config_loads_and_compose_sets_every_variable_it_names():
    config = load_config(INFRA / "monitoring.compose.yaml")
    compose_env = _yaml("docker-compose.yml")["x-dagster-env"]
    assert set(env_names(config)) <= set(compose_env)
    assert compose_env["MONITORING_CONFIG"].endswith("/monitoring.yaml")
    demo = load_config(REPO / "monitoring.yaml")
    assert [m.name for m in config.models] == [m.name for m in demo.models], "the demo's models"


def test_dockerfile_copies_what_exists_and_serves_the_code_location():
    text = (INFRA / "Dockerfile").read_text()
    for line in text.splitlines():
        if line.startswith("COPY "):
            for source in line.split()[1:-1]:
                assert (REPO / source).exists(), source
    cmd = json.loads(re.search(r"^CMD (.*)$", text, re.M).group(1))
    assert cmd[:3] == ["dagster", "code-server", "start"]
    assert cmd[cmd.index("-m") + 1] == "monitoring_platform.definitions"


def test_helm_values_give_dagster_a_valid_queue_that_runs_one_day_per_model_at_a_time(tmp_path):
    from dagster._config import process_config
    from dagster._core.run_coordinator import QueuedRunCoordinator

    from monitoring_platform.definitions import build_definitions

    values = _yaml("helm/values.yaml")
    (deployment,) = values["dagster-user-deployments"]["deployments"]
    args = deployment["dagsterApiGrpcArgs"]
    module = importlib.import_module(args[args.index("--module-name") + 1])
    assert hasattr(module, "defs"), "the code server's module holds the definitions"
    coordinator = values["dagsterDaemon"]["runCoordinator"]
    queue = coordinator["config"]["queuedRunCoordinator"]
    config = {re.sub(r"(?<!^)(?=[A-Z])", "_", k).lower(): v for k, v in queue.items()}
    processed = process_config(QueuedRunCoordinator.config_type(), config)
    assert processed.success, processed.errors
    per_value = {
        item["key"]
        for item in queue["tagConcurrencyLimits"]
        if item["limit"] == 1 and item.get("value") == {"applyLimitPerUniqueValue": True}
    }
    defs = build_definitions(load_config(write_config(tmp_path, small_config_dict(tmp_path))))
    tagged = 0
    for job in defs.resolve_all_job_defs():
        model_tags = {k for k, v in job.tags.items() if v in {"ctr_ranker", "eta_regressor"}}
        if model_tags:
            tagged += 1
            assert model_tags & per_value, job.name
    assert tagged == 2, "one job per model, tagged with its model"


def _grafana_sql(sql, model, metrics):
    """The SQL Grafana sends: variables interpolated, the time-filter macro expanded."""
    sql = re.sub(
        r"\$__timeFilter\((\w+)\)",
        r"\1 BETWEEN '2026-01-01T00:00:00Z' AND '2026-12-31T23:59:59Z'",
        sql,
    )
    sql = sql.replace("$model", model)
    return sql.replace("$metric", ", ".join(f"'{m}'" for m in metrics))


def test_every_grafana_query_runs_on_the_metric_store(postgres_url):
    datasource = _yaml("grafana/provisioning/datasources/metric_store.yaml")["datasources"][0]
    assert datasource["type"] == "grafana-postgresql-datasource"
    assert datasource["secureJsonData"]["password"].startswith("${")
    provider = _yaml("grafana/provisioning/dashboards/monitoring.yaml")["providers"][0]
    assert provider["options"]["path"] == "/var/lib/grafana/dashboards"
    dashboard = json.loads((INFRA / "grafana/dashboards/model_monitoring.json").read_text())

    store = MetricStore(postgres_url)
    for offset in range(3):
        day = dt.date(2026, 11, 1) + dt.timedelta(days=offset)
        store.replace_metrics(
            "ctr_ranker",
            day,
            "inference_logs",
            [
                Metric("rows_in", 100 + offset),
                Metric("rows_accepted", 98),
                Metric("rows_quarantined", 2 + offset),
                Metric("quarantine_share", 0.02),
            ],
        )
        store.replace_metrics(
            "ctr_ranker",
            day,
            "data_drift_report",
            [
                Metric("drift_share", 0.1 * offset),
                Metric("drift_score", 0.5, dims={"column": "position"}),
            ],
        )
        store.record_check(
            "ctr_ranker",
            day,
            "data_drift_report",
            "dataset_drift_within_threshold",
            passed=offset == 0,
            severity="WARN",
            observed={"description": f"drift share {0.1 * offset}"},
        )
    engine = sa.create_engine(postgres_url)
    try:
        with engine.connect() as conn:
            variables = {v["name"]: v for v in dashboard["templating"]["list"]}
            models = [
                r[0]
                for r in conn.execute(sa.text(_grafana_sql(variables["model"]["query"], "", [])))
            ]
            assert models == ["ctr_ranker"]
            metrics = [
                r[0]
                for r in conn.execute(
                    sa.text(_grafana_sql(variables["metric"]["query"], "ctr_ranker", []))
                )
            ]
            assert "drift_share" in metrics and "drift_score" not in metrics
            assert dashboard["panels"]
            for panel in dashboard["panels"]:
                for target in panel["targets"]:
                    assert target["datasource"]["uid"] == datasource["uid"]
                    sql = _grafana_sql(target["rawSql"], "ctr_ranker", metrics)
                    result = conn.execute(sa.text(sql))
                    rows = result.fetchall()
                    assert rows, panel["title"]
                    columns = list(result.keys())
                    if target["format"] == "time_series":
                        assert columns[0] == "time" and len(columns) >= 2, panel["title"]
            drift = conn.execute(
                sa.text(
                    _grafana_sql(dashboard["panels"][0]["targets"][0]["rawSql"], "ctr_ranker", [])
                )
            ).fetchall()
            assert [round(r[1], 6) for r in drift] == [0.0, 0.1, 0.2]
    finally:
        engine.dispose()
        store.dispose()


def _pg_env(postgres_url):
    url = sa.engine.make_url(postgres_url)
    return {
        "DAGSTER_PG_HOST": url.host,
        "DAGSTER_PG_PORT": str(url.port),
        "DAGSTER_PG_USERNAME": url.username,
        "DAGSTER_PG_PASSWORD": "",
        "DAGSTER_PG_DB": url.database,
    }


@pytest.fixture
def pg_instance_home(tmp_path, postgres_url, monkeypatch):
    home = tmp_path / "dagster_home"
    home.mkdir()
    shutil.copy(INFRA / "dagster.yaml", home / "dagster.yaml")
    env = _pg_env(postgres_url)
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    monkeypatch.setenv("DAGSTER_HOME", str(home))
    return home, env


def test_instance_config_loads_on_postgresql(pg_instance_home, postgres_url):
    from dagster import DagsterInstance
    from dagster._core.run_coordinator import QueuedRunCoordinator
    from dagster_postgres import (
        PostgresEventLogStorage,
        PostgresRunStorage,
        PostgresScheduleStorage,
    )

    with DagsterInstance.get() as instance:
        assert isinstance(instance.run_storage, PostgresRunStorage)
        assert isinstance(instance.event_log_storage, PostgresEventLogStorage)
        assert isinstance(instance.schedule_storage, PostgresScheduleStorage)
        assert isinstance(instance.run_coordinator, QueuedRunCoordinator)
        concurrency = instance.get_concurrency_config()
        assert concurrency.run_queue_config.max_concurrent_runs == 4
        assert concurrency.pool_config.default_pool_limit == 1  # the warehouse pool
        limits = concurrency.run_queue_config.tag_concurrency_limits
        assert {
            "key": "monitoring_platform/model",
            "value": {"applyLimitPerUniqueValue": True},
            "limit": 1,
        } in limits
    tables = sa.inspect(sa.create_engine(postgres_url)).get_table_names()
    assert {"runs", "event_logs", "job_ticks", "instigators"} <= set(tables)


@END_TO_END
@pytest.mark.slow
def test_run_schedule_tick_and_sensor_tick_are_recorded_in_postgresql(
    pg_instance_home, postgres_url, tmp_path
):
    """A run in process, then the real daemon records a schedule tick and a sensor tick."""
    from dagster import AssetKey, DagsterInstance, materialize

    from monitoring_platform.definitions import build_definitions
    from monitoring_platform.demo import QUIET_RUN_CONFIG

    home, env = pg_instance_home
    raw = small_config_dict(tmp_path, requests_per_day=50)
    raw["schedule"] = {"cron": "* * * * *", "sensor_interval_seconds": 10}
    config_path = write_config(tmp_path, raw)
    config = load_config(config_path)
    defs = build_definitions(config)
    with DagsterInstance.get() as instance:
        result = materialize(
            [*defs.assets, *(defs.asset_checks or [])],
            selection=[AssetKey(["ctr_ranker", "inference_logs"])],
            partition_key="2026-11-20",
            instance=instance,
            resources=dict(defs.resources),
            raise_on_error=False,
            run_config=QUIET_RUN_CONFIG,
        )
    engine = sa.create_engine(postgres_url)
    with engine.connect() as conn:
        runs = conn.execute(sa.text("SELECT run_id FROM runs")).scalars().all()
    assert result.run_id in runs

    workspace = tmp_path / "workspace.yaml"
    shutil.copy(REPO / "workspace.yaml", workspace)
    child_env = {
        **os.environ,
        **env,
        "DAGSTER_HOME": str(home),
        "MONITORING_CONFIG": str(config_path),
    }
    dagster = [sys.executable, "-m", "dagster"]
    for kind, name in (
        ("schedule", "ctr_ranker_daily_schedule"),
        ("sensor", "logs_arrival_sensor"),
    ):
        done = subprocess.run(
            [*dagster, kind, "start", name, "-w", str(workspace)],
            cwd=REPO,
            env=child_env,
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert done.returncode == 0, done.stderr[-2000:]
    daemon = subprocess.Popen(
        [sys.executable, "-m", "dagster._daemon", "run", "-w", str(workspace)],
        cwd=REPO,
        env=child_env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,  # the daemon and the code server it starts: one process group
    )
    try:
        seen: dict[str, str] = {}
        deadline = time.monotonic() + 240
        while time.monotonic() < deadline and len(seen) < 2:
            with engine.connect() as conn:
                for kind, status in conn.execute(sa.text("SELECT type, status FROM job_ticks")):
                    seen.setdefault(kind, status)
            time.sleep(2)
    finally:
        os.killpg(daemon.pid, signal.SIGTERM)
        daemon.wait(timeout=60)
        engine.dispose()
    assert set(seen) == {"SCHEDULE", "SENSOR"}, seen
