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

import datetime as dt
import math
from collections.abc import Callable, MutableMapping, Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from markupsafe import Markup

from monitoring_platform.config import ColumnDriftSettings, ModelConfig, TrailingReference
from monitoring_platform.lib.html import render
from monitoring_platform.lib.reports import DATA_DRIFT, Navigation, page_heading, page_title

PREDICTION = "prediction"
FIXED = "fixed"
CALIBRATED = "calibrated"

# Evidently's stat tests by registry name: whether the score is a p-value (drift when it is
# small) or a distance (drift when it is large), and whether the threshold itself counts as drift.
_PVALUE_TESTS = {
    "anderson": False,
    "chisquare": False,
    "cramer_von_mises": True,
    "es": False,
    "fisher_exact": False,
    "g_test": False,
    "ks": True,
    "mannw": False,
    "empirical_mmd": False,
    "t_test": False,
    "TVD": False,
    "z": False,
}
_DISTANCE_TESTS = {
    "ed": False,
    "hellinger": True,
    "jensenshannon": True,
    "kl_div": True,
    "psi": True,
    "wasserstein": True,
}
# The smallest p-value told apart from zero: -log10 of it is the largest strength.
_P_FLOOR = 1e-300


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


def _test_name(method: str) -> str:
    """The registry name of a stat test given its name or its display name."""
    if method in _PVALUE_TESTS or method in _DISTANCE_TESTS:
        return method
    from evidently.legacy.calculations.stattests import registry

    load_evidently()
    for name, by_kind in registry._registered_stat_tests.items():
        if any(t.display_name == method for t in by_kind.values()):
            return name
    raise ValueError(f"unknown Evidently stat test {method!r}")


def is_pvalue_test(method: str) -> bool:
    """Whether a stat test (name or display name) scores with a p-value."""
    return _test_name(method) in _PVALUE_TESTS


def dataset_verdict(result: DriftResult, model: ModelConfig) -> str | None:
    """The dataset drift check's verdict: None (passes), ``WARN`` or ``ERROR`` by drift share."""
    limits = model.thresholds.drift
    if result.drift_share >= limits.drift_share_error:
        return "ERROR"
    if result.drift_share >= limits.drift_share_warn:
        return "WARN"
    return None


def drift_verdict(method: str, score: float, threshold: float) -> bool:
    """Whether Evidently calls a column drifted, given its method, score and fixed threshold."""
    name = _test_name(method)
    if name in _DISTANCE_TESTS:
        return score >= threshold if _DISTANCE_TESTS[name] else score > threshold
    return score <= threshold if _PVALUE_TESTS[name] else score < threshold


def strength(method: str, score: float) -> float:
    """How strongly a score speaks for drift: the distance, or ``-log10`` of the p-value."""
    if is_pvalue_test(method):
        return -math.log10(min(max(score, _P_FLOOR), 1.0))
    return score


def learned_bound(method: str, day_scores: Sequence[float], tolerance: float) -> float:
    """The calibrated bound from the leave-one-day-out scores of the reference days.

    On strengths ``x`` (distances, or ``-log10 p``): :func:`spread_bound`, returned in the
    score's units (a p-value for p-value tests).
    """
    bound = spread_bound([strength(method, s) for s in day_scores], tolerance)
    return 10.0**-bound if is_pvalue_test(method) else bound


def spread_bound(values: Sequence[float], tolerance: float) -> float:
    """The upper end of :func:`spread_interval`."""
    return spread_interval(values, tolerance)[1]


def spread_interval(values: Sequence[float], tolerance: float) -> tuple[float, float]:
    """``median -/+ tolerance * spread`` of per-day values, robust to a few unusual days.

    The spread is the median absolute deviation scaled to a standard deviation
    (``1.4826 * MAD``); when more than half the days agree exactly (MAD 0) it is the sample
    standard deviation instead. One reference day that carried drift (a trailing window right
    after an incident) moves neither the median nor the MAD much, so it does not widen the
    bound as it would widen a mean and a standard deviation.
    """
    x = np.asarray(values, dtype=float)
    if x.size < 2:
        raise ValueError("a bound needs the values of at least two reference days")
    centre = float(np.median(x))
    spread = 1.4826 * float(np.median(np.abs(x - centre)))
    if spread == 0.0:
        spread = float(x.std(ddof=1))
    ordered = np.sort(x)
    # A pattern seen on two reference days is normal: the range holds the second-smallest and
    # the second-largest value (one unusual day stays outside).
    return (
        min(centre - tolerance * spread, float(ordered[1])),
        max(centre + tolerance * spread, float(ordered[-2])),
    )


