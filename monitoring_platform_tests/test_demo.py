"""`monitoring-platform demo` runs end to end on the embedded default, as the README says."""

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from monitoring_platform_tests.browser import visit
from monitoring_platform_tests.conftest import END_TO_END, small_config_dict, write_config


@END_TO_END
@pytest.mark.slow
@pytest.mark.timeout(1800)  # 8 day runs of 2 models and the late-label re-runs
def test_demo_command_end_to_end(tmp_path):
    config = write_config(tmp_path, small_config_dict(tmp_path, requests_per_day=1200))
    env = {k: v for k, v in os.environ.items() if k != "DAGSTER_HOME"}
    # Started with SIGTERM ignored (as some process managers do): the runs' `tail` processes
    # inherited it, survived Dagster's SIGTERM and held each run for a minute.
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "monitoring_platform.cli",
            "--config",
            str(config),
            "demo",
            "--days",
            "8",
            "--end",
            "2026-11-08",
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=1700,
        preexec_fn=lambda: signal.signal(signal.SIGTERM, signal.SIG_IGN),
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    # Nothing it started is left behind (a `tail` that ignored SIGTERM outlived the demo).
    assert not processes_mentioning(str(tmp_path))
    out = done.stdout
    assert "[ 16/16]" in out
    assert "Summary" in out and "downstream stopped by a blocking check" in out
    for model in ("ctr_ranker", "eta_regressor"):
        assert f"{model:<14} 2026-11-06" in out

    reports = [
        Path(line.strip()) for line in out.splitlines() if line.strip().endswith("data_drift.html")
    ]
    # Day 1 has no reference and day 6 is blocked by the schema bug: 6 days x 2 models.
    assert len(reports) == 12 and all(p.is_file() for p in reports)
    for report in (reports[0], reports[-1]):
        seen = visit(report)
        assert seen.page_errors == [] and seen.console_errors == []
        assert "Dataset Drift" in seen.text

    home = tmp_path / "var" / "dagster_home"
    assert (home / "dagster.yaml").is_file()
    from dagster import DagsterInstance, DagsterRunStatus

    # The instance has the deployment's settings; the partitions start with the traffic.
    assert "QueuedRunCoordinator" in (home / "dagster.yaml").read_text()
    assert (tmp_path / "var" / "partitions_start_date").read_text().strip() == "2026-11-01"
    with DagsterInstance.from_config(str(home)) as instance:
        runs = instance.get_runs()
        daily = [r for r in runs if r.tags.get("monitoring_platform/trigger") == "demo"]
        # The runs the schedule makes (monitoring.yaml: schedule.runs per_day, parallel_runs
        # 2): two runs of monitoring_job a day, one per model here, run side by side.
        assert sorted(
            (r.job_name, r.tags["dagster/partition"], r.tags["monitoring_platform/run_group"])
            for r in daily
        ) == sorted(
            ("monitoring_job", f"2026-11-0{d}", group)
            for d in range(1, 9)
            for group in ("1/2", "2/2")
        )
        assert not any("monitoring_platform/model" in r.tags for r in daily)
        failed = {
            r.tags["dagster/partition"] for r in daily if r.status != DagsterRunStatus.SUCCESS
        }
        assert failed == {"2026-11-06"}, "only the schema-bug day stops at its check"
        late = [
            r for r in runs if "labels arrived" in r.tags.get("monitoring_platform/trigger", "")
        ]
        assert late, "late labels re-evaluated earlier days"
        # The sensor targets assets: Dagster runs them in its implicit asset job.
        assert {r.job_name for r in late} == {"__ASSET_JOB"}
    assert "Late labels: re-evaluating" in out and "label_coverage" in out


def processes_mentioning(text: str) -> list[str]:
    """Command lines of running processes that contain ``text``."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            command = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:  # ended meanwhile
            continue
        if text in command:
            found.append(command)
    return found
