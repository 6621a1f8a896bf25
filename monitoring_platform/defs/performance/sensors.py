"""`late_labels_sensor`: when labels arrive, recompute the quality of the days they belong to."""

import datetime as dt
import json

from dagster import (
    AssetRecordsFilter,
    AssetSelection,
    RunRequest,
    SensorDefinition,
    SensorEvaluationContext,
    SkipReason,
    sensor,
)

from monitoring_platform.config import ModelConfig, MonitoringConfig
from monitoring_platform.defs.keys import (
    INFERENCE_LOGS,
    LABELS,
    MODEL_PERFORMANCE_REPORT,
    model_asset_key,
)
from monitoring_platform.defs.orchestration.jobs import model_run_tags
from monitoring_platform.defs.publish import partition_day

BATCH = 200


def affected_prediction_days(arrival: dt.date, max_delay_days: int) -> list[dt.date]:
    """Earlier prediction days whose labels may have arrived on ``arrival``."""
    return [arrival - dt.timedelta(days=n) for n in range(max_delay_days, 0, -1)]


def build_late_labels_sensor(config: MonitoringConfig) -> SensorDefinition:
    """The sensor that re-evaluates earlier prediction days when their labels arrive."""
    reports = [model_asset_key(m.name, MODEL_PERFORMANCE_REPORT) for m in config.models]

    @sensor(
        name="late_labels_sensor",
        description="Re-evaluates the quality of earlier prediction days when their labels arrive.",
        asset_selection=AssetSelection.assets(*reports),
        minimum_interval_seconds=60,
    )
    def late_labels_sensor(context: SensorEvaluationContext):
        cursor = json.loads(context.cursor) if context.cursor else {}
        requests = [r for model in config.models for r in _new_label_runs(context, model, cursor)]
        context.update_cursor(json.dumps(cursor, sort_keys=True))
        if not requests:
            return SkipReason("No new labels for earlier prediction days.")
        return requests

    return late_labels_sensor


def _new_label_runs(
    context: SensorEvaluationContext, model: ModelConfig, cursor: dict[str, int]
) -> list[RunRequest]:
    """Runs of the model's earlier prediction days whose labels arrived since ``cursor``.

    Advances ``cursor[model.name]`` past the labels read.
    """
    records = context.instance.fetch_materializations(
        AssetRecordsFilter(
            asset_key=model_asset_key(model.name, LABELS), after_storage_id=cursor.get(model.name)
        ),
        limit=BATCH,
        ascending=True,
    ).records
    requests = []
    for record in records:
        arrival = partition_day(record)
        for day in affected_prediction_days(arrival, model.labels.max_delay_days):
            if not _has_predictions(context, model, day):
                continue
            requests.append(
                RunRequest(
                    run_key=f"{model.name}:{day}:labels-of-{arrival}:{record.storage_id}",
                    asset_selection=[model_asset_key(model.name, MODEL_PERFORMANCE_REPORT)],
                    partition_key=day.isoformat(),
                    # The model tag puts these runs under the run queue's per-model limit.
                    tags=model_run_tags(model.name, f"labels arrived {arrival}"),
                )
            )
        cursor[model.name] = record.storage_id
    return requests


def _has_predictions(context: SensorEvaluationContext, model: ModelConfig, day: dt.date) -> bool:
    result = context.instance.fetch_materializations(
        AssetRecordsFilter(
            asset_key=model_asset_key(model.name, INFERENCE_LOGS),
            asset_partitions=[day.isoformat()],
        ),
        limit=1,
    )
    return bool(result.records)
