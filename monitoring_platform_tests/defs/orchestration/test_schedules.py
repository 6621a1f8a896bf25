"""The daily schedules, evaluated with Dagster's own test context, and their configuration."""

import datetime as dt

import pytest
from dagster import (
    AssetKey,
    build_schedule_context,
    instance_for_test,
)

from monitoring_platform.config import load_config
from monitoring_platform.defs.orchestration.jobs import MODEL_TAG, TRIGGER_TAG
from monitoring_platform.defs.orchestration.schedules import RUN_GROUP_TAG
from monitoring_platform_tests.conftest import small_config_dict, write_config
from monitoring_platform_tests.defs.orchestration.conftest import (
    MODELS,
    definitions_for,
    model_keys,
)


def tick(defs, schedule, when: dt.datetime):
    """The schedule's tick at ``when`` on a fresh instance."""
    with instance_for_test() as instance:
        return schedule.evaluate_tick(
            build_schedule_context(
                instance=instance,
                scheduled_execution_time=when,
                repository_def=defs.get_repository_def(),
            )
        )


PER_MODEL = {"runs": "per_model"}


def test_schedule_requests_yesterday_for_every_model(tmp_path):
    config, defs = definitions_for(tmp_path, schedule=PER_MODEL)
    when = dt.datetime(2026, 11, 21, 6, 0, tzinfo=dt.UTC)
    for model in MODELS:
        schedule = defs.resolve_schedule_def(f"{model}_daily_schedule")
        assert schedule.cron_schedule == "0 6 * * *" and schedule.execution_timezone == "UTC"
        # The model's own job: the one the demo and a UI backfill run.
        assert schedule.job_name == f"{model}_monitoring_job"
        job_keys = defs.resolve_job_def(schedule.job_name).asset_layer.executable_asset_keys
        assert set(job_keys) == model_keys(defs, model)
        assert AssetKey(["reports_index"]) not in job_keys
        data = tick(defs, schedule, when)
        (request,) = data.run_requests
        assert request.partition_key == "2026-11-20"
        assert request.run_key == f"{model}:2026-11-20"
        assert request.tags[MODEL_TAG] == model
        assert request.tags[TRIGGER_TAG] == "schedule"


def test_schedule_reads_cron_and_timezone_from_the_config(tmp_path):
    _config, defs = definitions_for(
        tmp_path, schedule={"cron": "30 2 * * *", "timezone": "America/Los_Angeles"}
    )
    schedule = defs.resolve_schedule_def("ctr_ranker_daily_schedule")
    assert schedule.cron_schedule == "30 2 * * *"
    assert schedule.execution_timezone == "America/Los_Angeles"
    # 02:30 in Los Angeles on 21 November is 10:30 UTC: yesterday there is the 20th.
    when = dt.datetime(2026, 11, 21, 10, 30, tzinfo=dt.UTC)
    data = tick(defs, schedule, when)
    assert {r.partition_key for r in data.run_requests} == {"2026-11-20"}
    # 01:00 UTC on the 21st is still the 20th in Los Angeles: yesterday is the 19th.
    early = dt.datetime(2026, 11, 21, 1, 0, tzinfo=dt.UTC)
    data = tick(defs, schedule, early)
    assert {r.partition_key for r in data.run_requests} == {"2026-11-19"}


@pytest.mark.parametrize("runs", ["per_model", "per_day"])
def test_schedule_skips_days_before_the_first_partition(tmp_path, runs):
    _config, defs = definitions_for(tmp_path, schedule={"runs": runs})
    name = "daily_schedule" if runs == "per_day" else "ctr_ranker_daily_schedule"
    schedule = defs.resolve_schedule_def(name)
    when = dt.datetime(2026, 1, 1, 6, 0, tzinfo=dt.UTC)
    data = tick(defs, schedule, when)
    assert not data.run_requests and "before the first partition" in data.skip_message


