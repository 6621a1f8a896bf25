"""The one partitioning every model shares, and the checks recorded for it.

One partition per UTC day.
"""

from __future__ import annotations

import warnings
from collections.abc import Collection, Mapping
from typing import Any

from dagster import (
    AssetCheckSpec,
    AssetDep,
    AssetKey,
    DailyPartitionsDefinition,
    PartitionsDefinition,
    TimeWindowPartitionMapping,
)

from monitoring_platform.config import MonitoringConfig

# A step no later day reads (a day's drift, its KPI report): it runs after the day's other steps,
# and a command-line backfill may start the model's next day beside it (``lane_launcher``).
PRIORITY_TAG = "dagster/priority"
UNREAD_BY_LATER_DAYS_TAG = "monitoring_platform/unread_by_later_days"
UNREAD_BY_LATER_DAYS = {PRIORITY_TAG: "-1", UNREAD_BY_LATER_DAYS_TAG: "true"}
# A step of a day's ingest (its logs, their validation, its business events): of the days before,
# it reads only what their ingest wrote. It runs before the day's other steps, and a command-line
# backfill may run it beside the end of the model's day before (``lane_launcher``).
INGEST_PHASE_TAG = "monitoring_platform/ingest_phase"
INGEST_PHASE = {PRIORITY_TAG: "1", INGEST_PHASE_TAG: "true"}


def daily_partitions(config: MonitoringConfig) -> DailyPartitionsDefinition:
    """The daily partitions every model's assets share."""
    return DailyPartitionsDefinition(
        start_date=config.partitions.start_date.isoformat(),
        timezone=config.partitions.timezone,
    )


def window_dep(asset_key: AssetKey, start_offset: int, end_offset: int) -> AssetDep:
    """A dependency on the days ``start_offset`` to ``end_offset`` from each partition's day.

    Days before the first partition are left out rather than waited for.
    """
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the option is marked beta; its behaviour is relied on
        mapping = TimeWindowPartitionMapping(
            start_offset=start_offset,
            end_offset=end_offset,
            allow_nonexistent_upstream_partitions=True,
        )
    return AssetDep(asset_key, partition_mapping=mapping)


def partitioned_check_spec(
    name: str,
    *,
    asset: AssetKey,
    partitions: PartitionsDefinition | None,
    description: str,
    **kwargs: Any,
) -> AssetCheckSpec:
    """An asset check whose every result belongs to its asset's partition.

    The UI, the metric store and the alert sensors so hold one status per day. Dagster marks the
    option preview; its behaviour (the evaluation carries the run's partition) is what the
    platform relies on.
    """
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return AssetCheckSpec(
            name, asset=asset, description=description, partitions_def=partitions, **kwargs
        )


def partitioned_check_specs(
    asset_key: AssetKey,
    partitions: PartitionsDefinition | None,
    descriptions: Mapping[str, str],
    *,
    blocking: Collection[str] = (),
) -> list[AssetCheckSpec]:
    """One partitioned check of ``asset_key`` per name in ``descriptions``, in their order.

    The checks named in ``blocking`` stop the asset's downstream steps when they fail.
    """
    return [
        partitioned_check_spec(
            name,
            asset=asset_key,
            partitions=partitions,
            description=description,
            **({"blocking": True} if name in blocking else {}),
        )
        for name, description in descriptions.items()
    ]
