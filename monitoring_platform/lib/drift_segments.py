"""Drift per segment: the rows of one value of a segment column (a model version, a region).

Each numerical column is sorted once for the whole day; each segment's values are picked out of
that order, so every segment is scored without sorting again.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from monitoring_platform.config import ModelConfig
from monitoring_platform.lib.drift import PREDICTION, ColumnDrift, column_drift, drift_columns


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
    sorted once (both frames together); each segment's sorted values, and which of them are the
    day's, are then picked out in linear time.
    """
    kinds = drift_columns(model)
    segments = {s: {c: k for c, k in kinds.items() if c != s} for s in model.segments}
    segments = {s: cols for s, cols in segments.items() if len(cols) > 1}  # features to compare
    labels = {s: _segment_labels(reference[s], current[s]) for s in segments}
    ref_rows = {s: _rows_by_code(ref, len(names)) for s, (names, ref, _, _) in labels.items()}
    cur_rows = {s: _rows_by_code(cur, len(names)) for s, (names, _, cur, _) in labels.items()}
    drifts: dict[tuple[str, str], list[ColumnDrift]] = {}
    skipped: dict[tuple[str, str], str] = {}
    sizes: dict[tuple[str, str], tuple[int, int]] = {}
    for segment, (names, ref_codes, cur_codes, _) in labels.items():
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
            both = _SortedColumn(
                np.concatenate(
                    [reference[column].to_numpy(dtype=float), current[column].to_numpy(dtype=float)]
                )
            )
            in_day = both.rows >= len(reference)  # which of the sorted values are the day's
        for segment in in_use:
            names, _, _, codes = labels[segment]
            if kind == "num":
                positions = both.by_code(codes, len(names))
            for i, value in enumerate(names):
                if (segment, value) not in drifts:
                    continue
                if kind == "num":
                    values, mine = both.values[positions[i]], in_day[positions[i]]
                    drift = column_drift(
                        column, values[~mine], values[mine], kind, merged=(values, mine)
                    )
                else:
                    ref_values = _as_category(reference[column].take(ref_rows[segment][i]))
                    cur_values = _as_category(current[column].take(cur_rows[segment][i]))
                    drift = column_drift(column, ref_values, cur_values, kind)
                drifts[(segment, value)].append(drift)
    out = []
    for segment, (names, _, _, _) in labels.items():
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
) -> tuple[list[str], np.ndarray, np.ndarray, np.ndarray]:
    """The values (as text) of a segment column and each row's code (-1: none).

    The codes of the reference's rows, of the day's, and of both (the reference's first).

    Values that read the same as text (``1`` and ``"1"``) are one segment.
    """
    codes, uniques = pd.factorize(pd.concat([reference, current], ignore_index=True))
    names: dict[str, int] = {}
    merged = np.array([names.setdefault(str(u), len(names)) for u in uniques] + [-1], dtype=np.intp)
    codes = merged[codes]  # -1 (missing) picks the trailing -1
    return list(names), codes[: len(reference)], codes[len(reference) :], codes


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
        """Where each group's values (rows with code ``i``) are in sorted order, in linear time."""
        # Positions in sorted order, grouped stably: each group's values stay sorted.
        return _rows_by_code(codes[self.rows], groups)
