"""Evidently's stat tests as drift uses them: choosing a column's test, scoring, judging.

A stat test's score is a p-value (drift when small) or a distance (drift when large). The fixed
verdict is Evidently's (the score against the test's threshold); the calibrated verdict compares
the score's strength (the distance, or ``-log10 p``) with a bound learned from the reference days.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import numpy as np
import pandas as pd

from monitoring_platform.config import ColumnDriftSettings

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


# Their display names in Evidently 0.7 (what reports and the metric store record), so that a
# reader of stored results (the reports index) needs no Evidently import to tell a p-value from a
# distance. A name not here is looked up in Evidently's registry.
_DISPLAY_NAMES = {
    "Anderson-Darling": "anderson",
    "chi-square p_value": "chisquare",
    "Cramer-von Mises": "cramer_von_mises",
    "Epps-Singleton": "es",
    "Fisher's Exact test": "fisher_exact",
    "K-S p_value": "ks",
    "Mann-Whitney U-rank test": "mannw",
    "Total-Variation-Distance": "TVD",
    "Z-test p_value": "z",
    "Energy-distance": "ed",
    "Hellinger distance": "hellinger",
    "Jensen-Shannon distance": "jensenshannon",
    "Kullback-Leibler divergence": "kl_div",
    "PSI": "psi",
    "Wasserstein distance (normed)": "wasserstein",
}


# The smallest p-value told apart from zero: -log10 of it is the largest strength.
_P_FLOOR = 1e-300


def stattest_name(method: str) -> str:
    """The registry name of a stat test given its name or its display name."""
    if method in _PVALUE_TESTS or method in _DISTANCE_TESTS:
        return method
    if method in _DISPLAY_NAMES:
        return _DISPLAY_NAMES[method]
    from evidently.legacy.calculations.stattests import registry

    load_evidently()
    for name, by_kind in registry._registered_stat_tests.items():
        if any(t.display_name == method for t in by_kind.values()):
            return name
    raise ValueError(f"unknown Evidently stat test {method!r}")


def is_pvalue_test(method: str) -> bool:
    """Whether a stat test (name or display name) scores with a p-value."""
    return stattest_name(method) in _PVALUE_TESTS


def drift_verdict(method: str, score: float, threshold: float) -> bool:
    """Whether Evidently calls a column drifted, given its method, score and fixed threshold."""
    name = stattest_name(method)
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


def load_evidently() -> None:
    """Import the Evidently modules drift uses, before more than one thread uses them."""
    import evidently.legacy.calculations.stattests
    import evidently.metrics  # noqa: F401


def finite_values(values: pd.Series) -> pd.Series:
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
    difference of the two empirical CDFs over the merged values, summed by :func:`_cdf_integral`),
    divided by the reference's standard deviation (at least 0.001). Sorted inputs let a day sort
    each column once and reuse the order for every segment.
    """
    merged = np.concatenate((reference, current))
    merged.sort(kind="stable")  # two sorted runs: a merge, not a sort
    deltas = np.diff(merged)
    edges = merged[:-1]
    ref_cdf = reference.searchsorted(edges, "right") / reference.size
    cur_cdf = current.searchsorted(edges, "right") / current.size
    return _cdf_integral(ref_cdf, cur_cdf, deltas) / max(float(np.std(reference)), 0.001)


def _cdf_integral(ref_cdf: np.ndarray, cur_cdf: np.ndarray, deltas: np.ndarray) -> float:
    """The sum of ``|ref_cdf - cur_cdf| * deltas``, summed pairwise by NumPy.

    Not a BLAS dot product: a multithreaded BLAS keeps a second core spinning after each call,
    the core the segments' thread runs on, and its sum depends on the number of threads. The
    pairwise sum is the same on every machine and agrees with scipy's to rounding.
    """
    return float(np.add.reduce(np.abs(ref_cdf - cur_cdf) * deltas))


def wasserstein_norm_split(values: np.ndarray, mine: np.ndarray, run_ends: np.ndarray) -> float:
    """:func:`wasserstein_norm_sorted` of ``values[~mine]`` against ``values[mine]``, in linear time.

    ``values`` are sorted finite values; ``run_ends`` (from :func:`run_ends`) the index of the last
    value equal to each value but the last. Both parts of a sorted array stay sorted and merge
    back into it, so the merged values are ``values`` themselves, and each part's count of values
    up to an edge is a running count up to the end of the edge's run of equal values: the same
    counts, so the same distance, as sorting and searching each part.
    """
    current = np.cumsum(mine)[run_ends]
    reference = run_ends + 1 - current
    n_current = int(np.count_nonzero(mine))
    n_reference = values.size - n_current
    ref_cdf = reference / n_reference
    cur_cdf = current / n_current
    distance = _cdf_integral(ref_cdf, cur_cdf, np.diff(values))
    return distance / max(float(np.std(values[~mine])), 0.001)


