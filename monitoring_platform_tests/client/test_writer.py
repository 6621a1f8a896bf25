"""The writer: layout, rotation, back-pressure, a stalled S3, spill and re-send."""

import gzip
import json
import socket
import threading
import time

import pytest

from monitoring_platform.client import BatchWriter, Collector, monitored
from monitoring_platform.client.writer import check_model_name, encode_record
from monitoring_platform.config import load_config
from monitoring_platform.lib.ingest import ingest_partition
from monitoring_platform.lib.storage import LocalObjectStore, S3ObjectStore
from monitoring_platform_tests.client.servers import ingest_every_day, model_config
from monitoring_platform_tests.conftest import small_config_dict, write_config

FEATURES = {
    "country": "US",
    "device": "mobile",
    "query_length": 4,
    "position": 2,
    "item_price": 19.5,
    "user_tenure_days": 30,
    "hour_of_day": 9,
    "discount_pct": None,
}


def read_lines(root, pattern="**/*.jsonl.gz"):
    lines = []
    for path in sorted(root.glob(pattern)):
        lines += [json.loads(x) for x in gzip.decompress(path.read_bytes()).splitlines()]
    return lines


def test_records_land_in_the_day_of_their_utc_timestamp(tmp_path):
    collector = Collector(tmp_path / "raw", model="ctr_ranker", metrics=False)
    for stamp in ("2026-11-01T23:59:59.999Z", "2026-11-02T00:00:00Z", "2026-11-02T01:30:00+02:00"):
        collector.log_call(features=FEATURES, prediction=0.2, latency_ms=3, timestamp=stamp)
    collector.log_label("r1", 1, labeled_at="2026-11-03T10:00:00Z")
    collector.log_event("r1", "click", 1.0, timestamp="2026-11-02T12:00:00Z")
    assert collector.close(10)
    logs = tmp_path / "raw/logs/ctr_ranker"
    assert sorted(p.name for p in logs.iterdir()) == ["dt=2026-11-01", "dt=2026-11-02"]
    assert [r["timestamp"] for r in read_lines(logs, "dt=2026-11-01/*")] == [
        "2026-11-01T23:59:59.999Z",
        "2026-11-01T23:30:00.000Z",
    ]
    assert len(read_lines(logs, "dt=2026-11-02/*")) == 1
    (label,) = read_lines(tmp_path / "raw/labels/ctr_ranker/dt=2026-11-03")
    assert label == {"request_id": "r1", "label": 1, "labeled_at": "2026-11-03T10:00:00.000Z"}
    (event,) = read_lines(tmp_path / "raw/events/ctr_ranker/dt=2026-11-02")
    assert event["event_type"] == "click" and event["value"] == 1.0


def test_objects_rotate_by_size_and_by_age_with_unique_names(tmp_path):
    writer = BatchWriter(tmp_path, max_batch_bytes=2000, max_batch_age=0.3)
    collector = Collector(writer=writer, model="ctr_ranker", metrics=False)
    for _ in range(50):
        collector.log_call(features=FEATURES, prediction=0.5, latency_ms=1)
    time.sleep(1.0)  # the age limit finishes the last, small batch without a flush
    names = [p.name for p in tmp_path.rglob("*.jsonl.gz")]
    assert len(names) > 5 and len(set(names)) == len(names)
    assert writer.stats.written_records == 50
    assert all(p.stat().st_size < 2000 for p in tmp_path.rglob("*.jsonl.gz"))
    other = BatchWriter(tmp_path)
    assert other._token != writer._token
    writer.close(5)
    other.close(5)


def test_values_json_cannot_carry_become_null_and_names_cannot_escape():
    line = encode_record({"features": {"x": float("nan"), "y": float("inf")}, "p": 1})
    assert json.loads(line) == {"features": {"x": None, "y": None}, "p": 1}
    for bad in ("../etc", "a/b", "", ".hidden", "x" * 200):
        with pytest.raises(ValueError, match="model name"):
            check_model_name(bad)


def test_decorator_records_calls_and_failures_with_redaction(tmp_path):
    collector = Collector(tmp_path, model="ctr_ranker", model_version="v1", metrics=False)

    @monitored(collector=collector, redact=("email",))
    def score(features: dict) -> float:
        if features["position"] > 40:
            raise ValueError("position out of range")
        return 0.25

    assert score({**FEATURES, "email": "a@b.c"}) == 0.25
    with pytest.raises(ValueError):
        score({**FEATURES, "position": 45})
    collector.close(5)
    ok, failed = sorted(read_lines(tmp_path), key=lambda r: r["status_code"])
    assert ok["prediction"] == 0.25 and "email" not in ok["features"]
    assert ok["model_version"] == "v1" and ok["error"] is None
    assert failed["status_code"] == 500 and failed["prediction"] is None
    assert failed["error"] == "ValueError: position out of range"


class StalledServer:
    """Accepts TCP connections on 127.0.0.1 and never answers: an S3 that hangs."""

    def __init__(self):
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(64)
        self.url = f"http://127.0.0.1:{self.sock.getsockname()[1]}"
        self.held = []
        self.thread = threading.Thread(target=self._accept, daemon=True)
        self.thread.start()

    def _accept(self):
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self.held.append(conn)

    def close(self):
        self.sock.close()
        for conn in self.held:
            conn.close()


