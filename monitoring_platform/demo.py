"""``monitoring-platform demo``: traffic for every model, then every partition through Dagster.

Runs on the embedded default (a local folder, SQLite) against a real Dagster instance under a
project-local ``DAGSTER_HOME``, so ``dagster dev`` shows the history afterwards.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import os
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO
from urllib.parse import unquote

from monitoring_platform.config import MonitoringConfig
from monitoring_platform.defs.orchestration.jobs import (
    TRIGGER_TAG,
    model_job_name,
    model_run_tags,
)
from monitoring_platform.lib.lanes import LaneWorkers, lane_workers

DAGSTER_HOME_DEFAULT = Path("var") / "dagster_home"
# Progress is printed by the demo itself; Dagster's own per-event lines go to the instance only.
QUIET_RUN_CONFIG = {"loggers": {"console": {"config": {"log_level": "CRITICAL"}}}}


@dataclass
class DayOutcome:
    """One model-day's run as the demo reports it."""

    model: str
    date: dt.date
    run_id: str
    run_ok: bool
    seconds: float
    metrics: dict[str, float] = field(default_factory=dict)
    failed_checks: list[str] = field(default_factory=list)
    report: str | None = None
    # Blocking checks that failed and so stopped the run's downstream assets, as designed.
    blocked_by: list[str] = field(default_factory=list)
    # Steps that failed on an error (not stopped by a check), with the first line of each.
    crashed: list[str] = field(default_factory=list)
    # Metric values and check results of the day left by an earlier run (not shown as current).
    stale: int = 0

    @property
    def errored(self) -> bool:
        """The run failed for a reason other than a blocking check doing its job."""
        return not self.run_ok and (bool(self.crashed) or not self.blocked_by)


def _error_text(error) -> str:
    """A step failure's message, stack and causes, as Dagster prints them."""
    if error is None:
        return ""
    return error.to_string() if hasattr(error, "to_string") else str(error)


def of_run(rows: list[dict], run_id: str) -> tuple[list[dict], int]:
    """The metric-store rows this run wrote, and how many an earlier run left.

    A step that failed leaves its earlier results in place; they are not this run's numbers.
    """
    current = [row for row in rows if row.get("run_id") == run_id]
    return current, len(rows) - len(current)


def crashed_steps(failures: list[tuple[str, str]]) -> list[str]:
    """``step: first line of its error`` for each failed step that a blocking check did not stop.

    ``failures`` are (step key, error text) of the run's step failures.
    """
    return [
        f"{step}: {(error.strip().splitlines() or [''])[0][:200]}"
        for step, error in failures
        if "blocking asset check" not in error
    ]


def dagster_home(config: MonitoringConfig) -> Path:
    """The instance folder: ``$DAGSTER_HOME`` when set, else ``var/dagster_home`` by the config."""
    if os.environ.get("DAGSTER_HOME"):
        return Path(os.environ["DAGSTER_HOME"]).resolve()
    return (config.base_dir / DAGSTER_HOME_DEFAULT).resolve()


