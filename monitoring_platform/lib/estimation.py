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

import datetime as dt
import math
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from monitoring_platform.config import ModelConfig, Task

TARGET = "label"
PREDICTION = "prediction"
ALL_VERSIONS = ""
# The lake dataset of the daily estimates.
ESTIMATES = "estimated_performance"

DRAWS = 200
BAND = 0.95
FOLDS = 5
CALIBRATION_BINS = 10
SEED = 20_261_130
# Bootstrap draws are processed in chunks of at most this many draws x rows.
DRAW_CELLS = 4_000_000
PROBABILITY_FLOOR = 1e-6
# The loss models learn from at most this many labelled reference rows (a random sample).
LOSS_MODEL_MAX_ROWS = 30_000
# The trees code at most this many levels of a categorical feature (the rarest become missing).
MAX_LEVELS = 250

CLASSIFICATION_METRICS = ("roc_auc", "accuracy", "precision", "recall", "f1", "log_loss")
MULTICLASS_METRICS = ("accuracy", "f1_macro")
REGRESSION_METRICS = ("mae", "rmse", "mape")
ALL_METRICS = frozenset(CLASSIFICATION_METRICS + MULTICLASS_METRICS + REGRESSION_METRICS)


@dataclass(frozen=True)
class EstimatedMetric:
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


@dataclass
class EstimationResult:
    """A day's estimate overall and per model version, and how far the reference supports it."""

    task: str
    reference_labeled: int
    method: str
    calibration_error: float | None
    overall: Estimate
    by_version: dict[str, Estimate] = field(default_factory=dict)

    @property
    def estimated(self) -> bool:
        return self.overall.estimated

    @property
    def reason(self) -> str | None:
        return self.overall.reason

    def records(self) -> list[dict]:
        """One row per (version, metric) or per refused estimate, for the lake and the store."""
        out = []
        for version, estimate in [(ALL_VERSIONS, self.overall), *self.by_version.items()]:
            if not estimate.estimated:
                out.append(_record(version, estimate, None, None))
            for name, metric in estimate.metrics.items():
                out.append(_record(version, estimate, name, metric))
        return out


def _record(version: str, estimate: Estimate, name: str | None, metric: EstimatedMetric | None):
    return {
        "model_version": version,
        "rows": estimate.rows,
        "metric": name,
        "value": None if metric is None else metric.value,
        "low": None if metric is None else metric.low,
        "high": None if metric is None else metric.high,
        "reason": estimate.reason,
    }


class CannotEstimate(ValueError):
    """The reference does not support an estimate; the message says why."""


# ---------------------------------------------------------------------------------------------
# Calibration


class ScoreCalibrator:
    """Isotonic map from a binary classifier's score to the probability of the positive class."""

    def __init__(self, scores: np.ndarray, labels: np.ndarray):
        from sklearn.isotonic import IsotonicRegression

        self.isotonic = IsotonicRegression(y_min=0.0, y_max=1.0, out_of_bounds="clip")
        self.isotonic.fit(np.asarray(scores, float), np.asarray(labels, float))

    def __call__(self, scores: np.ndarray) -> np.ndarray:
        return self.isotonic.predict(np.asarray(scores, float))


def fold_ids(n: int, folds: int = FOLDS, seed: int = SEED) -> np.ndarray:
    """A fold number for each of ``n`` rows, balanced and shuffled deterministically."""
    return np.random.default_rng(seed).permutation(np.arange(n) % folds)


def cross_fitted_probabilities(
    scores: np.ndarray, labels: np.ndarray, folds: int = FOLDS
) -> np.ndarray:
    """Each row's calibrated probability from a calibrator fitted on the other folds."""
    ids = fold_ids(len(scores), folds)
    out = np.empty(len(scores))
    for fold in range(folds):
        held = ids == fold
        out[held] = ScoreCalibrator(scores[~held], labels[~held])(scores[held])
    return out


def calibration_error(
    probabilities: np.ndarray,
    labels: np.ndarray,
    order_by: np.ndarray,
    bins: int = CALIBRATION_BINS,
) -> float:
    """Mean |mean probability - share of positives| over equal-count bins of ``order_by``,
    weighted by bin size (the expected calibration error with quantile bins)."""
    order = np.argsort(order_by, kind="stable")
    total = 0.0
    for chunk in np.array_split(order, bins):
        if len(chunk):
            total += len(chunk) * abs(probabilities[chunk].mean() - labels[chunk].mean())
    return float(total / len(order))


