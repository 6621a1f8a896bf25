"""The business-event contract: accepted rows, quarantine reasons, duplicates."""

import gzip
import json

import pyarrow.parquet as pq

from monitoring_platform.config import parse_config
from monitoring_platform.lib.events import CLICK, CONVERSION, OTHER, event_kind, ingest_events
from monitoring_platform.lib.storage import LocalObjectStore

CONFIG = """
models:
  - name: shop
    task: binary_classification
    features: [{name: price, type: numerical}]
    events: {click_event: tap, conversion_event: order}
"""


def test_events_are_split_by_the_contract_and_every_line_is_accounted_for(tmp_path):
    model = parse_config(CONFIG).model("shop")
    lines = [
        {"request_id": "r1", "event_type": "tap", "value": 1, "timestamp": "2026-11-03T10:00:00Z"},
        {
            "request_id": "r1",
            "event_type": "order",
            "value": 31.5,
            "timestamp": "2026-11-03T10:05:00Z",
        },
        {"request_id": "r2", "event_type": "tap", "timestamp": "2026-11-03T11:00:00Z"},
        {"request_id": "r1", "event_type": "tap", "value": 1, "timestamp": "2026-11-03T10:00:00Z"},
        {
            "request_id": "r3",
            "event_type": "order",
            "value": "12",
            "timestamp": "2026-11-03T12:00:00Z",
        },
        {"event_type": "tap", "value": 1, "timestamp": "2026-11-03T12:00:00Z"},
        {"request_id": "r4", "event_type": "tap", "value": 1, "timestamp": "yesterday"},
    ]
    text = "\n".join(json.dumps(line) for line in lines) + "\n{broken\n"
    store = LocalObjectStore(tmp_path / "events")
    store.put_bytes("shop/dt=2026-11-03/events-0000.jsonl.gz", gzip.compress(text.encode()))

    result = ingest_events(store, model, "2026-11-03", tmp_path / "work")

    assert result.rows_in == 8
    assert result.accepted == 3 and result.quarantined == 5
    accepted = pq.read_table(result.accepted_path).to_pylist()
    assert [(r["request_id"], r["event_type"], r["value"]) for r in accepted] == [
        ("r1", "tap", 1.0),
        ("r1", "order", 31.5),
        ("r2", "tap", None),
    ]
    reasons = {r["line_no"]: r["reason"] for r in pq.read_table(result.quarantine_path).to_pylist()}
    assert reasons[4].startswith("duplicate event (first at ")
    assert reasons[5] == "value: expected a number, got a string"
    assert reasons[6] == "missing request_id"
    assert reasons[7] == "timestamp: expected an ISO 8601 timestamp, got a string"
    assert reasons[8] == "malformed JSON"
    assert result.reasons["duplicate event"] == 1


def test_event_kinds_follow_the_configured_names():
    model = parse_config(CONFIG).model("shop")
    assert event_kind(model, "tap") == CLICK
    assert event_kind(model, "order") == CONVERSION
    assert event_kind(model, "click") == OTHER
