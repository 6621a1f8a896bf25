"""Read one model-day of inference logs, enforce the record contract, split accepted from quarantined.

Objects are streamed (JSON Lines, gzipped JSON Lines or Parquet), cut into lines in Python and
parsed column-wise by DuckDB. Every line that is not blank becomes exactly one row of the
accepted table or of the quarantine (with its reason and the raw line), so
``rows_in == accepted + quarantined`` always holds.
"""

from __future__ import annotations

import shutil
import tempfile
import zlib
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import duckdb
import pyarrow as pa

from monitoring_platform.config import FeatureType, ModelConfig
from monitoring_platform.lib.storage import ObjectInfo, ObjectStore, partition_prefix

DEFAULT_MAX_LINE_BYTES = 1 << 20
READ_CHUNK_BYTES = 16 << 20
BATCH_LINES = 200_000

JSON_SUFFIXES = (".jsonl", ".json", ".ndjson")
SUPPORTED_SUFFIXES = (
    *JSON_SUFFIXES,
    *(s + ".gz" for s in JSON_SUFFIXES),
    ".parquet",
)

# DuckDB's json_type names, as a person writing JSON would say them.
_JSON_TYPE_WORDS = (
    "CASE {t} WHEN 'VARCHAR' THEN 'a string' WHEN 'BIGINT' THEN 'a number' "
    "WHEN 'UBIGINT' THEN 'a number' WHEN 'DOUBLE' THEN 'a number' WHEN 'BOOLEAN' THEN 'a boolean' "
    "WHEN 'OBJECT' THEN 'an object' WHEN 'ARRAY' THEN 'an array' ELSE lower({t}) END"
)
_NUMBER_TYPES = "('BIGINT', 'UBIGINT', 'DOUBLE')"
_INTEGER_TYPES = "('BIGINT', 'UBIGINT')"

LINES_SCHEMA = pa.schema(
    [
        ("object_key", pa.string()),
        ("line_no", pa.int64()),
        ("raw", pa.large_string()),
        ("pre_reason", pa.string()),
    ]
)


@dataclass
class IngestResult:
    """What one partition's ingestion read and decided."""

    objects: list[ObjectInfo] = field(default_factory=list)
    skipped_objects: list[str] = field(default_factory=list)
    bytes_read: int = 0
    rows_in: int = 0
    accepted: int = 0
    quarantined: int = 0
    reasons: dict[str, int] = field(default_factory=dict)
    accepted_path: Path | None = None
    quarantine_path: Path | None = None

    @property
    def quarantine_share(self) -> float:
        return self.quarantined / self.rows_in if self.rows_in else 0.0


def accepted_schema(model: ModelConfig) -> list[tuple[str, str]]:
    """Column names and DuckDB types of the accepted-rows table."""
    prediction_type = "DOUBLE" if model.prediction_is_numeric else "VARCHAR"
    columns = [
        ("request_id", "VARCHAR"),
        ("timestamp", "TIMESTAMPTZ"),
        ("model_version", "VARCHAR"),
        ("prediction", prediction_type),
        ("latency_ms", "DOUBLE"),
        ("status_code", "INTEGER"),
        ("error", "VARCHAR"),
    ]
    for feature in model.features:
        columns.append(
            (feature.name, "DOUBLE" if feature.type == FeatureType.numerical else "VARCHAR")
        )
    columns += [("object_key", "VARCHAR"), ("line_no", "BIGINT")]
    return columns


QUARANTINE_COLUMNS = [
    ("object_key", "VARCHAR"),
    ("line_no", "BIGINT"),
    ("reason", "VARCHAR"),
    ("raw", "VARCHAR"),
]


# ---------------------------------------------------------------------------------------------
# Reading objects into lines


def _format_of(key: str) -> str | None:
    lower = key.lower()
    for suffix in SUPPORTED_SUFFIXES:
        if lower.endswith(suffix):
            return (
                "parquet"
                if suffix == ".parquet"
                else ("gzip" if suffix.endswith(".gz") else "text")
            )
    return None