# ---------------------------------------------------------------------------------------------
# Binary classification


def expected_binary_metrics(
    scores: np.ndarray, probabilities: np.ndarray, threshold: float
) -> dict[str, float]:
    """The metrics whose expectation the calibrated ``probabilities`` imply (ratios of expected
    counts, as the expected confusion matrix and expected ROC curve give them)."""
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


# ---------------------------------------------------------------------------------------------
# Multiclass classification (predicted classes only)


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


# ---------------------------------------------------------------------------------------------
# Regression (direct loss estimation)


def category_levels(frame: pd.DataFrame, model: ModelConfig) -> dict[str, list[str]]:
    """Each categorical feature's levels: the configured ones, else those seen in ``frame``
    (the reference), so that the loss model reads every later day with the same codes."""
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
    """The loss model's inputs: the features (categoricals coded by ``levels``; others become
    missing), the prediction and, when ``versions`` are given, the model version."""
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
    """Trees on one OpenMP thread: a run step shares its machine, and small fits gain nothing
    from threads that mostly wait for each other."""
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


# ---------------------------------------------------------------------------------------------
# The day's estimate from a labelled reference


@dataclass
class Fitted:
    """What the reference teaches: a calibrator or a loss model, and how far to trust it."""

    method: str
    labeled: int
    error: float | None
    overall: object | None
    by_version: dict[str, object] = field(default_factory=dict)
    refused: str | None = None
    version_refused: dict[str, str] = field(default_factory=dict)
    kurtosis: float = 3.0


def labelled_reference(reference: pd.DataFrame) -> pd.DataFrame:
    """Rows of the reference with both a prediction and a label."""
    return reference[reference[PREDICTION].notna() & reference[TARGET].notna()]


def fit_reference(
    model: ModelConfig, reference: pd.DataFrame, *, with_versions: bool = True
) -> Fitted:
    """Fit the task's calibrator or loss model on the labelled reference, or say why not."""
    settings = model.estimation
    labelled = labelled_reference(reference)
    n = len(labelled)
    method = METHODS.get(model.task)
    if method is None:
        return Fitted(
            "none",
            n,
            None,
            None,
            refused=f"estimating {model.task.value} quality is not supported "
            f"(supported: {', '.join(t.value for t in METHODS)})",
        )
    if n < settings.min_reference_labels:
        return Fitted(
            method,
            n,
            None,
            None,
            refused=f"the reference has {n} labelled predictions "
            f"(needs {settings.min_reference_labels})",
        )
    overall, error, extra = _fit(model, labelled)
    refused = _refusal(model, error)
    fitted = Fitted(method, n, error, None if refused else overall, refused=refused)
    if isinstance(extra, float):
        fitted.kurtosis = extra
    if with_versions and "model_version" in labelled:
        versions = labelled["model_version"].astype(str)
        for version, count in versions.value_counts().sort_index().items():
            if count < settings.min_reference_labels:
                fitted.version_refused[str(version)] = (
                    f"the reference has {count} labelled predictions of version {version} "
                    f"(needs {settings.min_reference_labels})"
                )
                continue
            if model.task == Task.regression:
                # One loss model knows every version (the version is one of its inputs).
                if fitted.overall is not None:
                    fitted.by_version[str(version)] = fitted.overall
                continue
            part, part_error, _ = _fit(model, labelled[versions == version])
            reason = _refusal(model, part_error)
            if reason:
                fitted.version_refused[str(version)] = f"version {version}: {reason}"
            else:
                fitted.by_version[str(version)] = part
    return fitted


METHODS = {
    Task.binary_classification: "confidence-based (isotonic calibration)",
    Task.multiclass_classification: "confidence-based (class confusion on the reference)",
    Task.regression: "direct loss estimation (gradient-boosted trees)",
}


def _refusal(model: ModelConfig, error: float) -> str | None:
    settings = model.estimation
    if model.task == Task.regression:
        if error > settings.max_loss_model_error:
            return (
                f"the loss model misses the reference's MAE by {error:.1%} out of fold "
                f"(limit {settings.max_loss_model_error:.0%})"
            )
        return None
    if error > settings.max_calibration_error:
        return (
            f"the reference's scores calibrate badly: calibration error {error:.3f} out of fold "
            f"(limit {settings.max_calibration_error:g})"
        )
    return None


