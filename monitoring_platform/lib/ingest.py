"""Read one model-day of inference logs, enforce the record contract, split accepted from quarantined.

Objects are streamed (JSON Lines, gzipped JSON Lines or Parquet). Text is cut into lines in
blocks: newline offsets are found with numpy and each block becomes an Arrow string column
over the decompressed bytes, so no Python object is made per line (a block that is not valid
UTF-8 is cut line by line instead, to name the bad lines). DuckDB parses each batch as it
arrives, reading the fields the contract needs in one pass per row. Every line that is not
blank becomes exactly one row of the accepted table or of the quarantine (with its reason and
the raw line), so ``rows_in == accepted + quarantined`` always holds.

Memory stays bounded: Python holds about one block of text at a time, and DuckDB works under
``memory_limit`` in an in-memory database that spills to a temporary folder beyond it. Only
quarantined lines keep their raw text; duplicates are found on the keys alone, and their raw
lines (rarely any) are read again from their objects.
"""

from __future__ import annotations

import queue
import re
import shutil
import tempfile
import threading
import zlib
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from monitoring_platform.config import FeatureType, ModelConfig
from monitoring_platform.lib.storage import (
    TEMPORARY_PREFIX,
    ObjectInfo,
    ObjectStore,
    StorageError,
    partition_prefix,
)

DEFAULT_MAX_LINE_BYTES = 1 << 20
READ_CHUNK_BYTES = 4 << 20
BLOCK_BYTES = 32 << 20
BATCH_LINES = 200_000
SCAN_ROWS = 10_240

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

