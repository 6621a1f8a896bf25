"""Orchestration overhead of a backfill: the CLI command's wall time against its steps' compute.

Generates ``--days`` days (default 30) of the demo model ``ctr_ranker`` at ``--rows`` requests a
day (default 100,000), plus the reference days before them (the model's ``reference.trailing_days``),
in a local folder with the metric store in SQLite and the warehouse in DuckDB (dbt runs for real).
The reference days are ingested beforehand (not timed), so every day of the backfill has its full
reference window. Then, with a fresh ``DAGSTER_HOME`` whose runs execute in the command's two
worker processes (``infra/dagster-sequential.yaml``: a day starts beside the end of the day before
it), it runs the README's command

    python -m dagster job backfill -w workspace.yaml -j ctr_ranker_monitoring_job \\
        --from D1 --to DN --noprompt

and times it. Afterwards it reads the instance's event log: the compute time is the sum, over all
runs, of each step's execution time (``STEP_START`` to its success or failure); the rest of the
command's wall time is orchestration (start-up, creating and launching each run, the run's own
events and resources, shutting down). Events a step writes while it runs (outputs, materializations,
check results) count as the step's compute.

``--launcher default`` measures the production set-up instead (infra/dagster.yaml): the command
queues the runs, and ``dagster-daemon run`` (started beforehand, not timed) starts them one at a
time, each in its own process with the default run launcher; the wall time then runs from the
command's start to the end of the last run.

The generated traffic has drift on the last two days and a model-version rollout; the day with the
schema bug (whose blocking check stops the run on purpose) is left out unless ``--schema-bug``.

Usage: ``python benchmarks/bench_backfill.py [--rows 100000] [--days 30] [--keep DIR [--reuse]]
[--schema-bug] [--launcher sync|default] [--profile FILE]``
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime as dt
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[1]
MODEL = "ctr_ranker"
JOB = f"{MODEL}_monitoring_job"
TARGET_RATIO = 1.5

# Runs execute in the command's two worker processes, the model's days in order.
INSTANCE_YAML = (REPO / "infra" / "dagster-sequential.yaml").read_text()

# As in production (infra/dagster.yaml): the command queues the runs, the daemon starts them one
# at a time, each in its own process.
QUEUED_INSTANCE_YAML = """
telemetry: {enabled: false}
run_coordinator:
  module: dagster._core.run_coordinator
  class: QueuedRunCoordinator
  config: {max_concurrent_runs: 1, dequeue_interval_seconds: 1}
run_launcher:
  module: dagster._core.launcher
  class: DefaultRunLauncher
"""


def write_config(workdir: Path, rows: int) -> Path:
    """The demo configuration, ``ctr_ranker`` only, every location inside ``workdir``."""
    raw = yaml.safe_load((REPO / "monitoring.yaml").read_text())
    raw["models"] = [m for m in raw["models"] if m["name"] == MODEL]
    raw.pop("alerts", None)
    raw["storage"].update(
        raw=str(workdir / "raw"), lake=str(workdir / "lake"), reports=str(workdir / "reports")
    )
    raw["metric_store"] = {"url": f"sqlite:///{workdir / 'metrics.db'}"}
    raw["warehouse"] = {**raw.get("warehouse", {}), "path": str(workdir / "warehouse.duckdb")}
    raw["models"][0]["simulation"]["requests_per_day"] = rows
    path = workdir / "monitoring.yaml"
    path.write_text(yaml.safe_dump(raw, sort_keys=False))
    return path


def prepare_data(
    workdir: Path, rows: int, first: dt.date, last: dt.date, schema_bug: bool, clean: bool = False
):
    """Generate the reference days and the backfill's days, and ingest the reference days.

    ``clean`` leaves out malformed and duplicate lines, so that a naive pandas reader parses
    every line.
    """
    from monitoring_platform.config import load_config
    from monitoring_platform.simulation import default_scenario, generate_traffic

    config_path = write_config(workdir, rows)
    config = load_config(config_path)
    model = config.model(MODEL)
    reference_start = first - dt.timedelta(days=model.reference.trailing_days)
    scenario = default_scenario(first, last)
    if not schema_bug:
        scenario = dataclasses.replace(scenario, schema_bug_day=None)
    if clean:
        scenario = dataclasses.replace(scenario, malformed_rate=0.0, duplicate_rate=0.0)
    began = time.perf_counter()
    summary = generate_traffic(config, reference_start, last, scenario=scenario)
    print(
        f"generated {summary.log_records:,} log records for {reference_start}..{last} "
        f"in {time.perf_counter() - began:.0f} s (schema-bug day: {scenario.schema_bug_day}, "
        f"drift days: {', '.join(map(str, scenario.drift_days)) or 'none'})",
        flush=True,
    )
    began = time.perf_counter()
    done = subprocess.run(
        [sys.executable, __file__, "--ingest", str(config_path), str(reference_start), str(first)],
        cwd=REPO,
        env=_env(config_path),
        check=False,
    )
    if done.returncode != 0:
        raise SystemExit("ingesting the reference days failed")
    print(f"ingested the reference days in {time.perf_counter() - began:.0f} s", flush=True)


def ingest(config_path: Path, start: dt.date, stop: dt.date) -> None:
    """Materialize the model's ``inference_logs`` for ``start``..``stop`` (exclusive)."""
    from dagster import AssetKey, AssetSelection, DagsterInstance, materialize

    from monitoring_platform.config import load_config
    from monitoring_platform.definitions import build_definitions
    from monitoring_platform.demo import QUIET_RUN_CONFIG

    defs = build_definitions(load_config(config_path))
    key = AssetKey([MODEL, "inference_logs"])
    day = start
    with DagsterInstance.ephemeral() as instance:
        while day < stop:
            result = materialize(
                [*defs.assets, *defs.asset_checks],
                selection=AssetSelection.assets(key) | AssetSelection.checks_for_assets(key),
                partition_key=day.isoformat(),
                instance=instance,
                resources=dict(defs.resources),
                raise_on_error=False,
                run_config=QUIET_RUN_CONFIG,
            )
            if not result.success:
                raise SystemExit(f"ingesting {day} failed")
            day += dt.timedelta(days=1)


