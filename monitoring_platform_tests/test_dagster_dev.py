"""`dagster dev` (webserver and daemon) on the embedded instance, driven over GraphQL as the UI
drives it: a backfill of three days of both models and the daily schedule's ticks (as
monitoring.yaml sets it: one day split into two runs of `monitoring_job`) run to success through
the queue and the warehouse pool, and each day's check status in Dagster equals the metric
store's."""

import contextlib
import datetime as dt
import json
import os
import re
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from monitoring_platform.config import load_config
from monitoring_platform.defs.orchestration.instance import write_embedded_instance
from monitoring_platform.lib.metric_store import MetricStore
from monitoring_platform.simulation import generate_traffic
from monitoring_platform_tests.conftest import (
    END_TO_END,
    REPO,
    free_port,
    small_config_dict,
    write_config,
)

MODELS = ("ctr_ranker", "eta_regressor")
LOCATION = "monitoring_platform"
REPOSITORY = "__repository__"

LAUNCH_BACKFILL = """
mutation ($params: LaunchBackfillParams!) {
  launchPartitionBackfill(backfillParams: $params) {
    __typename
    ... on LaunchBackfillSuccess { backfillId }
    ... on PythonError { message }
    ... on InvalidSubsetError { message }
  }
}
"""
START_SCHEDULE = """
mutation ($selector: ScheduleSelector!) {
  startSchedule(scheduleSelector: $selector) {
    __typename
    ... on ScheduleStateResult { scheduleState { id status } }
    ... on PythonError { message }
  }
}
"""
RUNS = """
{
  runsOrError {
    ... on Runs { results { runId jobName status tags { key value } } }
  }
}
"""
CHECK_STATUS = """
query ($key: AssetKeyInput!, $check: String!, $partition: String) {
  assetCheckExecutions(assetKey: $key, checkName: $check, partition: $partition, limit: 1) {
    status
    evaluation { success partition }
  }
}
"""
TICKS = """
query ($selector: ScheduleSelector!) {
  scheduleOrError(scheduleSelector: $selector) {
    ... on Schedule { scheduleState { ticks(limit: 20) { status skipReason runIds } } }
  }
}
"""
TERMINAL = {"SUCCESS", "FAILURE", "CANCELED"}


def graphql(base: str, query: str, variables: dict | None = None) -> dict:
    request = urllib.request.Request(
        base + "/graphql",
        data=json.dumps({"query": query, "variables": variables or {}}).encode(),
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=120) as response:
        body = json.loads(response.read())
    assert "errors" not in body, body["errors"]
    return body["data"]


def wait_for(what: str, predicate, timeout: float, every: float = 5.0):
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(every)


def click_past_dialog(page, target, timeout: float = 120) -> None:
    """Click ``target``, closing the UI's first-visit dialog whenever it covers the page: it
    opens some time after the page has loaded, later on a busy machine."""
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    deadline = time.monotonic() + timeout
    while True:
        skip = page.locator("button:has-text('Skip')")
        if skip.count():
            skip.first.click()
        try:
            target.click(timeout=5_000)
            return
        except PlaywrightTimeout:
            assert time.monotonic() < deadline, "the page stayed covered"


def check_history_page(base: str, model: str, check: str, screenshot: Path) -> str:
    """A check's per-day status page in the UI (the Partitions tab), as a person sees it."""
    from playwright.sync_api import sync_playwright

    from monitoring_platform_tests.browser import CHROMIUM_ARGS, chromium_path

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium_path(), args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 1000})
            page.goto(
                f"{base}/assets/{model}/inference_logs?view=checks&checkDetail={check}",
                wait_until="load",
            )
            page.wait_for_selector(f"text={check}", timeout=60_000)
            click_past_dialog(page, page.locator("text=Partitions").last)
            page.wait_for_selector("text=Passed", timeout=60_000)
            page.wait_for_timeout(1000)
            page.screenshot(path=str(screenshot))
            return page.inner_text("body")
        finally:
            browser.close()


