"""Deterministic synthetic traffic for the demo and the benchmarks: logs, labels and events.

:func:`generate_traffic` writes, for every configured model and day, what a real service and its
data pipelines would leave in object storage; a :class:`Scenario` places the incidents.
"""

from monitoring_platform.simulation.generator import generate_traffic
from monitoring_platform.simulation.scenario import Scenario, default_scenario, rollout_shares
from monitoring_platform.simulation.simulator import Simulator
from monitoring_platform.simulation.summary import DaySummary, GenerationSummary

__all__ = [
    "DaySummary",
    "GenerationSummary",
    "Scenario",
    "Simulator",
    "default_scenario",
    "generate_traffic",
    "rollout_shares",
]
