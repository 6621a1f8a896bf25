"""Evidently's stat tests as drift judges them: verdicts, scores, learned bounds."""

import numpy as np
import pytest
from scipy import stats

from monitoring_platform.lib.stattests import drift_verdict


def test_verdict_follows_the_method_kind():
    assert drift_verdict("Wasserstein distance (normed)", 0.1, 0.1)
    assert not drift_verdict("Jensen-Shannon distance", 0.09, 0.1)
    assert drift_verdict("chi-square p_value", 0.01, 0.05)
    assert not drift_verdict("chi-square p_value", 0.05, 0.05)
    assert drift_verdict("K-S p_value", 0.05, 0.05)


def test_wasserstein_from_sorted_values_equals_scipy_with_ties():
    from monitoring_platform.lib.stattests import wasserstein_norm_sorted

    rng = np.random.default_rng(3)
    for _ in range(20):
        ref = np.round(rng.normal(0, 1, rng.integers(1, 3000)), 1)  # many ties
        cur = np.round(rng.normal(0.2, 1.3, rng.integers(1, 3000)), 1)
        expected = stats.wasserstein_distance(ref, cur) / max(np.std(ref), 0.001)
        assert wasserstein_norm_sorted(np.sort(ref), np.sort(cur)) == pytest.approx(
            expected, rel=1e-12, abs=1e-12
        )


def test_p_value_tests_are_calibrated_on_minus_log10_p():
    from monitoring_platform.lib.stattests import beyond_bound, learned_bound

    bound = learned_bound("K-S p_value", [1e-2, 1e-3, 1e-3, 1e-4, 1e-3], tolerance=1.0)
    # -log10 p: 2, 3, 3, 4, 3; median 3, MAD 0 so the sample sd (0.707...) is the spread.
    assert bound == pytest.approx(10 ** -(3 + np.std([2, 3, 3, 4, 3], ddof=1)), rel=1e-9)
    assert beyond_bound("K-S p_value", 1e-5, bound)
    assert not beyond_bound("K-S p_value", 1e-3, bound)
    # One unusual reference day (a drift day in a trailing window) does not widen the bound.
    calm = [0.10, 0.11, 0.12, 0.10, 0.11, 0.12]
    assert learned_bound("PSI", [*calm, 5.0], 4.0) == pytest.approx(
        learned_bound("PSI", [*calm, 0.13], 4.0), rel=0.2
    )
    assert not beyond_bound("K-S p_value", 0.0, 0.0)  # both below the smallest float p-value
    assert beyond_bound("Jensen-Shannon distance", 0.31, 0.3)
