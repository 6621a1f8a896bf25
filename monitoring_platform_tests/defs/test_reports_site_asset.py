"""The reports_index asset over real evaluations: calendar = check_results, links = report files,
one chart per recorded metric, opened in headless Chromium."""

import datetime as dt
import re
from html import unescape

import pandas as pd
import pytest
from dagster import AssetKey, DagsterInstance, materialize

from monitoring_platform.config import load_config
from monitoring_platform.definitions import build_definitions
from monitoring_platform.defs.resources import LOCAL_REPORTS_BASE_URL
from monitoring_platform.defs.selection import model_evaluation_selection
from monitoring_platform.demo import QUIET_RUN_CONFIG
from monitoring_platform.lib.metric_store import MetricStore
from monitoring_platform.lib.traffic import generate_traffic
from monitoring_platform_tests.browser import visit
from monitoring_platform_tests.conftest import small_config_dict, write_config

START, END = dt.date(2026, 11, 1), dt.date(2026, 11, 3)
MODEL = "ctr_ranker"


@pytest.mark.slow
def test_reports_index_asset_reflects_the_metric_store_and_the_reports(tmp_path):
    config = load_config(write_config(tmp_path, small_config_dict(tmp_path, requests_per_day=300)))
    generate_traffic(config, START, END, seed=2, models=[MODEL])
    defs = build_definitions(config)
    everything = [*defs.assets, *(defs.asset_checks or [])]
    resources = dict(defs.resources)
    with DagsterInstance.ephemeral() as instance:
        day = START
        while day <= END:
            materialize(
                everything,
                selection=model_evaluation_selection(MODEL),
                partition_key=day.isoformat(),
                instance=instance,
                resources=resources,
                raise_on_error=False,
                run_config=QUIET_RUN_CONFIG,
            )
            day += dt.timedelta(days=1)
        result = materialize(
            everything,
            selection=[AssetKey(["reports_index"])],
            instance=instance,
            resources=resources,
            run_config=QUIET_RUN_CONFIG,
        )
    assert result.success
    (event,) = result.get_asset_materialization_events()
    index = tmp_path / "reports" / "index.html"
    link = event.event_specific_data.materialization.metadata["report"].value
    assert link == f"{LOCAL_REPORTS_BASE_URL}/index.html"
    page = index.read_text()

    # Every report file of the model is linked, by a relative link, and every link resolves.
    files = {
        p.relative_to(tmp_path / "reports").as_posix()
        for p in (tmp_path / "reports" / MODEL).rglob("*.html")
    }
    assert any(f.endswith("data_drift.html") for f in files)
    links = {unescape(h) for h in re.findall(r'href="([^"#]+)"', page)}
    assert files <= links and all((tmp_path / "reports" / link).is_file() for link in links)

    # The calendar colour of each day is the worst outcome recorded in check_results.
    store = MetricStore(config.metric_store_url())
    checks = pd.DataFrame(store.checks(model=MODEL))
    expected = {}
    for day, group in checks.groupby("partition_date"):
        failed = group[~group["passed"]]
        expected[day.isoformat()] = (
            "error"
            if (failed["severity"] == "ERROR").any()
            else ("warn" if len(failed) else "pass")
        )
    # One chart per (asset, metric) of undimensioned values, as pandas counts them.
    metrics = pd.DataFrame(store.metrics(model=MODEL))
    scalar = metrics[(metrics["dims"] == "") & metrics["value"].notna()]
    n_series = scalar.groupby(["asset", "metric"]).ngroups

    seen = visit(
        index,
        wait_for="body[data-charts-drawn=yes]",
        evaluate="""() => ({
            cells: Object.fromEntries(Array.from(document.querySelectorAll('td.day[data-day]'))
                .map(td => [td.dataset.day, td.className.replace('day ', '')])),
            charts: document.querySelectorAll('div.charts[data-model=ctr_ranker] svg.trend').length,
        })""",
    )
    assert seen.page_errors == [] and seen.console_errors == []
    assert {d: c for d, c in seen.evaluated["cells"].items() if d in expected} == expected
    assert seen.evaluated["charts"] == n_series > 3
    assert "drift_share" in seen.text
