"""The schedule and the sensors, evaluated with Dagster's own test contexts."""

import datetime as dt

import pytest
from dagster import (
    AssetKey,
    DagsterInstance,
    build_schedule_context,
    build_sensor_context,
    materialize,
)

from monitoring_platform.config import load_config
from monitoring_platform.definitions import build_definitions
from monitoring_platform.defs.orchestration.jobs import BACKFILL_POLICY, MODEL_TAG, TRIGGER_TAG
from monitoring_platform.defs.resources import build_resources
from monitoring_platform.demo import QUIET_RUN_CONFIG
from monitoring_platform.lib.arrivals import fingerprint
from monitoring_platform.lib.storage import open_store
from monitoring_platform_tests.conftest import small_config_dict, write_config

MODELS = ("ctr_ranker", "eta_regressor")


def _defs(tmp_path, **overrides):
    raw = small_config_dict(tmp_path, requests_per_day=50)
    raw.update(overrides)
    config = load_config(write_config(tmp_path, raw))
    return config, build_definitions(config)


def _model_keys(defs, model):
    """The model's materializable daily assets, and the shared dbt models its runs rebuild."""
    graph = defs.resolve_asset_graph()
    return {
        k
        for k in graph.materializable_asset_keys
        if k.path[0] in (model, "warehouse") and graph.get(k).partitions_def is not None
    }


def test_schedule_requests_yesterday_for_every_model(tmp_path):
    config, defs = _defs(tmp_path)
    when = dt.datetime(2026, 11, 21, 6, 0, tzinfo=dt.UTC)
    for model in MODELS:
        schedule = defs.resolve_schedule_def(f"{model}_daily_schedule")
        assert schedule.cron_schedule == "0 6 * * *" and schedule.execution_timezone == "UTC"
        # The model's own job: the one the demo and a UI backfill run.
        assert schedule.job_name == f"{model}_monitoring_job"
        job_keys = defs.resolve_job_def(schedule.job_name).asset_layer.executable_asset_keys
        assert set(job_keys) == _model_keys(defs, model)
        assert AssetKey(["reports_index"]) not in job_keys
        with DagsterInstance.ephemeral() as instance:
            context = build_schedule_context(
                instance=instance,
                scheduled_execution_time=when,
                repository_def=defs.get_repository_def(),
            )
            data = schedule.evaluate_tick(context)
        (request,) = data.run_requests
        assert request.partition_key == "2026-11-20"
        assert request.run_key == f"{model}:2026-11-20"
        assert request.tags[MODEL_TAG] == model
        assert request.tags[TRIGGER_TAG] == "schedule"


def test_schedule_reads_cron_and_timezone_from_the_config(tmp_path):
    _config, defs = _defs(
        tmp_path, schedule={"cron": "30 2 * * *", "timezone": "America/Los_Angeles"}
    )
    schedule = defs.resolve_schedule_def("ctr_ranker_daily_schedule")
    assert schedule.cron_schedule == "30 2 * * *"
    assert schedule.execution_timezone == "America/Los_Angeles"
    # 02:30 in Los Angeles on 21 November is 10:30 UTC: yesterday there is the 20th.
    when = dt.datetime(2026, 11, 21, 10, 30, tzinfo=dt.UTC)
    with DagsterInstance.ephemeral() as instance:
        data = schedule.evaluate_tick(
            build_schedule_context(
                instance=instance,
                scheduled_execution_time=when,
                repository_def=defs.get_repository_def(),
            )
        )
    assert {r.partition_key for r in data.run_requests} == {"2026-11-20"}
    # 01:00 UTC on the 21st is still the 20th in Los Angeles: yesterday is the 19th.
    early = dt.datetime(2026, 11, 21, 1, 0, tzinfo=dt.UTC)
    with DagsterInstance.ephemeral() as instance:
        data = schedule.evaluate_tick(
            build_schedule_context(
                instance=instance,
                scheduled_execution_time=early,
                repository_def=defs.get_repository_def(),
            )
        )
    assert {r.partition_key for r in data.run_requests} == {"2026-11-19"}


def test_schedule_skips_days_before_the_first_partition(tmp_path):
    _config, defs = _defs(tmp_path)
    schedule = defs.resolve_schedule_def("ctr_ranker_daily_schedule")
    when = dt.datetime(2026, 1, 1, 6, 0, tzinfo=dt.UTC)
    with DagsterInstance.ephemeral() as instance:
        data = schedule.evaluate_tick(
            build_schedule_context(
                instance=instance,
                scheduled_execution_time=when,
                repository_def=defs.get_repository_def(),
            )
        )
    assert not data.run_requests and "before the first partition" in data.skip_message


def test_config_rejects_a_bad_cron_and_timezone(tmp_path):
    from monitoring_platform.config import ConfigError

    raw = small_config_dict(tmp_path)
    raw["schedule"] = {"cron": "every day", "timezone": "Mars/Olympus"}
    with pytest.raises(ConfigError) as err:
        load_config(write_config(tmp_path, raw))
    assert "schedule.cron" in str(err.value) and "schedule.timezone" in str(err.value)


