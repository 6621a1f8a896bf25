"""The reference window: its days, the manifest of what the lake holds, the completeness check."""

import datetime as dt

import pandas as pd

from monitoring_platform.config import parse_config
from monitoring_platform.lib import lake
from monitoring_platform.lib.reference import (
    REFERENCE_COMPLETE,
    reference_code_version,
    reference_complete,
    reference_dates,
    reference_window,
    window_days,
    window_text,
)


def model_with(reference: str):
    return parse_config(
        f"""
models:
  - name: shop
    task: binary_classification
    reference: {reference}
    features:
      - {{name: price, type: numerical}}
"""
    ).models[0]


TRAILING = model_with("{trailing_days: 3}")
PINNED = model_with("{start: 2026-02-01, end: 2026-02-03}")


def test_trailing_reference_window():
    assert reference_dates(TRAILING, dt.date(2026, 3, 1)) == [
        dt.date(2026, 2, 26),
        dt.date(2026, 2, 27),
        dt.date(2026, 2, 28),
    ]


def test_pinned_window_is_the_same_for_every_day():
    expected = [dt.date(2026, 2, 1), dt.date(2026, 2, 2), dt.date(2026, 2, 3)]
    assert reference_dates(PINNED, dt.date(2026, 3, 1)) == expected
    assert reference_dates(PINNED, dt.date(2026, 5, 9)) == expected
    assert window_text(expected) == "2026-02-01..2026-02-03"
    assert window_text([]) == "(empty)"


def test_code_version_changes_with_the_reference_only():
    assert reference_code_version(TRAILING) == reference_code_version(
        model_with("{trailing_days: 3}")
    )
    assert reference_code_version(TRAILING) != reference_code_version(
        model_with("{trailing_days: 4}")
    )


def test_the_manifest_lists_the_days_found_their_rows_and_the_missing_ones(lake_store, write_lake):
    day = dt.date(2026, 3, 1)
    write_lake(lake.ACCEPTED, "shop", dt.date(2026, 2, 26), pd.DataFrame({"price": [1.0, 2.0]}))
    write_lake(lake.ACCEPTED, "shop", dt.date(2026, 2, 28), pd.DataFrame({"price": [3.0] * 5}))

    result = reference_window(TRAILING, day, lake_store)

    manifest = lake.read_manifest(lake_store, lake.REFERENCE, "shop", day)
    assert manifest["days"] == ["2026-02-26", "2026-02-28"]
    assert manifest["missing"] == ["2026-02-27"]
    assert manifest["rows"] == {"2026-02-26": 2, "2026-02-28": 5}
    assert manifest["total_rows"] == 7
    assert result.metadata["window"] == "2026-02-26..2026-02-28"
    assert result.metadata["dagster/row_count"] == 7
    assert result.metadata["days_missing"] == ["2026-02-27"]
    assert result.metrics == [] and result.verdicts == []
    # Later steps read the days the manifest found; without a manifest, the whole window.
    assert window_days(TRAILING, day, manifest) == ["2026-02-26", "2026-02-28"]
    assert window_days(TRAILING, day, None) == reference_dates(TRAILING, day)


def test_an_incomplete_window_warns_and_names_the_missing_days():
    verdict = reference_complete("2026-02-26..2026-02-28", ["2026-02-27"])
    assert verdict.name == REFERENCE_COMPLETE
    assert not verdict.passed and verdict.severity == "WARN"
    assert "1 days not ingested (2026-02-27)" in verdict.description
    assert verdict.observed == {"window": "2026-02-26..2026-02-28", "days_missing": "2026-02-27"}

    complete = reference_complete("2026-02-26..2026-02-28", [])
    assert complete.passed
    assert (
        complete.description
        == "Every day of the reference window 2026-02-26..2026-02-28 is ingested."
    )
