"""The metric store: every metric and check result per model and day, through SQLAlchemy.

SQLite on the embedded default, PostgreSQL in production; the same code serves both. Writing a
partition's results replaces what an earlier run of that partition wrote.
"""

from __future__ import annotations

import datetime as dt
import json
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa

from monitoring_platform.lib.database import open_engine

metadata = sa.MetaData()


def _model_day_columns() -> list[sa.Column]:
    """The row id and the model, day and asset a value or result belongs to."""
    return [
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("model", sa.String(64), nullable=False),
        sa.Column("partition_date", sa.Date, nullable=False),
        sa.Column("asset", sa.String(128), nullable=False),
    ]


def _run_columns() -> list[sa.Column]:
    """The run that wrote a row, and when."""
    return [
        sa.Column("run_id", sa.String(64), nullable=True),
        sa.Column("recorded_at", sa.DateTime(timezone=True), nullable=False),
    ]


metric_values = sa.Table(
    "metric_values",
    metadata,
    *_model_day_columns(),
    sa.Column("metric", sa.String(128), nullable=False),
    # Dimensions of the value (column, segment, model version), as sorted JSON; '' for none.
    sa.Column("dims", sa.String(1024), nullable=False, default=""),
    sa.Column("value", sa.Float, nullable=True),
    sa.Column("text_value", sa.String(256), nullable=True),
    *_run_columns(),
    sa.UniqueConstraint("model", "partition_date", "asset", "metric", "dims", name="uq_metric"),
    sa.Index("ix_metric_values_model_metric", "model", "metric", "partition_date"),
)

check_results = sa.Table(
    "check_results",
    metadata,
    *_model_day_columns(),
    sa.Column("check_name", sa.String(128), nullable=False),
    sa.Column("passed", sa.Boolean, nullable=False),
    sa.Column("severity", sa.String(8), nullable=False),
    sa.Column("observed", sa.Text, nullable=False, default="{}"),
    *_run_columns(),
    sa.UniqueConstraint("model", "partition_date", "asset", "check_name", name="uq_check"),
)


@dataclass(frozen=True)
class Metric:
    """One metric value of a model-day, with its dimensions or a text value."""

    name: str
    value: float | None
    dims: Mapping[str, str] | None = None
    text: str | None = None


def _dims(dims: Mapping[str, str] | None) -> str:
    return json.dumps(dict(sorted(dims.items())), ensure_ascii=False) if dims else ""


def _finite(value: float | None) -> float | None:
    if value is None:
        return None
    value = float(value)
    return value if math.isfinite(value) else None


class MetricStore:
    """Reads and writes metric values and check results."""

    def __init__(self, url: str):
        self.url = url
        self.engine = open_engine(url, metadata)

    def replace_metrics(
        self,
        model: str,
        partition_date: dt.date,
        asset: str,
        metrics: Iterable[Metric],
        run_id: str | None = None,
    ) -> int:
        """Replace every metric ``asset`` recorded for ``model`` and ``partition_date``."""
        now = dt.datetime.now(dt.UTC)
        rows = [
            {
                "model": model,
                "partition_date": partition_date,
                "asset": asset,
                "metric": m.name,
                "dims": _dims(m.dims),
                "value": _finite(m.value),
                "text_value": m.text,
                "run_id": run_id,
                "recorded_at": now,
            }
            for m in metrics
        ]
        self._replace(
            metric_values, {"model": model, "partition_date": partition_date, "asset": asset}, rows
        )
        return len(rows)

    def record_check(
        self,
        model: str,
        partition_date: dt.date,
        asset: str,
        check_name: str,
        passed: bool,
        severity: str,
        observed: Mapping[str, Any],
        run_id: str | None = None,
    ) -> None:
        """Record (replacing) one check's result for one model and day."""
        row = {
            "model": model,
            "partition_date": partition_date,
            "asset": asset,
            "check_name": check_name,
            "passed": bool(passed),
            "severity": severity,
            "observed": json.dumps(observed, default=str, ensure_ascii=False),
            "run_id": run_id,
            "recorded_at": dt.datetime.now(dt.UTC),
        }
        match = {k: row[k] for k in ("model", "partition_date", "asset", "check_name")}
        self._replace(check_results, match, [row])

    def _replace(self, table: sa.Table, match: Mapping[str, Any], rows: list[dict]) -> None:
        """Delete the rows of ``table`` matching ``match`` and insert ``rows``, atomically."""
        with self.engine.begin() as conn:
            conn.execute(table.delete().where(*(table.c[k] == v for k, v in match.items())))
            if rows:
                conn.execute(table.insert(), rows)

    def metrics(
        self,
        model: str | None = None,
        metric: str | None = None,
        asset: str | None = None,
        partition_date: dt.date | None = None,
    ) -> list[dict[str, Any]]:
        query = sa.select(metric_values).order_by(
            metric_values.c.model, metric_values.c.partition_date, metric_values.c.metric
        )
        for column, value in (
            (metric_values.c.model, model),
            (metric_values.c.metric, metric),
            (metric_values.c.asset, asset),
            (metric_values.c.partition_date, partition_date),
        ):
            if value is not None:
                query = query.where(column == value)
        with self.engine.connect() as conn:
            return [dict(row._mapping) for row in conn.execute(query)]

    def checks(
        self, model: str | None = None, partition_date: dt.date | None = None
    ) -> list[dict[str, Any]]:
        query = sa.select(check_results).order_by(
            check_results.c.model, check_results.c.partition_date, check_results.c.check_name
        )
        if model is not None:
            query = query.where(check_results.c.model == model)
        if partition_date is not None:
            query = query.where(check_results.c.partition_date == partition_date)
        with self.engine.connect() as conn:
            return [dict(row._mapping) for row in conn.execute(query)]

    def dispose(self) -> None:
        self.engine.dispose()