def run_demo(
    config: MonitoringConfig,
    start: dt.date,
    end: dt.date,
    *,
    seed: int = 7,
    generate: bool = True,
    out: TextIO = sys.stdout,
) -> int:
    """Generate the traffic, evaluate every model-day through Dagster, print what came out."""
    from monitoring_platform.defs.orchestration.instance import write_embedded_instance

    home = dagster_home(config)
    # The deployment's queue, per-model limit and warehouse pool, on SQLite in this folder.
    write_embedded_instance(home)
    os.environ["DAGSTER_HOME"] = str(home)
    config = start_partitions_at(config, start)

    def say(msg: str) -> None:
        print(msg, file=out, flush=True)

    began = time.monotonic()
    # The worker processes serve the day runs and then the late-label runs. Started first, they
    # load the definitions and the steps' libraries while the traffic is generated.
    with LaneWorkers(config.schedule.parallel_runs) as workers:
        _process_instance()  # made before any worker starts (each would create its storage)
        workers.start(prepare_worker, config)
        if generate:
            from monitoring_platform.simulation import generate_traffic

            say(f"Generating traffic for {len(config.models)} models, {start} .. {end}")
            summary = generate_traffic(
                config, start, end, seed=seed, progress=lambda m: say("  " + m)
            )
            say(
                f"  {summary.log_records:,} log records written "
                f"({summary.records_per_second:,.0f} records/s)"
            )
        evaluating = time.monotonic()
        say("Loading the Dagster definitions (Evidently, DuckDB, ...)")
        outcomes = evaluate_partitions(config, start, end, say, workers)
        say("")
        say(summary_table(outcomes))
        say("")
        apply_late_labels(config, say, workers)
    reports = [o.report for o in outcomes if o.report]
    say("")
    say(f"Drift reports ({len(reports)}; validation, performance and business pages beside them):")
    for report in reports:
        say(f"  {report}")
    from monitoring_platform.definitions import materialize_reports_index

    say("")
    defs, instance = _process_state(config)
    say(f"Reports site: {materialize_reports_index(config, instance, defs)}")
    say("Serve it:  monitoring-platform serve-reports   (then open http://127.0.0.1:8000)")
    failed = [o for o in outcomes if o.errored]
    say("")
    say(f"Dagster instance: {home}")
    say("See the lineage and the run history:  make ui   (then open http://127.0.0.1:3000)")
    now = time.monotonic()
    say(f"Done in {now - began:.0f} s ({now - evaluating:.0f} s after the traffic was generated).")
    if failed:
        say(f"{len(failed)} runs failed: " + ", ".join(f"{o.model} {o.date}" for o in failed))
        return 1
    return 0


def start_partitions_at(config: MonitoringConfig, start: dt.date) -> MonitoringConfig:
    """Make the partitions begin where the demo's traffic begins (``partitions.start_date_file``).

    The UI then shows the generated days, not months of empty ones. An earlier start already
    written (an earlier demo's data) is kept.
    """
    from monitoring_platform.config import load_config, partitions_start_path

    path = partitions_start_path(config)
    if path is None or config.source_file is None:
        return config
    if path.exists():
        with contextlib.suppress(ValueError):  # not a date: replaced below
            start = min(start, dt.date.fromisoformat(path.read_text().strip()))
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(start.isoformat() + "\n")
    return load_config(config.source_file)


def apply_late_labels(config: MonitoringConfig, say, workers: LaneWorkers | None = None) -> int:
    """Run the late-labels sensor once over the instance and carry out what it asks for.

    Labels keep arriving after a day was first evaluated; each affected prediction day is
    re-evaluated once (the sensor may ask several times for one day, one per arrival day), and
    the day whose label coverage grew most is shown before and after. The re-runs are grouped
    as the schedule groups runs and go through the lanes as the day runs do.
    """
    from dagster import build_sensor_context

    from monitoring_platform.defs.performance.sensors import build_late_labels_sensor

    defs, instance = _process_state(config)
    store = dict(defs.resources or {})["metric_store"].get()
    result = build_late_labels_sensor(config)(build_sensor_context(instance=instance))
    requests = list(result) if isinstance(result, list) else []
    latest = {}
    for request in requests:
        latest[(request.asset_selection[0].path[0], request.partition_key)] = request
    say(f"Late labels: re-evaluating {len(latest)} model-days whose labels arrived afterwards")

    def quality(model: str, day: str) -> dict[str, float]:
        rows = store.metrics(
            model=model, partition_date=dt.date.fromisoformat(day), asset="model_performance_report"
        )
        return {r["metric"]: r["value"] for r in rows if not r["dims"]}

    earlier = {key: quality(*key) for key in latest}
    lanes = late_label_lanes(config, defs, latest)
    with lane_workers(workers, config.schedule.parallel_runs) as running:
        for _ in running.run([[(config, run) for run in lane] for lane in lanes], execute_demo_run):
            pass
    best = None
    for key in sorted(latest):
        after = quality(*key)
        if "label_coverage" not in earlier[key] or "label_coverage" not in after:
            continue  # never evaluated before (a blocked day): nothing to compare
        gain = after["label_coverage"] - earlier[key]["label_coverage"]
        if best is None or gain > best[0]:
            best = (gain, *key, earlier[key], after)
    if best is not None:
        _gain, model, day, before, after = best
        shown = [k for k in ("label_coverage", "roc_auc", "log_loss", "mae", "mape") if k in after]
        say(
            f"  e.g. {model} {day}: "
            + ", ".join(f"{k} {before[k]:.3f} -> {after[k]:.3f}" for k in shown if k in before)
        )
    return len(latest)


