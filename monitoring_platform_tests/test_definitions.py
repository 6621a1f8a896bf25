"""The code location loads exactly as workspace.yaml loads it, with each model's lineage."""

import os
import subprocess
import sys

import yaml
from dagster import AssetKey

from monitoring_platform.config import load_config
from monitoring_platform.definitions import build_definitions
from monitoring_platform_tests.conftest import REPO, small_config_dict, write_config


def test_workspace_yaml_loads_the_code_location(tmp_path):
    config_path = write_config(tmp_path, small_config_dict(tmp_path))
    env = {**os.environ, "MONITORING_CONFIG": str(config_path), "DAGSTER_HOME": str(tmp_path)}
    done = subprocess.run(
        [sys.executable, "-m", "dagster", "definitions", "validate", "-w", "workspace.yaml"],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert (
        "Validation successful for code location monitoring_platform" in done.stdout + done.stderr
    )
    workspace = yaml.safe_load((REPO / "workspace.yaml").read_text())
    assert workspace["load_from"][0]["python_module"]["module_name"] == (
        "monitoring_platform.definitions"
    )


def test_each_model_has_its_lineage_and_every_node_a_description(tmp_path):
    config = load_config(write_config(tmp_path, small_config_dict(tmp_path)))
    graph = build_definitions(config).resolve_asset_graph()
    for model in ("ctr_ranker", "eta_regressor"):
        logs = AssetKey([model, "inference_logs"])
        drift = AssetKey([model, "data_drift_report"])
        assert graph.get(logs).parent_keys == {AssetKey([model, "log_objects"])}
        reference = AssetKey([model, "reference_window"])
        assert graph.get(drift).parent_keys == {logs, reference}
        assert graph.get(reference).parent_keys == {logs}
    for key in graph.get_all_asset_keys():
        node = graph.get(key)
        assert node.description and "\n" not in node.description.strip(), key
    for check_key in graph.asset_check_keys:
        spec = graph.get_check_spec(check_key)
        assert spec.description, check_key


def test_the_reports_index_is_regenerated_in_one_run(tmp_path):
    from dagster import DagsterInstance

    from monitoring_platform.definitions import materialize_reports_index

    config = load_config(write_config(tmp_path, small_config_dict(tmp_path)))
    with DagsterInstance.ephemeral() as instance:
        link = materialize_reports_index(config, instance)
        runs = instance.get_runs()
    index = tmp_path / "reports" / "index.html"
    assert link is not None and link.endswith("/index.html")
    assert index.exists()
    html = index.read_text()
    assert all(model.name in html for model in config.models)
    assert [run.tags.get("monitoring_platform/source") for run in runs] == ["demo"]
