"""Data and prediction drift between a reference window and one day, with Evidently."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

import pandas as pd

from monitoring_platform.config import ModelConfig, TrailingReference

PREDICTION = "prediction"

# Evidently's distance-like methods flag drift when the score reaches the threshold; its tests
# flag drift when the p-value falls below it (K-S when it falls to it).
_DISTANCE_METHODS = {
    "Wasserstein distance (normed)",
    "Jensen-Shannon distance",
    "PSI",
    "Kullback-Leibler divergence",
    "Hellinger distance",
    "Energy-distance",
}
_PVALUE_INCLUSIVE = {"K-S p_value"}


@dataclass(frozen=True)
class ColumnDrift:
    column: str
    method: str
    score: float
    threshold: float
    drifted: bool


@dataclass
class DriftResult:
    columns: list[ColumnDrift]
    reference_rows: int
    current_rows: int
    html: str = field(repr=False, default="")

    @property
    def features(self) -> list[ColumnDrift]:
        return [c for c in self.columns if c.column != PREDICTION]

    @property
    def prediction(self) -> ColumnDrift | None:
        return next((c for c in self.columns if c.column == PREDICTION), None)

    @property
    def drifted_features(self) -> list[str]:
        return [c.column for c in self.features if c.drifted]

    @property
    def drift_share(self) -> float:
        features = self.features
        return len(self.drifted_features) / len(features) if features else 0.0


def drift_verdict(method: str, score: float, threshold: float) -> bool:
    """Whether Evidently calls a column drifted, given its method, score and threshold."""
    if method in _DISTANCE_METHODS:
        return score >= threshold
    if method in _PVALUE_INCLUSIVE:
        return score <= threshold
    return score < threshold


def drift_frame(table: pd.DataFrame, model: ModelConfig) -> pd.DataFrame:
    """The columns drift is measured on, typed as Evidently expects."""
    columns = [f.name for f in model.features] + [PREDICTION]
    frame = table[columns].copy()  # segment-only columns (model_version) are left out
    for name in model.categorical_features:
        frame[name] = frame[name].astype("object")
    if not model.prediction_is_numeric:
        frame[PREDICTION] = frame[PREDICTION].astype("object")
    return frame


def compute_drift(
    reference: pd.DataFrame,
    current: pd.DataFrame,
    model: ModelConfig,
    *,
    render_html: bool = True,
) -> DriftResult:
    """Evidently's ``DataDriftPreset`` over the features and the prediction."""
    from evidently import DataDefinition, Dataset, Report
    from evidently.presets import DataDriftPreset

    numerical = list(model.numerical_features)
    categorical = list(model.categorical_features)
    (numerical if model.prediction_is_numeric else categorical).append(PREDICTION)
    definition = DataDefinition(numerical_columns=numerical, categorical_columns=categorical)
    ref = drift_frame(reference, model)
    cur = drift_frame(current, model)
    snapshot = Report([DataDriftPreset()]).run(
        current_data=Dataset.from_pandas(cur, data_definition=definition),
        reference_data=Dataset.from_pandas(ref, data_definition=definition),
    )
    columns = []
    for metric in snapshot.dict()["metrics"]:
        config = metric["config"]
        if not config["type"].endswith(":ValueDrift"):
            continue
        score = float(metric["value"])
        threshold = float(config["threshold"])
        method = config["method"]
        columns.append(
            ColumnDrift(
                column=config["column"],
                method=method,
                score=score,
                threshold=threshold,
                drifted=drift_verdict(method, score, threshold),
            )
        )
    order = {name: i for i, name in enumerate([*model_feature_names(model), PREDICTION])}
    columns.sort(key=lambda c: order.get(c.column, len(order)))
    html = ""
    if render_html:
        from monitoring_platform.lib.html import evidently_html

        html = evidently_html(snapshot)
    return DriftResult(columns=columns, reference_rows=len(ref), current_rows=len(cur), html=html)


