"""Drift scores match an independent computation, and the report HTML stays inert."""

import numpy as np
import pandas as pd
import pytest
from scipy import stats
from scipy.spatial import distance

from monitoring_platform.config import parse_config
from monitoring_platform.lib.drift import compute_drift
from monitoring_platform.lib.drift_page import drift_page
from monitoring_platform.lib.stattests import drift_verdict
from monitoring_platform_tests.browser import visit

MODEL = parse_config(
    """
models:
  - name: shop
    task: binary_classification
    reference: {trailing_days: 3}
    features:
      - {name: country, type: categorical}
      - {name: price, type: numerical}
      - {name: items, type: numerical}
"""
).models[0]

HOSTILE = [
    "</script><script>window.__pwned = 1; alert(1)</script>",
    '<img src=x onerror="window.__pwned = 2; alert(2)">',
    "US",
]


def frame(rng, n, price_shift=0.0, countries=("US", "DE", "FR"), weights=None):
    return pd.DataFrame(
        {
            "country": rng.choice(list(countries), n, p=weights),
            "price": rng.normal(10 + price_shift, 2, n),
            "items": rng.poisson(3, n).astype(float),
            "prediction": rng.beta(2, 5, n),
        }
    )


def test_known_shift_is_detected_and_scores_match_scipy():
    rng = np.random.default_rng(3)
    ref, cur = frame(rng, 5000), frame(rng, 5000, price_shift=1.0)
    result = compute_drift(ref, cur, MODEL, render_html=False)
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
    ref = frame(rng, 5000)
    cur = frame(rng, 5000, countries=("US", "DE", "FR", "BR"), weights=[0.2, 0.2, 0.2, 0.4])
    result = compute_drift(ref, cur, MODEL, render_html=False)
    assert "country" in result.drifted_features


def test_same_distribution_does_not_drift_across_seeds():
    flagged = 0
    for seed in range(20):
        rng = np.random.default_rng(100 + seed)
        result = compute_drift(frame(rng, 3000), frame(rng, 3000), MODEL, render_html=False)
        flagged += len(result.drifted_features)
    assert flagged == 0


def test_verdict_follows_the_method_kind():
    assert drift_verdict("Wasserstein distance (normed)", 0.1, 0.1)
    assert not drift_verdict("Jensen-Shannon distance", 0.09, 0.1)
    assert drift_verdict("chi-square p_value", 0.01, 0.05)
    assert not drift_verdict("chi-square p_value", 0.05, 0.05)
    assert drift_verdict("K-S p_value", 0.05, 0.05)


def test_report_with_hostile_values_renders_and_stays_inert(tmp_path):
    rng = np.random.default_rng(5)
    ref = frame(rng, 2000, countries=HOSTILE)
    cur = frame(rng, 2000, price_shift=1.0, countries=HOSTILE)
    from monitoring_platform.lib.drift_segments import segment_drift
    from monitoring_platform.lib.reports import publish_page
    from monitoring_platform.lib.storage import LocalObjectStore

    result = compute_drift(ref, cur, MODEL)
    segments = segment_drift(ref, cur, SEGMENTED, min_rows=100)
    assert {s.value for s in segments} == set(HOSTILE)
    html = drift_page(result, segments, SEGMENTED, "2026-03-01")
    assert HOSTILE[0] not in html and HOSTILE[1] not in html, "escaped in markup and in data"
    key = publish_page(LocalObjectStore(tmp_path), SEGMENTED.name, "2026-03-01", "data_drift", html)

    seen = visit(tmp_path / key, evaluate="window.__pwned === undefined")
    assert seen.evaluated is True and seen.dialogs == []
    assert seen.page_errors == [] and seen.console_errors == []
    assert "Dataset Drift" in seen.text and "Drifted Columns: 1 of 3 features" in seen.text
    assert "Wasserstein distance (normed)" in seen.text and "Drift by segment" in seen.text
    assert HOSTILE[0] in seen.text, "the hostile value is shown as text"
    assert seen.title == f"Data drift · {SEGMENTED.name} · 2026-03-01"
    drawn = visit(
        tmp_path / key, evaluate="document.querySelectorAll('#root_evidently_report *').length"
    )
    assert drawn.evaluated > 50, "Evidently drew its widgets from the site's shared bundle"


@pytest.mark.slow
def test_evidently_own_save_html_would_execute_the_same_values(tmp_path):
    """The control: the hostile values are live ammunition for the unescaped page."""
    from evidently import DataDefinition, Dataset, Report
    from evidently.presets import DataDriftPreset

    rng = np.random.default_rng(5)
    ref, cur = frame(rng, 500, countries=HOSTILE), frame(rng, 500, countries=HOSTILE)
    definition = DataDefinition(
        numerical_columns=["price", "items", "prediction"], categorical_columns=["country"]
    )
    snapshot = Report([DataDriftPreset()]).run(
        current_data=Dataset.from_pandas(cur, data_definition=definition),
        reference_data=Dataset.from_pandas(ref, data_definition=definition),
    )
    page = tmp_path / "unsafe.html"
    snapshot.save_html(str(page))
    seen = visit(page, evaluate="window.__pwned === undefined")
    assert seen.evaluated is False or seen.dialogs