def beyond_bound(method: str, score: float, bound: float) -> bool:
    """The calibrated verdict: the score speaks for drift more strongly than the bound."""
    s, b = strength(method, score), strength(method, bound)
    return s > b + 1e-9 * max(1.0, abs(b))


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


def load_evidently() -> None:
    """Import the Evidently modules drift uses, before more than one thread uses them."""
    import evidently.legacy.calculations.stattests  # noqa: F401
    import evidently.metrics  # noqa: F401


def drift_columns(model: ModelConfig) -> dict[str, str]:
    """Evidently's column kind (``num`` or ``cat``) of each drift column, in report order.

    Columns whose drift settings say ``exclude`` are left out.
    """
    kinds = {f.name: "num" if f.name in model.numerical_features else "cat" for f in model.features}
    kinds[PREDICTION] = "num" if model.prediction_is_numeric else "cat"
    return {c: k for c, k in kinds.items() if not model.drift_settings(c).exclude}


def _clean(values: pd.Series) -> pd.Series:
    """What Evidently compares: the values without missing and infinite ones."""
    if pd.api.types.is_float_dtype(values.dtype):
        return values[np.isfinite(values.to_numpy())]
    return values.dropna()


def _more_distinct_than(reference: pd.Series, current: pd.Series, limit: int) -> bool:
    """``nunique`` of both samples together exceeds ``limit``; decided on a prefix when it can."""
    head = pd.concat([reference.iloc[:_PREFIX], current.iloc[:_PREFIX]])
    if head.nunique() > limit:
        return True  # a prefix already has more: so does the whole
    return pd.concat([reference, current]).nunique() > limit


_PREFIX = 4096


def _sorted_distinct_above(reference: np.ndarray, current: np.ndarray, limit: int) -> bool:
    """The same question for two sorted arrays, answered from their runs of equal values."""
    counts = [1 + int(np.count_nonzero(np.diff(a))) if a.size else 0 for a in (reference, current)]
    if max(counts) > limit:
        return True
    return np.unique(np.concatenate([np.unique(reference), np.unique(current)])).size > limit


def default_stattest(reference_rows: int, kind: str, distinct_above: Callable[[int], bool]):
    """The stat test Evidently picks for a column by default, as its registry's ``StatTest``.

    The rule of Evidently's ``_get_default_stattest``: by reference size, column kind and number
    of distinct values (``distinct_above(k)`` says whether both samples together have more than
    ``k``, so a large column need not have every distinct value counted).
    """
    from evidently.legacy.calculations import stattests

    if reference_rows <= 1000:
        if kind == "num" and distinct_above(5):
            return stattests.ks_stat_test
        return stattests.chi_stat_test if distinct_above(2) else stattests.z_stat_test
    if kind == "num" and distinct_above(5):
        return stattests.wasserstein_stat_test
    return stattests.jensenshannon_stat_test


def wasserstein_norm_sorted(reference: np.ndarray, current: np.ndarray) -> float:
    """Evidently's normed Wasserstein distance for two sorted arrays of finite values.

    The first Wasserstein distance computed as scipy computes it (the integral of the absolute
    difference of the two empirical CDFs over the merged values), divided by the reference's
    standard deviation (at least 0.001). Sorted inputs let a day sort each column once and reuse
    the order for every segment.
    """
    merged = np.concatenate((reference, current))
    merged.sort(kind="stable")  # two sorted runs: a merge, not a sort
    deltas = np.diff(merged)
    edges = merged[:-1]
    ref_cdf = reference.searchsorted(edges, "right") / reference.size
    cur_cdf = current.searchsorted(edges, "right") / current.size
    distance = float(np.dot(np.abs(ref_cdf - cur_cdf), deltas))
    return distance / max(float(np.std(reference)), 0.001)


def registered_test(name: str):
    """Evidently's ``StatTest`` of a registry name (or display name), whatever the column kind."""
    from evidently.legacy.calculations.stattests import registry

    load_evidently()
    by_kind = registry._registered_stat_tests.get(_test_name(name))
    if not by_kind:
        raise ValueError(f"unknown Evidently stat test {name!r}")
    return next(iter(by_kind.values()))


def _choose_test(
    settings: ColumnDriftSettings | None,
    reference_rows: int,
    kind: str,
    distinct_above: Callable[[int], bool],
):
    """The configured stat test of a column, or the one Evidently's preset would choose."""
    if settings is not None and settings.stattest:
        return registered_test(settings.stattest)
    return default_stattest(reference_rows, kind, distinct_above)