def late_label_lanes(config: MonitoringConfig, defs, latest: dict) -> list[list[DemoRun]]:
    """The sensor's re-runs, one lane per run group (oldest day first), as Dagster runs them.

    ``latest`` maps (model, day) to the sensor's request. A run covers the day's requests of one
    run group; a run of one model keeps the request's tags, a run of several the trigger only.
    The sensor targets assets, not a job: Dagster runs them in its implicit asset job.
    """
    job = defs.resolve_implicit_global_asset_job_def().name
    run_group = {m.name: n for n, models in enumerate(config.run_groups()) for m in models}
    grouped: dict[tuple[int, str], list[tuple[str, Any]]] = {}
    for (model, day), request in sorted(latest.items(), key=lambda kv: (kv[0][1], kv[0][0])):
        grouped.setdefault((run_group[model], day), []).append((model, request))
    lanes: dict[int, list[DemoRun]] = {}
    for (group, day), requests in sorted(grouped.items()):
        first = requests[0][1].tags
        tags = dict(first) if len(requests) == 1 else {TRIGGER_TAG: first[TRIGGER_TAG]}
        keys = tuple(key for _, r in requests for key in r.asset_selection)
        models = tuple(model for model, _ in requests)
        run = DemoRun(dt.date.fromisoformat(day), models, job, tags, keys)
        lanes.setdefault(group, []).append(run)
    return list(lanes.values())


@dataclass(frozen=True)
class DemoRun:
    """One run the demo makes: a day of some models, as the schedule would start it."""

    day: dt.date
    models: tuple[str, ...]
    job: str
    tags: dict[str, str]
    # The run's assets when it evaluates a share of a job's models (None: the whole job).
    selection: tuple[Any, ...] | None = None


def demo_lanes(config: MonitoringConfig, defs, days: list[dt.date]) -> list[list[DemoRun]]:
    """The runs of every day, one lane per group of models the schedule runs together.

    A lane's runs go oldest day first (a day's drift reads the days before it); lanes are
    independent. ``per_model``: a lane per model, each run that model's job with its tag.
    ``per_day``: a lane per run group (``schedule.parallel_runs``), each run ``monitoring_job``
    over the group's models, as ``daily_schedule`` requests it.
    """
    from monitoring_platform.defs.orchestration.jobs import MONITORING_JOB
    from monitoring_platform.defs.orchestration.schedules import RUN_GROUP_TAG, group_selections

    if config.schedule.runs == "per_model":
        return [
            [
                DemoRun(day, (m.name,), model_job_name(m.name), model_run_tags(m.name, "demo"))
                for day in days
            ]
            for m in config.models
        ]
    keys_by_model = {
        m.name: list(defs.resolve_job_def(model_job_name(m.name)).asset_layer.executable_asset_keys)
        for m in config.models
    }
    selections: list[tuple[str | None, list[Any] | None]] = [
        *group_selections(config, keys_by_model)
    ] or [(None, None)]
    lanes = []
    for models, (group, keys) in zip(config.run_groups(), selections, strict=True):
        tags = {TRIGGER_TAG: "demo", **({RUN_GROUP_TAG: group} if group else {})}
        names = tuple(m.name for m in models)
        selection = tuple(keys) if keys else None
        lanes.append([DemoRun(day, names, MONITORING_JOB, tags, selection) for day in days])
    return lanes


_WORKER_STATE: dict[str, Any] = {}


