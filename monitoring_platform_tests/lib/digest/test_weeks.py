"""ISO weeks: their days, the week of a day, and bad weeks named."""

import datetime as dt

import pytest

from monitoring_platform.lib.digest.weeks import week_days, week_of
from monitoring_platform_tests.lib.digest.conftest import (
    DAYS,
    WEEK,
)


def test_weeks_are_iso_weeks_and_bad_ones_are_named():
    assert DAYS[0] == dt.date(2026, 11, 16) and DAYS[-1] == dt.date(2026, 11, 22)
    assert week_of(dt.date(2026, 11, 22)) == WEEK and week_of(dt.date(2026, 11, 23)) == "2026-W48"
    with pytest.raises(ValueError, match="YYYY-Www"):
        week_days("2026-47")
    with pytest.raises(ValueError, match="2026-W60"):
        week_days("2026-W60")
