"""The demo tells a run stopped by a blocking check from one that crashed."""

import datetime as dt

from monitoring_platform.demo import DayOutcome, crashed_steps, of_run, progress_line

BLOCKED = (
    "shop__inference_logs",
    "dagster._core.errors.DagsterAssetCheckFailedError: 1 blocking asset check failed with "
    "ERROR severity:\nshop/inference_logs: expectations_met",
)
CRASHED = (
    "shop__data_drift_report",
    "monitoring_platform.lib.lake.LakeError: lake file file:///lake/x.parquet is damaged\n"
    "Stack trace: ...",
)


def outcome(failures, blocked_by):
    return DayOutcome(
        model="shop",
        date=dt.date(2026, 11, 20),
        run_id="r",
        run_ok=not failures,
        seconds=1.0,
        blocked_by=blocked_by,
        crashed=crashed_steps(failures),
    )


def test_a_blocking_check_is_not_a_crash():
    stopped = outcome([BLOCKED], ["expectations_met"])
    assert not stopped.errored
    assert "downstream stopped by a blocking check" in progress_line(stopped)


def test_a_crash_is_reported_even_when_a_check_also_blocked():
    both = outcome([BLOCKED, CRASHED], ["expectations_met"])
    assert both.errored
    line = progress_line(both)
    assert "stopped by a blocking check" not in line
    assert "RUN FAILED: shop__data_drift_report: monitoring_platform.lib.lake.LakeError" in line
    assert "Stack trace" not in line


def test_results_left_by_an_earlier_run_are_not_shown_as_current():
    rows = [
        {"metric": "rows_in", "value": 100.0, "run_id": "now"},
        {"metric": "drift_share", "value": 0.5, "run_id": "yesterday"},
    ]
    current, stale = of_run(rows, "now")
    assert [r["metric"] for r in current] == ["rows_in"] and stale == 1
    crashed = outcome([CRASHED], [])
    crashed.stale = stale
    assert "(1 results of an earlier run not shown)" in progress_line(crashed)
