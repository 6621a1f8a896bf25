"""Quality estimated before labels: hand-computed cases, scikit-learn's calibration, the bands,
and every way an estimate is refused."""

import numpy as np
import pandas as pd
import pytest

from monitoring_platform.lib import estimation as est
from monitoring_platform_tests.lib.conftest import binary_world, model_config

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


def test_gaps_pair_each_estimate_with_its_realized_value():
    model = model_config()
    result = est.estimate(model, binary_world(3000, 1), binary_world(1000, 2))
    frame = pd.DataFrame(result.records())
    gaps = est.estimate_gaps(frame, {"roc_auc": 0.5, "accuracy": 0.7}, {"v1": {"roc_auc": 0.6}})
    by_key = {(v, m): g for v, m, g in gaps}
    assert set(by_key) == {("", "roc_auc"), ("", "accuracy"), ("v1", "roc_auc")}
    assert by_key[("", "roc_auc")] == pytest.approx(result.overall.metrics["roc_auc"].value - 0.5)
