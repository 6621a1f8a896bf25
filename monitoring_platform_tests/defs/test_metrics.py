"""The metrics stage through Dagster: events, warehouse, dbt, the business report and its checks."""

import datetime as dt
import gzip
import json
import zlib

import pytest
from dagster import AssetKey, AssetSelection, DagsterInstance, materialize

from monitoring_platform.config import load_config
from monitoring_platform.definitions import build_definitions
from monitoring_platform.defs.keys import INFERENCE_LOGS, model_asset_key
from monitoring_platform.defs.metrics.assets import metrics_selection
from monitoring_platform.defs.resources import LOCAL_REPORTS_BASE_URL
from monitoring_platform.demo import QUIET_RUN_CONFIG
from monitoring_platform.lib.metric_store import MetricStore
from monitoring_platform.lib.storage import LocalObjectStore, partition_prefix
from monitoring_platform.lib.warehouse import BUSINESS_MART, SYSTEM_MART, DuckDBWarehouse
from monitoring_platform.simulation import Scenario, generate_traffic
from monitoring_platform_tests.browser import visit
from monitoring_platform_tests.conftest import small_config_dict, write_config

MODEL = "ctr_ranker"
START = dt.date(2026, 11, 1)
END = dt.date(2026, 11, 4)  # three calm days, then a latency regression and a click-through drop
BAD_DAY = END
LATENCY_FACTOR = 6.0
SLO_MS = 200.0


def test_lineage_runs_from_the_logs_through_dbt_to_the_report(tmp_path):
    config = load_config(write_config(tmp_path, small_config_dict(tmp_path)))
    graph = build_definitions(config).resolve_asset_graph()
    wh = lambda name: AssetKey(["warehouse", name])  # noqa: E731
    for model in ("ctr_ranker", "eta_regressor"):
        tables = AssetKey([model, "warehouse_tables"])
        assert graph.get(tables).parent_keys == {
            AssetKey([model, "inference_logs"]),
            AssetKey([model, "business_events"]),
            AssetKey([model, "labels"]),
        }
        assert tables in graph.get(wh("stg_inference_logs")).parent_keys
        assert graph.get(AssetKey([model, "business_metrics_report"])).parent_keys == {
            wh("fct_model_daily_system_metrics"),
            wh("fct_model_daily_business_metrics"),
        }
    assert graph.get(wh("int_request_outcomes")).parent_keys == {
        wh("stg_inference_logs"),
        wh("stg_business_events"),
    }
    assert wh("int_request_outcomes") in graph.get(wh("fct_model_daily_system_metrics")).parent_keys
    checks = {key.name for key in graph.asset_check_keys if key.asset_key == wh(SYSTEM_MART)}
    assert (
        "unique_combination_fct_model_daily_system_metrics_model_name__metric_date__model_version"
        in checks
    )
    # The marts' enforced contract refuses nulls and the bounds their arithmetic guarantees;
    # they carry no not_null or range test of those columns.
    assert not any(c.startswith(("not_null_", "accepted_range_")) for c in checks)
    business = {key.name for key in graph.asset_check_keys if key.asset_key == wh(BUSINESS_MART)}
    assert "accepted_range_fct_model_daily_business_metrics_revenue__0" in business
    # Revenue per 1,000 predictions is negative exactly when the revenue is: one test says so.
    assert not any("revenue_per_1k" in c for c in business)
    report_checks = {
        key.name
        for key in graph.asset_check_keys
        if key.asset_key == AssetKey([MODEL, "business_metrics_report"])
    }
    assert report_checks == {
        "latency_p95_within_slo",
        "error_rate_within_budget",
        "click_through_rate_drop_within_limit",
        "conversion_rate_drop_within_limit",
        "revenue_per_1k_predictions_drop_within_limit",
    }


def _rewrite(store: LocalObjectStore, prefix: str, change) -> None:
    for obj in store.list(prefix):
        lines = gzip.decompress(store.open(obj.key).read()).decode().splitlines()
        kept = []
        for line in lines:
            try:
                record = json.loads(line)
            except json.JSONDecodeError:
                kept.append(line)
                continue
            record = change(record)
            if record is not None:
                kept.append(json.dumps(record))
        store.put_bytes(obj.key, gzip.compress(("\n".join(kept) + "\n").encode()))


def _slower(record):
    if isinstance(record, dict) and record.get("status_code") == 200:
        record["latency_ms"] = round(record["latency_ms"] * LATENCY_FACTOR, 2)
    return record


def _fewer_clicks(record):
    # Two of every three clicks are lost (chosen by a hash of the request, deterministically).
    if record.get("event_type") == "click" and zlib.crc32(record["request_id"].encode()) % 3:
        return None
    return record


