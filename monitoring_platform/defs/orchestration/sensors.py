"""Sensors: new log objects start their model-day's evaluation; new results refresh the index."""

import datetime as dt
from typing import TYPE_CHECKING

from dagster import (
    AssetKey,
    AssetRecordsFilter,
    DefaultSensorStatus,
    RunRequest,
    SensorDefinition,
    SensorEvaluationContext,
    SensorResult,
    SkipReason,
    sensor,
)

from monitoring_platform.config import MonitoringConfig
from monitoring_platform.defs.orchestration.jobs import (
    TRIGGER_TAG,
    model_job_name,
    model_run_tags,
)
from monitoring_platform.defs.resources import StorageResource
from monitoring_platform.lib.arrivals import (
    Arrival,
    detect_arrivals,
    dump_cursor,
    parse_cursor,
    watched_days,
)
from monitoring_platform.lib.storage import partition_prefix

if TYPE_CHECKING:
    from dagster._core.definitions.unresolved_asset_job_definition import (
        UnresolvedAssetJobDefinition,
    )


def _status(config: MonitoringConfig) -> DefaultSensorStatus:
    if config.schedule.autostart:
        return DefaultSensorStatus.RUNNING
    return DefaultSensorStatus.STOPPED


def last_complete_day() -> dt.date:
    """The newest daily partition that exists: yesterday, UTC."""
    return dt.datetime.now(dt.UTC).date() - dt.timedelta(days=1)


def build_logs_arrival_sensor(
    config: MonitoringConfig,
    jobs_by_model: dict[str, "UnresolvedAssetJobDefinition"],
    today=last_complete_day,
) -> SensorDefinition:
    """``logs_arrival_sensor``: a run of a model-day's job when its log objects are new or changed."""
    settings = config.schedule
    locations = {m.name: config.logs_root(m) for m in config.models if m.name in jobs_by_model}

    @sensor(
        name="logs_arrival_sensor",
        jobs=list(jobs_by_model.values()),
        minimum_interval_seconds=settings.sensor_interval_seconds,
        default_status=_status(config),
        description="Re-evaluates a model-day when new or changed log objects land for it.",
    )
    def logs_arrival_sensor(context: SensorEvaluationContext, storage: StorageResource):
        days = watched_days(today(), settings.logs_lookback_days, config.partitions.start_date)
        listings = {}
        for model, location in locations.items():
            store = storage.store(location)
            listings[model] = {d: store.list(partition_prefix(model, d.isoformat())) for d in days}
        arrivals, state = detect_arrivals(parse_cursor(context.cursor), listings)
        return arrival_requests(arrivals, days, dump_cursor(state))

    return logs_arrival_sensor


def arrival_requests(arrivals: list[Arrival], days: list[dt.date], cursor: str) -> SensorResult:
    """One run of the model-day's job per arrival, tagged with what arrived; else why not."""
    if not arrivals:
        return SensorResult(
            skip_reason=SkipReason(f"no new log objects for {days[0]}..{days[-1]}")
            if days
            else SkipReason("no partition to watch yet"),
            cursor=cursor,
        )
    return SensorResult(
        run_requests=[
            RunRequest(
                run_key=a.run_key,
                job_name=model_job_name(a.model),
                partition_key=a.day.isoformat(),
                tags={
                    **model_run_tags(a.model, "logs_arrival"),
                    "monitoring_platform/objects": str(a.objects),
                    "monitoring_platform/bytes": str(a.bytes),
                },
            )
            for a in arrivals
        ],
        cursor=cursor,
    )


def build_reports_index_sensor(
    config: MonitoringConfig,
    job: "UnresolvedAssetJobDefinition",
    keys_by_model: dict[str, list[AssetKey]],
) -> SensorDefinition:
    """``reports_index_sensor``: the index rebuilt after new materializations of daily assets."""
    watched = [k for keys in keys_by_model.values() for k in keys]

    @sensor(
        name="reports_index_sensor",
        job=job,
        minimum_interval_seconds=60,
        default_status=_status(config),
        description="Regenerates the reports index after new evaluations were recorded.",
    )
    def reports_index_sensor(context: SensorEvaluationContext):
        after = int(context.cursor) if context.cursor and context.cursor.isdigit() else None
        newest = after or 0
        for key in watched:
            records = context.instance.fetch_materializations(
                AssetRecordsFilter(asset_key=key, after_storage_id=after), limit=1
            ).records
            if records:
                newest = max(newest, records[0].storage_id)
        if newest == (after or 0):
            return SkipReason("no new evaluations since the index was last requested")
        return SensorResult(
            run_requests=[
                RunRequest(run_key=f"reports_index:{newest}", tags={TRIGGER_TAG: "evaluations"})
            ],
            cursor=str(newest),
        )

    return reports_index_sensor
