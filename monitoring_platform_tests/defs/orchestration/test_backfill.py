"""A backfill of both demo models through a real Dagster instance, with the CLI command the
README gives; re-running part of it (both models in one run, ``monitoring_job``) changes nothing.

The suite backfills eight days (the schema-bug day and the drift episode included) to stay within
its time budget; ``MONITORING_BACKFILL_DAYS=30`` runs the month the operations guide describes.
"""

import datetime as dt
import json
import math
import os
import resource
import subprocess
import sys

import pytest
from dagster import DagsterInstance, DagsterRunStatus, RunsFilter

from monitoring_platform.config import load_config
from monitoring_platform.defs.orchestration.jobs import MODEL_TAG, MONITORING_JOB, model_job_name
from monitoring_platform.defs.orchestration.lane_launcher import (
    ingest_steps,
    plan_steps,
    run_gate_steps,
    waited_seconds,
)
from monitoring_platform.lib import lake
from monitoring_platform.lib.metric_store import MetricStore
from monitoring_platform.lib.storage import LocalObjectStore
from monitoring_platform.simulation import generate_traffic
from monitoring_platform_tests.conftest import END_TO_END, REPO, small_config_dict, write_config

START = dt.date(2026, 10, 1)
END = START + dt.timedelta(days=int(os.environ.get("MONITORING_BACKFILL_DAYS", "8")) - 1)
DAYS = [START + dt.timedelta(days=n) for n in range((END - START).days + 1)]
MODELS = ("ctr_ranker", "eta_regressor")
INGEST = ("__inference_logs", "__inference_logs_expectations_met", "__business_events")

# Runs execute in the command's two worker processes (``LaneRunLauncher``): at most two
# model-days in memory, a model's days in order.
INSTANCE_YAML = (REPO / "infra" / "dagster-sequential.yaml").read_text()


def backfill(env, job, start, end):
    done = subprocess.run(
        [sys.executable, "-m", "dagster", "job", "backfill", "-w", "workspace.yaml"]
        + ["-j", job, "--from", str(start), "--to", str(end), "--noprompt"],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert "Launched backfill job" in done.stdout, done.stdout[-2000:]


def snapshot(store, days):
    metrics = {
        (m["model"], m["partition_date"], m["asset"], m["metric"], m["dims"]): m["value"]
        for m in store.metrics()
        if m["partition_date"] in days
    }
    checks = {
        (c["model"], c["partition_date"], c["asset"], c["check_name"]): (
            c["passed"],
            c["severity"],
            json.loads(c["observed"]),
        )
        for c in store.checks()
        if c["partition_date"] in days
    }
    return metrics, checks


def same(a, b):
    """Equal, floats up to round-off (a sum's order may differ between processes)."""
    if isinstance(a, float) and isinstance(b, float):
        return math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-12)
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(same(a[k], b[k]) for k in a)
    if isinstance(a, list | tuple) and isinstance(b, list | tuple):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b, strict=True))
    return a == b


def assert_same(old, new):
    assert old.keys() == new.keys(), old.keys() ^ new.keys()
    changed = {k: (old[k], new[k]) for k in old if not same(old[k], new[k])}
    assert not changed, changed


def ended(instance, run, keys):
    """When the last of the run's steps ``keys`` that ran ended."""
    stats = instance.get_run_step_stats(run.run_id)
    return max((s.end_time for s in stats if s.step_key in keys and s.end_time), default=0)


def assert_days_in_order(instance, runs):
    """A model's next day started once the day before had ingested, and its steps beyond its
    own ingest once every step of the day before that later days read had ended."""
    overlapped = 0
    for model in MODELS:
        days = sorted(
            (r for r in runs if r.tags[MODEL_TAG] == model),
            key=lambda r: r.tags["dagster/partition"],
        )
        assert waited_seconds(instance, days[0].run_id) is None  # nothing before it
        for before, after in zip(days, days[1:], strict=False):
            where = (before.tags["dagster/partition"], after.tags["dagster/partition"])
            started = instance.get_run_stats(after.run_id).start_time
            assert started >= ended(instance, before, ingest_steps(plan_steps(instance, before)))
            ingest = ingest_steps(plan_steps(instance, after))
            later = [
                s.start_time
                for s in instance.get_run_step_stats(after.run_id)
                if s.step_key not in ingest and s.start_time
            ]
            gate_ended = ended(instance, before, run_gate_steps(instance, before))
            assert min(later, default=math.inf) >= gate_ended, where
            assert ingest and all(s.endswith(INGEST) for s in ingest), where
            overlapped += started < instance.get_run_stats(before.run_id).end_time
            assert waited_seconds(instance, after.run_id) is not None, where
    assert overlapped, "no day started beside the end of the day before it"


