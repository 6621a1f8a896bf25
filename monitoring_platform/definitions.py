"""The Dagster code location: assembles each monitored model's assets from the configuration."""

from __future__ import annotations

from dagster import DagsterInstance, Definitions, UrlMetadataValue

from monitoring_platform.config import MonitoringConfig, load_config
from monitoring_platform.defs.alerting.sensors import build_alerting_sensors
from monitoring_platform.defs.drift.assets import build_drift_assets
from monitoring_platform.defs.estimation.assets import build_estimation_assets
from monitoring_platform.defs.ingestion.assets import build_ingestion_assets
from monitoring_platform.defs.metrics.assets import build_dbt_assets, build_metrics_assets
from monitoring_platform.defs.metrics.resources import build_metrics_resources
from monitoring_platform.defs.orchestration import pool_wait
from monitoring_platform.defs.orchestration.assemble import REPORTS_INDEX_JOB, build_operations
from monitoring_platform.defs.partitions import daily_partitions
from monitoring_platform.defs.performance.assets import build_performance_assets
from monitoring_platform.defs.performance.sensors import build_late_labels_sensor
from monitoring_platform.defs.resources import build_resources
from monitoring_platform.defs.validation.checks import build_validation_checks
from monitoring_platform.lib.process_exit import skip_final_collection


def build_definitions(config: MonitoringConfig) -> Definitions:
    """Every model's assets, checks, jobs, schedules and sensors, and the shared resources."""
    pool_wait.install()  # a step waiting for the warehouse pool sleeps (pool_wait.py)
    skip_final_collection()  # the process exits without traversing its objects once more
    partitions = daily_partitions(config)
    assets = []
    asset_checks = []
    for model in config.models:
        assets += build_ingestion_assets(config, model, partitions)
        asset_checks += build_validation_checks(config, model, partitions)
        assets += build_drift_assets(config, model, partitions)
        assets += build_performance_assets(config, model, partitions)
        assets += build_estimation_assets(config, model, partitions)
        assets += build_metrics_assets(config, model, partitions)
    assets += build_dbt_assets(config, partitions)
    operations = build_operations(config, assets, partitions)
    return Definitions(
        assets=operations.assets,
        asset_checks=asset_checks,
        jobs=operations.jobs,
        schedules=operations.schedules,
        sensors=[
            *operations.sensors,
            *build_alerting_sensors(config),
            build_late_labels_sensor(config),
        ],
        resources={**build_resources(config), **build_metrics_resources(config)},
    )


def materialize_reports_index(
    config: MonitoringConfig,
    instance: DagsterInstance | None = None,
    defs: Definitions | None = None,
) -> str | None:
    """Regenerate the reports index in one run (the demo's last step); return where it went.

    ``defs``: the definitions of ``config`` when the caller has them already.
    """
    defs = defs or build_definitions(config)
    result = defs.resolve_job_def(REPORTS_INDEX_JOB).execute_in_process(
        instance=instance or DagsterInstance.get(),
        tags={"monitoring_platform/source": "demo"},
        run_config={"loggers": {"console": {"config": {"log_level": "CRITICAL"}}}},
    )
    for materialization in result.asset_materializations_for_node("reports_index"):
        report = materialization.metadata.get("report")
        if isinstance(report, UrlMetadataValue) and report.url is not None:
            return report.url.removeprefix("file://")
    return None


def prepare_process(defs: Definitions) -> None:
    """Load what a process's first run would (the steps' libraries, dbt's parse), before it."""
    import importlib

    from monitoring_platform.defs.metrics.warehouse import parse_dbt_project
    from monitoring_platform.lib.warm import LATER_STEPS

    for module in (*LATER_STEPS, "sklearn.ensemble"):
        importlib.import_module(module)
    resources = dict(defs.resources or {})
    parse_dbt_project(resources["dbt"], resources["warehouse"])


defs = build_definitions(load_config())
