"""The alerting sensors on a real Dagster instance with real check evaluations, against local
receivers: once per failure, once per resolve, nothing lost or doubled when the process dies."""

import datetime as dt
import json
import os
import subprocess
import sys
from collections import Counter

import pytest
from dagster import (
    AssetKey,
    AssetRecordsFilter,
    DagsterEventType,
    DagsterInstance,
    DefaultSensorStatus,
    Definitions,
    SensorResult,
    SkipReason,
    build_run_status_sensor_context,
    build_sensor_context,
    materialize,
)

from monitoring_platform.config import ConfigError, load_config
from monitoring_platform.definitions import build_definitions
from monitoring_platform.defs.alerting.sensors import (
    CHECK_SENSOR,
    FRESHNESS_SENSOR,
    RUN_FAILURE_SENSOR,
    RUN_SUCCESS_SENSOR,
    WATCHDOG_SENSOR,
    build_alerting_sensors,
)
from monitoring_platform.demo import QUIET_RUN_CONFIG
from monitoring_platform.lib.alerting.outbox import DELIVERED, PENDING, AlertStore
from monitoring_platform.lib.metric_store import MetricStore
from monitoring_platform.simulation import generate_traffic
from monitoring_platform_tests.conftest import REPO, small_config_dict, write_config
from monitoring_platform_tests.lib.alert_receivers import HttpReceiver
from monitoring_platform_tests.support import run_day

MODEL = "ctr_ranker"
START = dt.date(2026, 11, 1)
LATE = dt.date(2026, 11, 3)  # its logs arrive only after its first evaluation
BASE_URL = "http://dagster.example:3000"


def alerts_section(receiver: HttpReceiver) -> dict:
    return {
        "dagster_base_url": BASE_URL,
        "request_timeout_seconds": 5,
        "routes": [
            {"kind": "slack", "name": "team", "webhook_url_env": "MP_TEST_SLACK_URL"},
            {
                "kind": "webhook",
                "name": "hook",
                "url": receiver.base_url + "/webhook",
                "secret_env": "MP_TEST_HOOK_SECRET",
            },
            {
                "kind": "pagerduty",
                "name": "pager",
                "routing_key_env": "MP_TEST_PD_KEY",
                "url": receiver.base_url + "/pagerduty",
            },
        ],
        "rules": [
            {"routes": ["team", "hook"], "models": [MODEL]},
            {"routes": ["pager"], "min_severity": "ERROR"},
        ],
    }


def environment(receiver: HttpReceiver) -> dict:
    return {
        "MP_TEST_SLACK_URL": receiver.base_url + "/slack",
        "MP_TEST_HOOK_SECRET": receiver.webhook_secret,
        "MP_TEST_PD_KEY": receiver.pagerduty_key,
    }


def sensor_named(sensors, name):
    (found,) = [s for s in sensors if s.name == name]
    return found


def tick(sensor, instance, cursor=None, **resources):
    result = sensor(build_sensor_context(instance=instance, cursor=cursor, resources=resources))
    assert isinstance(result, SensorResult)
    return result


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    """Two days of traffic, the 1st and the 3rd evaluated (the 3rd has no logs yet)."""
    tmp = tmp_path_factory.mktemp("alerting")
    receiver = HttpReceiver().start()
    raw = small_config_dict(tmp, requests_per_day=400)
    raw["alerts"] = alerts_section(receiver)
    # A limit the model cannot meet: a failing check whose alert links its report.
    quality = raw["models"][0]["thresholds"]["quality"]
    quality.update({"max_log_loss": 0.02, "min_labeled_rows": 20})
    path = write_config(tmp, raw)
    config = load_config(path)
    generate_traffic(config, START, START + dt.timedelta(days=1), seed=5, models=[MODEL])
    defs = build_definitions(config)
    home = tmp / "dagster_home"
    home.mkdir()
    instance = DagsterInstance.local_temp(str(home))
    runs = {day: run_day(defs, instance, day, everything=True) for day in (START, LATE)}
    with pytest.MonkeyPatch.context() as mp:
        for key, value in environment(receiver).items():
            mp.setenv(key, value)
        yield {
            "tmp": tmp,
            "raw": raw,
            "config": config,
            "defs": defs,
            "instance": instance,
            "home": home,
            "runs": runs,
            "receiver": receiver,
        }
    receiver.release.set()
    receiver.stop()


