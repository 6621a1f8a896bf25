"""The embedded instance's event log: Dagster's SQLite files, with connections kept open."""

import logging
import os
import threading
import time
import uuid
from pathlib import Path

import pytest
import sqlalchemy as sa
from dagster import (
    AssetCheckKey,
    AssetCheckResult,
    AssetCheckSpec,
    AssetKey,
    DagsterEventType,
    DagsterInstance,
    DailyPartitionsDefinition,
    MaterializeResult,
    asset,
    materialize,
)
from dagster._check import CheckError
from dagster._core.events.log import EventLogEntry
from dagster._core.storage.event_log import SqliteEventLogStorage
from dagster._core.storage.event_log.sqlite import sqlite_event_log
from dagster._core.storage.sql import check_alembic_revision, get_alembic_config

from monitoring_platform.defs.orchestration.event_storage import (
    OPEN_DATABASES,
    PooledSqliteEventLogStorage,
)
from monitoring_platform.defs.orchestration.instance import write_embedded_instance

DAYS = DailyPartitionsDefinition(start_date="2026-10-01")


@asset(partitions_def=DAYS)
def scores() -> MaterializeResult:
    return MaterializeResult(metadata={"rows": 3})


@asset(
    partitions_def=DAYS,
    deps=[scores],
    check_specs=[AssetCheckSpec("rows_positive", asset="summary")],
)
def summary() -> MaterializeResult:
    return MaterializeResult(
        metadata={"rows": 1},
        check_results=[AssetCheckResult(check_name="rows_positive", passed=True)],
    )


def _run_day(instance: DagsterInstance, day: str) -> str:
    result = materialize([scores, summary], partition_key=day, instance=instance)
    assert result.success
    return result.run_id


def _plain_instance(home: Path) -> DagsterInstance:
    """Dagster's own SQLite storage over the same folder."""
    (home / "dagster.yaml").write_text("telemetry: {enabled: false}\n")
    return DagsterInstance.from_config(str(home))


def _what_a_run_recorded(instance: DagsterInstance, run_id: str) -> list[tuple]:
    return [
        (e.dagster_event_type, e.dagster_event and e.dagster_event.step_key)
        for e in instance.all_logs(run_id)
        if e.is_dagster_event
    ]


def test_dagsters_storage_reads_what_it_wrote_and_writes_on(tmp_path, monkeypatch):
    """Same files, schema and records: either storage continues the other's instance."""
    home = tmp_path / "dagster_home"
    monkeypatch.setenv("DAGSTER_HOME", str(home))
    write_embedded_instance(home)
    with DagsterInstance.from_config(str(home)) as pooled:
        assert isinstance(pooled.event_log_storage, PooledSqliteEventLogStorage)
        first = _run_day(pooled, "2026-10-01")
        recorded = _what_a_run_recorded(pooled, first)
    assert (DagsterEventType.ASSET_MATERIALIZATION, "summary") in recorded
    with _plain_instance(home) as plain:
        assert _what_a_run_recorded(plain, first) == recorded
        second = _run_day(plain, "2026-10-02")
        check = plain.event_log_storage.get_latest_asset_check_execution_by_key(
            [AssetCheckKey(AssetKey("summary"), "rows_positive")]
        )
        assert len(check) == 1
    write_embedded_instance(home)
    with DagsterInstance.from_config(str(home)) as pooled:
        assert _what_a_run_recorded(pooled, second)
        assert pooled.get_materialized_partitions(AssetKey("summary")) == {
            "2026-10-01",
            "2026-10-02",
        }


def test_a_run_opens_a_few_connections_not_one_per_event(tmp_path, monkeypatch):
    """Dagster's own storage connects to the event files for every read and write of a run."""
    home = tmp_path / "dagster_home"
    monkeypatch.setenv("DAGSTER_HOME", str(home))
    events = str(home / "history" / "runs") + os.sep  # not the run storage, history/runs.db
    opened: list[str] = []

    def count(dbapi_connection, _record) -> None:
        (_, _, path) = dbapi_connection.execute("PRAGMA database_list").fetchone()
        if path.startswith(events):
            opened.append(path)

    write_embedded_instance(home)
    with DagsterInstance.from_config(str(home)) as instance:
        _run_day(instance, "2026-10-01")  # the index and its tables made
        sa.event.listen(sa.Engine, "connect", count)
        try:
            _run_day(instance, "2026-10-02")
            pooled = list(opened)
            opened.clear()
            with _plain_instance(home) as plain:
                _run_day(plain, "2026-10-03")
        finally:
            sa.event.remove(sa.Engine, "connect", count)
    # The new run's file (twice while its tables are made); the index stayed open.
    assert len(pooled) <= 2 and len(set(pooled)) == 1, pooled
    assert not pooled[0].endswith("index.db"), pooled
    assert len(opened) >= 20, len(opened)


def _log_entry(run_id: str, message: str) -> EventLogEntry:
    return EventLogEntry(
        error_info=None,
        level=logging.INFO,
        user_message=message,
        run_id=run_id,
        timestamp=time.time(),
    )


