"""The demo's evaluation runs what the schedule runs: one run a day (or one per group of models,
side by side in worker processes), or one per model-day."""

import datetime as dt
import io

import pytest
from dagster import DagsterInstance

from monitoring_platform.config import load_config
from monitoring_platform.demo import evaluate_partitions
from monitoring_platform.simulation import generate_traffic
from monitoring_platform_tests.conftest import END_TO_END, small_config_dict, write_config


@END_TO_END
@pytest.mark.parametrize(("runs", "parallel"), [("per_day", 1), ("per_day", 2), ("per_model", 1)])
def test_each_model_day_is_reported_from_the_run_that_evaluated_it(
    tmp_path, monkeypatch, runs, parallel
):
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path / "home"))
    (tmp_path / "home").mkdir()
    raw = small_config_dict(tmp_path, requests_per_day=300)
    raw["schedule"] = {"runs": runs, "parallel_runs": parallel}
    config = load_config(write_config(tmp_path, raw))
    day = config.partitions.start_date + dt.timedelta(days=1)
    generate_traffic(config, day, day, seed=3)
    lines = io.StringIO()
    outcomes = evaluate_partitions(config, day, day, lambda m: lines.write(m + "\n"))

    assert [o.model for o in outcomes] == [m.name for m in config.models]
    assert all(o.run_ok and not o.crashed for o in outcomes), lines.getvalue()
    for outcome in outcomes:
        # Each model's own rows and checks, read back from the metric store for this run.
        assert outcome.metrics["rows_in"] > 0 and outcome.stale == 0
    assert len({o.metrics["rows_in"] for o in outcomes}) == 2
    with DagsterInstance.get() as instance:
        runs_made = {r.run_id: r for r in instance.get_runs()}
        assert set(runs_made) == {o.run_id for o in outcomes}
        if runs == "per_day" and parallel == 1:
            (run,) = runs_made.values()
            assert run.job_name == "monitoring_job" and "monitoring_platform/model" not in run.tags
        elif runs == "per_day":
            # One run per group (a model each here), each in its own worker process.
            assert len(runs_made) == 2
            for outcome in outcomes:
                run = runs_made[outcome.run_id]
                assert (
                    run.job_name == "monitoring_job" and "monitoring_platform/model" not in run.tags
                )
                assert run.tags["monitoring_platform/run_group"] in ("1/2", "2/2")
                assert {k.path[0] for k in run.asset_selection} == {outcome.model, "warehouse"}
        else:
            for outcome in outcomes:
                run = runs_made[outcome.run_id]
                assert run.job_name == f"{outcome.model}_monitoring_job"
                assert run.tags["monitoring_platform/model"] == outcome.model
        for run in runs_made.values():
            assert run.tags["monitoring_platform/trigger"] == "demo"
            dbt_steps = [
                s.step_key
                for s in instance.get_run_step_stats(run.run_id)
                if s.step_key and s.step_key.startswith("warehouse_dbt_models")
            ]
            assert dbt_steps == ["warehouse_dbt_models"], "one dbt build per run"