def _fit(model: ModelConfig, labelled: pd.DataFrame):
    if model.task == Task.binary_classification:
        scores = labelled[PREDICTION].astype(float).clip(0, 1).to_numpy()
        labels = labelled[TARGET].astype(float).to_numpy()
        cross = cross_fitted_probabilities(scores, labels)
        return ScoreCalibrator(scores, labels), calibration_error(cross, labels, scores), None
    if model.task == Task.multiclass_classification:
        predicted = labelled[PREDICTION].astype(str).to_numpy()
        labels = labelled[TARGET].astype(str).to_numpy()
        classes = list(model.classes or [])
        error = multiclass_calibration_error(predicted, labels, classes)
        return ClassCalibrator(predicted, labels, classes), error, None
    if len(labelled) > LOSS_MODEL_MAX_ROWS:
        labelled = labelled.sample(LOSS_MODEL_MAX_ROWS, random_state=SEED)
    versions = (
        sorted(labelled["model_version"].astype(str).unique())
        if "model_version" in labelled
        else None
    )
    levels = category_levels(labelled, model)
    inputs = loss_features(labelled, model, levels, versions)
    y = labelled[TARGET].astype(float).to_numpy()
    prediction = inputs[PREDICTION].to_numpy()
    ids = fold_ids(len(labelled))
    errors = []
    for fold in range(FOLDS):
        held = ids == fold
        losses = LossModel(inputs[~held], y[~held], prediction[~held], ("abs",)).predict(
            inputs[held]
        )
        realized = np.abs(y[held] - prediction[held]).mean()
        errors.append(abs(losses["abs"].mean() - realized) / realized if realized > 0 else 0.0)
    error = y - prediction
    kurtosis = float(np.mean(error**4) / np.mean(error**2) ** 2) if np.any(error) else 3.0
    loss_model = LossModel(inputs, y, prediction)
    loss_model.versions = versions
    loss_model.levels = levels
    return loss_model, float(np.mean(errors)), kurtosis


def estimate_rows(
    model: ModelConfig, rows: pd.DataFrame, fitted_model, kurtosis: float
) -> Estimate:
    scored = rows[rows[PREDICTION].notna()]
    if model.task == Task.binary_classification:
        scores = scored[PREDICTION].astype(float).clip(0, 1).to_numpy()
        return estimate_binary(scores, fitted_model, model.classification_threshold)
    if model.task == Task.multiclass_classification:
        return estimate_multiclass(scored[PREDICTION].astype(str).to_numpy(), fitted_model)
    inputs = loss_features(scored, model, fitted_model.levels, fitted_model.versions)
    return estimate_regression(inputs, fitted_model, kurtosis)


def estimate_day(model: ModelConfig, fitted: Fitted, day: pd.DataFrame) -> EstimationResult:
    """The day's estimate overall and per model version, from the fitted reference."""
    scored = day[day[PREDICTION].notna()] if PREDICTION in day else day.iloc[0:0]
    result = EstimationResult(
        task=model.task.value,
        reference_labeled=fitted.labeled,
        method=fitted.method,
        calibration_error=fitted.error,
        overall=Estimate(len(scored)),
    )
    if fitted.refused or fitted.overall is None:
        result.overall.reason = fitted.refused or "nothing fitted on the reference"
        return result
    result.overall = estimate_rows(model, scored, fitted.overall, fitted.kurtosis)
    if "model_version" in scored:
        for version, rows in scored.groupby(scored["model_version"].astype(str), sort=True):
            if version in fitted.by_version:
                result.by_version[version] = estimate_rows(
                    model, rows, fitted.by_version[version], fitted.kurtosis
                )
            else:
                reason = fitted.version_refused.get(
                    version, f"the reference has no labelled predictions of version {version}"
                )
                result.by_version[version] = Estimate(len(rows), reason=reason)
    return result


def estimate(model: ModelConfig, reference: pd.DataFrame, day: pd.DataFrame) -> EstimationResult:
    """Fit on the labelled ``reference`` (prediction, label, features, model_version) and
    estimate ``day`` (prediction, features, model_version)."""
    return estimate_day(model, fit_reference(model, reference), day)


