"""Quality before the labels arrive: a day's performance estimated from its predictions alone.

Binary classifiers (confidence-based estimation): the model's scores are calibrated on the
labelled reference window with isotonic regression. Out-of-fold (cross-fitted) calibrated
probabilities measure how well the calibration holds on rows it was not fitted on; above
``max_calibration_error`` the estimate is refused. The day's scores, calibrated, give each row's
probability of being positive, hence the expected confusion matrix at the configured threshold
(accuracy, precision, recall, F1), the expected ROC curve (ROC AUC) and the expected log loss.
The band is the spread of the realized metric for the day's sample size: labels are drawn from
the calibrated probabilities ``DRAWS`` times and the metrics computed on each draw.

Multiclass classifiers log a class, not scores: the reference gives, per predicted class, the
distribution of true classes (the confusion matrix normalised by predicted class); the day's mix
of predicted classes gives the expected accuracy and macro F1, with the band drawn the same way.

Regressors (direct loss estimation): gradient-boosted trees trained on the labelled reference
predict each row's absolute error, squared error and absolute percentage error from its features
and prediction; their means over the day estimate MAE, RMSE and MAPE. Cross-fitted predictions on
the reference measure the loss model's own error (refused above ``max_loss_model_error``). The
band is a normal interval from the per-row spread of the error the loss models imply.

Every estimate assumes the relationship between inputs and outcome did not change since the
reference (no concept drift); it tracks covariate shift, a changed mix of predictions, a new mix of
versions. Whatever cannot be estimated says why instead of guessing.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from monitoring_platform.config import ModelConfig

TARGET = "label"


PREDICTION = "prediction"


CLASSIFICATION_METRICS = ("roc_auc", "accuracy", "precision", "recall", "f1", "log_loss")


MULTICLASS_METRICS = ("accuracy", "f1_macro")


REGRESSION_METRICS = ("mae", "rmse", "mape")


ALL_METRICS = frozenset(CLASSIFICATION_METRICS + MULTICLASS_METRICS + REGRESSION_METRICS)


DRAWS = 200


BAND = 0.95


FOLDS = 5


# The loss models' out-of-fold check fits a tree model per fold: three folds, each model on two
# thirds of the rows. On the demo's regressor (33k reference rows), its error differed from five
# folds' by under 0.01 (both far below the refusal limit) and its fit took 1.3 s instead of 1.8 s.
LOSS_MODEL_FOLDS = 3


CALIBRATION_BINS = 10


SEED = 20_261_130


# Bootstrap draws are processed in chunks of at most this many draws x rows.
DRAW_CELLS = 4_000_000


PROBABILITY_FLOOR = 1e-6


# The loss models learn from at most this many labelled reference rows (a random sample).
LOSS_MODEL_MAX_ROWS = 30_000


# The trees code at most this many levels of a categorical feature (the rarest become missing).
MAX_LEVELS = 250


@dataclass(frozen=True)
class EstimatedMetric:
    """One estimated metric: its value and the band the realized value may fall in."""

    value: float
    low: float
    high: float

    def __post_init__(self):
        for name in ("value", "low", "high"):
            object.__setattr__(self, name, float(getattr(self, name)))


@dataclass
class Estimate:
    """The estimate for one set of rows (a day, or one model version of it)."""

    rows: int
    metrics: dict[str, EstimatedMetric] = field(default_factory=dict)
    reason: str | None = None

    @property
    def estimated(self) -> bool:
        return self.reason is None


class CannotEstimate(ValueError):  # noqa: N818 -- reads as the reason it is raised
    """The reference does not support an estimate; the message says why."""


class ScoreCalibrator:
    """Isotonic map from a binary classifier's score to the probability of the positive class.

    scikit-learn's ``IsotonicRegression(y_min=0, y_max=1, out_of_bounds="clip")``; ``order``
    (rows by score) lets one reference's cross-fitted calibrators sort it once.
    """

    def __init__(self, scores: np.ndarray, labels: np.ndarray, order: np.ndarray | None = None):
        from sklearn.isotonic import isotonic_regression

        scores, labels = np.asarray(scores, float), np.asarray(labels, float)
        if not len(scores) or not np.isfinite(scores).all():
            raise ValueError("calibration needs at least one score, and every score finite")
        order = np.argsort(scores, kind="stable") if order is None else order
        x, y = scores[order], labels[order]  # ties averaged, then pool-adjacent-violators
        starts = np.flatnonzero(np.r_[True, x[1:] != x[:-1]])
        weights = np.diff(np.r_[starts, len(x)]).astype(float)
        self.thresholds = x[starts]
        self.values = isotonic_regression(
            np.add.reduceat(y, starts) / weights, sample_weight=weights, y_min=0.0, y_max=1.0
        )

    def __call__(self, scores: np.ndarray) -> np.ndarray:
        return np.interp(np.asarray(scores, float), self.thresholds, self.values)


def fold_ids(n: int, folds: int = FOLDS, seed: int = SEED) -> np.ndarray:
    """A fold number for each of ``n`` rows, balanced and shuffled deterministically."""
    return np.random.default_rng(seed).permutation(np.arange(n) % folds)


def cross_fitted_probabilities(
    scores: np.ndarray, labels: np.ndarray, folds: int = FOLDS
) -> np.ndarray:
    """Each row's calibrated probability from a calibrator fitted on the other folds."""
    ids = fold_ids(len(scores), folds)
    order = np.argsort(scores, kind="stable")  # a fold's rows stay sorted within it
    out = np.empty(len(scores))
    for fold in range(folds):
        held = ids == fold
        out[held] = ScoreCalibrator(scores, labels, order[~held[order]])(scores[held])
    return out


