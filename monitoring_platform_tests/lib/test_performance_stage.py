"""The performance step's verdicts, metrics and result, computed on small frames without Dagster."""

import datetime as dt

import numpy as np
import pandas as pd
import pytest

from monitoring_platform.config import parse_config
from monitoring_platform.lib import labels as labels_lib
from monitoring_platform.lib import lake
from monitoring_platform.lib.metric_store import MetricStore
from monitoring_platform.lib.performance import evaluate
from monitoring_platform.lib.performance_stage import (
    COVERAGE,
    QUALITY,
    coverage_verdict,
    label_days,
    model_performance,
    performance_metrics,
    quality_verdict,
    reference_quality,
)
from monitoring_platform.lib.reports import MODEL_PERFORMANCE


def model_with(quality: str):
    return parse_config(
        f"""
models:
  - name: clicks
    task: binary_classification
    reference: {{trailing_days: 2}}
    labels: {{max_delay_days: 2}}
    thresholds: {{quality: {quality}}}
    features: [{{name: x, type: numerical}}]
"""
    ).models[0]


def day_frames(n: int, labelled: int, correct: float, seed: int = 0):
    """``n`` predictions, the first ``labelled`` with a label, a ``correct`` share of them right."""
    rng = np.random.default_rng(seed)
    prediction = rng.random(n)
    truth = (prediction >= 0.5).astype(float)
    wrong = np.arange(labelled) < round(labelled * (1 - correct))
    truth[:labelled][wrong] = 1 - truth[:labelled][wrong]
    predictions = pd.DataFrame(
        {"request_id": [f"r{i}" for i in range(n)], "prediction": prediction, "model_version": "v1"}
    )
    labels = pd.DataFrame(
        {
            "request_id": [f"r{i}" for i in range(labelled)],
            "label": truth[:labelled],
            "labeled_at": pd.Timestamp("2026-03-02", tz="UTC"),
        }
    )
    return predictions, labels


def test_quality_is_not_judged_on_too_few_labels():
    model = model_with("{min_labeled_rows: 50, min_accuracy: 0.9}")
    result = evaluate(model, *day_frames(100, 20, 0.5), render_html=False)
    verdict = quality_verdict(model, result, "http://report")
    assert verdict.name == QUALITY
    assert verdict.passed and verdict.severity == "WARN"
    assert verdict.observed["evaluated"] is False
    assert (
        verdict.description == "Not evaluated: 20 labelled predictions, fewer than the 50 needed."
    )
    assert verdict.report == "http://report"


@pytest.mark.parametrize(("correct", "passed"), [(0.6, False), (0.97, True)])
def test_quality_fails_only_when_the_whole_interval_is_below_the_limit(correct, passed):
    model = model_with("{min_labeled_rows: 50, min_accuracy: 0.9}")
    predictions, labels = day_frames(1000, 1000, correct)
    result = evaluate(model, predictions, labels, render_html=False)
    accuracy = float(((predictions["prediction"] >= 0.5) == labels["label"].astype(bool)).mean())
    assert result.metrics["accuracy"] == pytest.approx(accuracy)
    verdict = quality_verdict(model, result, None)
    assert (verdict.passed, verdict.severity) == (passed, "ERROR")
    assert verdict.observed["accuracy"] == pytest.approx(accuracy, abs=1e-6)
    assert verdict.observed["limits"]["min_accuracy"] == 0.9
    if not passed:
        assert "accuracy" in verdict.description and "below its limit 0.9" in verdict.description


def test_coverage_fails_once_the_label_window_closed_and_waits_while_it_is_open():
    model = model_with("{min_label_coverage: 0.5}")
    result = evaluate(model, *day_frames(100, 30, 1.0), render_html=False)
    closed = coverage_verdict(model, result, window_closed=True, report=None)
    assert closed.name == COVERAGE
    assert not closed.passed and closed.severity == "ERROR"
    assert closed.description.startswith("Only 30.0% of predictions labelled")
    still_open = coverage_verdict(model, result, window_closed=False, report=None)
    assert still_open.passed and still_open.severity == "WARN"
    assert still_open.observed["evaluated"] is False
    enough = evaluate(model, *day_frames(100, 60, 1.0), render_html=False)
    assert coverage_verdict(model, enough, window_closed=True, report=None).passed