def test_a_watcher_sees_each_event_as_it_is_written(tmp_path):
    """The UI's live run log: the run's file is unchanged until a checkpoint, its WAL is not."""
    storage = PooledSqliteEventLogStorage(str(tmp_path / "runs"))
    run_id = str(uuid.uuid4())
    storage.store_event(_log_entry(run_id, "first"))
    seen: list[str] = []
    changed = threading.Condition()

    def on_event(entry: EventLogEntry, _cursor: str) -> None:
        with changed:
            seen.append(entry.user_message)
            changed.notify_all()

    try:
        storage.watch(run_id, None, on_event)
        for message in ("second", "third"):
            storage.store_event(_log_entry(run_id, message))
            # Watched from no cursor, the first wake also delivers "first": wait for this one.
            with changed:
                arrived = changed.wait_for(lambda m=message: m in seen, timeout=10)
            assert arrived, f"{message!r} was written but the watcher was not woken"
        assert seen == ["first", "second", "third"]  # each once, in order
        storage.end_watch(run_id, on_event)
    finally:
        storage.dispose()


def _open_db_files() -> set[str]:
    names = set()
    for fd in os.listdir("/proc/self/fd"):
        try:
            target = os.readlink(f"/proc/self/fd/{fd}")
        except OSError:
            continue
        if target.endswith(".db"):
            names.add(target)
    return names


def test_a_long_lived_process_keeps_only_a_few_run_files_open(tmp_path):
    """The webserver and daemon live for weeks: every run's file held open would leak."""
    storage = PooledSqliteEventLogStorage(str(tmp_path / "runs"))
    try:
        for n in range(OPEN_DATABASES + 6):
            storage.store_event(_log_entry(str(uuid.uuid4()), f"run {n}"))
        held = {f for f in _open_db_files() if f.startswith(str(tmp_path))}
        assert 2 <= len(held) <= OPEN_DATABASES, held
    finally:
        storage.dispose()
    assert not {f for f in _open_db_files() if f.startswith(str(tmp_path))}


def test_a_batch_is_stored_whole_or_not_at_all(tmp_path):
    storage = PooledSqliteEventLogStorage(str(tmp_path / "runs"))
    run_id = str(uuid.uuid4())
    good = [_log_entry(run_id, f"event {n}") for n in range(5)]
    try:
        with pytest.raises(CheckError):
            storage.store_event_batch([*good, "not an event"])  # type: ignore[list-item]
        assert storage.get_records_for_run(run_id).records == []
        storage.store_event_batch(good)
    finally:
        storage.dispose()
    plain = SqliteEventLogStorage(str(tmp_path / "runs"))
    try:
        stored = [r.event_log_entry.user_message for r in plain.get_records_for_run(run_id).records]
    finally:
        plain.dispose()
    assert stored == [e.user_message for e in good]


def test_a_new_run_file_is_at_dagsters_latest_schema(tmp_path):
    storage = PooledSqliteEventLogStorage(str(tmp_path / "runs"))
    run_id = str(uuid.uuid4())
    try:
        storage.store_event(_log_entry(run_id, "first"))
    finally:
        storage.dispose()
    engine = sa.create_engine(f"sqlite:///{tmp_path / 'runs' / run_id}.db")
    try:
        with engine.connect() as conn:
            revision, head = check_alembic_revision(
                get_alembic_config(sqlite_event_log.__file__), conn
            )
    finally:
        engine.dispose()
    assert revision is not None and revision == head


def test_a_runs_planned_events_arrive_as_one_batch(tmp_path, monkeypatch):
    """Dagster batches a run's planned materializations and checks when told a batch size."""
    home = tmp_path / "dagster_home"
    monkeypatch.setenv("DAGSTER_HOME", str(home))
    monkeypatch.delenv("DAGSTER_EVENT_BATCH_SIZE", raising=False)
    batches: list[int] = []
    store_batch = PooledSqliteEventLogStorage.store_event_batch

    def counted(self, events):
        batches.append(len(events))
        store_batch(self, events)

    monkeypatch.setattr(PooledSqliteEventLogStorage, "store_event_batch", counted)
    write_embedded_instance(home)
    with DagsterInstance.from_config(str(home)) as instance:
        run_id = _run_day(instance, "2026-10-01")
        recorded = _what_a_run_recorded(instance, run_id)
    assert batches and max(batches) >= 3, batches  # 2 materializations and 1 check planned
    planned = [t for t, _ in recorded if t.value.endswith("_PLANNED")]
    assert len(planned) == 3, recorded


def test_a_run_file_commits_without_an_fsync(tmp_path):
    """Its connection, kept for the run, was opened before the new file was switched to WAL."""
    storage = PooledSqliteEventLogStorage(str(tmp_path / "runs"))
    run_id = str(uuid.uuid4())
    try:
        storage.store_event(_log_entry(run_id, "first"))
        for shard in (run_id, "index"):
            with storage._connect(shard) as conn:
                assert conn.execute(sa.text("PRAGMA journal_mode")).scalar() == "wal"
                assert conn.execute(sa.text("PRAGMA synchronous")).scalar() == 1, shard  # NORMAL
    finally:
        storage.dispose()