def estimate_gaps(
    estimates: pd.DataFrame, realized: dict[str, float], by_version: dict[str, dict[str, float]]
) -> list[tuple[str, str, float]]:
    """(model_version, metric, estimated - realized) for every metric both sides have."""
    out = []
    if estimates is None or estimates.empty:
        return out
    for row in estimates.itertuples(index=False):
        if row.metric is None or not isinstance(row.metric, str) or pd.isna(row.value):
            continue
        side = (
            realized if row.model_version == ALL_VERSIONS else by_version.get(row.model_version, {})
        )
        value = side.get(row.metric)
        if value is not None and not math.isnan(value):
            out.append((row.model_version, row.metric, float(row.value) - float(value)))
    return out


# ---------------------------------------------------------------------------------------------
# Reading the day and its labelled reference from the lake


def estimation_columns(model: ModelConfig) -> list[str]:
    """The accepted-row columns estimation reads."""
    return ["request_id", PREDICTION, "model_version", *(f.name for f in model.features)]


def read_day(store, model: ModelConfig, date) -> pd.DataFrame:
    """The day's accepted rows (empty when the partition was never written)."""
    from monitoring_platform.lib import lake

    table = lake.read_partition(store, lake.ACCEPTED, model.name, date, estimation_columns(model))
    if table is None:
        return pd.DataFrame(columns=estimation_columns(model))
    return table.to_pandas()


def read_labelled_reference(
    store, model: ModelConfig, days: list, until: dt.date
) -> tuple[pd.DataFrame, dict[str, int]]:
    """The reference days' predictions joined with their labels received by ``until`` (arrival
    days ``day``..``day + max_delay_days``, never after ``until``; the latest label wins), and
    the labelled rows per day."""
    from monitoring_platform.lib import labels as labels_lib
    from monitoring_platform.lib import lake
    from monitoring_platform.lib.performance import join_labels

    frames, counts = [], {}
    for value in days:
        day = value if isinstance(value, dt.date) else dt.date.fromisoformat(str(value))
        predictions = read_day(store, model, day)
        arrivals = [
            day + dt.timedelta(days=n)
            for n in range(model.labels.max_delay_days + 1)
            if day + dt.timedelta(days=n) <= until
        ]
        received, _found, _missing = lake.read_partitions(
            store, labels_lib.ACCEPTED, model.name, arrivals, ["request_id", TARGET, "labeled_at"]
        )
        if received is None or predictions.empty:
            counts[str(day)] = 0
            continue
        joined = join_labels(predictions, received.to_pandas())
        joined = joined[joined[TARGET].notna()]
        counts[str(day)] = len(joined)
        frames.append(joined)
    if not frames:
        return pd.DataFrame(columns=[*estimation_columns(model), TARGET]), counts
    return pd.concat(frames, ignore_index=True), counts


def write_estimates(store, model: ModelConfig, date, result: EstimationResult) -> str:
    """The day's estimates as one Parquet partition of the lake (replacing an earlier run's)."""
    import tempfile
    from pathlib import Path

    import pyarrow as pa
    import pyarrow.parquet as pq

    from monitoring_platform.lib import lake

    schema = pa.schema(
        [
            ("model_version", pa.string()),
            ("rows", pa.int64()),
            ("metric", pa.string()),
            ("value", pa.float64()),
            ("low", pa.float64()),
            ("high", pa.float64()),
            ("reason", pa.string()),
        ]
    )
    table = pa.Table.from_pylist(result.records(), schema=schema)
    with tempfile.TemporaryDirectory(prefix="estimates-") as tmp:
        path = Path(tmp) / "data.parquet"
        pq.write_table(table, path)
        return lake.write_partition(store, ESTIMATES, model.name, str(date), path)


def read_estimates(store, model: ModelConfig, date) -> pd.DataFrame | None:
    """The day's estimates written by :func:`write_estimates`, or ``None``."""
    from monitoring_platform.lib import lake

    table = lake.read_partition(store, ESTIMATES, model.name, date)
    return None if table is None else table.to_pandas()


# ---------------------------------------------------------------------------------------------
# The "estimated vs realized" section of the performance page

CHART_WIDTH, CHART_HEIGHT, CHART_PAD = 360, 120, 6