def _process_state(config: MonitoringConfig) -> tuple[Any, Any]:
    """This process's definitions of ``config`` and instance of ``DAGSTER_HOME``, made once."""
    from monitoring_platform.definitions import build_definitions

    key = config.model_dump_json()
    if _WORKER_STATE.get("config") != key:
        _WORKER_STATE.update(config=key, defs=build_definitions(config))
    return _WORKER_STATE["defs"], _process_instance()


def _process_instance() -> Any:
    """This process's instance of ``DAGSTER_HOME`` (its storage created on first use), made once."""
    from dagster import DagsterInstance

    home = os.environ.get("DAGSTER_HOME", "")
    if _WORKER_STATE.get("home") != home:
        _WORKER_STATE.update(home=home, instance=DagsterInstance.get())
    return _WORKER_STATE["instance"]


def prepare_worker(config: MonitoringConfig) -> None:
    """Load what a worker's first run would (definitions, libraries, dbt's parse), before it."""
    from monitoring_platform.definitions import prepare_process

    defs, _instance = _process_state(config)
    prepare_process(defs)


def execute_demo_run(task: tuple[MonitoringConfig, DemoRun]) -> list[DayOutcome]:
    """Execute one run on the instance of ``DAGSTER_HOME``; each model-day's outcome.

    Runs in the demo's process or in a worker process (``lib/lanes.py``): the definitions and
    the instance are made once per process.
    """
    config, run = task
    defs, instance = _process_state(config)
    t0 = time.monotonic()
    result = defs.resolve_job_def(run.job).execute_in_process(
        partition_key=run.day.isoformat(),
        instance=instance,
        raise_on_error=False,
        tags={**run.tags, "monitoring_platform/source": "demo"},
        run_config=QUIET_RUN_CONFIG,
        asset_selection=list(run.selection) if run.selection else None,
    )
    seconds = (time.monotonic() - t0) / len(run.models)
    return [
        day_outcome(config, defs, config.model(name), run.day, result, seconds)
        for name in run.models
    ]


def evaluate_partitions(
    config: MonitoringConfig,
    start: dt.date,
    end: dt.date,
    say,
    workers: LaneWorkers | None = None,
) -> list[DayOutcome]:
    """Evaluate every model and day through Dagster, oldest day first, as the schedule does.

    With ``schedule.runs: per_model`` one run of ``<model>_monitoring_job`` per model-day, with
    the model's tag; with ``per_day`` one run of ``monitoring_job`` a day for every model (or
    for each group of models, with ``schedule.parallel_runs``). Up to ``parallel_runs`` runs go
    at once: one in this process, the others in worker processes (``workers``, or started for
    this call). The instance has the deployment's settings, so job pages show the history.
    """
    # Made here before any worker starts (two workers would each create the SQLite storage);
    # runs made in this process reuse both.
    defs, _instance = _process_state(config)
    days = [start + dt.timedelta(days=n) for n in range((end - start).days + 1)]
    total = len(days) * len(config.models)
    lanes = [[(config, run) for run in lane] for lane in demo_lanes(config, defs, days)]
    outcomes: list[DayOutcome] = []
    with lane_workers(workers, config.schedule.parallel_runs) as running:
        for done in running.run(lanes, execute_demo_run):
            for outcome in done:
                outcomes.append(outcome)
                say(f"[{len(outcomes):>3}/{total}] {progress_line(outcome)}")
    order = {m.name: n for n, m in enumerate(config.models)}
    return sorted(outcomes, key=lambda o: (o.date, order[o.model]))