def _env(config_path: Path, home: Path | None = None) -> dict[str, str]:
    env = dict(
        os.environ,
        GX_ANALYTICS_ENABLED="false",
        DAGSTER_DISABLE_TELEMETRY="1",
        MONITORING_CONFIG=str(config_path),
    )
    if home is not None:
        env["DAGSTER_HOME"] = str(home)
    return env


def run_backfill(
    workdir: Path, first: dt.date, last: dt.date, profile: str | None, launcher: str
) -> tuple[Path, float, float, float]:
    """Run the CLI backfill with a fresh instance; its home, wall time, start and end (epoch).

    With the default launcher the command only queues the runs: the wall time runs from the
    command's start to the end of the last run, which the daemon (started beforehand) launches.
    """
    home = workdir / "dagster_home"
    shutil.rmtree(home, ignore_errors=True)
    home.mkdir()
    (home / "dagster.yaml").write_text(
        INSTANCE_YAML if launcher == "sync" else QUEUED_INSTANCE_YAML
    )
    env = _env(workdir / "monitoring.yaml", home)
    os.environ["DAGSTER_HOME"] = str(home)  # this process reads the same instance afterwards
    daemon = None
    if launcher == "default":
        daemon = start_daemon(home, env, workdir / "daemon.log")
    command = [sys.executable]
    if profile:
        command += ["-m", "cProfile", "-o", str(Path(profile).resolve())]
    command += ["-m", "dagster", "job", "backfill", "-w", "workspace.yaml", "-j", JOB]
    command += ["--from", str(first), "--to", str(last), "--noprompt"]
    print("$ " + " ".join(command[1:]), flush=True)
    log = workdir / "backfill.log"
    try:
        began_epoch, began = time.time(), time.perf_counter()
        with log.open("w") as out:
            done = subprocess.run(
                command, cwd=REPO, env=env, stdout=out, stderr=subprocess.STDOUT, check=False
            )
        wall = time.perf_counter() - began
        ended_epoch = time.time()
        text = log.read_text()
        if done.returncode != 0 or "Launched backfill job" not in text:
            print(text[-4000:])
            raise SystemExit(f"the backfill command failed (exit status {done.returncode})")
        if daemon is not None:
            print(f"runs queued in {wall:.1f} s; waiting for the daemon to run them", flush=True)
            ended_epoch = wait_for_runs(home, (last - first).days + 1)
            wall = ended_epoch - began_epoch
    finally:
        if daemon is not None:
            stop_daemon(daemon)
    return home, wall, began_epoch, ended_epoch


