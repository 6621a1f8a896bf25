"""The Dagster UI over the code location: a running dagster-webserver, its GraphQL API, a page."""

import json
import os
import signal
import subprocess
import sys
import time
import urllib.request

import pytest

from monitoring_platform_tests.browser import visit
from monitoring_platform_tests.conftest import REPO, free_port, small_config_dict, write_config

QUERY = """
{
  assetNodes {
    assetKey { path }
    description
    groupName
    tags { key value }
    dependencyKeys { path }
    assetChecksOrError { ... on AssetChecks { checks { name description } } }
  }
}
"""


@pytest.fixture(scope="module")
def webserver(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("webserver")
    config_path = write_config(tmp, small_config_dict(tmp))
    home = tmp / "dagster_home"
    home.mkdir()
    (home / "dagster.yaml").write_text("telemetry:\n  enabled: false\n")
    port = free_port()
    env = {**os.environ, "DAGSTER_HOME": str(home), "MONITORING_CONFIG": str(config_path)}
    proc = subprocess.Popen(
        [sys.executable, "-m", "dagster_webserver", "-h", "127.0.0.1", "-p", str(port)]
        + ["-w", "workspace.yaml"],
        cwd=REPO,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,  # the webserver and its code server: one process group
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 180
        while True:
            try:
                with urllib.request.urlopen(base + "/server_info", timeout=5) as response:
                    if response.status == 200:
                        break
            except OSError:
                pass
            assert proc.poll() is None, "dagster-webserver exited"
            assert time.monotonic() < deadline, "dagster-webserver did not come up"
            time.sleep(1)
        yield base
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=60)


def graphql(base, query):
    request = urllib.request.Request(
        base + "/graphql",
        data=json.dumps({"query": query}).encode(),
        headers={"Content-Type": "application/json"},
    )
    # The code location loads in the background; retry until the asset nodes are there.
    deadline = time.monotonic() + 180
    while True:
        with urllib.request.urlopen(request, timeout=60) as response:
            body = json.loads(response.read())
        nodes = (body.get("data") or {}).get("assetNodes")
        if nodes or time.monotonic() > deadline:
            return body
        time.sleep(2)


@pytest.mark.slow
def test_graphql_shows_each_models_lineage_with_descriptions(webserver):
    body = graphql(webserver, QUERY)
    assert "errors" not in body, body.get("errors")
    nodes = {"/".join(n["assetKey"]["path"]): n for n in body["data"]["assetNodes"]}
    for model in ("ctr_ranker", "eta_regressor"):
        logs = nodes[f"{model}/inference_logs"]
        assert [d["path"] for d in logs["dependencyKeys"]] == [[model, "log_objects"]]
        drift = nodes[f"{model}/data_drift_report"]
        assert [model, "inference_logs"] in [d["path"] for d in drift["dependencyKeys"]]
        checks = {c["name"] for c in logs["assetChecksOrError"]["checks"]}
        assert {"logs_arrived", "quarantine_share_within_limit"} <= checks
        # One group per model; the stage is a tag.
        own = [n for key, n in nodes.items() if key.startswith(model + "/")]
        assert own and {n["groupName"] for n in own} == {model}
        assert {"key": "monitoring_platform/stage", "value": "drift"} in drift["tags"]
    shared = [n for key, n in nodes.items() if key.startswith("warehouse/")]
    assert shared and {n["groupName"] for n in shared} == {"warehouse"}
    index = nodes["reports_index"]
    assert index["groupName"] == "reports"
    assert ["ctr_ranker", "data_drift_report"] in [d["path"] for d in index["dependencyKeys"]]
    for key, node in nodes.items():
        assert node["description"] and "\n" not in node["description"].strip(), key
        for check in node["assetChecksOrError"].get("checks", []):
            assert check["description"], (key, check["name"])


@pytest.mark.slow
def test_asset_graph_page_renders_in_chromium(webserver, tmp_path):
    graphql(webserver, QUERY)  # the code location is loaded
    shot = tmp_path / "lineage.png"
    seen = visit(
        f"{webserver}/assets/ctr_ranker/data_drift_report?view=lineage",
        wait_for="text=inference_logs",
        screenshot=shot,
    )
    assert seen.page_errors == []
    assert "data_drift_report" in seen.text and "inference_logs" in seen.text
    assert shot.stat().st_size > 10_000


@pytest.mark.slow
def test_global_lineage_reads_per_model_in_chromium(webserver, tmp_path):
    graphql(webserver, QUERY)  # the code location is loaded
    shot = tmp_path / "global_lineage.png"
    seen = visit(
        f"{webserver}/asset-groups",
        wait_for="text=eta_regressor",
        screenshot=shot,
        dismiss="button:has-text('Skip')",  # the UI's first-visit newsletter dialog
    )
    assert seen.page_errors == []
    for group in ("ctr_ranker", "eta_regressor", "warehouse"):
        assert group in seen.text, group
    assert shot.stat().st_size > 10_000
