"""The command-line backfill's launcher: which steps a model's next day waits for, and its lanes.

The backfill itself, through the command and its workers, is in ``test_backfill.py`` (the days'
order and their overlap) and ``test_termination.py`` (SIGTERM).
"""

import threading
import time
from types import SimpleNamespace

from dagster import DagsterEventType
from dagster._core.execution.api import create_execution_plan

from monitoring_platform.defs.orchestration import lane_launcher
from monitoring_platform.defs.orchestration.jobs import model_job_name
from monitoring_platform.defs.orchestration.lane_launcher import (
    LaneRunLauncher,
    RunPhases,
    gate_steps,
    ingest_steps,
)
from monitoring_platform.defs.partitions import INGEST_PHASE, UNREAD_BY_LATER_DAYS
from monitoring_platform_tests.defs.orchestration.conftest import MODELS, definitions_for

# What no later day reads: the day's drift (and its reference window) and its KPI report.
LAST_STEPS = ("reference_window", "data_drift_report", "business_metrics_report")
# The day's ingest: of the days before, it reads what their ingest wrote.
FIRST_STEPS = ("inference_logs", "inference_logs_expectations_met", "business_events")


def test_the_next_day_waits_for_every_step_a_later_day_reads(tmp_path):
    _config, defs = definitions_for(tmp_path)
    for model in MODELS:
        plan = create_execution_plan(defs.resolve_job_def(model_job_name(model)))
        keys = {step.key for step in plan.steps}
        gate = gate_steps(plan.steps)
        assert keys - gate == {f"{model}__{name}" for name in LAST_STEPS}
        assert {f"{model}__inference_logs", f"{model}__labels", "warehouse_dbt_models"} <= gate
        assert f"{model}__model_performance_report" in gate  # reads the days' estimates
        assert ingest_steps(plan.steps) == {f"{model}__{name}" for name in FIRST_STEPS}
        # The ingest runs first, the steps no later day reads last, among those ready at once.
        for step in plan.steps:
            priority = int(step.tags.get("dagster/priority", 0))
            expected = 1 if step.key in ingest_steps(plan.steps) else 0
            assert priority == (-1 if step.key not in gate else expected), step.key


def test_a_late_word_from_a_run_does_not_release_its_lanes_next_run():
    launcher = LaneRunLauncher(workers=2)
    launcher._lanes = {"day-1": "ctr_ranker", "day-2": "ctr_ranker", "other": "eta_regressor"}
    launcher._held = {"ctr_ranker": "day-2", "eta_regressor": "other"}
    launcher._release("day-1")  # day 1 ended after day 2 had started
    assert not launcher._may_start("ctr_ranker")
    launcher._release("day-2")
    assert launcher._may_start("ctr_ranker")
    assert not launcher._may_start("eta_regressor")


def test_a_worker_whose_warm_up_fails_still_starts(monkeypatch):
    # The run then meets the failure and says what it is; a failing initializer would break
    # the pool, and every run would end with "a child process terminated abruptly".
    monkeypatch.setattr(lane_launcher, "start_worker", lambda: None)
    monkeypatch.setattr(lane_launcher.termination, "install_termination_handler", lambda **_: None)
    monkeypatch.setattr(lane_launcher, "_GATES", None)
    monkeypatch.setattr(lane_launcher, "_PASSED", None)
    lane_launcher._start_lane_worker("gates", "passed", origin="not a job's origin")
    assert (lane_launcher._GATES, lane_launcher._PASSED) == ("gates", "passed")


def _step(key, **tags):
    return SimpleNamespace(key=key, tags=tags)


def _ended(key):
    return SimpleNamespace(event_type=DagsterEventType.STEP_SUCCESS, step_key=key)


class _Instance:
    """What :class:`RunPhases` reads and writes of the instance: the plan, one engine event."""

    def __init__(self, steps):
        self.steps, self.reported = steps, []

    def get_execution_plan_snapshot(self, _snapshot_id):
        return SimpleNamespace(steps=self.steps)

    def report_engine_event(self, message, run, data):
        self.reported.append((message, run.run_id, data))


def _phases(tmp_path, monkeypatch, after="day-1"):
    monkeypatch.setattr(lane_launcher, "_PASSED", str(tmp_path))
    steps = [
        _step("logs", **INGEST_PHASE),
        _step("labels"),
        _step("drift", **UNREAD_BY_LATER_DAYS),
    ]
    instance, released = _Instance(steps), []
    run = SimpleNamespace(run_id="day-2", execution_plan_snapshot_id="plan")
    return RunPhases(instance, run, after, released.append), instance, released


def test_a_day_ingests_then_waits_for_what_later_days_read_of_the_day_before(tmp_path, monkeypatch):
    phases, instance, released = _phases(tmp_path, monkeypatch)
    phases.seen(SimpleNamespace(event_type=DagsterEventType.RUN_START, step_key=None))
    assert not released and not instance.reported
    threading.Timer(0.3, lane_launcher.mark_passed, (str(tmp_path), "day-1")).start()
    began = time.monotonic()
    phases.seen(_ended("logs"))  # its ingest ended: the lane's next day may start
    assert released == ["day-2"]
    assert time.monotonic() - began >= 0.3  # and it waited for day 1's steps read later
    ((message, run_id, data),) = instance.reported
    assert run_id == "day-2" and "day-1" in message
    assert data.metadata[lane_launcher.WAITED].value >= 0.3
    assert not (tmp_path / "day-2").exists()
    phases.seen(_ended("labels"))
    assert (tmp_path / "day-2").exists()  # what later days read has ended; its drift has not
    phases.seen(_ended("drift"))
    assert released == ["day-2"]


def test_a_canceled_run_stops_waiting(tmp_path, monkeypatch):
    phases, instance, released = _phases(tmp_path, monkeypatch)
    monkeypatch.setattr(lane_launcher, "_CANCELING", True)
    phases.seen(_ended("logs"))  # day 1 never says it passed: the cancel ends the wait
    assert released == ["day-2"] and len(instance.reported) == 1


def test_a_lanes_first_day_waits_for_nothing(tmp_path, monkeypatch):
    phases, instance, released = _phases(tmp_path, monkeypatch, after=None)
    phases.seen(_ended("logs"))
    assert released == ["day-2"] and not instance.reported