def run_ends(values: np.ndarray) -> np.ndarray:
    """For each value of a sorted array but the last, the index of the last value equal to it."""
    ends = np.append(np.flatnonzero(np.diff(values)), values.size - 1)
    return np.repeat(ends, np.diff(ends, prepend=-1))[:-1]


def jensenshannon_codes(reference: np.ndarray, current: np.ndarray, labels: Sequence) -> float:
    """Evidently's Jensen-Shannon distance of two categorical samples given as codes of ``labels``.

    The categories in the order Evidently's ``get_binned_data`` takes them (a set of each
    sample's values in order of appearance, then their union) and each sample's share of each,
    counted from the codes instead of hashing every value again.
    """
    from scipy.spatial import distance

    def shares(codes: np.ndarray) -> dict:
        counts = np.bincount(codes, minlength=len(labels))
        return {labels[c]: counts[c] for c in range(len(labels))}

    keys = list({labels[c] for c in pd.unique(reference)} | {labels[c] for c in pd.unique(current)})
    ref, cur = shares(reference), shares(current)
    ref_percents = np.array([ref[key] / reference.size for key in keys])
    cur_percents = np.array([cur[key] / current.size for key in keys])
    return float(distance.jensenshannon(ref_percents, cur_percents, None))


def registered_test(name: str):
    """Evidently's ``StatTest`` of a registry name (or display name), whatever the column kind."""
    from evidently.legacy.calculations.stattests import registry

    load_evidently()
    by_kind = registry._registered_stat_tests.get(stattest_name(name))
    if not by_kind:
        raise ValueError(f"unknown Evidently stat test {name!r}")
    return next(iter(by_kind.values()))


def choose_test(
    settings: ColumnDriftSettings | None,
    reference_rows: int,
    kind: str,
    distinct_above: Callable[[int], bool],
):
    """The configured stat test of a column, or the one Evidently's preset would choose."""
    if settings is not None and settings.stattest:
        return registered_test(settings.stattest)
    return default_stattest(reference_rows, kind, distinct_above)


def prepared_samples(reference, current, kind: str):
    """Both samples cleaned (numerical: finite values, sorted) and a distinct-count oracle."""
    if isinstance(reference, pd.Series):
        ref, cur = finite_values(reference), finite_values(current)
    else:
        ref, cur = reference, current
    if kind == "num":
        ref = np.sort(ref.to_numpy(dtype=float)) if isinstance(ref, pd.Series) else ref
        cur = np.sort(cur.to_numpy(dtype=float)) if isinstance(cur, pd.Series) else cur

        def distinct_above(limit: int) -> bool:
            return _sorted_distinct_above(ref, cur, limit)

        return ref, cur, distinct_above
    return ref, cur, lambda limit: _more_distinct_than(ref, cur, limit)


def sample_score(
    test,
    reference,
    current,
    kind: str,
    threshold: float,
    merged: tuple[np.ndarray, np.ndarray] | None = None,
) -> float:
    """The test's score for two prepared samples (numerical ones sorted).

    ``merged``: a numerical column's samples as one sorted array, and which of its values are the
    current sample's (:func:`wasserstein_norm_split` needs no merge then).
    """
    from evidently.legacy.calculations import stattests
    from evidently.legacy.core import ColumnType

    if kind == "num":
        if test is stattests.wasserstein_stat_test:
            if merged is not None:
                values, mine = merged
                return wasserstein_norm_split(values, mine, run_ends(values))
            return wasserstein_norm_sorted(reference, current)
        reference, current = pd.Series(reference), pd.Series(current)
    return float(test(reference, current, ColumnType(kind), threshold).drift_score)


def registered_for_kind(test, kind) -> bool:
    """Whether Evidently's registry holds ``test`` for columns of ``kind``."""
    from evidently.legacy.calculations.stattests.registry import get_registered_stattest

    try:
        return get_registered_stattest(test.name, kind) is test
    except Exception:
        return False