def _decode_lines(chunk: bytes, max_line_bytes: int) -> tuple[list[str], list[str | None]]:
    """Lines of a chunk that ends at a line boundary, with a reason for any unreadable line."""
    try:
        text = chunk.decode("utf-8")
    except UnicodeDecodeError:
        lines, reasons = [], []
        for raw in chunk.split(b"\n"):
            try:
                lines.append(raw.decode("utf-8"))
                reasons.append(None)
            except UnicodeDecodeError as exc:
                lines.append(raw.decode("utf-8", errors="backslashreplace"))
                reasons.append(f"line is not valid UTF-8 (byte {exc.start})")
        return _mark_long(lines, reasons, max_line_bytes)
    lines = text.split("\n")
    return _mark_long(lines, [None] * len(lines), max_line_bytes)


def _mark_long(
    lines: list[str], reasons: list[str | None], max_line_bytes: int
) -> tuple[list[str], list[str | None]]:
    # A character is at most 4 bytes: only lines that could be too long are measured exactly.
    limit_chars = max_line_bytes // 4
    for i, line in enumerate(lines):
        if len(line) > limit_chars and reasons[i] is None:
            size = len(line.encode("utf-8"))
            if size > max_line_bytes:
                reasons[i] = f"line is {size} bytes, over the limit of {max_line_bytes}"
    return lines, reasons


def _raw_chunks(stream) -> Iterator[bytes]:
    while chunk := stream.read(READ_CHUNK_BYTES):
        yield chunk


def _gunzip_chunks(stream) -> Iterator[bytes]:
    """Decompressed bytes of a (possibly multi-member) gzip stream, as far as it is readable.

    A truncated or corrupt object yields everything before the damage, then raises ``EOFError``
    or ``zlib.error``.
    """
    decompressor = zlib.decompressobj(wbits=31)
    fed = False  # whether the current member has received any input
    for chunk in _raw_chunks(stream):
        while chunk:
            fed = True
            out = decompressor.decompress(chunk)
            if out:
                yield out
            if decompressor.eof:
                chunk = decompressor.unused_data
                decompressor, fed = zlib.decompressobj(wbits=31), False
            else:
                chunk = b""
    if fed and not decompressor.eof:
        tail = decompressor.flush()
        if tail:
            yield tail
        raise EOFError("compressed data ended before the end-of-stream marker")


def _text_lines(
    chunks: Iterator[bytes], max_line_bytes: int
) -> Iterator[tuple[list[str], list[str | None], list[int]]]:
    """Batches of (lines, reasons, line numbers) from byte chunks; blank lines are skipped."""
    line_no = 0
    carry = b""
    error: str | None = None
    try:
        for chunk in chunks:
            data = carry + chunk
            cut = data.rfind(b"\n")
            if cut < 0:
                carry = data
                continue
            carry = data[cut + 1 :]
            lines, reasons = _decode_lines(data[:cut], max_line_bytes)
            yield _numbered(lines, reasons, line_no)
            line_no += len(lines)
    except (OSError, EOFError, zlib.error) as exc:
        error = f"{exc or type(exc).__name__}"
    if carry:
        lines, reasons = _decode_lines(carry, max_line_bytes)
        if error:
            # The last line of a damaged object is cut short: keep it, but never as a record.
            reasons = [r or "line cut short by the damaged object" for r in reasons]
        yield _numbered(lines, reasons, line_no)
        line_no += len(lines)
    if error:
        yield [""], [f"object unreadable after line {line_no}: {error}"], [line_no + 1]


def _numbered(
    lines: list[str], reasons: list[str | None], first: int
) -> tuple[list[str], list[str | None], list[int]]:
    keep_lines, keep_reasons, numbers = [], [], []
    for offset, (line, reason) in enumerate(zip(lines, reasons, strict=True)):
        if line.endswith("\r"):
            line = line[:-1]
        if reason is None and not line.strip():
            continue
        keep_lines.append(line)
        keep_reasons.append(reason)
        numbers.append(first + offset + 1)
    return keep_lines, keep_reasons, numbers


