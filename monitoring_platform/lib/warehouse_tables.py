"""The warehouse's source tables: their columns, and their rows from lake partitions.

Shared by every model (schema ``raw_schema``):

- ``inference_logs``: one row per accepted call (no features: they differ per model);
- ``business_events``: one row per accepted event, its type mapped to a kind (click, conversion);
- ``labels``: one row per label, by the day it arrived.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from monitoring_platform.config import ModelConfig
from monitoring_platform.lib.events import CLICK, CONVERSION, OTHER


@dataclass(frozen=True)
class Column:
    """A source table's column: its name and its SQL type on DuckDB and on PostgreSQL."""

    name: str
    types: tuple[str, str]


_TEXT = ("VARCHAR", "TEXT")
_DOUBLE = ("DOUBLE", "DOUBLE PRECISION")
_TS = ("TIMESTAMPTZ", "TIMESTAMPTZ")


def _cols(*spec: tuple[str, tuple[str, str]]) -> list[Column]:
    return [Column(name, types) for name, types in spec]


TABLES: dict[str, list[Column]] = {
    "inference_logs": _cols(
        ("model_name", _TEXT),
        ("dt", ("DATE", "DATE")),
        ("request_id", _TEXT),
        ("requested_at", _TS),
        ("model_version", _TEXT),
        ("prediction_score", _DOUBLE),
        ("predicted_class", _TEXT),
        ("latency_ms", _DOUBLE),
        ("status_code", ("INTEGER", "INTEGER")),
        ("error", _TEXT),
    ),
    "business_events": _cols(
        ("model_name", _TEXT),
        ("dt", ("DATE", "DATE")),
        ("request_id", _TEXT),
        ("event_type", _TEXT),
        ("event_kind", _TEXT),
        ("value", _DOUBLE),
        ("occurred_at", _TS),
    ),
    "labels": _cols(
        ("model_name", _TEXT),
        ("dt", ("DATE", "DATE")),
        ("request_id", _TEXT),
        ("label", _TEXT),
        ("label_value", _DOUBLE),
        ("labeled_at", _TS),
    ),
}


# ---------------------------------------------------------------------------------------------
# Rows for the source tables, from lake partitions


def _column(table: pa.Table, name: str, type_: pa.DataType) -> pa.Array:
    if name not in table.column_names:
        return pa.nulls(table.num_rows, type_)
    column = table.column(name)
    if pa.types.is_dictionary(column.type):
        column = column.cast(column.type.value_type)
    return column.cast(type_)


def _constant(value: Any, n: int, type_: pa.DataType) -> pa.Array:
    return pa.array([value] * n, type_)


def inference_rows(model: ModelConfig, date: dt.date, table: pa.Table) -> pa.Table:
    """The ``inference_logs`` rows of a lake partition of accepted calls."""
    n = table.num_rows
    prediction = table.column("prediction") if "prediction" in table.column_names else None
    numeric = prediction is not None and (
        pa.types.is_floating(prediction.type) or pa.types.is_integer(prediction.type)
    )
    return pa.table(
        {
            "model_name": _constant(model.name, n, pa.string()),
            "dt": _constant(date, n, pa.date32()),
            "request_id": _column(table, "request_id", pa.string()),
            "requested_at": _column(table, "timestamp", pa.timestamp("us", tz="UTC")),
            "model_version": _column(table, "model_version", pa.string()),
            "prediction_score": _column(table, "prediction", pa.float64())
            if numeric
            else pa.nulls(n, pa.float64()),
            "predicted_class": pa.nulls(n, pa.string())
            if numeric
            else _column(table, "prediction", pa.string()),
            "latency_ms": _column(table, "latency_ms", pa.float64()),
            "status_code": _column(table, "status_code", pa.int32()),
            "error": _column(table, "error", pa.string()),
        }
    )


def event_rows(model: ModelConfig, date: dt.date, table: pa.Table) -> pa.Table:
    """The ``business_events`` rows of a lake partition of accepted events."""
    n = table.num_rows
    types = _column(table, "event_type", pa.string())
    kind = pc.if_else(
        pc.equal(types, model.events.click_event),
        CLICK,
        pc.if_else(pc.equal(types, model.events.conversion_event), CONVERSION, OTHER),
    )
    return pa.table(
        {
            "model_name": _constant(model.name, n, pa.string()),
            "dt": _constant(date, n, pa.date32()),
            "request_id": _column(table, "request_id", pa.string()),
            "event_type": types,
            "event_kind": pc.fill_null(kind, OTHER),
            "value": _column(table, "value", pa.float64()),
            "occurred_at": _column(table, "timestamp", pa.timestamp("us", tz="UTC")),
        }
    )


def label_rows(model: ModelConfig, date: dt.date, table: pa.Table) -> pa.Table:
    """The ``labels`` rows of a lake partition of labels (by arrival day)."""
    n = table.num_rows
    label = table.column("label") if "label" in table.column_names else pa.nulls(n)
    if pa.types.is_dictionary(label.type):
        label = label.cast(label.type.value_type)
    numeric = pa.types.is_floating(label.type) or pa.types.is_integer(label.type)
    return pa.table(
        {
            "model_name": _constant(model.name, n, pa.string()),
            "dt": _constant(date, n, pa.date32()),
            "request_id": _column(table, "request_id", pa.string()),
            "label": label.cast(pa.string()),
            "label_value": label.cast(pa.float64()) if numeric else pa.nulls(n, pa.float64()),
            "labeled_at": _column(table, "labeled_at", pa.timestamp("us", tz="UTC")),
        }
    )
