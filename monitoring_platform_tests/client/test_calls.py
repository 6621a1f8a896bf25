"""What a recorded call keeps: features and prediction chosen from request and response, redacted
names removed, the caller's request id when it is a plain token, the error of a failed call."""

import asyncio
import gzip
import json
import uuid

import pytest

from monitoring_platform.client import Collector, monitored
from monitoring_platform.client.calls import (
    BoundedBody,
    Call,
    Capture,
    _current,
    annotate,
    current_call,
    error_text,
    exception_text,
    parse_json,
    request_id_from,
)

REQUEST = {"features": {"country": "US", "price": 3.5, "email": "a@b.c"}, "debug": True}


def test_features_are_the_requests_features_member_or_the_request_itself():
    assert Capture().features_of(REQUEST) == REQUEST["features"]
    assert Capture().features_of({"country": "US", "price": 3.5}) == {"country": "US", "price": 3.5}
    assert Capture(features=["price", "absent"]).features_of(REQUEST) == {"price": 3.5}
    assert Capture(redact=["email"]).features_of(REQUEST) == {"country": "US", "price": 3.5}
    chosen = Capture(features=lambda r: {"n": len(r["features"]), "email": 1}, redact=["email"])
    assert chosen.features_of(REQUEST) == {"n": 3}
    assert Capture().features_of([1, 2]) == {} and Capture().features_of(None) == {}
    assert Capture().features_of({1: "a"}) == {"1": "a"}


def test_the_prediction_is_the_responses_member_or_the_response_when_it_is_a_value():
    assert Capture().prediction_of({"prediction": 0.7, "other": 1}) == 0.7
    assert Capture(prediction="score").prediction_of({"score": 2, "prediction": 9}) == 2
    assert Capture(prediction=lambda r: r["ranked"][0]).prediction_of({"ranked": [5, 4]}) == 5
    assert [Capture().prediction_of(v) for v in (0.25, 3, "yes", True, [1], None)] == [
        0.25,
        3,
        "yes",
        None,
        None,
        None,
    ]


def test_bodies_that_are_not_json_parse_to_none():
    assert parse_json(b'{"a": [1, 2]}') == {"a": [1, 2]}
    deep = b"[" * 100_000 + b"]" * 100_000
    assert [parse_json(b) for b in (None, b"", b"{bad", b"\xff\xfe", deep)] == [None] * 5


def test_a_failed_call_says_what_went_wrong():
    assert error_text(200, {"error": "ignored"}) is None
    assert error_text(422, {"detail": "price is negative"}) == "price is negative"
    assert json.loads(error_text(422, {"detail": [{"loc": ["price"]}]})) == [{"loc": ["price"]}]
    assert error_text(503, None) == "service unavailable"
    assert error_text(599, "text") == "status 599"


def test_a_plain_request_id_is_kept_and_anything_else_replaced():
    assert request_id_from("req-42_a.b") == "req-42_a.b"
    assert request_id_from(b"abc123") == "abc123"
    for hostile in (None, "", "a b", "<script>", "x" * 1000, b"\xff\n"):
        made = request_id_from(hostile)
        assert str(uuid.UUID(made)) == made, hostile


def test_annotate_changes_the_current_call_only_inside_one():
    assert current_call() is None
    with pytest.raises(RuntimeError, match="outside a recorded model call"):
        annotate(prediction=1)
    call = Call(request_id="r", model="m", model_version="1")
    token = _current.set(call)
    try:
        annotate(features={"x": 1}, prediction=0.5, model_version=2, error="late")
        annotate(skip=True)
        annotate()
        assert current_call() is call
    finally:
        _current.reset(token)
    assert (call.features, call.prediction, call.model_version, call.error, call.skip) == (
        {"x": 1},
        0.5,
        "2",
        "late",
        True,
    )
    assert current_call() is None


def test_an_async_function_is_recorded_like_a_plain_one(tmp_path):
    collector = Collector(tmp_path, model="ctr_ranker", model_version="v1", metrics=False)
    seen = []

    @monitored(collector=collector, prediction=lambda result: result["score"])
    async def score(features: dict) -> dict:
        seen.append(current_call())
        await asyncio.sleep(0)
        if features["position"] > 40:
            raise ValueError("position out of range")
        annotate(model_version="v2")
        return {"score": 0.25}

    assert asyncio.run(score({"position": 2})) == {"score": 0.25}
    with pytest.raises(ValueError):
        asyncio.run(score({"position": 45}))
    collector.close(5)
    assert current_call() is None and all(isinstance(call, Call) for call in seen)
    records = [
        json.loads(line)
        for path in sorted(tmp_path.glob("**/*.jsonl.gz"))
        for line in gzip.decompress(path.read_bytes()).splitlines()
    ]
    ok, failed = sorted(records, key=lambda r: r["status_code"])
    assert (ok["status_code"], ok["prediction"], ok["model_version"]) == (200, 0.25, "v2")
    assert ok["features"] == {"position": 2} and ok["error"] is None
    assert (failed["status_code"], failed["prediction"], failed["model_version"]) == (
        500,
        None,
        "v1",
    )
    assert failed["error"] == "ValueError: position out of range"
    assert ok["request_id"] != failed["request_id"]


def test_a_body_is_kept_up_to_its_limit_and_dropped_whole_past_it():
    body = BoundedBody(limit=5)
    for chunk in (b"ab", b"", b"cde"):
        body.add(chunk)
    assert b"".join(body.parts) == b"abcde"
    body.add(b"f")
    body.add(b"g")
    assert body.parts == []
    assert exception_text(ValueError("bad row")) == "ValueError: bad row"
