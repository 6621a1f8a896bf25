"""Compare one day's monitoring run: a naive pandas/GX/Evidently script, the platform, a bare read.

Generates one day of ``--rows`` log records of the demo model (default 1,000,000) and a 100k-row
reference (the seven previous days), in a local folder and in a local S3 server (moto, over HTTP),
then runs, one after the other and each in a fresh process:

- (a) naive: ``pandas.read_json(lines=True)`` of the day's gzipped logs, Great Expectations over the
  whole DataFrame with the platform's suite, Evidently ``DataDriftPreset`` against the reference,
  ``save_html``;
- (b) the platform's partition run through Dagster (ingest, expectations, reference window, drift
  report and its checks, metrics), in-process executor, on the local folder and on S3;
- (c) the floor: reading and parsing the day's bytes with DuckDB's JSON reader.

Prints wall time and peak memory (RSS of each process) of each step, the ratios, and whether the
per-column drift scores and verdicts of (a) and (b) agree.

Usage: ``python benchmarks/bench_partition.py [--rows 1000000] [--skip-naive] [--skip-s3]``
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import yaml

REPO = Path(__file__).resolve().parents[1]
MODEL = "ctr_ranker"
DAY = dt.date(2026, 1, 8)
REFERENCE_DAYS = 7
REFERENCE_ROWS = 100_000


# ---------------------------------------------------------------------------------------------
# Steps, each run in its own process: ``python bench_partition.py --step NAME WORKDIR``


def _load(workdir: Path, name: str = "local"):
    from monitoring_platform.config import load_config

    return load_config(workdir / f"monitoring-{name}.yaml")


def step_naive(workdir: Path) -> dict:
    """What a user would write: pandas, GX on the whole frame, Evidently's preset, save_html."""
    import glob

    import pandas as pd
    from evidently import DataDefinition, Dataset, Report
    from evidently.presets import DataDriftPreset

    from monitoring_platform.lib.drift import PREDICTION
    from monitoring_platform.lib.validation import contract_expectations

    model = _load(workdir).model(MODEL)

    def read_day(day: dt.date) -> pd.DataFrame:
        files = sorted(glob.glob(str(workdir / "raw" / "logs" / MODEL / f"dt={day}" / "*.gz")))
        frame = pd.concat(
            [pd.read_json(f, lines=True, compression="gzip", dtype=False) for f in files],
            ignore_index=True,
        )
        features = pd.json_normalize(frame.pop("features").tolist())
        return pd.concat([frame, features], axis=1)

    current = read_day(DAY)
    reference = pd.concat(
        [read_day(DAY - dt.timedelta(days=n)) for n in range(REFERENCE_DAYS, 0, -1)],
        ignore_index=True,
    )
    known = {c: set(reference[c].dropna().astype(str)) for c in model.categorical_features}
    # Great Expectations as its documentation shows it, with the platform's suite.
    import great_expectations as gx
    from great_expectations.expectations.expectation_configuration import (
        ExpectationConfiguration,
    )

    context = gx.get_context(mode="ephemeral")
    batch_definition = (
        context.data_sources.add_pandas("naive")
        .add_dataframe_asset("day")
        .add_batch_definition_whole_dataframe("day")
    )
    suite = gx.ExpectationSuite(
        name="naive",
        expectations=[
            ExpectationConfiguration(type=spec.type, kwargs=spec.kwargs).to_domain_obj()
            for spec in contract_expectations(model, known)
        ],
    )
    validation = batch_definition.get_batch(batch_parameters={"dataframe": current}).validate(suite)

    numerical = list(model.numerical_features) + [PREDICTION]
    categorical = list(model.categorical_features)
    columns = [f.name for f in model.features] + [PREDICTION]
    definition = DataDefinition(numerical_columns=numerical, categorical_columns=categorical)
    snapshot = Report([DataDriftPreset()]).run(
        current_data=Dataset.from_pandas(current[columns], data_definition=definition),
        reference_data=Dataset.from_pandas(reference[columns], data_definition=definition),
    )
    snapshot.save_html(str(workdir / "naive_drift.html"))
    drift = _scores(snapshot)
    # The same segments as the platform's report: the preset on each segment's rows.
    segments = {}
    for segment in model.segments:
        seg_columns = [c for c in columns if c != segment]
        seg_definition = DataDefinition(
            numerical_columns=[c for c in numerical if c != segment],
            categorical_columns=[c for c in categorical if c != segment],
        )
        for value in sorted(current[segment].dropna().astype(str).unique()):
            cur = current.loc[current[segment].astype(str) == value, seg_columns]
            ref = reference.loc[reference[segment].astype(str) == value, seg_columns]
            if min(len(cur), len(ref)) < model.segment_min_rows:
                continue
            seg_snapshot = Report([DataDriftPreset()]).run(
                current_data=Dataset.from_pandas(cur, data_definition=seg_definition),
                reference_data=Dataset.from_pandas(ref, data_definition=seg_definition),
            )
            for column, result in _scores(seg_snapshot).items():
                segments[f"{segment}={value}/{column}"] = result
    return {
        "rows": len(current),
        "expectations_failed": sum(not r.success for r in validation.results),
        "drift": drift,
        "segments": segments,
    }


