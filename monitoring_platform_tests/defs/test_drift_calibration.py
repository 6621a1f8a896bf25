"""Calibrated drift through Dagster: bounds in the metric store, cached per reference window."""

import datetime as dt
import json

import pytest

from monitoring_platform.config import load_config
from monitoring_platform.definitions import build_definitions
from monitoring_platform.lib.metric_store import MetricStore
from monitoring_platform.lib.traffic import generate_traffic
from monitoring_platform_tests.conftest import small_config_dict, write_config
from monitoring_platform_tests.support import checks_of, run_day

MODEL = "eta_regressor"
DAYS = [dt.date(2026, 11, 1) + dt.timedelta(days=n) for n in range(6)]


@pytest.mark.slow
def test_pinned_reference_bounds_are_stored_shown_and_cached(tmp_path):
    from dagster import DagsterInstance

    raw = small_config_dict(tmp_path, requests_per_day=600)
    raw["models"][1]["reference"] = {"start": "2026-11-01", "end": "2026-11-04", "min_rows": 200}
    config = load_config(write_config(tmp_path, raw))
    generate_traffic(config, DAYS[0], DAYS[-1], seed=3, models=[MODEL])
    defs = build_definitions(config)
    instance = DagsterInstance.ephemeral()
    for day in DAYS[:4]:
        assert run_day(defs, instance, day, MODEL).success
    first = run_day(defs, instance, DAYS[4], MODEL)
    assert first.success
    cache = tmp_path / "lake/drift_calibration/model=eta_regressor/dt=2026-11-04/manifest.json"
    cached = json.loads(cache.read_text())
    assert cached["days"] == [str(d) for d in DAYS[:4]]
    assert all(len(scores) == 4 for scores in cached["scores"].values())

    store = MetricStore(config.metric_store_url())
    rows = store.metrics(model=MODEL, partition_date=DAYS[4], asset="data_drift_report")
    bounds = {
        json.loads(r["dims"])["column"]: r["value"] for r in rows if r["metric"] == "drift_bound"
    }
    model = config.model(MODEL)
    assert set(bounds) == {f.name for f in model.features} | {"prediction"}
    missing = {json.loads(r["dims"])["column"] for r in rows if r["metric"] == "missing_share"}
    assert missing == {f.name for f in model.features}
    checks = checks_of(first)
    assert checks["reference_window_complete"].passed
    assert "mode calibrated" in checks["dataset_drift_within_threshold"].description

    # A later day reuses the window's scores: the bounds are the same numbers.
    cache.write_text(json.dumps({**cached, "scores": {k: [9.0] * 4 for k in cached["scores"]}}))
    assert run_day(defs, instance, DAYS[5], MODEL).success
    later = store.metrics(model=MODEL, partition_date=DAYS[5], asset="data_drift_report")
    reused = {
        json.loads(r["dims"])["column"]: r["value"] for r in later if r["metric"] == "drift_bound"
    }
    assert reused == {column: pytest.approx(9.0) for column in bounds}
