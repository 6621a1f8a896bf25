"""The estimation methods: hand-computed expectations, and calibration equal to scikit-learn's."""

import math

import numpy as np
import pytest

from monitoring_platform.lib import estimation_methods as est
from monitoring_platform_tests.lib.conftest import binary_world, model_config

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


@pytest.mark.parametrize("decimals", [None, 2])  # continuous scores, and scores with many ties
def test_cross_fitted_calibration_matches_sklearns_isotonic_regression_per_fold(decimals):
    from sklearn.isotonic import IsotonicRegression

    rng = np.random.default_rng(8)
    scores = rng.random(6000) * 0.8 + 0.1
    if decimals:
        scores = np.round(scores, decimals)
    labels = (rng.random(6000) < scores**2).astype(float)
    ids = est.fold_ids(len(scores))
    expected = np.empty(len(scores))
    for fold in range(est.FOLDS):
        held = ids == fold
        isotonic = IsotonicRegression(y_min=0.0, y_max=1.0, out_of_bounds="clip")
        expected[held] = isotonic.fit(scores[~held], labels[~held]).predict(scores[held])
    got = est.cross_fitted_probabilities(scores, labels)
    np.testing.assert_allclose(got, expected, rtol=0, atol=1e-12)
    # Beyond the reference's scores the map is flat, as sklearn's "clip".
    isotonic = IsotonicRegression(y_min=0.0, y_max=1.0, out_of_bounds="clip").fit(scores, labels)
    outside = np.array([0.0, 0.05, 0.95, 1.0])
    np.testing.assert_allclose(
        est.ScoreCalibrator(scores, labels)(outside), isotonic.predict(outside), atol=1e-12
    )
    constant = est.ScoreCalibrator(np.full(50, 0.3), labels[:50])(outside)
    np.testing.assert_allclose(constant, labels[:50].mean())
    with pytest.raises(ValueError, match="finite"):
        est.ScoreCalibrator(np.array([0.2, np.nan]), np.array([0.0, 1.0]))


def test_calibration_error_matches_sklearns_calibration_curve():
    from sklearn.calibration import calibration_curve

    rng = np.random.default_rng(4)
    probabilities = rng.random(5000)
    labels = (rng.random(5000) < probabilities**1.5).astype(int)
    truth, predicted = calibration_curve(labels, probabilities, n_bins=10, strategy="quantile")
    expected = np.mean(np.abs(truth - predicted))  # ten bins of 500 rows: equal weights
    assert est.calibration_error(probabilities, labels, probabilities) == pytest.approx(expected)


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
