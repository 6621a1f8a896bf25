"""The checks of a prediction day's quality: the configured limits, and how much truth arrived."""

from dagster import AssetCheckSpec, AssetKey, PartitionsDefinition

from monitoring_platform.defs.partitions import partitioned_check_spec
from monitoring_platform.lib.performance_stage import COVERAGE, QUALITY


def performance_check_specs(
    asset_key: AssetKey, partitions: PartitionsDefinition
) -> list[AssetCheckSpec]:
    """The performance report's checks, one result per partition."""
    return [
        partitioned_check_spec(
            QUALITY,
            asset=asset_key,
            partitions=partitions,
            description="Quality metrics meet their configured limits.",
        ),
        partitioned_check_spec(
            COVERAGE,
            asset=asset_key,
            partitions=partitions,
            description="Enough predictions are labelled once the label window has closed.",
        ),
    ]
