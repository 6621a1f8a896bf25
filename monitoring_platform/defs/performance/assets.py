"""Per-model performance assets: labels per arrival day, quality per prediction day."""

import datetime as dt
import warnings
from importlib.metadata import version

import pandas as pd
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

from monitoring_platform.config import ModelConfig, MonitoringConfig
from monitoring_platform.defs.estimation.realized import estimate_deps, realized_against_estimate
from monitoring_platform.defs.ingestion.assets import inference_logs_key
from monitoring_platform.defs.performance.checks import (
    performance_check_results,
    performance_check_specs,
)
from monitoring_platform.defs.resources import MetricStoreResource, StorageResource
from monitoring_platform.lib import labels as labels_lib
from monitoring_platform.lib import lake
from monitoring_platform.lib.reference import reference_dates
from monitoring_platform.lib.metric_store import Metric
from monitoring_platform.lib.performance import evaluate, join_labels, labelled_rows, render_report
from monitoring_platform.lib.reports import MODEL_PERFORMANCE, publish_page

GROUP = "performance"


def labels_key(model: ModelConfig) -> AssetKey:
    return AssetKey([model.name, "labels"])


def model_performance_report_key(model: ModelConfig) -> AssetKey:
    return AssetKey([model.name, "model_performance_report"])


def label_days(model: ModelConfig, prediction_day: dt.date) -> list[dt.date]:
    """The arrival days whose labels can belong to ``prediction_day``'s predictions."""
    return [prediction_day + dt.timedelta(days=n) for n in range(model.labels.max_delay_days + 1)]


def _labels_dep(model: ModelConfig) -> AssetDep:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the option is marked beta; its behaviour is relied on
        mapping = TimeWindowPartitionMapping(
            start_offset=0,
            end_offset=model.labels.max_delay_days,
            allow_nonexistent_upstream_partitions=True,
        )
    return AssetDep(labels_key(model), partition_mapping=mapping)


