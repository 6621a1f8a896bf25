"""The warehouse dbt reads: the platform's source tables, loaded per model and day.

One class per database behind one interface (:class:`Warehouse`): :class:`DuckDBWarehouse`, a
file and the embedded default (one writing process at a time), and :class:`PostgresWarehouse`.
Loading a model-day deletes what an earlier load of that model-day wrote and inserts the new rows
in one transaction, so re-runs replace, never duplicate. The source tables and their rows are
described in :mod:`monitoring_platform.lib.warehouse_tables`.
"""

from __future__ import annotations

import datetime as dt
import fcntl
import os
import re
import threading
import time
from abc import ABC, abstractmethod
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pyarrow as pa

from monitoring_platform.config import ModelConfig
from monitoring_platform.lib.warehouse_tables import TABLES, event_rows, inference_rows, label_rows

IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,62}$")
LOCK_WAIT_SECONDS = 600.0
# How often a process waiting for the warehouse's lock tries again: a holder's turn is a step of
# a fraction of a second to a few seconds, and a try is one system call.
LOCK_POLL_SECONDS = 0.02
SYSTEM_MART = "fct_model_daily_system_metrics"
BUSINESS_MART = "fct_model_daily_business_metrics"


class WarehouseError(RuntimeError):
    """The warehouse could not be reached or written."""


def _ident(name: str) -> str:
    if not IDENTIFIER.match(name):
        raise WarehouseError(f"not an SQL identifier: {name!r}")
    return f'"{name}"'


# ---------------------------------------------------------------------------------------------
# The warehouse


class Warehouse(ABC):
    """Source tables to load and marts to read; one subclass per database."""

    kind: str
    #: The SQL type of each column type of :data:`TABLES` (index 0 DuckDB, 1 PostgreSQL).
    _type_index: int

    def __init__(self, *, raw_schema: str = "monitoring_raw", dbt_schema: str = "analytics"):
        self.raw_schema = raw_schema
        self.dbt_schema = dbt_schema
        _ident(raw_schema), _ident(dbt_schema)

    # -- what each database does its own way ---------------------------------------------------

    @contextmanager
    def exclusive(self) -> Iterator[None]:
        """Hold the warehouse as its one writer across processes (a no-op where not needed)."""
        yield

    def wait_until_openable(self) -> None:
        """Return once the warehouse opens for writing, or raise :class:`WarehouseError`."""
        self._execute([])

    @abstractmethod
    def _execute(self, statements: Sequence[str]) -> None:
        """Run statements in one transaction."""

    @abstractmethod
    def _replace(self, model: str, date: dt.date, tables: dict[str, pa.Table | None]) -> None:
        """Delete the model-day's rows of each table and insert the new ones, in one transaction."""

    @abstractmethod
    def _fetch_dicts(self, sql: str, params: dict[str, Any]) -> list[dict[str, Any]]:
        """Run a query whose parameters are written ``{name}``; values are always bound."""

    def _exists(self) -> bool:
        return True

    # -- the interface -------------------------------------------------------------------------

    def _ddl(self) -> list[str]:
        schema = _ident(self.raw_schema)
        statements = [f"CREATE SCHEMA IF NOT EXISTS {schema}"]
        for table, columns in TABLES.items():
            cols = ", ".join(f"{_ident(c.name)} {c.types[self._type_index]}" for c in columns)
            statements.append(f"CREATE TABLE IF NOT EXISTS {schema}.{_ident(table)} ({cols})")
        return statements

    def ensure_tables(self) -> None:
        """Create the schema and the source tables where they are missing."""
        self._execute(self._ddl())

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
        selected = {
            name: None
            if rows is None or rows.num_rows == 0
            else rows.select([c.name for c in TABLES[name]])
            for name, rows in tables.items()
        }
        self._replace(model, date, selected)
        return {name: 0 if rows is None else rows.num_rows for name, rows in selected.items()}

    def _target(self, table: str) -> str:
        return f"{_ident(self.raw_schema)}.{_ident(table)}"

    def count(self, table: str, model: str, date: dt.date) -> int:
        """Rows of a source table for one model-day."""
        if table not in TABLES:
            raise WarehouseError(f"unknown source table {table!r}")
        sql = f"SELECT count(*) AS n FROM {self._target(table)} WHERE model_name = {{m}} AND dt = {{d}}"  # noqa: S608
        return int(self._fetch_dicts(sql, {"m": model, "d": date})[0]["n"])

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
            "SELECT count(*) AS n FROM information_schema.tables "
            "WHERE table_schema = {s} AND table_name = {n}"
        )
        return self._exists() and self._fetch_dicts(sql, {"s": schema, "n": name})[0]["n"] > 0


