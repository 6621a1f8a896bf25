"""The drift step's verdicts, metrics and result, computed on small frames without Dagster."""

import datetime as dt

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from monitoring_platform.config import parse_config
from monitoring_platform.lib import lake
from monitoring_platform.lib.drift import compute_drift, missing_shares
from monitoring_platform.lib.drift_segments import segment_drift
from monitoring_platform.lib.drift_stage import (
    DATASET_DRIFT,
    MISSING_SHARE,
    PREDICTION_DRIFT,
    data_drift,
    drift_metrics,
    drift_verdicts,
    not_measured_reason,
)
from monitoring_platform.lib.reference import REFERENCE_COMPLETE
from monitoring_platform.lib.reports import DATA_DRIFT


def model_with(drift: str = "{mode: fixed}", reference: str = "{trailing_days: 3, min_rows: 100}"):
    return parse_config(
        f"""
models:
  - name: shop
    task: binary_classification
    reference: {reference}
    segments: [country]
    thresholds: {{drift: {drift}}}
    features:
      - {{name: country, type: categorical}}
      - {{name: price, type: numerical}}
      - {{name: items, type: numerical}}
"""
    ).models[0]


def frame(seed: int, n: int = 600, price_missing: float = 0.0):
    rng = np.random.default_rng(seed)
    price = rng.normal(10, 2, n)
    price[rng.random(n) < price_missing] = np.nan
    return pd.DataFrame(
        {
            "country": rng.choice(["US", "DE", "FR"], n),
            "price": price,
            "items": rng.poisson(3, n).astype(float),
            "prediction": rng.beta(2, 5, n),
        }
    )


REFERENCE = frame(1)
# Only the price moves: every other column holds the reference's own values.
SHIFTED = REFERENCE.assign(price=REFERENCE["price"] + 6.0)


def verdicts_of(model, reference, current):
    result = compute_drift(reference, current, model, render_html=False)
    missing = missing_shares(reference, current, model)
    return result, {v.name: v for v in drift_verdicts(model, result, missing)}


@pytest.mark.parametrize(
    ("drift", "passed", "severity"),
    [
        ("{mode: fixed, drift_share_warn: 0.3, drift_share_error: 0.6}", False, "WARN"),
        ("{mode: fixed, drift_share_warn: 0.2, drift_share_error: 0.3}", False, "ERROR"),
        ("{mode: fixed, drift_share_warn: 0.4, drift_share_error: 0.6}", True, "WARN"),
    ],
)
def test_dataset_drift_is_graded_by_the_share_of_drifted_features(drift, passed, severity):
    # Independently: only the price moved (a KS test tells it apart, the others stay put).
    moved = {
        c for c in ("price", "items") if stats.ks_2samp(REFERENCE[c], SHIFTED[c]).pvalue < 1e-6
    }
    assert moved == {"price"}
    result, verdicts = verdicts_of(model_with(drift), REFERENCE, SHIFTED)
    verdict = verdicts[DATASET_DRIFT]
    assert result.drifted_features == ["price"]
    assert (verdict.passed, verdict.severity) == (passed, severity)
    assert verdict.observed["drift_share"] == pytest.approx(1 / 3)
    assert verdict.description.startswith("1 of 3 features drifted (33%;")
    assert verdict.description.endswith(": price")


def test_prediction_drift_uses_its_configured_severity_or_is_not_evaluated_when_excluded():
    shifted_prediction = SHIFTED.assign(prediction=SHIFTED["prediction"] + 0.5)
    model = model_with("{mode: fixed, prediction_drift_severity: ERROR}")
    _, verdicts = verdicts_of(model, REFERENCE, shifted_prediction)
    verdict = verdicts[PREDICTION_DRIFT]
    assert not verdict.passed and verdict.severity == "ERROR"
    assert verdict.description.endswith("drift detected.")
    assert verdict.observed["mode"] == "fixed"

    excluded = model_with("{mode: fixed, prediction: {exclude: true}}")
    _, verdicts = verdicts_of(excluded, REFERENCE, shifted_prediction)
    verdict = verdicts[PREDICTION_DRIFT]
    assert verdict.passed and verdict.observed["evaluated"] is False
    assert verdict.description == "Prediction drift is not measured (excluded)."


