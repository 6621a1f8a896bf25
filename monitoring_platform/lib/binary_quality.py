"""A binary classifier's quality on labelled rows, in one pass of NumPy.

The same values scikit-learn's ``precision_score``, ``recall_score``, ``accuracy_score``,
``roc_auc_score`` and ``log_loss`` give for 0/1 labels, without their input validation, which
costs more than the arithmetic on a day of tens of thousands of rows (and is paid again for
each model version and for the reference window).
"""

from __future__ import annotations

import numpy as np


def roc_auc(positive: np.ndarray, score: np.ndarray) -> float:
    """The area under the ROC curve: the chance a positive outscores a negative, ties half.

    Mann-Whitney's U from the scores' ranks (tied scores share their mean rank, as in the
    estimate's drawn label sets), which equals the trapezoidal area under the ROC curve. Needs
    at least one positive and one negative.
    """
    from scipy.stats import rankdata

    positives = int(np.count_nonzero(positive))
    negatives = len(positive) - positives
    u = float(rankdata(score)[positive].sum()) - positives * (positives + 1) / 2.0
    return u / (positives * negatives)


def log_loss(positive: np.ndarray, probability: np.ndarray) -> float:
    """Mean cross-entropy, each row's probability of its class clipped to ``[eps, 1 - eps]``."""
    eps = np.finfo(np.float64).eps
    own = np.where(positive, probability, 1.0 - probability)
    return float(np.mean(-np.log(np.clip(own, eps, 1.0 - eps))))


def binary_quality(
    labels: np.ndarray, probability: np.ndarray, threshold: float
) -> dict[str, float]:
    """Precision, recall and accuracy at ``threshold``; ROC AUC and log loss with both classes.

    ``labels`` are 0 or 1; ``probability`` the positive class's, in [0, 1]. A proportion with
    no rows to rest on is 0, as scikit-learn's ``zero_division=0`` gives.
    """
    positive = labels == 1
    hard = probability >= threshold
    hits = int(np.count_nonzero(hard & positive))
    predicted, actual, n = int(np.count_nonzero(hard)), int(np.count_nonzero(positive)), len(labels)
    out = {
        "precision": hits / predicted if predicted else 0.0,
        "recall": hits / actual if actual else 0.0,
        "accuracy": int(np.count_nonzero(hard == positive)) / n,
    }
    if 0 < actual < n:
        out["roc_auc"] = roc_auc(positive, probability)
        out["log_loss"] = log_loss(positive, probability)
    return out
