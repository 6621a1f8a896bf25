"""Quality estimated before labels: hand-computed cases, scikit-learn's calibration, the bands,
and every way an estimate is refused."""

import math

import numpy as np
import pandas as pd
import pytest

from monitoring_platform.config import ModelConfig
from monitoring_platform.defs.estimation.checks import estimated_quality_verdict
from monitoring_platform.lib import estimation as est


def model_config(task="binary_classification", **extra) -> ModelConfig:
    raw = {
        "name": "m",
        "task": task,
        "features": [
            {"name": "x", "type": "numerical"},
            {"name": "kind", "type": "categorical", "categories": ["a", "b"]},
        ],
        "estimation": {"min_reference_labels": 200},
        **extra,
    }
    return ModelConfig.model_validate(raw)


def binary_world(n, seed, shift=0.0, versions=("v1",)):
    """Scores of a logistic model whose outcome follows the same relationship (no concept drift);
    ``shift`` moves the input distribution (covariate shift)."""
    rng = np.random.default_rng(seed)
    x = rng.normal(shift, 1, n)
    truth = 1 / (1 + np.exp(-(2 * x - 1)))
    score = 1 / (1 + np.exp(-(1.2 * x - 0.3)))  # informative but miscalibrated
    return pd.DataFrame(
        {
            "request_id": [f"r{seed}-{i}" for i in range(n)],
            "x": x,
            "kind": rng.choice(["a", "b"], n),
            "prediction": score,
            "model_version": rng.choice(list(versions), n),
            "label": (rng.random(n) < truth).astype(int),
        }
    )


# ---------------------------------------------------------------------------------------------
# Binary: the expected metrics, by hand


def test_expected_binary_metrics_match_a_case_computed_by_hand():
    scores = np.array([0.1, 0.4, 0.6, 0.9])
    p = np.array([0.1, 0.5, 0.5, 0.8])
    got = est.expected_binary_metrics(scores, p, threshold=0.5)
    # Predicted positive: the last two rows. TP = .5 + .8, FP = .5 + .2, FN = .1 + .5, TN = .9 + .5
    tp, fp, fn, tn = 1.3, 0.7, 0.6, 1.4
    assert got["accuracy"] == pytest.approx((tp + tn) / 4)
    assert got["precision"] == pytest.approx(tp / (tp + fp))
    assert got["recall"] == pytest.approx(tp / (tp + fn))
    assert got["f1"] == pytest.approx(2 * tp / (2 * tp + fp + fn))
    # Expected ROC curve: each pair (positive i, negative j) weighs p_i (1 - p_j); a row against
    # itself is a tie worth one half. 0.9 beats three rows, 0.6 two, 0.4 one.
    wins = 0.8 * (0.9 + 0.5 + 0.5) + 0.5 * (0.9 + 0.5) + 0.5 * 0.9
    ties = 0.5 * sum(q * (1 - q) for q in p)
    assert got["roc_auc"] == pytest.approx((wins + ties) / (p.sum() * (1 - p).sum()))
    loss = -np.mean(p * np.log(scores) + (1 - p) * np.log(1 - scores))
    assert got["log_loss"] == pytest.approx(loss)


def test_accuracy_band_matches_the_binomial_spread_of_the_day():
    rng = np.random.default_rng(3)
    scores = rng.random(4000)
    calibrator = est.ScoreCalibrator(scores, (rng.random(4000) < scores).astype(int))
    estimate = est.estimate_binary(scores, calibrator, 0.5, draws=2000)
    p = calibrator(scores)
    correct = np.where(scores >= 0.5, p, 1 - p)
    sd = math.sqrt(np.sum(correct * (1 - correct))) / len(scores)
    accuracy = estimate.metrics["accuracy"]
    assert accuracy.low < accuracy.value < accuracy.high
    assert (accuracy.high - accuracy.low) / 2 == pytest.approx(1.96 * sd, rel=0.12)


# ---------------------------------------------------------------------------------------------
# Calibration against scikit-learn's own


