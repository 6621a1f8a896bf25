"""The SQL databases the platform keeps its own state in (metric store, alert outbox).

One engine per URL, with its tables created: SQLite on the embedded default (a folder made for
the file, WAL journal and a wait for the lock) and PostgreSQL in production.

SQLite files in WAL mode commit without waiting for the disk (``synchronous=NORMAL``): a commit
otherwise waits for an fsync (about 3 ms here), and a model-day's run commits hundreds of times
(Dagster's embedded instance stores every event in its own transaction). A crash of the process
loses nothing; a power cut can lose the last commits, never corrupt a file.
:func:`install_sqlite_commit_settings` applies the same to every SQLite file in WAL mode the
process opens, Dagster's own storage included.
"""

from __future__ import annotations

import datetime as dt
import sqlite3
from pathlib import Path
from typing import Any

import sqlalchemy as sa

SQLITE_FILE_PREFIX = "sqlite:///"
# How long a connection waits for a lock another process holds before failing.
SQLITE_BUSY_TIMEOUT_MS = 30_000


def open_engine(url: str, metadata: sa.MetaData) -> sa.Engine:
    """An engine on ``url`` with the tables of ``metadata`` created when missing."""
    if url.startswith(SQLITE_FILE_PREFIX) and not url.startswith("sqlite:////:memory:"):
        Path(url[len(SQLITE_FILE_PREFIX) :]).parent.mkdir(parents=True, exist_ok=True)
    engine = sa.create_engine(url, future=True, pool_pre_ping=True)
    if engine.dialect.name == "sqlite":
        sa.event.listen(engine, "connect", _sqlite_pragmas)
    _create_tables(engine, metadata)
    return engine


# Times the tables are created again after another process created some at the same moment.
CREATE_ATTEMPTS = 3


def _create_tables(engine: sa.Engine, metadata: sa.MetaData) -> None:
    """Create the missing tables; another process creating them at the same moment is no error.

    ``create_all`` looks for each table, then creates the missing ones: two run processes
    opening a new metric store at once could both find a table missing, and the second's
    CREATE TABLE failed ("already exists"), failing its run's first step. The next attempt
    finds the tables the other process made; an error that persists is raised.
    """
    for attempt in range(1, CREATE_ATTEMPTS + 1):
        try:
            metadata.create_all(engine)
            return
        except sa.exc.DBAPIError:
            if attempt == CREATE_ATTEMPTS:
                raise


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    try:
        # Several run processes may write at once: wait for the lock instead of failing, from
        # the first statement on (switching the journal takes the lock too).
        cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
        (mode,) = cursor.execute("PRAGMA journal_mode").fetchone()
        if str(mode).lower() != "wal":
            cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
    finally:
        cursor.close()


def install_sqlite_commit_settings() -> None:
    """Every SQLite connection this process opens on a WAL file commits without an fsync.

    Each also waits as long as the platform's own connections (``SQLITE_BUSY_TIMEOUT_MS``) for a
    lock another process holds: reading the journal mode may need one.
    """
    if not sa.event.contains(sa.Engine, "connect", wal_commits_without_fsync):
        sa.event.listen(sa.Engine, "connect", wal_commits_without_fsync)


def wal_commits_without_fsync(dbapi_connection: Any, _record: Any = None) -> None:
    """A SQLite connection's settings: wait for locks as ours do; on a WAL file, no fsync per commit."""
    if not isinstance(dbapi_connection, sqlite3.Connection):
        return
    cursor = dbapi_connection.cursor()
    try:
        # Reading the journal mode waits for a lock another process holds: as long as ours do.
        (timeout,) = cursor.execute("PRAGMA busy_timeout").fetchone()
        if int(timeout) < SQLITE_BUSY_TIMEOUT_MS:
            cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
        (mode,) = cursor.execute("PRAGMA journal_mode").fetchone()
        if str(mode).lower() == "wal":  # a rollback journal keeps its full synchronisation
            cursor.execute("PRAGMA synchronous=NORMAL")
    finally:
        cursor.close()


def as_date(value: Any) -> dt.date:
    """A date column's value as a date, whether the backend returns a date, a timestamp or text."""
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    return dt.date.fromisoformat(str(value)[:10])
