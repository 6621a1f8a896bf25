"""A day's quality estimated from its predictions: fit on the labelled reference, then estimate.

The methods (binary, multiclass, regression) are in ``estimation_methods.py``; this module picks
the one for the model's task, refuses an estimate that cannot be trusted and says why, and
estimates the day overall and per model version.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from monitoring_platform.config import ModelConfig, Task
from monitoring_platform.lib.estimation_methods import (
    LOSS_MODEL_FOLDS,
    LOSS_MODEL_MAX_ROWS,
    PREDICTION,
    SEED,
    TARGET,
    ClassCalibrator,
    Estimate,
    EstimatedMetric,
    LossModel,
    ScoreCalibrator,
    calibration_error,
    category_levels,
    cross_fitted_probabilities,
    estimate_binary,
    estimate_multiclass,
    estimate_regression,
    fold_ids,
    loss_features,
    multiclass_calibration_error,
)

ALL_VERSIONS = ""
# The lake dataset of the daily estimates.
ESTIMATES = "estimated_performance"


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
    ids = fold_ids(len(labelled), LOSS_MODEL_FOLDS)
    errors = []
    for fold in range(LOSS_MODEL_FOLDS):
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
    """The estimate for a set of rows (a day, or one version of it) with the fitted method."""
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
    """Fit on the labelled reference, then estimate the day.

    ``reference`` holds prediction, label, features and model_version; ``day`` the same without
    the label.
    """
    return estimate_day(model, fit_reference(model, reference), day)


def estimate_gaps(
    estimates: pd.DataFrame | None,
    realized: dict[str, float],
    by_version: dict[str, dict[str, float]],
) -> list[tuple[str, str, float]]:
    """(model_version, metric, estimated - realized) for every metric both sides have."""
    out: list[tuple[str, str, float]] = []
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
