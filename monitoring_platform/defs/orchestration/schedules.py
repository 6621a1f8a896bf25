"""The daily evaluation of yesterday's partition.

``schedule.runs: per_model`` (the default): ``<model>_daily_schedule`` starts one run of
``<model>_monitoring_job`` per model, which the run queue runs side by side (one per model at a
time). ``per_day``: ``daily_schedule`` starts one run of ``monitoring_job`` a day for every model,
so the models share the run's start-up and one dbt build; a model-day stopped by a blocking check
then stops that day's dbt build (the marts, their tests, the business report) for every model.
"""

import datetime as dt
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

from dagster import (
    DefaultScheduleStatus,
    RunRequest,
    ScheduleDefinition,
    ScheduleEvaluationContext,
    SkipReason,
    schedule,
)

from monitoring_platform.config import MonitoringConfig
from monitoring_platform.defs.orchestration.jobs import TRIGGER_TAG, model_run_tags

if TYPE_CHECKING:
    from dagster._core.definitions.unresolved_asset_job_definition import (
        UnresolvedAssetJobDefinition,
    )


DAILY_SCHEDULE = "daily_schedule"


def schedule_run_key(model: str | None, day: dt.date) -> str:
    """The run key of a scheduled run: one run per day (and model, when runs are per model)."""
    return f"{model}:{day.isoformat()}" if model else day.isoformat()


def daily_schedule_name(model: str | None) -> str:
    """The name of a model's daily schedule, or of the one schedule of every model."""
    return f"{model}_daily_schedule" if model else DAILY_SCHEDULE


def build_daily_schedules(
    config: MonitoringConfig,
    fleet_job: "UnresolvedAssetJobDefinition",
    jobs_by_model: dict[str, "UnresolvedAssetJobDefinition"],
) -> list[ScheduleDefinition]:
    """``daily_schedule`` over ``fleet_job``, or one schedule per model over its own job.

    Their runs are the runs the demo and a UI backfill make too, so a job's page holds its whole
    history.
    """
    if config.schedule.runs == "per_day":
        return [build_daily_schedule(config, None, fleet_job)]
    return [build_daily_schedule(config, model, job) for model, job in jobs_by_model.items()]


def build_daily_schedule(
    config: MonitoringConfig, model: str | None, job: "UnresolvedAssetJobDefinition"
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
        return RunRequest(
            run_key=schedule_run_key(model, day),
            partition_key=day.isoformat(),
            tags=tags,
        )

    return daily_schedule
