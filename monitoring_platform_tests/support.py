"""What several test modules share: a model-day through Dagster, a check finding, small frames
and log lines for validation and ingestion."""

from __future__ import annotations

import datetime as dt
import gzip
import json

import duckdb
import numpy as np
import pandas as pd
import pyarrow.parquet as pq

from monitoring_platform.config import parse_config
from monitoring_platform.lib.alerting import findings as F
from monitoring_platform.lib.validation import contract_expectations, validate

# -- one model-day through Dagster -------------------------------------------------------------

PIPELINE_MODEL = "ctr_ranker"

# The stages ``run_day`` materializes; the warehouse and dbt stages have tests of their own.
PIPELINE_STAGES = (
    "inference_logs",
    "labels",
    "reference_window",
    "data_drift_report",
    "model_performance_report",
)


def run_day(defs, instance, day, model=PIPELINE_MODEL, everything=False):
    """One model-day: the stages above, or with ``everything`` the model's whole evaluation."""
    from dagster import AssetKey, AssetSelection, materialize

    from monitoring_platform.defs.selection import model_evaluation_selection
    from monitoring_platform.demo import QUIET_RUN_CONFIG

    keys = [AssetKey([model, stage]) for stage in PIPELINE_STAGES]
    selection = AssetSelection.assets(*keys) | AssetSelection.checks_for_assets(*keys)
    return materialize(
        [*defs.assets, *defs.asset_checks],
        selection=model_evaluation_selection(model) if everything else selection,
        partition_key=day.isoformat(),
        instance=instance,
        resources=dict(defs.resources),
        raise_on_error=False,
        run_config=QUIET_RUN_CONFIG,
    )


def checks_of(result):
    """``{check name: evaluation}`` of a run's asset checks."""
    return {e.check_name: e for e in result.get_asset_check_evaluations()}


# -- a check finding, as the alerting receives it ----------------------------------------------

FINDING_DAY = dt.date(2026, 11, 6)


def check(
    subject="quarantine_share_within_limit",
    *,
    failing=True,
    severity="ERROR",
    event_id=1,
    run_id="run-a",
    model="ctr_ranker",
    day=FINDING_DAY,
    observed=None,
):
    """A check finding of a quarantine share above its error threshold (or passing)."""
    return F.Finding(
        kind=F.CHECK,
        model=model,
        subject=subject,
        day=day,
        failing=failing,
        severity=severity,
        description="412 of 5500 records quarantined (7.49%; warn at 1.00%, error at 5.00%).",
        event_id=event_id,
        observed=observed
        if observed is not None
        else {"quarantine_share": 0.0749, "warn_threshold": 0.01, "error_threshold": 0.05},
        run_id=run_id,
        run_url=f"http://127.0.0.1:3000/runs/{run_id}",
        report_url="file:///reports/ctr_ranker/2026-11-06/validation.html",
    )


# -- validation of a small day -----------------------------------------------------------------

VALIDATION_MODEL = parse_config(
    """
models:
  - name: shop
    task: binary_classification
    validation: {max_null_share: 0.2}
    features:
      - {name: country, type: categorical, categories: [US, DE]}
      - {name: price, type: numerical, min: 0, max: 100, required: true}
      - {name: promo, type: numerical, optional: true}
"""
).models[0]


def clean(n=200):
    """``n`` accepted rows of ``VALIDATION_MODEL`` that pass every expectation."""
    rng = np.random.default_rng(0)
    return pd.DataFrame(
        {
            "request_id": [f"r{i}" for i in range(n)],
            "timestamp": pd.date_range("2026-11-20", periods=n, freq="min", tz="UTC"),
            "model_version": "v1",
            "prediction": rng.random(n),
            "latency_ms": rng.lognormal(3, 0.4, n),
            "status_code": 200,
            "error": None,
            "country": rng.choice(["US", "DE", "FR"], n),
            "price": rng.uniform(0, 100, n),
            "promo": np.where(rng.random(n) < 0.1, np.nan, 5.0),
        }
    )


def run(frame, known=None):
    """``frame`` validated against the contract of ``VALIDATION_MODEL``."""
    specs = contract_expectations(VALIDATION_MODEL, known or {"country": {"FR"}})
    return validate(frame, specs, "test")


def failures(outcome):
    """``{(expectation type, column, severity)}`` of the failed expectations."""
    return {(r.spec.type, r.spec.column, r.spec.severity) for r in outcome.failed()}


# -- log lines for ingestion -------------------------------------------------------------------

INGEST_DAY = "2026-11-20"
INGEST_CONFIG = """
models:
  - name: shop
    task: binary_classification
    features:
      - {name: country, type: categorical}
      - {name: price, type: numerical, required: true}
      - {name: discount, type: numerical, optional: true}
"""


def record(i, **changes):
    """Log line ``i`` of the model of ``INGEST_CONFIG`` on ``INGEST_DAY``, with ``changes``."""
    rec = {
        "request_id": f"r{i}",
        "timestamp": f"{INGEST_DAY}T10:00:{i % 60:02d}.000Z",
        "model_version": "v1",
        "features": {"country": "US", "price": 10.0 + i, "discount": None},
        "prediction": 0.25,
        "latency_ms": 12.5,
        "status_code": 200,
    }
    rec.update(changes)
    return json.dumps(rec)


def write(store_root, name, lines, compress=True):
    """Write ``lines`` as object ``name`` of the day's partition under ``store_root``."""
    path = store_root / "shop" / f"dt={INGEST_DAY}" / name
    path.parent.mkdir(parents=True, exist_ok=True)
    data = ("\n".join(lines) + "\n").encode()
    path.write_bytes(gzip.compress(data) if compress else data)


def quarantine_rows(result):
    """``(object_key, line_no, reason, raw)`` of an ingest's quarantine, in line order."""
    return duckdb.execute(
        "SELECT object_key, line_no, reason, raw FROM read_parquet(?) ORDER BY line_no",
        [str(result.quarantine_path)],
    ).fetchall()


def accepted_rows(result):
    """An ingest's accepted rows as dicts."""
    return pq.read_table(result.accepted_path).to_pylist()
