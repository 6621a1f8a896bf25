"""Checks on each day's ingestion: did logs arrive, and how much broke the record contract."""

from __future__ import annotations

from dagster import AssetCheckSpec, AssetKey, PartitionsDefinition

from monitoring_platform.defs.partitions import partitioned_check_spec, partitioned_check_specs
from monitoring_platform.lib.intake import LOGS_ARRIVED, QUARANTINE_SHARE


def ingestion_check_specs(
    asset_key: AssetKey, partitions: PartitionsDefinition
) -> list[AssetCheckSpec]:
    """The checks of a model's inference logs; a day without records blocks what follows."""
    # Contract breaks block through the validation suite, which explains them record by record.
    return partitioned_check_specs(
        asset_key,
        partitions,
        {
            LOGS_ARRIVED: "The day has log objects with at least one record.",
            QUARANTINE_SHARE: quarantine_share_description("records"),
        },
        blocking={LOGS_ARRIVED},
    )


def quarantine_share_description(noun: str) -> str:
    """What the check of the share of a day's ``noun`` (records, events, labels) quarantined asks.

    Its result is :func:`monitoring_platform.lib.intake.quarantine_share_verdict`.
    """
    return f"The share of {noun} that broke the contract is within its limits."


def quarantine_share_check_spec(
    name: str, noun: str, asset_key: AssetKey, partitions: PartitionsDefinition
) -> AssetCheckSpec:
    """The check of the share of a day's ``noun`` quarantined, one result per partition."""
    return partitioned_check_spec(
        name, asset=asset_key, partitions=partitions, description=quarantine_share_description(noun)
    )
