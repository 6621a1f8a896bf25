"""Drift scores and verdicts match an independent computation (scipy, Evidently's own preset)."""

import numpy as np
import pandas as pd
import pytest
from scipy import stats
from scipy.spatial import distance

from monitoring_platform.config import parse_config
from monitoring_platform.lib.drift import compute_drift
from monitoring_platform.lib.drift_page import drift_page
from monitoring_platform_tests.lib.conftest import SHOP, shop_frame


def test_known_shift_is_detected_and_scores_match_scipy():
    rng = np.random.default_rng(3)
    ref, cur = shop_frame(rng, 5000), shop_frame(rng, 5000, price_shift=1.0)
    result = compute_drift(ref, cur, SHOP, render_html=False)
    by_column = {c.column: c for c in result.columns}
    price = by_column["price"]
    expected = stats.wasserstein_distance(ref.price, cur.price) / np.std(ref.price)
    assert price.method == "Wasserstein distance (normed)"
    assert price.score == pytest.approx(expected, abs=1e-9)
    assert price.score == pytest.approx(0.5, abs=0.05), "a shift of half a standard deviation"
    assert price.drifted and not by_column["items"].drifted
    assert result.drifted_features == ["price"]
    assert result.drift_share == pytest.approx(1 / 3)

    country = by_column["country"]
    ref_share = ref.country.value_counts(normalize=True).sort_index()
    cur_share = cur.country.value_counts(normalize=True).reindex(ref_share.index, fill_value=0)
    assert country.method == "Jensen-Shannon distance"
    assert country.score == pytest.approx(distance.jensenshannon(ref_share, cur_share), abs=1e-9)


def test_a_new_category_and_changed_mix_drift():
    rng = np.random.default_rng(4)
    ref = shop_frame(rng, 5000)
    cur = shop_frame(rng, 5000, countries=("US", "DE", "FR", "BR"), weights=[0.2, 0.2, 0.2, 0.4])
    result = compute_drift(ref, cur, SHOP, render_html=False)
    assert "country" in result.drifted_features


def test_same_distribution_does_not_drift_across_seeds():
    flagged = 0
    for seed in range(20):
        rng = np.random.default_rng(100 + seed)
        result = compute_drift(
            shop_frame(rng, 3000), shop_frame(rng, 3000), SHOP, render_html=False
        )
        flagged += len(result.drifted_features)
    assert flagged == 0


def test_scores_and_verdicts_equal_an_independent_evidently_run():
    from evidently import DataDefinition, Dataset, Report
    from evidently.presets import DataDriftPreset

    rng = np.random.default_rng(12)
    ref = shop_frame(rng, 4000)
    cur = shop_frame(rng, 4000, price_shift=0.3, countries=("US", "DE", "FR", "IT"))
    ours = {c.column: c for c in compute_drift(ref, cur, SHOP, render_html=False).columns}

    definition = DataDefinition(
        numerical_columns=["price", "items", "prediction"], categorical_columns=["country"]
    )
    snapshot = Report([DataDriftPreset()]).run(
        current_data=Dataset.from_pandas(cur.copy(), data_definition=definition),
        reference_data=Dataset.from_pandas(ref.copy(), data_definition=definition),
    )
    theirs = {}
    for metric in snapshot.dict()["metrics"]:
        if metric["config"]["type"].endswith(":ValueDrift"):
            theirs[metric["config"]["column"]] = float(metric["value"])
        else:
            drifted_count = metric["value"]["count"]
    assert set(ours) == set(theirs)
    for column, score in theirs.items():
        assert ours[column].score == pytest.approx(score, abs=1e-6), column
    assert sum(c.drifted for c in ours.values()) == drifted_count


@pytest.mark.parametrize(
    ("ref_n", "cur_n", "distinct", "kind"),
    [
        (800, 900, 2, "num"),  # small reference: Z-test
        (800, 900, 4, "num"),  # chi-square
        (800, 900, 50, "num"),  # K-S
        (800, 900, 2, "cat"),
        (800, 900, 3, "cat"),
        (5000, 5000, 4, "num"),  # large reference, few values: Jensen-Shannon
        (5000, 5000, 400, "num"),  # Wasserstein
        (5000, 5000, 6, "cat"),
    ],
)
def test_the_chosen_test_and_score_equal_evidentlys_default(ref_n, cur_n, distinct, kind):
    from evidently.legacy.calculations.stattests.registry import get_stattest
    from evidently.legacy.core import ColumnType

    from monitoring_platform.lib.drift import column_drift

    rng = np.random.default_rng(distinct + ref_n)
    values = np.arange(distinct, dtype=float) * 1.5
    ref = pd.Series(rng.choice(values, ref_n))
    cur = pd.Series(
        rng.choice(values, cur_n, p=np.linspace(1, 2, distinct) / np.linspace(1, 2, distinct).sum())
    )
    if kind == "cat":
        ref, cur = (
            ref.map(lambda v: f"v{v}").astype(object),
            cur.map(lambda v: f"v{v}").astype(object),
        )
    column_type = ColumnType.Numerical if kind == "num" else ColumnType.Categorical
    theirs = get_stattest(ref, cur, column_type, None)
    expected = theirs(ref, cur, column_type, None)
    ours = column_drift("x", ref, cur, kind)
    assert ours.method == theirs.display_name
    assert ours.score == pytest.approx(expected.drift_score, abs=1e-9)
    assert (ours.drifted, ours.threshold) == (expected.drifted, expected.actual_threshold)


