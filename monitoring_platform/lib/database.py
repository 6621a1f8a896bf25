"""The SQL databases the platform keeps its own state in (metric store, alert outbox).

One engine per URL, with its tables created: SQLite on the embedded default (a folder made for
the file, WAL journal and a wait for the lock) and PostgreSQL in production.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import sqlalchemy as sa

SQLITE_FILE_PREFIX = "sqlite:///"


def open_engine(url: str, metadata: sa.MetaData) -> sa.Engine:
    """An engine on ``url`` with the tables of ``metadata`` created when missing."""
    if url.startswith(SQLITE_FILE_PREFIX) and not url.startswith("sqlite:////:memory:"):
        Path(url[len(SQLITE_FILE_PREFIX) :]).parent.mkdir(parents=True, exist_ok=True)
    engine = sa.create_engine(url, future=True, pool_pre_ping=True)
    if engine.dialect.name == "sqlite":
        sa.event.listen(engine, "connect", _sqlite_pragmas)
    metadata.create_all(engine)
    return engine


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    # Several run processes may write at once: wait for the lock instead of failing.
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.close()


def as_date(value: Any) -> dt.date:
    """A date column's value as a date, whether the backend returns a date, a timestamp or text."""
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    return dt.date.fromisoformat(str(value)[:10])