@END_TO_END
@pytest.mark.slow
@pytest.mark.timeout(1800)  # 2 models x 8 days, one run per model-day; a day re-run twice
def test_backfill_of_both_models(tmp_path, monkeypatch):
    raw = small_config_dict(tmp_path, requests_per_day=100)
    config_path = write_config(tmp_path, raw)
    config = load_config(config_path)
    generate_traffic(config, START, END, seed=5)
    home = tmp_path / "dagster_home"
    home.mkdir()
    (home / "dagster.yaml").write_text(INSTANCE_YAML)
    monkeypatch.setenv("DAGSTER_HOME", str(home))  # the instance this test reads, as the command
    env = {**os.environ, "MONITORING_CONFIG": str(config_path)}

    for model in MODELS:
        backfill(env, model_job_name(model), START, END)
    peak_kib = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss

    with DagsterInstance.from_config(str(home)) as instance:
        runs = instance.get_runs()
        assert len(runs) == len(MODELS) * len(DAYS)
        pairs = {(r.job_name, r.tags["dagster/partition"]) for r in runs}
        assert pairs == {(f"{m}_monitoring_job", d.isoformat()) for m in MODELS for d in DAYS}
        assert all(r.tags.get("dagster/backfill") for r in runs)
        assert all(r.tags["monitoring_platform/model"] in r.job_name for r in runs)
        failed = instance.get_runs(RunsFilter(statuses=[DagsterRunStatus.FAILURE]))
        # Only the day with the schema bug stops, by its blocking check, for each model.
        assert {r.tags["dagster/partition"] for r in failed} <= {"2026-10-06"}
        assert_days_in_order(instance, runs)
    # Each process that ran model-days stayed small: one at a time, never the whole range.
    assert peak_kib < 3 * 1024 * 1024

    store = MetricStore(config.metric_store_url())
    lake_store = LocalObjectStore(tmp_path / "lake")
    for model in MODELS:
        for day in DAYS:
            (rows_in,) = [
                m["value"]
                for m in store.metrics(
                    model=model, partition_date=day, asset="inference_logs", metric="rows_in"
                )
            ]
            assert rows_in > 0
            assert lake.read_partition(lake_store, lake.ACCEPTED, model, day) is not None
    drift_days = {
        m["partition_date"] for m in store.metrics(model="ctr_ranker", metric="drift_share")
    }
    # The first two days lack a large enough reference window; the schema-bug day is stopped.
    assert drift_days == set(DAYS) - {START, DAYS[1], dt.date(2026, 10, 6)}

    # Re-running a day: what reads only the day's logs is unchanged at once; the performance
    # report may take in labels that arrived on later days. Running it once more changes nothing.
    # The day is re-run for both models at once: one run of `monitoring_job`.
    rerun = DAYS[3:4]
    first = snapshot(store, set(rerun))
    lake_before = {
        (m, d): lake.read_partition(lake_store, lake.ACCEPTED, m, d).to_pylist()
        for m in MODELS
        for d in rerun
    }
    backfill(env, MONITORING_JOB, rerun[0], rerun[-1])
    second = snapshot(store, set(rerun))
    logs_only = ("inference_logs", "data_drift_report")
    for old, new in zip(first, second, strict=True):
        assert_same(
            {k: v for k, v in old.items() if k[2] in logs_only},
            {k: v for k, v in new.items() if k[2] in logs_only},
        )
    backfill(env, MONITORING_JOB, rerun[0], rerun[-1])
    third = snapshot(store, set(rerun))
    for old, new in zip(second, third, strict=True):
        assert_same(old, new)
    for (model, day), rows in lake_before.items():
        assert lake.read_partition(lake_store, lake.ACCEPTED, model, day).to_pylist() == rows
    with DagsterInstance.from_config(str(home)) as instance:
        reruns = instance.get_runs(RunsFilter(job_name=MONITORING_JOB))
        assert len(reruns) == 2 * len(rerun)
        assert all(r.status == DagsterRunStatus.SUCCESS for r in reruns)
        assert len(instance.get_runs()) == len(MODELS) * len(DAYS) + len(reruns)
    store.dispose()
