"""Alerting sensors: failed checks, failed runs, late logs, and a watchdog over the alerting itself.

Each sensor turns what it sees into findings (``lib/alerting/findings.py``), applies them to the
alert state and queues messages in the outbox in one transaction, and only then returns its new
cursor. Then it delivers what is due. The logic lives in ``lib/alerting``; these are thin wrappers.
"""

import datetime as dt
import json
from collections.abc import Callable
from typing import Any

from dagster import (
    AssetKey,
    AssetRecordsFilter,
    DagsterEventType,
    DagsterRunStatus,
    DefaultSensorStatus,
    RunFailureSensorContext,
    RunStatusSensorContext,
    SensorDefinition,
    SensorEvaluationContext,
    SensorResult,
    SkipReason,
    run_failure_sensor,
    run_status_sensor,
    sensor,
)

from monitoring_platform.config import ConfigError, MonitoringConfig
from monitoring_platform.defs.orchestration.jobs import MODEL_TAG
from monitoring_platform.defs.resources import StorageResource
from monitoring_platform.lib.alerting import findings as alert_findings
from monitoring_platform.lib.alerting.commands import CHECK_SENSOR_NAME
from monitoring_platform.lib.alerting.outbox import DeliveryReport
from monitoring_platform.lib.alerting.service import Alerting, utc_now
from monitoring_platform.lib.storage import partition_prefix

CHECK_SENSOR = CHECK_SENSOR_NAME
RUN_FAILURE_SENSOR = "run_failure_alert_sensor"
RUN_SUCCESS_SENSOR = "run_recovery_alert_sensor"
FRESHNESS_SENSOR = "logs_freshness_alert_sensor"
WATCHDOG_SENSOR = "alerting_watchdog_sensor"
PARTITION_TAG = "dagster/partition"
BATCH = 500
FIRST_TICK_LOOKBACK = dt.timedelta(hours=24)


def _metadata_values(metadata) -> dict:
    out = {}
    for key, value in (metadata or {}).items():
        raw = getattr(value, "value", value)
        out[key] = raw if isinstance(raw, str | int | float | bool | type(None)) else str(raw)
    return out


def _report_link(instance, asset_key: AssetKey, partition: str, cache: dict) -> str | None:
    """The ``report`` link of the checked asset's latest materialization of that partition."""
    if (asset_key, partition) not in cache:
        link = None
        result = instance.fetch_materializations(
            AssetRecordsFilter(asset_key=asset_key, asset_partitions=[partition]), limit=1
        )
        for record in result.records:
            materialization = record.asset_materialization
            value = (materialization.metadata or {}).get("report") if materialization else None
            link = getattr(value, "value", value) if value is not None else None
        cache[(asset_key, partition)] = link
    return cache[(asset_key, partition)]


def check_findings(
    instance,
    after: int,
    models: set[str],
    base_url: str,
    limit: int = BATCH,
    not_before: dt.datetime | None = None,
):
    """Findings from the asset-check evaluations stored after event-log id ``after``.

    Evaluations older than ``not_before`` are read past without alerting (a first tick does not
    page for the whole history). Returns the findings and the id of the last event read.
    """
    entries = instance.event_log_storage.get_logs_for_all_runs_by_log_id(
        after_cursor=after,
        dagster_event_type=DagsterEventType.ASSET_CHECK_EVALUATION,
        limit=limit,
    )
    rows: list[dict[str, Any]] = []
    cache: dict[tuple[AssetKey, str], str | None] = {}
    partitions: dict[str, str | None] = {}
    last = after
    for storage_id, entry in sorted(entries.items()):
        last = max(last, storage_id)
        if not_before is not None and entry.timestamp < not_before.timestamp():
            continue
        evaluation = entry.dagster_event.event_specific_data
        key = evaluation.asset_key
        partition = evaluation.partition
        if partition is None and entry.run_id:
            if entry.run_id not in partitions:
                run = instance.get_run_by_id(entry.run_id)
                partitions[entry.run_id] = run.tags.get(PARTITION_TAG) if run else None
            partition = partitions[entry.run_id]
        if key.path[0] not in models or partition is None:
            continue
        try:
            day = dt.date.fromisoformat(partition)
        except ValueError:
            continue
        observed = _metadata_values(evaluation.metadata)
        report = observed.pop("report", None) or _report_link(instance, key, partition, cache)
        rows.append(
            {
                "model": key.path[0],
                "check": evaluation.check_name,
                "day": day,
                "passed": evaluation.passed,
                "severity": evaluation.severity.value,
                "description": evaluation.description or "",
                "observed": observed,
                "event_id": storage_id,
                "run_id": entry.run_id,
                "run_url": alert_findings.run_url(base_url, entry.run_id),
                "report_url": report,
            }
        )
    return alert_findings.findings_from_checks(rows), last


