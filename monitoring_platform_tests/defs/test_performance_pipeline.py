"""Labels arrive over days; the late-labels sensor re-evaluates exactly the affected days."""

import datetime as dt

import pytest
from dagster import AssetKey, DagsterInstance, SkipReason, build_sensor_context, materialize

from monitoring_platform.config import load_config
from monitoring_platform.definitions import build_definitions
from monitoring_platform.defs.performance.sensors import build_late_labels_sensor
from monitoring_platform.demo import QUIET_RUN_CONFIG
from monitoring_platform.lib.metric_store import MetricStore
from monitoring_platform.lib.traffic import generate_traffic
from monitoring_platform_tests.browser import visit
from monitoring_platform_tests.conftest import small_config_dict, write_config
from monitoring_platform_tests.support import run_day

START, END = dt.date(2026, 11, 1), dt.date(2026, 11, 6)
MODEL = "ctr_ranker"  # labels arrive up to 2 days late


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("performance")
    config = load_config(write_config(tmp, small_config_dict(tmp, requests_per_day=1500)))
    generate_traffic(config, START, END, seed=21, models=[MODEL])
    defs = build_definitions(config)
    instance = DagsterInstance.ephemeral()
    day = START
    while day <= END:
        run_day(defs, instance, day)
        day += dt.timedelta(days=1)
    return config, defs, instance, tmp


def coverage(config, day):
    store = MetricStore(config.metric_store_url())
    rows = store.metrics(model=MODEL, partition_date=day, asset="model_performance_report")
    return {r["metric"]: r["value"] for r in rows if not r["dims"]}


@pytest.mark.slow
def test_sensor_requests_each_affected_day_once_and_late_labels_update_quality(world):
    config, defs, instance, tmp = world
    sensor = build_late_labels_sensor(config)
    context = build_sensor_context(instance=instance)
    requests = list(sensor(context))
    keys = sorted((r.partition_key, r.tags["monitoring_platform/trigger"]) for r in requests)
    expected = []
    for arrival in range(2, 7):
        for back in (2, 1):
            day = arrival - back
            if day >= 1:
                expected.append((f"2026-11-{day:02d}", f"labels arrived 2026-11-{arrival:02d}"))
    assert keys == sorted(expected)
    assert all(
        r.asset_selection == [AssetKey([MODEL, "model_performance_report"])] for r in requests
    )
    assert all(r.tags["monitoring_platform/model"] == MODEL for r in requests), "queued per model"
    assert len({r.run_key for r in requests}) == len(requests)

    again = sensor(build_sensor_context(instance=instance, cursor=context.cursor))
    assert isinstance(again, SkipReason), "nothing new: nothing requested twice"

    day = dt.date(2026, 11, 5)
    before = coverage(config, day)
    (request,) = [r for r in requests if r.partition_key == "2026-11-05" and "11-06" in r.run_key]
    result = materialize(
        [*defs.assets, *defs.asset_checks],
        selection=request.asset_selection,
        partition_key=request.partition_key,
        instance=instance,
        resources=dict(defs.resources),
        run_config=QUIET_RUN_CONFIG,
    )
    assert result.success
    after = coverage(config, day)
    assert after["labeled"] > before["labeled"]
    assert after["label_coverage"] > before["label_coverage"]
    assert after["roc_auc"] != before["roc_auc"]


@pytest.mark.slow
def test_performance_report_opens_with_versions_side_by_side(world):
    config, _defs, _instance, tmp = world
    page = tmp / "reports" / MODEL / "2026-11-04" / "model_performance.html"
    seen = visit(page)
    assert seen.page_errors == [] and seen.console_errors == []
    assert "all versions" in seen.text and "label coverage" in seen.text
    versions = config.model(MODEL).simulation.versions
    assert all(v in seen.text for v in versions), "rollout day shows both versions"
    assert "ROC AUC" in seen.text or "Roc" in seen.text or "roc_auc" in seen.text
