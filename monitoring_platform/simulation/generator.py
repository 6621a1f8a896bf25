"""Deterministic synthetic traffic for the monitored models: inference logs, labels and events.

The generator stands in for the web services of the demo and the benchmarks. For every model and
day it writes what a real service and its data pipelines would leave in object storage:

- inference logs ``<model>/dt=YYYY-MM-DD/part-NNNN.jsonl.gz``, one part per six hours of traffic;
- labels ``<model>/dt=<arrival day>/labels-0000.jsonl.gz``, partitioned by the day they arrived;
- business events ``<model>/dt=<event day>/events-0000.jsonl.gz`` (clicks, conversions, revenue).

Traffic follows an intraday curve and a weekly rhythm; latency is lognormal with a heavy tail;
a few per cent of calls fail (5xx) or are throttled (429); a new model version rolls out in
steps. Features are drawn per configured type, and outcomes come from a hidden relationship with
the features, so labels are informative and a newer version predicts slightly better. A
:class:`Scenario` places the incidents the platform must catch: drift (covariate shift, a changed
category mix, an unseen category and a changed relationship), a schema bug, malformed lines and
re-sent duplicates.

Binary and ranking models are click models: the label is the click and each click is a click
event, some followed by a conversion with revenue. Regression models estimate a delivery time in
minutes: a call may become an order (a conversion with revenue, less likely when the estimate is
long) and only an order gets a label, the actual time, once delivered. Multiclass models get the
true class as label and occasional conversions.

Every random draw comes from a generator seeded by (seed, model, day): the same configuration,
range and seed give byte-identical objects, and days can be generated in any order.
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Callable

import duckdb

from monitoring_platform.config import MonitoringConfig
from monitoring_platform.lib.storage import ObjectStore, join_key, open_store, partition_prefix
from monitoring_platform.simulation.scenario import Scenario, default_scenario
from monitoring_platform.simulation.simulator import Simulator
from monitoring_platform.simulation.summary import DaySummary, GenerationSummary
from monitoring_platform.simulation.writer import (
    Backlog,
    Writer,
    json_lines,
    lines_bytes,
    write_logs,
)


def generate_traffic(
    config: MonitoringConfig,
    start: dt.date,
    end: dt.date,
    *,
    seed: int = 7,
    models: list[str] | None = None,
    raw_root: str | None = None,
    client_factory=None,
    scenario: Scenario | None = None,
    progress: Callable[[str], None] | None = None,
) -> GenerationSummary:
    """Write logs, labels and events for ``start``..``end`` (inclusive) and summarise them."""
    if end < start:
        raise ValueError(f"end ({end}) is before start ({start})")
    scenario = scenario or default_scenario(start, end)
    chosen = list(config.models) if models is None else [config.model(name) for name in models]
    stores: dict[str, ObjectStore] = {}

    def store(location: str) -> ObjectStore:
        if location not in stores:
            stores[location] = open_store(location, client_factory)
        return stores[location]

    def root(kind: str, configured: str) -> str:
        return f"{raw_root.rstrip('/')}/{kind}" if raw_root else configured

    began = time.perf_counter()
    days: list[DaySummary] = []
    with duckdb.connect() as con, Writer() as writer:
        for model in chosen:
            logs = store(root("logs", config.logs_root(model)))
            labels = store(root("labels", config.labels_root(model)))
            events = store(root("events", config.events_root(model)))
            simulator = Simulator(model, seed)
            label_backlog, event_backlog = Backlog(end), Backlog(end)
            day = start
            while day <= end:
                summary = DaySummary(model.name, day)
                traffic = simulator.day(day, scenario)
                write_logs(con, writer, logs, traffic, summary)
                label_backlog.add(traffic.labels)
                event_backlog.add(traffic.events)
                prefix = partition_prefix(model.name, day.isoformat())
                landed = label_backlog.pop(day, "labeled_at")
                if landed is not None:
                    key = join_key(prefix, "labels-0000.jsonl.gz")
                    writer.put(labels, key, lines_bytes(json_lines(con, landed)))
                    summary.labels, summary.label_keys = landed.num_rows, [key]
                happened = event_backlog.pop(day, "timestamp")
                if happened is not None:
                    key = join_key(prefix, "events-0000.jsonl.gz")
                    writer.put(events, key, lines_bytes(json_lines(con, happened)))
                    summary.events, summary.event_keys = happened.num_rows, [key]
                days.append(summary)
                if progress:
                    progress(
                        f"{model.name} {day}: {summary.log_records:,} log records, "
                        f"{summary.labels:,} labels, {summary.events:,} events"
                    )
                day += dt.timedelta(days=1)
    return GenerationSummary(days, time.perf_counter() - began)


# ---------------------------------------------------------------------------------------------
# Simulation
