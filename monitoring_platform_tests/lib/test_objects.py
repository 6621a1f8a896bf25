"""Reading objects into numbered lines: blocks, terminators, bad bytes, damage, formats."""

import gzip
import io
import json

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from monitoring_platform.lib.objects import (
    LINES_SCHEMA,
    ObjectsRead,
    _block_lines,
    _decode_lines,
    _gunzip_chunks,
    _numbered,
    read_object,
)
from monitoring_platform.lib.storage import LocalObjectStore


def record(i):
    return json.dumps({"request_id": f"r{i}", "value": i})


TRICKY_LINES = [
    record(1).encode(),
    b"",
    b"   ",
    b"\t \r",
    record(2).encode() + b"\r",
    record(3).encode() + b"\r\r",
    b"  " + record(4).encode() + b"  ",
    b"\x0b",
    "\u00a0\u2028".encode(),
    b"x" * 300,
    "\u00e9".encode() * 200,
    b"{truncated",
    b"[1, 2]",
    record(5).encode(),
]


def _as_rows(batch):
    """(line_no, line, reason) of a lines batch, the terminator dropped from the raw text."""
    return [
        (row["line_no"], row["raw"][: len(row["raw"]) - row["trim"]], row["pre_reason"])
        for row in batch.to_pylist()
    ]


@pytest.mark.parametrize("newline", [b"\n", b"\r\n"])
def test_block_path_cuts_lines_like_the_line_by_line_path(newline):
    data = newline.join(TRICKY_LINES) + newline
    batch, count = _block_lines(b"xx" + data, 2, len(data) + 2, 10, 256)
    expected = _numbered(*_decode_lines(data[:-1], 256), 10)
    assert count == len(TRICKY_LINES)
    assert _as_rows(batch) == _as_rows(expected)
    # Sizes count a carriage return before the newline, as they always have.
    carriage = len(newline) - 1
    reasons = [reason for _, _, reason in _as_rows(batch) if reason]
    assert reasons == [
        f"line is {300 + carriage} bytes, over the limit of 256",
        f"line is {400 + carriage} bytes, over the limit of 256",
    ]


def test_block_with_invalid_utf8_falls_back_to_lines():
    data = b"\n".join([record(1).encode(), b"\xff\xfe broken", b"", record(2).encode()]) + b"\n"
    batch, count = _block_lines(data, 0, len(data), 0, 1 << 20)
    assert count == 4
    assert _as_rows(batch) == [
        (1, record(1), None),
        (2, "\\xff\\xfe broken", "line is not valid UTF-8 (byte 0)"),
        (4, record(2), None),
    ]


def _lines(tmp_path, name, data, max_line_bytes=1 << 20):
    """(line_no, line, reason) of every line read from object ``name`` holding ``data``."""
    (tmp_path / name).mkdir()
    (tmp_path / name / name).write_bytes(data)
    store = LocalObjectStore(tmp_path / name)
    (obj,) = store.list("", include_unfinished=True)
    read = ObjectsRead()
    with duckdb.connect() as con:
        batches = list(read_object(con, store, obj, read, tmp_path, max_line_bytes))
    assert all(b.schema == LINES_SCHEMA for b in batches)
    return [row for batch in batches for row in _as_rows(batch)], read


def test_gzip_members_are_read_one_after_the_other(tmp_path):
    body = gzip.compress(b"a\nb") + gzip.compress(b"c\n\nd\n")
    rows, read = _lines(tmp_path, "x.jsonl.gz", body)
    assert rows == [(1, "a", None), (2, "bc", None), (4, "d", None)]
    assert read.bytes_read == len(body) and not read.skipped_objects


def test_a_truncated_gzip_object_keeps_what_came_before_the_damage(tmp_path):
    body = gzip.compress(("\n".join(record(i) for i in range(5000)) + "\n").encode())
    rows, _ = _lines(tmp_path, "x.jsonl.gz", body[: len(body) // 2])
    *good, cut, damage = rows
    assert [line for _, line, _ in good] == [record(i) for i in range(len(good))]
    assert cut[2] == "line cut short by the damaged object"
    assert damage[2].startswith(f"object unreadable after line {cut[0]}: ")


def test_gunzip_pieces_stay_bounded_however_well_the_data_compresses(monkeypatch):
    from monitoring_platform.lib import objects

    monkeypatch.setattr(objects, "BLOCK_BYTES", 1000)
    pieces = list(_gunzip_chunks(io.BytesIO(gzip.compress(b"0" * 100_000))))
    assert max(len(p) for p in pieces) <= 1000 and b"".join(pieces) == b"0" * 100_000


def test_parquet_rows_become_json_lines(tmp_path):
    buffer = io.BytesIO()
    pq.write_table(pa.table({"request_id": ["a", "b"], "value": [1, None]}), buffer)
    rows, _ = _lines(tmp_path, "x.parquet", buffer.getvalue())
    assert [(n, json.loads(line), reason) for n, line, reason in rows] == [
        (1, {"request_id": "a", "value": 1}, None),
        (2, {"request_id": "b", "value": None}, None),
    ]
    rows, _ = _lines(tmp_path, "y.parquet", b"PAR1 not really")
    assert rows[-1][2].startswith("object is not readable Parquet")


@pytest.mark.parametrize(
    ("name", "reason"),
    [
        ("notes.txt", "unsupported object type"),
        (".tmp-x.jsonl", "unfinished write (a temporary .tmp-* object), not read (3 bytes)"),
    ],
)
def test_an_object_not_read_stands_as_one_line_with_its_reason(tmp_path, name, reason):
    rows, read = _lines(tmp_path, name, b"{}\n")
    assert [(n, r.startswith(reason)) for n, _, r in rows] == [(0, True)]
    assert len(read.skipped_objects) == 1 and read.bytes_read == 0