def test_config_rejects_a_bad_cron_and_timezone(tmp_path):
    from monitoring_platform.config import ConfigError

    raw = small_config_dict(tmp_path)
    raw["schedule"] = {"cron": "every day", "timezone": "Mars/Olympus"}
    with pytest.raises(ConfigError) as err:
        load_config(write_config(tmp_path, raw))
    assert "schedule.cron" in str(err.value) and "schedule.timezone" in str(err.value)


def test_autostart_runs_the_schedule_and_sensors_by_default(tmp_path):
    from dagster import DefaultScheduleStatus, DefaultSensorStatus

    _config, defs = definitions_for(tmp_path, schedule=PER_MODEL)
    assert (
        defs.resolve_schedule_def("ctr_ranker_daily_schedule").default_status
        == DefaultScheduleStatus.STOPPED
    )
    _config, defs = definitions_for(tmp_path, schedule={"autostart": True, **PER_MODEL})
    assert (
        defs.resolve_schedule_def("ctr_ranker_daily_schedule").default_status
        == DefaultScheduleStatus.RUNNING
    )
    for name in ("logs_arrival_sensor", "reports_index_sensor"):
        assert defs.resolve_sensor_def(name).default_status == DefaultSensorStatus.RUNNING


@pytest.mark.parametrize("cron", ["@daily", "0 6 * * *", "30 2 * * 1-5"])
def test_cron_accepts_what_dagster_runs(tmp_path, cron):
    config, defs = definitions_for(tmp_path, schedule={"cron": cron})
    assert defs.resolve_schedule_def("ctr_ranker_daily_schedule").cron_schedule == cron


@pytest.mark.parametrize("cron", ["99 6 * * *", "0 6 31 2 *", "0 6 * *", "*/5 * * * * *"])
def test_cron_rejects_what_dagster_would_not_run(tmp_path, cron):
    from monitoring_platform.config import ConfigError

    raw = small_config_dict(tmp_path)
    raw["schedule"] = {"cron": cron}
    with pytest.raises(ConfigError, match="schedule.cron"):
        load_config(write_config(tmp_path, raw))


def test_per_day_runs_every_model_in_one_run_a_day(tmp_path):
    config, defs = definitions_for(tmp_path, schedule={"runs": "per_day"})
    assert config.schedule.runs == "per_day" and config.schedule.parallel_runs == 1
    names = {s.name for s in defs.schedules or []}
    assert "daily_schedule" in names
    assert not {f"{m}_daily_schedule" for m in MODELS} & names
    schedule = defs.resolve_schedule_def("daily_schedule")
    assert schedule.job_name == "monitoring_job"
    job_keys = defs.resolve_job_def("monitoring_job").asset_layer.executable_asset_keys
    # Every model's daily assets, the dbt models once.
    assert set(job_keys) == set().union(*(model_keys(defs, m) for m in MODELS))
    data = tick(defs, schedule, dt.datetime(2026, 11, 21, 6, 0, tzinfo=dt.UTC))
    (request,) = data.run_requests
    assert request.partition_key == "2026-11-20" and request.run_key == "2026-11-20"
    assert MODEL_TAG not in request.tags and request.tags[TRIGGER_TAG] == "schedule"


def test_per_day_parallel_runs_split_the_models_between_runs(tmp_path):
    # What the example configuration (monitoring.yaml) asks for: two runs a day.
    config, defs = definitions_for(tmp_path)
    assert (config.schedule.runs, config.schedule.parallel_runs) == ("per_day", 2)
    schedule = defs.resolve_schedule_def("daily_schedule")
    job_keys = defs.resolve_job_def("monitoring_job").asset_layer.executable_asset_keys
    data = tick(defs, schedule, dt.datetime(2026, 11, 21, 6, 0, tzinfo=dt.UTC))
    requests = sorted(data.run_requests, key=lambda r: r.run_key)
    assert [r.run_key for r in requests] == ["2026-11-20:1/2", "2026-11-20:2/2"]
    for request, model in zip(requests, MODELS, strict=True):
        assert request.partition_key == "2026-11-20"
        assert request.tags[RUN_GROUP_TAG] == request.run_key.split(":")[1]
        assert request.tags[TRIGGER_TAG] == "schedule" and MODEL_TAG not in request.tags
        # Its model's assets and the dbt models, which the run builds for its model only.
        assert set(request.asset_selection) == model_keys(defs, model)
    assert set().union(*(r.asset_selection for r in requests)) == set(job_keys)