def _cursor(text: str | None) -> int:
    if not text:
        return -1
    try:
        return int(json.loads(text)["after"])
    except (ValueError, KeyError, TypeError):
        return -1


def _log_report(context: Any, report: DeliveryReport) -> None:
    for _route, error in report.failed:
        context.log.warning(f"alert delivery failed, will retry: {error}")
    for route, error in report.gave_up:
        context.log.error(f"alert delivery given up for route {route!r}: {error}")


def _deliver(
    context: Any, service: Alerting, queued: list[int]
) -> tuple[list[int], DeliveryReport]:
    """Send what is due, log the failures; return the queued ids and the delivery report."""
    report = service.deliver()
    _log_report(context, report)
    return queued, report


def check_tick(
    context: SensorEvaluationContext,
    service: Alerting,
    clock: Callable[[], dt.datetime],
    models: set[str],
    base_url: str,
) -> SensorResult:
    """One tick of the check sensor: new check evaluations to findings, reminders, delivery."""
    after = _cursor(context.cursor)
    # The very first tick starts a day back rather than at the beginning of history.
    not_before = clock() - FIRST_TICK_LOOKBACK if context.cursor is None else None
    found, last = check_findings(context.instance, after, models, base_url, not_before=not_before)
    queued = service.record(found)  # committed before the cursor moves
    service.beat(CHECK_SENSOR)
    queued, report = _deliver(context, service, queued + service.remind())
    return SensorResult(
        cursor=json.dumps({"after": last}),
        skip_reason=SkipReason(
            f"{len(found)} check evaluations read, {len(queued)} messages queued; "
            f"delivery: {report.summary()}"
        ),
    )


def freshness_tick(
    context: SensorEvaluationContext,
    service: Alerting,
    config: MonitoringConfig,
    storage: StorageResource,
    now: dt.datetime,
) -> SkipReason:
    """One tick of the logs-freshness sensor: yesterday's and still-open model-days checked."""
    due_hour = config.alerts.logs_due_hour
    assert due_hour is not None
    names = {m.name for m in config.models}
    yesterday = now.date() - dt.timedelta(days=1)
    watch: set[tuple[str | None, dt.date | None]] = {(m.name, yesterday) for m in config.models}
    watch |= {(f.model, f.day) for f in service.store.open_alerts(alert_findings.FRESHNESS)}
    found = []
    for model_name, day in sorted(watch):
        if model_name not in names or day is None or alert_findings.logs_due(day, due_hour) > now:
            continue
        store = storage.store(config.logs_root(config.model(model_name)))
        objects = len(store.list(partition_prefix(model_name, day.isoformat())))
        finding = alert_findings.freshness_finding(model_name, day, objects, now, due_hour)
        if finding is not None:
            found.append(finding)
    queued, report = _deliver(context, service, service.record(found))
    return SkipReason(
        f"{len(found)} model-days checked, {len(queued)} messages queued; "
        f"delivery: {report.summary()}"
    )


def _run_models(instance, run) -> list[str]:
    """The models whose assets a run was to materialize."""
    if run.tags.get(MODEL_TAG):
        return [run.tags[MODEL_TAG]]
    keys = set(run.asset_selection or ())
    if not keys:
        planned = instance.all_logs(
            run.run_id, of_type=DagsterEventType.ASSET_MATERIALIZATION_PLANNED
        )
        keys = {e.dagster_event.asset_key for e in planned if e.dagster_event.asset_key}
    return sorted({key.path[0] for key in keys})


def _run_ended(instance, run_id: str) -> int:
    """Order run findings by when the run ended, not by when a sensor saw it."""
    record = instance.get_run_record_by_id(run_id)
    ended = record.end_time if record is not None else None
    if ended is None:
        return alert_findings.event_id_at(utc_now())
    return alert_findings.event_id_at(dt.datetime.fromtimestamp(ended, dt.UTC))


def _step_failures(instance, run_id: str) -> list:
    return [
        e.dagster_event
        for e in instance.all_logs(run_id, of_type=DagsterEventType.STEP_FAILURE)
        if e.dagster_event is not None
    ]


