"""A real Prometheus scrapes the example service; promtool accepts and unit-tests the rules."""

import concurrent.futures
import json
import random
import re
import shutil
import subprocess
import time

import httpx
import pytest
import yaml

from monitoring_platform.client import Collector
from monitoring_platform_tests.client.servers import UvicornThread, example_service
from monitoring_platform_tests.conftest import REPO, free_port

PROMETHEUS = REPO / "infra/prometheus"
DASHBOARD = REPO / "infra/grafana/dashboards/model_services_live.json"


def tool(name: str) -> str:
    path = shutil.which(name) or f"/usr/bin/{name}"
    if not shutil.os.path.exists(path):
        pytest.fail(f"{name} is missing: apt-get install -y prometheus")
    return path


def test_promtool_accepts_the_rules_and_their_unit_tests_pass():
    for args in (
        ["check", "rules", "alerts.yml"],
        ["check", "config", "prometheus.yml"],
        ["test", "rules", "alerts_test.yml"],
    ):
        out = subprocess.run(
            [tool("promtool"), *args], cwd=PROMETHEUS, capture_output=True, text=True
        )
        assert out.returncode == 0, out.stdout + out.stderr
    rules = yaml.safe_load((PROMETHEUS / "alerts.yml").read_text())["groups"][0]["rules"]
    alerts = {r["alert"] for r in rules if "alert" in r}
    assert {"ModelLatencySLOBurn", "ModelErrorRateSpike", "ModelPredictionMeanShift"} <= alerts


def dashboard_queries() -> list[str]:
    dashboard = json.loads(DASHBOARD.read_text())
    return [t["expr"] for panel in dashboard["panels"] for t in panel["targets"]]


def query(http: httpx.Client, expr: str) -> dict:
    response = http.get("/api/v1/query", params={"query": expr})
    body = response.json()
    assert body["status"] == "success", (expr, body)
    return body["data"]


def scalar(http: httpx.Client, expr: str) -> float | None:
    result = query(http, expr)["result"]
    return float(result[0]["value"][1]) if result else None


@pytest.mark.slow
def test_prometheus_scrapes_the_example_service(tmp_path):
    collector = Collector(tmp_path / "raw", spill_dir=tmp_path / "spill")
    service = example_service()
    # The service draws its failures from a seeded generator: at 0.5 the first call past the
    # rate limit fails (503) and the next two succeed, however fast the calls arrive.
    app = service.create_app(collector, max_rps=2, failure_rate=0.5)
    with UvicornThread(app) as server:
        rng = random.Random(9)
        bodies = [{"features": service.draw_features(rng)} for _ in range(120)]

        def call(body):
            with httpx.Client(base_url=server.url, timeout=30) as http:
                return http.post("/predict", json=body).status_code

        with concurrent.futures.ThreadPoolExecutor(4) as pool:
            codes = list(pool.map(call, bodies))
        assert {200, 429, 503} <= set(codes)

        config = yaml.safe_load((PROMETHEUS / "prometheus.yml").read_text())
        config["global"] = {"scrape_interval": "1s", "evaluation_interval": "1s"}
        config["rule_files"] = [str(PROMETHEUS / "alerts.yml")]
        config["scrape_configs"][0]["static_configs"][0]["targets"] = [f"127.0.0.1:{server.port}"]
        (tmp_path / "prometheus.yml").write_text(yaml.safe_dump(config))
        port = free_port()
        with open(tmp_path / "prometheus.log", "wb") as log:
            process = subprocess.Popen(
                [
                    tool("prometheus"),
                    f"--config.file={tmp_path / 'prometheus.yml'}",
                    f"--storage.tsdb.path={tmp_path / 'tsdb'}",
                    f"--web.listen-address=127.0.0.1:{port}",
                ],
                stdout=subprocess.DEVNULL,
                stderr=log,
            )
        try:
            with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=10) as http:
                deadline = time.monotonic() + 90
                total = None
                while time.monotonic() < deadline:
                    try:  # until its storage is open Prometheus answers 503, not JSON
                        ready = http.get("/-/ready").status_code == 200
                        total = scalar(http, "sum(model_requests_total)") if ready else None
                    except httpx.TransportError:
                        total = None
                    if total == len(codes):
                        break
                    time.sleep(0.5)
                assert total == len(codes), (tmp_path / "prometheus.log").read_text()[-2000:]
                by_code = {
                    r["metric"]["code"]: float(r["value"][1])
                    for r in query(http, "sum by (code) (model_requests_total)")["result"]
                }
                assert by_code == {str(c): float(codes.count(c)) for c in set(codes)}
                assert scalar(http, "sum(model_throttled_total)") == codes.count(429)
                assert scalar(http, "sum(model_errors_total)") == codes.count(503)
                assert scalar(http, "sum(model_prediction_count)") == codes.count(200)
                assert (
                    scalar(http, 'sum(collector_records_dropped_total{reason="queue full"})') == 0
                )
                # Every rule evaluates without error on the scraped series.
                while time.monotonic() < deadline:
                    groups = http.get("/api/v1/rules").json()["data"]["groups"]
                    health = {r["name"]: r["health"] for g in groups for r in g["rules"]}
                    if all(h == "ok" for h in health.values()):
                        break
                    time.sleep(0.5)
                assert health and all(h == "ok" for h in health.values()), health
                # Every query of the live dashboard is valid PromQL over these series.
                for expr in dashboard_queries():
                    query(http, re.sub(r"\$__rate_interval", "1m", expr.replace("$model", ".*")))
        finally:
            process.terminate()
            process.wait(30)


def test_the_live_dashboard_uses_the_provisioned_prometheus_datasource():
    provisioned = yaml.safe_load(
        (REPO / "infra/grafana/provisioning/datasources/prometheus.yaml").read_text()
    )["datasources"]
    uids = {d["uid"] for d in provisioned if d["type"] == "prometheus"}
    dashboard = json.loads(DASHBOARD.read_text())
    for panel in dashboard["panels"]:
        assert panel["datasource"]["uid"] in uids, panel["title"]
        assert all(t["datasource"]["uid"] in uids for t in panel["targets"]), panel["title"]
    ids = [p["id"] for p in dashboard["panels"]]
    assert len(ids) == len(set(ids))
