"""Reading one partition's objects as batches of numbered lines.

Objects are streamed (JSON Lines, gzipped JSON Lines or Parquet). Text is cut into lines in
blocks: newline offsets are found with numpy and each block becomes an Arrow string column
over the decompressed bytes, so no Python object is made per line (a block that is not valid
UTF-8 is cut line by line instead, to name the bad lines). Parquet rows become JSON text, so
one contract check serves every format. Python holds about one block of text at a time.

An object that cannot be read (unsupported, unfinished, failing to open) stands as one line
with its reason; a damaged object yields its lines up to the damage, then one such line.
"""

from __future__ import annotations

import queue
import shutil
import threading
import zlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import duckdb
import numpy as np
import pyarrow as pa

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

JSON_SUFFIXES = (".jsonl", ".json", ".ndjson")
SUPPORTED_SUFFIXES = (
    *JSON_SUFFIXES,
    *(s + ".gz" for s in JSON_SUFFIXES),
    ".parquet",
)

# A local write goes to a ``.tmp-*`` file, then is renamed: such an object is a write in progress
# (or one that died). It is not read, so its records are not counted twice once renamed, but it
# is listed among the skipped objects and counted as one quarantined row with this reason.
UNFINISHED_REASON = "unfinished write (a temporary .tmp-* object)"


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
class ObjectsRead:
    """The objects of a partition read, those skipped, and the bytes read."""

    objects: list[ObjectInfo] = field(default_factory=list)
    skipped_objects: list[str] = field(default_factory=list)
    bytes_read: int = 0


def list_partition_objects(store: ObjectStore, model: str, date: str) -> list[ObjectInfo]:
    """The objects of ``model``'s partition ``date``, unfinished writes included."""
    return store.list(partition_prefix(model, date), include_unfinished=True)


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
        lines: list[str] = []
        reasons: list[str | None] = []
        for raw in chunk.split(b"\n"):
            try:
                lines.append(raw.decode("utf-8"))
                reasons.append(None)
            except UnicodeDecodeError as exc:
                lines.append(raw.decode("utf-8", errors="backslashreplace"))
                reasons.append(f"line is not valid UTF-8 (byte {exc.start})")
        return _mark_long(lines, reasons, max_line_bytes)
    lines = text.split("\n")
    return _mark_long(lines, [None for _ in lines], max_line_bytes)


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
        assert long_head is not None
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
        return _numbered(*_decode_lines(data[start : end - 1], max_line_bytes), first), count
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


def read_object(
    con: duckdb.DuckDBPyConnection,
    store: ObjectStore,
    obj: ObjectInfo,
    read: ObjectsRead,
    tmp: Path,
    max_line_bytes: int,
) -> Iterator[pa.Table]:
    """Batches of one object's lines (``LINES_SCHEMA``), read ahead in a thread for text.

    ``read`` records the object as read or skipped. A Parquet object is copied into ``tmp``
    and read through ``con``.
    """
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
        read.skipped_objects.append(obj.key)
        yield _lines_table([""], [skipped], [0])
        return
    read.objects.append(obj)
    read.bytes_read += obj.size
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
