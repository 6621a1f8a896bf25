"""One partition's ingestion: every line of a model-day's objects accepted or quarantined.

The objects are read as batches of lines (:mod:`monitoring_platform.lib.objects`) and DuckDB
checks each batch against the record contract (:mod:`monitoring_platform.lib.contract`) as it
arrives. Every line that is not blank becomes exactly one row of the accepted table or of the
quarantine (with its reason and the raw line), so ``rows_in == accepted + quarantined`` always
holds. A record whose key an earlier accepted record has is quarantined as a duplicate.

Memory stays bounded: DuckDB works under ``memory_limit`` in an in-memory database that spills
to a temporary folder beyond it. Only quarantined lines keep their raw text; duplicates are
found on the keys alone, and their raw lines (rarely any) are read again from their objects.
"""

from __future__ import annotations

import tempfile
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from monitoring_platform.config import ModelConfig
from monitoring_platform.lib.contract import (
    AMBIGUOUS_REASON,
    RAW_LINE,
    RecordContract,
    log_contract,
    parse_sql,
)
from monitoring_platform.lib.objects import (
    DEFAULT_MAX_LINE_BYTES,
    LINES_SCHEMA,
    UNFINISHED_REASON,
    ObjectsRead,
    list_partition_objects,
    read_object,
)
from monitoring_platform.lib.storage import ObjectInfo, ObjectStore

SCAN_ROWS = 10_240
# The column that numbers a line's object while it is parsed.
OBJECT_NUMBER = "object_number"
# At most this many objects are parsed in one statement (its list of keys stays short).
STATEMENT_BATCHES = 1024
# A batch of lines with the number of its object, as a statement reads it.
_NUMBERED_SCHEMA = LINES_SCHEMA.append(pa.field(OBJECT_NUMBER, pa.int32()))


@dataclass
class IngestResult(ObjectsRead):
    """What one partition's ingestion read and decided."""

    rows_in: int = 0
    accepted: int = 0
    quarantined: int = 0
    reasons: dict[str, int] = field(default_factory=dict)
    accepted_path: Path | None = None
    quarantine_path: Path | None = None

    @property
    def quarantine_share(self) -> float:
        """The share of the lines read that were quarantined (0 for an empty day)."""
        return self.quarantined / self.rows_in if self.rows_in else 0.0


def _duplicates_sql(contract: RecordContract) -> str:
    """Table ``duplicates``: every accepted row whose key an earlier accepted row has.

    Only the keys and positions of the accepted rows are read, never their raw text; the keys
    seen more than once are found first, so only their rows are ordered.
    """
    keys = ", ".join(contract.key_columns)
    same_key = " AND ".join(f"p.{c} IS NOT DISTINCT FROM r.{c}" for c in contract.key_columns)
    return f"""
CREATE OR REPLACE TABLE duplicates AS
WITH repeated AS (
    SELECT {keys} FROM parsed WHERE reason IS NULL GROUP BY ALL HAVING count(*) > 1
), candidates AS (
    SELECT p.* FROM parsed AS p SEMI JOIN repeated AS r ON {same_key}
    WHERE p.reason IS NULL
)
SELECT object_key, line_no,
       'duplicate {contract.key_label} (first at ' || first_object || ' line ' || first_line
       || ')' AS reason
FROM (
    SELECT object_key, line_no,
           row_number() OVER w AS n,
           first_value(object_key) OVER w AS first_object,
           first_value(line_no) OVER w AS first_line
    FROM candidates
    WINDOW w AS (PARTITION BY {keys} ORDER BY object_key, line_no)
)
WHERE n > 1
"""  # noqa: S608 -- configured identifiers and fixed text


def _split_sql(contract: RecordContract, accepted_path: Path, quarantine_path: Path) -> list[str]:
    """Statements quarantining the duplicates, then writing the two Parquet files.

    Both are ordered by object key and line: the accepted rows as they were inserted. The raw text of the duplicates is read into ``duplicate_raw`` beforehand.
    """
    accepted_cols = ", ".join(contract.columns)
    return [
        """
UPDATE parsed SET reason = found.reason, raw = found.raw
FROM (SELECT d.object_key, d.line_no, d.reason, coalesce(r.raw, '') AS raw
      FROM duplicates AS d LEFT JOIN duplicate_raw AS r USING (object_key, line_no)) AS found
WHERE parsed.object_key = found.object_key AND parsed.line_no = found.line_no
""",
        f"""
COPY (SELECT {accepted_cols} FROM parsed WHERE reason IS NULL)
TO '{_sql_path(accepted_path)}' (FORMAT PARQUET, COMPRESSION ZSTD)
""",  # noqa: S608 -- configured identifiers and a path this module made
        f"""
COPY (SELECT object_key, line_no, reason, raw FROM parsed
      WHERE reason IS NOT NULL ORDER BY object_key, line_no)
TO '{_sql_path(quarantine_path)}' (FORMAT PARQUET, COMPRESSION ZSTD)
""",  # noqa: S608 -- a path this module made
    ]


