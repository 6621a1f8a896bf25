"""The checks of a day's drift: drifted features, the prediction, missing values, the reference."""

from __future__ import annotations

from dagster import AssetCheckSpec, AssetKey, PartitionsDefinition

from monitoring_platform.defs.partitions import partitioned_check_spec
from monitoring_platform.lib.drift_stage import DATASET_DRIFT, MISSING_SHARE, PREDICTION_DRIFT
from monitoring_platform.lib.reference import REFERENCE_COMPLETE

_DESCRIPTIONS = {
    DATASET_DRIFT: "The share of drifted features stays below its WARN and ERROR levels.",
    PREDICTION_DRIFT: "The prediction's distribution has not drifted from the reference window.",
    MISSING_SHARE: "Each feature's share of missing values stays within its reference range.",
    REFERENCE_COMPLETE: "Every day of the reference window has been ingested.",
}


def drift_check_specs(
    asset_key: AssetKey, partitions: PartitionsDefinition
) -> list[AssetCheckSpec]:
    """The drift report's checks, one result per partition."""
    return [
        partitioned_check_spec(name, asset=asset_key, partitions=partitions, description=text)
        for name, text in _DESCRIPTIONS.items()
    ]
