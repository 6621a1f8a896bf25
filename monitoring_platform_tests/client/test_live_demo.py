"""``make demo-live`` end to end: the example service under load, then its day through Dagster."""

import datetime as dt

import pytest
import yaml

from monitoring_platform.config import load_config
from monitoring_platform.lib.metric_store import MetricStore
from monitoring_platform_tests.client.servers import example_service
from monitoring_platform_tests.conftest import END_TO_END, REPO, free_port


@END_TO_END
@pytest.mark.slow
def test_live_demo_writes_a_day_and_evaluates_it(tmp_path, monkeypatch, capsys):
    example_service()  # makes ``examples`` importable as a package
    from examples import live_demo

    raw = yaml.safe_load((REPO / "examples/monitoring.live.yaml").read_text())
    raw["storage"] = {k: str(tmp_path / k) for k in ("raw", "lake", "reports")}
    raw["metric_store"] = {"url": f"sqlite:///{tmp_path / 'metrics.db'}"}
    raw["warehouse"] = {"type": "duckdb", "path": str(tmp_path / "warehouse.duckdb")}
    config_path = tmp_path / "monitoring.yaml"
    config_path.write_text(yaml.safe_dump(raw))
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path / "dagster_home"))
    monkeypatch.chdir(REPO)
    code = live_demo.main(
        ["--seconds", "4", "--rate", "15", "--port", str(free_port()), "--config", str(config_path)]
    )
    out = capsys.readouterr().out
    assert code == 0, out
    served = int(out.split(" calls: ")[0].split()[-1].replace(",", ""))
    day = dt.datetime.now(dt.UTC).date()
    store = MetricStore(load_config(config_path).metric_store.url)
    metrics = {
        r["metric"]: r["value"]
        for r in store.metrics(model="ctr_ranker", partition_date=day)
        if not r["dims"]
    }
    assert metrics["rows_in"] == metrics["rows_accepted"] == served
    assert "FAIL" not in out, out
