"""Labels: their contract by task, and one arrival day's split into accepted and quarantined."""

import json

import pyarrow.parquet as pq

from monitoring_platform.config import parse_config
from monitoring_platform.lib.labels import ingest_labels
from monitoring_platform.lib.storage import LocalObjectStore

DAY = "2026-11-20"


def model(task, classes=""):
    return parse_config(
        f"""
models:
  - name: shop
    task: {task}
    {classes}
    features: [{{name: price, type: numerical}}]
"""
    ).models[0]


def run(tmp_path, the_model, labels):
    folder = tmp_path / "labels" / "shop" / f"dt={DAY}"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "a.jsonl").write_text("\n".join(json.dumps(label) for label in labels) + "\n")
    result = ingest_labels(LocalObjectStore(tmp_path / "labels"), the_model, DAY, tmp_path / "out")
    accepted = pq.read_table(result.accepted_path).to_pylist()
    reasons = [r["reason"] for r in pq.read_table(result.quarantine_path).to_pylist()]
    return result, accepted, reasons


def label(request_id, value, at="2026-11-20T10:00:00Z"):
    return {"request_id": request_id, "label": value, "labeled_at": at}


def test_binary_labels_are_numbers_and_a_second_label_for_a_request_is_quarantined(tmp_path):
    result, accepted, reasons = run(
        tmp_path,
        model("binary_classification"),
        [label("r1", 1), label("r2", "yes"), label("r1", 0), label("r3", 0, at="soon")],
    )
    assert [(r["request_id"], r["label"]) for r in accepted] == [("r1", 1.0)]
    assert sorted(reasons) == [
        "duplicate label for request_id (first at shop/dt=2026-11-20/a.jsonl line 1)",
        "label: expected a number, got a string",
        "labeled_at: expected an ISO 8601 timestamp, got a string",
    ]
    assert result.rows_in == result.accepted + result.quarantined == 4


def test_multiclass_labels_are_class_names(tmp_path):
    multiclass = model("multiclass_classification", "classes: [cat, dog]")
    _, accepted, reasons = run(tmp_path, multiclass, [label("r1", "dog"), label("r2", None)])
    assert [(r["request_id"], r["label"]) for r in accepted] == [("r1", "dog")]
    assert reasons == ["label is null"]
    assert list(accepted[0]) == ["request_id", "label", "labeled_at", "object_key", "line_no"]
