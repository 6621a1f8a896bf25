"""Model quality once the truth arrives: labels joined to predictions, metrics, Evidently's report.

A prediction day's quality is computed from every label received so far for its requests (labels
arrive over the following days; a request labelled twice counts with its latest label). Metrics
are computed here (NumPy for 0/1 labels, scikit-learn otherwise) and shown in Evidently's
classification or regression report, overall and per model version.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from markupsafe import Markup

from monitoring_platform.config import ModelConfig, Task
from monitoring_platform.lib.binary_quality import binary_quality, roc_auc
from monitoring_platform.lib.html import evidently_html, render
from monitoring_platform.lib.reports import (
    MODEL_PERFORMANCE,
    Navigation,
    page_heading,
    page_title,
)

TARGET = "label"
PREDICTION = "prediction"
LABEL_COLUMNS = ["request_id", TARGET, "labeled_at"]  # what a join reads of the labels

# Metric names as stored in the metric store, and whether higher is better.
HIGHER_IS_BETTER = {
    "roc_auc": True,
    "precision": True,
    "recall": True,
    "accuracy": True,
    "f1_macro": True,
    "log_loss": False,
    "mae": False,
    "rmse": False,
    "mape": False,
}


@dataclass
class PerformanceResult:
    """A prediction day's quality from the labels received so far, overall and per version."""

    predictions: int
    labeled: int
    metrics: dict[str, float]
    by_version: dict[str, dict[str, float]] = field(default_factory=dict)
    html: str = field(default="", repr=False)
    # Each metric's confidence interval for the labelled rows it rests on: (low, high).
    intervals: dict[str, tuple[float, float]] = field(default_factory=dict)
    # The same metrics on the reference window's labelled predictions, when measured.
    baseline: dict[str, float] = field(default_factory=dict)

    @property
    def coverage(self) -> float:
        return self.labeled / self.predictions if self.predictions else 0.0


def latest_labels(labels: pd.DataFrame) -> pd.DataFrame:
    """One label per request: the one received last (ties: the later row)."""
    if labels.empty:
        return labels[["request_id", TARGET]].copy()
    ordered = labels.sort_values("labeled_at", kind="stable")
    return ordered.drop_duplicates("request_id", keep="last")[["request_id", TARGET]]


def join_labels(predictions: pd.DataFrame, labels: pd.DataFrame) -> pd.DataFrame:
    """The scored predictions (a prediction present) with their latest label, where one arrived.

    A request scored twice is an error (pandas' ``MergeError``, as a one-to-one merge raises).
    """
    scored = predictions[predictions[PREDICTION].notna()]
    latest = latest_labels(labels)
    # The one-to-one check by hashing: pandas' ``validate=`` sorts the string keys to check it.
    if not scored["request_id"].is_unique:
        raise pd.errors.MergeError(
            "Merge keys are not unique in left dataset; not a one-to-one merge"
        )
    return scored.merge(latest, on="request_id", how="left")


def quality_metrics(model: ModelConfig, y_true: pd.Series, y_pred: pd.Series) -> dict[str, float]:
    """The task's quality metrics on labelled rows; a metric that is undefined is left out."""
    from sklearn import metrics as m

    if len(y_true) == 0:
        return {}
    if model.task == Task.binary_classification:
        y = y_true.astype(float).to_numpy()
        p = y_pred.astype(float).clip(0, 1).to_numpy()
        if _zero_one(y):
            return binary_quality(y, p, model.classification_threshold)
        # Other label values: scikit-learn decides what they mean (or refuses them).
        hard = (p >= model.classification_threshold).astype(int)
        out = {
            "precision": float(m.precision_score(y, hard, zero_division=0)),
            "recall": float(m.recall_score(y, hard, zero_division=0)),
            "accuracy": float(m.accuracy_score(y, hard)),
        }
        if len(np.unique(y)) == 2:
            out["roc_auc"] = float(m.roc_auc_score(y, p))
            out["log_loss"] = float(m.log_loss(y, p, labels=[0, 1]))
        return out
    if model.task == Task.regression or model.task == Task.ranking_score:
        y = y_true.astype(float).to_numpy()
        p = y_pred.astype(float).to_numpy()
        out = {
            "mae": float(m.mean_absolute_error(y, p)),
            "rmse": float(math.sqrt(m.mean_squared_error(y, p))),
        }
        nonzero = y != 0
        if nonzero.any():
            out["mape"] = float(np.mean(np.abs((y[nonzero] - p[nonzero]) / y[nonzero])) * 100)
        return out
    y = y_true.astype(str)
    p = y_pred.astype(str)
    return {
        "accuracy": float(m.accuracy_score(y, p)),
        "f1_macro": float(m.f1_score(y, p, average="macro", zero_division=0)),
    }


