"""The cost per model-day: many models for one day, one model for many days, against a naive loop.

Two measurements, each against the naive loop over the same data in the same run:

- fleet: ``--models`` copies of the demo model ``ctr_ranker`` for one day of ``--rows`` requests,
  through the path the daily schedule takes: the configured schedules are ticked for the next
  morning and the runs they request are executed, up to ``schedule.parallel_runs`` at a time
  (``--parallel``; monitoring.yaml's 2 by default), each in its own process, as the run queue
  runs them side by side and the demo executes them; one at a time in one process with
  ``--parallel 1``. ``--runs per_day`` (the default here): ``daily_schedule`` requests one run
  of ``monitoring_job`` for every model (or one per group of models with ``parallel_runs``);
  ``--runs per_model``: each ``<model>_daily_schedule`` one run of its model's job. The
  reference days before the day are ingested beforehand (not timed).
- backfill: ``ctr_ranker`` for ``--days`` days through the README's backfill command
  (``dagster job backfill -j ctr_ranker_monitoring_job --from .. --to ..``, the command's two
  workers of ``infra/dagster-sequential.yaml``),
  set up and timed by ``bench_backfill.py``.

The naive loop is one Python process looping over the model-days: pandas ``read_json`` of the
day's logs and of the reference days (re-read for every model-day), Great Expectations with the
platform's suite, Evidently ``DataDriftPreset`` and ``save_html`` (no per-segment reports: the
platform writes those too, so the naive side does less work than the platform). The data has no
malformed or duplicate lines, so that the naive reader parses every line.

Printed: wall time of each side, the ratio, the dbt step's share of the platform's time, and the
overhead per model-day outside the steps (run wall time minus its steps and its wait for the
day before, plus what lies between runs). ``--scale`` multiplies models, days and rows, for a
machine where the full sizes take too long; the numbers printed are those measured at the size
run.

Usage: ``python benchmarks/bench_fleet.py [--models 50] [--days 60] [--rows 20000] [--scale 1]
[--runs per_day|per_model] [--parallel N] [--only fleet|backfill] [--keep DIR]``
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime as dt
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import yaml

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(Path(__file__).resolve().parent))

import bench_backfill  # noqa: E402

MODEL = "ctr_ranker"
DBT_STEP = "warehouse_dbt_models"
GOAL_RATIO, GOAL_DBT_SHARE, GOAL_OVERHEAD = 3.0, 0.20, 0.5
# Dagster's per-event console lines off: the benchmark prints its own.
QUIET = {"loggers": {"console": {"config": {"log_level": "CRITICAL"}}}}


# ---------------------------------------------------------------------------------------------
# Data


def fleet_config(
    workdir: Path, models: int, rows: int, runs: str, parallel: int | None = None
) -> Path:
    """The demo configuration with ``models`` copies of ``ctr_ranker``, every location inside."""
    raw = yaml.safe_load((REPO / "monitoring.yaml").read_text())
    raw["schedule"] = {**(raw.get("schedule") or {}), "runs": runs}
    if parallel is not None:
        raw["schedule"]["parallel_runs"] = parallel
    template = next(m for m in raw["models"] if m["name"] == MODEL)
    template["simulation"]["requests_per_day"] = rows
    raw["models"] = [{**template, "name": f"fleet_{n:03d}"} for n in range(models)]
    raw.pop("alerts", None)
    raw["storage"].update(
        raw=str(workdir / "raw"), lake=str(workdir / "lake"), reports=str(workdir / "reports")
    )
    raw["metric_store"] = {"url": f"sqlite:///{workdir / 'metrics.db'}"}
    raw["warehouse"] = {**raw.get("warehouse", {}), "path": str(workdir / "warehouse.duckdb")}
    path = workdir / "monitoring.yaml"
    path.write_text(yaml.safe_dump(raw, sort_keys=False))
    return path


def _trailing_days(model: Any) -> int:
    """The reference days before a day that a model's drift report reads (the demo's are 7)."""
    return int(getattr(model.reference, "trailing_days", 7))


def prepare_fleet(
    workdir: Path, models: int, rows: int, day: dt.date, runs: str, parallel: int | None = None
) -> Path:
    """Generate the reference days and the day for every model; ingest the reference days."""
    from monitoring_platform.config import load_config
    from monitoring_platform.simulation import default_scenario, generate_traffic

    config_path = fleet_config(workdir, models, rows, runs, parallel)
    config = load_config(config_path)
    first = day - dt.timedelta(days=_trailing_days(config.models[0]))
    # No schema-bug day; no malformed or duplicate lines, so the naive reader parses every line.
    scenario = dataclasses.replace(
        default_scenario(first, day), schema_bug_day=None, malformed_rate=0.0, duplicate_rate=0.0
    )
    began = time.perf_counter()
    generate_traffic(config, first, day, scenario=scenario)
    print(f"generated {models} models x {first}..{day} in {time.perf_counter() - began:.0f} s")
    began = time.perf_counter()
    run_step("ingest", config_path, first, day)
    print(f"ingested the reference days in {time.perf_counter() - began:.0f} s", flush=True)
    return config_path


def step_ingest(config_path: Path, start: dt.date, stop: dt.date) -> dict:
    """Every model's ``inference_logs`` for ``start``..``stop`` (exclusive), one run per day."""
    from dagster import AssetSelection, DagsterInstance, materialize

    from monitoring_platform.config import load_config
    from monitoring_platform.definitions import build_definitions
    from monitoring_platform.defs.keys import INFERENCE_LOGS, model_asset_key

    config = load_config(config_path)
    defs = build_definitions(config)
    keys = [model_asset_key(m.name, INFERENCE_LOGS) for m in config.models]
    selection = AssetSelection.assets(*keys) | AssetSelection.checks_for_assets(*keys)
    with DagsterInstance.ephemeral() as instance:
        day = start
        while day < stop:
            result = materialize(
                [*(defs.assets or []), *(defs.asset_checks or [])],  # type: ignore[list-item]
                selection=selection,
                partition_key=day.isoformat(),
                instance=instance,
                resources=dict(defs.resources or {}),
                raise_on_error=False,
                run_config=QUIET,
            )
            if not result.success:
                raise SystemExit(f"ingesting {day} failed")
            day += dt.timedelta(days=1)
    return {}