def failing_in_store(config, day=None) -> set[str]:
    """Alert keys of failing checks, from the metric store (written by the checks themselves)."""
    return {
        f"check:{row['model']}:{row['check_name']}:{row['partition_date'].isoformat()}"
        for row in MetricStore(config.metric_store_url()).checks(model=MODEL, partition_date=day)
        if not row["passed"]
    }


def webhook_alerts(receiver) -> list[tuple[str, str]]:
    return [(a["action"], a["dedup_key"]) for b in receiver.bodies("/webhook") for a in b["alerts"]]


def test_alert_sensors_load_with_the_code_location_and_run_by_default(tmp_path):
    raw = small_config_dict(tmp_path)
    assert not build_alerting_sensors(load_config(write_config(tmp_path, raw)))
    raw["alerts"] = alerts_section(HttpReceiver())
    raw["alerts"]["rules"].append({"routes": ["team"], "models": ["no_such_model"]})
    with pytest.raises(ConfigError, match=r"alerts.rules\[2\].models: 'no_such_model' is not"):
        build_alerting_sensors(load_config(write_config(tmp_path, raw)))
    raw["alerts"]["rules"].pop()
    defs = build_definitions(load_config(write_config(tmp_path, raw)))
    Definitions.validate_loadable(defs)
    sensors = {s.name: s for s in defs.sensors}
    for name in (
        CHECK_SENSOR,
        RUN_FAILURE_SENSOR,
        RUN_SUCCESS_SENSOR,
        FRESHNESS_SENSOR,
        WATCHDOG_SENSOR,
    ):
        assert sensors[name].default_status == DefaultSensorStatus.RUNNING, name
        assert sensors[name].description, name


@pytest.mark.slow
def test_failing_checks_alert_once_and_resolve_once(world):
    config, instance, receiver, runs = (
        world["config"],
        world["instance"],
        world["receiver"],
        world["runs"],
    )
    assert not runs[LATE].success  # no logs: the blocking check stopped it
    sensors = build_alerting_sensors(config)
    assert {s.name for s in sensors} == {
        CHECK_SENSOR,
        RUN_FAILURE_SENSOR,
        RUN_SUCCESS_SENSOR,
        FRESHNESS_SENSOR,
        WATCHDOG_SENSOR,
    }
    check_sensor = sensor_named(sensors, CHECK_SENSOR)

    first = tick(check_sensor, instance)
    expected = failing_in_store(config)
    assert f"check:{MODEL}:logs_arrived:{LATE}" in expected
    assert sorted(webhook_alerts(receiver)) == sorted(("trigger", key) for key in expected)
    # One message per run and route.
    assert len(receiver.bodies("/slack")) == len(receiver.bodies("/webhook")) == 2
    by_key = {a["dedup_key"]: a for b in receiver.bodies("/webhook") for a in b["alerts"]}
    late = by_key[f"check:{MODEL}:logs_arrived:{LATE}"]
    assert late["run_url"] == f"{BASE_URL}/runs/{runs[LATE].run_id}"
    assert late["summary"].startswith(
        f"{MODEL} {LATE}: logs_arrived failed (ERROR): No log objects"
    )
    evaluations = {
        (e.check_name, day.isoformat()): e
        for day, result in runs.items()
        for e in result.get_asset_check_evaluations()
    }
    for alert in by_key.values():
        evaluation = evaluations[(alert["subject"], alert["day"])]
        own = evaluation.metadata.get("report")
        records = instance.fetch_materializations(
            AssetRecordsFilter(asset_key=evaluation.asset_key, asset_partitions=[alert["day"]]),
            limit=1,
        ).records
        meta = records[0].asset_materialization.metadata if records else {}
        expected = own or meta.get("report")
        assert alert["report_url"] == (expected.value if expected else None), alert
    assert any(a["report_url"] for a in by_key.values())
    slack_text = json.dumps(receiver.bodies("/slack"))
    assert f"<{BASE_URL}/runs/{runs[LATE].run_id}|Dagster run>" in slack_text
    pd = [(e["event_action"], e["dedup_key"]) for e in receiver.bodies("/pagerduty")]
    errors = {
        f"check:{MODEL}:{e.check_name}:{day}"
        for day, result in runs.items()
        for e in result.get_asset_check_evaluations()
        if not e.passed and e.severity.value == "ERROR"
    }
    assert sorted(pd) == sorted(("trigger", key) for key in errors)

    # The next ticks, with the cursor and from scratch: nothing new.
    before = len(receiver.accepted)
    again = tick(check_sensor, instance, first.cursor)
    tick(check_sensor, instance, None)
    assert len(receiver.accepted) == before
    assert ", 0 messages queued" in again.skip_reason.skip_message

    # The logs arrive; the day is evaluated again and passes: one resolve per route.
    generate_traffic(config, LATE, LATE, seed=5, models=[MODEL])
    assert run_day(world["defs"], instance, LATE, everything=True).success
    tick(check_sensor, instance, again.cursor)
    key = f"check:{MODEL}:logs_arrived:{LATE}"
    hooks = Counter(webhook_alerts(receiver))
    assert hooks[("trigger", key)] == 1 and hooks[("resolve", key)] == 1
    pd = Counter((e["event_action"], e["dedup_key"]) for e in receiver.bodies("/pagerduty"))
    assert pd[("trigger", key)] == 1 and pd[("resolve", key)] == 1
    assert all(count == 1 for count in hooks.values())
    assert receiver.rejected == []


