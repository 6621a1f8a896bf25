"""Ingestion enforces the record contract and loses nothing: rows in = accepted + quarantined."""

import gzip
import json

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from monitoring_platform.config import parse_config
from monitoring_platform.lib.ingest import ingest_partition
from monitoring_platform.lib.storage import LocalObjectStore, S3ObjectStore
from monitoring_platform_tests.support import INGEST_CONFIG as CONFIG
from monitoring_platform_tests.support import INGEST_DAY as DAY
from monitoring_platform_tests.support import accepted_rows, quarantine_rows, record, write


@pytest.fixture
def model():
    return parse_config(CONFIG).models[0]


def with_feature(i, **features):
    rec = json.loads(record(i))
    rec["features"].update(features)
    return json.dumps(rec)


def without(i, *fields):
    rec = json.loads(record(i))
    for name in fields:
        if name in rec:
            del rec[name]
        else:
            del rec["features"][name]
    return json.dumps(rec)


BAD_LINES = {
    "{truncated": "malformed JSON",
    "[1, 2]": "record is an array, not an object",
    '"just a string"': "record is a string, not an object",
    record(101, latency_ms="fast"): "latency_ms: expected a number, got a string",
    record(102, status_code=200.5): "status_code: expected an integer, got a number",
    record(103, timestamp="yesterday"): "timestamp: expected an ISO 8601 timestamp, got a string",
    record(104, prediction=None): "prediction is null",
    with_feature(105, price="12.5"): "feature price: expected a number, got a string",
    with_feature(106, country={"a": 1}): "feature country: expected a string, got an object",
    without(107, "request_id"): "missing request_id",
    without(108, "price"): "missing feature price",
    record(109, model_version=None): "model_version is null",
}


def test_every_bad_line_is_quarantined_with_its_reason(tmp_path, model):
    good = [record(i) for i in range(20)]
    lines = good[:10] + list(BAD_LINES) + good[10:]
    write(tmp_path / "logs", "part-0.jsonl.gz", lines)
    result = ingest_partition(LocalObjectStore(tmp_path / "logs"), model, DAY, tmp_path / "out")

    assert result.rows_in == len(lines)
    assert result.accepted == 20
    assert result.quarantined == len(BAD_LINES)
    assert result.rows_in == result.accepted + result.quarantined
    rows = quarantine_rows(result)
    assert [(raw, reason) for _, _, reason, raw in rows] == list(BAD_LINES.items())
    assert [line_no for _, line_no, _, _ in rows] == list(range(11, 11 + len(BAD_LINES)))


def test_a_null_is_quarantined_only_in_a_required_feature(tmp_path, model):
    lines = [
        with_feature(1, country=None),  # neither required nor optional: accepted
        without(2, "discount"),  # optional and absent: accepted
        with_feature(3, price=None),  # required: quarantined
        record(4),
    ]
    write(tmp_path / "logs", "part-0.jsonl", lines, compress=False)
    result = ingest_partition(LocalObjectStore(tmp_path / "logs"), model, DAY, tmp_path / "out")
    assert (result.accepted, result.quarantined) == (3, 1)
    rows = {r["request_id"]: r for r in accepted_rows(result)}
    assert rows["r1"]["country"] is None and rows["r2"]["discount"] is None
    assert [reason for _, _, reason, _ in quarantine_rows(result)] == ["feature price is null"]


def test_accepted_rows_are_typed_and_keep_their_origin(tmp_path, model):
    write(tmp_path / "logs", "part-0.jsonl.gz", [record(i) for i in range(3)])
    failed = record(3, status_code=503, prediction=None, error="upstream timeout")
    write(tmp_path / "logs", "part-1.jsonl", [failed], compress=False)
    result = ingest_partition(LocalObjectStore(tmp_path / "logs"), model, DAY, tmp_path / "out")

    rows = accepted_rows(result)
    assert len(rows) == 4
    first = rows[0]
    assert first["request_id"] == "r0" and first["price"] == 10.0 and first["country"] == "US"
    assert first["discount"] is None, "an optional feature may be null"
    assert first["timestamp"].isoformat() == f"{DAY}T10:00:00+00:00"
    assert first["object_key"] == f"shop/dt={DAY}/part-0.jsonl.gz" and first["line_no"] == 1
    assert rows[3]["status_code"] == 503 and rows[3]["prediction"] is None
    assert rows[3]["error"] == "upstream timeout", "a failed call needs no prediction"


