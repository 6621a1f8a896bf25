"""The ASGI middleware under a real uvicorn server, driven over HTTP, read back by the platform."""

import concurrent.futures
import random
import time

import httpx
import pytest

from monitoring_platform.client import Collector
from monitoring_platform.config import load_config
from monitoring_platform.lib.events import ingest_events
from monitoring_platform.lib.labels import ingest_labels
from monitoring_platform.lib.storage import LocalObjectStore, S3ObjectStore
from monitoring_platform_tests.client.servers import (
    UvicornThread,
    example_service,
    ingest_every_day,
    model_config,
)
from monitoring_platform_tests.conftest import small_config_dict, write_config

MODEL = "ctr_ranker"


def drive(url: str, n: int, seed: int = 1) -> tuple[list[httpx.Response], int]:
    """``n`` predictions from four concurrent clients, then feedback for each success."""
    service = example_service()
    rng = random.Random(seed)
    bodies = [{"features": service.draw_features(rng)} for _ in range(n)]

    def call(body):
        with httpx.Client(base_url=url, timeout=30) as http:
            return http.post("/predict", json=body)

    with concurrent.futures.ThreadPoolExecutor(4) as pool:
        responses = list(pool.map(call, bodies))
    clicks = 0
    with httpx.Client(base_url=url, timeout=30) as http:
        for response in responses:
            if response.status_code == 200:
                clicked = rng.random() < response.json()["prediction"]
                clicks += clicked
                feedback = {"request_id": response.headers["x-request-id"], "clicked": clicked}
                assert http.post("/feedback", json=feedback).status_code == 200
    return responses, clicks


def _serve_and_count(location, client_factory, tmp_path, stores, failure_rate=0.1):
    collector = Collector(
        location,
        client_factory=client_factory,
        spill_dir=tmp_path / "spill",
        max_batch_bytes=20_000,  # several objects per day
    )
    app = example_service().create_app(collector, failure_rate=failure_rate)
    with UvicornThread(app) as server:
        responses, clicks = drive(server.url, 300)
        server.stop()  # graceful: the lifespan's shutdown flushes the writer
    assert collector.writer.stats.dropped_total == 0
    config = load_config(write_config(tmp_path, small_config_dict(tmp_path)))
    model = model_config(config, MODEL)
    logs = ingest_every_day(stores("logs"), model, tmp_path / "logs")
    rows_in = sum(r.rows_in for r in logs.values())
    accepted = sum(r.accepted for r in logs.values())
    assert rows_in == len(responses) == 300
    assert accepted == rows_in, [r.reasons for r in logs.values()]
    assert sum(len(r.objects) for r in logs.values()) > 1
    statuses = sorted({r.status_code for r in responses})
    assert statuses == [200, 503]
    labels = ingest_every_day(stores("labels"), model, tmp_path / "labels", ingest_labels)
    ok = sum(r.status_code == 200 for r in responses)
    assert sum(r.accepted for r in labels.values()) == ok
    events = ingest_every_day(stores("events"), model, tmp_path / "events", ingest_events)
    assert sum(r.accepted for r in events.values()) == clicks
    return logs, responses


def test_every_request_is_one_accepted_record_in_a_local_folder(tmp_path):
    raw = tmp_path / "raw"
    logs, responses = _serve_and_count(
        raw, None, tmp_path, lambda kind: LocalObjectStore(raw / kind)
    )
    import pyarrow.parquet as pq

    rows = pq.read_table(
        [r.accepted_path for r in logs.values()][0], columns=["request_id", "status_code"]
    ).to_pylist()
    ids = {r.headers["x-request-id"] for r in responses}
    assert {r["request_id"] for r in rows} <= ids
    assert not list(raw.rglob(".tmp-*"))


@pytest.mark.slow
def test_every_request_is_one_accepted_record_in_s3(tmp_path, s3_bucket):
    bucket, factory = s3_bucket
    _serve_and_count(
        f"s3://{bucket}/raw",
        factory,
        tmp_path,
        lambda kind: S3ObjectStore(bucket, f"raw/{kind}", factory()),
    )