# ---------------------------------------------------------------------------------------------
# The platform: the runs the daily schedules request, in one process


def step_fleet(config_path: Path, day: dt.date, _unused: dt.date) -> dict:
    """The runs the configured daily schedules request for ``day``, executed; their timings.

    Up to ``schedule.parallel_runs`` runs at once, each in its own process, as the run queue
    runs them side by side (``lib/lanes.py``, as the demo does); one run: in this process.
    """
    began = time.perf_counter()
    from dagster import DagsterInstance, build_schedule_context

    from monitoring_platform.config import load_config
    from monitoring_platform.definitions import build_definitions
    from monitoring_platform.lib.lanes import run_lanes

    config = load_config(config_path)
    defs = build_definitions(config)
    _RUNNER.update(config=str(config_path), defs=defs)
    loaded = time.perf_counter() - began
    morning = dt.datetime.combine(day + dt.timedelta(days=1), dt.time(6), tzinfo=dt.UTC)
    # A persistent instance: the schedule asks it which days earlier ticks launched.
    with (
        tempfile.TemporaryDirectory(prefix="fleet-instance-") as home,
        DagsterInstance.local_temp(home) as instance,
    ):
        requests = [
            (str(config_path), schedule.job_name, request)
            for schedule in defs.schedules or []
            if schedule.name.endswith("daily_schedule")
            for request in schedule.evaluate_tick(
                build_schedule_context(
                    instance=instance,
                    scheduled_execution_time=morning,
                    repository_def=defs.get_repository_def(),
                )
            ).run_requests
            or []
        ]
    for _path, _job, request in requests:
        assert request.partition_key == day.isoformat(), request
    workers = config.schedule.parallel_runs
    runs = list(run_lanes([[r] for r in requests], execute_request, workers))
    return {
        "total": time.perf_counter() - began,
        "load": loaded + sum(r["load"] for r in runs),
        "runs": runs,
        "workers": min(workers, len(requests)),
    }


