"""Per-model estimation asset: the day's quality estimated from its predictions alone."""

import datetime as dt
import warnings

from dagster import (
    AssetDep,
    AssetExecutionContext,
    AssetKey,
    AssetsDefinition,
    MaterializeResult,
    MetadataValue,
    PartitionsDefinition,
    TimeWindowPartitionMapping,
    asset,
)

from monitoring_platform.config import ModelConfig, MonitoringConfig, TrailingReference
from monitoring_platform.defs.keys import REFERENCE_WINDOW, model_asset_key
from monitoring_platform.defs.estimation.checks import (
    estimation_check_results,
    estimation_check_specs,
)
from monitoring_platform.defs.estimation.realized import ASSET
from monitoring_platform.defs.ingestion.assets import inference_logs_key
from monitoring_platform.defs.performance.assets import labels_key
from monitoring_platform.defs.resources import MetricStoreResource, StorageResource
from monitoring_platform.lib import estimation, lake
from monitoring_platform.lib.reference import reference_code_version, reference_dates
from monitoring_platform.lib.metric_store import Metric

GROUP = "estimation"


def estimated_performance_key(model: ModelConfig) -> AssetKey:
    return AssetKey([model.name, ASSET])


def _label_deps(model: ModelConfig) -> list[AssetDep]:
    """The labels that can belong to the trailing reference days, up to the evaluated day."""
    reference = model.reference
    if not isinstance(reference, TrailingReference):
        return []  # pinned days: their labels are read from the lake as they are
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the option is marked beta; its behaviour is relied on
        mapping = TimeWindowPartitionMapping(
            start_offset=-reference.trailing_days,
            end_offset=0,
            allow_nonexistent_upstream_partitions=True,
        )
    return [AssetDep(labels_key(model), partition_mapping=mapping)]


def estimate_metrics(result: estimation.EstimationResult) -> list[Metric]:
    """The metric-store rows of an estimate: each metric with its band, overall and per version."""
    out = [
        Metric("reference_labeled", result.reference_labeled),
        Metric("calibration_error", result.calibration_error),
        Metric("estimated", 1.0 if result.estimated else 0.0, text=(result.reason or "")[:256]),
    ]
    for version, part in [(None, result.overall), *result.by_version.items()]:
        dims = {"model_version": version} if version is not None else None
        if version is not None:
            out.append(
                Metric("estimated", 1.0 if part.estimated else 0.0, dims, (part.reason or "")[:256])
            )
        for name, metric in part.metrics.items():
            out += [
                Metric(name, metric.value, dims),
                Metric(f"{name}_low", metric.low, dims),
                Metric(f"{name}_high", metric.high, dims),
            ]
    return out


def build_estimation_assets(
    config: MonitoringConfig, model: ModelConfig, partitions: PartitionsDefinition
) -> list[AssetsDefinition]:
    if not model.estimation.enabled:
        return []
    key = estimated_performance_key(model)

    @asset(
        key=key,
        description="The day's model quality estimated from its predictions, before labels arrive.",
        partitions_def=partitions,
        deps=[
            AssetDep(inference_logs_key(model)),
            AssetDep(model_asset_key(model.name, REFERENCE_WINDOW)),
            *_label_deps(model),
        ],
        code_version=reference_code_version(model),
        group_name=GROUP,
        kinds={"scikitlearn", "parquet"},
        check_specs=estimation_check_specs(key, partitions),
        metadata={"model": model.name, "task": model.task.value},
    )
    def estimated_performance(
        context: AssetExecutionContext, storage: StorageResource, metric_store: MetricStoreResource
    ):
        date = dt.date.fromisoformat(context.partition_key)
        lake_store = storage.lake_store()
        store = metric_store.get()
        manifest = lake.read_manifest(lake_store, lake.REFERENCE, model.name, date)
        days = manifest["days"] if manifest else reference_dates(model, date)
        reference, labelled_per_day = estimation.read_labelled_reference(
            lake_store, model, days, until=date
        )
        day = estimation.read_day(lake_store, model, date)
        result = estimation.estimate(model, reference, day)
        written = estimation.write_estimates(lake_store, model, date, result)
        store.replace_metrics(
            model.name, date, ASSET, estimate_metrics(result), run_id=context.run.run_id
        )
        yield MaterializeResult(
            metadata={
                "status": "estimated" if result.estimated else "not_estimated",
                **({"reason": result.reason} if result.reason else {}),
                "method": result.method,
                "rows": result.overall.rows,
                "reference_days": MetadataValue.json(labelled_per_day),
                "reference_labeled": result.reference_labeled,
                **(
                    {"calibration_error": round(result.calibration_error, 6)}
                    if result.calibration_error is not None
                    else {}
                ),
                **{name: round(m.value, 6) for name, m in result.overall.metrics.items()},
                "bands": MetadataValue.json(
                    {n: [m.low, m.high] for n, m in result.overall.metrics.items()}
                ),
                "by_model_version": MetadataValue.json(
                    {
                        v: {n: m.value for n, m in e.metrics.items()} or {"reason": e.reason}
                        for v, e in result.by_version.items()
                    }
                ),
                "estimates": MetadataValue.path(lake_store.uri(written)),
            }
        )
        yield from estimation_check_results(context, store, key, model, result)

    return [estimated_performance]