def calibration_error(
    probabilities: np.ndarray,
    labels: np.ndarray,
    order_by: np.ndarray,
    bins: int = CALIBRATION_BINS,
) -> float:
    """The expected calibration error with quantile bins.

    Mean |mean probability - share of positives| over equal-count bins of ``order_by``,
    weighted by bin size.
    """
    order = np.argsort(order_by, kind="stable")
    total = 0.0
    for chunk in np.array_split(order, bins):
        if len(chunk):
            total += len(chunk) * abs(probabilities[chunk].mean() - labels[chunk].mean())
    return float(total / len(order))


def expected_binary_metrics(
    scores: np.ndarray, probabilities: np.ndarray, threshold: float
) -> dict[str, float]:
    """The metrics whose expectation the calibrated ``probabilities`` imply.

    Ratios of expected counts, as the expected confusion matrix and expected ROC curve give them.
    """
    from sklearn.metrics import roc_auc_score

    p = np.clip(probabilities, 0.0, 1.0)
    hard = scores >= threshold
    tp = float(p[hard].sum())
    fp = float((1 - p[hard]).sum())
    fn = float(p[~hard].sum())
    tn = float((1 - p[~hard]).sum())
    n = len(p)
    out = {"accuracy": (tp + tn) / n if n else math.nan}
    out["precision"] = tp / (tp + fp) if tp + fp > 0 else 0.0
    out["recall"] = tp / (tp + fn) if tp + fn > 0 else 0.0
    out["f1"] = 2 * tp / (2 * tp + fp + fn) if tp + fp + fn > 0 else 0.0
    if tp + fn > 0 and tn + fp > 0:
        # Every row counts as a positive with weight p and a negative with weight 1 - p.
        out["roc_auc"] = float(
            roc_auc_score(
                np.r_[np.ones(n), np.zeros(n)],
                np.r_[scores, scores],
                sample_weight=np.r_[p, 1 - p],
            )
        )
    s = np.clip(scores, PROBABILITY_FLOOR, 1 - PROBABILITY_FLOOR)
    out["log_loss"] = float(np.mean(-(p * np.log(s) + (1 - p) * np.log(1 - s))))
    return out


