"""The logs-arrival and reports-index sensors, evaluated with Dagster's own test contexts."""

import datetime as dt

from dagster import (
    AssetKey,
    DagsterInstance,
    build_sensor_context,
    materialize,
)

from monitoring_platform.config import load_config
from monitoring_platform.definitions import build_definitions
from monitoring_platform.defs.orchestration.jobs import MODEL_TAG, TRIGGER_TAG
from monitoring_platform.defs.resources import build_resources
from monitoring_platform.demo import QUIET_RUN_CONFIG
from monitoring_platform.lib.arrivals import fingerprint
from monitoring_platform.lib.storage import open_store
from monitoring_platform_tests.conftest import small_config_dict, write_config
from monitoring_platform_tests.defs.orchestration.conftest import definitions_for


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
    config, defs = definitions_for(tmp_path)
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


def test_reports_index_sensor_requests_once_per_new_evaluation(tmp_path):
    config, defs = definitions_for(tmp_path)
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