def _scores(snapshot) -> dict[str, dict]:
    from monitoring_platform.lib.stattests import drift_verdict

    drift = {}
    for metric in snapshot.dict()["metrics"]:
        config = metric["config"]
        if config["type"].endswith(":ValueDrift"):
            score, threshold = float(metric["value"]), float(config["threshold"])
            drift[config["column"]] = {
                "method": config["method"],
                "score": score,
                "drifted": drift_verdict(config["method"], score, threshold),
            }
    return drift


def _materialize(config, stages: list[str], day: dt.date) -> tuple[Any, dict, dict]:
    """The run of ``stages`` for ``day``, each step's seconds and each step's peak RSS (MB)."""
    from dagster import AssetKey, AssetSelection, DagsterInstance, materialize

    from monitoring_platform.definitions import build_definitions
    from monitoring_platform.demo import QUIET_RUN_CONFIG

    defs = build_definitions(config)
    keys = [AssetKey([MODEL, stage]) for stage in stages]
    definitions: list[Any] = [*(defs.assets or []), *(defs.asset_checks or [])]
    with DagsterInstance.ephemeral() as instance:
        result = materialize(
            definitions,
            selection=AssetSelection.assets(*keys) | AssetSelection.checks_for_assets(*keys),
            partition_key=day.isoformat(),
            instance=instance,
            resources=dict(defs.resources or {}),
            raise_on_error=False,
            run_config=QUIET_RUN_CONFIG,
        )
        spans = [
            (s.step_key, s.start_time, s.end_time)
            for s in instance.get_run_step_stats(result.run_id)
            if s.end_time is not None and s.start_time is not None
        ]
        seconds = {key: round(end - start, 2) for key, start, end in spans}
        peak_mb = {
            key: max((mb for t, mb in _RSS_SAMPLES if start <= t <= end), default=None)
            for key, start, end in spans
        }
        return result, seconds, peak_mb


_RSS_SAMPLES: list[tuple[float, float]] = []


def _sample_rss(every: float = 0.25) -> None:
    """Record this process's resident memory (MB) with a timestamp, on a daemon thread."""
    import threading

    def run() -> None:
        status = Path("/proc/self/status")
        while True:
            lines = status.read_text().splitlines()
            rss = [int(line.split()[1]) / 1024 for line in lines if line.startswith("VmRSS:")]
            _RSS_SAMPLES.extend((time.time(), mb) for mb in rss)
            time.sleep(every)

    threading.Thread(target=run, daemon=True).start()


def step_prepare(workdir: Path, name: str) -> dict:
    """Ingest the reference days (not timed)."""
    config = _load(workdir, name)
    for n in range(REFERENCE_DAYS, 0, -1):
        result, _, _ = _materialize(config, ["inference_logs"], DAY - dt.timedelta(days=n))
        if not result.success:
            raise SystemExit(f"ingesting reference day {DAY - dt.timedelta(days=n)} failed")
    return {}


