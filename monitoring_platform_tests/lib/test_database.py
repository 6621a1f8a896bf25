"""The platform's own databases: one engine per URL with its tables, and date values read back."""

from __future__ import annotations

import datetime as dt

import pytest
import sqlalchemy as sa

from monitoring_platform.lib.database import (
    as_date,
    install_sqlite_commit_settings,
    open_engine,
)


def _table(metadata: sa.MetaData) -> sa.Table:
    return sa.Table("things", metadata, sa.Column("day", sa.Date, primary_key=True))


def test_a_sqlite_file_gets_its_folder_tables_and_wal_journal(tmp_path):
    metadata = sa.MetaData()
    things = _table(metadata)
    path = tmp_path / "nested" / "deeper" / "state.db"
    engine = open_engine(f"sqlite:///{path}", metadata)
    with engine.begin() as conn:
        conn.execute(things.insert(), [{"day": dt.date(2026, 3, 1)}])
        mode = conn.exec_driver_sql("PRAGMA journal_mode").scalar()
        timeout = conn.exec_driver_sql("PRAGMA busy_timeout").scalar()
        synchronous = conn.exec_driver_sql("PRAGMA synchronous").scalar()
    assert path.exists()
    assert mode == "wal"
    assert timeout == 30000
    assert synchronous == 1  # NORMAL: a WAL commit does not wait for the disk
    # A second engine on the same file finds the table and the row.
    again = open_engine(f"sqlite:///{path}", metadata)
    with again.connect() as conn:
        assert conn.execute(sa.select(things.c.day)).scalars().all() == [dt.date(2026, 3, 1)]


def test_an_in_memory_database_makes_no_folder(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    metadata = sa.MetaData()
    _table(metadata)
    engine = open_engine("sqlite://", metadata)
    assert sa.inspect(engine).get_table_names() == ["things"]
    assert list(tmp_path.iterdir()) == []


def test_postgresql_gets_the_tables(postgres_url):
    metadata = sa.MetaData()
    _table(metadata)
    engine = open_engine(postgres_url, metadata)
    try:
        assert sa.inspect(engine).get_table_names() == ["things"]
    finally:
        engine.dispose()


@pytest.mark.parametrize(
    "value",
    [
        dt.date(2026, 2, 28),
        dt.datetime(2026, 2, 28, 23, 59, tzinfo=dt.UTC),
        "2026-02-28",
        "2026-02-28 00:00:00",
        "2026-02-28T12:30:00+00:00",
    ],
)
def test_a_date_reads_back_as_that_day_from_any_backend_form(value):
    assert as_date(value) == dt.date(2026, 2, 28)


def test_text_that_is_no_date_is_refused():
    with pytest.raises(ValueError):
        as_date("yesterday")


def test_every_wal_sqlite_file_of_the_process_commits_without_fsync(tmp_path):
    """Engines the platform does not make (Dagster's storage) get it too; rollback journals not."""
    install_sqlite_commit_settings()
    install_sqlite_commit_settings()  # once is enough; twice changes nothing

    def synchronous(path, wal: bool) -> int:
        engine = sa.create_engine(f"sqlite:///{path}", poolclass=sa.pool.NullPool)
        if wal:
            with engine.connect() as conn:
                conn.exec_driver_sql("PRAGMA journal_mode=WAL")
        with engine.connect() as conn:  # a new connection, as Dagster opens one per event
            return conn.exec_driver_sql("PRAGMA synchronous").scalar()

    assert synchronous(tmp_path / "events.db", wal=True) == 1
    assert synchronous(tmp_path / "journal.db", wal=False) == 2  # FULL, SQLite's default


def test_opening_waits_for_another_connections_lock_past_sqlite3s_own_timeout(tmp_path):
    # A file another process holds locked (here: a rollback journal under an exclusive
    # transaction for 6 s, longer than the 5 s sqlite3 waits by default): opening it, which
    # switches it to WAL, waits for the lock instead of failing with "database is locked".
    import sqlite3
    import threading
    import time

    install_sqlite_commit_settings()  # as the definitions do: its query waits too
    path = tmp_path / "state.db"
    holder = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    holder.execute("CREATE TABLE other (x INTEGER)")
    holder.execute("BEGIN EXCLUSIVE")
    released = threading.Timer(6.0, lambda: holder.execute("COMMIT"))
    released.start()
    began = time.monotonic()
    try:
        engine = open_engine(f"sqlite:///{path}", (metadata := sa.MetaData()))
        _table(metadata)
        metadata.create_all(engine)
        with engine.connect() as conn:
            assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
    finally:
        released.join()
        holder.close()
    assert time.monotonic() - began >= 5.5, "the lock was held: the open had to wait"


def test_tables_another_process_created_at_the_same_moment_are_no_error(tmp_path, monkeypatch):
    """Two run processes opening a new store at once: the one that loses the race goes on."""
    metadata = sa.MetaData()
    things = _table(metadata)
    url = f"sqlite:///{tmp_path / 'state.db'}"
    create_all = sa.MetaData.create_all
    calls = []

    def racing(self, bind, **kwargs):
        calls.append(bind)
        if len(calls) == 1:
            create_all(self, sa.create_engine(url))  # the other process creates the tables
            create_all(self, bind, checkfirst=False)  # this one's CREATE TABLE fails, as it did
        return create_all(self, bind, **kwargs)

    monkeypatch.setattr(sa.MetaData, "create_all", racing)
    engine = open_engine(url, metadata)
    assert len(calls) == 2
    with engine.begin() as conn:
        conn.execute(things.insert(), [{"day": dt.date(2026, 3, 2)}])

    def failing(self, bind, **kwargs):
        calls.append(bind)
        raise sa.exc.OperationalError("CREATE TABLE things", {}, Exception("disk I/O error"))

    monkeypatch.setattr(sa.MetaData, "create_all", failing)
    calls.clear()
    with pytest.raises(sa.exc.OperationalError, match="disk I/O error"):
        open_engine(f"sqlite:///{tmp_path / 'other.db'}", metadata)
    assert len(calls) == 3  # an error that persists is raised