def _run_finding(context: RunStatusSensorContext, failing: bool, base_url: str, models: set):
    run = context.dagster_run
    owners = [m for m in _run_models(context.instance, run) if m in models]
    day = None
    if run.tags.get(PARTITION_TAG):
        try:
            day = dt.date.fromisoformat(run.tags[PARTITION_TAG])
        except ValueError:
            day = None
    description = f"run {run.run_id[:8]} of {run.job_name} " + (
        "failed" if failing else "succeeded"
    )
    if failing:
        steps = _step_failures(context.instance, run.run_id)
        if steps:
            error = steps[0].event_specific_data.error
            first = (error.message if error else "").strip().splitlines()[:1]
            description += f" in step {steps[0].step_key}" + (f": {first[0]}" if first else "")
        elif context.dagster_event is not None and context.dagster_event.message:
            description += f": {context.dagster_event.message}"
    return alert_findings.Finding(
        kind=alert_findings.RUN,
        model=owners[0] if len(owners) == 1 else None,
        subject=run.job_name,
        day=day,
        failing=failing,
        severity="ERROR",
        description=description,
        event_id=_run_ended(context.instance, run.run_id),
        run_id=run.run_id,
        run_url=alert_findings.run_url(base_url, run.run_id),
    )


def _blocked_only(context: RunFailureSensorContext) -> bool:
    """The run failed only because blocking checks stopped it: the check alert covers that."""
    failures = _step_failures(context.instance, context.dagster_run.run_id)
    return bool(failures) and all(
        "blocking asset check" in str(e.event_specific_data.error) for e in failures
    )


def build_alerting_sensors(
    config: MonitoringConfig, clock: Callable[[], dt.datetime] = utc_now
) -> list[SensorDefinition]:
    """The alerting sensors, running by default, when the configuration has alert routes."""
    settings = config.alerts
    if not settings.routes:
        return []
    names = {m.name for m in config.models}
    for index, rule in enumerate(settings.rules):
        unknown = sorted(set(rule.models or []) - names)
        if unknown:
            raise ConfigError(
                f"{config.source_file or 'configuration'}: alerts.rules[{index}].models: "
                f"{unknown[0]!r} is not a configured model (models: {sorted(names)})"
            )
    url = config.metric_store_url()
    interval = settings.sensor_interval_seconds
    running: dict[str, Any] = {
        "minimum_interval_seconds": interval,
        "default_status": DefaultSensorStatus.RUNNING,
    }
    base_url = settings.dagster_base_url

    def alerting() -> Alerting:
        return Alerting.for_url(url, settings, clock)

    @sensor(
        name=CHECK_SENSOR,
        **running,
        description="Alerts when an asset check starts failing and resolves when it passes again.",
    )
    def check_alert_sensor(context: SensorEvaluationContext):
        return check_tick(context, alerting(), clock, names, base_url)

    @run_failure_sensor(
        name=RUN_FAILURE_SENSOR,
        **running,
        description="Alerts when a run fails for a reason other than a blocking check.",
    )
    def run_failure_alert_sensor(context: RunFailureSensorContext):
        if _blocked_only(context):
            return SkipReason("stopped by blocking checks; the check alert covers it")
        service = alerting()
        service.record([_run_finding(context, True, base_url, names)])
        _log_report(context, service.deliver())
        return None

    @run_status_sensor(
        name=RUN_SUCCESS_SENSOR,
        run_status=DagsterRunStatus.SUCCESS,
        **running,
        description="Resolves a failed-run alert when the same job and day succeed again.",
    )
    def run_recovery_alert_sensor(context: RunStatusSensorContext):
        service = alerting()
        if service.record([_run_finding(context, False, base_url, names)]):
            _log_report(context, service.deliver())
        return None

    sensors = [check_alert_sensor, run_failure_alert_sensor, run_recovery_alert_sensor]

    if settings.logs_due_hour is not None:

        @sensor(
            name=FRESHNESS_SENSOR,
            minimum_interval_seconds=max(interval, 300),
            default_status=DefaultSensorStatus.RUNNING,
            description="Alerts when yesterday's logs have not arrived by the configured hour.",
        )
        def logs_freshness_alert_sensor(context: SensorEvaluationContext, storage: StorageResource):
            return freshness_tick(context, alerting(), config, storage, clock())

        sensors.append(logs_freshness_alert_sensor)

    @sensor(
        name=WATCHDOG_SENSOR,
        minimum_interval_seconds=max(interval, 60),
        default_status=DefaultSensorStatus.RUNNING,
        description=f"Alerts when {CHECK_SENSOR} has stopped ticking.",
    )
    def alerting_watchdog_sensor(context: SensorEvaluationContext):
        service = alerting()
        finding = service.watchdog(CHECK_SENSOR, WATCHDOG_SENSOR)
        queued, _ = _deliver(context, service, service.record([finding]))
        return SkipReason(f"{finding.description}; {len(queued)} messages queued")

    sensors.append(alerting_watchdog_sensor)
    return sensors
