"""Measure the traffic generator: write about a million log records for one model, print the rate.

Usage: ``python benchmarks/bench_generator.py [--model ctr_ranker] [--records 1000000]``
"""

from __future__ import annotations

import argparse
import datetime as dt
import tempfile
from pathlib import Path

from monitoring_platform.config import load_config
from monitoring_platform.simulation import generate_traffic

CONFIG = Path(__file__).resolve().parents[1] / "monitoring.yaml"
DAYS = 7


def main() -> None:
    """Generate one week of traffic sized to the requested record count and report its speed."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="ctr_ranker")
    parser.add_argument("--records", type=int, default=1_000_000)
    args = parser.parse_args()

    config = load_config(CONFIG)
    model = config.model(args.model)
    simulation = model.simulation.model_copy(update={"requests_per_day": args.records // DAYS})
    model = model.model_copy(update={"simulation": simulation})
    config = config.model_copy(update={"models": [model]})
    start = dt.date(2026, 1, 5)
    with tempfile.TemporaryDirectory(prefix="bench-traffic-") as root:
        summary = generate_traffic(
            config, start, start + dt.timedelta(days=DAYS - 1), raw_root=root
        )
        written = sum(p.stat().st_size for p in Path(root).rglob("*.gz"))
    labels = sum(d.labels for d in summary.days)
    events = sum(d.events for d in summary.days)
    print(
        f"{args.model}: {summary.log_records:,} log records, {labels:,} labels, {events:,} events "
        f"in {summary.seconds:.2f} s ({written / 1e6:.0f} MB gzipped)"
    )
    print(f"{summary.records_per_second:,.0f} log records/second")


if __name__ == "__main__":
    main()