def test_labels_of_a_prediction_day_arrive_up_to_the_maximum_delay():
    model = model_with("{}")
    assert label_days(model, dt.date(2026, 3, 1)) == [
        dt.date(2026, 3, 1),
        dt.date(2026, 3, 2),
        dt.date(2026, 3, 3),
    ]


def test_metrics_hold_the_quality_its_intervals_and_each_version():
    model = model_with("{}")
    result = evaluate(model, *day_frames(200, 100, 0.8), render_html=False)
    metrics = {
        (m.name, tuple(sorted((m.dims or {}).items()))): m.value
        for m in performance_metrics(result, [])
    }
    assert metrics[("label_coverage", ())] == pytest.approx(0.5)
    assert metrics[("labeled", ())] == 100
    assert metrics[("accuracy", ())] == pytest.approx(result.metrics["accuracy"])
    low, high = result.intervals["accuracy"]
    assert metrics[("accuracy_low", ())] == low and metrics[("accuracy_high", ())] == high
    assert metrics[("labeled", (("model_version", "v1"),))] == 100


def test_the_step_reads_predictions_and_labels_from_the_lake(tmp_path, lake_store, write_lake):
    model = model_with("{min_labeled_rows: 10, min_label_coverage: 0.9}")
    day = dt.date(2026, 3, 1)
    predictions, labels = day_frames(100, 40, 1.0)
    write_lake(lake.ACCEPTED, "clicks", day, predictions)
    write_lake(labels_lib.ACCEPTED, "clicks", dt.date(2026, 3, 2), labels)
    pages = {}

    def publish(name: str, page: str) -> str:
        pages[name] = page
        return f"http://reports/{name}.html"

    store = MetricStore(f"sqlite:///{tmp_path / 'metrics.db'}")
    result = model_performance(model, day, lake_store, store, publish)

    assert [v.name for v in result.verdicts] == [QUALITY, COVERAGE]
    coverage = result.verdicts[1]
    # Labels may still arrive on 2026-03-03: low coverage is not judged yet.
    assert coverage.passed and coverage.observed["window_closed"] is False
    assert result.metadata["label_days_received"] == ["2026-03-02"]
    assert result.metadata["label_days_pending"] == ["2026-03-01", "2026-03-03"]
    assert result.metadata["label_coverage"] == pytest.approx(0.4)
    assert result.pages == {MODEL_PERFORMANCE: "http://reports/model_performance.html"}
    assert MODEL_PERFORMANCE in pages


def test_the_baseline_is_the_reference_windows_quality_from_the_latest_labels(
    lake_store, write_lake
):
    from sklearn.metrics import accuracy_score, roc_auc_score

    model = model_with("{min_labeled_rows: 10}")
    frames, arrivals = [], {}
    for n, day in enumerate([dt.date(2026, 2, 27), dt.date(2026, 2, 28)]):
        predictions, labels = day_frames(60, 50, 0.8, seed=n)
        predictions["request_id"] = f"{day}-" + predictions["request_id"]
        labels["request_id"] = f"{day}-" + labels["request_id"]
        # A first label for some requests, replaced by the one arriving a day later.
        first = pd.Timestamp(day, tz="UTC")
        early = labels.head(10).assign(label=1 - labels["label"].head(10), labeled_at=first)
        stray = pd.DataFrame({"request_id": [f"{day}-x"], "label": [1.0], "labeled_at": [first]})
        write_lake(lake.ACCEPTED, "clicks", day, predictions)
        arrivals.setdefault(day, []).append(pd.concat([early, stray]))
        arrivals.setdefault(day + dt.timedelta(days=1), []).append(labels)
        frames.append(predictions.merge(labels[["request_id", "label"]], on="request_id"))
    for arrival, received in arrivals.items():
        write_lake(labels_lib.ACCEPTED, "clicks", arrival, pd.concat(received))
    expected = pd.concat(frames)

    baseline = reference_quality(lake_store, model, dt.date(2026, 3, 1))

    hard = (expected["prediction"] >= model.classification_threshold).astype(float)
    assert baseline["roc_auc"] == pytest.approx(
        roc_auc_score(expected["label"], expected["prediction"])
    )
    assert baseline["accuracy"] == pytest.approx(accuracy_score(expected["label"], hard))