SEGMENTED = MODEL.model_copy(update={"segments": ["country"]})


def test_segments_find_a_local_shift_and_skip_small_ones_with_the_reason():
    from monitoring_platform.lib.drift_page import segment_rows
    from monitoring_platform.lib.drift_segments import segment_drift

    rng = np.random.default_rng(6)
    ref = frame(rng, 6000, countries=("US", "DE", "FR"), weights=[0.49, 0.49, 0.02])
    cur = frame(rng, 6000, countries=("US", "DE", "FR"), weights=[0.49, 0.49, 0.02])
    de = cur.country == "DE"
    cur.loc[de, "price"] += 2.0  # one standard deviation, only in DE
    segments = {s.value: s for s in segment_drift(ref, cur, SEGMENTED, min_rows=500)}

    assert segments["DE"].drifted_features == ("price",)
    assert segments["US"].drifted_features == ()
    assert segments["FR"].skipped is not None and segments["FR"].drift_share is None
    assert "500 needed in each" in segments["FR"].skipped
    assert f"{segments['FR'].current_rows} today" in segments["FR"].skipped

    whole = compute_drift(ref, cur, MODEL, render_html=False)
    price = next(c for c in whole.columns if c.column == "price")
    de_price_only = segments["DE"].drift_share
    assert de_price_only == pytest.approx(1 / 2), "price drifted among DE's two features"
    assert price.score < 0.6, "diluted over all rows, the shift is about half as large"
    rows = segment_rows(list(segments.values()))
    assert any(r["verdict"]["text"].startswith("skipped: too few rows") for r in rows)
    assert {r["verdict"]["kind"] for r in rows if r["value"] == "DE"} == {"error"}


def test_scores_and_verdicts_equal_an_independent_evidently_run():
    from evidently import DataDefinition, Dataset, Report
    from evidently.presets import DataDriftPreset

    rng = np.random.default_rng(12)
    ref = frame(rng, 4000)
    cur = frame(rng, 4000, price_shift=0.3, countries=("US", "DE", "FR", "IT"))
    ours = {c.column: c for c in compute_drift(ref, cur, MODEL, render_html=False).columns}

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


def test_segment_scores_equal_evidently_on_each_segments_rows():
    """Each segment's scores are what Evidently's preset gives on that segment's rows alone."""
    from evidently import DataDefinition, Dataset, Report
    from evidently.presets import DataDriftPreset

    from monitoring_platform.lib.drift_segments import segment_drift

    rng = np.random.default_rng(21)
    ref = frame(rng, 9000, countries=("US", "DE", "FR"), weights=[0.6, 0.3, 0.1])
    cur = frame(rng, 9000, countries=("US", "DE", "FR"), weights=[0.6, 0.3, 0.1])
    cur.loc[cur.country == "DE", "price"] += 1.5
    ref.loc[ref.index[::97], "price"] = np.nan  # missing and infinite values are left out
    cur.loc[cur.index[::89], "items"] = np.inf
    definition = DataDefinition(
        numerical_columns=["price", "items", "prediction"], categorical_columns=[]
    )
    segments = segment_drift(ref, cur, SEGMENTED, min_rows=500)
    assert [s.value for s in segments] == ["DE", "FR", "US"]
    for seg in segments:
        r, c = ref[ref.country == seg.value], cur[cur.country == seg.value]
        assert (seg.reference_rows, seg.current_rows) == (len(r), len(c))
        columns = ["price", "items", "prediction"]
        snapshot = Report([DataDriftPreset()]).run(
            current_data=Dataset.from_pandas(c[columns].copy(), data_definition=definition),
            reference_data=Dataset.from_pandas(r[columns].copy(), data_definition=definition),
        )
        theirs = {
            m["config"]["column"]: (float(m["value"]), m["config"]["method"])
            for m in snapshot.dict()["metrics"]
            if m["config"]["type"].endswith(":ValueDrift")
        }
        ours = {d.column: d for d in seg.columns}
        assert set(ours) == set(theirs)
        for column, (score, method) in theirs.items():
            assert ours[column].score == pytest.approx(score, abs=1e-9), (seg.value, column)
            assert ours[column].method == method
    assert segments[0].drifted_features == ("price",)


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


def test_the_report_path_and_the_direct_path_give_the_same_scores():
    rng = np.random.default_rng(8)
    ref, cur = frame(rng, 3000), frame(rng, 3000, price_shift=0.5)
    rendered = compute_drift(ref, cur, MODEL)
    direct = compute_drift(ref, cur, MODEL, render_html=False)
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