def _binary_draw_metrics(
    scores: np.ndarray, probabilities: np.ndarray, threshold: float, draws: int, seed: int
) -> dict[str, np.ndarray]:
    """The metrics on ``draws`` label sets drawn from ``probabilities`` (undefined: NaN)."""
    from scipy.stats import rankdata

    n = len(scores)
    hard = scores >= threshold
    ranks = rankdata(scores)
    s = np.clip(scores, PROBABILITY_FLOOR, 1 - PROBABILITY_FLOOR)
    loss_pos, loss_neg = -np.log(s), -np.log(1 - s)
    rng = np.random.default_rng(seed)
    chunk = max(1, DRAW_CELLS // max(n, 1))
    parts: dict[str, list[np.ndarray]] = {k: [] for k in CLASSIFICATION_METRICS}
    for start in range(0, draws, chunk):
        y = rng.random((min(chunk, draws - start), n)) < probabilities
        positives = y.sum(axis=1).astype(float)
        negatives = n - positives
        tp = (y & hard).sum(axis=1).astype(float)
        predicted = float(hard.sum())
        fp = predicted - tp
        fn = positives - tp
        tn = negatives - fp
        with np.errstate(divide="ignore", invalid="ignore"):
            parts["accuracy"].append((tp + tn) / n)
            parts["precision"].append(np.where(predicted > 0, tp / predicted, 0.0))
            parts["recall"].append(np.where(positives > 0, tp / positives, 0.0))
            denominator = 2 * tp + fp + fn
            parts["f1"].append(np.where(denominator > 0, 2 * tp / denominator, 0.0))
            rank_sum = y.astype(float) @ ranks
            auc = (rank_sum - positives * (positives + 1) / 2) / (positives * negatives)
            parts["roc_auc"].append(np.where((positives > 0) & (negatives > 0), auc, np.nan))
        parts["log_loss"].append((y.astype(float) @ (loss_pos - loss_neg) + loss_neg.sum()) / n)
    return {k: np.concatenate(v) for k, v in parts.items()}


def _band(point: float, draws: np.ndarray) -> EstimatedMetric:
    finite = draws[np.isfinite(draws)]
    if len(finite) == 0:
        return EstimatedMetric(point, math.nan, math.nan)
    tail = (1 - BAND) / 2 * 100
    low, high = np.percentile(finite, [tail, 100 - tail])
    return EstimatedMetric(point, float(min(low, point)), float(max(high, point)))


def estimate_binary(
    scores: np.ndarray,
    calibrator: ScoreCalibrator,
    threshold: float,
    draws: int = DRAWS,
    seed: int = SEED,
) -> Estimate:
    """A day's binary-classification metrics, each with its band, from its scores alone."""
    scores = np.asarray(scores, float)
    if len(scores) == 0:
        return Estimate(0, reason="no scored predictions on the day")
    probabilities = calibrator(scores)
    points = expected_binary_metrics(scores, probabilities, threshold)
    sampled = _binary_draw_metrics(scores, probabilities, threshold, draws, seed)
    return Estimate(len(scores), {name: _band(points[name], sampled[name]) for name in points})


class ClassCalibrator:
    """P(true class | predicted class) from the reference, with one pseudo-count per cell."""

    def __init__(self, predicted: np.ndarray, labels: np.ndarray, classes: list[str]):
        self.classes = list(classes)
        index = {c: i for i, c in enumerate(self.classes)}
        k = len(self.classes)
        counts = np.ones((k, k)) / k
        rows = np.array([index.get(str(v), -1) for v in predicted])
        cols = np.array([index.get(str(v), -1) for v in labels])
        known = (rows >= 0) & (cols >= 0)
        np.add.at(counts, (rows[known], cols[known]), 1.0)
        self.matrix = counts / counts.sum(axis=1, keepdims=True)

    def codes(self, predicted: np.ndarray) -> np.ndarray:
        index = {c: i for i, c in enumerate(self.classes)}
        return np.array([index.get(str(v), -1) for v in predicted], dtype=int)


def _multiclass_metrics(confusion: np.ndarray) -> dict[str, float]:
    """Accuracy and macro F1 of a (possibly expected) confusion matrix [predicted, true]."""
    total = confusion.sum()
    diagonal = np.diag(confusion)
    predicted, actual = confusion.sum(axis=1), confusion.sum(axis=0)
    denominator = predicted + actual
    f1 = np.where(denominator > 0, 2 * diagonal / np.where(denominator > 0, denominator, 1), 0.0)
    # sklearn's macro F1 averages over the classes that occur in either the truth or the predictions
    present = denominator > 0
    return {
        "accuracy": float(diagonal.sum() / total) if total else math.nan,
        "f1_macro": float(f1[present].mean()) if present.any() else math.nan,
    }


def estimate_multiclass(
    predicted: np.ndarray, calibrator: ClassCalibrator, draws: int = DRAWS, seed: int = SEED
) -> Estimate:
    """Expected accuracy and macro F1 from the day's predicted classes, with drawn bands."""
    codes = calibrator.codes(np.asarray(predicted))
    unknown = int((codes < 0).sum())
    if len(codes) == 0:
        return Estimate(0, reason="no predictions on the day")
    if unknown:
        return Estimate(
            len(codes),
            reason=f"{unknown} predictions are of classes the configuration does not list",
        )
    k = len(calibrator.classes)
    counts = np.bincount(codes, minlength=k).astype(float)
    points = _multiclass_metrics(counts[:, None] * calibrator.matrix)
    rng = np.random.default_rng(seed)
    sampled: dict[str, list[float]] = {name: [] for name in MULTICLASS_METRICS}
    for _ in range(draws):
        confusion = np.array(
            [rng.multinomial(int(c), calibrator.matrix[i]) for i, c in enumerate(counts)], float
        )
        for name, value in _multiclass_metrics(confusion).items():
            sampled[name].append(value)
    return Estimate(
        len(codes), {name: _band(points[name], np.array(sampled[name])) for name in points}
    )


def multiclass_calibration_error(predicted: np.ndarray, labels: np.ndarray, classes) -> float:
    """Cross-fitted: per predicted class, |expected - observed share correct|, weighted."""
    ids = fold_ids(len(predicted))
    expected = np.empty(len(predicted))
    for fold in range(FOLDS):
        held = ids == fold
        calibrator = ClassCalibrator(predicted[~held], labels[~held], classes)
        codes = calibrator.codes(predicted[held])
        matrix = calibrator.matrix
        expected[held] = np.where(codes >= 0, matrix[np.maximum(codes, 0), np.maximum(codes, 0)], 0)
    correct = (np.asarray(predicted, str) == np.asarray(labels, str)).astype(float)
    return calibration_error(
        expected,
        correct,
        ClassCalibrator(predicted, labels, classes).codes(predicted),
        bins=len(classes),
    )


def category_levels(frame: pd.DataFrame, model: ModelConfig) -> dict[str, list[str]]:
    """Each categorical feature's levels: the configured ones, else those seen in ``frame``.

    ``frame`` is the reference, so that the loss model reads every later day with the same codes.
    """
    levels = {}
    for feature in model.features:
        if feature.name not in model.categorical_features:
            continue
        if feature.categories:
            levels[feature.name] = list(feature.categories)[:MAX_LEVELS]
        else:
            seen = frame[feature.name].dropna() if feature.name in frame else pd.Series([])
            common = seen.astype(str).value_counts().index[:MAX_LEVELS]
            levels[feature.name] = sorted(common)
    return levels


def loss_features(
    frame: pd.DataFrame,
    model: ModelConfig,
    levels: dict[str, list[str]],
    versions: list[str] | None = None,
) -> pd.DataFrame:
    """The loss model's inputs: the features, the prediction and the model version.

    Categoricals are coded by ``levels`` (other values become missing); the model version is
    included when ``versions`` are given.
    """
    out = pd.DataFrame(index=frame.index)
    for feature in model.features:
        values = frame[feature.name] if feature.name in frame else pd.Series(np.nan, frame.index)
        if feature.name in levels:
            text = values.astype("object").where(values.notna(), None)
            out[feature.name] = pd.Categorical(
                text.map(lambda v: None if v is None else str(v)),
                categories=levels[feature.name],
            )
        else:
            out[feature.name] = pd.to_numeric(values, errors="coerce").astype(float)
    out[PREDICTION] = pd.to_numeric(frame[PREDICTION], errors="coerce").astype(float)
    if versions is not None:
        version = frame["model_version"].astype(str) if "model_version" in frame else None
        out["model_version"] = pd.Categorical(version, categories=versions)
    return out


class LossModel:
    """Gradient-boosted trees predicting a row's absolute, squared and percentage error."""

    def __init__(
        self,
        inputs: pd.DataFrame,
        y: np.ndarray,
        prediction: np.ndarray,
        targets: tuple[str, ...] = ("abs", "sq", "pct"),
        seed: int = SEED,
    ):
        from sklearn.ensemble import HistGradientBoostingRegressor

        error = y - prediction
        nonzero = y != 0
        values = {"abs": np.abs(error), "sq": error**2}
        if nonzero.any():
            values["pct"] = np.abs(error[nonzero] / np.where(nonzero, y, 1)[nonzero]) * 100
        self.models = {}
        self.versions: list[str] | None = None
        self.levels: dict[str, list[str]] = {}
        for name in targets:
            if name not in values:
                continue
            rows = inputs[nonzero] if name == "pct" else inputs
            regressor = HistGradientBoostingRegressor(
                max_iter=100,
                learning_rate=0.1,
                min_samples_leaf=40,
                categorical_features="from_dtype",
                random_state=seed,
            )
            with _one_thread():
                self.models[name] = regressor.fit(rows, values[name])

    def predict(self, inputs: pd.DataFrame) -> dict[str, np.ndarray]:
        with _one_thread():
            return {name: np.maximum(m.predict(inputs), 0.0) for name, m in self.models.items()}


def _one_thread():
    """Trees on one OpenMP thread.

    A run step shares its machine, and small fits gain nothing from threads that mostly wait
    for each other.
    """
    from threadpoolctl import threadpool_limits

    return threadpool_limits(limits=1, user_api="openmp")


def _regression_points(losses: dict[str, np.ndarray]) -> dict[str, float]:
    out = {"mae": float(losses["abs"].mean()), "rmse": float(math.sqrt(losses["sq"].mean()))}
    if "pct" in losses:
        out["mape"] = float(losses["pct"].mean())
    return out


def estimate_regression(inputs: pd.DataFrame, loss_model: LossModel, kurtosis: float) -> Estimate:
    """MAE, RMSE and MAPE from the loss models, with normal bands from the per-row spread."""
    if len(inputs) == 0:
        return Estimate(0, reason="no predictions on the day")
    losses = loss_model.predict(inputs)
    n = len(inputs)
    points = _regression_points(losses)
    z = _z()
    # Per row: Var|e| = E[e^2] - E|e|^2; Var e^2 = (kurtosis - 1) E[e^2]^2 (kurtosis from the reference).
    var_abs = np.maximum(losses["sq"] - losses["abs"] ** 2, 0.0)
    mae_half = z * math.sqrt(var_abs.sum()) / n
    mse = losses["sq"].mean()
    mse_half = z * math.sqrt(max(kurtosis - 1, 0.0) * (losses["sq"] ** 2).sum()) / n
    metrics = {
        "mae": EstimatedMetric(
            points["mae"], max(points["mae"] - mae_half, 0.0), points["mae"] + mae_half
        ),
        "rmse": EstimatedMetric(
            points["rmse"], math.sqrt(max(mse - mse_half, 0.0)), math.sqrt(mse + mse_half)
        ),
    }
    if "mape" in points:
        pct = losses["pct"]
        half = z * pct.std() / math.sqrt(n) if n > 1 else 0.0
        metrics["mape"] = EstimatedMetric(
            points["mape"], max(points["mape"] - half, 0.0), points["mape"] + half
        )
    return Estimate(n, metrics)


def _z() -> float:
    from scipy.stats import norm

    return float(norm.ppf(0.5 + BAND / 2))
