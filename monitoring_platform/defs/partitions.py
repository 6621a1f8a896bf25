"""The one partitioning every model shares: one partition per UTC day."""

from __future__ import annotations

from dagster import DailyPartitionsDefinition

from monitoring_platform.config import MonitoringConfig


def daily_partitions(config: MonitoringConfig) -> DailyPartitionsDefinition:
    return DailyPartitionsDefinition(
        start_date=config.partitions.start_date.isoformat(),
        timezone=config.partitions.timezone,
    )