def _sql_path(path: Path) -> str:
    # Paths are created by this module in its own temporary folder; quote defensively anyway.
    return str(path).replace("'", "''")


def ingest_partition(
    store: ObjectStore,
    model: ModelConfig,
    date: str,
    workdir: Path,
    *,
    max_line_bytes: int = DEFAULT_MAX_LINE_BYTES,
    memory_limit: str = "1GB",
    contract: RecordContract | None = None,
) -> IngestResult:
    """Ingest ``model``'s logs for ``date`` from ``store``; write Parquet files into ``workdir``.

    Returns the counts and the paths of ``accepted.parquet`` and ``quarantine.parquet`` (both are
    always written, empty when there is nothing to put in them). ``contract`` replaces the
    inference-log contract for other kinds of records (business events, labels).
    """
    contract = contract or log_contract(model)
    workdir.mkdir(parents=True, exist_ok=True)
    accepted_path, quarantine_path = workdir / "accepted.parquet", workdir / "quarantine.parquet"
    result = IngestResult(accepted_path=accepted_path, quarantine_path=quarantine_path)
    parse = parse_sql(contract, carry=OBJECT_NUMBER)
    with tempfile.TemporaryDirectory(dir=workdir, prefix="duckdb-") as tmp:
        # An in-memory database that spills to ``tmp`` beyond ``memory_limit``.
        con = duckdb.connect()
        try:
            con.execute("SET TimeZone = 'UTC'")
            con.execute(f"SET memory_limit = '{memory_limit}'")
            con.execute(f"SET temp_directory = '{_sql_path(Path(tmp) / 'spill')}'")
            # Rows stay in the order they are inserted (objects by key, lines in order): the
            # accepted rows are written in that order without sorting them.
            con.execute("SET preserve_insertion_order = true")
            con.execute(
                "CREATE TABLE duplicate_raw (object_key VARCHAR, line_no BIGINT, raw VARCHAR)"
            )
            # By key: the order of the accepted rows (code points sort as DuckDB's bytes do).
            objects = sorted(list_partition_objects(store, model.name, date), key=lambda o: o.key)
            _parse_into_table(
                con,
                objects,
                lambda obj: read_object(con, store, obj, result, Path(tmp), max_line_bytes),
                parse,
            )
            con.execute(_duplicates_sql(contract))
            _read_duplicate_raw(con, store, objects, Path(tmp), max_line_bytes)
            for statement in _split_sql(contract, accepted_path, quarantine_path):
                con.execute(statement)
            result.rows_in = con.execute("SELECT count(*) FROM parsed").fetchall()[0][0]
            rows = con.execute(
                "SELECT reason, count(*) FROM parsed WHERE reason IS NOT NULL GROUP BY ALL"
            ).fetchall()
        finally:
            con.close()
    result.reasons = dict(sorted(_group_reasons(rows).items(), key=lambda kv: (-kv[1], kv[0])))
    result.quarantined = sum(n for _, n in rows)
    result.accepted = result.rows_in - result.quarantined
    return result


def _parse_into_table(
    con: duckdb.DuckDBPyConnection,
    objects: list[ObjectInfo],
    read: Callable[[ObjectInfo], Iterator[pa.Table]],
    parse: str,
) -> None:
    """Table ``parsed``: each line's object key and the ``parse`` query's columns, in order.

    ``read(obj)`` gives the batches of one object's lines. One statement parses the lines of up
    to ``STATEMENT_BATCHES`` objects as a stream that DuckDB pulls as it parses, so a day of any
    size is planned once (tens of milliseconds for this query) and its text is never held
    whole; the first statement creates the table. The raw text is kept for quarantined lines
    only (empty for the others). An error reading an object is raised as it was raised.
    """
    # Lines carry their object's number in the statement's list of keys (from 1).
    select = (
        f"SELECT CAST($keys AS VARCHAR[])[{OBJECT_NUMBER}] AS object_key, "  # noqa: S608
        f"* EXCLUDE ({OBJECT_NUMBER}) FROM ({parse})"
    )
    statement = f"CREATE TABLE parsed AS {select}"
    for first in range(0, max(len(objects), 1), STATEMENT_BATCHES):
        _parse_stream(con, objects[first : first + STATEMENT_BATCHES], read, statement)
        statement = f"INSERT INTO parsed {select}"


