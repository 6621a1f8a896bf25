"""Data and prediction drift between a reference window and one day, with Evidently."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from markupsafe import Markup

from monitoring_platform.config import ModelConfig, TrailingReference
from monitoring_platform.lib.html import render
from monitoring_platform.lib.reports import DATA_DRIFT, Navigation, page_heading, page_title

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


def _column_types(model: ModelConfig) -> dict[str, str]:
    """Evidently's column kind (``num`` or ``cat``) of each drift column, in report order."""
    kinds = {f.name: "num" if f.name in model.numerical_features else "cat" for f in model.features}
    kinds[PREDICTION] = "num" if model.prediction_is_numeric else "cat"
    return kinds


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


def column_drift(
    column: str,
    reference: pd.Series | np.ndarray,
    current: pd.Series | np.ndarray,
    kind: str,
) -> ColumnDrift:
    """One column's drift with the stat test and threshold Evidently's preset would use.

    ``reference`` and ``current`` are the column's values: a Series, or for a numerical column
    its finite values already sorted (as ``segment_drift`` prepares them). The normed Wasserstein
    distance is computed from the sorted values; every other test is Evidently's own function.
    """
    from evidently.legacy.calculations import stattests
    from evidently.legacy.core import ColumnType

    if isinstance(reference, pd.Series):
        ref, cur = _clean(reference), _clean(current)
    else:
        ref, cur = reference, current
    if not len(ref) or not len(cur):
        where = "reference window" if not len(ref) else "current day"
        raise ValueError(f"column {column!r} has no values in the {where} to measure drift on")
    if kind == "num":
        ref_sorted = np.sort(ref.to_numpy()) if isinstance(ref, pd.Series) else ref
        cur_sorted = np.sort(cur.to_numpy()) if isinstance(cur, pd.Series) else cur

        def distinct_above(limit: int) -> bool:
            return _sorted_distinct_above(ref_sorted, cur_sorted, limit)

        test = default_stattest(len(ref), kind, distinct_above)
        if test is stattests.wasserstein_stat_test:
            score = wasserstein_norm_sorted(ref_sorted, cur_sorted)
            threshold = test.default_threshold
            return ColumnDrift(column, test.display_name, score, threshold, score >= threshold)
        ref, cur = pd.Series(ref_sorted), pd.Series(cur_sorted)
    else:
        test = default_stattest(len(ref), kind, lambda limit: _more_distinct_than(ref, cur, limit))
    result = test(ref, cur, ColumnType(kind), None)
    return ColumnDrift(
        column=column,
        method=test.display_name,
        score=float(result.drift_score),
        threshold=float(result.actual_threshold),
        drifted=bool(result.drifted),
    )


def compute_drift(
    reference: pd.DataFrame,
    current: pd.DataFrame,
    model: ModelConfig,
    *,
    render_html: bool = True,
) -> DriftResult:
    """Drift of each feature and of the prediction, as Evidently's ``DataDriftPreset`` scores it.

    With ``render_html`` the scores come from Evidently's ``ValueDrift`` of each column (each
    column computed once, with its distribution widgets, all on one page); without it, from the same stat
    tests called directly. Either way the method is the one the preset would choose.
    """
    kinds = _column_types(model)
    ref = drift_frame(reference, model)
    cur = drift_frame(current, model)
    if not render_html:
        columns = [column_drift(c, ref[c], cur[c], kind) for c, kind in kinds.items()]
        return DriftResult(columns=columns, reference_rows=len(ref), current_rows=len(cur))

    from evidently import DataDefinition, Dataset, Report
    from evidently.legacy.calculations.stattests.registry import get_registered_stattest
    from evidently.legacy.core import ColumnType
    from evidently.metrics import ValueDrift

    from monitoring_platform.lib.html import evidently_html

    columns, snapshots = [], []
    for column, kind in kinds.items():
        test = _preset_test(ref[column], cur[column], kind)
        # Named so Evidently need not choose again (it would count every distinct value).
        named = test.name if _registered(test, ColumnType(kind)) else None
        # One report per column: Evidently's copies of the data stay one column wide.
        definition = DataDefinition(
            numerical_columns=[column] if kind == "num" else [],
            categorical_columns=[column] if kind == "cat" else [],
        )
        snapshot = Report([ValueDrift(column=column, method=named)]).run(
            current_data=Dataset.from_pandas(cur[[column]], data_definition=definition),
            reference_data=Dataset.from_pandas(ref[[column]], data_definition=definition),
        )
        snapshots.append(snapshot)
        (metric,) = snapshot.dict()["metrics"]
        config = metric["config"]
        method = get_registered_stattest(config["method"], ColumnType(kind)).display_name
        score, threshold = float(metric["value"]), float(config["threshold"])
        columns.append(
            ColumnDrift(column, method, score, threshold, drift_verdict(method, score, threshold))
        )
    order = {name: i for i, name in enumerate(kinds)}
    columns.sort(key=lambda c: order.get(c.column, len(order)))
    html = evidently_html(*snapshots)
    return DriftResult(columns=columns, reference_rows=len(ref), current_rows=len(cur), html=html)


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
        segment_columns=SEGMENT_COLUMNS,
        segment_rows=segment_rows(segments),
        evidently=Markup(result.html) if result.html else None,
    )


def _preset_test(reference: pd.Series, current: pd.Series, kind: str):
    ref, cur = _clean(reference), _clean(current)
    return default_stattest(len(ref), kind, lambda limit: _more_distinct_than(ref, cur, limit))


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
    ("threshold", "threshold"),
    ("drift", "drift"),
]


def drift_rows(result: DriftResult) -> list[dict]:
    """One row per column for the page's table (keys of ``DRIFT_COLUMNS``)."""
    return [
        {
            "column": c.column,
            "method": c.method,
            "score": f"{c.score:.4g}",
            "threshold": f"{c.threshold:g}",
            "drift": {"text": "Detected", "kind": "error"}
            if c.drifted
            else {"text": "Not detected", "kind": "ok"},
        }
        for c in result.columns
    ]


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
    kinds = _column_types(model)
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
