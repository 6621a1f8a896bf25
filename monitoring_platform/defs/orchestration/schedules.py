"""``<model>_daily_schedule``: yesterday's partition of each model, one run of its job per day."""

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
from monitoring_platform.defs.orchestration.jobs import model_run_tags

if TYPE_CHECKING:
    from dagster._core.definitions.unresolved_asset_job_definition import (
        UnresolvedAssetJobDefinition,
    )


def schedule_run_key(model: str, day: dt.date) -> str:
    """The run key of a model-day's scheduled run: one run per model and day."""
    return f"{model}:{day.isoformat()}"


def daily_schedule_name(model: str) -> str:
    """The name of a model's daily schedule."""
    return f"{model}_daily_schedule"


def build_daily_schedules(
    config: MonitoringConfig, jobs_by_model: dict[str, "UnresolvedAssetJobDefinition"]
) -> list[ScheduleDefinition]:
    """One schedule per model over ``<model>_monitoring_job``.

    Its runs are the runs the demo and a UI backfill make too, so a job's page holds its whole
    history.
    """
    return [build_daily_schedule(config, model, job) for model, job in jobs_by_model.items()]


def build_daily_schedule(
    config: MonitoringConfig, model: str, job: "UnresolvedAssetJobDefinition"
) -> ScheduleDefinition:
    """``<model>_daily_schedule``: yesterday's partition (in the configured zone) of ``job``."""
    settings = config.schedule
    first_day = config.partitions.start_date
    zone = ZoneInfo(settings.timezone)

    @schedule(
        name=daily_schedule_name(model),
        job=job,
        cron_schedule=settings.cron,
        execution_timezone=settings.timezone,
        default_status=DefaultScheduleStatus.RUNNING
        if settings.autostart
        else DefaultScheduleStatus.STOPPED,
        description=f"Evaluates yesterday's partition of {model}.",
    )
    def daily_schedule(context: ScheduleEvaluationContext):
        now = context.scheduled_execution_time or dt.datetime.now(dt.UTC)
        day = now.astimezone(zone).date() - dt.timedelta(days=1)
        if day < first_day:
            return SkipReason(f"{day} is before the first partition ({first_day})")
        return RunRequest(
            run_key=schedule_run_key(model, day),
            partition_key=day.isoformat(),
            tags=model_run_tags(model, "schedule"),
        )

    return daily_schedule