def _parquet_lines(
    con: duckdb.DuckDBPyConnection, stream, workdir: Path
) -> Iterator[tuple[list[str], list[str | None], list[int]]]:
    """Rows of a Parquet object as JSON text, so one contract check serves every format."""
    path = workdir / "object.parquet"
    with open(path, "wb") as out:
        shutil.copyfileobj(stream, out, 8 << 20)
    try:
        # A cursor of its own: the batches are inserted through ``con`` while this one streams.
        reader = (
            con.cursor()
            .sql(
                "SELECT to_json(t)::VARCHAR FROM read_parquet($path) AS t",
                params={"path": str(path)},
            )
            .to_arrow_reader(BATCH_LINES)
        )
        line_no = 0
        for batch in reader:
            lines = batch.column(0).to_pylist()
            numbers = list(range(line_no + 1, line_no + len(lines) + 1))
            line_no += len(lines)
            yield lines, [None] * len(lines), numbers
    except duckdb.Error as exc:
        yield [""], [f"object is not readable Parquet: {exc}"], [0]
    finally:
        path.unlink(missing_ok=True)


# ---------------------------------------------------------------------------------------------
# The contract, as SQL over the lines table


def _sql_literal_path(*parts: str) -> str:
    # Parts are configured identifiers (validated by the config model), so they are safe here.
    return "'$." + ".".join(parts) + "'"


def json_field(json_name: str) -> str:
    """The JSON value of the top-level field ``json_name`` of the record (``doc``)."""
    return f"json_extract(doc, {_sql_literal_path(json_name)})"


def json_field_rule(
    name: str, v: str, kind: str, required: bool, label: str, when_required: str = "TRUE"
) -> tuple[str, str]:
    """The typed column ``name`` read from the JSON value ``v``, and its contract rule.

    ``kind`` is one of number, integer, timestamp, category, string. Returns the SELECT
    expression of the column and the expression of its reason (NULL when the value is fine).
    """
    t = f"json_type({v})"
    text = f"json_extract_string({v}, '$')"
    words = _JSON_TYPE_WORDS.format(t=t)
    if kind == "number":
        ok, value, expected = (
            f"{t} IN {_NUMBER_TYPES}",
            f"TRY_CAST({text} AS DOUBLE)",
            "a number",
        )
    elif kind == "integer":
        ok, value = f"{t} IN {_INTEGER_TYPES}", f"TRY_CAST({text} AS INTEGER)"
        expected = "an integer"
    elif kind == "timestamp":
        value = f"TRY_CAST({text} AS TIMESTAMPTZ)"
        ok = f"{t} = 'VARCHAR' AND {value} IS NOT NULL"
        expected = "an ISO 8601 timestamp"
    elif kind == "category":
        ok, value = f"{t} IN ('VARCHAR', 'BIGINT', 'UBIGINT', 'BOOLEAN')", text
        expected = "a string"
    else:  # string
        ok, value, expected = f"{t} = 'VARCHAR'", text, "a string"
    needed = f"{when_required} AND {str(required).upper()}"
    reason = (
        f"CASE WHEN {t} IS NULL THEN CASE WHEN {needed} THEN 'missing {label}' END "
        f"WHEN {t} = 'NULL' THEN CASE WHEN {needed} THEN '{label} is null' END "
        f"WHEN NOT ({ok}) THEN '{label}: expected {expected}, got ' || {words} END"
    )
    return f"CASE WHEN {ok} THEN {value} END AS {name}", reason


@dataclass(frozen=True)
class RecordContract:
    """A record contract as SQL over the parsed JSON ``doc``: typed columns and their rules.

    ``key_columns`` identify a duplicate (the first is kept); ``key_label`` names it in reasons.
    """

    selects: list[str]
    reasons: list[str]
    accepted_columns: list[str]
    key_columns: list[str]
    key_label: str


def log_contract(model: ModelConfig) -> RecordContract:
    """The inference-log contract of ``model``."""
    selects, reasons = _field_rules(model)
    return RecordContract(
        selects=selects,
        reasons=reasons,
        accepted_columns=[name for name, _ in accepted_schema(model)],
        key_columns=["request_id"],
        key_label="request_id",
    )