def test_calibrator_matches_sklearns_isotonic_calibration():
    from sklearn.base import BaseEstimator, ClassifierMixin
    from sklearn.calibration import CalibratedClassifierCV
    from sklearn.frozen import FrozenEstimator

    class Scores(ClassifierMixin, BaseEstimator):
        """A classifier whose decision function is the logged score (column 0)."""

        def fit(self, X, y):
            self.classes_ = np.array([0, 1])
            return self

        def decision_function(self, X):
            return np.asarray(X)[:, 0]

        def predict(self, X):
            return (self.decision_function(X) >= 0.5).astype(int)

    world = binary_world(3000, seed=1)
    scores, labels = world["prediction"].to_numpy(), world["label"].to_numpy()
    sklearn_calibrated = CalibratedClassifierCV(
        FrozenEstimator(Scores().fit(scores[:, None], labels)), method="isotonic"
    ).fit(scores[:, None], labels)
    grid = np.linspace(0, 1, 101)
    ours = est.ScoreCalibrator(scores, labels)(grid)
    np.testing.assert_allclose(ours, sklearn_calibrated.predict_proba(grid[:, None])[:, 1])


def test_calibration_error_matches_sklearns_calibration_curve():
    from sklearn.calibration import calibration_curve

    rng = np.random.default_rng(4)
    probabilities = rng.random(5000)
    labels = (rng.random(5000) < probabilities**1.5).astype(int)
    truth, predicted = calibration_curve(labels, probabilities, n_bins=10, strategy="quantile")
    expected = np.mean(np.abs(truth - predicted))  # ten bins of 500 rows: equal weights
    assert est.calibration_error(probabilities, labels, probabilities) == pytest.approx(expected)


# ---------------------------------------------------------------------------------------------
# The estimate tracks covariate shift without labels


def test_estimate_follows_covariate_shift_within_its_band():
    from sklearn.metrics import accuracy_score, roc_auc_score

    model = model_config()
    reference = binary_world(6000, seed=10)
    for shift in (0.0, 0.8):
        day = binary_world(3000, seed=11, shift=shift)
        result = est.estimate(model, reference, day.drop(columns="label"))
        assert result.estimated, result.reason
        auc = result.overall.metrics["roc_auc"]
        realized_auc = roc_auc_score(day["label"], day["prediction"])
        assert auc.low - 0.01 <= realized_auc <= auc.high + 0.01
        accuracy = result.overall.metrics["accuracy"]
        realized = accuracy_score(day["label"], day["prediction"] >= 0.5)
        assert accuracy.low - 0.01 <= realized <= accuracy.high + 0.01
    assert result.by_version["v1"].estimated


def test_multiclass_expected_confusion_by_hand():
    model = model_config(task="multiclass_classification", classes=["a", "b"])
    # Reference: predicted "a" is right 3 times in 4, predicted "b" right 1 time in 2.
    reference_predicted = np.array(["a"] * 400 + ["b"] * 200)
    reference_truth = np.array(["a"] * 300 + ["b"] * 100 + ["b"] * 100 + ["a"] * 100)
    calibrator = est.ClassCalibrator(reference_predicted, reference_truth, model.classes)
    np.testing.assert_allclose(calibrator.matrix, [[0.75, 0.25], [0.5, 0.5]], atol=2e-3)
    day = np.array(["a"] * 100 + ["b"] * 300)
    estimate = est.estimate_multiclass(day, calibrator, draws=50)
    # Expected confusion [predicted, true]: a -> (75, 25), b -> (150, 150).
    assert estimate.metrics["accuracy"].value == pytest.approx((75 + 150) / 400, abs=2e-3)
    f1_a = 2 * 75 / (100 + 225)
    f1_b = 2 * 150 / (300 + 175)
    assert estimate.metrics["f1_macro"].value == pytest.approx((f1_a + f1_b) / 2, abs=2e-3)


