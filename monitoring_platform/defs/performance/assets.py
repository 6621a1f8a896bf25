"""Per-model performance assets: labels per arrival day, quality per prediction day."""

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

from monitoring_platform.config import ModelConfig, MonitoringConfig
from monitoring_platform.defs.ingestion.checks import quarantine_share_check_spec
from monitoring_platform.defs.keys import (
    ESTIMATED_PERFORMANCE,
    INFERENCE_LOGS,
    LABELS,
    MODEL_PERFORMANCE_REPORT,
    model_asset_key,
)
from monitoring_platform.defs.pages import page_publisher
from monitoring_platform.defs.partitions import partitioned_check_specs, window_dep
from monitoring_platform.defs.performance.checks import PERFORMANCE_CHECKS
from monitoring_platform.defs.publish import partition_day, publish
from monitoring_platform.defs.resources import MetricStoreResource, StorageResource
from monitoring_platform.lib import performance_stage
from monitoring_platform.lib.intake import LABEL_QUARANTINE_SHARE

GROUP = "performance"


def _estimate_deps(model: ModelConfig) -> list[AssetDep]:
    """The day's estimate, when the model has one: the performance step compares against it."""
    if not model.estimation.enabled:
        return []
    return [AssetDep(model_asset_key(model.name, ESTIMATED_PERFORMANCE))]


def build_performance_assets(
    config: MonitoringConfig, model: ModelConfig, partitions: PartitionsDefinition
) -> list[AssetsDefinition]:
    """The labels and model performance report assets of one model."""
    location = config.labels_root(model)
    key_labels = model_asset_key(model.name, LABELS)
    key = model_asset_key(model.name, MODEL_PERFORMANCE_REPORT)

    @asset(
        key=key_labels,
        description="Ground-truth labels that arrived on the day; contract breaks are quarantined.",
        partitions_def=partitions,
        group_name=GROUP,
        kinds={"duckdb", "parquet"},
        check_specs=[
            quarantine_share_check_spec(LABEL_QUARANTINE_SHARE, "labels", key_labels, partitions)
        ],
        metadata={"model": model.name, "location": location},
    )
    def labels(
        context: AssetExecutionContext, storage: StorageResource, metric_store: MetricStoreResource
    ) -> Iterator[MaterializeResult | AssetCheckResult]:
        day = partition_day(context)
        source = storage.store(location)
        result = performance_stage.labels(model, day, source, storage.lake_store())
        yield from publish(context, metric_store.get(), key_labels, result)

    @asset(
        key=key,
        description="Quality of the day's predictions against every label received so far.",
        partitions_def=partitions,
        deps=[
            AssetDep(model_asset_key(model.name, INFERENCE_LOGS)),
            window_dep(key_labels, 0, model.labels.max_delay_days),
            *_estimate_deps(model),
        ],
        group_name=GROUP,
        kinds={"evidently", "html"},
        check_specs=partitioned_check_specs(key, partitions, PERFORMANCE_CHECKS),
        metadata={"model": model.name, "task": model.task.value},
    )
    def model_performance_report(
        context: AssetExecutionContext, storage: StorageResource, metric_store: MetricStoreResource
    ) -> Iterator[MaterializeResult | AssetCheckResult]:
        day = partition_day(context)
        store = metric_store.get()
        pages = page_publisher(storage, model.name, day)
        result = performance_stage.model_performance(model, day, storage.lake_store(), store, pages)
        yield from publish(context, store, key, result)

    return [labels, model_performance_report]