def test_a_missing_share_outside_its_reference_range_warns_and_names_the_feature():
    model = model_with()
    with_gaps = frame(3, price_missing=0.3)
    _, verdicts = verdicts_of(model, REFERENCE, with_gaps)
    verdict = verdicts[MISSING_SHARE]
    share = with_gaps["price"].isna().mean()
    assert not verdict.passed and verdict.severity == "WARN"
    assert verdict.observed["features_over"] == "price"
    assert verdict.observed["missing_share"]["price"] == pytest.approx(share, abs=1e-6)
    assert f"price {share:.1%}" in verdict.description

    _, verdicts = verdicts_of(model, REFERENCE, frame(4))
    assert verdicts[MISSING_SHARE].passed


def test_drift_is_not_measured_without_rows_today_or_with_too_small_a_reference():
    model = model_with()
    window = [dt.date(2026, 2, 26), dt.date(2026, 2, 28)]
    day = dt.date(2026, 3, 1)
    assert not_measured_reason(model, day, 0, 500, 2, window) == "no accepted rows for 2026-03-01"
    assert not_measured_reason(model, day, 10, 99, 1, window) == (
        "the reference window 2026-02-26..2026-02-28 has 99 rows (needs 100; days found: 1 of 2)"
    )
    assert not_measured_reason(model, day, 10, 100, 2, window) is None


def test_metrics_hold_every_column_missing_share_and_segment():
    model = model_with()
    result = compute_drift(REFERENCE, SHIFTED, model, render_html=False)
    missing = missing_shares(REFERENCE, SHIFTED, model)
    segments = segment_drift(REFERENCE, SHIFTED, model, min_rows=100)
    metrics = drift_metrics(result, missing, segments)
    by_name = {}
    for m in metrics:
        by_name.setdefault(m.name, []).append(m)
    assert by_name["drift_share"][0].value == pytest.approx(1 / 3)
    assert {m.dims["column"] for m in by_name["drift_score"]} == {
        "country",
        "price",
        "items",
        "prediction",
    }
    assert {m.dims["column"] for m in by_name["missing_share"]} == {"country", "price", "items"}
    assert {m.dims["value"] for m in by_name["segment_drift_share"]} == {"US", "DE", "FR"}


def test_the_step_reads_the_lake_and_publishes_its_page(lake_store, write_lake):
    model = model_with(reference="{trailing_days: 3, min_rows: 100}")
    day = dt.date(2026, 3, 1)
    write_lake(lake.ACCEPTED, "shop", dt.date(2026, 2, 26), REFERENCE.iloc[:300])
    write_lake(lake.ACCEPTED, "shop", dt.date(2026, 2, 28), REFERENCE.iloc[300:])
    write_lake(lake.ACCEPTED, "shop", day, SHIFTED)
    pages = {}

    def publish(name: str, page: str) -> str:
        pages[name] = page
        return f"http://reports/{name}.html"

    result = data_drift(model, day, lake_store, publish)

    names = [v.name for v in result.verdicts]
    assert names == [DATASET_DRIFT, PREDICTION_DRIFT, MISSING_SHARE, REFERENCE_COMPLETE]
    complete = result.verdicts[-1]
    assert not complete.passed and "2026-02-27" in complete.description
    assert result.metadata["status"] == "ok"
    assert result.metadata["drifted_features"] == ["price"]
    assert result.metadata["reference_rows"] == 600
    assert result.metadata["reference_days_found"] == ["2026-02-26", "2026-02-28"]
    assert result.pages == {DATA_DRIFT: "http://reports/data_drift.html"}
    assert "price" in pages[DATA_DRIFT]

    empty_day = data_drift(model, dt.date(2026, 3, 2), lake_store, publish)
    assert empty_day.metadata["status"] == "not_evaluated"
    assert empty_day.metrics == []
    assert all(v.passed for v in empty_day.verdicts[:3])
    assert all(v.observed["evaluated"] is False for v in empty_day.verdicts[:3])