@pytest.mark.slow
def test_failed_runs_alert_unless_a_blocking_check_stopped_them(world, tmp_path):
    config, instance, receiver, defs = (
        world["config"],
        world["instance"],
        world["receiver"],
        world["defs"],
    )
    sensors = build_alerting_sensors(config)
    failure_sensor = sensor_named(sensors, RUN_FAILURE_SENSOR)
    recovery_sensor = sensor_named(sensors, RUN_SUCCESS_SENSOR)

    def status_context(run_id, sensor_name, event_type):
        run = instance.get_run_by_id(run_id)
        (event,) = instance.all_logs(run_id, of_type=event_type)
        return build_run_status_sensor_context(
            sensor_name=sensor_name,
            dagster_event=event.dagster_event,
            dagster_instance=instance,
            dagster_run=run,
        )

    blocked = world["runs"][LATE]
    before = len(receiver.accepted)
    result = failure_sensor(
        status_context(
            blocked.run_id, RUN_FAILURE_SENSOR, DagsterEventType.RUN_FAILURE
        ).for_run_failure()
    )
    assert isinstance(result, SkipReason) and "blocking checks" in result.skip_message
    assert len(receiver.accepted) == before

    # A run that breaks for another reason: the lake is not writable.
    not_a_dir = tmp_path / "file"
    not_a_dir.write_text("x")
    resources = dict(defs.resources)
    storage = resources["storage"]
    resources["storage"] = type(storage)(
        **{**storage._get_non_default_public_field_values(), "lake": str(not_a_dir / "lake")}
    )
    keys = [AssetKey([MODEL, "inference_logs"])]
    broken = materialize(
        [*defs.assets, *defs.asset_checks],
        selection=keys,
        partition_key=START.isoformat(),
        instance=instance,
        resources=resources,
        raise_on_error=False,
        run_config=QUIET_RUN_CONFIG,
    )
    assert not broken.success
    out = failure_sensor(
        status_context(
            broken.run_id, RUN_FAILURE_SENSOR, DagsterEventType.RUN_FAILURE
        ).for_run_failure()
    )
    assert out is None
    run_key = f"run:{MODEL}:__ephemeral_asset_job__:{START}"
    hooks = Counter(webhook_alerts(receiver))
    assert hooks[("trigger", run_key)] == 1
    pd = Counter((e["event_action"], e["dedup_key"]) for e in receiver.bodies("/pagerduty"))
    assert pd[("trigger", run_key)] == 1
    (alert,) = [
        a for b in receiver.bodies("/webhook") for a in b["alerts"] if a["dedup_key"] == run_key
    ]
    assert alert["run_url"] == f"{BASE_URL}/runs/{broken.run_id}"

    fixed = materialize(
        [*defs.assets, *defs.asset_checks],
        selection=keys,
        partition_key=START.isoformat(),
        instance=instance,
        resources=dict(defs.resources),
        raise_on_error=False,
        run_config=QUIET_RUN_CONFIG,
    )
    assert fixed.success
    recovery_sensor(status_context(fixed.run_id, RUN_SUCCESS_SENSOR, DagsterEventType.RUN_SUCCESS))
    hooks = Counter(webhook_alerts(receiver))
    assert hooks[("resolve", run_key)] == 1 and hooks[("trigger", run_key)] == 1