def _field_rules(model: ModelConfig) -> tuple[list[str], list[str]]:
    """SELECT expressions for the typed columns and the reason fragments of the contract."""
    c = model.columns
    selects: list[str] = []
    reasons: list[str] = []
    feature_names = {f.name for f in model.features}

    def typed(name: str, v: str, kind: str, required: bool, when_required: str = "TRUE"):
        label = f"feature {name}" if name in feature_names else name
        select, reason = json_field_rule(name, v, kind, required, label, when_required)
        selects.append(select)
        reasons.append(reason)

    def field(json_name: str) -> str:
        return json_field(json_name)

    typed("request_id", field(c.request_id), "string", True)
    typed("timestamp", field(c.timestamp), "timestamp", True)
    typed("model_version", field(c.model_version), "string", True)
    typed("latency_ms", field(c.latency_ms), "number", True)
    typed("status_code", field(c.status_code), "integer", True)
    # A failed call has no prediction; a successful one must have one.
    ok_call = (
        f"coalesce(TRY_CAST(json_extract_string(doc, {_sql_literal_path(c.status_code)}) "
        "AS INTEGER) BETWEEN 200 AND 299, TRUE)"
    )
    typed(
        "prediction",
        field(c.prediction),
        "number" if model.prediction_is_numeric else "category",
        True,
        when_required=ok_call,
    )
    selects.append(
        f"CASE WHEN json_type(doc, {_sql_literal_path(c.error)}) NOT IN ('NULL') "
        f"THEN json_extract_string(doc, {_sql_literal_path(c.error)}) END AS error"
    )
    for feature in model.features:
        # Features may be nested under the features object or logged as flat fields.
        nested = f"json_extract(doc, {_sql_literal_path(c.features, feature.name)})"
        value = f"coalesce({nested}, {field(feature.name)})"
        kind = "number" if feature.type == FeatureType.numerical else "category"
        typed(feature.name, value, kind, not feature.optional)
    return selects, reasons


def _parse_sql(model: ModelConfig) -> str:
    return _contract_parse_sql(log_contract(model))


def _contract_parse_sql(contract: RecordContract) -> str:
    selects, reasons = contract.selects, contract.reasons
    select_list = ",\n    ".join(selects)
    reason_list = ",\n        ".join(reasons)
    # Only configured identifiers (validated as such) and fixed text are interpolated.
    return f"""
CREATE OR REPLACE TABLE parsed AS
WITH checked AS (
    SELECT object_key, line_no, raw, pre_reason,
           CASE WHEN pre_reason IS NULL AND json_valid(raw) THEN raw END AS text
    FROM lines
), docs AS (
    SELECT object_key, line_no, raw,
           coalesce(
               pre_reason,
               CASE WHEN text IS NULL THEN 'malformed JSON'
                    WHEN json_type(text) <> 'OBJECT'
                    THEN 'record is ' || {_JSON_TYPE_WORDS.format(t="json_type(text)")} || ', not an object'
               END
           ) AS line_reason,
           CASE WHEN text IS NOT NULL AND json_type(text) = 'OBJECT' THEN text::JSON END AS doc
    FROM checked
)
SELECT object_key, line_no,
    {select_list},
    CASE WHEN line_reason IS NOT NULL THEN line_reason
         ELSE nullif(concat_ws('; ',
        {reason_list}
         ), '')
    END AS reason,
    raw
FROM docs
"""  # noqa: S608


def _split_sql(model: ModelConfig, accepted_path: Path, quarantine_path: Path) -> list[str]:
    return _contract_split_sql(log_contract(model), accepted_path, quarantine_path)


def _contract_split_sql(
    contract: RecordContract, accepted_path: Path, quarantine_path: Path
) -> list[str]:
    accepted_cols = ", ".join(contract.accepted_columns)
    keys = ", ".join(f"CASE WHEN reason IS NULL THEN {c} END" for c in contract.key_columns)
    return [
        f"""
CREATE OR REPLACE TABLE decided AS
SELECT *,
    CASE
        WHEN reason IS NOT NULL THEN reason
        WHEN row_number() OVER w > 1
        THEN 'duplicate {contract.key_label} (first at ' || first_value(object_key) OVER w
             || ' line ' || first_value(line_no) OVER w || ')'
    END AS final_reason
FROM parsed
WINDOW w AS (PARTITION BY {keys}
             ORDER BY object_key, line_no)
""",  # noqa: S608 -- configured identifiers and fixed text
        f"""
COPY (SELECT {accepted_cols} FROM decided WHERE final_reason IS NULL ORDER BY object_key, line_no)
TO '{_sql_path(accepted_path)}' (FORMAT PARQUET, COMPRESSION ZSTD)
""",  # noqa: S608 -- configured identifiers and a path this module made
        f"""
COPY (SELECT object_key, line_no, final_reason AS reason, raw FROM decided
      WHERE final_reason IS NOT NULL ORDER BY object_key, line_no)
TO '{_sql_path(quarantine_path)}' (FORMAT PARQUET, COMPRESSION ZSTD)
""",  # noqa: S608 -- a path this module made
    ]