def _zero_one(labels: np.ndarray) -> bool:
    return bool(((labels == 0) | (labels == 1)).all())


def _sklearn_auc(y: np.ndarray, p: np.ndarray) -> float:
    from sklearn.metrics import roc_auc_score

    return float(roc_auc_score(y, p))


def labelled_rows(joined: pd.DataFrame) -> pd.DataFrame:
    """The joined predictions whose label has arrived."""
    return joined[joined[TARGET].notna()]


def _z(confidence: float) -> float:
    from scipy.stats import norm

    return float(norm.ppf(0.5 + confidence / 2))


def wilson_interval(successes: int, n: int, confidence: float = 0.95) -> tuple[float, float]:
    """Wilson's score interval of a proportion."""
    if n == 0:
        return 0.0, 1.0
    z = _z(confidence)
    p = successes / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return max(0.0, centre - half), min(1.0, centre + half)


def auc_interval(auc: float, positives: int, negatives: int, confidence: float = 0.95):
    """Hanley and McNeil's (1982) normal interval of a ROC AUC."""
    q1, q2 = auc / (2 - auc), 2 * auc * auc / (1 + auc)
    variance = (
        auc * (1 - auc) + (positives - 1) * (q1 - auc**2) + (negatives - 1) * (q2 - auc**2)
    ) / (positives * negatives)
    half = _z(confidence) * math.sqrt(max(variance, 0.0))
    return max(0.0, auc - half), min(1.0, auc + half)


def mean_interval(values: np.ndarray, confidence: float = 0.95) -> tuple[float, float]:
    """Normal interval of a mean of per-row values (standard error ``sd / sqrt(n)``)."""
    mean = float(values.mean())
    if values.size < 2:
        return mean, mean
    half = _z(confidence) * float(values.std(ddof=1)) / math.sqrt(values.size)
    return mean - half, mean + half


def quality_intervals(
    model: ModelConfig, y_true: pd.Series, y_pred: pd.Series, confidence: float = 0.95
) -> dict[str, tuple[float, float]]:
    """Each quality metric's confidence interval for the labelled rows it is computed on.

    Proportions (precision, recall, accuracy) by Wilson; ROC AUC by Hanley-McNeil; log loss,
    MAE and MAPE as means of per-row values; RMSE as the square root of the interval of the mean
    squared error. F1 (macro) has no interval: it is judged on its value.
    """
    if len(y_true) == 0:
        return {}
    if model.task == Task.binary_classification:
        y = y_true.astype(float).to_numpy()
        p = y_pred.astype(float).clip(0, 1).to_numpy()
        hard = p >= model.classification_threshold
        positive = y == 1
        tp = int((hard & positive).sum())
        out = {
            "precision": wilson_interval(tp, int(hard.sum()), confidence),
            "recall": wilson_interval(tp, int(positive.sum()), confidence),
            "accuracy": wilson_interval(int((hard == positive).sum()), len(y), confidence),
        }
        if 0 < positive.sum() < len(y):
            auc = roc_auc(positive, p) if _zero_one(y) else _sklearn_auc(y, p)
            out["roc_auc"] = auc_interval(
                auc, int(positive.sum()), int((~positive).sum()), confidence
            )
            clipped = np.clip(p, 1e-15, 1 - 1e-15)
            losses = -(y * np.log(clipped) + (1 - y) * np.log(1 - clipped))
            out["log_loss"] = mean_interval(losses, confidence)
        return out
    if model.task in (Task.regression, Task.ranking_score):
        y = y_true.astype(float).to_numpy()
        error = y_pred.astype(float).to_numpy() - y
        low, high = mean_interval(error**2, confidence)
        out = {
            "mae": mean_interval(np.abs(error), confidence),
            "rmse": (math.sqrt(max(low, 0.0)), math.sqrt(max(high, 0.0))),
        }
        nonzero = y != 0
        if nonzero.any():
            low, high = mean_interval(np.abs(error[nonzero] / y[nonzero]) * 100, confidence)
            out["mape"] = (low, high)
        return out
    y, p = y_true.astype(str), y_pred.astype(str)
    return {"accuracy": wilson_interval(int((y == p).sum()), len(y), confidence)}


