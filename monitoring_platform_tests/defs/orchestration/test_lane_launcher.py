"""The command-line backfill's launcher: which steps a model's next day waits for, and its lanes.

The backfill itself, through the command and its workers, is in ``test_backfill.py`` (the days'
order and their overlap) and ``test_termination.py`` (SIGTERM).
"""

from dagster._core.execution.api import create_execution_plan

from monitoring_platform.defs.orchestration import lane_launcher
from monitoring_platform.defs.orchestration.jobs import model_job_name
from monitoring_platform.defs.orchestration.lane_launcher import LaneRunLauncher, gate_steps
from monitoring_platform_tests.defs.orchestration.conftest import MODELS, definitions_for

# What no later day reads: the day's drift (and its reference window) and its KPI report.
LAST_STEPS = ("reference_window", "data_drift_report", "business_metrics_report")


def test_the_next_day_waits_for_every_step_a_later_day_reads(tmp_path):
    _config, defs = definitions_for(tmp_path)
    for model in MODELS:
        plan = create_execution_plan(defs.resolve_job_def(model_job_name(model)))
        keys = {step.key for step in plan.steps}
        gate = gate_steps(plan.steps)
        assert keys - gate == {f"{model}__{name}" for name in LAST_STEPS}
        assert {f"{model}__inference_logs", f"{model}__labels", "warehouse_dbt_models"} <= gate
        assert f"{model}__model_performance_report" in gate  # reads the days' estimates
        # The steps no later day reads run last among the steps ready at once.
        for step in plan.steps:
            priority = int(step.tags.get("dagster/priority", 0))
            assert priority == (-1 if step.key not in gate else 0), step.key


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
    lane_launcher._start_lane_worker("gates", origin="not a job's origin")
    assert lane_launcher._GATES == "gates"