def test_handler_exceptions_and_annotations_are_recorded(tmp_path):
    from starlette.applications import Starlette
    from starlette.responses import JSONResponse
    from starlette.routing import Route

    from monitoring_platform.client import CollectionMiddleware, annotate

    async def predict(request):
        body = await request.json()
        if body["position"] > 10:
            raise RuntimeError("model crashed")
        annotate(features={**body, "secret": "x"}, prediction=0.7, model_version="v2")
        return JSONResponse({"ok": True})

    collector = Collector(tmp_path / "raw", model="ctr_ranker", model_version="v1")
    app = Starlette(routes=[Route("/predict", predict, methods=["POST"])])
    app.add_middleware(CollectionMiddleware, collector=collector, redact=("secret",))
    with UvicornThread(app) as server, httpx.Client(base_url=server.url) as http:
        assert http.post("/predict", json={"position": 3}).status_code == 200
        assert http.post("/predict", json={"position": 30}).status_code == 500
        # The record is made just after the response's last byte: allow the loop a turn.
        wanted = 'model_errors_total{model="ctr_ranker",version="v1"} 1.0'
        for _ in range(50):
            # A new connection: uvicorn closes the one whose handler raised.
            metrics = httpx.get(f"{server.url}/metrics").text
            if wanted in metrics:
                break
            time.sleep(0.05)
        server.stop()
    import gzip
    import json

    records = sorted(
        (
            json.loads(line)
            for path in (tmp_path / "raw").rglob("*.jsonl.gz")
            for line in gzip.decompress(path.read_bytes()).splitlines()
        ),
        key=lambda r: r["status_code"],
    )
    ok, failed = records
    assert ok["features"] == {"position": 3} and ok["prediction"] == 0.7
    assert ok["model_version"] == "v2"
    assert failed["status_code"] == 500 and failed["error"] == "RuntimeError: model crashed"
    assert failed["features"] == {"position": 30} and failed["model_version"] == "v1"
    assert wanted in metrics


def test_records_are_flushed_at_interpreter_exit(tmp_path):
    import subprocess
    import sys

    code = (
        "from monitoring_platform import client\n"
        f"c = client.configure({str(tmp_path)!r}, model='m1', max_batch_age=3600)\n"
        "for n in range(25):\n"
        "    client.log_call(features={'x': n}, prediction=0.5, latency_ms=1.0)\n"
        "client.log_label('r1', 1)\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)
    import gzip

    lines = [
        line
        for path in tmp_path.rglob("*.jsonl.gz")
        for line in gzip.decompress(path.read_bytes()).splitlines()
    ]
    assert len(lines) == 26


def test_hostile_bodies_are_answered_and_each_still_makes_one_record(tmp_path):
    from starlette.applications import Starlette
    from starlette.responses import JSONResponse
    from starlette.routing import Route

    from monitoring_platform.client import CollectionMiddleware

    async def predict(request):
        await request.body()
        return JSONResponse({"prediction": 0.5})

    def picky(payload):
        return {"position": payload["position"]}  # fails on anything but an object

    collector = Collector(tmp_path / "raw", model="ctr_ranker", model_version="v1")
    app = Starlette(routes=[Route("/predict", predict, methods=["POST"])])
    app.add_middleware(
        CollectionMiddleware, collector=collector, features=picky, max_body_bytes=10_000
    )
    bodies = [
        b"[" * 100_000 + b"]" * 100_000,  # nested past the parser's depth
        b"not json at all \xff\xfe",
        b'{"position": ' + b"1" * 50_000 + b"}",  # past max_body_bytes
        b'{"position": 4, "x": "</script><script>alert(1)</script>"}',
        b"",
    ]
    with UvicornThread(app) as server, httpx.Client(base_url=server.url) as http:
        for body in bodies:
            response = http.post("/predict", content=body, headers={"x-request-id": "../../etc"})
            assert response.status_code == 200
            assert response.headers["x-request-id"] != "../../etc"
        server.stop()
    import gzip
    import json

    records = [
        json.loads(line)
        for path in (tmp_path / "raw").rglob("*.jsonl.gz")
        for line in gzip.decompress(path.read_bytes()).splitlines()
    ]
    assert len(records) == len(bodies)
    assert sorted(r["features"].get("position", -1) for r in records) == [-1, -1, -1, -1, 4]
    failed_hooks = [r for r in records if r["error"]]
    assert len(failed_hooks) == 4
    assert all(r["error"].startswith("recording the features failed") for r in failed_hooks)