def _prepared(reference, current, kind: str):
    """Both samples cleaned (numerical: finite values, sorted) and a distinct-count oracle."""
    if isinstance(reference, pd.Series):
        ref, cur = _clean(reference), _clean(current)
    else:
        ref, cur = reference, current
    if kind == "num":
        ref = np.sort(ref.to_numpy(dtype=float)) if isinstance(ref, pd.Series) else ref
        cur = np.sort(cur.to_numpy(dtype=float)) if isinstance(cur, pd.Series) else cur

        def distinct_above(limit: int) -> bool:
            return _sorted_distinct_above(ref, cur, limit)

        return ref, cur, distinct_above
    return ref, cur, lambda limit: _more_distinct_than(ref, cur, limit)


def _score(test, reference, current, kind: str, threshold: float) -> float:
    """The test's score for two prepared samples (numerical ones sorted)."""
    from evidently.legacy.calculations import stattests
    from evidently.legacy.core import ColumnType

    if kind == "num":
        if test is stattests.wasserstein_stat_test:
            return wasserstein_norm_sorted(reference, current)
        reference, current = pd.Series(reference), pd.Series(current)
    return float(test(reference, current, ColumnType(kind), threshold).drift_score)


def column_drift(
    column: str,
    reference: pd.Series | np.ndarray,
    current: pd.Series | np.ndarray,
    kind: str,
    settings: ColumnDriftSettings | None = None,
) -> ColumnDrift:
    """One column's drift with the stat test and threshold Evidently's preset would use.

    ``reference`` and ``current`` are the column's values: a Series, or for a numerical column
    its finite values already sorted (as ``segment_drift`` prepares them). ``settings`` may name
    another stat test or threshold. The normed Wasserstein distance is computed from the sorted
    values; every other test is Evidently's own function. The verdict is Evidently's (fixed).
    """
    ref, cur, distinct_above = _prepared(reference, current, kind)
    if not len(ref) or not len(cur):
        where = "reference window" if not len(ref) else "current day"
        raise ValueError(f"column {column!r} has no values in the {where} to measure drift on")
    test = _choose_test(settings, len(ref), kind, distinct_above)
    threshold = test.default_threshold
    if settings is not None and settings.threshold is not None:
        threshold = settings.threshold
    score = _score(test, ref, cur, kind, threshold)
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
    scores = []
    for day in np.unique(days):
        mine = days == day
        if mine.all():
            continue
        score = _score(test, values[~mine], values[mine], kind, threshold)
        if math.isfinite(score):  # a test undefined on a day's values (one category) says nothing
            scores.append(score)
    return scores


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
    key = f"{fixed.column}|{_test_name(fixed.method)}"
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
        empty = [w for w, f in (("reference window", ref), ("day", cur)) if _clean(f[column]).empty]
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

    ref, cur, distinct_above = _prepared(reference, current, kind)
    test = _choose_test(settings, len(ref), kind, distinct_above)
    # Named so Evidently need not choose again (it would count every distinct value). A test
    # the preset picks for a kind it is not registered for (Z-test and chi-square on a
    # numerical column with few values) is left to Evidently, which picks the same one.
    named = test.name if _registered(test, ColumnType(kind)) else None
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


def drift_page(
    result: DriftResult, segments: list[SegmentDrift], model: ModelConfig, date: dt.date | str
) -> str:
    """The report page: the dataset verdict, the segments, then Evidently's column widgets."""
    limits = model.thresholds.drift
    share = result.drift_share
    if share >= limits.drift_share_error:
        kind, word = "error", "Drift detected"
    elif share >= limits.drift_share_warn:
        kind, word = "warn", "Drift detected"
    else:
        kind, word = "ok", "No dataset drift"
    return render(
        "data_drift.html",
        title=page_title(DATA_DRIFT, model.name, date),
        heading=page_heading(DATA_DRIFT, model.name, date),
        nav=Navigation(root="../../", model=model.name, day=str(date)),
        verdict={
            "kind": kind,
            "word": word,
            "text": f"{share:.0%} of features drifted; the limits are "
            f"{limits.drift_share_warn:.0%} (warning) and {limits.drift_share_error:.0%} (error).",
        },
        drifted=len(result.drifted_features),
        total=len(result.features),
        share=f"{share:.0%}",
        current_rows=result.current_rows,
        reference_rows=result.reference_rows,
        columns=DRIFT_COLUMNS,
        rows=drift_rows(result),
        notes=unmeasured_notes(result),
        segment_columns=SEGMENT_COLUMNS,
        segment_rows=segment_rows(segments),
        evidently=Markup(result.html) if result.html else None,
    )


