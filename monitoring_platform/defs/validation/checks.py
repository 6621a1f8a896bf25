"""The `expectations_met` check on each model's `inference_logs` partition."""

import datetime as dt
import warnings
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
from dagster import (
    AssetCheckExecutionContext,
    AssetCheckResult,
    AssetChecksDefinition,
    PartitionsDefinition,
    asset_check,
)

from monitoring_platform.config import ModelConfig, MonitoringConfig
from monitoring_platform.defs.keys import INFERENCE_LOGS, model_asset_key
from monitoring_platform.defs.pages import page_publisher
from monitoring_platform.defs.partitions import INGEST_PHASE
from monitoring_platform.defs.publish import partition_day, record_verdict
from monitoring_platform.defs.resources import MetricStoreResource, StorageResource
from monitoring_platform.lib import lake
from monitoring_platform.lib.memory import release_unused_memory
from monitoring_platform.lib.reference import reference_dates
from monitoring_platform.lib.storage import ObjectStore
from monitoring_platform.lib.validation import load_expectations_file
from monitoring_platform.lib.validation_stage import (
    EXPECTATIONS_MET,
    VALIDATION_METRICS,
    validation_stage,
)


def build_validation_checks(
    config: MonitoringConfig, model: ModelConfig, partitions: PartitionsDefinition
) -> list[AssetChecksDefinition]:
    """The validation suite of one model's inference logs, as a blocking check per day."""
    logs_key = model_asset_key(model.name, INFERENCE_LOGS)
    extra = []
    if model.validation.expectations_file:
        path = Path(model.validation.expectations_file)
        extra = load_expectations_file(path if path.is_absolute() else config.base_dir / path)

    @_partitioned_check(
        asset=logs_key,
        name=EXPECTATIONS_MET,
        description="Great Expectations suite of the day's accepted rows; contract failures block.",
        blocking=True,
        partitions_def=partitions,
        op_tags=INGEST_PHASE,
    )
    def expectations_met(
        context: AssetCheckExecutionContext,
        storage: StorageResource,
        metric_store: MetricStoreResource,
    ) -> AssetCheckResult:
        day = partition_day(context)
        release_unused_memory()  # start from what ingestion freed, not its peak
        accepted, reasons, known, summary = _read_day(storage.lake_store(), model, day)
        publish_page = page_publisher(storage, model.name, day)
        stage = validation_stage(model, day, accepted, reasons, known, extra, summary, publish_page)
        store = metric_store.get()
        store.replace_metrics(
            model.name, day, VALIDATION_METRICS, stage.metrics, context.run.run_id
        )
        return record_verdict(context, store, logs_key, stage.verdicts[0], day)

    return [expectations_met]


def _partitioned_check(**kwargs):
    """``@asset_check`` on a partitioned asset; the option is marked preview, its use is deliberate."""

    def decorate(fn):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return asset_check(**kwargs)(fn)

    return decorate


def _read_day(
    lake_store: ObjectStore, model: ModelConfig, day: dt.date
) -> tuple[
    pq.ParquetFile | None, pa.ChunkedArray | None, dict[str, set[str]], dict[str, Any] | None
]:
    """What the validation of a day reads from the lake.

    The accepted rows, the quarantined records' reasons, the categories seen in the reference
    window and the summary the ingestion left beside the quarantine.
    """
    accepted = lake.open_partition(lake_store, lake.ACCEPTED, model.name, day)
    quarantine = lake.read_partition(
        lake_store, lake.QUARANTINE, model.name, day, columns=["reason"]
    )
    known = lake.distinct_values(
        lake_store,
        lake.ACCEPTED,
        model.name,
        reference_dates(model, day),
        model.categorical_features,
    )
    summary = lake.read_manifest(lake_store, lake.QUARANTINE, model.name, day)
    reasons = quarantine.column("reason") if quarantine is not None else None
    return accepted, reasons, known, summary
