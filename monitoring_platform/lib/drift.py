"""Data and prediction drift between a reference window and one day, with Evidently.

Each column is scored with Evidently's stat test (the one its ``DataDriftPreset`` would choose,
or the one configured for the column). The score is judged in one of two modes:

- ``fixed``: Evidently's verdict, the score against the test's fixed threshold;
- ``calibrated`` (the default): the score against a bound learned from the reference window.
  Each reference day is scored against the rest of the window (leave one day out) with the same
  stat test; the bound is ``median + tolerance * 1.4826 * MAD`` of those day scores (for p-value
  tests on ``-log10 p``, so a smaller p-value is a larger strength). A column that moves a lot
  between normal days (a day of week, a daily cycle, the weather) gets a wide bound; a steady
  column a narrow one. A window with fewer than ``min_calibration_days`` scored days falls back
  to the fixed threshold, and says so.
"""

from __future__ import annotations

import math
from collections.abc import Callable, MutableMapping, Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from monitoring_platform.config import ColumnDriftSettings, ModelConfig
from monitoring_platform.lib.stattests import (
    beyond_bound,
    choose_test,
    drift_verdict,
    finite_values,
    jensenshannon_codes,
    learned_bound,
    prepared_samples,
    registered_for_kind,
    registered_test,
    run_ends,
    sample_score,
    spread_interval,
    stattest_name,
    wasserstein_norm_split,
)

PREDICTION = "prediction"


FIXED = "fixed"


CALIBRATED = "calibrated"


@dataclass(frozen=True)
class ColumnDrift:
    """One column's drift: Evidently's score and threshold, and the verdict of the mode in use.

    ``bound`` is the learned bound (in the score's units: a p-value for p-value tests) when the
    verdict is calibrated; ``note`` says why a calibrated mode fell back to the fixed threshold.
    """

    column: str
    method: str
    score: float
    threshold: float
    drifted: bool
    bound: float | None = None
    mode: str = FIXED
    note: str = ""
    reference_scores: tuple[float, ...] = ()


@dataclass
class DriftResult:
    """The drift of a day's columns against the reference window, and what was not measured."""

    columns: list[ColumnDrift]
    reference_rows: int
    current_rows: int
    html: str = field(repr=False, default="")
    excluded: tuple[str, ...] = ()
    unmeasured: tuple[str, ...] = ()

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


def dataset_verdict(result: DriftResult, model: ModelConfig) -> str | None:
    """The dataset drift check's verdict: None (passes), ``WARN`` or ``ERROR`` by drift share."""
    limits = model.thresholds.drift
    if result.drift_share >= limits.drift_share_error:
        return "ERROR"
    if result.drift_share >= limits.drift_share_warn:
        return "WARN"
    return None


def drift_frame(table: pd.DataFrame, model: ModelConfig) -> pd.DataFrame:
    """The columns drift is measured on, typed as Evidently expects (no copy of what fits)."""
    columns = [f.name for f in model.features] + [PREDICTION]
    # Segment-only columns (model_version) are left out.
    frame = pd.DataFrame({name: table[name] for name in columns}, copy=False)
    categorical = list(model.categorical_features)
    if not model.prediction_is_numeric:
        categorical.append(PREDICTION)
    for name in categorical:
        if frame[name].dtype != object:
            frame[name] = frame[name].astype("object")
    return frame


def drift_columns(model: ModelConfig) -> dict[str, str]:
    """Evidently's column kind (``num`` or ``cat``) of each drift column, in report order.

    Columns whose drift settings say ``exclude`` are left out.
    """
    kinds = {f.name: "num" if f.name in model.numerical_features else "cat" for f in model.features}
    kinds[PREDICTION] = "num" if model.prediction_is_numeric else "cat"
    return {c: k for c, k in kinds.items() if not model.drift_settings(c).exclude}


def column_drift(
    column: str,
    reference: pd.Series | np.ndarray,
    current: pd.Series | np.ndarray,
    kind: str,
    settings: ColumnDriftSettings | None = None,
    merged: tuple[np.ndarray, np.ndarray] | None = None,
) -> ColumnDrift:
    """One column's drift with the stat test and threshold Evidently's preset would use.

    ``reference`` and ``current`` are the column's values: a Series, or for a numerical column
    its finite values already sorted (as ``segment_drift`` prepares them); ``merged`` may give
    those of both sorted together and which are the current ones. ``settings`` may name
    another stat test or threshold. The normed Wasserstein distance is computed from the sorted
    values; every other test is Evidently's own function. The verdict is Evidently's (fixed).
    """
    ref, cur, distinct_above = prepared_samples(reference, current, kind)
    if not len(ref) or not len(cur):
        where = "reference window" if not len(ref) else "current day"
        raise ValueError(f"column {column!r} has no values in the {where} to measure drift on")
    test = choose_test(settings, len(ref), kind, distinct_above)
    threshold = test.default_threshold
    if settings is not None and settings.threshold is not None:
        threshold = settings.threshold
    score = sample_score(test, ref, cur, kind, threshold, merged)
    return ColumnDrift(
        column, test.display_name, score, threshold, drift_verdict(test.name, score, threshold)
    )


