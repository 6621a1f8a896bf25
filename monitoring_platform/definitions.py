"""The Dagster code location: assembles each monitored model's assets from the configuration."""

from __future__ import annotations

from dagster import Definitions

from monitoring_platform.config import MonitoringConfig, load_config
from monitoring_platform.defs.drift.assets import build_drift_assets
from monitoring_platform.defs.ingestion.assets import build_ingestion_assets
from monitoring_platform.defs.partitions import daily_partitions
from monitoring_platform.defs.resources import build_resources


def build_definitions(config: MonitoringConfig) -> Definitions:
    partitions = daily_partitions(config)
    assets = []
    for model in config.models:
        assets += build_ingestion_assets(config, model, partitions)
        assets += build_drift_assets(config, model, partitions)
    return Definitions(assets=assets, resources=build_resources(config))


defs = build_definitions(load_config())
