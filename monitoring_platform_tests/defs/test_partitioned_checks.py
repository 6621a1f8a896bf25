"""Every check result belongs to its day: Dagster's per-partition check status, the metric store
and the alert sensors agree, and a backfill of older days leaves a failing latest day failing."""

import datetime as dt
from collections import Counter

import pytest
from dagster import AssetCheckKey, AssetKey, DagsterInstance, build_sensor_context
from dagster._core.storage.asset_check_execution_record import AssetCheckExecutionRecordStatus

from monitoring_platform.config import load_config
from monitoring_platform.definitions import build_definitions
from monitoring_platform.defs.alerting.sensors import CHECK_SENSOR, build_alerting_sensors
from monitoring_platform.lib.metric_store import MetricStore
from monitoring_platform.simulation import generate_traffic
from monitoring_platform_tests.conftest import small_config_dict, write_config
from monitoring_platform_tests.lib.alert_receivers import HttpReceiver
from monitoring_platform_tests.support import run_day

MODEL = "ctr_ranker"
OLDER = [dt.date(2026, 11, 1), dt.date(2026, 11, 2)]
LATEST = dt.date(2026, 11, 3)  # no logs: logs_arrived fails (ERROR)
CHECK = AssetCheckKey(AssetKey([MODEL, "inference_logs"]), "logs_arrived")


def test_every_check_and_dbt_test_is_recorded_per_partition(small_config):
    graph = build_definitions(small_config).resolve_asset_graph()
    specs = [s for a in graph.assets_defs for s in a.check_specs]
    assert len(specs) > 25
    unpartitioned = [s.key for s in specs if s.partitions_def is None]
    assert unpartitioned == []
    names = {s.name for s in specs}
    # dbt's singular tests are checks too, not observations.
    assert "assert_business_predictions_within_system_requests" in names


def _status_by_day(instance: DagsterInstance) -> dict[str, AssetCheckExecutionRecordStatus]:
    """What the UI shows per day: Dagster's per-partition status of the check."""
    infos = instance.event_log_storage.get_asset_check_partition_info([CHECK])
    return {i.partition_key: i.latest_execution_status for i in infos}


@pytest.mark.slow
def test_a_backfill_of_older_days_leaves_the_failing_latest_day_failing(tmp_path, monkeypatch):
    receiver = HttpReceiver().start()
    try:
        raw = small_config_dict(tmp_path, requests_per_day=300)
        raw["alerts"] = {
            "dagster_base_url": "http://dagster.example:3000",
            "request_timeout_seconds": 5,
            "routes": [
                {
                    "kind": "webhook",
                    "name": "hook",
                    "url": receiver.base_url + "/webhook",
                    "secret_env": "MP_TEST_HOOK_SECRET",
                }
            ],
            "rules": [{"routes": ["hook"]}],
        }
        monkeypatch.setenv("MP_TEST_HOOK_SECRET", receiver.webhook_secret)
        config = load_config(write_config(tmp_path, raw))
        generate_traffic(config, OLDER[0], OLDER[-1], seed=3, models=[MODEL])
        defs = build_definitions(config)
        home = tmp_path / "dagster_home"
        home.mkdir()
        instance = DagsterInstance.local_temp(str(home))
        (sensor,) = [s for s in build_alerting_sensors(config) if s.name == CHECK_SENSOR]

        def tick(cursor):
            return sensor(build_sensor_context(instance=instance, cursor=cursor))

        for day in [*OLDER, LATEST]:
            run_day(defs, instance, day)
        first = tick(None)
        key = f"check:{MODEL}:logs_arrived:{LATEST}"
        assert Counter(receiver_alerts(receiver))[("trigger", key)] == 1

        # Backfill the older days: their checks pass again, later than the latest day's failure.
        for day in OLDER:
            assert run_day(defs, instance, day).success
        tick(first.cursor)

        status = _status_by_day(instance)
        assert status[LATEST.isoformat()] == AssetCheckExecutionRecordStatus.FAILED
        assert all(
            status[d.isoformat()] == AssetCheckExecutionRecordStatus.SUCCEEDED for d in OLDER
        )
        store = MetricStore(config.metric_store_url())
        in_store = {
            row["partition_date"].isoformat(): row["passed"]
            for row in store.checks(model=MODEL)
            if row["check_name"] == "logs_arrived"
        }
        assert in_store == {
            d: s == AssetCheckExecutionRecordStatus.SUCCEEDED for d, s in status.items()
        }
        alerts = Counter(receiver_alerts(receiver))
        assert alerts[("resolve", key)] == 0
        assert alerts[("trigger", key)] == 1
        assert not [a for a in alerts if a[0] == "resolve"]
    finally:
        receiver.release.set()
        receiver.stop()


def receiver_alerts(receiver) -> list[tuple[str, str]]:
    return [(a["action"], a["dedup_key"]) for b in receiver.bodies("/webhook") for a in b["alerts"]]