_RUNNER: dict[str, Any] = {}


def execute_request(task: tuple[str, str, Any]) -> dict:
    """One requested run on this process's ephemeral instance: its wall time and steps."""
    from dagster import DagsterInstance

    from monitoring_platform.config import load_config
    from monitoring_platform.definitions import build_definitions

    config_path, job_name, request = task
    t0 = time.perf_counter()
    if _RUNNER.get("config") != config_path:  # a worker process: its own definitions
        _RUNNER.update(config=config_path, defs=build_definitions(load_config(config_path)))
    if "instance" not in _RUNNER:
        _RUNNER["instance"] = DagsterInstance.ephemeral()
    loaded = time.perf_counter() - t0
    instance = _RUNNER["instance"]
    t0 = time.perf_counter()
    result = (
        _RUNNER["defs"]
        .resolve_job_def(job_name)
        .execute_in_process(
            partition_key=request.partition_key,
            instance=instance,
            raise_on_error=False,
            tags=request.tags,
            run_config=QUIET,
            asset_selection=request.asset_selection,
        )
    )
    wall = time.perf_counter() - t0
    steps = {
        s.step_key: (s.end_time or 0.0) - (s.start_time or 0.0)
        for s in instance.get_run_step_stats(result.run_id)
        if s.start_time is not None
    }
    return {"ok": result.success, "wall": wall, "steps": steps, "load": loaded}


# ---------------------------------------------------------------------------------------------
# The naive loop


def step_naive(config_path: Path, first: dt.date, last: dt.date) -> dict:
    """Every model-day of ``first``..``last``: pandas, GX, Evidently's preset, save_html."""
    began = time.perf_counter()
    import glob

    import great_expectations as gx
    import pandas as pd
    from evidently import DataDefinition, Dataset, Report
    from evidently.presets import DataDriftPreset
    from great_expectations.expectations.expectation_configuration import (
        ExpectationConfiguration,
    )

    from monitoring_platform.config import load_config
    from monitoring_platform.lib.drift import PREDICTION
    from monitoring_platform.lib.validation import contract_expectations

    config = load_config(config_path)
    raw = Path(config.storage.raw)
    out = config_path.parent / "naive"
    out.mkdir(exist_ok=True)

    def read_day(model: str, day: dt.date) -> pd.DataFrame:
        files = sorted(glob.glob(str(raw / "logs" / model / f"dt={day}" / "*.gz")))
        if not files:
            return pd.DataFrame()
        frame = pd.concat(
            [pd.read_json(f, lines=True, compression="gzip", dtype=False) for f in files],
            ignore_index=True,
        )
        features = pd.json_normalize(frame.pop("features").tolist())
        return pd.concat([frame, features], axis=1)

    context = gx.get_context(mode="ephemeral")
    batches = context.data_sources.add_pandas("naive").add_dataframe_asset("day")
    batch_definition = batches.add_batch_definition_whole_dataframe("day")
    model_days = 0
    day = first
    while day <= last:
        for model in config.models:
            current = read_day(model.name, day)
            trailing = _trailing_days(model)
            reference = pd.concat(
                [read_day(model.name, day - dt.timedelta(days=n)) for n in range(trailing, 0, -1)],
                ignore_index=True,
            )
            known = {c: set(reference[c].dropna().astype(str)) for c in model.categorical_features}
            suite = gx.ExpectationSuite(
                name=f"naive-{model.name}-{day}",
                expectations=[
                    ExpectationConfiguration(type=s.type, kwargs=s.kwargs).to_domain_obj()
                    for s in contract_expectations(model, known)
                ],
            )
            batch_definition.get_batch(batch_parameters={"dataframe": current}).validate(suite)
            numerical = [*model.numerical_features, PREDICTION]
            columns = [f.name for f in model.features] + [PREDICTION]
            definition = DataDefinition(
                numerical_columns=numerical, categorical_columns=list(model.categorical_features)
            )
            snapshot = Report([DataDriftPreset()]).run(
                current_data=Dataset.from_pandas(current[columns], data_definition=definition),
                reference_data=Dataset.from_pandas(reference[columns], data_definition=definition),
            )
            snapshot.save_html(str(out / f"{model.name}-{day}.html"))
            model_days += 1
        day += dt.timedelta(days=1)
    return {"total": time.perf_counter() - began, "model_days": model_days}


