"""Per-model drift assets: the reference window of each day, and its data drift report."""

from collections.abc import Iterator

from dagster import (
    AssetCheckResult,
    AssetDep,
    AssetExecutionContext,
    AssetKey,
    AssetsDefinition,
    MaterializeResult,
    PartitionsDefinition,
    asset,
)

from monitoring_platform.config import ModelConfig, MonitoringConfig, TrailingReference
from monitoring_platform.defs.drift.checks import DRIFT_CHECKS
from monitoring_platform.defs.keys import (
    DATA_DRIFT_REPORT,
    INFERENCE_LOGS,
    REFERENCE_WINDOW,
    model_asset_key,
)
from monitoring_platform.defs.pages import page_publisher
from monitoring_platform.defs.partitions import (
    UNREAD_BY_LATER_DAYS,
    partitioned_check_specs,
    window_dep,
)
from monitoring_platform.defs.publish import partition_day, publish
from monitoring_platform.defs.resources import MetricStoreResource, StorageResource
from monitoring_platform.lib import reference
from monitoring_platform.lib.drift_stage import data_drift

GROUP = "drift"


def data_drift_report_key(model: ModelConfig) -> AssetKey:
    """The key of a model's data drift report (see ``defs/keys.py``)."""
    return model_asset_key(model.name, DATA_DRIFT_REPORT)


def _reference_deps(model: ModelConfig) -> list[AssetDep]:
    reference = model.reference
    if not isinstance(reference, TrailingReference):
        return []  # pinned days: the window is the same for every partition
    return [window_dep(model_asset_key(model.name, INFERENCE_LOGS), -reference.trailing_days, -1)]


def build_drift_assets(
    config: MonitoringConfig, model: ModelConfig, partitions: PartitionsDefinition
) -> list[AssetsDefinition]:
    """The reference window and data drift report assets of one model."""
    key = model_asset_key(model.name, DATA_DRIFT_REPORT)
    ref_key = model_asset_key(model.name, REFERENCE_WINDOW)
    described = {"model": model.name, "reference": model.reference.model_dump(mode="json")}

    @asset(
        key=ref_key,
        description="The reference days for evaluating the day, and how many rows each holds.",
        partitions_def=partitions,
        deps=_reference_deps(model),
        group_name=GROUP,
        kinds={"parquet"},
        code_version=reference.reference_code_version(model),
        metadata=described,
        op_tags=UNREAD_BY_LATER_DAYS,
    )
    def reference_window(
        context: AssetExecutionContext, storage: StorageResource, metric_store: MetricStoreResource
    ) -> Iterator[MaterializeResult | AssetCheckResult]:
        day = partition_day(context)
        result = reference.reference_window(model, day, storage.lake_store())
        yield from publish(context, metric_store.get(), ref_key, result)

    @asset(
        key=key,
        description="Evidently drift of each feature and of the prediction against the reference window.",
        partitions_def=partitions,
        deps=[AssetDep(model_asset_key(model.name, INFERENCE_LOGS)), AssetDep(ref_key)],
        # The report is computed from the configured window: a new window makes it stale too.
        code_version=reference.reference_code_version(model),
        group_name=GROUP,
        kinds={"evidently", "html"},
        check_specs=partitioned_check_specs(key, partitions, DRIFT_CHECKS),
        metadata=described,
        op_tags=UNREAD_BY_LATER_DAYS,
    )
    def data_drift_report(
        context: AssetExecutionContext, storage: StorageResource, metric_store: MetricStoreResource
    ) -> Iterator[MaterializeResult | AssetCheckResult]:
        day = partition_day(context)
        pages = page_publisher(storage, model.name, day)
        result = data_drift(model, day, storage.lake_store(), pages)
        yield from publish(context, metric_store.get(), key, result)

    return [reference_window, data_drift_report]
