"""The embedded Dagster instance: the production settings of ``infra/dagster.yaml`` on SQLite.

The demo writes it into ``$DAGSTER_HOME`` (``var/dagster_home`` by default), so ``make ui``
queues UI backfills, scheduled runs and sensor runs exactly as a deployment does: the run
queue, one run per model at a time, and the ``warehouse`` pool of one slot. Only the storage
(PostgreSQL there, SQLite files here) differs.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

INFRA_INSTANCE = Path(__file__).resolve().parents[3] / "infra" / "dagster.yaml"
HEADER = (
    "# The embedded instance: infra/dagster.yaml with SQLite storage in this folder.\n"
    "# Written by `monitoring-platform demo` and `make ui`; rewritten while this line is here.\n"
)
# What earlier demos wrote; replaced by the full settings.
_LEGACY = "telemetry:\n  enabled: false\n"


# Dagster's SQLite event log with its connections kept open (``event_storage.py``).
EVENT_LOG_STORAGE = {
    "module": "monitoring_platform.defs.orchestration.event_storage",
    "class": "PooledSqliteEventLogStorage",
}


def embedded_instance_settings(home: Path, source: Path = INFRA_INSTANCE) -> dict[str, Any]:
    """``infra/dagster.yaml`` with SQLite files under ``home`` instead of its PostgreSQL storage.

    Runs and schedules in Dagster's SQLite storage; events in the same files through
    :class:`PooledSqliteEventLogStorage`, which keeps their connections open.
    """
    settings = yaml.safe_load(source.read_text())
    settings.pop("storage", None)
    base_dir = str(home.resolve() / "history" / "runs")
    settings["event_log_storage"] = {**EVENT_LOG_STORAGE, "config": {"base_dir": base_dir}}
    return settings


def write_embedded_instance(home: Path, source: Path = INFRA_INSTANCE) -> Path:
    """Write ``home/dagster.yaml`` unless the user has written their own there."""
    home.mkdir(parents=True, exist_ok=True)
    path = home / "dagster.yaml"
    if path.exists():
        current = path.read_text()
        if not current.startswith(HEADER) and current != _LEGACY:
            return path
    body = yaml.safe_dump(embedded_instance_settings(home, source), sort_keys=False)
    path.write_text(HEADER + body)
    return path