def reference_day_scores(
    method: str, reference: pd.Series, days: np.ndarray, kind: str, threshold: float
) -> list[float]:
    """Each reference day's score against the rest of the window, with the same stat test.

    ``days`` holds each reference row's day number. A numerical column is sorted once; each
    day's values and the rest are picked out of the sorted order, so both stay sorted. Days
    without values (or a window of one day), and scores the test leaves undefined, give none.
    """
    test = registered_test(method)
    if kind == "num":
        values = reference.to_numpy(dtype=float)
        finite = np.isfinite(values)
        order = np.argsort(values[finite], kind="stable")
        values, days = values[finite][order], days[finite][order]
    else:
        present = reference.notna().to_numpy()
        values, days = reference[present], days[present]
    score_day = _day_scorer(test, values, kind, threshold)
    scores = []
    for day in np.unique(days):
        mine = days == day
        if mine.all():
            continue
        score = score_day(mine)
        if math.isfinite(score):  # a test undefined on a day's values (one category) says nothing
            scores.append(score)
    return scores


def _day_scorer(test, values, kind: str, threshold: float) -> Callable[[np.ndarray], float]:
    """Scores the rows ``mine`` of the window's values against the rest.

    The normed Wasserstein distance (sorted numerical values) and the Jensen-Shannon distance
    (categories) reuse what every day shares: the window's order and runs of equal values, its
    categories' codes. Either gives the same score as :func:`sample_score` on the two parts.
    """
    from evidently.legacy.calculations import stattests

    if kind == "num" and test is stattests.wasserstein_stat_test and values.size:
        ends = run_ends(values)
        return lambda mine: wasserstein_norm_split(values, mine, ends)
    if kind == "cat" and test is stattests.jensenshannon_stat_test:
        codes, uniques = pd.factorize(values)
        labels = list(uniques)
        return lambda mine: jensenshannon_codes(codes[~mine], codes[mine], labels)
    return lambda mine: sample_score(test, values[~mine], values[mine], kind, threshold)


def calibrated(
    fixed: ColumnDrift,
    reference: pd.Series,
    days: np.ndarray | None,
    kind: str,
    model: ModelConfig,
    cache: MutableMapping[str, list[float]] | None = None,
) -> ColumnDrift:
    """The column's verdict in the model's drift mode, from its fixed (Evidently) result.

    ``cache`` holds the reference days' scores by column and test, for a reference window that
    is reused (a pinned window, a re-run): they depend on nothing else.
    """
    limits = model.thresholds.drift
    if limits.mode == FIXED:
        return fixed
    settings = model.drift_settings(fixed.column)
    tolerance = settings.tolerance if settings.tolerance is not None else limits.tolerance
    needed = limits.min_calibration_days
    if days is None:
        note = "the reference's rows per day are unknown: Evidently's fixed threshold is used"
        return ColumnDrift(**{**fixed.__dict__, "note": note})
    key = f"{fixed.column}|{stattest_name(fixed.method)}"
    if cache is not None and key in cache:
        scores = list(cache[key])
    else:
        scores = reference_day_scores(fixed.method, reference, days, kind, fixed.threshold)
        if cache is not None:
            cache[key] = scores
    if len(scores) < needed:
        note = (
            f"only {len(scores)} reference days could be scored against the rest of the window "
            f"({needed} needed to learn a bound): Evidently's fixed threshold is used"
        )
        return ColumnDrift(**{**fixed.__dict__, "note": note, "reference_scores": tuple(scores)})
    bound = learned_bound(fixed.method, scores, tolerance)
    return ColumnDrift(
        column=fixed.column,
        method=fixed.method,
        score=fixed.score,
        threshold=fixed.threshold,
        drifted=beyond_bound(fixed.method, fixed.score, bound),
        bound=bound,
        mode=CALIBRATED,
        reference_scores=tuple(scores),
    )


def day_numbers(rows_per_day: Sequence[int], total: int) -> np.ndarray:
    """Each reference row's day number, from the rows of each day in the window's order."""
    if sum(rows_per_day) != total:
        raise ValueError(
            f"the reference days hold {sum(rows_per_day)} rows, the reference frame {total}"
        )
    return np.repeat(np.arange(len(rows_per_day)), rows_per_day)


@dataclass(frozen=True)
class MissingShare:
    """A feature's share of missing values today, in the reference, and the range it may take."""

    column: str
    share: float
    reference_share: float
    low: float
    bound: float

    @property
    def exceeded(self) -> bool:
        """Outside its range: more missing values, or fewer (a field newly logged)."""
        return not self.low <= self.share <= self.bound


def _missing(values: pd.Series) -> np.ndarray:
    if pd.api.types.is_float_dtype(values.dtype):
        return ~np.isfinite(values.to_numpy())
    return values.isna().to_numpy()


