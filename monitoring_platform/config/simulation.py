"""The ``simulation:`` section of a model: the demo traffic generator's settings.

Only the traffic simulation (``monitoring_platform.simulation``) reads these; the monitoring itself
ignores them.
"""

from __future__ import annotations

from pydantic import Field

from monitoring_platform.config.common import Strict


class Simulation(Strict):
    """Traffic the generator writes for this model (demo and benchmarks)."""

    requests_per_day: int = Field(default=20_000, ge=1)
    versions: list[str] = Field(default_factory=lambda: ["v1", "v2"], min_length=1)
    base_latency_ms: float = Field(default=40.0, gt=0)
    label_delay_days: float = Field(default=1.0, ge=0, description="Mean label delay.")
