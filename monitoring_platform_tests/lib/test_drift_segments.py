"""Drift per segment: local shifts found, small segments skipped, scores equal Evidently's."""

import numpy as np
import pytest

from monitoring_platform.lib.drift import compute_drift
from monitoring_platform_tests.lib.conftest import SHOP, SHOP_SEGMENTED, shop_frame


def test_segments_find_a_local_shift_and_skip_small_ones_with_the_reason():
    from monitoring_platform.lib.drift_page import segment_rows
    from monitoring_platform.lib.drift_segments import segment_drift

    rng = np.random.default_rng(6)
    ref = shop_frame(rng, 6000, countries=("US", "DE", "FR"), weights=[0.49, 0.49, 0.02])
    cur = shop_frame(rng, 6000, countries=("US", "DE", "FR"), weights=[0.49, 0.49, 0.02])
    de = cur.country == "DE"
    cur.loc[de, "price"] += 2.0  # one standard deviation, only in DE
    segments = {s.value: s for s in segment_drift(ref, cur, SHOP_SEGMENTED, min_rows=500)}

    assert segments["DE"].drifted_features == ("price",)
    assert segments["US"].drifted_features == ()
    assert segments["FR"].skipped is not None and segments["FR"].drift_share is None
    assert "500 needed in each" in segments["FR"].skipped
    assert f"{segments['FR'].current_rows} today" in segments["FR"].skipped

    whole = compute_drift(ref, cur, SHOP, render_html=False)
    price = next(c for c in whole.columns if c.column == "price")
    de_price_only = segments["DE"].drift_share
    assert de_price_only == pytest.approx(1 / 2), "price drifted among DE's two features"
    assert price.score < 0.6, "diluted over all rows, the shift is about half as large"
    rows = segment_rows(list(segments.values()))
    assert any(r["verdict"]["text"].startswith("skipped: too few rows") for r in rows)
    assert {r["verdict"]["kind"] for r in rows if r["value"] == "DE"} == {"error"}


def test_segment_scores_equal_evidently_on_each_segments_rows():
    """Each segment's scores are what Evidently's preset gives on that segment's rows alone."""
    from evidently import DataDefinition, Dataset, Report
    from evidently.presets import DataDriftPreset

    from monitoring_platform.lib.drift_segments import segment_drift

    rng = np.random.default_rng(21)
    ref = shop_frame(rng, 9000, countries=("US", "DE", "FR"), weights=[0.6, 0.3, 0.1])
    cur = shop_frame(rng, 9000, countries=("US", "DE", "FR"), weights=[0.6, 0.3, 0.1])
    cur.loc[cur.country == "DE", "price"] += 1.5
    ref.loc[ref.index[::97], "price"] = np.nan  # missing and infinite values are left out
    cur.loc[cur.index[::89], "items"] = np.inf
    definition = DataDefinition(
        numerical_columns=["price", "items", "prediction"], categorical_columns=[]
    )
    segments = segment_drift(ref, cur, SHOP_SEGMENTED, min_rows=500)
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
