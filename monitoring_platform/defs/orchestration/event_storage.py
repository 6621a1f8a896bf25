"""Dagster's SQLite event log, with each database's connection kept open between operations.

Dagster's ``SqliteEventLogStorage`` makes a new engine and a new connection for every read and
write of a run's events (a small run makes about 650), and closing the only connection to a
WAL file checkpoints it into the database and deletes it each time. That was the largest cost of
a small run outside its steps on the embedded instance. This storage keeps one engine, with one
open connection, per database file for the few files in use (the index and the runs being
written), and is otherwise Dagster's: the same files, schema and migrations, so an instance
folder written by either is read by the other. ``write_embedded_instance`` configures it for
the demo's and ``make ui``'s instance, ``infra/dagster-sequential.yaml`` for command-line
backfills.
"""

from __future__ import annotations

import functools
import os
import re
import sqlite3
import threading
import time
from collections import OrderedDict
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from dagster import Field, StringSource
from dagster._config.config_schema import UserConfigSchema
from dagster._core.event_api import EventHandlerFn
from dagster._core.events.log import EventLogEntry
from dagster._core.storage.event_log import SqliteEventLogStorage
from dagster._core.storage.event_log.schema import SqlEventLogStorageMetadata
from dagster._core.storage.event_log.sqlite.sqlite_event_log import SqliteEventLogStorageWatchdog
from dagster._core.storage.sql import get_alembic_config
from dagster._core.storage.sqlite import SQLITE_BUSY_TIMEOUT_SECONDS
from dagster._serdes import ConfigurableClassData
from dagster._utils.concurrency import ConcurrencyClaimStatus
from sqlalchemy import create_engine, event, text
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import DatabaseError
from sqlalchemy.pool import QueuePool
from watchdog.events import FileSystemEvent
from watchdog.observers import Observer

from monitoring_platform.lib.database import wal_commits_without_fsync


def default_base_dir() -> str:
    """Dagster's own place for the event log under ``$DAGSTER_HOME``."""
    home = os.environ.get("DAGSTER_HOME")
    if not home:
        raise RuntimeError(
            "PooledSqliteEventLogStorage without base_dir keeps its files under $DAGSTER_HOME, "
            "which is not set"
        )
    return os.path.join(os.path.abspath(home), "history", "runs")


# Databases whose engine (and open connection) a process keeps: the index and recent runs.
OPEN_DATABASES = 8

# Events Dagster hands over at once when it writes a batch (``DAGSTER_EVENT_BATCH_SIZE``, which
# Dagster reads at every event; unset, it writes every event on its own).
EVENT_BATCH_SIZE = 1000

# How soon a step that waits for a pool slot asks again (Dagster: after 1 s, growing to 15 s). A
# claim is one small query (about 0.4 ms here); the warehouse's steps hold the slot for 0.1 to 2 s.
CLAIM_RETRY_SECONDS = 0.05