def step_platform(workdir: Path, name: str) -> dict:
    """The platform's partition run for the day."""
    from monitoring_platform.lib.metric_store import MetricStore

    config = _load(workdir, name)
    _sample_rss()
    stages = ["inference_logs", "reference_window", "data_drift_report"]
    result, step_seconds, step_peak_mb = _materialize(config, stages, DAY)
    checks = {e.check_name: bool(e.passed) for e in result.get_asset_check_evaluations()}
    store = MetricStore(config.metric_store_url())
    rows = store.metrics(model=MODEL, partition_date=DAY, asset="data_drift_report")
    drift: dict[str, dict] = {}
    segments: dict[str, dict] = {}
    for row in rows:
        dims = row.get("dims") or {}
        if isinstance(dims, str):
            dims = json.loads(dims)
        column = dims.get("column")
        if column is None:
            continue
        name = f"{dims.get('segment')}={dims.get('value')}/{column}"
        if row["metric"] == "segment_drift_score":
            segments.setdefault(name, {}).update(score=row["value"], method=row.get("text_value"))
        elif row["metric"] == "segment_drift_detected":
            segments.setdefault(name, {})["drifted"] = bool(row["value"])
        elif row["metric"] == "drift_score":
            drift.setdefault(column, {}).update(score=row["value"], method=row.get("text_value"))
        elif row["metric"] == "drift_detected":
            drift.setdefault(column, {})["drifted"] = bool(row["value"])
    logs = {
        r["metric"]: r["value"]
        for r in store.metrics(model=MODEL, partition_date=DAY, asset="inference_logs")
    }
    return {
        "success": result.success,
        "rows": logs.get("rows_accepted"),
        "quarantined": logs.get("rows_quarantined"),
        "checks": checks,
        "drift": drift,
        "segments": segments,
        "step_seconds": step_seconds,
        "step_peak_mb": step_peak_mb,
    }


def step_floor(workdir: Path) -> dict:
    """Only read and parse the day's gzipped JSON lines."""
    import duckdb

    pattern = str(workdir / "raw" / "logs" / MODEL / f"dt={DAY}" / "*.gz")
    with duckdb.connect() as con:
        con.execute("SET threads = 2")
        table = con.sql(
            "SELECT * FROM read_json($1, format = 'newline_delimited', compression = 'gzip')",
            params=[pattern],
        ).to_arrow_table()
    return {"rows": table.num_rows, "columns": table.num_columns}


STEPS = {
    "naive": lambda w: step_naive(w),
    "prepare-local": lambda w: step_prepare(w, "local"),
    "prepare-s3": lambda w: step_prepare(w, "s3"),
    "platform-local": lambda w: step_platform(w, "local"),
    "platform-s3": lambda w: step_platform(w, "s3"),
    "floor": lambda w: step_floor(w),
}


# ---------------------------------------------------------------------------------------------
# Driver


def run_step(name: str, workdir: Path, env: dict[str, str]) -> dict:
    """Run one step in a fresh process; its wall time, peak RSS and result."""
    out = workdir / f"{name}.json"
    began = time.perf_counter()
    proc = subprocess.Popen(
        [sys.executable, __file__, "--step", name, str(workdir)], env=env, cwd=REPO
    )
    _pid, status, usage = os.wait4(proc.pid, 0)
    seconds = time.perf_counter() - began
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"step {name} failed (exit status {status})")
    result = json.loads(out.read_text())
    result["seconds"] = seconds
    # ru_maxrss of a child also counts the parent's pages at fork time: prefer the child's own
    # high-water mark, read by the child at its end.
    result.setdefault("peak_mb", usage.ru_maxrss / 1024)
    return result