def test_regression_loss_model_estimates_mae_and_rmse_under_covariate_shift():
    from sklearn.metrics import mean_absolute_error, root_mean_squared_error

    def world(n, seed, shift):
        rng = np.random.default_rng(seed)
        x = rng.normal(shift, 1, n)
        y = 3 * x + rng.normal(0, 0.5 + np.abs(x), n)  # errors grow with |x|
        return pd.DataFrame(
            {"x": x, "kind": rng.choice(["a", "b"], n), "prediction": 3 * x, "label": y}
        )

    model = model_config(task="regression")
    fitted = est.fit_reference(model, world(8000, 1, 0.0))
    assert fitted.refused is None
    for shift in (0.0, 1.0):
        day = world(3000, 2, shift)
        result = est.estimate_day(model, fitted, day.drop(columns="label"))
        mae, rmse = result.overall.metrics["mae"], result.overall.metrics["rmse"]
        realized_mae = mean_absolute_error(day["label"], day["prediction"])
        realized_rmse = root_mean_squared_error(day["label"], day["prediction"])
        assert mae.value == pytest.approx(realized_mae, rel=0.06)
        assert rmse.value == pytest.approx(realized_rmse, rel=0.06)
        assert mae.low < mae.value < mae.high


# ---------------------------------------------------------------------------------------------
# When it cannot estimate, it says why


def test_too_few_reference_labels_is_refused_with_the_count():
    model = model_config()
    reference = binary_world(150, seed=2)
    result = est.estimate(model, reference, binary_world(500, seed=3))
    assert not result.estimated
    assert "150 labelled predictions" in result.reason and "needs 200" in result.reason
    assert result.overall.metrics == {}


def test_scores_that_do_not_calibrate_are_refused():
    rng = np.random.default_rng(5)
    score = rng.random(4000)
    # Positives sit in the middle of the score range: no monotone map calibrates the score.
    label = (np.abs(score - 0.5) < 0.2).astype(int)
    reference = pd.DataFrame(
        {"x": score, "kind": "a", "prediction": score, "model_version": "v1", "label": label}
    )
    result = est.estimate(model_config(), reference, reference.drop(columns="label"))
    assert not result.estimated
    assert "calibrate badly" in result.reason and "limit 0.05" in result.reason
    assert result.calibration_error > 0.05


def test_unsupported_task_says_so():
    model = model_config(task="ranking_score")
    result = est.estimate(model, binary_world(1000, seed=6), binary_world(100, seed=7))
    assert not result.estimated
    assert "ranking_score" in result.reason and "not supported" in result.reason


def test_a_version_without_reference_labels_is_not_estimated_but_the_day_is():
    model = model_config()
    day = binary_world(1000, seed=9, versions=("v1", "v2"))
    result = est.estimate(model, binary_world(3000, seed=8), day.drop(columns="label"))
    assert result.estimated
    assert result.by_version["v1"].estimated
    assert not result.by_version["v2"].estimated
    assert "no labelled predictions of version v2" in result.by_version["v2"].reason


# ---------------------------------------------------------------------------------------------
# The check's verdict


def test_verdict_fails_below_the_limit_with_the_configured_severity():
    model = model_config(
        thresholds={"quality": {"min_roc_auc": 0.99}},
        estimation={"min_reference_labels": 200, "severity": "ERROR"},
    )
    result = est.estimate(model, binary_world(3000, 1), binary_world(1000, 2))
    passed, severity, text, observed = estimated_quality_verdict(model, result)
    assert not passed and severity == "ERROR"
    assert "roc_auc" in text and "below its limit 0.99" in text and "band" in text
    assert observed["roc_auc"] == pytest.approx(result.overall.metrics["roc_auc"].value, abs=1e-6)


def test_verdict_stays_quiet_when_the_estimate_cannot_be_trusted():
    model = model_config(thresholds={"quality": {"min_roc_auc": 0.99}})
    result = est.estimate(model, binary_world(100, 1), binary_world(1000, 2))
    passed, _severity, text, _observed = estimated_quality_verdict(model, result)
    assert passed
    assert text.startswith("Not estimated: the reference has 100 labelled predictions")


def test_gaps_pair_each_estimate_with_its_realized_value():
    model = model_config()
    result = est.estimate(model, binary_world(3000, 1), binary_world(1000, 2))
    frame = pd.DataFrame(result.records())
    gaps = est.estimate_gaps(frame, {"roc_auc": 0.5, "accuracy": 0.7}, {"v1": {"roc_auc": 0.6}})
    by_key = {(v, m): g for v, m, g in gaps}
    assert set(by_key) == {("", "roc_auc"), ("", "accuracy"), ("v1", "roc_auc")}
    assert by_key[("", "roc_auc")] == pytest.approx(result.overall.metrics["roc_auc"].value - 0.5)
