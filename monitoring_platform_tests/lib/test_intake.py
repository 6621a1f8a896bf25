"""The intake stages judged without Dagster: logs arrived, the quarantine share, the summary."""

import datetime as dt

import pytest

from monitoring_platform.config import parse_config
from monitoring_platform.lib.ingest import IngestResult
from monitoring_platform.lib.intake import (
    EVENT_QUARANTINE_SHARE,
    LOGS_ARRIVED,
    QUARANTINE_SHARE,
    business_events_stage,
    inference_logs_stage,
    ingestion_summary,
    quarantine_share_verdict,
)
from monitoring_platform.lib.stage import Location
from monitoring_platform.lib.storage import ObjectInfo

DAY = dt.date(2026, 11, 6)
MODEL = parse_config(
    """
models:
  - name: shop
    task: regression
    features: [{name: x, type: numerical}]
    thresholds: {quarantine_share_warn: 0.02, quarantine_share_error: 0.1}
"""
).models[0]


def ingested(rows_in, reasons, objects=2, skipped=()):
    quarantined = sum(reasons.values())
    return IngestResult(
        objects=[ObjectInfo(f"shop/dt=2026-11-06/{n}.jsonl", 100) for n in range(objects)],
        skipped_objects=list(skipped),
        bytes_read=100 * objects,
        rows_in=rows_in,
        accepted=rows_in - quarantined,
        quarantined=quarantined,
        reasons=dict(reasons),
    )


@pytest.mark.parametrize(
    ("quarantined", "passed", "severity"),
    [(0, True, "WARN"), (19, True, "WARN"), (20, False, "WARN"), (99, False, "WARN")]
    + [(100, False, "ERROR"), (1000, False, "ERROR")],
)
def test_the_quarantine_share_is_graded_against_the_model_limits(quarantined, passed, severity):
    verdict = quarantine_share_verdict(
        "q", "labels", quarantined, 1000, {"bad": quarantined} if quarantined else {}, MODEL
    )
    assert (verdict.passed, verdict.severity) == (passed, severity)
    assert verdict.observed["quarantine_share"] == pytest.approx(quarantined / 1000)
    assert verdict.observed["warn_threshold"] == 0.02
    assert verdict.observed["error_threshold"] == 0.1
    assert verdict.description.startswith(f"{quarantined} of 1000 labels quarantined")


def test_the_quarantine_verdict_names_the_five_most_frequent_reasons_first():
    reasons = {f"reason {c}": n for c, n in zip("abcdefg", [1, 7, 3, 7, 2, 9, 1], strict=True)}
    verdict = quarantine_share_verdict("q", "events", 30, 100, reasons, MODEL)
    named = verdict.description.split(": ", 1)[1].split("; ")
    assert named == ["reason f ×9", "reason b ×7", "reason d ×7", "reason c ×3", "reason e ×2"]


def test_a_day_without_records_has_nothing_quarantined_and_passes():
    verdict = quarantine_share_verdict("q", "records", 0, 0, {}, MODEL)
    assert verdict.passed and verdict.observed["quarantine_share"] == 0.0
    assert verdict.description.endswith(".")


@pytest.mark.parametrize(
    ("objects", "rows_in", "passed", "text"),
    [
        (2, 10, True, "2 objects with 10 records arrived."),
        (2, 0, False, "2 objects arrived under s3://logs/shop but hold no records."),
        (0, 0, False, "No log objects for 2026-11-06 under s3://logs/shop."),
    ],
)
def test_logs_arrived_needs_objects_with_records(objects, rows_in, passed, text):
    stage = inference_logs_stage(
        MODEL, DAY, ingested(rows_in, {}, objects), "s3://logs/shop", "a", "q"
    )
    arrived = next(v for v in stage.verdicts if v.name == LOGS_ARRIVED)
    assert (arrived.passed, arrived.severity, arrived.description) == (passed, "ERROR", text)
    assert stage.metadata["status"] == ("ok" if rows_in else "no_data")


def test_the_logs_stage_counts_what_was_read_and_where_it_went():
    result = ingested(200, {"x: expected a number": 6}, skipped=["shop/dt=2026-11-06/a.bin"])
    stage = inference_logs_stage(MODEL, DAY, result, "s3://logs/shop", "lake/a", "lake/q")
    values = {(m.name, tuple((m.dims or {}).items())): m.value for m in stage.metrics}
    assert values[("rows_in", ())] == 200
    assert values[("rows_accepted", ())] + values[("rows_quarantined", ())] == 200
    assert values[("quarantine_share", ())] == pytest.approx(6 / 200)
    assert values[("rows_quarantined_by_reason", (("reason", "x: expected a number"),))] == 6
    assert values[("objects_skipped", ())] == 1
    share = next(v for v in stage.verdicts if v.name == QUARANTINE_SHARE)
    assert not share.passed and share.severity == "WARN"  # 3% is past the 2% warning
    assert stage.metadata["accepted_rows"] == Location("lake/a")
    assert stage.metadata["quarantine"] == Location("lake/q")
    assert stage.metadata["dagster/row_count"] == 194


def test_the_events_stage_judges_its_quarantine_with_the_same_verdict():
    result = ingested(50, {"event_type: not allowed": 10})
    stage = business_events_stage(MODEL, result, "s3://events/shop", "a", "q")
    (verdict,) = stage.verdicts
    same = quarantine_share_verdict(EVENT_QUARANTINE_SHARE, "events", 10, 50, result.reasons, MODEL)
    assert verdict == same and verdict.severity == "ERROR"
    assert {m.name for m in stage.metrics} >= {"objects", "rows_in", "rows_quarantined"}


def test_the_summary_for_validation_keeps_counts_and_shortened_reasons():
    long_reason = "r" * 300
    summary = ingestion_summary(ingested(10, {long_reason: 2, "short": 1}))
    assert summary["rows_in"] == 10 and summary["rows_quarantined"] == 3
    assert summary["rows_accepted"] == 7 and summary["objects"] == 2
    assert summary["quarantine_share"] == pytest.approx(0.3)
    assert summary["reasons"] == {"r" * 200: 2, "short": 1}
