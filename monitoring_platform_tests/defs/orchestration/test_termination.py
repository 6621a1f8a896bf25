"""SIGTERM to `dagster job backfill` (runs executed by the command's workers): the command stops,
its runs end CANCELED, and no run is left STARTED."""

import datetime as dt
import os
import signal
import subprocess
import sys
import time

import pytest
from dagster import DagsterInstance, DagsterRunStatus

from monitoring_platform.config import load_config
from monitoring_platform.simulation import generate_traffic
from monitoring_platform_tests.conftest import END_TO_END, REPO, small_config_dict, write_config

DAYS = [dt.date(2026, 10, 1) + dt.timedelta(days=n) for n in range(6)]
LANES = (REPO / "infra" / "dagster-sequential.yaml").read_text()
# Dagster's synchronous launcher: the runs one after another in the command's own process.
SYNC = LANES.replace(
    "  module: monitoring_platform.defs.orchestration.lane_launcher\n"
    "  class: LaneRunLauncher\n  config:\n    workers: 2\n",
    "  module: dagster._core.launcher.sync_in_memory_run_launcher\n"
    "  class: SyncInMemoryRunLauncher\n",
)
assert "LaneRunLauncher" not in SYNC, "the launcher of infra/dagster-sequential.yaml moved"


@END_TO_END
@pytest.mark.slow
@pytest.mark.parametrize("instance_yaml", [LANES, SYNC], ids=["workers", "in_process"])
def test_sigterm_stops_a_backfill_and_cancels_its_run(tmp_path, monkeypatch, instance_yaml):
    config_path = write_config(tmp_path, small_config_dict(tmp_path, requests_per_day=100))
    generate_traffic(load_config(config_path), DAYS[0], DAYS[-1], seed=2, models=["ctr_ranker"])
    home = tmp_path / "dagster_home"
    home.mkdir()
    (home / "dagster.yaml").write_text(instance_yaml)
    monkeypatch.setenv("DAGSTER_HOME", str(home))  # the instance this test reads, as the command
    env = {**os.environ, "MONITORING_CONFIG": str(config_path)}
    DagsterInstance.from_config(str(home)).dispose()  # its SQLite files, before two processes race
    command = subprocess.Popen(
        [sys.executable, "-m", "dagster", "job", "backfill", "-w", "workspace.yaml"]
        + ["-j", "ctr_ranker_monitoring_job", "--from", str(DAYS[0]), "--to", str(DAYS[-1])]
        + ["--noprompt"],
        cwd=REPO,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        with DagsterInstance.from_config(str(home)) as instance:
            deadline = time.monotonic() + 600
            while not [r for r in instance.get_runs() if r.status == DagsterRunStatus.STARTED]:
                assert command.poll() is None, "the backfill ended before a run started"
                assert time.monotonic() < deadline, "no run started"
                time.sleep(0.5)
            time.sleep(2)  # inside the run's steps
            os.kill(command.pid, signal.SIGTERM)
            assert command.wait(timeout=180) != 0
            runs = instance.get_runs()
            statuses = [r.status for r in runs]
            assert DagsterRunStatus.CANCELED in statuses, statuses
            assert not {
                DagsterRunStatus.STARTED,
                DagsterRunStatus.STARTING,
                DagsterRunStatus.CANCELING,
                DagsterRunStatus.NOT_STARTED,
            } & set(statuses), statuses
            assert len(runs) < len(DAYS), "the command stopped launching the next days"
    finally:
        if command.poll() is None:
            os.killpg(command.pid, signal.SIGKILL)
            command.wait(timeout=30)
