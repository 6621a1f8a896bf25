"""`dg`, Dagster's project CLI, on this project as the README gives it: the definitions check and
a launch of one asset for one partition."""

import datetime as dt
import os
import subprocess
import sys
from pathlib import Path

import pytest
from dagster import DagsterInstance, DagsterRunStatus

from monitoring_platform.config import load_config
from monitoring_platform.simulation import generate_traffic
from monitoring_platform_tests.conftest import END_TO_END, REPO, small_config_dict, write_config

DG = Path(sys.executable).with_name("dg")
DAY = dt.date(2026, 11, 2)


def _dg(args, env, timeout=600):
    return subprocess.run(
        [str(DG), *args], cwd=REPO, env=env, capture_output=True, text=True, timeout=timeout
    )


@END_TO_END
@pytest.mark.slow
def test_dg_checks_the_definitions_and_launches_a_partition(tmp_path):
    config_path = write_config(tmp_path, small_config_dict(tmp_path, requests_per_day=100))
    generate_traffic(load_config(config_path), DAY, DAY, seed=4, models=["ctr_ranker"])
    home = tmp_path / "dagster_home"
    home.mkdir()
    (home / "dagster.yaml").write_text("telemetry: {enabled: false}\n")
    env = {**os.environ, "DAGSTER_HOME": str(home), "MONITORING_CONFIG": str(config_path)}

    checked = _dg(["check", "defs"], env)
    assert checked.returncode == 0, checked.stdout[-2000:] + checked.stderr[-2000:]
    assert "All definitions loaded successfully" in checked.stdout + checked.stderr

    launched = _dg(
        ["launch", "--assets", "ctr_ranker/business_events", "--partition", DAY.isoformat()], env
    )
    assert launched.returncode == 0, launched.stderr[-3000:]
    with DagsterInstance.from_config(str(home)) as instance:
        (run,) = instance.get_runs()
        assert run.status == DagsterRunStatus.SUCCESS
        assert run.tags["dagster/partition"] == DAY.isoformat()
