"""The validation stage judged without Dagster: one verdict, its metrics, its page."""

import datetime as dt

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from monitoring_platform.config import parse_config
from monitoring_platform.lib.validation import ERROR, WARN, ExpectationSpec, validate
from monitoring_platform.lib.validation_stage import (
    EXPECTATIONS_MET,
    QUARANTINE_REASON,
    expectation_dims,
    record_contract_expectations,
    record_frame,
    validation_stage,
)

DAY = dt.date(2026, 11, 20)
MODEL = parse_config(
    """
models:
  - name: shop
    task: regression
    features:
      - {name: price, type: numerical, min: 0, max: 100, required: true}
    thresholds: {quarantine_share_warn: 0.02, quarantine_share_error: 0.1}
"""
).models[0]


def accepted_day(tmp_path, n=100, broken_prices=0):
    """The day's accepted rows as the lake holds them, with ``broken_prices`` out of bounds."""
    prices = np.linspace(1, 99, n)
    prices[:broken_prices] = 500.0
    frame = pd.DataFrame(
        {
            "request_id": [f"r{i}" for i in range(n)],
            "timestamp": pd.date_range("2026-11-20", periods=n, freq="min", tz="UTC"),
            "model_version": "v1",
            "prediction": prices / 2,
            "latency_ms": 20.0,
            "status_code": 200,
            "error": None,
            "price": prices,
        }
    )
    path = tmp_path / "accepted.parquet"
    pq.write_table(pa.Table.from_pandas(frame, preserve_index=False), path)
    return pq.ParquetFile(path)


def run(tmp_path, pages, broken_prices=0, quarantined=(), summary=None, extra=()):
    reasons = pa.chunked_array([list(quarantined)], pa.string()) if quarantined else None
    accepted = accepted_day(tmp_path, broken_prices=broken_prices)
    result = validation_stage(MODEL, DAY, accepted, reasons, {}, list(extra), summary, pages)
    return result


def test_a_clean_day_meets_every_expectation_and_links_its_page(tmp_path, pages):
    result = run(tmp_path, pages)
    (verdict,) = result.verdicts
    assert verdict.name == EXPECTATIONS_MET and verdict.passed
    assert verdict.description == f"All {verdict.observed['expectations']} expectations met."
    assert verdict.report == "https://reports.test/validation.html"
    assert result.pages == {"validation": verdict.report}
    assert "validation" in pages.published
    failed = [m for m in result.metrics if m.name == "expectations_failed"]
    assert [m.value for m in failed] == [0]


def test_a_broken_contract_fails_with_error_and_names_the_failures(tmp_path, pages):
    result = run(tmp_path, pages, broken_prices=3)
    (verdict,) = result.verdicts
    assert not verdict.passed and verdict.severity == "ERROR"
    assert verdict.observed["failed_contract"] == 1 and verdict.observed["failed_soft"] == 0
    (failure,) = verdict.observed["failed_expectations"]
    assert failure["column"] == "price" and failure["unexpected_count"] == 3
    assert "expect_column_values_to_be_between on price: 3 unexpected (3.00%)" in (
        verdict.description
    )
    shares = {
        m.dims["column"]: m.value
        for m in result.metrics
        if m.name == "expectation_unexpected_share" and m.dims["expectation"].endswith("between")
    }
    assert shares["price"] == pytest.approx(0.03)


def test_quarantined_records_past_the_warning_share_are_a_soft_failure(tmp_path, pages):
    # 3 of 103 records quarantined: past 2% (warn), below 10% (error).
    result = run(tmp_path, pages, quarantined=["malformed JSON"] * 3)
    (verdict,) = result.verdicts
    assert not verdict.passed and verdict.severity == "WARN"
    assert verdict.observed["rows"] == 103
    assert verdict.observed["failed_expectations"][0]["sample_unexpected_values"] == [
        "malformed JSON"
    ]


def test_the_page_shows_the_ingestion_summary_left_in_the_lake(tmp_path, pages):
    summary = {
        "objects": 7,
        "rows_in": 103,
        "rows_accepted": 100,
        "rows_quarantined": 3,
        "quarantine_share": 3 / 103,
        "reasons": {"price: expected a number, got a string": 3},
    }
    run(tmp_path, pages, quarantined=["x"] * 3, summary=summary)
    assert "price: expected a number, got a string" in pages.published["validation"]
    without = run(tmp_path, pages, quarantined=["x"] * 3)
    assert "price: expected a number, got a string" not in pages.published["validation"]
    assert without.verdicts[0].observed["rows"] == 103


def test_a_day_never_ingested_fails_without_a_page(pages):
    result = validation_stage(MODEL, DAY, None, None, {}, [], None, pages)
    (verdict,) = result.verdicts
    assert not verdict.passed and verdict.severity == "ERROR"
    assert (
        verdict.description == f"No accepted rows were written for {DAY}: run inference_logs first."
    )
    assert result.pages == {} and result.metrics == [] and pages.published == {}


def test_repeated_expectations_get_distinct_metric_dimensions(tmp_path, pages):
    twice = [
        ExpectationSpec("expect_column_values_to_not_be_null", {"column": "price"}, origin="f"),
        ExpectationSpec("expect_column_values_to_not_be_null", {"column": "price"}, origin="f"),
    ]
    result = run(tmp_path, pages, extra=twice)
    dims = [
        tuple(sorted(m.dims.items())) for m in result.metrics if m.name.startswith("expectation_")
    ]
    assert len(dims) == len(set(dims))
    outcome = validate(accepted_day(tmp_path).read().to_pandas(), twice, "t")
    assert [d.get("repeat") for d in expectation_dims(outcome)] == [None, "2"]


def test_record_contract_share_thresholds():
    reasons = pd.DataFrame({QUARANTINE_REASON: [None] * 97 + ["malformed JSON"] * 3})
    outcome = validate(reasons, record_contract_expectations(MODEL), "records")
    assert [(r.spec.severity, r.success) for r in outcome.results] == [(ERROR, True), (WARN, False)]
    assert outcome.results[1].sample_values == ["malformed JSON"]


def test_record_frame_matches_one_row_per_record():
    reasons = pa.chunked_array([["malformed JSON", None], ["expected a number, got a string"]])
    frame = record_frame(4, reasons)
    expected = pd.DataFrame(
        {QUARANTINE_REASON: pd.Series([None] * 4 + reasons.to_pylist(), dtype="object")}
    )
    pd.testing.assert_frame_equal(frame, expected)
    specs = record_contract_expectations(MODEL)
    facts = [
        [(r.success, r.unexpected_count, r.sample_values) for r in validate(f, specs, "r").results]
        for f in (frame, expected)
    ]
    assert facts[0] == facts[1]
    assert record_frame(3, None)[QUARANTINE_REASON].tolist() == [None] * 3
