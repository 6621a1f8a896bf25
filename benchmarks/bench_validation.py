"""Measure ingestion and Great Expectations validation of one 1M-row day.

Prints wall time and peak memory (RSS) of each step, and how validation compares with the
same suite run with GX's default (COMPLETE) result format.

Usage: ``python benchmarks/bench_validation.py [--rows 1000000]``
"""

from __future__ import annotations

import argparse
import datetime as dt
import resource
import tempfile
import time
from pathlib import Path

import pandas as pd
import pyarrow.parquet as pq

from monitoring_platform.config import load_config
from monitoring_platform.lib.ingest import ingest_partition
from monitoring_platform.lib.storage import LocalObjectStore
from monitoring_platform.lib.validation import (
    _gx,
    contract_expectations,
    validate,
    validate_parquet,
)
from monitoring_platform.lib.validation_stage import record_contract_expectations, record_frame
from monitoring_platform.simulation import Scenario, generate_traffic

CONFIG = Path(__file__).resolve().parents[1] / "monitoring.yaml"
DAY = dt.date(2026, 1, 7)


def peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--model", default="ctr_ranker")
    args = parser.parse_args()

    config = load_config(CONFIG)
    model = config.model(args.model)
    model = model.model_copy(
        update={"simulation": model.simulation.model_copy(update={"requests_per_day": args.rows})}
    )
    config = config.model_copy(update={"models": [model]})
    with tempfile.TemporaryDirectory(prefix="bench-validation-") as root:
        t = time.perf_counter()
        generate_traffic(config, DAY, DAY, raw_root=root, scenario=Scenario())
        print(f"generate      {time.perf_counter() - t:7.2f} s")

        t = time.perf_counter()
        store = LocalObjectStore(Path(root) / "logs")
        result = ingest_partition(store, model, DAY.isoformat(), Path(root) / "out")
        ingest_s = time.perf_counter() - t
        print(
            f"ingest        {ingest_s:7.2f} s  {result.rows_in:,} rows in, "
            f"{result.quarantined:,} quarantined, peak RSS {peak_mb():,.0f} MB"
        )

        t = time.perf_counter()
        _gx()
        setup_s = time.perf_counter() - t
        t = time.perf_counter()
        accepted = pq.ParquetFile(result.accepted_path)
        reasons = pq.read_table(result.quarantine_path, columns=["reason"]).column("reason")
        specs = contract_expectations(model)
        records = record_frame(accepted.metadata.num_rows, reasons)
        outcome = validate_parquet(accepted, specs, "bench") + validate(
            records, record_contract_expectations(model), "bench_records"
        )
        validate_s = time.perf_counter() - t
        print(
            f"validate      {validate_s:7.2f} s  {len(outcome.results)} expectations, "
            f"{len(outcome.failed())} failed (GX import + context once: {setup_s:.2f} s), "
            f"peak RSS {peak_mb():,.0f} MB"
        )

        gx, _context, batch_definition = _gx()
        from monitoring_platform.lib.validation import _to_gx

        suite = gx.ExpectationSuite(
            name="complete", expectations=[_to_gx(s, i) for i, s in enumerate(specs)]
        )
        frame = pd.read_parquet(result.accepted_path)
        t = time.perf_counter()
        batch_definition.get_batch(batch_parameters={"dataframe": frame}).validate(
            suite, result_format="COMPLETE"
        )
        complete_s = time.perf_counter() - t
        print(f"GX COMPLETE   {complete_s:7.2f} s  (same suite, GX's default detail)")
        print(f"ratio COMPLETE / platform validation: {complete_s / validate_s:.1f}x")
        print(
            f"validation adds {validate_s:.1f} s to a {args.rows:,}-row partition (target: <= 10 s)"
        )


if __name__ == "__main__":
    main()