def _registered(test, kind) -> bool:
    from evidently.legacy.calculations.stattests.registry import get_registered_stattest

    try:
        return get_registered_stattest(test.name, kind) is test
    except Exception:  # noqa: BLE001 -- not registered for this kind: let Evidently choose
        return False


DRIFT_COLUMNS = [
    ("column", "column"),
    ("method", "method"),
    ("score", "score"),
    ("bound", "drift when"),
    ("drift", "drift"),
    ("note", "note"),
]


def drift_rows(result: DriftResult) -> list[dict]:
    """One row per column for the page's table (keys of ``DRIFT_COLUMNS``)."""
    return [
        {
            "column": c.column,
            "method": c.method,
            "score": f"{c.score:.4g}",
            "bound": bound_text(c),
            "drift": {"text": "Detected", "kind": "error"}
            if c.drifted
            else {"text": "Not detected", "kind": "ok"},
            "note": c.note,
        }
        for c in result.columns
    ]


def bound_text(c: ColumnDrift) -> str:
    """The limit the verdict used, in words: the learned bound or Evidently's threshold."""
    pvalue = is_pvalue_test(c.method)
    if c.bound is not None:
        return f"{'below' if pvalue else 'above'} {c.bound:.4g} (learned)"
    return f"{'below' if pvalue else 'from'} {c.threshold:g} (fixed)"


def unmeasured_notes(result: DriftResult) -> list[str]:
    """Why some columns have no drift verdict: excluded in the configuration, or no values."""
    notes = []
    if result.excluded:
        notes.append(
            "Not measured (excluded in the configuration): " + ", ".join(result.excluded) + "."
        )
    if result.unmeasured:
        notes.append("Not measured: " + "; ".join(result.unmeasured) + ".")
    return notes


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
    columns: tuple[ColumnDrift, ...] = ()


def segment_drift(
    reference: pd.DataFrame, current: pd.DataFrame, model: ModelConfig, min_rows: int
) -> list[SegmentDrift]:
    """Drift per value of each configured segment column; small segments are skipped, with why.

    A segment needs ``min_rows`` rows in the current day and in the reference window: below that a
    distance between two handfuls of values is noise, not news. Each segment's columns are scored
    with the stat test Evidently would choose for that segment's rows. A numerical column is
    sorted once per frame; each segment's sorted values are then picked out in linear time.
    """
    kinds = drift_columns(model)
    segments = {s: {c: k for c, k in kinds.items() if c != s} for s in model.segments}
    segments = {s: cols for s, cols in segments.items() if len(cols) > 1}  # features to compare
    labels = {s: _segment_labels(reference[s], current[s]) for s in segments}
    ref_rows = {s: _rows_by_code(ref, len(names)) for s, (names, ref, _) in labels.items()}
    cur_rows = {s: _rows_by_code(cur, len(names)) for s, (names, _, cur) in labels.items()}
    drifts: dict[tuple[str, str], list[ColumnDrift]] = {}
    skipped: dict[tuple[str, str], str] = {}
    sizes: dict[tuple[str, str], tuple[int, int]] = {}
    for segment, (names, ref_codes, cur_codes) in labels.items():
        ref_counts = np.bincount(ref_codes[ref_codes >= 0], minlength=len(names))
        cur_counts = np.bincount(cur_codes[cur_codes >= 0], minlength=len(names))
        for i, value in enumerate(names):
            key = (segment, value)
            sizes[key] = (int(cur_counts[i]), int(ref_counts[i]))
            if cur_counts[i] < min_rows or ref_counts[i] < min_rows:
                skipped[key] = (
                    f"too few rows to compare: {cur_counts[i]} today and {ref_counts[i]} in "
                    f"the reference window, {min_rows} needed in each"
                )
            elif cur_counts[i]:
                drifts[key] = []
    for column, kind in kinds.items():
        in_use = [s for s, cols in segments.items() if column in cols]
        if not in_use:
            continue
        if kind == "num":
            ref_sorted = _SortedColumn(reference[column].to_numpy(dtype=float))
            cur_sorted = _SortedColumn(current[column].to_numpy(dtype=float))
        for segment in in_use:
            names, ref_codes, cur_codes = labels[segment]
            if kind == "num":
                ref_parts = ref_sorted.by_code(ref_codes, len(names))
                cur_parts = cur_sorted.by_code(cur_codes, len(names))
            for i, value in enumerate(names):
                if (segment, value) not in drifts:
                    continue
                if kind == "num":
                    ref_values, cur_values = ref_parts[i], cur_parts[i]
                else:
                    ref_values = _as_category(reference[column].take(ref_rows[segment][i]))
                    cur_values = _as_category(current[column].take(cur_rows[segment][i]))
                drifts[(segment, value)].append(column_drift(column, ref_values, cur_values, kind))
    out = []
    for segment, (names, _, _) in labels.items():
        for value in sorted(names):
            key = (segment, value)
            today, before = sizes[key]
            if not today:
                continue  # a value seen only in the reference window
            if key in skipped:
                out.append(SegmentDrift(segment, value, today, before, skipped=skipped[key]))
                continue
            features = [d for d in drifts[key] if d.column != PREDICTION]
            drifted = tuple(d.column for d in features if d.drifted)
            prediction = next((d for d in drifts[key] if d.column == PREDICTION), None)
            out.append(
                SegmentDrift(
                    segment,
                    value,
                    today,
                    before,
                    drift_share=len(drifted) / len(features),
                    drifted_features=drifted,
                    prediction_drifted=prediction.drifted if prediction else None,
                    columns=tuple(drifts[key]),
                )
            )
    return out


