"""Per-model estimation asset: the day's quality estimated from its predictions alone."""

from collections.abc import Iterator

from dagster import (
    AssetCheckResult,
    AssetDep,
    AssetExecutionContext,
    AssetsDefinition,
    MaterializeResult,
    PartitionsDefinition,
    asset,
)

from monitoring_platform.config import ModelConfig, MonitoringConfig, TrailingReference
from monitoring_platform.defs.estimation.checks import ESTIMATION_CHECKS
from monitoring_platform.defs.keys import (
    ESTIMATED_PERFORMANCE,
    INFERENCE_LOGS,
    LABELS,
    REFERENCE_WINDOW,
    model_asset_key,
)
from monitoring_platform.defs.partitions import partitioned_check_specs, window_dep
from monitoring_platform.defs.publish import partition_day, publish
from monitoring_platform.defs.resources import MetricStoreResource, StorageResource
from monitoring_platform.lib.estimation_stage import estimated_performance as estimate_day
from monitoring_platform.lib.reference import reference_code_version

GROUP = "estimation"


def _label_deps(model: ModelConfig) -> list[AssetDep]:
    """The labels that can belong to the trailing reference days, up to the evaluated day."""
    reference = model.reference
    if not isinstance(reference, TrailingReference):
        return []  # pinned days: their labels are read from the lake as they are
    return [window_dep(model_asset_key(model.name, LABELS), -reference.trailing_days, 0)]


def build_estimation_assets(
    config: MonitoringConfig, model: ModelConfig, partitions: PartitionsDefinition
) -> list[AssetsDefinition]:
    """The estimated performance asset of one model, when estimation is enabled."""
    if not model.estimation.enabled:
        return []
    key = model_asset_key(model.name, ESTIMATED_PERFORMANCE)

    @asset(
        key=key,
        description="The day's model quality estimated from its predictions, before labels arrive.",
        partitions_def=partitions,
        deps=[
            AssetDep(model_asset_key(model.name, INFERENCE_LOGS)),
            AssetDep(model_asset_key(model.name, REFERENCE_WINDOW)),
            *_label_deps(model),
        ],
        code_version=reference_code_version(model),
        group_name=GROUP,
        kinds={"scikitlearn", "parquet"},
        check_specs=partitioned_check_specs(key, partitions, ESTIMATION_CHECKS),
        metadata={"model": model.name, "task": model.task.value},
    )
    def estimated_performance(
        context: AssetExecutionContext, storage: StorageResource, metric_store: MetricStoreResource
    ) -> Iterator[MaterializeResult | AssetCheckResult]:
        day = partition_day(context)
        result = estimate_day(model, day, storage.lake_store())
        yield from publish(context, metric_store.get(), key, result)

    return [estimated_performance]
