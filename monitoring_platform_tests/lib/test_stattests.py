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


def test_display_names_are_evidentlys_and_read_without_importing_it():
    """Each known display name names the test Evidently's registry names; no import needed."""
    import subprocess
    import sys

    from monitoring_platform.lib import stattests

    stattests.load_evidently()
    from evidently.legacy.calculations.stattests import registry

    by_display = {
        t.display_name: name
        for name, by_kind in registry._registered_stat_tests.items()
        for t in by_kind.values()
    }
    known = {**stattests._PVALUE_TESTS, **stattests._DISTANCE_TESTS}
    for display, name in stattests._DISPLAY_NAMES.items():
        assert by_display[display] == name
    assert set(stattests._DISPLAY_NAMES.values()) | {"empirical_mmd", "g_test", "t_test"} == set(
        known
    )
    code = (
        "import sys; from monitoring_platform.lib.stattests import is_pvalue_test as p; "
        "assert p('K-S p_value') and not p('PSI'); print('evidently' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


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


def test_a_day_left_out_of_a_sorted_window_scores_as_sorting_both_parts():
    from monitoring_platform.lib.stattests import (
        run_ends,
        wasserstein_norm_sorted,
        wasserstein_norm_split,
    )

    rng = np.random.default_rng(5)
    for n in (2, 50, 2000):
        for values in (np.round(rng.normal(0, 1, n), 1), rng.integers(0, 3, n).astype(float)):
            days = rng.integers(0, 4, n)
            order = np.argsort(values, kind="stable")
            values, days = values[order], days[order]
            ends = run_ends(values)
            for day in np.unique(days):
                mine = days == day
                if mine.all():
                    continue
                rest, today = values[~mine], values[mine]
                split = wasserstein_norm_split(values, mine, ends)
                assert split == wasserstein_norm_sorted(rest, today)  # the same sums, exactly
                expected = stats.wasserstein_distance(rest, today) / max(np.std(rest), 0.001)
                assert split == pytest.approx(expected, rel=1e-12, abs=1e-12)


def test_jensenshannon_from_codes_equals_evidentlys_test():
    import pandas as pd
    from evidently.legacy.calculations.stattests import jensenshannon_stat_test
    from evidently.legacy.core import ColumnType

    from monitoring_platform.lib.stattests import jensenshannon_codes, load_evidently

    load_evidently()
    rng = np.random.default_rng(6)
    labels = np.array(["US", "DE", "FR", "", "None", 7], dtype=object)
    for n in (3, 400, 5000):
        values = pd.Series(labels[rng.integers(0, 6, n)], dtype=object)
        part = rng.random(n) < 0.3
        part[0], part[-1] = True, False  # two samples, neither empty
        codes, uniques = pd.factorize(values)
        ours = jensenshannon_codes(codes[~part], codes[part], list(uniques))
        theirs = jensenshannon_stat_test(
            values[~part], values[part], ColumnType.Categorical, 0.1
        ).drift_score
        assert ours == theirs  # the same categories in the same order: the same sum


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
