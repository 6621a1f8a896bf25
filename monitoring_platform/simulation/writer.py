"""Rendering simulated calls as JSON lines, damaging a few, and writing compressed objects."""

from __future__ import annotations

import datetime as dt
import gzip
import json
from collections import defaultdict, deque
from concurrent.futures import Future, ThreadPoolExecutor

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from monitoring_platform.config import Columns
from monitoring_platform.lib.storage import ObjectStore, join_key, partition_prefix
from monitoring_platform.simulation.scenario import (
    EPOCH,
    GARBAGE_LINES,
    GZIP_LEVEL,
    LOG_FIELDS,
    MS_PER_DAY,
    MS_PER_PART,
    PARTS_PER_DAY,
)
from monitoring_platform.simulation.simulator import Traffic
from monitoring_platform.simulation.summary import DaySummary
from monitoring_platform.simulation.text import iso_utc


def write_logs(
    con: duckdb.DuckDBPyConnection,
    writer: Writer,
    store: ObjectStore,
    traffic: Traffic,
    summary: DaySummary,
) -> None:
    """Render one day of calls as JSON lines, damage a few, re-send a few, write the parts."""
    n, damage = len(traffic.ms_of_day), traffic.damage
    groups = []
    position = np.empty(n, np.int64)
    rendered = 0
    for failed in (False, True):
        for bugged in (False, True):
            rows = np.flatnonzero((traffic.failed == failed) & (traffic.schema_bug == bugged))
            if rows.size:
                groups.append(json_lines(con, _log_table(traffic, rows, failed, bugged)))
                position[rows] = rendered + np.arange(rows.size)
                rendered += rows.size
    lines = pa.concat_arrays(groups)

    broken = [
        _malformed_line(lines[int(position[row])].as_py(), draws, traffic.columns)
        for row, draws in zip(damage.malformed, damage.malformed_draws, strict=True)
    ]
    position[damage.malformed] = len(lines) + np.arange(len(broken))
    lines = pa.concat_arrays([lines, pa.array(broken, lines.type)])

    keys = np.concatenate([np.arange(n, dtype=float), damage.resent_after + 0.5])
    rows = np.concatenate([np.arange(n), damage.resent])[np.argsort(keys, kind="stable")]
    bounds = np.searchsorted(traffic.ms_of_day[rows] // MS_PER_PART, np.arange(PARTS_PER_DAY + 1))
    prefix = partition_prefix(summary.model, traffic.day.isoformat())
    for index in range(PARTS_PER_DAY):
        chunk = rows[bounds[index] : bounds[index + 1]]
        if chunk.size:
            key = join_key(prefix, f"part-{index:04d}.jsonl.gz")
            writer.put(store, key, lines_bytes(lines.take(position[chunk])))
            summary.log_keys.append(key)
    summary.log_records = len(rows)
    summary.malformed_lines = len(broken)
    summary.duplicate_records = len(damage.resent)


def _log_table(traffic: Traffic, rows: np.ndarray, failed: bool, bugged: bool) -> pa.Table:
    """The log records at ``rows`` with the configured field names, in contract order."""
    indices = pa.array(rows)
    features = {}
    for name, values in traffic.features.items():
        values = values.take(indices)
        if bugged and name == traffic.stringified:
            values = pc.cast(values, pa.string())
        features[traffic.renamed.get(name, name) if bugged else name] = values
    table = {}
    for name in LOG_FIELDS:
        if name == "features":
            table[traffic.columns.features] = pa.StructArray.from_arrays(
                list(features.values()), list(features)
            )
        elif name != "error" or failed:
            table[getattr(traffic.columns, name)] = traffic.record[name].take(indices)
    return pa.table(table)


def json_lines(con: duckdb.DuckDBPyConnection, table: pa.Table) -> pa.Array:
    """One JSON object per row, each ending in a newline, in the table's order."""
    con.register("batch", table)
    try:
        result = con.sql("SELECT to_json(batch) || chr(10) AS line FROM batch").to_arrow_table()
    finally:
        con.unregister("batch")
    return result.column("line").cast(pa.large_string()).combine_chunks()


def lines_bytes(lines: pa.Array) -> memoryview:
    """The concatenated bytes of a large-string array, without copying them."""
    offsets = np.frombuffer(lines.buffers()[1], np.int64, len(lines) + 1, lines.offset * 8)
    return memoryview(lines.buffers()[2])[offsets[0] : offsets[-1]]


def _malformed_line(line: str, draws: np.ndarray, columns: Columns) -> str:
    """A damaged log line, chosen by two uniform draws.

    Truncated, garbage, an array, a bad latency or no request id.
    """
    line = line.rstrip("\n")
    kind, detail = int(draws[0] * 5), draws[1]
    if kind == 0:
        return line[: 10 + int(detail * (len(line) - 12))] + "\n"
    if kind == 1:
        return GARBAGE_LINES[int(detail * len(GARBAGE_LINES))] + "\n"
    record = json.loads(line)
    if kind == 2:
        return json.dumps(list(record.values()), separators=(",", ":")) + "\n"
    if kind == 3:
        record[columns.latency_ms] = "fast"
    else:
        del record[columns.request_id]
    return json.dumps(record, separators=(",", ":")) + "\n"


class Backlog:
    """Labels or events waiting until the day they land on is written; later than ``end`` never."""

    def __init__(self, end: dt.date):
        self._last_day = (end - EPOCH).days
        self._waiting: dict[int, list[pa.Table]] = defaultdict(list)

    def add(self, table: pa.Table) -> None:
        """Queue records by the day of their ``at_ms`` time."""
        day = table["at_ms"].to_numpy() // MS_PER_DAY
        for number in np.unique(day[day <= self._last_day]):
            self._waiting[int(number)].append(table.filter(pa.array(day == number)))

    def pop(self, day: dt.date, time_field: str) -> pa.Table | None:
        """The records landing on ``day`` in time order, their time as ISO text in ``time_field``."""
        tables = self._waiting.pop((day - EPOCH).days, [])
        if not tables:
            return None
        table = pa.concat_tables(tables)
        at_ms = table["at_ms"].to_numpy()
        order = np.argsort(at_ms, kind="stable")
        table = table.take(pa.array(order)).drop_columns("at_ms")
        return table.append_column(time_field, iso_utc(at_ms[order]))


def _put_gzipped(store: ObjectStore, key: str, data: memoryview) -> None:
    """Compress one object (reproducibly: no timestamp in the header) and store it."""
    store.put_bytes(key, gzip.compress(data, GZIP_LEVEL, mtime=0), "application/gzip")


class Writer:
    """Compresses and uploads objects on background threads, a bounded number at a time."""

    def __init__(self, workers: int = 2, max_pending: int = 8):
        self._pool = ThreadPoolExecutor(workers, thread_name_prefix="traffic-writer")
        self._pending: deque[Future] = deque()
        self._max_pending = max_pending

    def put(self, store: ObjectStore, key: str, data: memoryview) -> None:
        """Queue one object; wait for the oldest ones while too many are queued."""
        self._pending.append(self._pool.submit(_put_gzipped, store, key, data))
        while len(self._pending) > self._max_pending:
            self._pending.popleft().result()

    def wait(self) -> None:
        """Block until every queued object is stored; raise the first failure."""
        while self._pending:
            self._pending.popleft().result()

    def __enter__(self) -> Writer:
        return self

    def __exit__(self, *exc_info) -> None:
        try:
            if exc_info[0] is None:
                self.wait()
        finally:
            self._pool.shutdown(cancel_futures=True)