def quality_violations(
    model: ModelConfig,
    metrics: dict[str, float],
    intervals: dict[str, tuple[float, float]] | None = None,
) -> list[str]:
    """Each configured limit the metrics break, as a sentence part.

    A metric with a confidence interval breaks its limit only when the whole interval is past
    it (the evidence says so, not the noise of a small sample); one without, by its value.
    """
    intervals = intervals or {}
    broken = []
    for metric, kind, limit in model.thresholds.quality.limits():
        value = metrics.get(metric)
        if value is None:
            continue
        low, high = intervals.get(metric, (value, value))
        if (kind == "min" and high < limit) or (kind == "max" and low > limit):
            word = "below" if kind == "min" else "above"
            interval = f" (interval {low:.4g}..{high:.4g})" if metric in intervals else ""
            broken.append(f"{metric} {value:.4g}{interval} is {word} its limit {limit:g}")
    return broken


def evaluate(
    model: ModelConfig,
    predictions: pd.DataFrame,
    labels: pd.DataFrame,
    *,
    render_html: bool = True,
    day: dt.date | str = "",
    baseline: dict[str, float] | None = None,
) -> PerformanceResult:
    """Quality of one prediction day given the labels received so far.

    ``baseline`` is the quality measured on the reference window, shown beside the day's.
    """
    return evaluate_joined(
        model,
        join_labels(predictions, labels),
        render_html=render_html,
        day=day,
        baseline=baseline,
    )


def evaluate_joined(
    model: ModelConfig,
    joined: pd.DataFrame,
    *,
    render_html: bool = True,
    day: dt.date | str = "",
    baseline: dict[str, float] | None = None,
) -> PerformanceResult:
    """:func:`evaluate` of predictions already joined with their labels (:func:`join_labels`)."""
    labelled = labelled_rows(joined)
    result = PerformanceResult(
        predictions=len(joined),
        labeled=len(labelled),
        metrics=quality_metrics(model, labelled[TARGET], labelled[PREDICTION]),
        intervals=quality_intervals(
            model, labelled[TARGET], labelled[PREDICTION], model.thresholds.quality.confidence
        ),
        baseline=dict(baseline or {}),
    )
    for version, rows in joined.groupby("model_version", sort=True):
        done = rows[rows[TARGET].notna()]
        result.by_version[str(version)] = {
            "predictions": float(len(rows)),
            "labeled": float(len(done)),
            "label_coverage": len(done) / len(rows) if len(rows) else 0.0,
            **quality_metrics(model, done[TARGET], done[PREDICTION]),
        }
    if render_html:
        result.html = render_report(model, labelled, result, day)
    return result


def render_report(
    model: ModelConfig,
    labelled: pd.DataFrame,
    result: PerformanceResult,
    day: dt.date | str,
    sections: Sequence[str] = (),
) -> str:
    """The page: each limit met or not, a per-version table, the sections, Evidently's report.

    ``sections`` are HTML that escaped its own values.
    """
    notes, evidently = [], None
    if result.labeled == 0:
        notes.append("No labels have arrived for these predictions yet.")
    else:
        try:
            evidently = evidently_html(_evidently_snapshot(model, labelled))
        except Exception as exc:  # a report that cannot be drawn must not hide the numbers
            notes.append(f"Evidently could not draw its report for this data: {exc}")
    limits = limit_rows(model, result)
    return render(
        "model_performance.html",
        title=page_title(MODEL_PERFORMANCE, model.name, day),
        heading=page_heading(MODEL_PERFORMANCE, model.name, day),
        nav=Navigation(root="../../", model=model.name, day=str(day)),
        verdict=performance_verdict(model, result, limits),
        task=model.task.value,
        coverage=f"{result.coverage:.1%}",
        predictions=result.predictions,
        limit_columns=LIMIT_COLUMNS,
        limit_rows=limits,
        columns=version_columns(result),
        rows=version_rows(result),
        notes=notes,
        sections=[Markup(section) for section in sections],
        evidently=evidently,
    )


def _evidently_snapshot(model: ModelConfig, labelled: pd.DataFrame):
    from evidently import BinaryClassification, DataDefinition, Dataset, Regression, Report
    from evidently.presets import ClassificationPreset, RegressionPreset

    frame = labelled[[TARGET, PREDICTION]].copy()
    if model.task == Task.binary_classification:
        frame[TARGET] = frame[TARGET].astype(int)
        definition = DataDefinition(
            classification=[
                BinaryClassification(target=TARGET, prediction_probas=PREDICTION, pos_label=1)
            ]
        )
        preset = ClassificationPreset(probas_threshold=model.classification_threshold)
    elif model.task == Task.multiclass_classification:
        from evidently import MulticlassClassification

        frame = frame.astype(str)
        definition = DataDefinition(
            classification=[MulticlassClassification(target=TARGET, prediction_labels=PREDICTION)]
        )
        preset = ClassificationPreset()
    else:
        definition = DataDefinition(regression=[Regression(target=TARGET, prediction=PREDICTION)])
        preset = RegressionPreset()
    return Report([preset]).run(
        current_data=Dataset.from_pandas(frame, data_definition=definition), reference_data=None
    )


