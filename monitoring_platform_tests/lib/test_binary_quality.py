"""A binary classifier's quality equals scikit-learn's on the cases that tell methods apart."""

import numpy as np
import pandas as pd
import pytest
from sklearn import metrics

from monitoring_platform.config import parse_config
from monitoring_platform.lib.binary_quality import binary_quality
from monitoring_platform.lib.performance import quality_metrics


def _sklearn(y: np.ndarray, p: np.ndarray, threshold: float) -> dict[str, float]:
    hard = (p >= threshold).astype(int)
    out = {
        "precision": metrics.precision_score(y, hard, zero_division=0),
        "recall": metrics.recall_score(y, hard, zero_division=0),
        "accuracy": metrics.accuracy_score(y, hard),
    }
    if len(np.unique(y)) == 2:
        out["roc_auc"] = metrics.roc_auc_score(y, p)
        out["log_loss"] = metrics.log_loss(y, np.c_[1 - p, p], labels=[0, 1])
    return out


def _cases():
    rng = np.random.default_rng(3)
    p = rng.random(5000)
    yield "continuous scores", (rng.random(5000) < p).astype(float), p
    # Scores rounded to two decimals: thousands of ties, which ROC AUC counts as half.
    tied = np.round(rng.beta(2, 5, 20000), 2)
    yield "tied scores", (rng.random(20000) < tied).astype(float), tied
    # Certain predictions, right and wrong: log loss clips them instead of going infinite.
    certain = np.array([0.0, 1.0, 1.0, 0.0, 0.5, 0.3])
    yield "certain scores", np.array([0.0, 1.0, 0.0, 1.0, 1.0, 0.0]), certain
    yield "one class only", np.ones(50), rng.random(50)
    yield "nothing predicted positive", (rng.random(300) < 0.2).astype(float), rng.random(300) * 0.3
    yield "every score equal", (rng.random(100) < 0.5).astype(float), np.full(100, 0.7)


@pytest.mark.parametrize(("name", "y", "p"), list(_cases()), ids=[c[0] for c in _cases()])
def test_metrics_equal_sklearns(name, y, p):
    ours = binary_quality(y, p, 0.4)
    theirs = _sklearn(y, p, 0.4)
    assert ours.keys() == theirs.keys()
    for metric, value in theirs.items():
        assert ours[metric] == pytest.approx(value, rel=1e-12, abs=1e-12), metric


def test_labels_other_than_zero_and_one_are_left_to_sklearn():
    (model,) = parse_config(
        "models: [{name: m, task: binary_classification, features: [{name: x, type: numerical}]}]"
    ).models
    with pytest.raises(ValueError, match="multiclass"):
        quality_metrics(model, pd.Series([0.0, 1.0, 2.0]), pd.Series([0.1, 0.9, 0.5]))
