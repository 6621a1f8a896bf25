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


def embedded_instance_settings(source: Path = INFRA_INSTANCE) -> dict[str, Any]:
    """``infra/dagster.yaml`` without its PostgreSQL storage.

    Dagster then keeps SQLite files under ``$DAGSTER_HOME``.
    """
    settings = yaml.safe_load(source.read_text())
    settings.pop("storage", None)
    return settings


def write_embedded_instance(home: Path, source: Path = INFRA_INSTANCE) -> Path:
    """Write ``home/dagster.yaml`` unless the user has written their own there."""
    home.mkdir(parents=True, exist_ok=True)
    path = home / "dagster.yaml"
    if path.exists():
        current = path.read_text()
        if not current.startswith(HEADER) and current != _LEGACY:
            return path
    body = yaml.safe_dump(embedded_instance_settings(source), sort_keys=False)
    path.write_text(HEADER + body)
    return path