def _fmt(value: float | None) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "–"
    return f"{value:,.0f}" if float(value).is_integer() and abs(value) >= 1 else f"{value:.4f}"


LIMIT_COLUMNS = [
    ("metric", "metric"),
    ("observed", "today"),
    ("interval", "confidence interval"),
    ("baseline", "reference window"),
    ("limit", "limit"),
    ("verdict", "verdict"),
]


def _past_limit(kind: str, limit: float, low: float, high: float) -> bool:
    """The whole interval is past a ``min`` or ``max`` limit."""
    return (kind == "min" and high < limit) or (kind == "max" and low > limit)


def limit_rows(model: ModelConfig, result: PerformanceResult) -> list[dict]:
    """Each configured quality limit and whether today's value met it, in words."""
    judged = result.labeled >= model.thresholds.quality.min_labeled_rows
    rows = []
    for metric, kind, limit in model.thresholds.quality.limits():
        value = result.metrics.get(metric)
        if value is None or not judged:
            verdict = {"text": "not judged", "kind": "na"}
        elif _past_limit(kind, limit, *result.intervals.get(metric, (value, value))):
            verdict = {
                "text": "Failed: " + ("below" if kind == "min" else "above"),
                "kind": "error",
            }
        else:
            verdict = {"text": "Met", "kind": "ok"}
        rows.append(
            {
                "metric": metric,
                "observed": _fmt(value),
                "interval": "–"
                if metric not in result.intervals
                else " – ".join(_fmt(end) for end in result.intervals[metric]),
                "baseline": _fmt(result.baseline.get(metric)),
                "limit": f"{'at least' if kind == 'min' else 'at most'} {limit:g}",
                "verdict": verdict,
            }
        )
    return rows


def performance_verdict(model: ModelConfig, result: PerformanceResult, limits: list[dict]) -> dict:
    """The page's verdict: not judged yet, every limit met, or the limits broken."""
    needed = model.thresholds.quality.min_labeled_rows
    if result.labeled < needed:
        return {
            "kind": "na",
            "word": "Not judged yet",
            "text": f"{result.labeled:,} labelled predictions, fewer than the {needed:,} needed.",
        }
    failed = [r["metric"] for r in limits if r["verdict"]["kind"] == "error"]
    if failed:
        return {
            "kind": "error",
            "word": "Quality below its limits",
            "text": "Failed: " + ", ".join(failed) + ".",
        }
    if not limits:
        return {
            "kind": "na",
            "word": "No limits configured",
            "text": "Quality is shown, not judged.",
        }
    return {
        "kind": "ok",
        "word": "Quality within its limits",
        "text": f"{len(limits)} limit(s) met.",
    }


def _metric_names(result: PerformanceResult) -> list[str]:
    return [
        k
        for k in HIGHER_IS_BETTER
        if k in result.metrics or any(k in v for v in result.by_version.values())
    ]


def version_columns(result: PerformanceResult) -> list[tuple[str, str]]:
    """The per-version table's columns: counts, coverage, then each quality metric."""
    fixed = [
        ("version", "version"),
        ("predictions", "predictions"),
        ("labeled", "labelled"),
        ("label_coverage", "label coverage"),
    ]
    return fixed + [(n, n) for n in _metric_names(result)]


def version_rows(result: PerformanceResult) -> list[dict]:
    """One row for all versions, then one per model version (keys of ``version_columns``)."""
    overall = {
        "predictions": result.predictions,
        "labeled": result.labeled,
        "label_coverage": result.coverage,
        **result.metrics,
    }
    rows = []
    shown = [("all versions", overall), *result.by_version.items()]
    if result.baseline:
        shown.append(("reference window (baseline)", result.baseline))
    for version, values in shown:
        row = {name: _fmt(values.get(name)) for name in values}
        row["version"] = version
        coverage = values.get("label_coverage")
        row["label_coverage"] = "–" if coverage is None else f"{coverage:.1%}"
        rows.append(row)
    return rows