@pytest.mark.slow
def test_missing_logs_and_a_silent_check_sensor_are_alerts(world, tmp_path, monkeypatch):
    raw = dict(world["raw"])
    receiver = HttpReceiver().start()
    try:
        raw["alerts"] = {**alerts_section(receiver), "logs_due_hour": 6, "watchdog_minutes": 15}
        raw["metric_store"] = {"url": f"sqlite:///{tmp_path / 'alerts.db'}"}
        config = load_config(write_config(tmp_path, raw))
        for key, value in environment(receiver).items():
            monkeypatch.setenv(key, value)
        now = {"t": dt.datetime(2026, 11, 3, 5, 0, tzinfo=dt.UTC)}
        sensors = build_alerting_sensors(config, clock=lambda: now["t"])
        freshness = sensor_named(sensors, FRESHNESS_SENSOR)
        watchdog = sensor_named(sensors, WATCHDOG_SENSOR)
        storage = world["defs"].resources["storage"]

        def run(sensor):
            return sensor(
                build_sensor_context(instance=world["instance"], resources={"storage": storage})
            )

        run(freshness)  # 05:00 on the 3rd: the 2nd's logs are there, nothing due anyway
        assert receiver.accepted == []
        now["t"] = dt.datetime(2026, 11, 5, 7, 0, tzinfo=dt.UTC)  # the 4th has no logs, due 06:00
        run(freshness)
        run(freshness)
        key = f"freshness:{MODEL}:logs_arrived_on_time:2026-11-04"
        assert Counter(webhook_alerts(receiver)) == {("trigger", key): 1}
        generate_traffic(config, dt.date(2026, 11, 4), dt.date(2026, 11, 4), seed=5, models=[MODEL])
        now["t"] += dt.timedelta(hours=1)
        run(freshness)
        assert Counter(webhook_alerts(receiver)) == {("trigger", key): 1, ("resolve", key): 1}

        # The check sensor never ticks: after the limit the watchdog says so, once.
        run(watchdog)
        now["t"] += dt.timedelta(minutes=10)
        run(watchdog)
        assert len(webhook_alerts(receiver)) == 2
        now["t"] += dt.timedelta(minutes=10)
        run(watchdog)
        run(watchdog)
        wd_key = f"watchdog:-:{CHECK_SENSOR}:-"
        assert Counter(webhook_alerts(receiver))[("trigger", wd_key)] == 1
        (alert,) = [
            a for b in receiver.bodies("/webhook") for a in b["alerts"] if a["dedup_key"] == wd_key
        ]
        assert "alerting is blind" in alert["summary"]
        now["t"] += dt.timedelta(minutes=1)
        tick(sensor_named(sensors, CHECK_SENSOR), world["instance"], json.dumps({"after": 10**12}))
        run(watchdog)
        assert Counter(webhook_alerts(receiver))[("resolve", wd_key)] == 1
    finally:
        receiver.release.set()
        receiver.stop()


def expected_transitions(instance, min_severity: str) -> Counter:
    """Triggers and resolves the event log calls for, worked out here from the evaluations."""
    entries = instance.event_log_storage.get_logs_for_all_runs_by_log_id(
        after_cursor=-1, dagster_event_type=DagsterEventType.ASSET_CHECK_EVALUATION
    )
    open_keys: set[str] = set()
    out: Counter[tuple[str, str]] = Counter()
    for _id, entry in sorted(entries.items()):
        evaluation = entry.dagster_event.event_specific_data
        evaluated = evaluation.metadata.get("evaluated")
        if evaluated is not None and evaluated.value is False:
            continue  # nothing was judged: neither a trigger nor a resolve
        day = instance.get_run_by_id(entry.run_id).tags["dagster/partition"]
        key = f"check:{evaluation.asset_key.path[0]}:{evaluation.check_name}:{day}"
        serious = min_severity == "WARN" or evaluation.severity.value == "ERROR"
        if not evaluation.passed and serious and key not in open_keys:
            open_keys.add(key)
            out[("trigger", key)] += 1
        elif evaluation.passed and key in open_keys:
            open_keys.remove(key)
            out[("resolve", key)] += 1
    return out


