"""The weekly digest's job and schedule: every Monday, the week that just ended."""

from dagster import (
    AssetSelection,
    DefaultScheduleStatus,
    build_schedule_from_partitioned_job,
    define_asset_job,
)

from monitoring_platform.config import MonitoringConfig
from monitoring_platform.defs.keys import WEEKLY_DIGEST_KEY
from monitoring_platform.defs.reports.assets import weekly_partitions

WEEKLY_DIGEST_JOB = "weekly_digest_job"


def build_digest_job_and_schedule(config: MonitoringConfig):
    """The weekly digest's job, and its Monday schedule."""
    job = define_asset_job(
        WEEKLY_DIGEST_JOB,
        selection=AssetSelection.assets(WEEKLY_DIGEST_KEY),
        partitions_def=weekly_partitions(config),
        description="Writes (and, when configured, e-mails) the weekly stakeholder digest.",
    )
    schedule = build_schedule_from_partitioned_job(
        job,
        name="weekly_digest_schedule",
        hour_of_day=7,
        default_status=DefaultScheduleStatus.RUNNING
        if config.schedule.autostart
        else DefaultScheduleStatus.STOPPED,
    )
    return job, schedule