def estimated_vs_realized_section(history: list[dict], current_day: str) -> str:
    """Per metric, each day's estimate with its band beside the realized value, as a table and
    an inline SVG chart (no script). ``history`` rows: day, metric, estimated, low, high,
    realized (any may be missing)."""
    from monitoring_platform.lib.html import escape

    style = "font-family:system-ui,sans-serif;margin:1.5rem 2rem"
    if not history:
        return (
            f"<section id='estimated-vs-realized' style='{style}'>"
            "<h2 style='font-size:1.15rem'>Estimated vs realized</h2>"
            "<p>No estimate was recorded for these days.</p></section>"
        )
    frame = pd.DataFrame(history)
    parts = [
        f"<section id='estimated-vs-realized' style='{style}'>",
        "<h2 style='font-size:1.15rem'>Estimated vs realized</h2>",
        "<p>The estimate is made from the day's predictions as soon as its logs are in, before "
        f"labels arrive; the band is its {BAND:.0%} range for the day's sample size. The realized "
        "value uses the labels received so far.</p>",
    ]
    for metric, rows in frame.groupby("metric", sort=True):
        rows = rows.sort_values("day")
        parts.append(f"<h3 style='font-size:1rem'>{escape(metric)}</h3>")
        parts.append(_history_chart(rows))
        body = []
        for row in rows.itertuples(index=False):
            estimated, low, high = (getattr(row, k, None) for k in ("estimated", "low", "high"))
            realized = getattr(row, "realized", None)
            gap = estimated - realized if _present(estimated) and _present(realized) else None
            weight = " style='font-weight:600'" if str(row.day) == current_day else ""
            cells = [
                escape(row.day),
                _number(estimated),
                f"{_number(low)} – {_number(high)}" if _present(low) else "–",
                _number(realized),
                _number(gap),
            ]
            body.append(f"<tr{weight}>" + "".join(f"<td>{c}</td>" for c in cells) + "</tr>")
        parts.append(
            "<table style='border-collapse:collapse' border='1' cellpadding='4'><thead><tr>"
            "<th>day</th><th>estimated</th><th>band</th><th>realized</th>"
            "<th>estimated − realized</th></tr></thead><tbody>" + "".join(body) + "</tbody></table>"
        )
    parts.append("</section>")
    return "".join(parts)


def _present(value) -> bool:
    return value is not None and not (isinstance(value, float) and math.isnan(value))


def _number(value) -> str:
    return f"{value:.4f}" if _present(value) else "–"


def _history_chart(rows: pd.DataFrame) -> str:
    """Band (shaded), estimate (line) and realized values (dots) over the days shown."""
    columns = [c for c in ("estimated", "low", "high", "realized") if c in rows]
    values = rows[columns].to_numpy(dtype=float)
    finite = values[np.isfinite(values)]
    if len(finite) == 0:
        return ""
    lowest, highest = float(finite.min()), float(finite.max())
    span = highest - lowest or 1.0
    n = len(rows)

    def x(i: int) -> float:
        return CHART_PAD + (CHART_WIDTH - 2 * CHART_PAD) * (i / (n - 1) if n > 1 else 0.5)

    def y(v: float) -> float:
        return CHART_PAD + (CHART_HEIGHT - 2 * CHART_PAD) * (1 - (v - lowest) / span)

    def column(name: str) -> list[float]:
        return rows[name].astype(float).tolist() if name in rows else [math.nan] * n

    low, high, estimated, realized = (column(c) for c in ("low", "high", "estimated", "realized"))
    shapes = []
    band = [(x(i), y(v)) for i, v in enumerate(high) if math.isfinite(v)] + [
        (x(i), y(v)) for i, v in reversed(list(enumerate(low))) if math.isfinite(v)
    ]
    if len(band) >= 3:
        points = " ".join(f"{a:.1f},{b:.1f}" for a, b in band)
        shapes.append(f"<polygon points='{points}' fill='#9ec5fe' fill-opacity='0.5'/>")
    line = [(x(i), y(v)) for i, v in enumerate(estimated) if math.isfinite(v)]
    if len(line) >= 2:
        points = " ".join(f"{a:.1f},{b:.1f}" for a, b in line)
        shapes.append(
            f"<polyline points='{points}' fill='none' stroke='#0d6efd' stroke-width='2'/>"
        )
    shapes += [
        f"<circle cx='{x(i):.1f}' cy='{y(v):.1f}' r='3' fill='#dc3545'/>"
        for i, v in enumerate(realized)
        if math.isfinite(v)
    ]
    return (
        f"<svg role='img' aria-label='estimated (line, band) and realized (dots)' "
        f"width='{CHART_WIDTH}' height='{CHART_HEIGHT}' viewBox='0 0 {CHART_WIDTH} {CHART_HEIGHT}' "
        f"style='display:block;margin:.25rem 0 .5rem'>{''.join(shapes)}</svg>"
    )