def test_duplicates_keep_the_first_and_quarantine_the_rest(tmp_path, model):
    write(tmp_path / "logs", "a.jsonl.gz", [record(1), record(2)])
    write(tmp_path / "logs", "b.jsonl.gz", [record(1)])
    result = ingest_partition(LocalObjectStore(tmp_path / "logs"), model, DAY, tmp_path / "out")
    assert (result.accepted, result.quarantined) == (2, 1)
    (row,) = quarantine_rows(result)
    assert row[0].endswith("b.jsonl.gz")
    assert row[2] == f"duplicate request_id (first at shop/dt={DAY}/a.jsonl.gz line 1)"
    assert result.reasons == {"duplicate request_id": 1}


def test_flat_features_and_parquet_objects(tmp_path, model):
    flat = json.loads(record(1))
    flat.update(flat.pop("features"))
    write(tmp_path / "logs", "flat.jsonl.gz", [json.dumps(flat)])
    table = pa.table(
        {
            "request_id": ["p1", "p2"],
            "timestamp": pa.array(["2026-11-20T11:00:00Z", "2026-11-20T11:00:01Z"]),
            "model_version": ["v2", "v2"],
            "features": [
                {"country": "DE", "price": 3.0, "discount": 5.0},
                {"country": "FR", "price": None, "discount": None},
            ],
            "prediction": [0.9, 0.1],
            "latency_ms": [5.0, 6.0],
            "status_code": [200, 200],
        }
    )
    pq.write_table(table, tmp_path / "logs" / "shop" / f"dt={DAY}" / "batch.parquet")
    result = ingest_partition(LocalObjectStore(tmp_path / "logs"), model, DAY, tmp_path / "out")
    assert (result.rows_in, result.accepted, result.quarantined) == (3, 2, 1)
    ids = sorted(r["request_id"] for r in accepted_rows(result))
    assert ids == ["p1", "r1"]
    (row,) = quarantine_rows(result)
    assert row[2] == "feature price is null" and row[1] == 2


