"""The incidents a simulated range carries, and each version's share of traffic per day."""

from __future__ import annotations

import datetime as dt

from monitoring_platform.simulation import Scenario, default_scenario, rollout_shares

START, END = dt.date(2026, 1, 1), dt.date(2026, 1, 10)


def test_default_scenario_follows_the_range():
    short = default_scenario(START, START + dt.timedelta(days=3))
    assert list(short.drift_days) == [] and short.schema_bug_day is None

    five = default_scenario(START, START + dt.timedelta(days=4))
    assert list(five.drift_days) == [dt.date(2026, 1, 4), dt.date(2026, 1, 5)]
    assert five.schema_bug_day is None

    ten = default_scenario(START, END)
    assert list(ten.drift_days) == [dt.date(2026, 1, 9), dt.date(2026, 1, 10)]
    assert ten.schema_bug_day == dt.date(2026, 1, 6)
    assert default_scenario(START, START).rollout_start > START


def test_rollout_goes_from_canary_to_half_to_everything():
    scenario = Scenario(rollout_start=dt.date(2026, 1, 3), rollout_step_days=2)
    versions = ["a", "b", "c"]
    shares = [rollout_shares(versions, scenario, START + dt.timedelta(days=i)) for i in range(12)]
    assert shares[:2] == [{"a": 1.0}] * 2
    assert shares[2:4] == [{"a": 0.9, "b": 0.1}] * 2
    assert shares[4:6] == [{"a": 0.5, "b": 0.5}] * 2
    assert shares[6:8] == [{"b": 1.0}] * 2
    assert shares[8] == {"b": 0.9, "c": 0.1}
    assert shares[11] == {"b": 0.5, "c": 0.5}
    assert rollout_shares(["only"], scenario, END) == {"only": 1.0}
    assert rollout_shares(versions, Scenario(), END) == {"a": 1.0}
