"""The warehouse dbt reads: the platform's source tables, loaded per model and day.

Two implementations behind one interface: a DuckDB file (the embedded default, one writing
process at a time) and PostgreSQL. Loading a model-day deletes what an earlier load of that
model-day wrote and inserts the new rows in one transaction, so re-runs replace, never duplicate.

Source tables (schema ``raw_schema``), shared by every model:

- ``inference_logs``: one row per accepted call (no features: they differ per model);
- ``business_events``: one row per accepted event, its type mapped to a kind (click, conversion);
- ``labels``: one row per label, by the day it arrived.
"""

from __future__ import annotations

import datetime as dt
import fcntl
import os
import re
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from monitoring_platform.config import ModelConfig
from monitoring_platform.lib.events import CLICK, CONVERSION, OTHER

IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,62}$")
LOCK_WAIT_SECONDS = 600.0
# Lines of dbt's output that name a failure's cause: an exception's last line, dbt's own headings.
_EXCEPTION_LINE = re.compile(r"^(?:[\w.]+\.)?(\w*(?:Error|Exception)): (.+)$")
_DBT_ERROR_HEADING = re.compile(
    r"^(?:\S+\s+)?((?:Runtime|Database|Compilation|Parsing) Error in .+|Failure in test .+)$"
)
_TIMESTAMP = re.compile(r"^\d{2}:\d{2}:\d{2}(?:\.\d+)?\s+")


def dbt_failure_cause(lines: Sequence[str]) -> str:
    """The one line that says why a dbt invocation failed, from its console output.

    An exception's own last line wins (a traceback ends with it, e.g. DuckDB's lock conflict);
    else dbt's error heading with the message line under it; else the last line printed.
    """
    text = [_TIMESTAMP.sub("", line).strip() for line in lines]
    for line in reversed(text):
        match = _EXCEPTION_LINE.match(line)
        if match:
            return f"{match.group(1)}: {match.group(2)}"
    for i, line in enumerate(text):
        match = _DBT_ERROR_HEADING.match(line)
        if match:
            detail = next((t for t in text[i + 1 :] if t), "")
            return f"{match.group(1)}: {detail}" if detail else match.group(1)
    return next((t for t in reversed(text) if t), "dbt printed nothing")


@dataclass(frozen=True)
class Column:
    name: str
    duckdb: str
    postgres: str


_TEXT = ("VARCHAR", "TEXT")
_DOUBLE = ("DOUBLE", "DOUBLE PRECISION")
_TS = ("TIMESTAMPTZ", "TIMESTAMPTZ")


def _cols(*spec: tuple[str, tuple[str, str]]) -> list[Column]:
    return [Column(name, types[0], types[1]) for name, types in spec]


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

SYSTEM_MART = "fct_model_daily_system_metrics"
BUSINESS_MART = "fct_model_daily_business_metrics"


class WarehouseError(RuntimeError):
    """The warehouse could not be reached or written."""


def _ident(name: str) -> str:
    if not IDENTIFIER.match(name):
        raise WarehouseError(f"not an SQL identifier: {name!r}")
    return f'"{name}"'


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


# ---------------------------------------------------------------------------------------------
# The warehouse