def test_huge_invalid_utf8_blank_lines_and_a_truncated_object(tmp_path, model):
    logs = tmp_path / "logs" / "shop" / f"dt={DAY}"
    logs.mkdir(parents=True)
    huge = record(1, error="x" * 5000)
    body = (
        "\n".join([record(0), "", "   ", huge]).encode()
        + b"\n\xff\xfe broken\n"
        + record(2).encode()
    )
    (logs / "a.jsonl").write_bytes(body)
    compressed = gzip.compress(("\n".join(record(i) for i in range(10, 2000)) + "\n").encode())
    (logs / "b.jsonl.gz").write_bytes(compressed[: len(compressed) // 2])
    (logs / "notes.txt").write_text("not a log")

    result = ingest_partition(
        LocalObjectStore(tmp_path / "logs"), model, DAY, tmp_path / "out", max_line_bytes=4096
    )
    reasons = [row[2] for row in quarantine_rows(result)]
    assert any(r.endswith("bytes, over the limit of 4096") for r in reasons)
    assert any(r.startswith("line is not valid UTF-8") for r in reasons)
    assert any(r.startswith("object unreadable after line") for r in reasons)
    assert any(r.startswith("unsupported object type") for r in reasons)
    assert result.skipped_objects == [f"shop/dt={DAY}/notes.txt"]
    assert result.rows_in == result.accepted + result.quarantined
    accepted_ids = {r["request_id"] for r in accepted_rows(result)}
    assert {"r0", "r2"} <= accepted_ids, "good lines around bad ones are kept"
    assert len(accepted_ids) > 2, "the readable part of a truncated object is kept"
    huge_row = next(r for r in quarantine_rows(result) if "over the limit" in r[2])
    assert huge_row[3] == huge, "the raw line is kept whole"


def test_empty_day_is_not_an_error(tmp_path, model):
    result = ingest_partition(LocalObjectStore(tmp_path / "logs"), model, DAY, tmp_path / "out")
    assert (result.rows_in, result.accepted, result.quarantined) == (0, 0, 0)
    assert result.objects == []
    assert pq.read_table(result.accepted_path).num_rows == 0
    assert "price" in pq.read_table(result.accepted_path).column_names


def test_rerun_gives_the_same_rows(tmp_path, model):
    write(tmp_path / "logs", "a.jsonl.gz", [record(i) for i in range(50)] + list(BAD_LINES))
    store = LocalObjectStore(tmp_path / "logs")
    first = ingest_partition(store, model, DAY, tmp_path / "one")
    second = ingest_partition(store, model, DAY, tmp_path / "two")
    assert accepted_rows(first) == accepted_rows(second)
    assert quarantine_rows(first) == quarantine_rows(second)


def test_ingests_from_s3_over_http(tmp_path, model, s3_bucket):
    bucket, client_factory = s3_bucket
    client = client_factory()
    lines = [record(i) for i in range(30)] + ["{oops"]
    body = gzip.compress(("\n".join(lines) + "\n").encode())
    client.put_object(Bucket=bucket, Key=f"logs/shop/dt={DAY}/part-0.jsonl.gz", Body=body)
    client.put_object(Bucket=bucket, Key="logs/shop/dt=2026-11-21/part-0.jsonl.gz", Body=body)

    store = S3ObjectStore(bucket, "logs", client)
    result = ingest_partition(store, model, DAY, tmp_path / "out")
    assert [o.key for o in result.objects] == [f"shop/dt={DAY}/part-0.jsonl.gz"]
    assert result.bytes_read == len(body)
    assert (result.rows_in, result.accepted, result.quarantined) == (31, 30, 1)


def test_small_blocks_give_the_same_rows_as_large_ones(tmp_path, model, monkeypatch):
    """Blocks cut anywhere (no trailing newline, CRLF, bad bytes, duplicates) change nothing.

    Nor do a statement per object and chunks of a few lines, instead of one for the day.
    """
    from monitoring_platform.lib import ingest, objects

    lines = [record(i) for i in range(40)] + list(BAD_LINES) + [record(i) for i in range(5)]
    body = b"\r\n".join(line.encode() for line in lines)
    logs = tmp_path / "logs" / "shop" / f"dt={DAY}"
    logs.mkdir(parents=True)
    (logs / "a.jsonl.gz").write_bytes(gzip.compress(body[:3000]) + gzip.compress(body[3000:]))
    (logs / "b.jsonl").write_bytes(b"\n\n" + body.replace(b"r7", b"\xffr7") + b"\n   ")
    store = LocalObjectStore(tmp_path / "logs")
    large = ingest_partition(store, model, DAY, tmp_path / "large")
    monkeypatch.setattr(objects, "BLOCK_BYTES", 512)
    monkeypatch.setattr(objects, "READ_CHUNK_BYTES", 333)
    monkeypatch.setattr(ingest, "SCAN_ROWS", 3)
    monkeypatch.setattr(ingest, "STATEMENT_BATCHES", 1)
    small = ingest_partition(store, model, DAY, tmp_path / "small")
    assert accepted_rows(large) == accepted_rows(small)
    assert quarantine_rows(large) == quarantine_rows(small)
    assert (large.rows_in, large.reasons) == (small.rows_in, small.reasons)
    duplicate = next(
        r
        for r in quarantine_rows(small)
        if r[0].endswith("a.jsonl.gz") and r[2].startswith("duplicate")
    )
    assert duplicate[3] == lines[duplicate[1] - 1], "a duplicate keeps its raw line"


def test_an_error_reading_an_object_is_raised_as_it_was(tmp_path, model, monkeypatch):
    """A failure the reader does not turn into a quarantined line reaches the caller unchanged.

    The lines stream into DuckDB as it parses them, so the error is raised inside the statement;
    the caller still gets the reader's own exception, not DuckDB's wrapping of it.
    """

    class Unplugged(Exception):
        pass

    class FailingStream:
        def __init__(self, stream):
            self.stream, self.calls = stream, 0

        def read(self, size=-1):
            self.calls += 1
            if self.calls > 1:
                raise Unplugged("the disk went away after the first chunk")
            return self.stream.read(size)

        def close(self):
            self.stream.close()

    class FailingStore(LocalObjectStore):
        def open(self, key):
            return FailingStream(super().open(key))

    from monitoring_platform.lib import objects

    write(tmp_path / "logs", "a.jsonl", [record(i) for i in range(200)], compress=False)
    monkeypatch.setattr(objects, "READ_CHUNK_BYTES", 1000)
    with pytest.raises(Unplugged, match="went away"):
        ingest_partition(FailingStore(tmp_path / "logs"), model, DAY, tmp_path / "out")