class PooledSqliteEventLogStorage(SqliteEventLogStorage):
    """``SqliteEventLogStorage`` that keeps a connection per database file open (a few at a time).

    Configured like Dagster's (``base_dir``). The storage's own lock still serialises its
    operations within the process, so a connection is used by one thread at a time; SQLite's
    locks and busy timeout order writers between processes, as before.
    """

    def __init__(self, base_dir: str, inst_data: ConfigurableClassData | None = None):
        self._engines: OrderedDict[str, Engine] = OrderedDict()
        self._engines_lock = threading.Lock()
        self._tables: set[str] = set()
        self._batches = threading.local()
        super().__init__(base_dir, inst_data=inst_data)
        # The process's instance then hands this storage its batches (store_event_batch).
        os.environ.setdefault("DAGSTER_EVENT_BATCH_SIZE", str(EVENT_BATCH_SIZE))

    @classmethod
    def config_type(cls) -> UserConfigSchema:
        return {"base_dir": Field(StringSource, is_required=False)}

    @classmethod
    def from_config_value(
        cls, inst_data: ConfigurableClassData | None, config_value: Any
    ) -> PooledSqliteEventLogStorage:
        """From ``dagster.yaml``; without ``base_dir``, where Dagster keeps events by default."""
        base_dir = config_value.get("base_dir") or default_base_dir()
        return cls(base_dir, inst_data=inst_data)

    def _engine(self, shard: str) -> Engine:
        """The shard's engine, made on first use; the least recently used beyond the limit closed."""
        with self._engines_lock:
            engine = self._engines.get(shard)
            if engine is not None:
                self._engines.move_to_end(shard)
                return engine
            engine = create_engine(
                self.conn_string_for_shard(shard),
                poolclass=QueuePool,
                pool_size=1,
                # Used by one thread at a time (the storage's lock), not always the same one.
                connect_args={"timeout": SQLITE_BUSY_TIMEOUT_SECONDS, "check_same_thread": False},
            )
            # Commits without an fsync, as every WAL file of the platform (lib/database.py).
            event.listen(engine, "connect", wal_commits_without_fsync)
            self._engines[shard] = engine
            while len(self._engines) > OPEN_DATABASES:
                _, evicted = self._engines.popitem(last=False)
                evicted.dispose()
            return engine

    def _ready_engine(self, shard: str) -> Engine:
        engine = self._engine(shard)
        if shard not in self._initialized_dbs:
            self._initdb(engine)
            self._initialized_dbs.add(shard)
        return engine

    @contextmanager
    def _connect(self, shard: str) -> Iterator[Connection]:
        batch: dict[str, Connection] | None = getattr(self._batches, "open", None)
        if batch is not None:  # inside store_event_batch, which holds the lock
            conn = batch.get(shard)
            if conn is None:
                conn = batch[shard] = self._ready_engine(shard).connect()
                conn.begin()
            yield conn
            return
        with self._db_lock:
            engine = self._ready_engine(shard)
            with engine.connect() as conn, conn.begin():
                yield conn

    def store_event_batch(self, events: Sequence[EventLogEntry]) -> None:
        """Store the events in one transaction per database file, each written as ``store_event``.

        Dagster hands over a run's planned materializations and checks (one per asset and check,
        at the run's creation) and an output's materializations of several partitions as batches
        when ``DAGSTER_EVENT_BATCH_SIZE`` is set (this storage sets it, :data:`EVENT_BATCH_SIZE`);
        each file then commits once per batch instead of once or twice per event. A batch that
        fails before its commits leaves nothing (the run's file and the index commit one after
        the other, so only a failing second commit could leave half).
        """
        with self._db_lock:
            batch: dict[str, Connection] = {}
            self._batches.open = batch
            try:
                for event in events:
                    self.store_event(event)
                for conn in batch.values():
                    conn.commit()
            finally:
                self._batches.open = None
                for conn in batch.values():
                    conn.close()  # rolls back what was not committed

    def claim_concurrency_slot(
        self, concurrency_key: str, run_id: str, step_key: str, priority: int | None = None
    ) -> ConcurrencyClaimStatus:
        """Dagster's claim; a step left waiting asks again after :data:`CLAIM_RETRY_SECONDS`.

        With Dagster's growing interval, a step of one lane started up to a second or more after
        the other lane's step freed the warehouse: the demo's two lanes took 125 s with it and
        98 s with this one.
        """
        status = super().claim_concurrency_slot(concurrency_key, run_id, step_key, priority)
        if status.is_claimed or status.sleep_interval is not None:
            return status
        return status.with_sleep_interval(CLAIM_RETRY_SECONDS)

    def _initdb(self, engine: Engine, for_index_shard: bool = False) -> None:
        """Create a new run's database as Dagster does, reading its migration scripts once.

        Dagster's own version loads the ~90 migration scripts twice for every new run's file
        (to find the head revision, then to stamp it). The index keeps Dagster's version, which
        also recognises older files.
        """
        if for_index_shard:
            super()._initdb(engine, for_index_shard=True)
            return
        script = _migration_scripts()
        for attempt in range(INIT_ATTEMPTS):
            try:
                with engine.connect() as connection:
                    context = MigrationContext.configure(connection)
                    if context.get_current_revision() is None:
                        SqlEventLogStorageMetadata.create_all(connection)
                        connection.execute(text("PRAGMA journal_mode=WAL;"))
                        # The connection, kept for the run, was opened before the file was WAL.
                        wal_commits_without_fsync(connection.connection.dbapi_connection)
                        context.stamp(script, "head")
                        connection.commit()
                return
            except (DatabaseError, sqlite3.DatabaseError) as exc:
                # Another process creating the same file (the UI reading a run as it starts).
                if attempt == INIT_ATTEMPTS - 1 or not _concurrent_init(str(exc)):
                    raise
                time.sleep(0.2)

    def has_table(self, table_name: str) -> bool:
        """Whether the index has the table; a table once there is remembered (asked per event)."""
        if table_name in self._tables:
            return True
        present = super().has_table(table_name)
        if present:
            self._tables.add(table_name)
        return present

    def watch(self, run_id: str, cursor: str | None, callback: EventHandlerFn) -> None:
        """Call ``callback`` with the run's new events as they are written (the UI's live log).

        Dagster's watcher waits for the run's database file to change, which a write did when its
        connection closed and checkpointed; a kept connection writes the WAL file beside it.
        """
        if not self._obs:
            self._obs = Observer()  # type: ignore[assignment]
            self._obs.start()  # type: ignore[attr-defined]
        watchdog = _RunFilesWatchdog(self, run_id, callback, cursor)
        watch = self._obs.schedule(watchdog, self._base_dir, recursive=True)  # type: ignore[attr-defined]
        self._watchers[run_id][callback] = (watchdog, watch)

    def dispose(self) -> None:
        with self._engines_lock:
            engines, self._engines = list(self._engines.values()), OrderedDict()
        for engine in engines:
            engine.dispose()
        super().dispose()


INIT_ATTEMPTS = 10


def _concurrent_init(message: str) -> bool:
    """Whether an error creating a run's file means another process is creating it (as Dagster)."""
    return bool(
        re.search(r"table [A-Za-z_]* already exists", message)
        or "database is locked" in message
        or "UNIQUE constraint failed: alembic_version.version_num" in message
    )


@functools.cache
def _migration_scripts() -> ScriptDirectory:
    """Dagster's migration scripts for the event log, read once per process."""
    from dagster._core.storage.event_log.sqlite import sqlite_event_log

    return ScriptDirectory.from_config(get_alembic_config(sqlite_event_log.__file__))


class _RunFilesWatchdog(SqliteEventLogStorageWatchdog):
    """Dagster's watcher of a run's events, woken by its database file or that file's WAL."""

    def __init__(self, storage: SqliteEventLogStorage, run_id: str, callback: Any, cursor: Any):
        super().__init__(storage, run_id, callback, cursor)
        self._files = {self._log_path, self._log_path + "-wal"}
        self._patterns = sorted(self._files)

    def on_modified(self, event: FileSystemEvent) -> None:
        if event.src_path in self._files:
            self._process_log()
