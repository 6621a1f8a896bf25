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


def test_wilson_interval_equals_scipys():
    from scipy.stats import binomtest

    from monitoring_platform.lib.performance import wilson_interval

    for k, n in [(0, 10), (3, 10), (57, 100), (990, 1000), (10, 10)]:
        expected = binomtest(k, n).proportion_ci(confidence_level=0.95, method="wilson")
        low, high = wilson_interval(k, n, 0.95)
        assert low == pytest.approx(expected.low, abs=1e-12)
        assert high == pytest.approx(expected.high, abs=1e-12)


def _bootstrap(metric, y, p, rounds=2000, seed=0):
    rng = np.random.default_rng(seed)
    values = []
    for _ in range(rounds):
        rows = rng.integers(0, len(y), len(y))
        values.append(metric(y[rows], p[rows]))
    return np.percentile(values, [2.5, 97.5])


def test_intervals_agree_with_a_bootstrap():
    from sklearn import metrics as m

    from monitoring_platform.lib.performance import quality_intervals

    rng = np.random.default_rng(12)
    n = 1500
    y = rng.integers(0, 2, n)
    p = np.clip(0.5 + (y - 0.5) * 0.3 + rng.normal(0, 0.25, n), 0, 1)
    clicks, eta = MODELS
    ours = quality_intervals(clicks, pd.Series(y), pd.Series(p))
    checks = {
        "roc_auc": m.roc_auc_score,
        "accuracy": lambda a, b: m.accuracy_score(a, b >= 0.4),
        "log_loss": lambda a, b: m.log_loss(a, b, labels=[0, 1]),
    }
    for name, metric in checks.items():
        low, high = _bootstrap(metric, y, p)
        width = high - low
        assert ours[name][0] == pytest.approx(low, abs=0.15 * width), name
        assert ours[name][1] == pytest.approx(high, abs=0.15 * width), name
    truth = rng.gamma(4, 10, n)
    guess = truth + rng.normal(0, 6, n)
    ours = quality_intervals(eta, pd.Series(truth), pd.Series(guess))
    for name, metric in {
        "mae": m.mean_absolute_error,
        "rmse": lambda a, b: np.sqrt(m.mean_squared_error(a, b)),
    }.items():
        low, high = _bootstrap(metric, truth, guess)
        width = high - low
        assert ours[name][0] == pytest.approx(low, abs=0.15 * width), name
        assert ours[name][1] == pytest.approx(high, abs=0.15 * width), name


def test_a_limit_fails_only_when_the_interval_is_past_it():
    from monitoring_platform.lib.performance import quality_violations

    model = parse_config(
        """
models:
  - name: clicks
    task: binary_classification
    thresholds: {quality: {min_roc_auc: 0.75, max_log_loss: 0.6}}
    features: [{name: x, type: numerical}]
"""
    ).models[0]
    # A noisy day: the value is below the limit, the interval still reaches it.
    assert quality_violations(model, {"roc_auc": 0.72}, {"roc_auc": (0.66, 0.78)}) == []
    assert quality_violations(model, {"roc_auc": 0.72}) != []  # a bare comparison would fail
    (broken,) = quality_violations(model, {"roc_auc": 0.65}, {"roc_auc": (0.60, 0.70)})
    assert broken.startswith("roc_auc 0.65 (interval 0.6..0.7) is below its limit 0.75")
    assert quality_violations(model, {"log_loss": 0.7}, {"log_loss": (0.58, 0.82)}) == []
