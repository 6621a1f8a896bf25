"""Hostile and broken input reaching ingestion: each case lands in quarantine with a reason,
or is read exactly as listed; nothing crashes the day and nothing vanishes."""

import json
import zlib

import pytest

from monitoring_platform.config import parse_config
from monitoring_platform.lib.events import ingest_events
from monitoring_platform.lib.ingest import ingest_partition
from monitoring_platform.lib.labels import ingest_labels
from monitoring_platform.lib.storage import LocalObjectStore, S3ObjectStore
from monitoring_platform_tests.support import INGEST_CONFIG as CONFIG
from monitoring_platform_tests.support import INGEST_DAY as DAY
from monitoring_platform_tests.support import accepted_rows as accepted
from monitoring_platform_tests.support import quarantine_rows, record, write


@pytest.fixture
def model():
    return parse_config(CONFIG).models[0]


def put(root, name, lines):
    write(root, name, lines, compress=False)


def quarantine(result):
    return sorted(quarantine_rows(result))


def ingest(tmp_path, model, **options):
    return ingest_partition(
        LocalObjectStore(tmp_path / "logs"), model, DAY, tmp_path / "out", **options
    )


def test_nul_in_any_string_field_quarantines_the_record_naming_the_field(tmp_path, model):
    nul = "\u0000"
    lines = [
        record(0),
        record(1, request_id=f"r1{nul}tail"),
        record(2, model_version=f"v1{nul}"),
        json.dumps({**json.loads(record(3)), "features": {"country": f"U{nul}S", "price": 1.0}}),
        record(4, status_code=500, prediction=None, error=f"boom{nul}"),
        record(5),
    ]
    put(tmp_path / "logs", "a.jsonl", lines)
    result = ingest(tmp_path, model)
    assert (result.rows_in, result.accepted, result.quarantined) == (6, 2, 4)
    reasons = [row[2] for row in quarantine(result)]
    assert reasons == [
        "request_id: contains a NUL character (U+0000)",
        "model_version: contains a NUL character (U+0000)",
        "feature country: contains a NUL character (U+0000)",
        "error: contains a NUL character (U+0000)",
    ]
    for row in accepted(result):
        assert not any(isinstance(v, str) and nul in v for v in row.values())


def test_nul_in_labels_and_events_is_quarantined_too(tmp_path, model):
    root = tmp_path / "raw"
    put(
        root,
        "labels.jsonl",
        [
            json.dumps({"request_id": "a\u0000x", "label": 1, "labeled_at": f"{DAY}T00:00:00Z"}),
            json.dumps({"request_id": "a\u0000y", "label": 0, "labeled_at": f"{DAY}T00:00:00Z"}),
            json.dumps({"request_id": "b", "label": 0, "labeled_at": f"{DAY}T00:00:00Z"}),
        ],
    )
    labels = ingest_labels(LocalObjectStore(root), model, DAY, tmp_path / "labels")
    assert (labels.accepted, labels.quarantined) == (1, 2)
    assert labels.reasons == {"request_id: contains a NUL character (U+0000)": 2}
    put(
        root,
        "labels.jsonl",
        [
            json.dumps(
                {"request_id": "a", "event_type": "cl\u0000ick", "timestamp": f"{DAY}T00:00:00Z"}
            )
        ],
    )
    events = ingest_events(LocalObjectStore(root), model, DAY, tmp_path / "events")
    assert (events.accepted, events.quarantined) == (0, 1)
    assert events.reasons == {"event_type: contains a NUL character (U+0000)": 1}


def test_a_raw_nul_byte_never_reaches_the_quarantine_text(tmp_path, model):
    put(tmp_path / "logs", "a.jsonl", [record(0), '{"request_id": "x\x00y"}'])
    result = ingest(tmp_path, model)
    ((_, _, reason, raw),) = quarantine(result)
    assert reason == "malformed JSON"
    assert "\x00" not in raw and raw == '{"request_id": "x\\u0000y"}'


@pytest.mark.parametrize(
    ("text", "word"),
    [
        ("NaN", "NaN"),
        ("Infinity", "an infinity"),
        ("-Infinity", "an infinity"),
        ("1e999", "an infinity"),
    ],
)
def test_non_finite_numbers_are_quarantined(tmp_path, model, text, word):
    good = json.loads(record(0))
    lines = [
        record(1),
        json.dumps(good)
        .replace('"prediction": 0.25', f'"prediction": {text}')
        .replace('"r0"', '"r2"'),
        json.dumps(good).replace('"latency_ms": 12.5', f'"latency_ms": {text}'),
    ]
    put(tmp_path / "logs", "a.jsonl", lines)
    result = ingest(tmp_path, model)
    assert (result.accepted, result.quarantined) == (1, 2)
    assert [row[2] for row in quarantine(result)] == [
        f"prediction: expected a finite number, got {word}",
        f"latency_ms: expected a finite number, got {word}",
    ]


