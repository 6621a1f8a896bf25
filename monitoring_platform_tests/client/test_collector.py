"""The collector: calls, labels and events as records of their contracts, timestamps in UTC, the
process's default collector."""

import datetime as dt
import gzip
import json

import pytest

from monitoring_platform.client import collector as collector_module
from monitoring_platform.client.collector import Collector, as_utc_iso, configure, get_collector


def _records(root, kind):
    return [
        json.loads(line)
        for path in sorted((root / kind).glob("**/*.jsonl.gz"))
        for line in gzip.decompress(path.read_bytes()).splitlines()
    ]


@pytest.mark.parametrize(
    ("moment", "text"),
    [
        (0, "1970-01-01T00:00:00.000Z"),
        (1_700_000_000.1234, "2023-11-14T22:13:20.123Z"),
        (dt.datetime(2026, 11, 20, 10, 0, 0, 500_000), "2026-11-20T10:00:00.500Z"),
        (
            dt.datetime(2026, 11, 20, 1, tzinfo=dt.timezone(dt.timedelta(hours=2))),
            "2026-11-19T23:00:00.000Z",
        ),
        ("2026-11-20T10:00:00+01:00", "2026-11-20T09:00:00.000Z"),
        ("2026-11-20", "2026-11-20T00:00:00.000Z"),
    ],
)
def test_timestamps_become_utc_iso_with_milliseconds(moment, text):
    assert as_utc_iso(moment) == text


def test_a_timestamp_that_is_not_one_is_refused():
    with pytest.raises(ValueError, match="not ISO 8601"):
        as_utc_iso("yesterday")
    for wrong in (True, [2026, 11, 20]):
        with pytest.raises(TypeError):
            as_utc_iso(wrong)


def test_calls_labels_and_events_are_written_as_their_records(tmp_path):
    collector = Collector(tmp_path, model="shop", model_version=3, metrics=False)
    request_id = collector.log_call(
        features={"price": 2.0},
        prediction=0.4,
        latency_ms=12.34567,
        status_code="500",
        error="x" * 5000,
        timestamp="2026-11-20T10:00:00Z",
    )
    assert collector.log_label(request_id, 1, labeled_at="2026-11-21T08:00:00Z")
    assert collector.log_event(request_id, "click", 1.5, timestamp=0, model="other")
    collector.close(5)

    (call,) = _records(tmp_path, "logs")
    assert call == {
        "request_id": request_id,
        "timestamp": "2026-11-20T10:00:00.000Z",
        "model_version": "3",
        "features": {"price": 2.0},
        "prediction": 0.4,
        "latency_ms": 12.346,
        "status_code": 500,
        "error": "x" * 1000,
    }
    assert _records(tmp_path, "labels") == [
        {"request_id": request_id, "label": 1, "labeled_at": "2026-11-21T08:00:00.000Z"}
    ]
    assert [p.parent.name for p in (tmp_path / "labels").glob("**/*.jsonl.gz")] == ["dt=2026-11-21"]
    (event,) = _records(tmp_path, "events")
    assert event["event_type"] == "click" and event["value"] == 1.5
    assert [p.parts[-3] for p in (tmp_path / "events").glob("**/*.jsonl.gz")] == ["other"]


def test_bad_ids_names_and_event_types_are_refused(tmp_path):
    collector = Collector(tmp_path, metrics=False)
    with pytest.raises(ValueError, match="no model name"):
        collector.log_call(features={}, prediction=1, latency_ms=1)
    for request_id in ("", "x" * 300, 5):
        with pytest.raises(ValueError, match="request_id"):
            collector.log_label(request_id, 1, model="shop")
    with pytest.raises(ValueError, match="event_type"):
        collector.log_event("r1", "", model="shop")
    collector.close(5)


def test_the_default_collector_is_configured_once_and_replaced_after_flushing(
    tmp_path, monkeypatch
):
    monkeypatch.setattr(collector_module, "_default", None)
    with pytest.raises(RuntimeError, match="no collector configured"):
        get_collector()
    monkeypatch.delenv("MONITORING_RAW", raising=False)
    with pytest.raises(ValueError, match="MONITORING_RAW"):
        configure()
    monkeypatch.setenv("MONITORING_RAW", str(tmp_path / "first"))
    first = configure(model="shop", metrics=False)
    assert get_collector() is first
    collector_module.log_call(features={}, prediction=1, latency_ms=1)
    second = configure(tmp_path / "second", model="shop", metrics=False)
    assert get_collector() is second
    assert len(_records(tmp_path / "first", "logs")) == 1, "the first one was flushed and closed"
    second.close(5)