def missing_shares(
    reference: pd.DataFrame,
    current: pd.DataFrame,
    model: ModelConfig,
    reference_day_rows: Sequence[int] | None = None,
) -> list[MissingShare]:
    """Each feature's missing share today against the range the reference days show.

    The range is the spread interval of the reference days' shares (the rule of calibrated
    drift) when there are ``min_calibration_days`` of them, else the reference's share; widened
    by ``missing_share_margin`` on each side.
    """
    limits = model.thresholds.drift
    days = (
        day_numbers(reference_day_rows, len(reference)) if reference_day_rows is not None else None
    )
    out = []
    for feature in model.features:
        ref = _missing(reference[feature.name])
        cur = _missing(current[feature.name])
        ref_share = float(ref.mean()) if ref.size else 0.0
        low = high = ref_share
        if days is not None:
            per_day = [float(ref[days == d].mean()) for d in np.unique(days)]
            if len(per_day) >= limits.min_calibration_days:
                low, high = spread_interval(per_day, limits.tolerance)
        margin = limits.missing_share_margin
        out.append(
            MissingShare(
                column=feature.name,
                share=float(cur.mean()) if cur.size else 0.0,
                reference_share=ref_share,
                low=max(0.0, low - margin),
                bound=min(1.0, high + margin),
            )
        )
    return out


def compute_drift(
    reference: pd.DataFrame,
    current: pd.DataFrame,
    model: ModelConfig,
    *,
    render_html: bool = True,
    reference_day_rows: Sequence[int] | None = None,
    calibration_cache: MutableMapping[str, list[float]] | None = None,
) -> DriftResult:
    """Drift of each feature and of the prediction, as Evidently's ``DataDriftPreset`` scores it.

    With ``render_html`` the scores come from Evidently's ``ValueDrift`` of each column (each
    column computed once, with its distribution widgets, all on one page); without it, from the
    same stat tests called directly. Either way the method is the one the preset would choose
    (or the configured one). ``reference_day_rows`` (the rows of each reference day, in the
    frame's order) lets the calibrated mode learn each column's bound.
    """
    kinds = drift_columns(model)
    excluded = tuple(c for c in [*(f.name for f in model.features), PREDICTION] if c not in kinds)
    ref = drift_frame(reference, model)
    cur = drift_frame(current, model)
    days = day_numbers(reference_day_rows, len(ref)) if reference_day_rows is not None else None
    columns, snapshots, unmeasured = [], [], []
    for column, kind in kinds.items():
        settings = model.drift_settings(column)
        empty = [
            w
            for w, f in (("reference window", ref), ("day", cur))
            if finite_values(f[column]).empty
        ]
        if empty:
            # All missing (a field not logged yet): the missing-share check speaks for it.
            unmeasured.append(f"{column} (no values in the {' or the '.join(empty)})")
            continue
        if render_html:
            fixed, snapshot = _evidently_column(column, ref[column], cur[column], kind, settings)
            snapshots.append(snapshot)
        else:
            fixed = column_drift(column, ref[column], cur[column], kind, settings)
        columns.append(calibrated(fixed, ref[column], days, kind, model, calibration_cache))
    html = ""
    if render_html:
        from monitoring_platform.lib.html import evidently_html

        html = evidently_html(*snapshots)
    return DriftResult(
        columns=columns,
        reference_rows=len(ref),
        current_rows=len(cur),
        html=html,
        excluded=excluded,
        unmeasured=tuple(unmeasured),
    )


def _evidently_column(
    column: str, reference: pd.Series, current: pd.Series, kind: str, settings
) -> tuple[ColumnDrift, object]:
    """One column scored by Evidently's ``ValueDrift``, with its report snapshot."""
    from evidently import DataDefinition, Dataset, Report
    from evidently.legacy.core import ColumnType
    from evidently.metrics import ValueDrift

    ref, cur, distinct_above = prepared_samples(reference, current, kind)
    test = choose_test(settings, len(ref), kind, distinct_above)
    # Named so Evidently need not choose again (it would count every distinct value). A test
    # the preset picks for a kind it is not registered for (Z-test and chi-square on a
    # numerical column with few values) is left to Evidently, which picks the same one.
    named = test.name if registered_for_kind(test, ColumnType(kind)) else None
    # One report per column: Evidently's copies of the data stay one column wide.
    definition = DataDefinition(
        numerical_columns=[column] if kind == "num" else [],
        categorical_columns=[column] if kind == "cat" else [],
    )
    snapshot = Report([ValueDrift(column=column, method=named, threshold=settings.threshold)]).run(
        current_data=Dataset.from_pandas(current.to_frame(), data_definition=definition),
        reference_data=Dataset.from_pandas(reference.to_frame(), data_definition=definition),
    )
    (metric,) = snapshot.dict()["metrics"]
    config = metric["config"]
    if config["method"] not in (test.name, test.display_name):
        raise RuntimeError(
            f"column {column!r}: Evidently used {config['method']!r}, expected {test.name!r}"
        )
    score, threshold = float(metric["value"]), float(config["threshold"])
    drifted = drift_verdict(test.name, score, threshold)
    return ColumnDrift(column, test.display_name, score, threshold, drifted), snapshot