# One batch of lines of an object. ``raw`` may still end with its line terminator ("\n" or
# "\r\n"); ``trim`` is the number of terminator characters to drop to get the line itself.
LINES_SCHEMA = pa.schema(
    [
        ("line_no", pa.int64()),
        ("raw", pa.large_string()),
        ("trim", pa.int8()),
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
                reasons[i] = _too_long(size, max_line_bytes)
    return lines, reasons


def _too_long(size: int, max_line_bytes: int) -> str:
    return f"line is {size} bytes, over the limit of {max_line_bytes}"


def _raw_chunks(stream) -> Iterator[bytes]:
    while chunk := stream.read(READ_CHUNK_BYTES):
        yield chunk


def _gunzip_chunks(stream) -> Iterator[bytes]:
    """Decompressed bytes of a (possibly multi-member) gzip stream, as far as it is readable.

    Each piece is at most ``BLOCK_BYTES`` long, however well the data compresses. A truncated
    or corrupt object yields everything before the damage, then raises ``EOFError`` or
    ``zlib.error``.
    """
    decompressor = zlib.decompressobj(wbits=31)
    fed = False  # whether the current member has received any input
    for chunk in _raw_chunks(stream):
        while True:
            fed = fed or bool(chunk)
            out = decompressor.decompress(chunk, BLOCK_BYTES)
            if out:
                yield out
            if decompressor.eof:
                chunk = decompressor.unused_data
                decompressor, fed = zlib.decompressobj(wbits=31), False
                if not chunk:
                    break
            else:
                chunk = decompressor.unconsumed_tail
                # A full piece may leave output buffered in the decompressor: ask again.
                if not chunk and len(out) < BLOCK_BYTES:
                    break
    if fed and not decompressor.eof:
        tail = decompressor.flush()
        if tail:
            yield tail
        raise EOFError("compressed data ended before the end-of-stream marker")


def _text_lines(chunks: Iterator[bytes], max_line_bytes: int) -> Iterator[pa.Table]:
    """Batches of numbered lines (``LINES_SCHEMA``) from byte chunks; blank lines are skipped.

    The whole lines of a chunk are cut in place; only a line split across chunks is copied.
    A batch gathers blocks until it holds about ``BLOCK_BYTES``.
    """
    line_no = 0
    carry: list[bytes] = []  # the start of a line that continues in the next chunk
    carry_size = 0
    # A line past ``max_line_bytes`` that continues: its first bytes and its size so far. The
    # rest is counted and dropped as it streams by, so no line is ever held whole.
    long_head: bytes | None = None
    long_size = 0
    pending: list[pa.Table] = []
    pending_size = 0
    error: str | None = None

    def add(data: bytes, start: int, end: int) -> None:
        nonlocal line_no, pending_size
        batch, lines = _block_lines(data, start, end, line_no, max_line_bytes)
        line_no += lines
        if batch.num_rows:
            pending.append(batch)
        pending_size += end - start

    def flush() -> Iterator[pa.Table]:
        nonlocal pending, pending_size
        if pending:
            yield pa.concat_tables(pending)
        pending, pending_size = [], 0

    def keep(piece: bytes) -> None:
        nonlocal carry, carry_size, long_head, long_size
        if long_head is not None:
            long_size += len(piece)
            return
        carry.append(piece)
        carry_size += len(piece)
        if carry_size > max_line_bytes:
            long_head = b"".join(carry)[:max_line_bytes]
            long_size, carry, carry_size = carry_size, [], 0

    def end_long_line() -> None:
        nonlocal line_no, long_head, pending_size
        reason = f"{_too_long(long_size, max_line_bytes)} (kept its first {len(long_head)})"
        # Cut at a character boundary: the kept text is at most ``max_line_bytes`` long.
        text = long_head.decode("utf-8", errors="ignore")
        line_no += 1
        pending.append(_lines_table([text], [reason], [line_no]))
        pending_size += len(long_head)
        long_head = None

    try:
        for chunk in chunks:
            first = chunk.find(b"\n")
            if first < 0:
                keep(chunk)
                continue
            if long_head is not None:
                long_size += first
                end_long_line()
                start = first + 1
            elif carry:
                head = b"".join([*carry, chunk[: first + 1]])
                carry, carry_size = [], 0
                add(head, 0, len(head))
                start = first + 1
            else:
                start = 0
            last = chunk.rfind(b"\n")
            if last >= start:
                add(chunk, start, last + 1)
            if last + 1 < len(chunk):
                keep(chunk[last + 1 :])
            if pending_size >= BLOCK_BYTES:
                yield from flush()
    except (OSError, EOFError, zlib.error) as exc:
        error = f"{exc or type(exc).__name__}"
    if long_head is not None:
        end_long_line()
    yield from flush()
    if carry:
        # What follows the last newline is one line.
        lines, reasons = _decode_lines(b"".join(carry), max_line_bytes)
        if error:
            # The last line of a damaged object is cut short: keep it, but never as a record.
            reasons = [r or "line cut short by the damaged object" for r in reasons]
        yield _numbered(lines, reasons, line_no)
        line_no += len(lines)
    if error:
        yield _lines_table(
            [""], [f"object unreadable after line {line_no}: {error}"], [line_no + 1]
        )


def _block_lines(
    data: bytes, start: int, end: int, first: int, max_line_bytes: int
) -> tuple[pa.Table, int]:
    """The lines of ``data[start:end]`` (which ends with a newline), numbered from ``first + 1``.

    Returns the batch and the number of lines read, blank ones included. The batch's ``raw``
    column is a view of ``data``: each value is a line with its terminator.
    """
    whole = np.frombuffer(data, np.uint8)
    newlines = np.flatnonzero(whole[start:end] == ord("\n")) + start
    count = len(newlines)
    offsets = np.empty(count + 1, np.int64)
    offsets[0] = start
    offsets[1:] = newlines + 1
    raw = pa.Array.from_buffers(
        pa.large_string(), count, [None, pa.py_buffer(offsets), pa.py_buffer(data)]
    )
    try:
        raw.validate(full=True)
    except pa.ArrowInvalid:
        # Not valid UTF-8 somewhere: cut this block line by line to name the bad lines.
        lines, reasons = _decode_lines(data[start : end - 1], max_line_bytes)
        return _numbered(lines, reasons, first), count
    starts = offsets[:-1]
    sizes = newlines - starts  # bytes of each line without "\n", as the line-by-line path counts
    carriage = np.zeros(count, bool)
    filled = sizes > 0
    carriage[filled] = whole[newlines[filled] - 1] == ord("\r")
    trim = (1 + carriage).astype(np.int8)
    too_long = sizes > max_line_bytes
    reasons: list[str | None] | None = None
    if too_long.any():
        reasons = [None] * count
        for i in np.flatnonzero(too_long).tolist():
            reasons[i] = _too_long(int(sizes[i]), max_line_bytes)
    # A record starts with "{": only lines that do not may be blank, and are looked at here.
    odd = (~filled | (whole[starts] != ord("{"))) & ~too_long
    keep = None
    for i in np.flatnonzero(odd).tolist():
        line = data[starts[i] : newlines[i] - int(carriage[i])].decode("utf-8")
        if not line.strip():
            if keep is None:
                keep = np.ones(count, bool)
            keep[i] = False
    table = pa.table(
        [
            pa.array(np.arange(first + 1, first + count + 1, dtype=np.int64)),
            raw,
            pa.array(trim),
            pa.nulls(count, pa.string()) if reasons is None else pa.array(reasons, pa.string()),
        ],
        schema=LINES_SCHEMA,
    )
    if keep is not None:
        table = table.filter(pa.array(keep))
    return table, count


def _numbered(lines: list[str], reasons: list[str | None], first: int) -> pa.Table:
    keep_lines, keep_reasons, numbers = [], [], []
    for offset, (line, reason) in enumerate(zip(lines, reasons, strict=True)):
        if line.endswith("\r"):
            line = line[:-1]
        if reason is None and not line.strip():
            continue
        keep_lines.append(line)
        keep_reasons.append(reason)
        numbers.append(first + offset + 1)
    return _lines_table(keep_lines, keep_reasons, numbers)


def _lines_table(lines: list[str], reasons: list[str | None], numbers: list[int]) -> pa.Table:
    return pa.table(
        [
            pa.array(numbers, pa.int64()),
            pa.array(lines, pa.large_string()),
            pa.array(np.zeros(len(lines), np.int8)),
            pa.array(reasons, pa.string()),
        ],
        schema=LINES_SCHEMA,
    )


def _parquet_lines(con: duckdb.DuckDBPyConnection, stream, workdir: Path) -> Iterator[pa.Table]:
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
            yield _lines_table(lines, [None] * len(lines), numbers)
    except duckdb.Error as exc:
        yield _lines_table([""], [f"object is not readable Parquet: {exc}"], [0])
    finally:
        path.unlink(missing_ok=True)


# ---------------------------------------------------------------------------------------------
# The contract, as SQL over the parsed record


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
    value_rule = _value_rule(kind, ok, value, text, label)
    if value_rule:
        # Only a value of the right type reaches this rule, when the one above found nothing.
        reason = f"coalesce({reason}, {value_rule})"
    return f"CASE WHEN {ok} THEN {value} END AS {name}", reason


def _value_rule(kind: str, ok: str, value: str, text: str, label: str) -> str | None:
    """The reason a value of the right JSON type still breaks the contract (NULL when fine)."""
    if kind == "number":
        # JSON has no NaN or infinities; DuckDB's parser reads them (and 1e999) all the same.
        return (
            f"CASE WHEN {ok} AND NOT isfinite({value}) "
            f"THEN '{label}: expected a finite number, got ' "
            f"|| CASE WHEN isnan({value}) THEN 'NaN' ELSE 'an infinity' END END"
        )
    if kind in ("category", "string"):
        return f"CASE WHEN {ok} AND {_has_nul(text)} THEN '{label}: {NUL_REASON}' END"
    return None


# A string holding U+0000 breaks the contract: PostgreSQL cannot store it, C-string code cuts
# the value there (two ids would become one), and pages would carry it.
NUL_REASON = "contains a NUL character (U+0000)"


def _has_nul(text: str) -> str:
    return f"strpos({text}, chr(0)) > 0"


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
        f"coalesce(TRY_CAST(json_extract_string({field(c.status_code)}, '$') "
        "AS INTEGER) BETWEEN 200 AND 299, TRUE)"
    )
    typed(
        "prediction",
        field(c.prediction),
        "number" if model.prediction_is_numeric else "category",
        True,
        when_required=ok_call,
    )
    error_text = f"json_extract_string({field(c.error)}, '$')"
    selects.append(
        f"CASE WHEN json_type({field(c.error)}) NOT IN ('NULL') THEN {error_text} END AS error"
    )
    reasons.append(f"CASE WHEN {_has_nul(error_text)} THEN 'error: {NUL_REASON}' END")
    for feature in model.features:
        # Features may be nested under the features object or logged as flat fields.
        nested = f"json_extract(doc, {_sql_literal_path(c.features, feature.name)})"
        value = f"coalesce({nested}, {field(feature.name)})"
        kind = "number" if feature.type == FeatureType.numerical else "category"
        # A null is accepted (and measured by the drift step) unless the feature is required.
        typed(feature.name, value, kind, feature.required)
    return selects, reasons


def _parse_sql(model: ModelConfig) -> str:
    return _contract_parse_sql(log_contract(model))


# The line itself: its raw text without the terminator (which is ASCII, so characters count),
# with any NUL byte written as the JSON escape, so no later reader meets a raw NUL.
_RAW_LINE = (
    "replace(CASE WHEN trim = 0 THEN raw ELSE left(raw, length(raw) - trim) END, chr(0), '\\u0000')"
)

AMBIGUOUS_REASON = "ambiguous record: a key appears more than once"


def _repeated_key_sql(paths: list[str]) -> tuple[str, str, str]:
    """SQL finding a key the contract reads that appears twice in its object.

    JSON parsers disagree on a repeated key (the first or the last wins), so such a record is
    ambiguous. ``paths`` are the fields the contract reads (``$.a`` or ``$.a.b``). Returns the
    expression of the key lists of the objects read (``__keys``, one more pass over the line),
    the condition that one of those keys repeats, and the first such key, dotted as
    ``features.country``. Keys the contract does not read may repeat: nothing is taken from
    them. Counting (no set per row) keeps the check cheap.
    """
    objects: dict[str, list[str]] = {}
    for path in paths:
        parts = path.split(".")  # configured identifiers: no dots or quotes inside
        for depth in range(1, len(parts)):
            names = objects.setdefault(".".join(parts[:depth]), [])
            if parts[depth] not in names:
                names.append(parts[depth])
    object_paths = list(objects)
    quoted = ", ".join(f"'{o}'" for o in object_paths)
    keys = f"CASE WHEN pre_reason IS NULL THEN try(json_keys(raw, [{quoted}])) END"
    repeats, firsts = [], []
    for i, (path, names) in enumerate(objects.items(), start=1):
        listed = ", ".join(f"'{n}'" for n in names)
        present = " + ".join(f"list_contains(__keys[{i}], '{n}')::INT" for n in names)
        repeats.append(f"len(list_filter(__keys[{i}], lambda x: x IN ({listed}))) > {present}")
        prefix = path[2:] + "." if path != "$" else ""
        firsts.append(
            f"'{prefix}' || list_filter([{listed}], "
            f"lambda n: len(list_filter(__keys[{i}], lambda x: x = n)) > 1)[1]"
        )
    return keys, " OR ".join(repeats), f"coalesce({', '.join(firsts)})"


# A field of the record, as json_field writes it.
_DOC_FIELD = re.compile(r"json_extract\(doc, '(\$\.[^']*)'\)")


def _replace_calls(sql: str, function: str, replace) -> str:
    """``sql`` with each call ``function(args)`` replaced by ``replace(args)`` (or kept if None)."""
    out: list[str] = []
    start = 0
    opening = function + "("
    while (at := sql.find(opening, start)) >= 0:
        if at and (sql[at - 1].isalnum() or sql[at - 1] == "_"):
            out.append(sql[start : at + len(opening)])
            start = at + len(opening)
            continue
        end, depth = at + len(opening), 1
        while depth:
            depth += {"(": 1, ")": -1}.get(sql[end], 0)
            end += 1
        args = sql[at + len(opening) : end - 1]
        new = replace(args)
        out.append(sql[start:at])
        out.append(sql[at:end] if new is None else new)
        start = end
    out.append(sql[start:])
    return "".join(out)


_COALESCE_OF_FIELDS = re.compile(r"coalesce\((__f\[\d+\](?:, __f\[\d+\])*)\)")


def _contract_parse_sql(contract: RecordContract) -> str:
    """A SELECT over the lines in ``batch`` giving each line's typed columns and its reason.

    The contract's expressions read fields of ``doc`` one by one, and then the type and the
    text of each value; as written they would parse the line, and each value, again for every
    use. Here the types and the texts of the fields come from two passes over the line
    (``json_type`` and ``json_extract_string`` with a list of paths), once per row, and the
    contract's expressions run on those columns. Fields read only when another is missing
    (the later arguments of ``coalesce``) are read only for the rows that need them.
    """
    paths: dict[str, int] = {}

    def path_ref(match: re.Match) -> str:
        index = paths.setdefault(match.group(1), len(paths) + 1)
        return f"__f[{index}]"

    values: dict[str, int] = {}

    def value_ref(expression: str) -> int:
        return values.setdefault(expression.strip(), len(values) + 1)

    def type_ref(args: str) -> str:
        return f"__t{value_ref(args)}"

    def text_ref(args: str) -> str | None:
        suffix = ", '$'"
        return f"__s{value_ref(args[: -len(suffix)])}" if args.endswith(suffix) else None

    def hoisted(expression: str) -> str:
        expression = _DOC_FIELD.sub(path_ref, expression)
        expression = _replace_calls(expression, "json_type", type_ref)
        return _replace_calls(expression, "json_extract_string", text_ref)

    selects = [hoisted(s) for s in contract.selects]
    reasons = [hoisted(r) for r in contract.reasons]

    # Which fields each value reads: one field, the first present of several, or None (an
    # expression of another form, left to compute on the extracted JSON value).
    value_fields: dict[int, list[int] | None] = {}
    for value, i in values.items():
        if re.fullmatch(r"__f\[\d+\]", value) or _COALESCE_OF_FIELDS.fullmatch(value):
            value_fields[i] = [int(f) for f in re.findall(r"__f\[(\d+)\]", value)]
        else:
            value_fields[i] = None
    primary = sorted({fields[0] for fields in value_fields.values() if fields})
    fallback = sorted(
        {f for fields in value_fields.values() if fields for f in fields[1:]} - set(primary)
    )
    fallen_back = sorted(
        {fields[0] for fields in value_fields.values() if fields and len(fields) > 1}
    )
    name = {index: path for path, index in paths.items()}

    def type_of(field: int) -> str:
        # The main list of types starts with the type of the record itself.
        if field in primary:
            return f"__types[{primary.index(field) + 2}]"
        return f"__types_fallback[{fallback.index(field) + 1}]"

    def text_of(field: int) -> str:
        if field in primary:
            return f"__texts[{primary.index(field) + 1}]"
        return f"__texts_fallback[{fallback.index(field) + 1}]"

    typed_list = ""
    for value, i in values.items():
        fields = value_fields[i]
        if fields is None:
            type_expr, text_expr = f"json_type({value})", f"json_extract_string({value}, '$')"
        elif len(fields) == 1:
            type_expr, text_expr = type_of(fields[0]), text_of(fields[0])
        else:
            type_expr = f"coalesce({', '.join(type_of(f) for f in fields)})"
            text_expr = (
                "CASE "
                + " ".join(f"WHEN {type_of(f)} IS NOT NULL THEN {text_of(f)}" for f in fields)
                + " END"
            )
        typed_list += f",\n           {type_expr} AS __t{i}, {text_expr} AS __s{i}"
    # A conversion used more than once (a timestamp is checked, then kept) is made once.
    casts = Counter(re.findall(r"TRY_CAST\(__s\d+ AS \w+\)", "".join(selects + reasons)))
    cast_list = ""
    for n, cast in enumerate(c for c, uses in casts.items() if uses > 1):
        selects = [e.replace(cast, f"__c{n}") for e in selects]
        reasons = [e.replace(cast, f"__c{n}") for e in reasons]
        cast_list += f",\n           {cast} AS __c{n}"
    rest = typed_list + "".join(selects) + "".join(reasons)

    def path_list(fields) -> str:
        return ", ".join(f"'{name[f]}'" for f in fields)

    type_paths = ", ".join(["'$'", *(f"'{name[f]}'" for f in primary)])
    lists = ""
    if "__texts[" in rest:
        lists += (
            ",\n           CASE WHEN line_reason IS NULL "
            f"THEN json_extract_string(raw, [{path_list(primary)}]) END AS __texts"
        )
    if fallback:
        missing = " OR ".join(f"{type_of(f)} IS NULL" for f in fallen_back)
        for list_name, function in (("__types", "json_type"), ("__texts", "json_extract_string")):
            lists += (
                f",\n           CASE WHEN line_reason IS NULL AND ({missing}) "
                f"THEN {function}(raw, [{path_list(fallback)}]) END AS {list_name}_fallback"
            )
    if "__f[" in rest:
        lists += (
            ",\n           CASE WHEN line_reason IS NULL "
            f"THEN json_extract(raw, [{path_list(sorted(name))}]) END AS __f"
        )
    select_list = ",\n    ".join(selects)
    reason_list = ",\n        ".join(reasons)
    words = _JSON_TYPE_WORDS.format(t="__types[1]")
    # Only configured identifiers (validated as such) and fixed text are interpolated.
    # try(): a line that is not JSON fails to parse, and has no types.
    keys, repeats, repeated = _repeated_key_sql(sorted(paths))
    return f"""
WITH checked AS (
    SELECT line_no, raw, trim, pre_reason,
           CASE WHEN pre_reason IS NULL THEN try(json_type(raw, [{type_paths}])) END
           AS __types,
           {keys} AS __keys
    FROM batch
), lines AS (
    SELECT line_no, raw, trim, __types,
           CASE WHEN pre_reason IS NOT NULL THEN pre_reason
                WHEN __types IS NULL THEN 'malformed JSON'
                WHEN __types[1] <> 'OBJECT' THEN 'record is ' || {words} || ', not an object'
                WHEN {repeats} THEN '{AMBIGUOUS_REASON} (' || {repeated} || ')'
           END AS line_reason
    FROM checked
), docs AS (
    SELECT line_no, raw, trim, __types, line_reason,
           CASE WHEN line_reason IS NULL THEN raw END AS doc{lists}
    FROM lines
), typed AS (
    SELECT *{typed_list}
    FROM docs
), converted AS (
    SELECT *{cast_list}
    FROM typed
), decided AS (
    SELECT line_no,
        {select_list},
        CASE WHEN line_reason IS NOT NULL THEN line_reason
             ELSE nullif(concat_ws('; ',
            {reason_list}
             ), '')
        END AS reason,
        raw, trim
    FROM converted
)
SELECT * EXCLUDE (raw, trim), CASE WHEN reason IS NOT NULL THEN {_RAW_LINE} ELSE '' END AS raw
FROM decided
"""  # noqa: S608


def _split_sql(model: ModelConfig, accepted_path: Path, quarantine_path: Path) -> list[str]:
    return _contract_split_sql(log_contract(model), accepted_path, quarantine_path)


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


def _contract_split_sql(
    contract: RecordContract, accepted_path: Path, quarantine_path: Path
) -> list[str]:
    """Statements quarantining the duplicates (their raw text read into ``duplicate_raw``
    beforehand), then writing the two Parquet files."""
    accepted_cols = ", ".join(contract.accepted_columns)
    return [
        """
UPDATE parsed SET reason = found.reason, raw = found.raw
FROM (SELECT d.object_key, d.line_no, d.reason, coalesce(r.raw, '') AS raw
      FROM duplicates AS d LEFT JOIN duplicate_raw AS r USING (object_key, line_no)) AS found
WHERE parsed.object_key = found.object_key AND parsed.line_no = found.line_no
""",
        f"""
COPY (SELECT {accepted_cols} FROM parsed WHERE reason IS NULL ORDER BY object_key, line_no)
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


# ---------------------------------------------------------------------------------------------
# Entry point


# A local write goes to a ``.tmp-*`` file, then is renamed: such an object is a write in progress
# (or one that died). It is not read, so its records are not counted twice once renamed, but it
# is listed among the skipped objects and counted as one quarantined row with this reason.
UNFINISHED_REASON = "unfinished write (a temporary .tmp-* object)"


def list_partition_objects(store: ObjectStore, model: str, date: str) -> list[ObjectInfo]:
    return store.list(partition_prefix(model, date), include_unfinished=True)


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
    parse = _contract_parse_sql(contract)
    with tempfile.TemporaryDirectory(dir=workdir, prefix="duckdb-") as tmp:
        # An in-memory database that spills to ``tmp`` beyond ``memory_limit``.
        con = duckdb.connect()
        try:
            con.execute("SET TimeZone = 'UTC'")
            con.execute(f"SET memory_limit = '{memory_limit}'")
            con.execute(f"SET temp_directory = '{_sql_path(Path(tmp) / 'spill')}'")
            con.execute("SET preserve_insertion_order = false")
            con.register("batch", LINES_SCHEMA.empty_table())
            con.execute(
                f"CREATE TABLE parsed AS SELECT ''::VARCHAR AS object_key, * FROM ({parse})"  # noqa: S608
            )
            con.execute(
                "CREATE TABLE duplicate_raw (object_key VARCHAR, line_no BIGINT, raw VARCHAR)"
            )
            con.unregister("batch")
            # The raw text is kept for quarantined lines only (empty for the others).
            insert = f"INSERT INTO parsed SELECT $key, * FROM ({parse})"  # noqa: S608
            objects = list_partition_objects(store, model.name, date)
            for obj in objects:
                for batch in _read_object(con, store, obj, result, Path(tmp), max_line_bytes):
                    _run_on_batch(con, batch, insert, obj.key)
            con.execute(_duplicates_sql(contract))
            _read_duplicate_raw(con, store, objects, Path(tmp), max_line_bytes)
            for statement in _contract_split_sql(
                contract, result.accepted_path, result.quarantine_path
            ):
                con.execute(statement)
            result.rows_in = con.execute("SELECT count(*) FROM parsed").fetchone()[0]
            rows = con.execute(
                "SELECT reason, count(*) FROM parsed WHERE reason IS NOT NULL GROUP BY ALL"
            ).fetchall()
        finally:
            con.close()
    result.reasons = dict(sorted(_group_reasons(rows).items(), key=lambda kv: (-kv[1], kv[0])))
    result.quarantined = sum(n for _, n in rows)
    result.accepted = result.rows_in - result.quarantined
    return result


def _run_on_batch(con: duckdb.DuckDBPyConnection, batch: pa.Table, sql: str, key: str) -> None:
    # DuckDB's threads share out the chunks of an Arrow table: several make the parse parallel.
    batch = pa.Table.from_batches(batch.to_batches(max_chunksize=SCAN_ROWS), batch.schema)
    con.register("batch", batch)
    try:
        con.execute(sql, {"key": key})
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
    insert = f"INSERT INTO duplicate_raw SELECT $key, line_no, {_RAW_LINE} FROM batch"  # noqa: S608
    for key, lines in rows:
        wanted = pa.array(lines, pa.int64())
        for batch in _read_object(con, store, by_key[key], IngestResult(), tmp, max_line_bytes):
            picked = batch.filter(pc.is_in(batch.column("line_no"), value_set=wanted))
            if picked.num_rows:
                _run_on_batch(con, picked, insert, key)


def _read_object(
    con: duckdb.DuckDBPyConnection,
    store: ObjectStore,
    obj: ObjectInfo,
    result: IngestResult,
    tmp: Path,
    max_line_bytes: int,
) -> Iterator[pa.Table]:
    """Batches of one object's lines (``LINES_SCHEMA``), read ahead in a thread for text."""
    kind = _format_of(obj.key)
    skipped = None
    if obj.key.rsplit("/", 1)[-1].startswith(TEMPORARY_PREFIX):
        skipped = f"{UNFINISHED_REASON}, not read ({obj.size} bytes)"
    elif kind is None:
        skipped = f"unsupported object type (expected {', '.join(SUPPORTED_SUFFIXES)})"
    if skipped is None:
        try:
            stream = store.open(obj.key)
        except StorageError as exc:
            skipped = f"object unreadable: {exc}"
    if skipped is not None:
        # One quarantined row stands for the whole object: counted, with its reason.
        result.skipped_objects.append(obj.key)
        yield _lines_table([""], [skipped], [0])
        return
    result.objects.append(obj)
    result.bytes_read += obj.size
    try:
        if kind == "parquet":
            yield from _parquet_lines(con, stream, tmp)
        else:
            chunks = _gunzip_chunks(stream) if kind == "gzip" else _raw_chunks(stream)
            # Decompressing and cutting the next block overlaps DuckDB parsing this one.
            yield from _read_ahead(_text_lines(chunks, max_line_bytes))
    finally:
        stream.close()


_DONE = object()


def _read_ahead(batches: Iterator[pa.Table], depth: int = 1) -> Iterator[pa.Table]:
    """The items of ``batches``, produced in a thread up to ``depth`` items ahead."""
    items: queue.Queue = queue.Queue(maxsize=depth)
    stop = threading.Event()

    def offer(item) -> bool:
        while not stop.is_set():
            try:
                items.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def produce() -> None:
        try:
            for batch in batches:
                if not offer(batch):
                    return
            offer(_DONE)
        except BaseException as exc:  # handed to the consumer, raised there
            offer(exc)

    worker = threading.Thread(target=produce, name="ingest-read-ahead", daemon=True)
    worker.start()
    try:
        while (item := items.get()) is not _DONE:
            if isinstance(item, BaseException):
                raise item
            yield item
    finally:
        stop.set()
        worker.join()


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
