"""The estimation asset through Dagster: a small model-day estimated, recorded, checked and
compared with realized quality once labels land."""

import datetime as dt

import pytest
from dagster import AssetKey, AssetSelection, DagsterInstance, materialize

from monitoring_platform.config import load_config
from monitoring_platform.definitions import build_definitions
from monitoring_platform.demo import QUIET_RUN_CONFIG
from monitoring_platform.lib import estimation_stage
from monitoring_platform.lib.estimation_stage import ESTIMATED_QUALITY
from monitoring_platform.lib.metric_store import MetricStore
from monitoring_platform.lib.storage import LocalObjectStore
from monitoring_platform.simulation import generate_traffic
from monitoring_platform_tests.browser import visit
from monitoring_platform_tests.conftest import small_config_dict, write_config

START, END = dt.date(2026, 11, 1), dt.date(2026, 11, 5)
MODEL = "ctr_ranker"
STAGES = (
    "inference_logs",
    "labels",
    "reference_window",
    "estimated_performance",
    "model_performance_report",
)


def run(defs, instance, day, stages=STAGES):
    keys = [AssetKey([MODEL, stage]) for stage in stages]
    return materialize(
        [*defs.assets, *defs.asset_checks],
        selection=AssetSelection.assets(*keys) | AssetSelection.checks_for_assets(*keys),
        partition_key=day.isoformat(),
        instance=instance,
        resources=dict(defs.resources),
        raise_on_error=False,
        run_config=QUIET_RUN_CONFIG,
    )


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("estimation")
    raw = small_config_dict(tmp, requests_per_day=1500)
    for model in raw["models"]:
        model["reference"]["trailing_days"] = 3
        model["estimation"] = {"min_reference_labels": 1000, "max_calibration_error": 0.08}
    config = load_config(write_config(tmp, raw))
    generate_traffic(config, START, END, seed=5, models=[MODEL])
    defs = build_definitions(config)
    instance = DagsterInstance.ephemeral()
    results = {}
    day = START
    while day <= END:
        results[day] = run(defs, instance, day)
        day += dt.timedelta(days=1)
    return config, defs, instance, results, tmp


def evaluation(result):
    (found,) = [
        e for e in result.get_asset_check_evaluations() if e.check_name == ESTIMATED_QUALITY
    ]
    return found


@pytest.mark.slow
def test_first_day_has_no_reference_and_says_so_without_failing(world):
    _config, _defs, _instance, results, _tmp = world
    result = results[START]
    assert result.success
    check = evaluation(result)
    assert check.passed
    assert "Not estimated" in check.description and "labelled predictions" in check.description


@pytest.mark.slow
def test_day_is_estimated_recorded_in_store_and_lake_and_close_to_realized(world):
    config, _defs, _instance, results, tmp = world
    day = END
    assert results[day].success
    check = evaluation(results[day])
    assert check.passed, check.description  # the generator's model stays above min_roc_auc
    assert "within its limits" in check.description
    store = MetricStore(config.metric_store_url())
    estimated = {
        r["metric"]: r["value"]
        for r in store.metrics(model=MODEL, partition_date=day, asset="estimated_performance")
        if not r["dims"]
    }
    assert estimated["estimated"] == 1.0
    assert estimated["roc_auc_low"] <= estimated["roc_auc"] <= estimated["roc_auc_high"]
    realized = {
        r["metric"]: r["value"]
        for r in store.metrics(model=MODEL, partition_date=day, asset="model_performance_report")
        if not r["dims"]
    }
    # The gap recorded by the performance step is estimated minus realized, metric by metric.
    for metric in ("roc_auc", "accuracy", "precision", "recall", "log_loss"):
        assert realized[f"{metric}_estimate_gap"] == pytest.approx(
            estimated[metric] - realized[metric]
        )
    assert abs(realized["roc_auc_estimate_gap"]) < 0.06
    lake_rows = estimation_stage.read_estimates(
        LocalObjectStore(str(tmp / "lake")), config.model(MODEL), day
    )
    overall = lake_rows[(lake_rows.model_version == "") & (lake_rows.metric == "roc_auc")]
    assert overall["value"].item() == pytest.approx(estimated["roc_auc"])


@pytest.mark.slow
def test_rerun_replaces_the_days_estimate(world):
    config, defs, instance, _results, _tmp = world
    store = MetricStore(config.metric_store_url())
    before = store.metrics(model=MODEL, partition_date=END, asset="estimated_performance")
    assert run(defs, instance, END, ("estimated_performance",)).success
    after = store.metrics(model=MODEL, partition_date=END, asset="estimated_performance")
    assert len(after) == len(before)
    assert {(r["metric"], r["dims"], r["value"]) for r in after} == {
        (r["metric"], r["dims"], r["value"]) for r in before
    }


@pytest.mark.slow
def test_performance_page_shows_estimated_beside_realized(world):
    _config, _defs, _instance, _results, tmp = world
    seen = visit(tmp / "reports" / MODEL / END.isoformat() / "model_performance.html")
    assert seen.page_errors == [] and seen.console_errors == []
    assert "Estimated vs realized" in seen.text
    assert "roc_auc" in seen.text and "estimated − realized" in seen.text
