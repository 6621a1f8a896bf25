"""The estimation step: its check's verdict, its metrics, and a run on a lake without Dagster."""

import datetime as dt

import pandas as pd
import pytest

from monitoring_platform.lib import estimation as est
from monitoring_platform.lib import labels as labels_lib
from monitoring_platform.lib import lake
from monitoring_platform.lib.estimation_stage import (
    ESTIMATED_QUALITY,
    estimate_metrics,
    estimated_performance,
    estimated_quality_verdict,
    read_estimates,
)
from monitoring_platform_tests.lib.conftest import binary_world, model_config


def test_verdict_fails_below_the_limit_with_the_configured_severity():
    model = model_config(
        thresholds={"quality": {"min_roc_auc": 0.99}},
        estimation={"min_reference_labels": 200, "severity": "ERROR"},
    )
    result = est.estimate(model, binary_world(3000, 1), binary_world(1000, 2))
    verdict = estimated_quality_verdict(model, result)
    passed, severity, text, observed = (
        verdict.passed,
        verdict.severity,
        verdict.description,
        verdict.observed,
    )
    assert verdict.name == ESTIMATED_QUALITY
    assert not passed and severity == "ERROR"
    assert "roc_auc" in text and "below its limit 0.99" in text and "band" in text
    assert observed["roc_auc"] == pytest.approx(result.overall.metrics["roc_auc"].value, abs=1e-6)


def test_verdict_stays_quiet_when_the_estimate_cannot_be_trusted():
    model = model_config(thresholds={"quality": {"min_roc_auc": 0.99}})
    result = est.estimate(model, binary_world(100, 1), binary_world(1000, 2))
    verdict = estimated_quality_verdict(model, result)
    passed, text = verdict.passed, verdict.description
    assert verdict.observed["evaluated"] is False
    assert passed
    assert text.startswith("Not estimated: the reference has 100 labelled predictions")


def test_metrics_hold_each_estimate_with_its_band_overall_and_per_version():
    model = model_config()
    result = est.estimate(model, binary_world(3000, 1, versions=("v1", "v2")), binary_world(500, 2))
    rows = {(m.name, tuple(sorted((m.dims or {}).items()))): m for m in estimate_metrics(result)}
    overall = result.overall.metrics["accuracy"]
    assert rows[("accuracy", ())].value == overall.value
    assert rows[("accuracy_low", ())].value == overall.low
    assert rows[("accuracy_high", ())].value == overall.high
    assert rows[("estimated", ())].value == 1.0
    assert rows[("reference_labeled", ())].value == 3000
    v1 = result.by_version["v1"].metrics["accuracy"]
    assert rows[("accuracy", (("model_version", "v1"),))].value == v1.value


def test_the_step_estimates_the_day_from_the_lake_and_writes_its_estimates(lake_store, write_lake):
    model = model_config(reference={"trailing_days": 2}, labels={"max_delay_days": 1})
    day = dt.date(2026, 3, 3)
    reference = binary_world(3000, 1)
    for n, ref_day in enumerate([dt.date(2026, 3, 1), dt.date(2026, 3, 2)]):
        part = reference.iloc[n * 1500 : (n + 1) * 1500]
        write_lake(lake.ACCEPTED, "m", ref_day, part.drop(columns="label"))
        labels = part[["request_id", "label"]].assign(labeled_at=pd.Timestamp(ref_day, tz="UTC"))
        write_lake(labels_lib.ACCEPTED, "m", ref_day, labels)
    write_lake(lake.ACCEPTED, "m", day, binary_world(1000, 2).drop(columns="label"))

    result = estimated_performance(model, day, lake_store)

    assert result.metadata["status"] == "estimated"
    assert result.metadata["reference_days"] == {"2026-03-01": 1500, "2026-03-02": 1500}
    independent = est.estimate(model, reference, binary_world(1000, 2).drop(columns="label"))
    assert result.metadata["accuracy"] == round(independent.overall.metrics["accuracy"].value, 6)
    written = read_estimates(lake_store, model, day)
    assert set(written["metric"].dropna()) >= {"accuracy", "roc_auc"}
    assert [v.name for v in result.verdicts] == [ESTIMATED_QUALITY]