class Warehouse:
    """Source tables to load and marts to read, on DuckDB or PostgreSQL."""

    def __init__(
        self,
        kind: str,
        *,
        path: str | Path | None = None,
        url: str | None = None,
        raw_schema: str = "monitoring_raw",
        dbt_schema: str = "analytics",
        lock_wait_seconds: float = LOCK_WAIT_SECONDS,
    ):
        if kind not in ("duckdb", "postgres"):
            raise WarehouseError(f"unknown warehouse type {kind!r} (duckdb or postgres)")
        if kind == "duckdb" and path is None:
            raise WarehouseError("a DuckDB warehouse needs a file path")
        if kind == "postgres" and not url:
            raise WarehouseError("a PostgreSQL warehouse needs a URL")
        self.kind = kind
        self.path = Path(path) if path is not None else None
        self.url = url
        self.raw_schema = raw_schema
        self.dbt_schema = dbt_schema
        self.lock_wait_seconds = lock_wait_seconds
        _ident(raw_schema), _ident(dbt_schema)

    # -- connections ---------------------------------------------------------------------------

    @contextmanager
    def exclusive(self) -> Iterator[None]:
        """Hold the warehouse as its one writer across processes, waiting for the holder.

        DuckDB allows one process at a time on its file; every connection this class opens and
        every dbt run of the platform takes this lock first (``<file>.lock``, an OS file lock
        released when the process dies), re-entrant within a process. PostgreSQL needs none.
        """
        if self.kind != "duckdb":
            yield
            return
        assert self.path is not None
        with _process_lock(self.path, self.lock_wait_seconds):
            yield

    def wait_until_openable(self) -> None:
        """Return once the DuckDB file opens for writing (a process outside the platform, such as
        a DuckDB shell, may hold it), or raise :class:`WarehouseError` after the lock wait."""
        if self.kind == "duckdb":
            with self._duckdb():
                pass

    @contextmanager
    def _duckdb(self, read_only: bool = False) -> Iterator[Any]:
        with self.exclusive(), self._duckdb_connection(read_only) as con:
            yield con

    @contextmanager
    def _duckdb_connection(self, read_only: bool) -> Iterator[Any]:
        import duckdb

        assert self.path is not None
        if not read_only:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        deadline = time.monotonic() + self.lock_wait_seconds
        delay = 0.2
        while True:
            try:
                con = duckdb.connect(str(self.path), read_only=read_only)
                break
            except duckdb.IOException as exc:
                # Another process holds the file (DuckDB allows one writer): wait for it.
                if "lock" not in str(exc).lower() or time.monotonic() > deadline:
                    raise WarehouseError(f"cannot open the warehouse {self.path}: {exc}") from exc
                time.sleep(delay)
                delay = min(delay * 2, 5.0)
        try:
            con.execute("SET TimeZone = 'UTC'")
            yield con
        finally:
            con.close()

    def _engine(self):
        import sqlalchemy as sa

        url = self.url
        assert url is not None
        if url.startswith("postgresql://") or url.startswith("postgres://"):
            url = "postgresql+psycopg2://" + url.split("://", 1)[1]
        return sa.create_engine(url, future=True, pool_pre_ping=True)

    # -- source tables -------------------------------------------------------------------------

    def _ddl(self) -> list[str]:
        schema = _ident(self.raw_schema)
        statements = [f"CREATE SCHEMA IF NOT EXISTS {schema}"]
        for table, columns in TABLES.items():
            cols = ", ".join(
                f"{_ident(c.name)} {c.duckdb if self.kind == 'duckdb' else c.postgres}"
                for c in columns
            )
            statements.append(f"CREATE TABLE IF NOT EXISTS {schema}.{_ident(table)} ({cols})")
        return statements

    def ensure_tables(self) -> None:
        """Create the schema and the source tables where they are missing."""
        if self.kind == "duckdb":
            with self._duckdb() as con:
                for statement in self._ddl():
                    con.execute(statement)
            return
        engine = self._engine()
        try:
            with engine.begin() as conn:
                for statement in self._ddl():
                    conn.exec_driver_sql(statement)
        finally:
            engine.dispose()

    def replace_partitions(
        self, model: str, date: dt.date, tables: dict[str, pa.Table | None]
    ) -> dict[str, int]:
        """For each source table, replace ``model``'s rows of ``date`` in one transaction.

        A ``None`` table deletes the model-day's rows and inserts none. Returns rows inserted.
        """
        for name in tables:
            if name not in TABLES:
                raise WarehouseError(f"unknown source table {name!r}")
        self.ensure_tables()
        if self.kind == "duckdb":
            return self._replace_duckdb(model, date, tables)
        return self._replace_postgres(model, date, tables)

    def _replace_duckdb(self, model, date, tables) -> dict[str, int]:
        schema = _ident(self.raw_schema)
        counts = {}
        with self._duckdb() as con:
            con.execute("BEGIN TRANSACTION")
            try:
                for name, rows in tables.items():
                    target = f"{schema}.{_ident(name)}"
                    con.execute(
                        f"DELETE FROM {target} WHERE model_name = ? AND dt = ?",  # noqa: S608
                        [model, date],
                    )
                    counts[name] = 0
                    if rows is None or rows.num_rows == 0:
                        continue
                    columns = ", ".join(_ident(c.name) for c in TABLES[name])
                    con.register("incoming", rows.select([c.name for c in TABLES[name]]))
                    try:
                        con.execute(
                            f"INSERT INTO {target} ({columns}) SELECT {columns} FROM incoming"  # noqa: S608
                        )
                    finally:
                        con.unregister("incoming")
                    counts[name] = rows.num_rows
                con.execute("COMMIT")
            except Exception:
                con.execute("ROLLBACK")
                raise
        return counts

    def _replace_postgres(self, model, date, tables) -> dict[str, int]:
        from psycopg2.extras import execute_values

        schema = _ident(self.raw_schema)
        counts = {}
        engine = self._engine()
        try:
            with engine.begin() as conn:
                cursor = conn.connection.cursor()
                for name, rows in tables.items():
                    target = f"{schema}.{_ident(name)}"
                    cursor.execute(
                        f"DELETE FROM {target} WHERE model_name = %s AND dt = %s",  # noqa: S608
                        (model, date),
                    )
                    counts[name] = 0
                    if rows is None or rows.num_rows == 0:
                        continue
                    names = [c.name for c in TABLES[name]]
                    columns = ", ".join(_ident(n) for n in names)
                    for batch in rows.select(names).to_batches(10_000):
                        values = list(
                            zip(*(batch.column(n).to_pylist() for n in names), strict=True)
                        )
                        execute_values(
                            cursor,
                            f"INSERT INTO {target} ({columns}) VALUES %s",  # noqa: S608
                            values,
                            page_size=5_000,
                        )
                    counts[name] = rows.num_rows
                cursor.close()
        finally:
            engine.dispose()
        return counts

    # -- reading -------------------------------------------------------------------------------

    def count(self, table: str, model: str, date: dt.date) -> int:
        """Rows of a source table for one model-day."""
        if table not in TABLES:
            raise WarehouseError(f"unknown source table {table!r}")
        sql = f"SELECT count(*) FROM {_ident(self.raw_schema)}.{_ident(table)} WHERE model_name = {{m}} AND dt = {{d}}"  # noqa: S608
        return int(self._fetch(sql, {"m": model, "d": date})[0][0])

    def mart_rows(
        self, mart: str, model: str, start: dt.date, end: dt.date
    ) -> list[dict[str, Any]]:
        """A mart's rows of ``model`` from ``start`` to ``end`` (inclusive), oldest first.

        An empty list when the mart was never built.
        """
        if mart not in (SYSTEM_MART, BUSINESS_MART):
            raise WarehouseError(f"unknown mart {mart!r}")
        if not self._relation_exists(self.dbt_schema, mart):
            return []
        sql = (
            f"SELECT * FROM {_ident(self.dbt_schema)}.{_ident(mart)} "  # noqa: S608
            "WHERE model_name = {m} AND metric_date BETWEEN {s} AND {e} "
            "ORDER BY metric_date, model_version"
        )
        return self._fetch_dicts(sql, {"m": model, "s": start, "e": end})

    def _relation_exists(self, schema: str, name: str) -> bool:
        sql = (
            "SELECT count(*) FROM information_schema.tables "
            "WHERE table_schema = {s} AND table_name = {n}"
        )
        if self.kind == "duckdb" and not (self.path and self.path.exists()):
            return False
        return self._fetch(sql, {"s": schema, "n": name})[0][0] > 0

    def _fetch(self, sql: str, params: dict[str, Any]) -> list[Sequence[Any]]:
        return [tuple(r.values()) for r in self._fetch_dicts(sql, params)]

    def _fetch_dicts(self, sql: str, params: dict[str, Any]) -> list[dict[str, Any]]:
        """Run a query whose parameters are written ``{name}``; values are always bound."""
        if self.kind == "duckdb":
            with self._duckdb(read_only=True) as con:
                cursor = con.execute(sql.format(**{k: f"${k}" for k in params}), params)
                names = [d[0] for d in cursor.description]
                return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]
        import sqlalchemy as sa

        engine = self._engine()
        try:
            with engine.connect() as conn:
                result = conn.execute(sa.text(sql.format(**{k: f":{k}" for k in params})), params)
                return [dict(row._mapping) for row in result]
        finally:
            engine.dispose()