def _put_log(store, model, day, name, payload=b'{"request_id": "r1"}\n'):
    store.put_bytes(f"{model}/dt={day.isoformat()}/{name}", payload)


def _tick(defs, sensor, storage, cursor, instance):
    context = build_sensor_context(
        instance=instance,
        cursor=cursor,
        resources={"storage": storage},
        repository_def=defs.get_repository_def(),
    )
    return sensor.evaluate_tick(context)


def _arrival_sensor_story(config, defs, logs_store):
    """New objects start exactly one run per model-day; nothing twice, nothing missed."""
    sensor = defs.resolve_sensor_def("logs_arrival_sensor")
    storage = build_resources(config)["storage"]
    yesterday = dt.datetime.now(dt.UTC).date() - dt.timedelta(days=1)
    before = yesterday - dt.timedelta(days=1)
    today = yesterday + dt.timedelta(days=1)
    too_old = yesterday - dt.timedelta(days=config.schedule.logs_lookback_days)
    _put_log(logs_store, "ctr_ranker", yesterday, "part-0.jsonl")
    _put_log(logs_store, "ctr_ranker", before, "part-0.jsonl")
    _put_log(logs_store, "eta_regressor", yesterday, "part-0.jsonl")
    _put_log(logs_store, "eta_regressor", today, "part-0.jsonl")  # no partition yet
    _put_log(logs_store, "eta_regressor", too_old, "part-0.jsonl")  # outside the watch window

    with DagsterInstance.ephemeral() as instance:
        first = _tick(defs, sensor, storage, None, instance)
        got = {(r.tags[MODEL_TAG], r.partition_key): r for r in first.run_requests}
        assert set(got) == {
            ("ctr_ranker", yesterday.isoformat()),
            ("ctr_ranker", before.isoformat()),
            ("eta_regressor", yesterday.isoformat()),
        }
        for (model, day), request in got.items():
            objects = logs_store.list(f"{model}/dt={day}")
            assert request.run_key == f"{model}:{day}:{fingerprint(objects)[:24]}"
            assert request.job_name == f"{model}_monitoring_job"
            assert request.tags[TRIGGER_TAG] == "logs_arrival"

        # Nothing new: no run.
        second = _tick(defs, sensor, storage, first.cursor, instance)
        assert second.run_requests == [] and second.skip_message

        # One more object for one model-day: exactly that partition, under a new run key.
        _put_log(logs_store, "ctr_ranker", yesterday, "part-1.jsonl", b'{"request_id": "r2"}\n')
        third = _tick(defs, sensor, storage, second.cursor, instance)
        (request,) = third.run_requests
        assert (request.tags[MODEL_TAG], request.partition_key) == (
            "ctr_ranker",
            yesterday.isoformat(),
        )
        assert request.run_key not in {r.run_key for r in first.run_requests}

        # A daemon that restarts before the cursor was saved evaluates the same objects again:
        # the same run keys come out, which Dagster launches only once.
        replay = _tick(defs, sensor, storage, second.cursor, instance)
        assert [r.run_key for r in replay.run_requests] == [request.run_key]

        # An object rewritten with other content changes the day's fingerprint.
        _put_log(logs_store, "eta_regressor", yesterday, "part-0.jsonl", b"{}\n{}\n")
        fourth = _tick(defs, sensor, storage, third.cursor, instance)
        assert [(r.tags[MODEL_TAG], r.partition_key) for r in fourth.run_requests] == [
            ("eta_regressor", yesterday.isoformat())
        ]


def test_logs_arrival_sensor_on_local_folders(tmp_path):
    config, defs = _defs(tmp_path)
    logs_store = open_store(config.logs_root(config.model("ctr_ranker")))
    _arrival_sensor_story(config, defs, logs_store)


def test_logs_arrival_sensor_on_s3(tmp_path, s3_bucket, s3_server):
    bucket, factory = s3_bucket
    raw = small_config_dict(tmp_path, requests_per_day=50)
    raw["storage"]["raw"] = f"s3://{bucket}/raw"
    raw["storage"]["s3"] = {"endpoint_url": s3_server}
    config = load_config(write_config(tmp_path, raw))
    defs = build_definitions(config)
    logs_store = open_store(f"s3://{bucket}/raw/logs", factory)
    _arrival_sensor_story(config, defs, logs_store)


def test_daily_assets_carry_the_backfill_policy(tmp_path):
    _config, defs = _defs(tmp_path)
    graph = defs.resolve_asset_graph()
    for model in MODELS:
        for key in _model_keys(defs, model):
            assert graph.get(key).backfill_policy == BACKFILL_POLICY, key
    assert BACKFILL_POLICY.max_partitions_per_run == 1