STEPS = {"ingest": step_ingest, "fleet": step_fleet, "naive": step_naive}


def run_step(name: str, config_path: Path, first: dt.date, last: dt.date) -> dict:
    """Run a step in a fresh process (its imports counted), with the benchmark's environment."""
    env = dict(
        os.environ,
        GX_ANALYTICS_ENABLED="false",
        DAGSTER_DISABLE_TELEMETRY="1",
        MONITORING_CONFIG=str(config_path),
    )
    env.pop("DAGSTER_HOME", None)
    out = config_path.parent / f"{name}.json"
    command = [sys.executable, __file__, "--step", name, str(config_path), str(first), str(last)]
    done = subprocess.run([*command, str(out)], cwd=REPO, env=env, check=False)
    if done.returncode != 0:
        raise SystemExit(f"step {name} failed")
    return json.loads(out.read_text())


# ---------------------------------------------------------------------------------------------
# The two measurements


def fleet(
    workdir: Path, models: int, rows: int, runs_per: str, parallel: int | None = None
) -> dict:
    """N models x 1 day through the schedule's runs, and the naive loop over the same."""
    workdir.mkdir(parents=True, exist_ok=True)
    day = dt.date(2026, 11, 20)
    config_path = prepare_fleet(workdir, models, rows, day, runs_per, parallel)
    platform = run_step("fleet", config_path, day, day)
    naive = run_step("naive", config_path, day, day)
    runs = platform["runs"]
    steps = sum(sum(r["steps"].values()) for r in runs)
    dbt = sum(r["steps"].get(DBT_STEP, 0.0) for r in runs)
    inside = sum(r["wall"] - sum(r["steps"].values()) for r in runs)
    return {
        "path": f"fleet: {models} models x 1 day, {runs_per}"
        + (f" ({platform['workers']} runs at once)" if platform["workers"] > 1 else ""),
        "model_days": models,
        "failed": sum(not r["ok"] for r in runs),
        "platform": platform["total"],
        "naive": naive["total"],
        "steps": steps,
        "dbt": dbt,
        "overhead": (inside + platform["load"]) / models,
    }


def backfill(workdir: Path, days: int, rows: int) -> dict:
    """1 model x N days through the README's backfill command, and the naive loop over the same."""
    workdir.mkdir(parents=True, exist_ok=True)
    # The days up to yesterday: the backfill command refuses partitions that do not exist yet.
    last = dt.date.today() - dt.timedelta(days=1)
    first = last - dt.timedelta(days=days - 1)
    bench_backfill.prepare_data(workdir, rows, first, last, schema_bug=False, clean=True)
    home, wall, began, ended = bench_backfill.run_backfill(workdir, first, last, None, "sync")
    runs = bench_backfill.read_runs(home)
    naive = run_step("naive", workdir / "monitoring.yaml", first, last)
    steps = sum(sum(r["steps"].values()) for r in runs)
    dbt = sum(r["steps"].get(DBT_STEP, 0.0) for r in runs)
    return {
        "path": f"backfill: 1 model x {days} days",
        "model_days": days,
        "failed": sum(r["status"] != "SUCCESS" for r in runs),
        "platform": wall,
        "naive": naive["total"],
        "steps": steps,
        "dbt": dbt,
        "overhead": backfill_overhead(runs, began, ended) / days,
    }


