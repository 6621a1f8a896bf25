"""The drift page renders hostile values as inert text; Evidently's own page would run them."""

import numpy as np
import pytest

from monitoring_platform.lib.drift import compute_drift
from monitoring_platform.lib.drift_page import drift_page
from monitoring_platform_tests.browser import visit
from monitoring_platform_tests.lib.conftest import HOSTILE_VALUES, SHOP, SHOP_SEGMENTED, shop_frame


def test_report_with_hostile_values_renders_and_stays_inert(tmp_path):
    rng = np.random.default_rng(5)
    ref = shop_frame(rng, 2000, countries=HOSTILE_VALUES)
    cur = shop_frame(rng, 2000, price_shift=1.0, countries=HOSTILE_VALUES)
    from monitoring_platform.lib.drift_segments import segment_drift
    from monitoring_platform.lib.reports import publish_page
    from monitoring_platform.lib.storage import LocalObjectStore

    result = compute_drift(ref, cur, SHOP)
    segments = segment_drift(ref, cur, SHOP_SEGMENTED, min_rows=100)
    assert {s.value for s in segments} == set(HOSTILE_VALUES)
    html = drift_page(result, segments, SHOP_SEGMENTED, "2026-03-01")
    assert HOSTILE_VALUES[0] not in html and HOSTILE_VALUES[1] not in html, (
        "escaped in markup and in data"
    )
    key = publish_page(
        LocalObjectStore(tmp_path), SHOP_SEGMENTED.name, "2026-03-01", "data_drift", html
    )

    seen = visit(tmp_path / key, evaluate="window.__pwned === undefined")
    assert seen.evaluated is True and seen.dialogs == []
    assert seen.page_errors == [] and seen.console_errors == []
    assert "Dataset Drift" in seen.text and "Drifted Columns: 1 of 3 features" in seen.text
    assert "Wasserstein distance (normed)" in seen.text and "Drift by segment" in seen.text
    assert HOSTILE_VALUES[0] in seen.text, "the hostile value is shown as text"
    assert seen.title == f"Data drift · {SHOP_SEGMENTED.name} · 2026-03-01"
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
    ref, cur = (
        shop_frame(rng, 500, countries=HOSTILE_VALUES),
        shop_frame(rng, 500, countries=HOSTILE_VALUES),
    )
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