def build_performance_assets(
    config: MonitoringConfig, model: ModelConfig, partitions: PartitionsDefinition
) -> list[AssetsDefinition]:
    location = config.labels_root(model)
    key_labels = labels_key(model)

    @asset(
        key=key_labels,
        description="Ground-truth labels that arrived on the day; contract breaks are quarantined.",
        partitions_def=partitions,
        group_name=GROUP,
        kinds={"duckdb", "parquet"},
        metadata={"model": model.name, "location": location},
    )
    def labels(
        context: AssetExecutionContext, storage: StorageResource, metric_store: MetricStoreResource
    ):
        date = context.partition_key
        lake_store = storage.lake_store()
        result, accepted, _quarantine = lake.ingest_into_lake(
            lambda workdir: labels_lib.ingest_labels(storage.store(location), model, date, workdir),
            lake_store,
            labels_lib.ACCEPTED,
            labels_lib.QUARANTINE,
            model.name,
            date,
        )
        metric_store.get().replace_metrics(
            model.name,
            dt.date.fromisoformat(date),
            key_labels.path[-1],
            [
                Metric("labels_in", result.rows_in),
                Metric("labels_accepted", result.accepted),
                Metric("labels_quarantined", result.quarantined),
            ],
            run_id=context.run.run_id,
        )
        return MaterializeResult(
            metadata={
                "objects_read": len(result.objects),
                "rows_in": result.rows_in,
                "rows_accepted": result.accepted,
                "rows_quarantined": result.quarantined,
                "quarantine_reasons": MetadataValue.json(result.reasons),
                "labels": MetadataValue.path(lake_store.uri(accepted)),
                "dagster/row_count": result.accepted,
            }
        )

    key = model_performance_report_key(model)

    @asset(
        key=key,
        description="Quality of the day's predictions against every label received so far.",
        partitions_def=partitions,
        deps=[AssetDep(inference_logs_key(model)), _labels_dep(model), *estimate_deps(model)],
        group_name=GROUP,
        kinds={"evidently", "html"},
        check_specs=performance_check_specs(key, partitions),
        metadata={"model": model.name, "task": model.task.value},
    )
    def model_performance_report(
        context: AssetExecutionContext, storage: StorageResource, metric_store: MetricStoreResource
    ):
        date = dt.date.fromisoformat(context.partition_key)
        lake_store = storage.lake_store()
        store = metric_store.get()
        predictions = lake.read_partition(
            lake_store,
            lake.ACCEPTED,
            model.name,
            date,
            ["request_id", "prediction", "model_version"],
        )
        window = label_days(model, date)
        received, found, missing = lake.read_partitions(
            lake_store,
            labels_lib.ACCEPTED,
            model.name,
            window,
            ["request_id", "label", "labeled_at"],
        )
        prediction_frame = (
            predictions.to_pandas()
            if predictions is not None
            else pd.DataFrame(columns=["request_id", "prediction", "model_version"])
        )
        label_frame = (
            received.to_pandas()
            if received is not None
            else pd.DataFrame(columns=["request_id", "label", "labeled_at"])
        )
        result = evaluate(
            model,
            prediction_frame,
            label_frame,
            render_html=False,
            baseline=_reference_quality(lake_store, model, date),
        )
        gaps, estimate_section = realized_against_estimate(lake_store, store, model, date, result)
        labelled = labelled_rows(join_labels(prediction_frame, label_frame))
        page = render_report(
            model, labelled, result, date, [estimate_section] if estimate_section else []
        )
        reports = storage.reports_store()
        html_key = publish_page(reports, model.name, date, MODEL_PERFORMANCE, page)
        link = storage.report_link(reports, html_key)
        metrics = [
            *(Metric(f"baseline_{name}", value) for name, value in result.baseline.items()),
            *(
                Metric(f"{name}_{end}", value)
                for name, interval in result.intervals.items()
                for end, value in zip(("low", "high"), interval, strict=True)
            ),
            Metric("predictions_scored", result.predictions),
            Metric("labeled", result.labeled),
            Metric("label_coverage", result.coverage),
            *(Metric(name, value) for name, value in result.metrics.items()),
            *gaps,
        ]
        for model_version, values in result.by_version.items():
            metrics += [
                Metric(name, value, dims={"model_version": model_version})
                for name, value in values.items()
            ]
        store.replace_metrics(model.name, date, key.path[-1], metrics, run_id=context.run.run_id)
        window_closed = not missing
        yield MaterializeResult(
            metadata={
                "report": MetadataValue.url(link),
                "predictions_scored": result.predictions,
                "labeled": result.labeled,
                "label_coverage": result.coverage,
                **{name: value for name, value in result.metrics.items()},
                "intervals": MetadataValue.json(
                    {k: [round(lo, 6), round(hi, 6)] for k, (lo, hi) in result.intervals.items()}
                ),
                "baseline": MetadataValue.json(result.baseline),
                "by_model_version": MetadataValue.json(result.by_version),
                "label_days_received": MetadataValue.json(found),
                "label_days_pending": MetadataValue.json(missing),
                "evidently_version": version("evidently"),
            }
        )
        yield from performance_check_results(
            context, store, key, model, result, window_closed, link
        )

    return [labels, model_performance_report]


def _reference_quality(lake_store, model: ModelConfig, date: dt.date) -> dict[str, float]:
    """The quality of the reference window's predictions, from the labels received so far."""
    days = reference_dates(model, date)
    predictions, _, _ = lake.read_partitions(
        lake_store, lake.ACCEPTED, model.name, days, ["request_id", "prediction", "model_version"]
    )
    if predictions is None:
        return {}
    arrivals = sorted({d for day in days for d in label_days(model, day)})
    received, _, _ = lake.read_partitions(
        lake_store, labels_lib.ACCEPTED, model.name, arrivals, ["request_id", "label", "labeled_at"]
    )
    if received is None:
        return {}
    result = evaluate(model, predictions.to_pandas(), received.to_pandas(), render_html=False)
    return result.metrics if result.labeled >= model.thresholds.quality.min_labeled_rows else {}