def test_reports_index_sensor_requests_once_per_new_evaluation(tmp_path):
    config, defs = _defs(tmp_path)
    sensor = defs.resolve_sensor_def("reports_index_sensor")
    with DagsterInstance.ephemeral() as instance:
        empty = sensor.evaluate_tick(
            build_sensor_context(instance=instance, repository_def=defs.get_repository_def())
        )
        assert empty.run_requests == [] and empty.skip_message
        # One evaluated model-day (logs missing: the ingestion asset still materializes).
        result = materialize(
            list(defs.assets),
            selection=[AssetKey(["ctr_ranker", "inference_logs"])],
            partition_key="2026-11-20",
            instance=instance,
            resources=dict(defs.resources),
            raise_on_error=False,
            run_config=QUIET_RUN_CONFIG,
        )
        assert result.get_asset_materialization_events()
        first = sensor.evaluate_tick(
            build_sensor_context(instance=instance, repository_def=defs.get_repository_def())
        )
        (request,) = first.run_requests
        assert request.run_key.startswith("reports_index:")
        again = sensor.evaluate_tick(
            build_sensor_context(
                instance=instance, cursor=first.cursor, repository_def=defs.get_repository_def()
            )
        )
        assert again.run_requests == []


def test_autostart_runs_the_schedule_and_sensors_by_default(tmp_path):
    from dagster import DefaultScheduleStatus, DefaultSensorStatus

    _config, defs = _defs(tmp_path)
    assert (
        defs.resolve_schedule_def("ctr_ranker_daily_schedule").default_status
        == DefaultScheduleStatus.STOPPED
    )
    _config, defs = _defs(tmp_path, schedule={"autostart": True})
    assert (
        defs.resolve_schedule_def("ctr_ranker_daily_schedule").default_status
        == DefaultScheduleStatus.RUNNING
    )
    for name in ("logs_arrival_sensor", "reports_index_sensor"):
        assert defs.resolve_sensor_def(name).default_status == DefaultSensorStatus.RUNNING


def test_the_embedded_instance_has_the_deployments_queue_and_warehouse_pool(tmp_path):
    """The demo's instance: infra/dagster.yaml's queue and pools, on SQLite."""
    import yaml
    from dagster._core.instance.ref import InstanceRef
    from dagster._core.run_coordinator import QueuedRunCoordinator

    from monitoring_platform.defs.metrics.resources import WAREHOUSE_POOL
    from monitoring_platform.defs.orchestration.instance import (
        INFRA_INSTANCE,
        write_embedded_instance,
    )

    home = tmp_path / "dagster_home"
    home.mkdir()
    (home / "dagster.yaml").write_text("telemetry:\n  enabled: false\n")  # an older demo's
    path = write_embedded_instance(home)
    written = yaml.safe_load(path.read_text())
    infra = yaml.safe_load(INFRA_INSTANCE.read_text())
    assert "storage" in infra and "storage" not in written
    assert written == {k: v for k, v in infra.items() if k != "storage"}
    with DagsterInstance.from_ref(InstanceRef.from_dir(str(home))) as instance:
        assert isinstance(instance.run_coordinator, QueuedRunCoordinator)
        queue = instance.get_concurrency_config().run_queue_config
        assert queue.max_concurrent_runs >= 1
        assert {
            "key": MODEL_TAG,
            "value": {"applyLimitPerUniqueValue": True},
            "limit": 1,
        } in queue.tag_concurrency_limits
        assert instance.event_log_storage.supports_global_concurrency_limits
        assert instance.get_concurrency_config().pool_config.default_pool_limit == 1
        # As a step does on its first claim: the pool gets the default limit, one slot.
        storage = instance.event_log_storage
        storage.initialize_concurrency_limit_to_default(WAREHOUSE_POOL)
        assert storage.get_concurrency_info(WAREHOUSE_POOL).slot_count == 1
        assert storage.claim_concurrency_slot(WAREHOUSE_POOL, "run-1", "dbt").is_claimed
        assert not storage.claim_concurrency_slot(WAREHOUSE_POOL, "run-2", "dbt").is_claimed
    # A file the user wrote is left alone.
    (home / "dagster.yaml").write_text("telemetry: {enabled: true}\n")
    write_embedded_instance(home)
    assert (home / "dagster.yaml").read_text() == "telemetry: {enabled: true}\n"


@pytest.mark.parametrize("cron", ["@daily", "0 6 * * *", "30 2 * * 1-5"])
def test_cron_accepts_what_dagster_runs(tmp_path, cron):
    config, defs = _defs(tmp_path, schedule={"cron": cron})
    assert defs.resolve_schedule_def("ctr_ranker_daily_schedule").cron_schedule == cron


@pytest.mark.parametrize("cron", ["99 6 * * *", "0 6 31 2 *", "0 6 * *", "*/5 * * * * *"])
def test_cron_rejects_what_dagster_would_not_run(tmp_path, cron):
    from monitoring_platform.config import ConfigError

    raw = small_config_dict(tmp_path)
    raw["schedule"] = {"cron": cron}
    with pytest.raises(ConfigError, match="schedule.cron"):
        load_config(write_config(tmp_path, raw))
