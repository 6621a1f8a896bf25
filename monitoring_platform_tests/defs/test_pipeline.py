"""Whole partitions through Dagster, in process, on generated traffic."""

import datetime as dt

import pytest
from dagster import (
    AssetCheckSeverity,
    AssetKey,
    DagsterInstance,
)

from monitoring_platform.config import load_config
from monitoring_platform.definitions import build_definitions
from monitoring_platform.defs.resources import LOCAL_REPORTS_BASE_URL
from monitoring_platform.lib import lake
from monitoring_platform.lib.metric_store import MetricStore
from monitoring_platform.lib.storage import LocalObjectStore
from monitoring_platform.lib.traffic import generate_traffic
from monitoring_platform_tests.browser import visit
from monitoring_platform_tests.conftest import small_config_dict, write_config
from monitoring_platform_tests.support import checks_of, run_day

START = dt.date(2026, 11, 1)
END = dt.date(2026, 11, 8)  # eight days: schema bug on the 6th, drift on the 7th and 8th
SCHEMA_BUG_DAY = dt.date(2026, 11, 6)
DRIFT_DAYS = {dt.date(2026, 11, 7), dt.date(2026, 11, 8)}
MODEL = "ctr_ranker"


@pytest.fixture(scope="module")
def evaluated(tmp_path_factory):
    """Eight generated days of ctr_ranker, each evaluated in its own run, oldest first."""
    tmp = tmp_path_factory.mktemp("pipeline")
    raw = small_config_dict(tmp, requests_per_day=1500)
    config = load_config(write_config(tmp, raw))
    generate_traffic(config, START, END, seed=11, models=[MODEL])
    defs = build_definitions(config)
    instance = DagsterInstance.ephemeral()
    results = {}
    day = START
    while day <= END:
        results[day] = run_day(defs, instance, day)
        day += dt.timedelta(days=1)
    return config, defs, instance, results, tmp


@pytest.mark.slow
def test_rows_in_equals_accepted_plus_quarantined_every_day(evaluated):
    config, _defs, _instance, results, tmp = evaluated
    store = MetricStore(config.metric_store_url())
    lake_store = LocalObjectStore(tmp / "lake")
    quarantined_total = 0
    for day in results:
        metrics = {
            m["metric"]: m["value"]
            for m in store.metrics(model=MODEL, partition_date=day, asset="inference_logs")
        }
        assert metrics["rows_in"] == metrics["rows_accepted"] + metrics["rows_quarantined"]
        accepted = lake.read_partition(lake_store, lake.ACCEPTED, MODEL, day)
        quarantined = lake.read_partition(lake_store, lake.QUARANTINE, MODEL, day)
        assert accepted.num_rows == metrics["rows_accepted"]
        assert quarantined.num_rows == metrics["rows_quarantined"]
        assert all(quarantined.column("reason").to_pylist()), "every quarantined row has a reason"
        quarantined_total += quarantined.num_rows
    assert quarantined_total > 0


@pytest.mark.slow
def test_schema_bug_day_blocks_drift_and_other_days_flow(evaluated):
    _config, _defs, _instance, results, _tmp = evaluated
    bug = results[SCHEMA_BUG_DAY]
    assert not bug.success
    check = checks_of(bug)["expectations_met"]
    assert not check.passed and check.severity == AssetCheckSeverity.ERROR
    assert "quarantine_reason" in check.description
    assert not checks_of(bug)["quarantine_share_within_limit"].passed
    materialized = {e.asset_key for e in bug.get_asset_materialization_events()}
    assert AssetKey([MODEL, "inference_logs"]) in materialized
    downstream = {"data_drift_report", "model_performance_report"}
    assert not {k for k in materialized if k.path[-1] in downstream}, materialized
    for day, result in results.items():
        if day == SCHEMA_BUG_DAY:
            continue
        assert result.success, day
        assert checks_of(result)["quarantine_share_within_limit"].passed, day
        assert checks_of(result)["expectations_met"].severity == AssetCheckSeverity.WARN or (
            checks_of(result)["expectations_met"].passed
        ), day
        assert AssetKey([MODEL, "data_drift_report"]) in {
            e.asset_key for e in result.get_asset_materialization_events()
        }