def test_duplicate_keys_make_a_record_ambiguous(tmp_path, model):
    lines = [
        record(0),
        record(1)[:-1] + ', "latency_ms": 99999}',
        record(2).replace('"country": "US"', '"country": "US", "country": "FR"'),
        # Repeated keys deeper than the fields read do not matter to the contract.
        record(3)[:-1] + ', "extra": {"a": 1, "a": 2}}',
    ]
    put(tmp_path / "logs", "a.jsonl", lines)
    result = ingest(tmp_path, model)
    assert (result.accepted, result.quarantined) == (2, 2)
    assert [row[2] for row in quarantine(result)] == [
        "ambiguous record: a key appears more than once (latency_ms)",
        "ambiguous record: a key appears more than once (features.country)",
    ]


def _gzip_with_huge_line(path, line_bytes: int) -> None:
    """A gzip object: two records, one line of ``line_bytes`` bytes, two more records."""
    compressor = zlib.compressobj(9, zlib.DEFLATED, 31)
    with open(path, "wb") as out:
        out.write(compressor.compress((record(0) + "\n" + record(1) + "\n").encode()))
        out.write(compressor.compress(b'{"request_id": "'))
        piece = b"A" * (8 << 20)
        written = len(b'{"request_id": "')
        while written + len(piece) < line_bytes - 2:
            out.write(compressor.compress(piece))
            written += len(piece)
        out.write(compressor.compress(b"A" * (line_bytes - 2 - written) + b'"}\n'))
        out.write(compressor.compress((record(2) + "\n" + record(3) + "\n").encode()))
        out.write(compressor.flush())


def test_a_huge_line_is_cut_off_while_streaming(tmp_path, model):
    folder = tmp_path / "logs" / "shop" / f"dt={DAY}"
    folder.mkdir(parents=True)
    size = 300 << 20
    _gzip_with_huge_line(folder / "bomb.jsonl.gz", size)
    assert (folder / "bomb.jsonl.gz").stat().st_size < 1 << 20
    put(tmp_path / "logs", "b.jsonl", [record(10)])

    result = ingest(tmp_path, model, max_line_bytes=1 << 16)
    assert (result.rows_in, result.accepted, result.quarantined) == (6, 5, 1)
    ((key, line_no, reason, raw),) = quarantine(result)
    assert key.endswith("bomb.jsonl.gz") and line_no == 3
    assert reason == f"line is {size} bytes, over the limit of {1 << 16} (kept its first {1 << 16})"
    assert len(raw.encode()) <= 1 << 16, "the raw text of the line is cut, not kept whole"
    assert {r["request_id"] for r in accepted(result)} == {"r0", "r1", "r2", "r3", "r10"}
    assert result.reasons == {"line over the size limit": 1}


HOSTILE_KEYS = ["../up.jsonl", "./dot.jsonl", "/slash.jsonl", "back\\slash.jsonl", "plain.jsonl"]


def test_s3_keys_are_fetched_exactly_as_listed(s3_bucket, tmp_path, model):
    bucket, factory = s3_bucket
    client = factory()
    for n, name in enumerate(HOSTILE_KEYS):
        body = (record(n) + "\n").encode()
        client.put_object(Bucket=bucket, Key=f"logs/shop/dt={DAY}/{name}", Body=body)
    # A decoy under the key a normalising reader would fetch instead.
    client.put_object(Bucket=bucket, Key=f"logs/shop/dt={DAY}/dot.jsonl", Body=b"{decoy\n")
    store = S3ObjectStore(bucket, "logs", client)
    result = ingest_partition(store, model, DAY, tmp_path / "out")
    assert (result.rows_in, result.accepted, result.quarantined) == (6, 5, 1)
    assert {r["request_id"] for r in accepted(result)} == {"r0", "r1", "r2", "r3", "r4"}
    keys = {r["object_key"] for r in accepted(result)}
    assert f"shop/dt={DAY}/./dot.jsonl" in keys and f"shop/dt={DAY}/../up.jsonl" in keys


def test_an_object_that_cannot_be_opened_costs_only_itself(tmp_path, model):
    put(tmp_path / "logs", "back\\slash.jsonl", [record(0)])
    put(tmp_path / "logs", "good.jsonl", [record(1)])

    class Flaky(LocalObjectStore):
        def open(self, key):
            if key.endswith("good.jsonl"):
                from monitoring_platform.lib.storage import StorageError

                raise StorageError(f"reading {key} failed: connection reset")
            return super().open(key)

    result = ingest_partition(Flaky(tmp_path / "logs"), model, DAY, tmp_path / "out")
    assert [r["request_id"] for r in accepted(result)] == ["r0"]
    ((key, _, reason, _),) = quarantine(result)
    assert key.endswith("good.jsonl") and reason.startswith("object unreadable: reading")
    assert result.skipped_objects == [f"shop/dt={DAY}/good.jsonl"]
    assert result.reasons == {"object unreadable": 1}


def test_unfinished_temporary_objects_are_counted_not_silently_skipped(tmp_path, model):
    put(tmp_path / "logs", "part-0.jsonl", [record(0)])
    put(tmp_path / "logs", ".tmp-part-1.jsonl", [record(i) for i in range(1, 11)])
    result = ingest(tmp_path, model)
    assert result.accepted == 1
    assert result.skipped_objects == [f"shop/dt={DAY}/.tmp-part-1.jsonl"]
    ((key, line_no, reason, _),) = quarantine(result)
    assert key.endswith(".tmp-part-1.jsonl") and line_no == 0
    assert reason.startswith("unfinished write (a temporary .tmp-* object), not read")
    assert result.rows_in == result.accepted + result.quarantined
