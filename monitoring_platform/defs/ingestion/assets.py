"""Per-model ingestion assets: the log objects and the day's accepted inference logs."""

import datetime as dt
from collections.abc import Iterator

from dagster import (
    AssetCheckResult,
    AssetExecutionContext,
    AssetKey,
    AssetsDefinition,
    AssetSpec,
    MaterializeResult,
    PartitionsDefinition,
    asset,
)

from monitoring_platform.config import ModelConfig, MonitoringConfig
from monitoring_platform.defs.ingestion.checks import ingestion_check_specs
from monitoring_platform.defs.keys import INFERENCE_LOGS, LOG_OBJECTS, model_asset_key
from monitoring_platform.defs.partitions import INGEST_PHASE
from monitoring_platform.defs.publish import partition_day, publish
from monitoring_platform.defs.resources import MetricStoreResource, StorageResource
from monitoring_platform.lib import lake
from monitoring_platform.lib.ingest import IngestResult, ingest_partition
from monitoring_platform.lib.intake import inference_logs_stage, ingestion_summary
from monitoring_platform.lib.storage import ObjectStore
from monitoring_platform.lib.warm import import_in_background

GROUP = "ingestion"


def inference_logs_key(model: ModelConfig) -> AssetKey:
    """The key of a model's accepted inference logs (see ``defs/keys.py``)."""
    return model_asset_key(model.name, INFERENCE_LOGS)


def build_ingestion_assets(
    config: MonitoringConfig, model: ModelConfig, partitions: PartitionsDefinition
) -> list[AssetSpec | AssetsDefinition]:
    """One model's log objects (external) and the accepted inference logs made of them."""
    location = config.logs_root(model)
    log_objects = AssetSpec(
        key=model_asset_key(model.name, LOG_OBJECTS),
        description=f"Inference log objects the web service writes for {model.name}.",
        group_name=GROUP,
        partitions_def=partitions,
        kinds={"s3" if location.startswith("s3://") else "file"},
        metadata={"location": location, "layout": f"{model.name}/dt=YYYY-MM-DD/*"},
    )
    key = model_asset_key(model.name, INFERENCE_LOGS)

    @asset(
        key=key,
        description="The day's inference-log records that met the contract; the rest are quarantined.",
        partitions_def=partitions,
        deps=[log_objects.key],
        group_name=GROUP,
        kinds={"duckdb", "parquet"},
        check_specs=ingestion_check_specs(key, partitions),
        metadata={"model": model.name, "task": model.task.value},
        op_tags=INGEST_PHASE,
    )
    def inference_logs(
        context: AssetExecutionContext, storage: StorageResource, metric_store: MetricStoreResource
    ) -> Iterator[MaterializeResult | AssetCheckResult]:
        day = partition_day(context)
        lake_store = storage.lake_store()
        result, accepted_key, quarantine_key = _ingest(
            storage.store(location), lake_store, model, day
        )
        # What validation shows of the ingestion travels with the quarantine it describes.
        lake.write_manifest(lake_store, lake.QUARANTINE, model.name, day, ingestion_summary(result))
        if not result.objects:
            context.log.warning(f"No log objects for {model.name} on {day} under {location}")
        uris = lake_store.uri(accepted_key), lake_store.uri(quarantine_key)
        stage = inference_logs_stage(model, day, result, location, *uris)
        yield from publish(context, metric_store.get(), key, stage)

    return [log_objects, inference_logs]


def _ingest(
    raw_store: ObjectStore, lake_store: ObjectStore, model: ModelConfig, day: dt.date
) -> tuple[IngestResult, str, str]:
    """Ingest the day's log objects into the lake; the result and the keys of its two partitions.

    The modules of the steps that follow in the process are imported meanwhile in a thread.
    """
    warming = import_in_background()
    try:
        return lake.ingest_into_lake(
            lambda workdir: ingest_partition(raw_store, model, day.isoformat(), workdir),
            lake_store,
            lake.ACCEPTED,
            lake.QUARANTINE,
            model.name,
            day.isoformat(),
        )
    finally:
        if warming is not None:
            warming.join()  # later steps import nothing while the thread still does
