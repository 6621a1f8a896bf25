"""The reports site's index and the weekly stakeholder digest, as assets.

``index.html`` at the root of the reports storage is regenerated as an asset; the weekly digest
(a page under ``digest/`` and an e-mail) is one partition per ISO week.
"""

import datetime as dt
from typing import Any

from dagster import (
    AssetExecutionContext,
    AssetKey,
    AssetsDefinition,
    DagsterInstance,
    DagsterRunStatus,
    MaterializeResult,
    MetadataValue,
    RunsFilter,
    WeeklyPartitionsDefinition,
    asset,
)

from monitoring_platform.config import MonitoringConfig
from monitoring_platform.defs.keys import (
    INFERENCE_LOGS,
    REPORTS_INDEX_KEY,
    WEEKLY_DIGEST_KEY,
    model_asset_key,
)
from monitoring_platform.defs.orchestration.jobs import MONITORING_JOB, model_job_name
from monitoring_platform.defs.publish import partition_day
from monitoring_platform.defs.resources import MetricStoreResource, StorageResource
from monitoring_platform.lib.alerting.service import Alerting
from monitoring_platform.lib.digest import (
    digest_key,
    digest_weeks,
    gather_digest,
    publish_digest,
    send_digest,
    week_of,
)
from monitoring_platform.lib.reports import publish_site_page, refresh_navigation
from monitoring_platform.lib.reports_site import INDEX_KEY, ModelInfo, model_limits, render_index

GROUP = "reports"
FAILED_RUNS_READ = 1000


def index_deps(keys_by_model: dict[str, list[AssetKey]]) -> list[AssetKey]:
    """The report assets the index links to (a model's daily assets when it has no report yet)."""
    deps = []
    for keys in keys_by_model.values():
        reports = [k for k in keys if k.path[-1].endswith("_report")]
        deps += reports or keys
    return deps


def failed_evaluations(
    instance: DagsterInstance, models: list[str]
) -> list[tuple[str, dt.date, dt.datetime]]:
    """(model, day, start) of the latest failed runs that evaluated a model-day from its logs."""
    found = []
    records = instance.get_run_records(
        RunsFilter(statuses=[DagsterRunStatus.FAILURE]), limit=FAILED_RUNS_READ
    )
    for record in records:
        run = record.dagster_run
        try:
            day = dt.date.fromisoformat(run.tags.get("dagster/partition", ""))
        except ValueError:
            continue
        started = record.start_time or record.create_timestamp.timestamp()
        for model in models:
            covered = (
                model_asset_key(model, INFERENCE_LOGS) in run.asset_selection
                if run.asset_selection is not None
                else run.job_name in (model_job_name(model), MONITORING_JOB)
            )
            if covered:
                found.append((model, day, dt.datetime.fromtimestamp(started, dt.UTC)))
    return found


def write_reports_index(
    instance: DagsterInstance,
    storage: StorageResource,
    metric_store: MetricStoreResource,
    models: list[ModelInfo],
) -> dict[str, Any]:
    """Render and publish ``index.html``, refresh every page's navigation; return metadata."""
    store = metric_store.get()
    reports = storage.reports_store()
    keys = [o.key for m in models for o in reports.list(m.name)]
    checks, metrics = [], []
    for m in models:
        checks += store.checks(model=m.name)
        metrics += store.metrics(model=m.name)
    digests = [(f"week {w}", digest_key(w)) for w in reversed(digest_weeks(reports))]
    failed = failed_evaluations(instance, [m.name for m in models])
    html = render_index(models, checks, metrics, keys, dt.datetime.now(dt.UTC), digests, failed)
    publish_site_page(reports, INDEX_KEY, html)
    refreshed = refresh_navigation(reports, [m.name for m in models])
    return {
        "report": MetadataValue.url(storage.report_link(reports, INDEX_KEY)),
        "reports_linked": len(keys),
        "check_results": len(checks),
        "metric_values": len(metrics),
        "navigation_refreshed": refreshed,
    }


def build_reports_index(
    config: MonitoringConfig, keys_by_model: dict[str, list[AssetKey]]
) -> AssetsDefinition:
    """The ``reports_index`` asset, depending on every model's reports."""
    models = [
        ModelInfo(name=m.name, description=m.description, task=m.task.value, limits=model_limits(m))
        for m in config.models
    ]

    @asset(
        key=REPORTS_INDEX_KEY,
        description="The reports site's index.html: per model the latest verdict, key figures, trends with their limits and every report.",
        group_name=GROUP,
        deps=index_deps(keys_by_model),
        kinds={"html"},
    )
    def reports_index(
        context: AssetExecutionContext, storage: StorageResource, metric_store: MetricStoreResource
    ) -> MaterializeResult:
        metadata = write_reports_index(context.instance, storage, metric_store, models)
        context.log.info(f"Reports index written to {metadata['report'].value}")
        return MaterializeResult(metadata=metadata)

    return reports_index


def weekly_partitions(config: MonitoringConfig) -> WeeklyPartitionsDefinition:
    """ISO weeks (Monday to Sunday), from the daily partitions' first week."""
    return WeeklyPartitionsDefinition(
        start_date=config.partitions.start_date.isoformat(),
        day_offset=1,
        timezone=config.partitions.timezone,
    )


def write_weekly_digest(
    config: MonitoringConfig,
    first_day: dt.date,
    storage: StorageResource,
    metric_store: MetricStoreResource,
) -> dict[str, Any]:
    """Gather and publish the digest of the week starting ``first_day``, e-mail it when configured.

    Returns the asset's metadata.
    """
    store = metric_store.get()
    reports = storage.reports_store()
    week = week_of(first_day)
    alerts = Alerting.for_url(store.url, config.alerts).store
    digest = gather_digest(config, week, store, alerts, reports)
    key = publish_digest(reports, digest)
    sent = "not sent (digest.send is off)"
    if config.digest.send:
        sent = send_digest(config, digest, storage.report_link(reports, ""))
    attention = [m.name for m in digest.models if m.kind in ("warn", "error")]
    return {
        "report": MetadataValue.url(storage.report_link(reports, key)),
        "week": week,
        "models_needing_attention": ", ".join(attention),
        "checks_failed": sum(m.checks_failed for m in digest.models),
        "alerts_raised": sum(m.alerts_raised for m in digest.models),
        "email": sent,
    }


def build_weekly_digest(config: MonitoringConfig) -> AssetsDefinition:
    """The ``digest/weekly_digest`` asset, one partition per ISO week."""

    @asset(
        key=WEEKLY_DIGEST_KEY,
        description="The week's health of every model in plain words: a page on the reports site and an e-mail to stakeholders.",
        group_name=GROUP,
        partitions_def=weekly_partitions(config),
        deps=[REPORTS_INDEX_KEY],
        kinds={"html", "email"},
    )
    def weekly_digest(
        context: AssetExecutionContext, storage: StorageResource, metric_store: MetricStoreResource
    ) -> MaterializeResult:
        metadata = write_weekly_digest(config, partition_day(context), storage, metric_store)
        context.log.info(
            f"Weekly digest {metadata['week']} written to {metadata['report'].value}; "
            f"{metadata['email']}"
        )
        return MaterializeResult(metadata=metadata)

    return weekly_digest