def stalled_client(url):
    import boto3
    from botocore.config import Config

    return boto3.client(
        "s3",
        endpoint_url=url,
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
        config=Config(
            connect_timeout=1, read_timeout=3, retries={"max_attempts": 1, "mode": "standard"}
        ),
    )


def test_a_stalled_s3_never_blocks_callers_drops_are_counted_and_batches_spill(tmp_path):
    server = StalledServer()
    try:
        writer = BatchWriter(
            "s3://logs/raw",
            client_factory=lambda: stalled_client(server.url),
            max_queue=200,
            max_batch_bytes=5_000,
            upload_attempts=1,
            spill_dir=tmp_path / "spill",
        )
        collector = Collector(writer=writer, model="ctr_ranker", metrics=False)
        slowest = 0.0
        for _ in range(3000):
            began = time.perf_counter()
            collector.log_call(features=FEATURES, prediction=0.5, latency_ms=1)
            slowest = max(slowest, time.perf_counter() - began)
        # A caller that waited for storage would wait out the stalled upload (its 3 s read
        # timeout); no call comes near that, however loaded the machine.
        assert slowest < 1.0
        assert writer.queued() <= 200
        dropped = writer.stats.dropped.get("queue full", 0)
        assert dropped > 0
        deadline = time.monotonic() + 30
        while writer.stats.spilled_objects == 0 and time.monotonic() < deadline:
            time.sleep(0.1)
        assert list((tmp_path / "spill").rglob("*.jsonl.gz"))
        writer.close(timeout=1)
        assert writer.stats.upload_failures >= 1
    finally:
        server.close()


def test_failed_uploads_spill_and_are_sent_again_then_ingested(tmp_path, s3_bucket):
    _, factory = s3_bucket
    bucket = "created-later"
    client = factory()
    writer = BatchWriter(
        f"s3://{bucket}/raw",
        client_factory=factory,
        upload_attempts=2,
        retry_backoff=0.05,
        resend_interval=0.2,
        spill_dir=tmp_path / "spill",
    )
    collector = Collector(writer=writer, model="ctr_ranker", metrics=False)
    for n in range(40):
        collector.log_call(features=FEATURES, prediction=0.1, latency_ms=2, request_id=f"r{n}")
    assert collector.flush(10)
    assert writer.stats.spilled_objects == 1 and writer.stats.written_records == 0
    client.create_bucket(Bucket=bucket)
    deadline = time.monotonic() + 10
    while writer.stats.resent_objects == 0 and time.monotonic() < deadline:
        time.sleep(0.1)
    writer.close(5)
    assert writer.stats.written_records == 40
    assert not list((tmp_path / "spill").rglob("*.jsonl.gz"))
    config = load_config(write_config(tmp_path, small_config_dict(tmp_path)))
    results = ingest_every_day(
        S3ObjectStore(bucket, "raw/logs", client),
        model_config(config, "ctr_ranker"),
        tmp_path / "lake",
    )
    assert sum(r.accepted for r in results.values()) == 40


def test_a_new_writer_sends_what_an_earlier_process_spilled(tmp_path):
    spill = tmp_path / "spill"
    key = spill / "logs/ctr_ranker/dt=2026-11-05/part-x.jsonl.gz"
    key.parent.mkdir(parents=True)
    record = {
        "request_id": "a",
        "timestamp": "2026-11-05T10:00:00Z",
        "model_version": "v",
        "features": FEATURES,
        "prediction": 0.3,
        "latency_ms": 1,
        "status_code": 200,
    }
    key.write_bytes(gzip.compress(json.dumps(record).encode() + b"\n"))
    writer = BatchWriter(tmp_path / "raw", spill_dir=spill)
    assert writer.flush(5)
    writer.close(5)
    config = load_config(write_config(tmp_path, small_config_dict(tmp_path)))
    result = ingest_partition(
        LocalObjectStore(tmp_path / "raw/logs"),
        model_config(config, "ctr_ranker"),
        "2026-11-05",
        tmp_path / "lake",
    )
    assert result.accepted == 1 and not key.exists()


def test_the_spill_folder_is_bounded_and_what_does_not_fit_is_counted(tmp_path):
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("a file where the raw root should be: every write fails")
    writer = BatchWriter(
        blocker,
        max_batch_bytes=3_000,
        upload_attempts=1,
        spill_dir=tmp_path / "spill",
        max_spill_bytes=2_500,
    )
    collector = Collector(writer=writer, model="ctr_ranker", metrics=False)
    for _ in range(60):
        collector.log_call(features=FEATURES, prediction=0.5, latency_ms=1)
    writer.close(10)
    spilled = list((tmp_path / "spill").rglob("*.jsonl.gz"))
    assert spilled and sum(p.stat().st_size for p in spilled) <= 2_500
    records_spilled = sum(gzip.decompress(p.read_bytes()).count(b"\n") for p in spilled)
    assert records_spilled + writer.stats.dropped["spill folder full"] == 60
    assert writer.stats.written_records == 0
