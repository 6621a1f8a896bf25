"""The check of a day's estimated quality: the same limits as realized quality, before labels."""

from dagster import AssetCheckSpec, AssetKey, PartitionsDefinition

from monitoring_platform.defs.partitions import partitioned_check_spec
from monitoring_platform.lib.estimation_stage import ESTIMATED_QUALITY


def estimation_check_specs(
    asset_key: AssetKey, partitions: PartitionsDefinition
) -> list[AssetCheckSpec]:
    """The estimate's check, one result per partition."""
    return [
        partitioned_check_spec(
            ESTIMATED_QUALITY,
            asset=asset_key,
            partitions=partitions,
            description="Quality estimated before labels meets the configured quality limits.",
        )
    ]
