"""Business events (clicks, conversions, revenue): their record contract and one day's ingestion.

An event is one JSON object per line (or a Parquet row): ``request_id`` (the inference call it
follows), ``event_type``, ``value`` (optional number: 1 for a click, the revenue of a
conversion) and ``timestamp`` (ISO 8601). Events land under ``<events>/<model>/dt=<event day>/``.
The same reading and splitting as the inference logs applies (:mod:`monitoring_platform.lib.ingest`):
every line lands in the accepted rows or in the quarantine with its reason; an event sent twice
(same request, type and time) is quarantined as a duplicate.
"""

from __future__ import annotations

from pathlib import Path

from monitoring_platform.config import ModelConfig
from monitoring_platform.lib.contract import FieldRule, Kind, RecordContract
from monitoring_platform.lib.ingest import IngestResult, ingest_partition
from monitoring_platform.lib.storage import ObjectStore

ACCEPTED = "events"
QUARANTINE = "events_quarantine"

# Kinds the metrics understand; the configured event type names map onto them.
CLICK = "click"
CONVERSION = "conversion"
OTHER = "other"


def event_contract() -> RecordContract:
    """The business-event contract."""
    return RecordContract(
        fields=(
            FieldRule("request_id", Kind.string),
            FieldRule("event_type", Kind.string),
            FieldRule("value", Kind.number, required=False),
            FieldRule("timestamp", Kind.timestamp),
        ),
        key_columns=("request_id", "event_type", "timestamp"),
        key_label="event",
    )


def ingest_events(
    store: ObjectStore, model: ModelConfig, date: str, workdir: Path, **options
) -> IngestResult:
    """Read ``model``'s events of ``date``; write accepted and quarantined Parquet into ``workdir``."""
    return ingest_partition(store, model, date, workdir, contract=event_contract(), **options)


def event_kind(model: ModelConfig, event_type: str | None) -> str:
    """``click``, ``conversion`` or ``other``, by the model's configured event names."""
    if event_type == model.events.click_event:
        return CLICK
    if event_type == model.events.conversion_event:
        return CONVERSION
    return OTHER
