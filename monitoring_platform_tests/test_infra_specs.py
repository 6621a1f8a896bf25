"""infra/ against the specifications it targets: the Compose spec (the schema Debian's
docker-compose ships, and `docker-compose config`), the run launcher config Dagster's K8s
integration accepts, and the run pod a launched run would get from the Helm values."""

import json
import os
import re
import shutil
import subprocess
import urllib.parse
from pathlib import Path

import jsonschema
import pytest
import yaml

from monitoring_platform_tests.conftest import REPO

INFRA = REPO / "infra"
COMPOSE_SPEC = Path("/usr/lib/python3/dist-packages/compose/config/compose_spec.json")
SECRETS = {"POSTGRES_PASSWORD": "x", "MINIO_ROOT_PASSWORD": "y", "GRAFANA_ADMIN_PASSWORD": "z"}


def _compose() -> dict:
    return yaml.safe_load((INFRA / "docker-compose.yml").read_text())


def test_compose_file_validates_against_the_compose_spec():
    if not COMPOSE_SPEC.is_file():
        pytest.fail("the Compose spec schema comes with Debian's docker-compose: make provision")
    schema = json.loads(COMPOSE_SPEC.read_text())
    jsonschema.validate(_compose(), schema)
    broken = _compose()
    broken["services"]["minio"]["healthcheck"]["interval"] = ["5s"]
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(broken, schema)
    done = subprocess.run(
        [
            shutil.which("docker-compose") or "docker-compose",
            "-f",
            str(INFRA / "docker-compose.yml"),
        ]
        + ["config", "-q"],
        env={**os.environ, **SECRETS},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr


def test_images_are_pinned_and_none_from_removed_repositories():
    images = {name: s["image"] for name, s in _compose()["services"].items() if "image" in s}
    for name, image in images.items():
        if image.startswith("monitoring-platform:"):
            continue  # built here
        assert ":" in image and not image.endswith(":latest"), (name, image)
        assert not image.startswith(("minio/minio", "minio/mc")), (name, image)
    assert re.fullmatch(
        r"quay\.io/minio/minio:RELEASE\.\d{4}-\d\d-\d\dT\d\d-\d\d-\d\dZ", images["minio"]
    )
    base = re.search(r"^FROM (\S+)", (INFRA / "Dockerfile").read_text(), re.M).group(1)
    assert re.fullmatch(r"python:\d+\.\d+\.\d+-slim-\w+", base), base


def test_the_warehouse_is_postgresql_in_compose_and_kubernetes():
    from monitoring_platform.config import load_config

    compose = load_config(INFRA / "monitoring.compose.yaml")
    assert compose.warehouse.type == "postgres"
    env = _compose()["x-dagster-env"]
    url = urllib.parse.urlsplit(env[compose.warehouse.url_env])
    assert url.scheme == "postgresql" and url.hostname in _compose()["services"]
    created = re.findall(r"CREATE DATABASE (\w+);", (INFRA / "postgres" / "init.sql").read_text())
    assert url.path.lstrip("/") in created, "the database the warehouse URL names is created"
    # On Kubernetes the variable comes from the platform's secret, documented in the values.
    assert compose.warehouse.url_env in (INFRA / "helm" / "values.yaml").read_text()


def _values() -> dict:
    return yaml.safe_load((INFRA / "helm" / "values.yaml").read_text())


def _snake(name: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()


def render_run_launcher(values: dict) -> dict:
    """The run_launcher config the chart's instance template writes: the values' keys in
    snake_case, secrets and config maps by name, empty ones left out."""
    source = values["runLauncher"]["config"]["k8sRunLauncher"]
    # Set by the chart itself, from the release.
    out = {
        "service_account_name": "dagster",
        "instance_config_map": "dagster-instance",
        "postgres_password_secret": values["global"]["postgresqlSecretName"],
        "dagster_home": "/opt/dagster/dagster_home",
    }
    for key, value in source.items():
        if value in (None, [], {}):
            continue
        if key == "runK8sConfig":
            value = {_snake(k): v for k, v in value.items()}
        if key in ("envSecrets", "envConfigMaps"):
            value = [item["name"] for item in value]
        out[_snake(key)] = value
    return out


def render_deployment_container_context(deployment: dict) -> dict:
    """What the chart passes to launched runs when includeConfigInLaunchedRuns is on."""
    env = [f"{e['name']}={e['value']}" for e in deployment.get("env", [])]
    return {
        "k8s": {
            "env_vars": env,
            "env_secrets": [s["name"] for s in deployment.get("envSecrets", [])],
            "volumes": deployment.get("volumes", []),
            "volume_mounts": deployment.get("volumeMounts", []),
            "resources": deployment.get("resources", {}),
        }
    }


def _run_pod_memory_limit(tmp_path, values: dict) -> str:
    from dagster import DagsterRun
    from dagster._config import process_config
    from dagster._core.code_pointer import ModuleCodePointer
    from dagster._core.origin import JobPythonOrigin, RepositoryPythonOrigin
    from dagster_k8s import K8sRunLauncher
    from dagster_k8s.container_context import K8sContainerContext
    from dagster_k8s.job import construct_dagster_k8s_job

    config = render_run_launcher(values)
    processed = process_config(K8sRunLauncher.config_type(), config)
    assert processed.success, processed.errors
    kubeconfig = tmp_path / "kubeconfig"
    kubeconfig.write_text(
        yaml.safe_dump(
            {
                "apiVersion": "v1",
                "kind": "Config",
                "clusters": [{"name": "c", "cluster": {"server": "https://127.0.0.1:1"}}],
                "users": [{"name": "u", "user": {"token": "t"}}],
                "contexts": [{"name": "x", "context": {"cluster": "c", "user": "u"}}],
                "current-context": "x",
            }
        )
    )
    launcher = K8sRunLauncher(
        **{
            k: v
            for k, v in processed.value.items()
            if k not in {"load_incluster_config", "kubeconfig_file"}
        },
        load_incluster_config=False,
        kubeconfig_file=str(kubeconfig),
    )
    (deployment,) = values["dagster-user-deployments"]["deployments"]
    included = deployment.get("includeConfigInLaunchedRuns", {"enabled": True})["enabled"]
    origin = RepositoryPythonOrigin(
        executable_path="/opt/monitoring/.venv/bin/python",
        code_pointer=ModuleCodePointer("monitoring_platform.definitions", "defs", None),
        container_image="monitoring-platform:0.1.0",
        entry_point=["dagster"],
        container_context=render_deployment_container_context(deployment) if included else None,
    )
    run = DagsterRun(
        job_name="ctr_ranker_monitoring_job",
        run_id="r1",
        job_code_origin=JobPythonOrigin("ctr_ranker_monitoring_job", origin),
    )
    context = K8sContainerContext.create_for_run(run, launcher, include_run_tags=True)
    job = construct_dagster_k8s_job(
        context.get_k8s_job_config("monitoring-platform:0.1.0", launcher),
        args=["dagster", "api", "execute_run"],
        job_name="dagster-run-r1",
        user_defined_k8s_config=context.run_k8s_config,
    )
    (container,) = job.spec.template.spec.containers
    return container.resources.limits["memory"]


def test_run_pods_get_their_own_memory_limit_not_the_code_servers(tmp_path):
    values = _values()
    assert values["generatePostgresqlPasswordSecret"] is False
    assert _run_pod_memory_limit(tmp_path, values) == "4Gi"
    # With the deployment's settings copied into runs, the pod would get the code server's 1Gi.
    (deployment,) = values["dagster-user-deployments"]["deployments"]
    deployment["includeConfigInLaunchedRuns"] = {"enabled": True}
    assert _run_pod_memory_limit(tmp_path, values) == "1Gi"


def test_compute_logs_are_kept_in_the_object_store_on_kubernetes():
    from dagster._config import process_config
    from dagster_aws.s3.compute_log_manager import S3ComputeLogManager

    logs = _values()["computeLogManager"]
    assert logs["type"] == "S3ComputeLogManager"
    config = {_snake(k): v for k, v in logs["config"]["s3ComputeLogManager"].items()}
    assert process_config(S3ComputeLogManager.config_type(), config).success