KILLABLE_TICK = """
import sys
from pathlib import Path
from dagster import DagsterInstance, build_sensor_context
from monitoring_platform.config import load_config
from monitoring_platform.defs.alerting.sensors import CHECK_SENSOR, build_alerting_sensors

config = load_config(sys.argv[1])
instance = DagsterInstance.from_config(sys.argv[2])
cursor_file = Path(sys.argv[3])
(sensor,) = [s for s in build_alerting_sensors(config) if s.name == CHECK_SENSOR]
cursor = cursor_file.read_text() if cursor_file.exists() else None
result = sensor(build_sensor_context(instance=instance, cursor=cursor))
cursor_file.write_text(result.cursor)  # what the daemon does once the tick returns
"""


@pytest.mark.slow
def test_a_process_killed_mid_batch_loses_and_repeats_nothing(world, tmp_path):
    receiver = HttpReceiver(hold_after=1).start()  # takes one message, then hangs
    try:
        raw = dict(world["raw"])
        raw["alerts"] = alerts_section(receiver)
        raw["alerts"]["routes"] = [r for r in raw["alerts"]["routes"] if r["name"] != "team"]
        raw["alerts"]["rules"] = [
            {"routes": ["hook"]},
            {"routes": ["pager"], "min_severity": "ERROR"},
        ]
        raw["metric_store"] = {"url": f"sqlite:///{tmp_path / 'alerts.db'}"}
        path = write_config(tmp_path, raw)
        cursor_file = tmp_path / "cursor.json"
        env = {**os.environ, **environment(receiver), "PYTHONPATH": str(REPO)}
        process = subprocess.Popen(
            [sys.executable, "-c", KILLABLE_TICK, str(path), str(world["home"]), str(cursor_file)],
            env=env,
            cwd=REPO,
        )
        try:
            assert receiver.held.wait(120), "the sensor process never reached its second message"
        finally:
            process.kill()
            process.wait()
        assert not cursor_file.exists()  # killed before the tick returned
        config = load_config(path)
        store = AlertStore(config.metric_store_url())
        queued = store.messages()
        assert len(queued) >= 3
        assert [m["status"] for m in queued].count(DELIVERED) == 1
        assert len(receiver.accepted) == 1

        # The daemon comes back (later: the interrupted claim has expired) and ticks again.
        receiver.hold_after = None
        receiver.release.set()
        later = dt.datetime.now(dt.UTC) + dt.timedelta(hours=1)
        (sensor,) = [
            s for s in build_alerting_sensors(config, clock=lambda: later) if s.name == CHECK_SENSOR
        ]
        tick(sensor, world["instance"], None)
        assert {m["status"] for m in store.messages()} == {DELIVERED}
        assert len(store.messages()) == len(queued)  # re-reading the events queued nothing new

        hooks = Counter(webhook_alerts(receiver))
        assert hooks == expected_transitions(world["instance"], "WARN")
        pd = Counter((e["event_action"], e["dedup_key"]) for e in receiver.bodies("/pagerduty"))
        assert pd == expected_transitions(world["instance"], "ERROR")
        assert any(k.endswith(f"logs_arrived:{LATE}") for _a, k in pd)
        assert receiver.requests_seen == len(receiver.accepted) + 1  # the one held when killed
        assert [m["status"] for m in store.messages(PENDING)] == []
    finally:
        receiver.release.set()
        receiver.stop()


@pytest.mark.slow
def test_a_first_tick_does_not_page_for_old_history(world, tmp_path, monkeypatch):
    receiver = HttpReceiver().start()
    try:
        raw = dict(world["raw"])
        raw["alerts"] = alerts_section(receiver)
        raw["metric_store"] = {"url": f"sqlite:///{tmp_path / 'alerts.db'}"}
        config = load_config(write_config(tmp_path, raw))
        for key, value in environment(receiver).items():
            monkeypatch.setenv(key, value)
        in_two_days = dt.datetime.now(dt.UTC) + dt.timedelta(days=2)
        (sensor,) = [
            s
            for s in build_alerting_sensors(config, clock=lambda: in_two_days)
            if s.name == CHECK_SENSOR
        ]
        result = tick(sensor, world["instance"], None)
        assert json.loads(result.cursor)["after"] > 0
        assert ", 0 messages queued" in result.skip_reason.skip_message
        assert receiver.requests_seen == 0
    finally:
        receiver.stop()