def _sql_path(path: Path) -> str:
    # Paths are created by this module in its own temporary folder; quote defensively anyway.
    return str(path).replace("'", "''")


# ---------------------------------------------------------------------------------------------
# Entry point


def list_partition_objects(store: ObjectStore, model: str, date: str) -> list[ObjectInfo]:
    return store.list(partition_prefix(model, date))


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
    result = IngestResult(
        accepted_path=workdir / "accepted.parquet",
        quarantine_path=workdir / "quarantine.parquet",
    )
    with tempfile.TemporaryDirectory(dir=workdir, prefix="duckdb-") as tmp:
        con = duckdb.connect(str(Path(tmp) / "ingest.duckdb"))
        try:
            con.execute("SET TimeZone = 'UTC'")
            con.execute(f"SET memory_limit = '{memory_limit}'")
            con.execute(f"SET temp_directory = '{_sql_path(Path(tmp) / 'spill')}'")
            con.execute("SET preserve_insertion_order = false")
            con.execute(
                "CREATE TABLE lines (object_key VARCHAR, line_no BIGINT, raw VARCHAR, "
                "pre_reason VARCHAR)"
            )
            for obj in list_partition_objects(store, model.name, date):
                _load_object(con, store, obj, result, Path(tmp), max_line_bytes)
            con.execute(_contract_parse_sql(contract))
            for statement in _contract_split_sql(
                contract, result.accepted_path, result.quarantine_path
            ):
                con.execute(statement)
            result.rows_in = con.execute("SELECT count(*) FROM decided").fetchone()[0]
            rows = con.execute(
                "SELECT final_reason, count(*) FROM decided WHERE final_reason IS NOT NULL "
                "GROUP BY ALL"
            ).fetchall()
        finally:
            con.close()
    result.reasons = dict(sorted(_group_reasons(rows).items(), key=lambda kv: (-kv[1], kv[0])))
    result.quarantined = sum(n for _, n in rows)
    result.accepted = result.rows_in - result.quarantined
    return result


def _load_object(
    con: duckdb.DuckDBPyConnection,
    store: ObjectStore,
    obj: ObjectInfo,
    result: IngestResult,
    tmp: Path,
    max_line_bytes: int,
) -> None:
    kind = _format_of(obj.key)
    if kind is None:
        result.skipped_objects.append(obj.key)
        _insert(
            con,
            obj.key,
            [""],
            [f"unsupported object type (expected {', '.join(SUPPORTED_SUFFIXES)})"],
            [0],
        )
        return
    result.objects.append(obj)
    result.bytes_read += obj.size
    stream = store.open(obj.key)
    try:
        if kind == "parquet":
            batches = _parquet_lines(con, stream, tmp)
        elif kind == "gzip":
            batches = _text_lines(_gunzip_chunks(stream), max_line_bytes)
        else:
            batches = _text_lines(_raw_chunks(stream), max_line_bytes)
        for lines, reasons, numbers in batches:
            for start in range(0, len(lines), BATCH_LINES):
                end = start + BATCH_LINES
                _insert(con, obj.key, lines[start:end], reasons[start:end], numbers[start:end])
    finally:
        stream.close()


def _insert(
    con: duckdb.DuckDBPyConnection,
    key: str,
    lines: list[str],
    reasons: list[str | None],
    numbers: list[int],
) -> None:
    if not lines:
        return
    batch = pa.table(
        {
            "object_key": pa.array([key] * len(lines), pa.string()),
            "line_no": pa.array(numbers, pa.int64()),
            "raw": pa.array(lines, pa.large_string()),
            "pre_reason": pa.array(reasons, pa.string()),
        },
        schema=LINES_SCHEMA,
    )
    con.register("batch_view", batch)
    try:
        con.execute("INSERT INTO lines SELECT object_key, line_no, raw, pre_reason FROM batch_view")
    finally:
        con.unregister("batch_view")


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
    return reason