@pytest.mark.parametrize(("parallel", "groups"), [(1, 1), (2, 2), (3, 3), (9, 5)])
def test_run_groups_deal_the_models_out_in_turn(tmp_path, parallel, groups):
    raw = small_config_dict(tmp_path)
    raw["models"] = [{**raw["models"][0], "name": f"m{n}"} for n in range(5)]
    raw["schedule"] = {"runs": "per_day", "parallel_runs": parallel}
    config = load_config(write_config(tmp_path, raw))
    split = [[m.name for m in group] for group in config.run_groups()]
    assert len(split) == groups and sorted(sum(split, [])) == [f"m{n}" for n in range(5)]
    assert split[0][:2] == (["m0", f"m{groups}"] if groups < 5 else ["m0"])
    raw["schedule"] = {"runs": "per_model", "parallel_runs": parallel}
    config = load_config(write_config(tmp_path, raw))
    assert [[m.name for m in g] for g in config.run_groups()] == [[f"m{n}"] for n in range(5)]
    raw["schedule"] = {"parallel_runs": 0}
    with pytest.raises(Exception, match="parallel_runs"):
        load_config(write_config(tmp_path, raw))


def test_runs_per_model_by_default_and_nothing_else_is_accepted(tmp_path):
    from monitoring_platform.config import ConfigError

    config, defs = definitions_for(tmp_path, schedule={})
    assert config.schedule.runs == "per_model"
    assert "daily_schedule" not in {s.name for s in defs.schedules or []}
    raw = small_config_dict(tmp_path)
    raw["schedule"] = {"runs": "per_week"}
    with pytest.raises(ConfigError) as err:
        load_config(write_config(tmp_path, raw))
    assert "schedule.runs" in str(err.value)


def started_by_the_daemon(instance, schedule, request) -> None:
    """The run the daemon creates for a tick's request: tagged with the schedule and run key."""
    from dagster import DagsterRun
    from dagster._core.storage.tags import RUN_KEY_TAG, SCHEDULE_NAME_TAG
    from dagster._core.utils import make_new_run_id

    tags = {**request.tags, SCHEDULE_NAME_TAG: schedule.name, RUN_KEY_TAG: request.run_key}
    instance.add_run(DagsterRun(job_name=schedule.job_name, run_id=make_new_run_id(), tags=tags))


@pytest.mark.parametrize("runs", ["per_model", "per_day"])
def test_a_day_is_launched_once_however_often_the_cron_ticks(tmp_path, runs):
    _config, defs = definitions_for(tmp_path, schedule={"runs": runs, "cron": "0 * * * *"})
    name = "daily_schedule" if runs == "per_day" else "ctr_ranker_daily_schedule"
    schedule = defs.resolve_schedule_def(name)
    with instance_for_test() as instance:

        def at(hour: int, day: int = 21):
            when = dt.datetime(2026, 11, day, hour, 0, tzinfo=dt.UTC)
            context = build_schedule_context(
                instance=instance,
                scheduled_execution_time=when,
                repository_def=defs.get_repository_def(),
            )
            return schedule.evaluate_tick(context)

        first = at(6).run_requests
        assert first and {r.partition_key for r in first} == {"2026-11-20"}
        started_by_the_daemon(instance, schedule, first[0])  # one of the day's runs started
        second = at(7)
        assert [r.run_key for r in second.run_requests] == [r.run_key for r in first[1:]]
        for request in second.run_requests:
            started_by_the_daemon(instance, schedule, request)
        third = at(8)
        assert not third.run_requests and "launched by an earlier tick" in third.skip_message
        # The next day's first tick evaluates the next day.
        assert {r.partition_key for r in at(0, day=22).run_requests} == {"2026-11-21"}