def test_the_report_path_and_the_direct_path_give_the_same_scores():
    rng = np.random.default_rng(8)
    ref, cur = shop_frame(rng, 3000), shop_frame(rng, 3000, price_shift=0.5)
    rendered = compute_drift(ref, cur, SHOP)
    direct = compute_drift(ref, cur, SHOP, render_html=False)
    assert rendered.html and not direct.html
    assert [(c.column, c.method, c.drifted) for c in rendered.columns] == [
        (c.column, c.method, c.drifted) for c in direct.columns
    ]
    for a, b in zip(rendered.columns, direct.columns, strict=True):
        assert a.score == pytest.approx(b.score, abs=1e-9) and a.threshold == b.threshold


def _model(extra_feature="", drift="", prediction_type=""):
    return parse_config(
        f"""
models:
  - name: shop
    task: {prediction_type or "binary_classification"}
    thresholds: {{drift: {{{drift}}}}}
    features:
      - {{name: x, type: numerical{extra_feature}}}
"""
    ).models[0]


@pytest.mark.parametrize(
    ("ref_n", "distinct", "expected"),
    [
        (500, 2, "Z-test p_value"),  # a 0/1 flag on a small reference: the reported crash
        (500, 4, "chi-square p_value"),  # registered for categorical columns only, as Z
        (500, 40, "K-S p_value"),
        (3000, 4, "Jensen-Shannon distance"),
        (3000, 400, "Wasserstein distance (normed)"),
    ],
)
def test_every_default_test_works_in_the_report_and_equals_the_preset(ref_n, distinct, expected):
    from evidently import DataDefinition, Dataset, Report
    from evidently.presets import DataDriftPreset

    rng = np.random.default_rng(ref_n + distinct)
    values = np.arange(distinct, dtype=float)

    def day(n, tilt):
        weights = np.linspace(1, 1 + tilt, distinct)
        return pd.DataFrame(
            {
                "x": rng.choice(values, n, p=weights / weights.sum()),
                "prediction": rng.beta(2, 5, n),
            }
        )

    ref, cur = day(ref_n, 0.0), day(400, 1.0)
    model = _model()
    rendered = compute_drift(ref, cur, model, reference_day_rows=[ref_n // 5] * 5)
    assert rendered.columns[0].method == expected
    page = drift_page(rendered, [], model, "2026-11-20")
    assert "<table" in page and expected in page and "(learned)" in page
    definition = DataDefinition(numerical_columns=["x", "prediction"])
    snapshot = Report([DataDriftPreset()]).run(
        current_data=Dataset.from_pandas(cur, data_definition=definition),
        reference_data=Dataset.from_pandas(ref, data_definition=definition),
    )
    theirs = {
        m["config"]["column"]: m["value"]
        for m in snapshot.dict()["metrics"]
        if m["config"]["type"].endswith("ValueDrift")
    }
    assert rendered.columns[0].score == pytest.approx(theirs["x"], abs=1e-6)
    direct = compute_drift(ref, cur, model, render_html=False)
    assert direct.columns[0].score == pytest.approx(theirs["x"], abs=1e-6)
    column = rendered.columns[0]
    assert column.mode == "calibrated" and column.bound is not None
    assert len(column.reference_scores) == 5


def test_calibrated_bound_equals_a_hand_computation():
    # Five reference days of a numerical column; each day scored against the other four with
    # the normed Wasserstein distance, computed here with scipy.
    rng = np.random.default_rng(4)
    days = [rng.normal(loc, 1.0, 1200) for loc in (0.0, 0.3, -0.2, 0.1, 0.5)]
    scores = []
    for i, values in enumerate(days):
        rest = np.concatenate([d for j, d in enumerate(days) if j != i])
        scores.append(stats.wasserstein_distance(rest, values) / np.std(rest))
    # The bound: median + tolerance * 1.4826 * MAD, at least the second-largest day's score.
    median = np.median(scores)
    mad = np.median(np.abs(np.array(scores) - median))
    expected = max(median + 2.0 * 1.4826 * mad, sorted(scores)[-2])

    model = _model(drift="tolerance: 2.0")
    reference = pd.DataFrame({"x": np.concatenate(days), "prediction": rng.beta(2, 5, 6000)})
    calm = pd.DataFrame({"x": rng.normal(0.1, 1.0, 1200), "prediction": rng.beta(2, 5, 1200)})
    shifted = calm.assign(x=calm["x"] + 1.5)
    for current, drifted in ((calm, False), (shifted, True)):
        result = compute_drift(
            reference, current, model, render_html=False, reference_day_rows=[1200] * 5
        )
        x = result.columns[0]
        assert list(x.reference_scores) == pytest.approx(scores, rel=1e-9)
        assert x.bound == pytest.approx(expected, rel=1e-9)
        assert x.drifted is drifted and x.drifted == (x.score > expected)


def test_a_day_constant_feature_alarms_under_fixed_thresholds_but_not_calibrated():
    # A day-of-week feature: every day holds one value, the reference holds seven.
    rng = np.random.default_rng(6)
    ref = pd.DataFrame(
        {
            "x": np.repeat(np.arange(14) % 7, 1500).astype(float),
            "prediction": rng.beta(2, 5, 14 * 1500),
        }
    )
    today = pd.DataFrame({"x": np.full(1500, 3.0), "prediction": rng.beta(2, 5, 1500)})
    fixed = compute_drift(ref, today, _model(drift="mode: fixed"), render_html=False)
    assert fixed.columns[0].drifted and fixed.columns[0].bound is None
    calibrated = compute_drift(
        ref, today, _model(), render_html=False, reference_day_rows=[1500] * 14
    )
    x = calibrated.columns[0]
    assert not x.drifted and x.bound >= x.score > x.threshold


def test_too_few_reference_days_fall_back_to_fixed_and_say_so():
    rng = np.random.default_rng(2)
    ref = pd.DataFrame({"x": rng.normal(0, 1, 3000), "prediction": rng.beta(2, 5, 3000)})
    cur = ref.assign(x=ref["x"] + 0.2)
    result = compute_drift(
        ref, cur, _model(), render_html=False, reference_day_rows=[1000, 1000, 1000]
    )
    x = result.columns[0]
    assert x.mode == "fixed" and x.bound is None and x.drifted == (x.score >= x.threshold)
    assert "only 3 reference days" in x.note and "fixed threshold" in x.note


def test_configured_stattest_threshold_and_exclusion():
    model = parse_config(
        """
models:
  - name: shop
    task: regression
    thresholds: {drift: {mode: fixed, prediction: {exclude: true}}}
    features:
      - {name: x, type: numerical, drift: {stattest: psi, threshold: 0.5}}
      - {name: c, type: categorical, drift: {exclude: true}}
"""
    ).models[0]
    rng = np.random.default_rng(9)
    ref = pd.DataFrame(
        {"x": rng.normal(0, 1, 2000), "c": ["a"] * 2000, "prediction": rng.normal(0, 1, 2000)}
    )
    cur = ref.assign(x=ref["x"] + 0.3)
    for render in (False, True):
        result = compute_drift(ref, cur, model, render_html=render)
        (x,) = result.columns
        assert (x.column, x.method, x.threshold) == ("x", "PSI", 0.5)
        assert result.excluded == ("c", "prediction") and result.prediction is None
    from evidently.legacy.calculations.stattests import psi_stat_test
    from evidently.legacy.core import ColumnType

    expected = psi_stat_test(ref["x"], cur["x"], ColumnType.Numerical, 0.5)
    assert x.score == pytest.approx(expected.drift_score, abs=1e-9)


def test_drift_settings_errors_name_the_key():
    from monitoring_platform.config import (
        CATEGORICAL_STATTESTS,
        NUMERICAL_STATTESTS,
        ConfigError,
    )
    from monitoring_platform.lib.stattests import load_evidently

    load_evidently()
    from evidently.legacy.calculations.stattests.registry import _registered_stat_tests
    from evidently.legacy.core import ColumnType

    registered = {
        kind: {n for n, by in _registered_stat_tests.items() if kind in by}
        for kind in (ColumnType.Numerical, ColumnType.Categorical)
    }
    assert registered[ColumnType.Numerical] == NUMERICAL_STATTESTS
    assert registered[ColumnType.Categorical] == CATEGORICAL_STATTESTS
    with pytest.raises(ConfigError, match=r"features\[0\].*'chisquare' is not an Evidently"):
        _model(extra_feature=", drift: {stattest: chisquare}")
    with pytest.raises(ConfigError, match=r"features\[0\]\.drift\.tolrance: unknown key"):
        _model(extra_feature=", drift: {tolrance: 2}")
    with pytest.raises(ConfigError, match=r"thresholds\.drift\.mode"):
        _model(drift="mode: sometimes")
