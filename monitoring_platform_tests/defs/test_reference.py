"""The reference window is an asset: it records what it used, and a config change makes it stale."""

import datetime as dt
import json

import pytest
from dagster import AssetKey, DagsterInstance
from dagster._core.definitions.data_version import CachingStaleStatusResolver, StaleStatus
from dagster._core.loader import LoadingContextForTest

from monitoring_platform.config import load_config
from monitoring_platform.definitions import build_definitions
from monitoring_platform.lib.traffic import generate_traffic
from monitoring_platform_tests.conftest import small_config_dict, write_config
from monitoring_platform_tests.support import run_day

MODEL = "eta_regressor"
DAYS = [dt.date(2026, 11, 1) + dt.timedelta(days=n) for n in range(4)]


def stale(instance, defs, name, day):
    resolver = CachingStaleStatusResolver(
        instance, defs.resolve_asset_graph(), LoadingContextForTest(instance)
    )
    return resolver.get_status(AssetKey([MODEL, name]), day.isoformat())


@pytest.mark.slow
def test_reference_records_its_days_and_a_config_change_marks_reports_stale(tmp_path):
    raw = small_config_dict(tmp_path, requests_per_day=600)
    raw["models"][1]["reference"] = {"trailing_days": 2, "min_rows": 200}
    config = load_config(write_config(tmp_path, raw))
    generate_traffic(config, DAYS[0], DAYS[-1], seed=2, models=[MODEL])
    defs = build_definitions(config)
    instance = DagsterInstance.ephemeral()
    results = [run_day(defs, instance, day, MODEL) for day in DAYS]
    assert all(r.success for r in results)

    (event,) = [
        e
        for e in results[-1].get_asset_materialization_events()
        if e.asset_key == AssetKey([MODEL, "reference_window"])
    ]
    metadata = event.event_specific_data.materialization.metadata
    assert metadata["days_used"].value == ["2026-11-02", "2026-11-03"]
    rows = metadata["rows_per_day"].value
    assert set(rows) == {"2026-11-02", "2026-11-03"} and all(n > 400 for n in rows.values())
    manifest = json.loads(
        (tmp_path / "lake/reference/model=eta_regressor/dt=2026-11-04/manifest.json").read_text()
    )
    assert manifest["total_rows"] == sum(rows.values())
    (drift,) = [
        e
        for e in results[-1].get_asset_materialization_events()
        if e.asset_key == AssetKey([MODEL, "data_drift_report"])
    ]
    drift_metadata = drift.event_specific_data.materialization.metadata
    assert drift_metadata["reference_rows"].value == manifest["total_rows"]
    assert stale(instance, defs, "data_drift_report", DAYS[-1]) == StaleStatus.FRESH

    raw["models"][1]["reference"] = {"trailing_days": 3, "min_rows": 200}
    changed = build_definitions(load_config(write_config(tmp_path, raw)))
    assert stale(instance, changed, "reference_window", DAYS[-1]) == StaleStatus.STALE
    assert stale(instance, changed, "data_drift_report", DAYS[-1]) == StaleStatus.STALE
