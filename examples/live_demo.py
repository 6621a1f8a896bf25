"""``make demo-live``: the example service under load, then the day it wrote, evaluated.

1. starts ``examples.service`` with uvicorn in its own process, writing into ``storage.raw``
   of ``examples/monitoring.live.yaml`` (``--config`` to use another, e.g. ``monitoring.yaml``);
2. runs the load generator against it for a bounded time;
3. stops the service gracefully (SIGTERM: the lifespan's shutdown flushes the writer) and lists
   the objects it wrote;
4. evaluates today's partition of ``ctr_ranker`` through Dagster, as the daily schedule would.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx

from examples.load import run_load

MODEL = "ctr_ranker"
# How a check says it had nothing to judge yet (no earlier days, too few labels).
NOT_JUDGED = ("Not evaluated", "Not judged")


def wait_healthy(url: str, process: subprocess.Popen, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"the service exited with code {process.returncode}")
        try:
            if httpx.get(f"{url}/health", timeout=2).json().get("ok"):
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.3)
    raise SystemExit(f"the service did not answer on {url}/health in {timeout:.0f} s")


def evaluate_today(config, day: dt.date, say) -> bool:
    from dagster import (
        AssetsDefinition,
        AssetSpec,
        DagsterInstance,
        SourceAsset,
        materialize,
        partition_loading_context,
    )

    from monitoring_platform.definitions import build_definitions
    from monitoring_platform.defs.selection import model_evaluation_selection
    from monitoring_platform.demo import QUIET_RUN_CONFIG, dagster_home
    from monitoring_platform.lib.metric_store import MetricStore

    home = dagster_home(config)
    home.mkdir(parents=True, exist_ok=True)
    if not (home / "dagster.yaml").exists():
        (home / "dagster.yaml").write_text("telemetry:\n  enabled: false\n")
    os.environ["DAGSTER_HOME"] = str(home)
    defs = build_definitions(config)
    # The daily schedule evaluates a day once it is over; the demo evaluates today so far,
    # as seen from tomorrow.
    tomorrow = dt.datetime.combine(day + dt.timedelta(days=1), dt.time(1), dt.UTC)
    with partition_loading_context(effective_dt=tomorrow):
        result = materialize(
            [
                *(
                    a
                    for a in defs.assets or []
                    if isinstance(a, AssetsDefinition | AssetSpec | SourceAsset)
                ),
                *(defs.asset_checks or []),
            ],
            selection=model_evaluation_selection(MODEL),
            partition_key=day.isoformat(),
            instance=DagsterInstance.get(),
            resources=dict(defs.resources or {}),
            raise_on_error=False,
            tags={"monitoring_platform/source": "demo-live"},
            run_config=QUIET_RUN_CONFIG,
        )
    store = (defs.resources or {})["metric_store"].get()
    assert isinstance(store, MetricStore)
    metrics = {
        r["metric"]: r["value"]
        for r in store.metrics(model=MODEL, partition_date=day)
        if not r["dims"]
    }
    say(
        f"  rows in {metrics.get('rows_in', 0):,.0f}, accepted {metrics.get('rows_accepted', 0):,.0f}, "
        f"quarantined {metrics.get('rows_quarantined', 0):,.0f}"
    )
    shown = [
        "latency_p95_ms",
        "error_rate",
        "drift_share",
        "label_coverage",
        "roc_auc",
        "click_through_rate",
    ]
    extra = ", ".join(f"{k} {metrics[k]:.3g}" for k in shown if k in metrics)
    if extra:
        say(f"  {extra}")
    for check in store.checks(model=MODEL, partition_date=day):
        observed = json.loads(check["observed"] or "{}")
        description = observed.get("description", "")
        if check["passed"]:
            say(f"  ok    {check['check_name']}")
        elif observed.get("evaluated") is False or description.startswith(NOT_JUDGED):
            # The first live day has no earlier days to compare with.
            say(f"  n/a   {check['check_name']}: {description}")
        elif check["severity"] == "WARN":
            # e.g. the first live day has no reference days ingested yet: worth a look, not a fault.
            say(f"  warn  {check['check_name']}: {description}")
        else:
            say(f"  FAIL  {check['check_name']}: {description}")
    say(f"  run {result.run_id}: {'succeeded' if result.success else 'had failures'}")
    return result.success


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=float, default=20, help="how long the load runs")
    parser.add_argument("--rate", type=float, default=40, help="calls a second")
    parser.add_argument("--port", type=int, default=8080)
    parser.add_argument("--config", default=str(Path(__file__).with_name("monitoring.live.yaml")))
    parser.add_argument("--no-evaluate", action="store_true", help="stop after writing")
    args = parser.parse_args(argv)

    from monitoring_platform.config import load_config

    config = load_config(args.config)
    raw = config.resolve_location(config.storage.raw)

    def say(message: str) -> None:
        print(message, flush=True)

    url = f"http://127.0.0.1:{args.port}"
    say(f"Starting the example service on {url}, writing to {raw}")
    env = {**os.environ, "MONITORING_RAW": raw, "EXAMPLE_FAILURE_RATE": "0.02"}
    env.setdefault("EXAMPLE_MAX_RPS", str(args.rate * 0.95))
    process = subprocess.Popen(
        [sys.executable, "-m", "uvicorn", "examples.service:app", "--host", "127.0.0.1"]
        + ["--port", str(args.port), "--log-level", "warning"],
        env=env,
    )
    try:
        wait_healthy(url, process)
        say(
            f"Sending {args.rate:.0f} calls a second for {args.seconds:.0f} s (metrics: {url}/metrics)"
        )
        result = run_load(url, args.seconds, args.rate)
        say(f"  {result.requests:,} calls: {dict(sorted(result.statuses.items()))}")
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(60)
    day = dt.datetime.now(dt.UTC).date()
    if raw.startswith("s3://"):
        say(f"Records written under {raw}/logs/{MODEL}/dt={day}/")
    else:
        folder = Path(raw) / "logs" / MODEL / f"dt={day}"
        objects = sorted(folder.glob("*.jsonl.gz"))
        say(f"{len(objects)} objects written to {folder}:")
        for path in objects[-5:]:
            say(f"  {path.name}  {path.stat().st_size:,} bytes")
    if args.no_evaluate:
        return 0
    say(f"Evaluating {MODEL} {day} through Dagster (ingestion, validation, drift, metrics)")
    return 0 if evaluate_today(config, day, say) else 1


if __name__ == "__main__":
    raise SystemExit(main())
