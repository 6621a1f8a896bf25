"""Storing a run's events: Dagster's SQLite event log against ``PooledSqliteEventLogStorage``.

Reads the events of one run of an instance written by the README's backfill command (for
example ``bench_backfill.py --rows 20000 --days 8 --keep DIR`` leaves one in ``DIR/dagster_home``)
and stores them again, under new run ids, into copies of that instance's event log:

- the run's planned events (one per asset and check the run plans), as Dagster writes them when
  it creates a run: one by one with Dagster's storage, and as the one batch Dagster hands over
  when ``DAGSTER_EVENT_BATCH_SIZE`` is set (``PooledSqliteEventLogStorage`` sets it);
- the run's other events (steps, outputs, materializations, check results), one by one, the
  milliseconds per event of each type.

The platform's SQLite settings (``install_sqlite_commit_settings``, as the definitions install
them) are on for both. Prints medians over ``--runs`` runs and their ratios.

Usage: ``python benchmarks/bench_event_log.py DIR/dagster_home [--runs 5]``
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import tempfile
import time
import uuid
from collections import defaultdict
from pathlib import Path

from dagster import DagsterEventType
from dagster._core.storage.event_log import SqliteEventLogStorage

from monitoring_platform.defs.orchestration.event_storage import PooledSqliteEventLogStorage
from monitoring_platform.lib.database import install_sqlite_commit_settings

PLANNED = {
    DagsterEventType.ASSET_MATERIALIZATION_PLANNED,
    DagsterEventType.ASSET_CHECK_EVALUATION_PLANNED,
}


def _run_events(runs_dir: Path) -> list:
    run_file = sorted(p for p in runs_dir.glob("*.db") if p.name != "index.db")[0]
    storage = SqliteEventLogStorage(str(runs_dir))
    try:
        records = storage.get_records_for_run(run_file.stem, limit=100_000).records
    finally:
        storage.dispose()
    return [r.event_log_entry for r in records]


def _measure(kind: str, runs_dir: Path, events: list, runs: int) -> tuple[list[float], dict]:
    """Seconds per run for the planned events, and seconds per other event by type."""
    copy = Path(tempfile.mkdtemp(prefix="bench-event-log-"))
    shutil.copytree(runs_dir, copy, dirs_exist_ok=True)
    storage = (
        SqliteEventLogStorage(str(copy))
        if kind == "dagster"
        else PooledSqliteEventLogStorage(str(copy))
    )
    planned_s: list[float] = []
    per_type: dict[str, list[float]] = defaultdict(list)
    try:
        for n in range(runs + 1):  # the first run warms the process up and is not counted
            run_id = str(uuid.uuid4())
            renamed = [e._replace(run_id=run_id) for e in events]
            planned = [e for e in renamed if e.dagster_event_type in PLANNED]
            started = time.perf_counter()
            if kind == "pooled":
                storage.store_event_batch(planned)
            else:
                for event in planned:
                    storage.store_event(event)
            took = time.perf_counter() - started
            timed: dict[str, list[float]] = defaultdict(list)
            for event in renamed:
                if event.dagster_event_type in PLANNED:
                    continue
                started = time.perf_counter()
                storage.store_event(event)
                name = event.dagster_event_type.value if event.dagster_event_type else "log"
                timed[name].append(time.perf_counter() - started)
            if n:
                planned_s.append(took)
                for name, values in timed.items():
                    per_type[name].extend(values)
    finally:
        storage.dispose()
        shutil.rmtree(copy, ignore_errors=True)
    return planned_s, per_type


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("dagster_home", type=Path)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    runs_dir = args.dagster_home / "history" / "runs"
    install_sqlite_commit_settings()
    events = _run_events(runs_dir)
    planned = sum(e.dagster_event_type in PLANNED for e in events)
    print(f"one run's events: {len(events)}, of which planned {planned}")
    results = {kind: _measure(kind, runs_dir, events, args.runs) for kind in ("dagster", "pooled")}
    (dagster_planned, dagster_types), (pooled_planned, pooled_types) = results.values()
    d, p = statistics.median(dagster_planned), statistics.median(pooled_planned)
    print(f"\nplanned events of a run: Dagster's {d:.3f} s, pooled batch {p:.3f} s ({d / p:.1f}x)")
    print(
        f"\n{'event type':34s} {'per run':>7s} {'Dagster ms':>11s} {'pooled ms':>10s} {'ratio':>6s}"
    )
    for name in sorted(dagster_types, key=lambda k: -sum(dagster_types[k])):
        dm = statistics.median(dagster_types[name]) * 1000
        pm = statistics.median(pooled_types[name]) * 1000
        count = len(dagster_types[name]) / args.runs
        print(f"{name:34s} {count:7.0f} {dm:11.2f} {pm:10.2f} {dm / pm:5.1f}x")


if __name__ == "__main__":
    main()