def start_daemon(home: Path, env: dict[str, str], log: Path) -> subprocess.Popen:
    """``dagster-daemon run`` in its own process group, once its run queue is being served."""
    from dagster import DagsterInstance

    daemon = subprocess.Popen(
        [str(Path(sys.executable).parent / "dagster-daemon"), "run", "-w", "workspace.yaml"],
        cwd=REPO,
        env=env,
        stdout=log.open("w"),
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    deadline = time.monotonic() + 300
    with DagsterInstance.from_config(str(home)) as instance:
        while "QUEUED_RUN_COORDINATOR" not in instance.get_daemon_heartbeats():
            if daemon.poll() is not None or time.monotonic() > deadline:
                stop_daemon(daemon)
                raise SystemExit(f"the daemon did not start; see {log}")
            time.sleep(1)
    return daemon


def stop_daemon(daemon: subprocess.Popen) -> None:
    """Stop the daemon and what it started (its process group)."""
    import signal

    if daemon.poll() is None:
        os.killpg(daemon.pid, signal.SIGTERM)
        try:
            daemon.wait(timeout=60)
        except subprocess.TimeoutExpired:
            os.killpg(daemon.pid, signal.SIGKILL)
            daemon.wait()


def wait_for_runs(home: Path, count: int) -> float:
    """Wait until ``count`` runs have finished; the end time (epoch) of the last one."""
    from dagster import DagsterInstance, DagsterRunStatus

    finished = {DagsterRunStatus.SUCCESS, DagsterRunStatus.FAILURE, DagsterRunStatus.CANCELED}
    with DagsterInstance.from_config(str(home)) as instance:
        while True:
            runs = instance.get_runs()
            if len(runs) >= count and all(r.status in finished for r in runs):
                return max(instance.get_run_stats(r.run_id).end_time or 0.0 for r in runs)
            time.sleep(2)


def read_runs(home: Path) -> list[dict]:
    """Per run, in start order: status, creation, start and end times, and its steps' times."""
    from dagster import DagsterInstance

    from monitoring_platform.defs.orchestration.lane_launcher import waited_seconds

    runs = []
    with DagsterInstance.from_config(str(home)) as instance:
        for record in instance.get_run_records():
            run_id = record.dagster_run.run_id
            stats = instance.get_run_stats(run_id)
            steps = {
                s.step_key: (s.end_time or 0.0) - (s.start_time or 0.0)
                for s in instance.get_run_step_stats(run_id)
                if s.start_time is not None
            }
            runs.append(
                {
                    "partition": record.dagster_run.tags.get("dagster/partition"),
                    "events": len(instance.all_logs(run_id)),
                    "status": record.dagster_run.status.value,
                    "created": record.create_timestamp.timestamp(),
                    "start": stats.start_time,
                    "end": stats.end_time,
                    "steps": steps,
                    "waited": waited_seconds(instance, run_id) or 0.0,
                }
            )
    runs.sort(key=lambda r: r["start"] or r["created"])
    return runs


def report(runs: list[dict], wall: float, began: float, ended: float, rows: int) -> dict:
    n = len(runs)
    compute = [sum(r["steps"].values()) for r in runs]
    run_wall = [r["end"] - r["start"] for r in runs]
    total_compute = sum(compute)
    succeeded = sum(r["status"] == "SUCCESS" for r in runs)
    failed = sum(r["status"] == "FAILURE" for r in runs)
    # The rest of the wall time: before the first run starts, between one run's end and the next
    # one's start (in the command's process: creating the run, which writes its planned events,
    # and launching it), after the last run.
    startup = runs[0]["start"] - began
    between = [b["start"] - a["end"] for a, b in zip(runs, runs[1:], strict=False)]
    # Created after the previous run ended: created by the command just before it was launched
    # (runs queued ahead of time wait in the queue instead).
    launch = [b["start"] - b["created"] for a, b in zip(runs, runs[1:], strict=False)]
    if any(b["created"] < a["end"] for a, b in zip(runs, runs[1:], strict=False)):
        launch = []
    tail = ended - runs[-1]["end"]
    step_names = sorted({k for r in runs for k in r["steps"]})
    print()
    print(f"Backfill of {n} partitions of {MODEL} at {rows:,} requests a day")
    print(f"runs: {succeeded} succeeded, {failed} failed, {n - succeeded - failed} other")
    print(f"{'per run (mean / median)':<40} {'mean s':>8} {'median s':>9} {'total s':>9}")

    def line(label: str, values: list[float]) -> None:
        if values:
            print(
                f"{label:<40} {statistics.mean(values):8.2f} "
                f"{statistics.median(values):9.2f} {sum(values):9.1f}"
            )

    line("run wall (RUN_START to its end)", run_wall)
    line("  of which waiting for the day before", [r["waited"] for r in runs])
    line("compute (sum of its steps)", compute)
    line(
        "run wall - compute - wait (inside the run)",
        [w - c - r["waited"] for w, c, r in zip(run_wall, compute, runs, strict=True)],
    )
    line("previous run's end -> run's start", between)
    line("  of which run created -> started", launch)
    print(
        f"{'events written to the event log':<40} {statistics.mean(r['events'] for r in runs):8.0f}"
    )
    print(f"{'command start -> first run started':<40} {startup:8.2f}")
    print(f"{'last run end -> command end':<40} {tail:8.2f}")
    print()
    print(f"{'step (mean over the runs that ran it)':<48} {'mean s':>8} {'runs':>5}")
    for name in step_names:
        values = [r["steps"][name] for r in runs if name in r["steps"]]
        print(f"{name:<48} {statistics.mean(values):8.2f} {len(values):5d}")
    ratio = wall / total_compute
    print()
    print(f"backfill wall time:      {wall:9.1f} s")
    print(f"sum of steps' compute:   {total_compute:9.1f} s")
    print(
        f"orchestration overhead:  {wall - total_compute:9.1f} s ({(wall - total_compute) / n:.2f} s a run)"
    )
    verdict = "met" if ratio <= TARGET_RATIO else "NOT met"
    print(f"ratio wall / compute:    {ratio:9.2f}x (target <= {TARGET_RATIO}x: {verdict})")
    return {
        "wall": wall,
        "compute": total_compute,
        "ratio": ratio,
        "runs": n,
        "succeeded": succeeded,
        "failed": failed,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=100_000, help="requests a day")
    parser.add_argument("--days", type=int, default=30, help="partitions in the backfill")
    parser.add_argument("--keep", metavar="DIR", help="work in DIR and keep it")
    parser.add_argument(
        "--schema-bug",
        action="store_true",
        help="keep the generated schema-bug day (its run fails)",
    )
    parser.add_argument(
        "--reuse",
        action="store_true",
        help="with --keep: reuse the data generated there by an earlier run of the same options",
    )
    parser.add_argument(
        "--launcher",
        choices=["sync", "default"],
        default="sync",
        help="sync: runs executed by the command's workers; default: queued, the daemon "
        "starts each run in its own process (one at a time)",
    )
    parser.add_argument("--profile", metavar="FILE", help="run the command under cProfile")
    parser.add_argument(
        "--report-only",
        action="store_true",
        help="with --keep: only print the report of the backfill last run there",
    )
    parser.add_argument("--ingest", nargs=3, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.ingest:
        path, start, stop = args.ingest
        ingest(Path(path), dt.date.fromisoformat(start), dt.date.fromisoformat(stop))
        return

    os.environ.update(GX_ANALYTICS_ENABLED="false", DAGSTER_DISABLE_TELEMETRY="1")
    from monitoring_platform.config import load_config

    start_date = load_config(REPO / "monitoring.yaml").partitions.start_date
    trailing = next(
        m
        for m in yaml.safe_load((REPO / "monitoring.yaml").read_text())["models"]
        if m["name"] == MODEL
    )["reference"]["trailing_days"]
    first = start_date + dt.timedelta(days=trailing)
    last = first + dt.timedelta(days=args.days - 1)

    holder = None if args.keep else tempfile.TemporaryDirectory(prefix="bench-backfill-")
    workdir = Path(args.keep or holder.name).resolve()
    workdir.mkdir(parents=True, exist_ok=True)
    marker = workdir / "prepared.json"
    options = {"rows": args.rows, "first": str(first), "last": str(last), "bug": args.schema_bug}
    timing = workdir / "backfill.json"
    try:
        if args.report_only:
            wall, began, ended = json.loads(timing.read_text())
            report(read_runs(workdir / "dagster_home"), wall, began, ended, args.rows)
            return
        if not (args.reuse and marker.exists() and json.loads(marker.read_text()) == options):
            prepare_data(workdir, args.rows, first, last, args.schema_bug)
            marker.write_text(json.dumps(options))
        home, wall, began, ended = run_backfill(workdir, first, last, args.profile, args.launcher)
        timing.write_text(json.dumps([wall, began, ended]))
        print(f"backfill command: {wall:.1f} s", flush=True)
        runs = read_runs(home)
        if not runs:
            raise SystemExit("the backfill created no runs")
        result = report(runs, wall, began, ended, args.rows)
        (workdir / "result.json").write_text(json.dumps({**result, "per_run": runs}, indent=1))
    finally:
        if holder is not None:
            holder.cleanup()


if __name__ == "__main__":
    main()