@pytest.fixture(scope="module")
def evaluated(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("metrics")
    raw = small_config_dict(tmp, requests_per_day=2000)
    raw["warehouse"] = {"path": str(tmp / "warehouse.duckdb")}
    for model in raw["models"]:
        model.setdefault("thresholds", {})["latency_p95_slo_ms"] = SLO_MS
    config = load_config(write_config(tmp, raw))
    scenario = Scenario(rollout_start=START + dt.timedelta(days=2))
    generate_traffic(config, START, END, seed=21, models=[MODEL], scenario=scenario)
    model = config.model(MODEL)
    prefix = partition_prefix(MODEL, BAD_DAY.isoformat())
    _rewrite(LocalObjectStore(config.logs_root(model)), prefix, _slower)
    _rewrite(LocalObjectStore(config.events_root(model)), prefix, _fewer_clicks)
    defs = build_definitions(config)
    instance = DagsterInstance.ephemeral()
    selection = metrics_selection(model) | AssetSelection.assets(
        model_asset_key(model.name, INFERENCE_LOGS)
    )
    results = {}

    def run(day):
        return materialize(
            [*defs.assets, *defs.asset_checks],
            selection=selection,
            partition_key=day.isoformat(),
            instance=instance,
            resources=dict(defs.resources),
            raise_on_error=False,
            run_config=QUIET_RUN_CONFIG,
        )

    day = START
    while day <= END:
        results[day] = run(day)
        day += dt.timedelta(days=1)
    return config, results, run, tmp


def checks_of(result):
    return {(e.asset_key.path[-1], e.check_name): e for e in result.get_asset_check_evaluations()}


@pytest.mark.slow
def test_every_day_materializes_the_stage_and_dbt_tests_pass(evaluated):
    _config, results, _run, _tmp = evaluated
    for day, result in results.items():
        assert result.success, day
        keys = {e.asset_key.to_user_string() for e in result.get_asset_materialization_events()}
        assert {
            f"{MODEL}/business_events",
            f"{MODEL}/warehouse_tables",
            "warehouse/fct_model_daily_system_metrics",
            "warehouse/fct_model_daily_business_metrics",
            f"{MODEL}/business_metrics_report",
        } <= keys, day
        dbt_checks = [
            e for e in result.get_asset_check_evaluations() if e.asset_key.path[0] == "warehouse"
        ]
        assert dbt_checks and all(e.passed for e in dbt_checks), day


@pytest.mark.slow
def test_calm_days_pass_and_the_bad_day_fails_with_its_numbers(evaluated):
    _config, results, _run, _tmp = evaluated
    for day in (START + dt.timedelta(days=1), START + dt.timedelta(days=2)):
        checks = checks_of(results[day])
        for name in ("latency_p95_within_slo", "error_rate_within_budget"):
            assert checks[("business_metrics_report", name)].passed, (day, name)
        ctr = checks[("business_metrics_report", "click_through_rate_drop_within_limit")]
        assert ctr.passed, (day, ctr.description)

    bad = checks_of(results[BAD_DAY])
    latency = bad[("business_metrics_report", "latency_p95_within_slo")]
    assert not latency.passed
    observed = latency.metadata["observed"].value
    assert observed > SLO_MS and latency.metadata["threshold"].value == SLO_MS
    assert f"{observed:,.1f} ms" in latency.description and "200.0 ms" in latency.description

    ctr = bad[("business_metrics_report", "click_through_rate_drop_within_limit")]
    assert not ctr.passed
    drop = ctr.metadata["drop"].value
    assert 0.5 < drop < 0.8  # two thirds of the clicks were removed
    assert ctr.metadata["baseline"].value > ctr.metadata["observed"].value
    assert "below its trailing 3-day mean" in ctr.description


@pytest.mark.slow
def test_metric_store_and_warehouse_agree_and_a_rerun_replaces(evaluated):
    config, results, run, _tmp = evaluated
    store = MetricStore(config.metric_store_url())
    warehouse = DuckDBWarehouse(config.warehouse_path())
    day = START + dt.timedelta(days=2)
    marts = warehouse.mart_rows(SYSTEM_MART, MODEL, day, day)
    assert len(marts) == 2  # the canary day: both versions
    stored = {
        (m["metric"], m["dims"]): m["value"]
        for m in store.metrics(model=MODEL, partition_date=day, asset="business_metrics_report")
    }
    for row in marts:
        dims = json.dumps({"model_version": row["model_version"]})
        assert stored[("latency_p95_ms", dims)] == pytest.approx(row["latency_p95_ms"])
        assert stored[("requests", dims)] == row["requests"]
    metrics_before = len(store.metrics(model=MODEL, partition_date=day))
    checks_before = len(store.checks(model=MODEL, partition_date=day))
    business_before = warehouse.mart_rows(BUSINESS_MART, MODEL, START, END)

    assert run(day).success
    assert len(store.metrics(model=MODEL, partition_date=day)) == metrics_before
    assert len(store.checks(model=MODEL, partition_date=day)) == checks_before
    assert warehouse.mart_rows(BUSINESS_MART, MODEL, START, END) == business_before
    assert warehouse.count("inference_logs", MODEL, day) == sum(r["requests"] for r in marts)


@pytest.mark.slow
def test_business_report_is_written_linked_and_opens_in_chromium(evaluated):
    _config, results, _run, tmp = evaluated
    (event,) = [
        e
        for e in results[BAD_DAY].get_asset_materialization_events()
        if e.asset_key == AssetKey([MODEL, "business_metrics_report"])
    ]
    url = event.event_specific_data.materialization.metadata["report"].value
    path = tmp / "reports" / MODEL / BAD_DAY.isoformat() / "business_metrics.html"
    assert url == f"{LOCAL_REPORTS_BASE_URL}/{MODEL}/{BAD_DAY.isoformat()}/business_metrics.html"
    seen = visit(path, evaluate="document.querySelectorAll('svg').length")
    assert seen.page_errors == [] and seen.console_errors == []
    assert seen.title == f"Business metrics · {MODEL} · {BAD_DAY}"
    assert f"Business metrics of {MODEL} on {BAD_DAY}" in seen.text
    assert "latency_p95_within_slo" in seen.text and "2026.11.0" in seen.text
    assert seen.evaluated == 7