def _parse_stream(
    con: duckdb.DuckDBPyConnection,
    group: list[ObjectInfo],
    read: Callable[[ObjectInfo], Iterator[pa.Table]],
    statement: str,
) -> None:
    """Run ``statement`` over the lines of ``group``'s objects, read as DuckDB pulls them."""
    failed: list[BaseException] = []

    def batches() -> Iterator[pa.RecordBatch]:
        try:
            for number, obj in enumerate(group, start=1):
                for batch in read(obj):
                    # Chunks DuckDB's threads share out: several make the parse parallel.
                    yield from _numbered(batch, number).to_batches(max_chunksize=SCAN_ROWS)
        except BaseException as exc:
            failed.append(exc)
            raise

    stream = pa.RecordBatchReader.from_batches(_NUMBERED_SCHEMA, batches())
    try:
        _run_on_batch(con, stream, statement, {"keys": [obj.key for obj in group]})
    except duckdb.Error:
        if failed:  # the reader's own error, not DuckDB's wrapping of it
            raise failed[0] from None
        raise


def _numbered(batch: pa.Table, number: int) -> pa.Table:
    """A batch of lines with the number of the object they came from as a column."""
    numbers = pa.array(np.full(batch.num_rows, number, np.int32))
    return batch.append_column(OBJECT_NUMBER, numbers)


def _run_on_batch(
    con: duckdb.DuckDBPyConnection,
    batch: pa.Table | pa.RecordBatchReader,
    sql: str,
    params: dict[str, Any],
) -> None:
    if isinstance(batch, pa.Table):
        # DuckDB's threads share out the chunks of an Arrow table: several make it parallel.
        batch = pa.Table.from_batches(batch.to_batches(max_chunksize=SCAN_ROWS), batch.schema)
    con.register("batch", batch)
    try:
        con.execute(sql, params)
    finally:
        con.unregister("batch")


def _read_duplicate_raw(
    con: duckdb.DuckDBPyConnection,
    store: ObjectStore,
    objects: list[ObjectInfo],
    tmp: Path,
    max_line_bytes: int,
) -> None:
    """Fill ``duplicate_raw`` with the raw text of the duplicates, reading their objects again.

    Duplicates are few, so the raw text of accepted lines is not kept while parsing.
    """
    rows = con.execute(
        "SELECT object_key, list(line_no) FROM duplicates GROUP BY object_key ORDER BY object_key"
    ).fetchall()
    by_key = {obj.key: obj for obj in objects}
    insert = f"INSERT INTO duplicate_raw SELECT $key, line_no, {RAW_LINE} FROM batch"  # noqa: S608
    for key, lines in rows:
        wanted = pa.array(lines, pa.int64())
        for batch in read_object(con, store, by_key[key], ObjectsRead(), tmp, max_line_bytes):
            picked = batch.filter(pc.is_in(batch.column("line_no"), value_set=wanted))
            if picked.num_rows:
                _run_on_batch(con, picked, insert, {"key": key})


def _group_reasons(rows: list[tuple[str, int]]) -> Counter:
    """Reason counts with the per-row details (line numbers, sizes) folded away."""
    grouped: Counter = Counter()
    for reason, count in rows:
        for part in reason.split("; "):
            grouped[_reason_kind(part)] += count
    return grouped


def _reason_kind(reason: str) -> str:
    if reason.startswith("duplicate ") and " (first at " in reason:
        return reason.split(" (first at ")[0]
    if reason.startswith("line is not valid UTF-8"):
        return "line is not valid UTF-8"
    if reason.startswith("line is ") and "over the limit" in reason:
        return "line over the size limit"
    if reason.startswith("object unreadable"):
        return "object unreadable"
    if reason.startswith("object is not readable Parquet"):
        return "object is not readable Parquet"
    if reason.startswith(AMBIGUOUS_REASON):
        return AMBIGUOUS_REASON
    if reason.startswith(UNFINISHED_REASON):
        return UNFINISHED_REASON
    return reason
