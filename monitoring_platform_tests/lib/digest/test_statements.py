"""The digest's statements against the metric store's numbers, counted independently."""

import datetime as dt

import pandas as pd

from monitoring_platform.lib.digest.episodes import alert_episodes
from monitoring_platform.lib.digest.publish import gather_digest
from monitoring_platform_tests.lib.digest.conftest import (
    BEFORE,
    DAYS,
    MODEL,
    WEEK,
)


def test_the_digest_states_the_metric_stores_numbers(setup):
    config, reports, store, alerts, _smtp, _ = setup
    digest = gather_digest(config, WEEK, store, alerts, reports)
    (model,) = digest.models

    # Checks, counted independently from the stored rows with pandas.
    checks = pd.DataFrame(store.checks(model=MODEL))
    week = checks[checks["partition_date"].isin(DAYS)]
    assert model.checks_run == len(week) == 21
    assert model.checks_failed == int((~week["passed"]).sum()) == 3
    assert model.days_evaluated == week["partition_date"].nunique() == 7
    texts = [s.text for s in model.statements]
    assert "3 of 21 checks failed, on 3 of the 7 days evaluated." in texts

    # Alerts: one raised and resolved 27.5 hours later, one still open.
    episodes = alert_episodes(alerts.messages())
    assert [e.duration for e in episodes] == [dt.timedelta(hours=27, minutes=30), None]
    assert model.alerts_raised == 2 and model.alerts_resolved == 1
    assert any(t.startswith("2 alerts raised, 1 resolved (open for 27.5 hours") for t in texts)
    assert any("1 still open at the end of the week" in t for t in texts)

    # Week-over-week means, against pandas over the stored values.
    values = pd.DataFrame(store.metrics(model=MODEL, metric="click_through_rate"))
    now = values[values["partition_date"].isin(DAYS)]["value"].mean()
    before = values[values["partition_date"].isin(BEFORE)]["value"].mean()
    ctr = next(t for t in texts if t.startswith("Click-through rate"))
    assert ctr.startswith(f"Click-through rate averaged {now:.1%}, down from {before:.1%}")
    assert f"({abs(now - before) / before:.0%}), a worsening" in ctr

    # Drift as an episode in words, with the days behind it.
    drift = next(s for s in model.statements if s.text.startswith("The input data differed"))
    assert "Tue 17 Nov to Wed 18 Nov (2 days): up to 60%" in drift.text
    assert [href for _, href in drift.links] == [
        f"{MODEL}/2026-11-17/data_drift.html",
        f"{MODEL}/2026-11-18/data_drift.html",
    ]
    assert "Wasserstein" not in " ".join(texts) and "p_value" not in " ".join(texts)
    assert digest.fleet[1].text.startswith("3 of 21 checks failed across the fleet")
