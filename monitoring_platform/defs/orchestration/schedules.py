"""The daily evaluation of yesterday's partition.

``schedule.runs: per_model`` (the default): ``<model>_daily_schedule`` starts one run of
``<model>_monitoring_job`` per model, which the run queue runs side by side (one per model at a
time). ``per_day``: ``daily_schedule`` starts one run of ``monitoring_job`` a day for every model,
so the models share the run's start-up and one dbt build; a model-day stopped by a blocking check
then stops that day's dbt build (the marts, their tests, the business report) for every model of
the run. With ``schedule.parallel_runs: N`` it starts N such runs a day, each over its share of
the models (``MonitoringConfig.run_groups``: a model is in the same run every day), which the run
queue runs side by side.

A day is launched once: Dagster keeps a schedule's run keys apart per tick, so a cron that ticks
more than once a day would evaluate yesterday again at every tick. A tick finds the runs earlier
ticks started for the day (by their run key) and requests only the missing ones.
"""

import datetime as dt
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

from dagster import (
    AssetKey,
    DefaultScheduleStatus,
    RunRequest,
    RunsFilter,
    ScheduleDefinition,
    ScheduleEvaluationContext,
    SkipReason,
    schedule,
)
from dagster._core.storage.tags import RUN_KEY_TAG, SCHEDULE_NAME_TAG

from monitoring_platform.config import MonitoringConfig
from monitoring_platform.defs.orchestration.jobs import TRIGGER_TAG, model_run_tags

if TYPE_CHECKING:
    from dagster import DagsterInstance
    from dagster._core.definitions.unresolved_asset_job_definition import (
        UnresolvedAssetJobDefinition,
    )


DAILY_SCHEDULE = "daily_schedule"
# Which of a day's runs this is, "<n>/<runs>", when a day is split into several runs.
RUN_GROUP_TAG = "monitoring_platform/run_group"


def schedule_run_key(model: str | None, day: dt.date, group: str | None = None) -> str:
    """The run key of a scheduled run: one run per day (and model, or group of models)."""
    if model:
        return f"{model}:{day.isoformat()}"
    return f"{day.isoformat()}:{group}" if group else day.isoformat()


def group_selections(
    config: MonitoringConfig, keys_by_model: dict[str, list[AssetKey]]
) -> list[tuple[str, list[AssetKey]]]:
    """Each of a day's runs of ``monitoring_job`` as (its group tag, its assets), or none.

    None when one run evaluates every model: it runs the whole job. Otherwise each run selects
    its models' assets and the dbt models they share, whose build covers the run's models.
    """
    groups = config.run_groups() if config.schedule.runs == "per_day" else []
    if len(groups) < 2:
        return []
    out = []
    for n, models in enumerate(groups, start=1):
        keys = {key for model in models for key in keys_by_model.get(model.name, [])}
        out.append((f"{n}/{len(groups)}", sorted(keys, key=lambda k: list(k.path))))
    return out


def daily_schedule_name(model: str | None) -> str:
    """The name of a model's daily schedule, or of the one schedule of every model."""
    return f"{model}_daily_schedule" if model else DAILY_SCHEDULE


def build_daily_schedules(
    config: MonitoringConfig,
    fleet_job: "UnresolvedAssetJobDefinition",
    jobs_by_model: dict[str, "UnresolvedAssetJobDefinition"],
    keys_by_model: dict[str, list[AssetKey]],
) -> list[ScheduleDefinition]:
    """``daily_schedule`` over ``fleet_job``, or one schedule per model over its own job.

    Their runs are the runs the demo and a UI backfill make too, so a job's page holds its whole
    history.
    """
    if config.schedule.runs == "per_day":
        groups = group_selections(config, keys_by_model)
        return [build_daily_schedule(config, None, fleet_job, groups)]
    return [build_daily_schedule(config, model, job) for model, job in jobs_by_model.items()]


def build_daily_schedule(
    config: MonitoringConfig,
    model: str | None,
    job: "UnresolvedAssetJobDefinition",
    groups: list[tuple[str, list[AssetKey]]] | None = None,
) -> ScheduleDefinition:
    """Yesterday's partition (in the configured zone) of ``job``, for ``model`` or every model."""
    settings = config.schedule
    first_day = config.partitions.start_date
    zone = ZoneInfo(settings.timezone)
    tags = model_run_tags(model, "schedule") if model else {TRIGGER_TAG: "schedule"}

    @schedule(
        name=daily_schedule_name(model),
        job=job,
        cron_schedule=settings.cron,
        execution_timezone=settings.timezone,
        default_status=DefaultScheduleStatus.RUNNING
        if settings.autostart
        else DefaultScheduleStatus.STOPPED,
        description=f"Evaluates yesterday's partition of {model or 'every model'}.",
    )
    def daily_schedule(context: ScheduleEvaluationContext):
        now = context.scheduled_execution_time or dt.datetime.now(dt.UTC)
        day = now.astimezone(zone).date() - dt.timedelta(days=1)
        if day < first_day:
            return SkipReason(f"{day} is before the first partition ({first_day})")
        requests = day_requests(model, day, tags, groups)
        name = daily_schedule_name(model)
        missing = [r for r in requests if not launched(context.instance, name, r.run_key)]
        return missing or SkipReason(f"{day} was launched by an earlier tick")

    return daily_schedule


def day_requests(
    model: str | None,
    day: dt.date,
    tags: dict[str, str],
    groups: list[tuple[str, list[AssetKey]]] | None,
) -> list[RunRequest]:
    """A day's run of ``model`` (or of every model), or one run per group of models."""
    if not groups:
        return [
            RunRequest(
                run_key=schedule_run_key(model, day), partition_key=day.isoformat(), tags=tags
            )
        ]
    return [
        RunRequest(
            run_key=schedule_run_key(None, day, group),
            partition_key=day.isoformat(),
            tags={**tags, RUN_GROUP_TAG: group},
            asset_selection=keys,
        )
        for group, keys in groups
    ]


def launched(instance: "DagsterInstance", schedule_name: str, run_key: str | None) -> bool:
    """Whether an earlier tick of the schedule started the run with ``run_key``."""
    tags = {SCHEDULE_NAME_TAG: schedule_name, RUN_KEY_TAG: run_key or ""}
    return bool(instance.get_run_ids(RunsFilter(tags=tags), limit=1))
