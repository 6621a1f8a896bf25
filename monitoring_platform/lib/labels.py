"""Ground-truth labels: their record contract and one arrival day's ingestion.

A label is one JSON object per line (or a Parquet row): ``request_id``, ``label`` (a number for
binary classification and regression, a class name for multiclass) and ``labeled_at``. Labels
land under ``<labels>/<model>/dt=<arrival day>/``. Reading, contract enforcement and the
quarantine are those of :mod:`monitoring_platform.lib.ingest`.
"""

from __future__ import annotations

from pathlib import Path

from monitoring_platform.config import ModelConfig, Task
from monitoring_platform.lib.contract import FieldRule, Kind, RecordContract
from monitoring_platform.lib.ingest import IngestResult, ingest_partition
from monitoring_platform.lib.storage import ObjectStore

ACCEPTED = "labels"
QUARANTINE = "labels_quarantine"


def label_contract(model: ModelConfig) -> RecordContract:
    """The label contract of ``model``; a label sent twice on one day is quarantined."""
    kind = Kind.category if model.task == Task.multiclass_classification else Kind.number
    return RecordContract(
        fields=(
            FieldRule("request_id", Kind.string),
            FieldRule("label", kind),
            FieldRule("labeled_at", Kind.timestamp),
        ),
        key_columns=("request_id",),
        key_label="label for request_id",
    )


def ingest_labels(
    store: ObjectStore, model: ModelConfig, date: str, workdir: Path, **options
) -> IngestResult:
    """Read the labels that arrived on ``date``; write accepted and quarantined Parquet."""
    return ingest_partition(store, model, date, workdir, contract=label_contract(model), **options)
