"""Labels join right (late, duplicate, missing) and metrics equal Evidently's own computation."""

import numpy as np
import pandas as pd
import pytest

from monitoring_platform.config import parse_config
from monitoring_platform.lib.performance import evaluate, join_labels

MODELS = parse_config(
    """
models:
  - name: clicks
    task: binary_classification
    classification_threshold: 0.4
    features: [{name: x, type: numerical}]
  - name: eta
    task: regression
    features: [{name: x, type: numerical}]
"""
).models


def test_join_takes_the_latest_label_and_leaves_missing_ones_unlabelled():
    predictions = pd.DataFrame(
        {
            "request_id": ["a", "b", "c", "d"],
            "prediction": [0.9, 0.2, None, 0.6],
            "model_version": ["v1", "v1", "v1", "v2"],
        }
    )
    labels = pd.DataFrame(
        {
            "request_id": ["a", "a", "b", "zzz"],
            "label": [0.0, 1.0, 0.0, 1.0],
            "labeled_at": pd.to_datetime(
                ["2026-11-02", "2026-11-03", "2026-11-02", "2026-11-02"], utc=True
            ),
        }
    )
    joined = join_labels(predictions, labels).set_index("request_id")
    assert list(joined.index) == ["a", "b", "d"], "a failed call (no prediction) is not scored"
    assert joined.loc["a", "label"] == 1.0, "the later label wins"
    assert joined.loc["b", "label"] == 0.0
    assert np.isnan(joined.loc["d", "label"]), "no label yet"


def test_coverage_and_per_version_metrics():
    predictions = pd.DataFrame(
        {
            "request_id": [f"r{i}" for i in range(6)],
            "prediction": [0.9, 0.1, 0.8, 0.3, 0.7, 0.2],
            "model_version": ["v1", "v1", "v1", "v2", "v2", "v2"],
        }
    )
    labels = pd.DataFrame(
        {
            "request_id": ["r0", "r1", "r3", "r4"],
            "label": [1.0, 0.0, 0.0, 1.0],
            "labeled_at": pd.Timestamp("2026-11-02", tz="UTC"),
        }
    )
    result = evaluate(MODELS[0], predictions, labels, render_html=False)
    assert (result.predictions, result.labeled) == (6, 4)
    assert result.coverage == pytest.approx(4 / 6)
    assert result.by_version["v1"]["label_coverage"] == pytest.approx(2 / 3)
    assert result.by_version["v2"]["labeled"] == 2
    assert result.metrics["roc_auc"] == 1.0


def _evidently_values(snapshot) -> dict[str, float]:
    values = {}
    for metric in snapshot.dict()["metrics"]:
        name = metric["metric_name"].split("(")[0]
        value = metric["value"]
        values[name] = value["mean"] if isinstance(value, dict) and "mean" in value else value
    return values


def test_binary_metrics_equal_evidentlys():
    from evidently import BinaryClassification, DataDefinition, Dataset, Report
    from evidently.presets import ClassificationPreset

    rng = np.random.default_rng(8)
    n = 3000
    p = rng.random(n)
    y = (rng.random(n) < p).astype(float)
    predictions = pd.DataFrame(
        {"request_id": [f"r{i}" for i in range(n)], "prediction": p, "model_version": "v1"}
    )
    labels = pd.DataFrame(
        {"request_id": predictions.request_id, "label": y, "labeled_at": pd.Timestamp.now(tz="UTC")}
    )
    ours = evaluate(MODELS[0], predictions, labels, render_html=False).metrics

    frame = pd.DataFrame({"target": y.astype(int), "prediction": p})
    definition = DataDefinition(
        classification=[BinaryClassification(target="target", prediction_probas="prediction")]
    )
    snapshot = Report([ClassificationPreset(probas_threshold=0.4)]).run(
        current_data=Dataset.from_pandas(frame, data_definition=definition), reference_data=None
    )
    theirs = _evidently_values(snapshot)
    assert ours["roc_auc"] == pytest.approx(theirs["RocAuc"], abs=1e-9)
    assert ours["log_loss"] == pytest.approx(theirs["LogLoss"], abs=1e-9)
    assert ours["precision"] == pytest.approx(theirs["Precision"], abs=1e-9)
    assert ours["recall"] == pytest.approx(theirs["Recall"], abs=1e-9)
    assert ours["accuracy"] == pytest.approx(theirs["Accuracy"], abs=1e-9)


def test_regression_metrics_equal_evidentlys():
    from evidently import DataDefinition, Dataset, Regression, Report
    from evidently.presets import RegressionPreset

    rng = np.random.default_rng(9)
    n = 3000
    y = rng.gamma(5, 6, n)
    p = y + rng.normal(0, 4, n)
    predictions = pd.DataFrame(
        {"request_id": [f"r{i}" for i in range(n)], "prediction": p, "model_version": "v1"}
    )
    labels = pd.DataFrame(
        {"request_id": predictions.request_id, "label": y, "labeled_at": pd.Timestamp.now(tz="UTC")}
    )
    ours = evaluate(MODELS[1], predictions, labels, render_html=False).metrics
    frame = pd.DataFrame({"target": y, "prediction": p})
    definition = DataDefinition(regression=[Regression(target="target", prediction="prediction")])
    snapshot = Report([RegressionPreset()]).run(
        current_data=Dataset.from_pandas(frame, data_definition=definition), reference_data=None
    )
    theirs = _evidently_values(snapshot)
    assert ours["mae"] == pytest.approx(theirs["MAE"], abs=1e-9)
    assert ours["rmse"] == pytest.approx(theirs["RMSE"], abs=1e-9)
    assert ours["mape"] == pytest.approx(theirs["MAPE"], abs=1e-9)


def test_report_without_labels_says_so_and_hostile_versions_are_escaped():
    predictions = pd.DataFrame(
        {"request_id": ["a"], "prediction": [0.5], "model_version": ["<script>alert(1)</script>"]}
    )
    empty = pd.DataFrame(columns=["request_id", "label", "labeled_at"])
    result = evaluate(MODELS[0], predictions, empty, day="2026-11-20")
    assert "No labels have arrived" in result.html
    assert "<script>alert(1)</script>" not in result.html
    assert "&lt;script&gt;" in result.html