def _segment_labels(
    reference: pd.Series, current: pd.Series
) -> tuple[list[str], np.ndarray, np.ndarray]:
    """The values (as text) of a segment column and each row's code in both frames (-1: none).

    Values that read the same as text (``1`` and ``"1"``) are one segment.
    """
    codes, uniques = pd.factorize(pd.concat([reference, current], ignore_index=True))
    names: dict[str, int] = {}
    merged = np.array([names.setdefault(str(u), len(names)) for u in uniques] + [-1], dtype=np.intp)
    codes = merged[codes]  # -1 (missing) picks the trailing -1
    return list(names), codes[: len(reference)], codes[len(reference) :]


def _rows_by_code(codes: np.ndarray, groups: int) -> list[np.ndarray]:
    """The row positions of each code, each in row order."""
    order = _stable_order(codes, groups)
    counts = np.bincount(codes + 1, minlength=groups + 1)
    return np.split(order, np.cumsum(counts)[:-1])[1:]


def _stable_order(codes: np.ndarray, groups: int) -> np.ndarray:
    """Positions that sort codes (-1 first) keeping row order within a code: a radix sort."""
    small = np.int16 if groups < np.iinfo(np.int16).max else codes.dtype
    return np.argsort(codes.astype(small, copy=False), kind="stable")


def _as_category(values: pd.Series) -> pd.Series:
    return values if values.dtype == object else values.astype("object")


class _SortedColumn:
    """A numerical column's finite values in sorted order, and the rows they came from."""

    def __init__(self, values: np.ndarray):
        rows = np.flatnonzero(np.isfinite(values))
        order = np.argsort(values[rows])
        self.rows = rows[order]
        self.values = values[self.rows]

    def by_code(self, codes: np.ndarray, groups: int) -> list[np.ndarray]:
        """The sorted values of each group (rows with code ``i``), in linear time."""
        # Positions in sorted order, grouped stably: each group's values stay sorted.
        return [self.values[at] for at in _rows_by_code(codes[self.rows], groups)]


SEGMENT_COLUMNS = [
    ("segment", "segment"),
    ("value", "value"),
    ("current_rows", "rows today"),
    ("reference_rows", "rows in reference"),
    ("share", "drifted share"),
    ("verdict", "verdict"),
]


def segment_rows(segments: list[SegmentDrift]) -> list[dict]:
    """One row per segment for the page's table: its drift, or why it was skipped."""
    rows = []
    for s in segments:
        if s.skipped:
            verdict = {"text": f"skipped: {s.skipped}", "kind": "na"}
        else:
            drifted = ", ".join(s.drifted_features) or "none"
            pred = "yes" if s.prediction_drifted else "no"
            verdict = {
                "text": f"drifted features: {drifted}; prediction drift: {pred}",
                "kind": "error" if s.drifted_features or s.prediction_drifted else "ok",
            }
        rows.append(
            {
                "segment": s.segment,
                "value": s.value,
                "current_rows": f"{s.current_rows:,}",
                "reference_rows": f"{s.reference_rows:,}",
                "share": "" if s.skipped else f"{s.drift_share:.0%}",
                "verdict": verdict,
            }
        )
    return rows


def reference_dates(model: ModelConfig, date: dt.date) -> list[dt.date]:
    """The days of the reference window for evaluating ``date``, oldest first."""
    reference = model.reference
    if isinstance(reference, TrailingReference):
        return [date - dt.timedelta(days=n) for n in range(reference.trailing_days, 0, -1)]
    days = (reference.end - reference.start).days
    return [reference.start + dt.timedelta(days=n) for n in range(days + 1)]