@pytest.mark.slow
def test_drift_episode_is_flagged_and_calm_days_are_not(evaluated):
    _config, _defs, _instance, results, _tmp = evaluated
    for day, result in results.items():
        if day in (START, SCHEMA_BUG_DAY):
            continue  # no reference yet / blocked
        drift = checks_of(result)["dataset_drift_within_threshold"]
        if day in DRIFT_DAYS:
            assert not drift.passed, day
        else:
            assert drift.passed, (day, drift.description)
    # The first day has no reference: nothing to judge (a pass marked not evaluated), and the
    # incomplete window is a WARN naming the missing days.
    first = checks_of(results[START])
    drift = first["dataset_drift_within_threshold"]
    assert drift.passed and drift.metadata["evaluated"].value is False
    assert "Not evaluated: the reference window" in drift.description
    window = first["reference_window_complete"]
    assert not window.passed and window.severity == AssetCheckSeverity.WARN
    assert "2026-10-31" in window.description
    complete = checks_of(results[END])["reference_window_complete"]
    assert complete.passed, complete.description


@pytest.mark.slow
def test_drift_report_opens_in_chromium_and_is_linked(evaluated):
    _config, _defs, _instance, results, tmp = evaluated
    last = results[END]
    (event,) = [
        e
        for e in last.get_asset_materialization_events()
        if e.asset_key == AssetKey([MODEL, "data_drift_report"])
    ]
    metadata = event.event_specific_data.materialization.metadata
    url = metadata["report"].value
    assert url == f"{LOCAL_REPORTS_BASE_URL}/{MODEL}/{END.isoformat()}/data_drift.html"
    assert metadata["reference_window"].value == "2026-11-01..2026-11-07"
    seen = visit(tmp / "reports" / MODEL / END.isoformat() / "data_drift.html")
    assert seen.page_errors == [] and seen.console_errors == []
    assert "Dataset Drift" in seen.text and "position" in seen.text


@pytest.mark.slow
def test_rerunning_a_partition_replaces_it(evaluated):
    config, defs, instance, results, tmp = evaluated
    day = dt.date(2026, 11, 4)
    lake_store = LocalObjectStore(tmp / "lake")
    before = lake.read_partition(lake_store, lake.ACCEPTED, MODEL, day).to_pylist()
    store = MetricStore(config.metric_store_url())
    metrics_before = len(store.metrics(model=MODEL, partition_date=day))
    checks_before = len(store.checks(model=MODEL, partition_date=day))

    assert run_day(defs, instance, day).success
    after = lake.read_partition(lake_store, lake.ACCEPTED, MODEL, day).to_pylist()
    assert after == before
    assert len(store.metrics(model=MODEL, partition_date=day)) == metrics_before
    assert len(store.checks(model=MODEL, partition_date=day)) == checks_before


@pytest.mark.slow
def test_a_day_without_logs_is_reported_not_raised(evaluated):
    config, defs, instance, _results, tmp = evaluated
    empty_day = END + dt.timedelta(days=3)
    result = run_day(defs, instance, empty_day)
    arrived = checks_of(result)["logs_arrived"]
    assert not arrived.passed and arrived.severity == AssetCheckSeverity.ERROR
    assert "No log objects for" in arrived.description
    (event,) = [
        e
        for e in result.get_asset_materialization_events()
        if e.asset_key == AssetKey([MODEL, "inference_logs"])
    ]
    assert event.event_specific_data.materialization.metadata["status"].value == "no_data"
    failures = [e for e in result.all_events if e.event_type_value == "STEP_FAILURE"]
    assert all("blocking asset check" in str(e.event_specific_data.error) for e in failures)
    store = MetricStore(config.metric_store_url())
    (row,) = [
        c
        for c in store.checks(model=MODEL, partition_date=empty_day)
        if c["check_name"] == "logs_arrived"
    ]
    assert row["passed"] is False


@pytest.mark.slow
def test_validation_page_of_the_failing_day_names_the_failures(evaluated):
    _config, _defs, _instance, results, tmp = evaluated
    check = checks_of(results[SCHEMA_BUG_DAY])["expectations_met"]
    url = check.metadata["report"].value
    assert url == f"{LOCAL_REPORTS_BASE_URL}/{MODEL}/{SCHEMA_BUG_DAY.isoformat()}/validation.html"
    failed = check.metadata["failed_expectations"].value
    assert failed[0]["column"] == "quarantine_reason" and failed[0]["severity"] == "error"
    assert any(
        "expected a number, got a string" in v for v in failed[0]["sample_unexpected_values"]
    )
    seen = visit(tmp / "reports" / MODEL / SCHEMA_BUG_DAY.isoformat() / "validation.html")
    assert seen.page_errors == [] and seen.console_errors == []
    assert "contract expectation(s) failed: downstream assets are blocked" in seen.text
    assert "expect_column_values_to_be_null" in seen.text and "FAILED (error)" in seen.text
    assert "expected a number, got a string" in seen.text