@END_TO_END
@pytest.mark.slow
@pytest.mark.timeout(2400)
def test_ui_backfill_and_schedule_tick_succeed_and_agree_with_the_metric_store(tmp_path):
    # The schedule ticks every minute, read in a zone where it is about midday now: every tick
    # while the test runs falls on one local day. The first tick after the schedule starts
    # evaluates yesterday; the later ones find its run keys taken and launch nothing.
    now = dt.datetime.now(dt.UTC)
    east = 12 - now.hour  # hours east of UTC; POSIX zone names count the other way
    local_today = (now + dt.timedelta(hours=east)).date()
    yesterday = local_today - dt.timedelta(days=1)
    days = [yesterday - dt.timedelta(days=n) for n in (3, 2, 1)]  # backfilled
    raw = small_config_dict(tmp_path, requests_per_day=150)
    # The example configuration's schedule: a day's models split between two runs.
    raw["schedule"] = {
        "cron": "* * * * *",
        "timezone": f"Etc/GMT{-east:+d}",
        "runs": "per_day",
        "parallel_runs": 2,
    }
    groups = {f"{n}/{len(MODELS)}": model for n, model in enumerate(MODELS, start=1)}
    config_path = write_config(tmp_path, raw)
    config = load_config(config_path)
    generate_traffic(config, days[0], yesterday, seed=13)
    home = tmp_path / "dagster_home"
    write_embedded_instance(home)  # the instance the demo writes: queue, limits, warehouse pool

    port = free_port()
    env = {**os.environ, "DAGSTER_HOME": str(home), "MONITORING_CONFIG": str(config_path)}
    server = subprocess.Popen(
        [sys.executable, "-m", "dagster", "dev", "-w", "workspace.yaml"]
        + ["-h", "127.0.0.1", "-p", str(port)],
        cwd=REPO,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,  # webserver, daemon and code servers: one process group
    )
    base = f"http://127.0.0.1:{port}"
    try:

        def up():
            assert server.poll() is None, "dagster dev exited"
            try:
                with urllib.request.urlopen(base + "/server_info", timeout=5) as response:
                    return response.status == 200
            except OSError:
                return False

        wait_for("the webserver", up, timeout=300, every=2)
        repository = {"repositoryLocationName": LOCATION, "repositoryName": REPOSITORY}

        def launch_backfills():
            launched = []
            for model in MODELS:
                result = graphql(
                    base,
                    LAUNCH_BACKFILL,
                    {
                        "params": {
                            "selector": {
                                "partitionSetName": f"{model}_monitoring_job_partition_set",
                                "repositorySelector": repository,
                            },
                            "partitionNames": [d.isoformat() for d in days],
                        }
                    },
                )["launchPartitionBackfill"]
                if result["__typename"] != "LaunchBackfillSuccess":
                    return None  # the code location is still loading
                launched.append(result["backfillId"])
            return launched

        wait_for("the backfills to launch", launch_backfills, timeout=300)
        schedule = {"selector": {**repository, "scheduleName": "daily_schedule"}}
        started = graphql(base, START_SCHEDULE, schedule)["startSchedule"]
        assert started["__typename"] == "ScheduleStateResult", started

        expected = {(m, d.isoformat()) for m in MODELS for d in [*days, yesterday]}

        def all_done():
            runs = graphql(base, RUNS)["runsOrError"]["results"]
            seen = {}
            for run in runs:
                tags = {t["key"]: t["value"] for t in run["tags"]}
                # A backfill run carries its model; a scheduled run its group of models.
                model = tags.get("monitoring_platform/model") or groups.get(
                    tags.get("monitoring_platform/run_group", "")
                )
                seen[(model, tags.get("dagster/partition"))] = run
            if not expected <= set(seen) or any(r["status"] not in TERMINAL for r in runs):
                return None
            return runs

        runs = wait_for("every run to finish", all_done, timeout=1800, every=10)
        assert len(runs) == len(expected), [
            (r["jobName"], r["status"], {t["key"]: t["value"] for t in r["tags"]}) for r in runs
        ]
        failed = [(r["jobName"], r["runId"]) for r in runs if r["status"] != "SUCCESS"]
        assert failed == [], failed

        # Ticks after the first find the day launched and start nothing.
        def skipped_ticks():
            state = graphql(base, TICKS, schedule)["scheduleOrError"]["scheduleState"]
            return [t for t in state["ticks"] if t["status"] == "SKIPPED"]

        skipped = wait_for("a tick after the day's", skipped_ticks, timeout=180)
        assert all("launched by an earlier tick" in t["skipReason"] for t in skipped), skipped
        assert not any(t["runIds"] for t in skipped)
        assert len(graphql(base, RUNS)["runsOrError"]["results"]) == len(expected)
        scheduled = [r for r in runs if r["jobName"] == "monitoring_job"]
        assert len(scheduled) == len(MODELS), "the scheduled day: one run per group"
        assert {r["jobName"] for r in runs} == {f"{m}_monitoring_job" for m in MODELS} | {
            "monitoring_job"
        }
        triggers = {
            t["value"] for r in runs for t in r["tags"] if t["key"] == "monitoring_platform/trigger"
        }
        assert "schedule" in triggers

        # Each day's check status in Dagster (what the UI shows) is the metric store's.
        store = MetricStore(config.metric_store_url())
        compared = 0
        for row in store.checks():
            day = row["partition_date"].isoformat()
            executions = graphql(
                base,
                CHECK_STATUS,
                {
                    "key": {"path": [row["model"], row["asset"]]},
                    "check": row["check_name"],
                    "partition": day,
                },
            )["assetCheckExecutions"]
            assert executions, (row["model"], row["asset"], row["check_name"], day)
            (execution,) = executions
            assert execution["evaluation"]["partition"] == day
            assert execution["evaluation"]["success"] == row["passed"], row
            assert execution["status"] == ("SUCCEEDED" if row["passed"] else "FAILED"), row
            compared += 1
        assert compared >= len(expected) * 8

        # The check's per-day history in the UI: every evaluated day passed, as in the store.
        passed = [
            row
            for row in store.checks(model=MODELS[0])
            if row["check_name"] == "logs_arrived" and row["passed"]
        ]
        assert len(passed) == len(days) + 1
        shot = tmp_path / "check_history.png"
        text = check_history_page(base, MODELS[0], "logs_arrived", shot)
        assert re.search(rf"Passed\s*\({len(passed)}\)", text), text[:2000]
        assert shot.stat().st_size > 10_000
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        with contextlib.suppress(subprocess.TimeoutExpired):
            server.wait(timeout=120)
        with contextlib.suppress(
            ProcessLookupError
        ):  # run workers the daemon started are in the group too
            os.killpg(server.pid, signal.SIGKILL)
        server.wait(timeout=30)