def _own_peak_mb() -> float:
    """This process's peak resident memory (VmHWM), in MB."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def prepare_data(workdir: Path, rows: int, endpoint: str | None) -> None:
    from monitoring_platform.config import load_config
    from monitoring_platform.lib.storage import open_store, s3_client
    from monitoring_platform.simulation import Scenario, generate_traffic

    raw = yaml.safe_load((REPO / "monitoring.yaml").read_text())
    raw["models"] = [m for m in raw["models"] if m["name"] == MODEL]
    raw.pop("alerts", None)
    for name, root in (("local", str(workdir)), ("s3", "s3://bench/run")):
        copy = json.loads(json.dumps(raw))
        copy["storage"].update(raw=f"{root}/raw", lake=f"{root}/lake", reports=f"{root}/reports")
        copy["metric_store"] = {"url": f"sqlite:///{workdir / f'metrics-{name}.db'}"}
        copy.pop("warehouse", None)
        (workdir / f"monitoring-{name}.yaml").write_text(yaml.safe_dump(copy, sort_keys=False))
    config = load_config(workdir / "monitoring-local.yaml")
    scenario = Scenario(drift_days=[DAY], malformed_rate=0.0, duplicate_rate=0.0)

    def sized(per_day: int):
        model = config.model(MODEL)
        simulation = model.simulation.model_copy(update={"requests_per_day": per_day})
        return config.model_copy(
            update={"models": [model.model_copy(update={"simulation": simulation})]}
        )

    first = DAY - dt.timedelta(days=REFERENCE_DAYS)
    generate_traffic(
        sized(REFERENCE_ROWS // REFERENCE_DAYS),
        first,
        DAY - dt.timedelta(days=1),
        raw_root=str(workdir / "raw"),
        scenario=scenario,
    )
    generate_traffic(sized(rows), DAY, DAY, raw_root=str(workdir / "raw"), scenario=scenario)
    if endpoint is None:
        return
    client = s3_client(endpoint_url=endpoint, access_key_id="testing", secret_access_key="testing")
    client.create_bucket(Bucket="bench")
    remote = open_store("s3://bench/run/raw", lambda: client)
    for path in sorted((workdir / "raw").rglob("*.gz")):
        remote.put_file(path.relative_to(workdir / "raw").as_posix(), path)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000, help="log records in the day")
    parser.add_argument("--skip-naive", action="store_true", help="leave out step (a)")
    parser.add_argument("--skip-s3", action="store_true", help="run (b) on the local folder only")
    parser.add_argument("--keep", metavar="DIR", help="work in DIR and keep it")
    parser.add_argument("--step", nargs=2, metavar=("NAME", "WORKDIR"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.step:
        name, workdir = args.step
        result = STEPS[name](Path(workdir))
        result["peak_mb"] = _own_peak_mb()
        (Path(workdir) / f"{name}.json").write_text(json.dumps(result, default=str))
        return

    env = dict(os.environ, GX_ANALYTICS_ENABLED="false", DAGSTER_DISABLE_TELEMETRY="1")
    env.setdefault("AWS_ACCESS_KEY_ID", "testing")
    env.setdefault("AWS_SECRET_ACCESS_KEY", "testing")
    os.environ.update({k: env[k] for k in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY")})
    server = endpoint = None
    if not args.skip_s3:
        import logging

        from moto.server import ThreadedMotoServer

        logging.getLogger("werkzeug").setLevel(logging.ERROR)

        port = _free_port()
        server = ThreadedMotoServer(ip_address="127.0.0.1", port=port)
        server.start()
        endpoint = f"http://127.0.0.1:{port}"
        env["MONITORING_S3_ENDPOINT_URL"] = endpoint

    holder = None if args.keep else tempfile.TemporaryDirectory(prefix="bench-partition-")
    workdir = Path(args.keep) if holder is None else Path(holder.name)
    workdir.mkdir(parents=True, exist_ok=True)
    try:
        began = time.perf_counter()
        prepare_data(workdir, args.rows, endpoint)
        gz = sum(p.stat().st_size for p in (workdir / "raw" / "logs").rglob(f"dt={DAY}/*.gz"))
        print(
            f"generated {args.rows:,} rows for {DAY} ({gz / 1e6:.0f} MB gzipped) and a "
            f"{REFERENCE_ROWS:,}-row reference in {time.perf_counter() - began:.0f} s"
        )
        results: dict[str, dict] = {}
        names = [] if args.skip_naive else ["naive"]
        names += ["prepare-local", "platform-local"]
        if not args.skip_s3:
            names += ["prepare-s3", "platform-s3"]
        names.append("floor")
        for name in names:
            results[name] = run_step(name, workdir, env)
            r = results[name]
            print(f"  {name:<15} {r['seconds']:8.1f} s  {r['peak_mb']:8,.0f} MB", flush=True)
        report(results, args.rows)
    finally:
        if server is not None:
            server.stop()
        if holder is not None:
            holder.cleanup()


def report(results: dict[str, dict], rows: int) -> None:
    labels = {
        "naive": "(a) naive pandas + GX + Evidently",
        "platform-local": "(b) platform, local folder",
        "platform-s3": "(b) platform, S3 (moto)",
        "floor": "(c) floor: DuckDB read_json",
    }
    print()
    print(f"One day of {rows:,} rows of {MODEL}, reference {REFERENCE_ROWS:,} rows")
    print(f"{'step':<36} {'wall s':>8} {'peak RSS MB':>12} {'rows':>11}")
    for name, label in labels.items():
        if name in results:
            r = results[name]
            print(
                f"{label:<36} {r['seconds']:8.1f} {r['peak_mb']:12,.0f} {int(r.get('rows') or 0):11,}"
            )
    b = results["platform-local"]
    c = results["floor"]
    if "naive" in results:
        a = results["naive"]
        print(f"(a)/(b) wall time: {a['seconds'] / b['seconds']:.1f}x (target >= 8x)")
        print(f"(a)/(b) peak RSS:  {a['peak_mb'] / b['peak_mb']:.1f}x")
    print(f"(b)/(c) wall time: {b['seconds'] / c['seconds']:.1f}x (target <= 6x)")
    print(f"(b) peak RSS {b['peak_mb'] / 1024:.2f} GB (target <= 1.5 GB at 1M rows, 6 GB at 10M)")
    print(f"(b) run succeeded: {b['success']}; checks: {b['checks']}")
    steps = ", ".join(
        f"{k.split('__')[-1]} {v:.1f} s (peak RSS {b['step_peak_mb'].get(k) or 0:,.0f} MB)"
        for k, v in b["step_seconds"].items()
    )
    print(f"(b) steps inside the run: {steps}")
    if "naive" in results:
        agree_all = _compare("column", results["naive"]["drift"], b["drift"], show=True)
        seg_a, seg_b = results["naive"]["segments"], b["segments"]
        agree_segments = set(seg_a) == set(seg_b) and _compare("segment/column", seg_a, seg_b)
        drifted = sorted(k for k, v in seg_a.items() if v["drifted"])
        print(
            f"segments: {len(seg_a)} segment columns scored by (a), {len(seg_b)} by (b); "
            f"drifted in (a): {len(drifted)}"
        )
        print(
            "drift scores within 1e-6 and identical verdicts: "
            f"whole day {'yes' if agree_all else 'NO'}, segments {'yes' if agree_segments else 'NO'}"
        )


def _compare(label: str, theirs: dict, ours: dict, show: bool = False) -> bool:
    """Whether every score of (b) is within 1e-6 of (a)'s, with the same verdict."""
    agree_all = True
    if show:
        print(f"{label:<18} {'method':<28} {'(a) score':>14} {'(b) score':>14} verdicts")
    for column, da in theirs.items():
        db = ours.get(column, {})
        score_b = db.get("score")
        same = score_b is not None and abs(da["score"] - score_b) <= 1e-6
        same_verdict = db.get("drifted") == da["drifted"]
        agree_all &= same and same_verdict
        if show or not (same and same_verdict):
            print(
                f"{column:<18} {da['method']:<28} {da['score']:14.8f} "
                f"{(score_b if score_b is not None else float('nan')):14.8f} "
                f"{da['drifted']!s:>5}/{db.get('drifted')!s:<5} "
                f"{'ok' if same and same_verdict else 'DIFFER'}"
            )
    return agree_all


if __name__ == "__main__":
    main()