def model_feature_names(model: ModelConfig) -> list[str]:
    return [f.name for f in model.features]


@dataclass(frozen=True)
class SegmentDrift:
    """Drift of one segment (rows with one value of a segment column), or why it was skipped."""

    segment: str
    value: str
    current_rows: int
    reference_rows: int
    drift_share: float | None = None
    drifted_features: tuple[str, ...] = ()
    prediction_drifted: bool | None = None
    skipped: str | None = None


def segment_drift(
    reference: pd.DataFrame, current: pd.DataFrame, model: ModelConfig, min_rows: int
) -> list[SegmentDrift]:
    """Drift per value of each configured segment column; small segments are skipped, with why.

    A segment needs ``min_rows`` rows in the current day and in the reference window: below that a
    distance between two handfuls of values is noise, not news.
    """
    out = []
    for segment in model.segments:
        features = [f for f in model.features if f.name != segment]
        if not features:
            continue
        inner = model.model_copy(update={"features": features, "segments": []})
        values = sorted({str(v) for v in current[segment].dropna().unique()})
        cur_col = current[segment].astype("object").map(str)
        ref_col = reference[segment].astype("object").map(str)
        for value in values:
            cur = current[cur_col == value]
            ref = reference[ref_col == value]
            if len(cur) < min_rows or len(ref) < min_rows:
                out.append(
                    SegmentDrift(
                        segment,
                        value,
                        len(cur),
                        len(ref),
                        skipped=(
                            f"too few rows to compare: {len(cur)} today and {len(ref)} in the "
                            f"reference window, {min_rows} needed in each"
                        ),
                    )
                )
                continue
            result = compute_drift(ref, cur, inner, render_html=False)
            prediction = result.prediction
            out.append(
                SegmentDrift(
                    segment,
                    value,
                    len(cur),
                    len(ref),
                    drift_share=result.drift_share,
                    drifted_features=tuple(result.drifted_features),
                    prediction_drifted=prediction.drifted if prediction else None,
                )
            )
    return out


def segment_section(segments: list[SegmentDrift]) -> str:
    """An HTML section (values escaped) listing each segment's drift or why it was skipped."""
    from monitoring_platform.lib.html import escape

    if not segments:
        return ""
    rows = []
    for s in segments:
        if s.skipped:
            verdict = f"skipped: {escape(s.skipped)}"
            share = ""
        else:
            share = f"{s.drift_share:.0%}"
            drifted = ", ".join(escape(f) for f in s.drifted_features) or "none"
            pred = "yes" if s.prediction_drifted else "no"
            verdict = f"drifted features: {drifted}; prediction drift: {pred}"
        rows.append(
            f"<tr><td>{escape(s.segment)}</td><td>{escape(s.value)}</td>"
            f"<td>{s.current_rows:,}</td><td>{s.reference_rows:,}</td><td>{share}</td>"
            f"<td>{verdict}</td></tr>"
        )
    return (
        "<section style='font-family:system-ui,sans-serif;margin:1.5rem 2rem'>"
        "<h2 style='font-size:1.2rem'>Drift by segment</h2>"
        "<table style='border-collapse:collapse' border='1' cellpadding='6'><thead><tr>"
        "<th>segment</th><th>value</th><th>rows today</th><th>rows in reference</th>"
        "<th>drifted share</th><th>verdict</th></tr></thead><tbody>"
        + "".join(rows)
        + "</tbody></table></section>"
    )


def reference_dates(model: ModelConfig, date: dt.date) -> list[dt.date]:
    """The days of the reference window for evaluating ``date``, oldest first."""
    reference = model.reference
    if isinstance(reference, TrailingReference):
        return [date - dt.timedelta(days=n) for n in range(reference.trailing_days, 0, -1)]
    days = (reference.end - reference.start).days
    return [reference.start + dt.timedelta(days=n) for n in range(days + 1)]