def open_warehouse(
    kind: str,
    *,
    path: str | Path | None,
    url: str | None,
    raw_schema: str,
    dbt_schema: str,
) -> Warehouse:
    return Warehouse(kind, path=path, url=url, raw_schema=raw_schema, dbt_schema=dbt_schema)


def load_model_day(
    warehouse: Warehouse,
    lake_store,
    model: ModelConfig,
    date: dt.date,
    labels_dataset: str = "labels",
) -> dict[str, int]:
    """Load one model-day's accepted calls, events and labels from the lake into the warehouse.

    A lake partition that was never written loads as no rows (and removes an earlier load).
    Returns the rows loaded per source table.
    """
    from monitoring_platform.lib import events as events_lib
    from monitoring_platform.lib import lake

    calls = lake.read_partition(lake_store, lake.ACCEPTED, model.name, date)
    events = lake.read_partition(lake_store, events_lib.ACCEPTED, model.name, date)
    labels = lake.read_partition(lake_store, labels_dataset, model.name, date)
    return warehouse.replace_partitions(
        model.name,
        date,
        {
            "inference_logs": None if calls is None else inference_rows(model, date, calls),
            "business_events": None if events is None else event_rows(model, date, events),
            "labels": None if labels is None else label_rows(model, date, labels),
        },
    )


_HELD: dict[str, int] = {}
_HELD_GUARD = threading.RLock()


@contextmanager
def _process_lock(path: Path, wait_seconds: float) -> Iterator[None]:
    """An exclusive OS lock on ``<path>.lock``, re-entrant within this process."""
    lock_path = path.with_name(path.name + ".lock")
    key = str(lock_path.resolve())
    with _HELD_GUARD:
        if _HELD.get(key):
            _HELD[key] += 1
            try:
                yield
            finally:
                _HELD[key] -= 1
            return
        lock_path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o644)
        deadline = time.monotonic() + wait_seconds
        delay = 0.1
        try:
            while True:
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    break
                except BlockingIOError:
                    if time.monotonic() > deadline:
                        raise WarehouseError(
                            f"the warehouse {path} stayed busy for {wait_seconds:.0f} s: another "
                            f"process holds {lock_path}"
                        ) from None
                    time.sleep(delay)
                    delay = min(delay * 2, 2.0)
            _HELD[key] = 1
            try:
                yield
            finally:
                _HELD.pop(key, None)
                fcntl.flock(fd, fcntl.LOCK_UN)
        finally:
            os.close(fd)