def day_outcome(config, defs, model, day: dt.date, result, seconds: float) -> DayOutcome:
    """What a run did for one model-day: its steps (and the shared ones), checks and metrics.

    ``seconds`` is the run's time, shared out among the models it evaluated.
    """
    from dagster import AssetCheckSeverity

    from monitoring_platform.defs.drift.assets import data_drift_report_key
    from monitoring_platform.defs.resources import MetricStoreResource

    models = {m.name for m in config.models}

    def owned(owner: str) -> bool:  # the model's steps and checks, and those models share
        return owner == model.name or owner not in models

    failures = [
        (e.step_key, _error_text(getattr(e.event_specific_data, "error", None)))
        for e in result.all_events
        if e.event_type_value == "STEP_FAILURE" and e.step_key and owned(e.step_key.split("__")[0])
    ]
    blocked = [
        e.check_name
        for e in result.get_asset_check_evaluations()
        if not e.passed and e.severity == AssetCheckSeverity.ERROR and owned(e.asset_key.path[0])
    ]
    outcome = DayOutcome(
        model=model.name,
        date=day,
        run_id=result.run_id,
        run_ok=not failures,
        seconds=seconds,
        blocked_by=blocked if failures else [],
        crashed=crashed_steps(failures),
    )
    metric_store = dict(defs.resources or {})["metric_store"]
    assert isinstance(metric_store, MetricStoreResource)
    store = metric_store.get()
    metrics, stale_metrics = of_run(
        store.metrics(model=model.name, partition_date=day), result.run_id
    )
    checks, stale_checks = of_run(store.checks(model=model.name, partition_date=day), result.run_id)
    outcome.stale = stale_metrics + stale_checks
    for row in metrics:
        if not row["dims"]:
            outcome.metrics[row["metric"]] = row["value"]
    outcome.failed_checks = [
        f"{c['check_name']}({c['severity']})" for c in checks if not c["passed"]
    ]
    reports_root = config.resolve_location(config.storage.reports)
    outcome.report = _drift_report_path(result, data_drift_report_key(model), reports_root)
    return outcome


def _drift_report_path(result, key, reports_root: str) -> str | None:
    """The drift report of the run as a local file (its link in Dagster is a served URL)."""
    from monitoring_platform.defs.resources import LOCAL_REPORTS_BASE_URL

    for event in result.get_asset_materialization_events():
        materialization = event.event_specific_data.materialization
        if materialization.asset_key == key and "report" in materialization.metadata:
            url = materialization.metadata["report"].value
            if url.startswith(LOCAL_REPORTS_BASE_URL + "/"):
                return str(Path(reports_root) / unquote(url[len(LOCAL_REPORTS_BASE_URL) + 1 :]))
            return url
    return None


def progress_line(o: DayOutcome) -> str:
    """One line of progress: a model-day's rows, drift, time and failed checks."""
    m = o.metrics
    parts = [f"{o.date} {o.model:<14}"]
    if "rows_in" in m:
        parts.append(
            f"{m['rows_in']:>8,.0f} in  {m.get('rows_accepted', 0):>8,.0f} accepted  "
            f"{m.get('rows_quarantined', 0):>6,.0f} quarantined"
        )
    if "drift_share" in m:
        parts.append(f"drift {m['drift_share']:>4.0%}")
    parts.append(f"{o.seconds:4.1f} s")
    if o.crashed:
        parts.append("RUN FAILED: " + "; ".join(o.crashed))
    elif o.blocked_by:
        parts.append("downstream stopped by a blocking check")
    elif not o.run_ok:
        parts.append("RUN FAILED")
    if o.failed_checks:
        parts.append("checks: " + ", ".join(o.failed_checks))
    if o.stale and not o.run_ok:
        parts.append(f"({o.stale} results of an earlier run not shown)")
    return "  ".join(parts)


def summary_table(outcomes: list[DayOutcome]) -> str:
    """Every model-day's rows, drift and failed checks, by model and day."""
    header = (
        f"{'model':<14} {'day':<10} {'rows in':>9} {'accepted':>9} {'quarant.':>8} "
        f"{'drift':>6}  failed checks"
    )
    lines = ["Summary", header, "-" * len(header)]
    for o in sorted(outcomes, key=lambda o: (o.model, o.date)):
        m = o.metrics
        drift = f"{m['drift_share']:.0%}" if "drift_share" in m else "-"
        checks = ", ".join(o.failed_checks) or ("run failed" if o.errored else "none")
        lines.append(
            f"{o.model:<14} {o.date.isoformat():<10} {m.get('rows_in', 0):>9,.0f} "
            f"{m.get('rows_accepted', 0):>9,.0f} {m.get('rows_quarantined', 0):>8,.0f} "
            f"{drift:>6}  {checks}"
        )
    return "\n".join(lines)
