"""The WSGI middleware around a Flask app under the standard library's WSGI server."""

import httpx
from flask import Flask, jsonify, request

from monitoring_platform.client import Collector, WSGICollectionMiddleware, current_call
from monitoring_platform.config import load_config
from monitoring_platform.lib.storage import LocalObjectStore
from monitoring_platform_tests.client.servers import (
    WsgirefThread,
    example_service,
    ingest_every_day,
    model_config,
)
from monitoring_platform_tests.conftest import small_config_dict, write_config


def flask_app(collector: Collector) -> Flask:
    app = Flask("wsgi_example")

    @app.post("/predict")
    def predict():
        features = request.get_json()["features"]
        if features["position"] > 15:
            return jsonify(error="position out of range"), 400
        score = 1.0 / (1.0 + features["position"])
        return jsonify(prediction=score, request_id=current_call().request_id)

    @app.get("/health")
    def health():
        return jsonify(ok=True)

    app.wsgi_app = WSGICollectionMiddleware(
        app.wsgi_app,
        collector=collector,
        model="ctr_ranker",
        model_version="flask-1",
        redact=("user_email",),
    )
    return app


def test_flask_calls_are_recorded_and_ingested(tmp_path):
    import random

    collector = Collector(tmp_path / "raw", spill_dir=tmp_path / "spill")
    rng = random.Random(4)
    bodies = [example_service().draw_features(rng) for _ in range(120)]
    with WsgirefThread(flask_app(collector)) as server, httpx.Client(base_url=server.url) as http:
        responses = [
            http.post("/predict", json={"features": {**f, "user_email": "x@y.z"}}) for f in bodies
        ]
        assert http.get("/health").status_code == 200  # not a model call: not recorded
        assert (
            http.post(
                "/predict", json={"features": bodies[0]}, headers={"X-Request-ID": "given-1"}
            ).headers["x-request-id"]
            == "given-1"
        )
        metrics = http.get("/metrics").text
    collector.close(10)
    assert all(
        r.headers["x-request-id"] == r.json().get("request_id", r.headers["x-request-id"])
        for r in responses
    )
    failed = sum(r.status_code == 400 for r in responses)
    assert failed > 0
    config = load_config(write_config(tmp_path, small_config_dict(tmp_path)))
    results = ingest_every_day(
        LocalObjectStore(tmp_path / "raw/logs"), model_config(config, "ctr_ranker"), tmp_path / "l"
    )
    assert sum(r.rows_in for r in results.values()) == 121
    assert sum(r.accepted for r in results.values()) == 121
    import pyarrow.parquet as pq

    table = pq.read_table([r.accepted_path for r in results.values()])
    assert "user_email" not in table.column_names
    errors = [e for e in table.column("error").to_pylist() if e]
    assert errors == ["position out of range"] * failed
    assert 'model_requests_total{code="400",model="ctr_ranker",version="flask-1"}' in metrics