class DuckDBWarehouse(Warehouse):
    """A DuckDB file, the embedded default: one writing process at a time."""

    kind = "duckdb"
    _type_index = 0

    def __init__(
        self,
        path: str | Path,
        *,
        raw_schema: str = "monitoring_raw",
        dbt_schema: str = "analytics",
        lock_wait_seconds: float = LOCK_WAIT_SECONDS,
    ):
        super().__init__(raw_schema=raw_schema, dbt_schema=dbt_schema)
        self.path = Path(path)
        self.lock_wait_seconds = lock_wait_seconds

    @contextmanager
    def exclusive(self) -> Iterator[None]:
        """Hold the warehouse as its one writer across processes, waiting for the holder.

        DuckDB allows one process at a time on its file; every connection this class opens and
        every dbt run of the platform takes this lock first (``<file>.lock``, an OS file lock
        released when the process dies), re-entrant within a process.
        """
        with _process_lock(self.path, self.lock_wait_seconds):
            yield

    @contextmanager
    def _connect(self, read_only: bool = False) -> Iterator[Any]:
        import duckdb

        with self.exclusive():
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
                        raise WarehouseError(
                            f"cannot open the warehouse {self.path}: {exc}"
                        ) from exc
                    time.sleep(delay)
                    delay = min(delay * 2, 5.0)
            try:
                con.execute("SET TimeZone = 'UTC'")
                yield con
            finally:
                con.close()

    def _execute(self, statements: Sequence[str]) -> None:
        with self._connect() as con:
            for statement in statements:
                con.execute(statement)

    def _replace(self, model: str, date: dt.date, tables: dict[str, pa.Table | None]) -> None:
        with self._connect() as con:
            con.execute("BEGIN TRANSACTION")
            try:
                for name, rows in tables.items():
                    target = self._target(name)
                    con.execute(
                        f"DELETE FROM {target} WHERE model_name = ? AND dt = ?",  # noqa: S608
                        [model, date],
                    )
                    if rows is None:
                        continue
                    columns = ", ".join(_ident(n) for n in rows.column_names)
                    con.register("incoming", rows)
                    try:
                        con.execute(
                            f"INSERT INTO {target} ({columns}) SELECT {columns} FROM incoming"  # noqa: S608
                        )
                    finally:
                        con.unregister("incoming")
                con.execute("COMMIT")
            except Exception:
                con.execute("ROLLBACK")
                raise

    def _exists(self) -> bool:
        return self.path.exists()

    def _fetch_dicts(self, sql: str, params: dict[str, Any]) -> list[dict[str, Any]]:
        with self._connect(read_only=True) as con:
            cursor = con.execute(sql.format(**{k: f"${k}" for k in params}), params)
            names = [d[0] for d in cursor.description]
            return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]


class PostgresWarehouse(Warehouse):
    """A PostgreSQL database: concurrent writers are its own business."""

    kind = "postgres"
    _type_index = 1

    def __init__(
        self, url: str, *, raw_schema: str = "monitoring_raw", dbt_schema: str = "analytics"
    ):
        if not url:
            raise WarehouseError("a PostgreSQL warehouse needs a URL")
        super().__init__(raw_schema=raw_schema, dbt_schema=dbt_schema)
        self.url = url

    @contextmanager
    def _engine(self) -> Iterator[Any]:
        import sqlalchemy as sa

        url = self.url
        if url.startswith(("postgresql://", "postgres://")):
            url = "postgresql+psycopg2://" + url.split("://", 1)[1]
        engine = sa.create_engine(url, future=True, pool_pre_ping=True)
        try:
            yield engine
        finally:
            engine.dispose()

    def _execute(self, statements: Sequence[str]) -> None:
        with self._engine() as engine, engine.begin() as conn:
            for statement in statements:
                conn.exec_driver_sql(statement)

    def _replace(self, model: str, date: dt.date, tables: dict[str, pa.Table | None]) -> None:
        from psycopg2.extras import execute_values

        with self._engine() as engine, engine.begin() as conn:
            cursor = conn.connection.cursor()
            for name, rows in tables.items():
                target = self._target(name)
                cursor.execute(
                    f"DELETE FROM {target} WHERE model_name = %s AND dt = %s",  # noqa: S608
                    (model, date),
                )
                if rows is None:
                    continue
                columns = ", ".join(_ident(n) for n in rows.column_names)
                for batch in rows.to_batches(10_000):
                    values = list(zip(*(c.to_pylist() for c in batch.columns), strict=True))
                    execute_values(
                        cursor,
                        f"INSERT INTO {target} ({columns}) VALUES %s",  # noqa: S608
                        values,
                        page_size=5_000,
                    )
            cursor.close()

    def _fetch_dicts(self, sql: str, params: dict[str, Any]) -> list[dict[str, Any]]:
        import sqlalchemy as sa

        with self._engine() as engine, engine.connect() as conn:
            result = conn.execute(sa.text(sql.format(**{k: f":{k}" for k in params})), params)
            return [dict(row._mapping) for row in result]


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
                    time.sleep(LOCK_POLL_SECONDS)
            _HELD[key] = 1
            try:
                yield
            finally:
                _HELD.pop(key, None)
                fcntl.flock(fd, fcntl.LOCK_UN)
        finally:
            os.close(fd)
