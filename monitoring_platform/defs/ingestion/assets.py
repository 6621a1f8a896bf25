"""Per-model ingestion assets: the log objects and the day's accepted inference logs."""

import datetime as dt

from dagster import (
    AssetExecutionContext,
    AssetKey,
    AssetsDefinition,
    AssetSpec,
    MaterializeResult,
    MetadataValue,
    PartitionsDefinition,
    asset,
)

from monitoring_platform.config import ModelConfig, MonitoringConfig
from monitoring_platform.defs.ingestion.checks import ingestion_check_results, ingestion_check_specs
from monitoring_platform.defs.resources import MetricStoreResource, StorageResource
from monitoring_platform.lib import lake
from monitoring_platform.lib.ingest import ingest_partition
from monitoring_platform.lib.metric_store import Metric
from monitoring_platform.lib.warm import import_in_background

GROUP = "ingestion"


def log_objects_key(model: ModelConfig) -> AssetKey:
    return AssetKey([model.name, "log_objects"])


def inference_logs_key(model: ModelConfig) -> AssetKey:
    return AssetKey([model.name, "inference_logs"])


def build_ingestion_assets(
    config: MonitoringConfig, model: ModelConfig, partitions: PartitionsDefinition
) -> list[AssetSpec | AssetsDefinition]:
    location = config.logs_root(model)
    log_objects = AssetSpec(
        key=log_objects_key(model),
        description=f"Inference log objects the web service writes for {model.name}.",
        group_name=GROUP,
        partitions_def=partitions,
        kinds={"s3" if location.startswith("s3://") else "file"},
        metadata={"location": location, "layout": f"{model.name}/dt=YYYY-MM-DD/*"},
    )
    key = inference_logs_key(model)

    @asset(
        key=key,
        description="The day's inference-log records that met the contract; the rest are quarantined.",
        partitions_def=partitions,
        deps=[log_objects.key],
        group_name=GROUP,
        kinds={"duckdb", "parquet"},
        check_specs=ingestion_check_specs(key, partitions),
        metadata={"model": model.name, "task": model.task.value},
    )
    def inference_logs(
        context: AssetExecutionContext, storage: StorageResource, metric_store: MetricStoreResource
    ):
        date = context.partition_key
        warming = import_in_background()  # validation and drift follow in this process
        raw_store = storage.store(location)
        lake_store = storage.lake_store()
        try:
            result, accepted_key, quarantine_key = lake.ingest_into_lake(
                lambda workdir: ingest_partition(raw_store, model, date, workdir),
                lake_store,
                lake.ACCEPTED,
                lake.QUARANTINE,
                model.name,
                date,
            )
        finally:
            if warming is not None:
                warming.join()  # later steps import nothing while the thread still does
        store = metric_store.get()
        store.replace_metrics(
            model.name,
            dt.date.fromisoformat(date),
            key.path[-1],
            [
                Metric("objects", len(result.objects)),
                Metric("objects_skipped", len(result.skipped_objects)),
                Metric("bytes_read", result.bytes_read),
                Metric("rows_in", result.rows_in),
                Metric("rows_accepted", result.accepted),
                Metric("rows_quarantined", result.quarantined),
                Metric("quarantine_share", result.quarantine_share),
                *(
                    Metric("rows_quarantined_by_reason", n, dims={"reason": reason[:200]})
                    for reason, n in result.reasons.items()
                ),
            ],
            run_id=context.run.run_id,
        )
        if not result.objects:
            context.log.warning(f"No log objects for {model.name} on {date} under {location}")
        yield MaterializeResult(
            metadata={
                "status": "ok" if result.rows_in else "no_data",
                "location": location,
                "objects_read": len(result.objects),
                "objects_skipped": MetadataValue.json(result.skipped_objects),
                "bytes_read": result.bytes_read,
                "rows_in": result.rows_in,
                "rows_accepted": result.accepted,
                "rows_quarantined": result.quarantined,
                "quarantine_reasons": MetadataValue.json(result.reasons),
                "accepted_rows": MetadataValue.path(lake_store.uri(accepted_key)),
                "quarantine": MetadataValue.path(lake_store.uri(quarantine_key)),
                "dagster/row_count": result.accepted,
            }
        )
        yield from ingestion_check_results(context, store, key, model, result, location)

    return [log_objects, inference_logs]