def backfill_overhead(runs: list[dict], began: float, ended: float) -> float:
    """Time outside the steps: inside each run, and the command's while no run was executing.

    A model's next day starts beside the end of the day before it, so the runs' walls overlap;
    what lies between them counts only where no run was executing. Inside a run, its wait for
    the day before (after its own ingest) is not overhead: the day before's steps run meanwhile.
    """
    inside = sum(r["end"] - r["start"] - sum(r["steps"].values()) - r["waited"] for r in runs)
    idle, covered = 0.0, began
    for r in sorted(runs, key=lambda r: r["start"]):
        idle += max(0.0, r["start"] - covered)
        covered = max(covered, r["end"])
    return inside + idle + max(0.0, ended - covered)


def report(rows: int, results: list[dict]) -> None:
    """The table: times, ratio to the naive loop, dbt's share, overhead per model-day."""
    print()
    print(
        f"Cost per model-day at {rows:,} requests a day (goals: >= {GOAL_RATIO:.0f}x naive, ",
        end="",
    )
    print(f"dbt <= {GOAL_DBT_SHARE:.0%}, overhead <= {GOAL_OVERHEAD} s a model-day)")
    header = (
        f"{'path':<50} {'runs failed':>11} {'platform s':>10} {'naive s':>8} {'ratio':>6} "
        f"{'s/model-day':>11} {'dbt share':>9} {'overhead s':>10}"
    )
    print(header)
    print("-" * len(header))
    for r in results:
        print(
            f"{r['path']:<50} {r['failed']:>11} {r['platform']:>10.1f} {r['naive']:>8.1f} "
            f"{r['naive'] / r['platform']:>5.2f}x {r['platform'] / r['model_days']:>11.2f} "
            f"{r['dbt'] / r['platform']:>9.0%} {r['overhead']:>10.2f}"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", type=int, default=50, help="models of the fleet day")
    parser.add_argument("--days", type=int, default=60, help="days of the backfill")
    parser.add_argument("--rows", type=int, default=20_000, help="requests a model-day")
    parser.add_argument("--scale", type=float, default=1.0, help="multiplies models, days, rows")
    parser.add_argument(
        "--runs", choices=["per_day", "per_model"], default="per_day", help="schedule.runs"
    )
    parser.add_argument(
        "--parallel",
        type=int,
        metavar="N",
        help="schedule.parallel_runs of the fleet day (default: monitoring.yaml's)",
    )
    parser.add_argument("--only", choices=["fleet", "backfill"], help="run one measurement")
    parser.add_argument("--keep", metavar="DIR", help="work in DIR and keep it")
    parser.add_argument("--step", nargs=5, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.step:
        name, config_path, first, last, out = args.step
        result = STEPS[name](
            Path(config_path), dt.date.fromisoformat(first), dt.date.fromisoformat(last)
        )
        Path(out).write_text(json.dumps(result))
        return
    os.environ.update(GX_ANALYTICS_ENABLED="false", DAGSTER_DISABLE_TELEMETRY="1")
    models = max(1, round(args.models * args.scale))
    days = max(1, round(args.days * args.scale))
    rows = max(500, round(args.rows * args.scale))
    holder = None if args.keep else tempfile.TemporaryDirectory(prefix="bench-fleet-")
    workdir = Path(args.keep if holder is None else holder.name).resolve()
    results = []
    try:
        if args.only in (None, "fleet"):
            results.append(fleet(workdir / "fleet", models, rows, args.runs, args.parallel))
        if args.only in (None, "backfill"):
            results.append(backfill(workdir / "backfill", days, rows))
        report(rows, results)
    finally:
        if holder is not None:
            holder.cleanup()


if __name__ == "__main__":
    main()
