"""The `expectations_met` check on each model's `inference_logs` partition."""

import datetime as dt
import json
import warnings
from pathlib import Path

from dagster import (
    AssetCheckExecutionContext,
    AssetCheckResult,
    AssetChecksDefinition,
    AssetCheckSeverity,
    PartitionsDefinition,
    asset_check,
)

from monitoring_platform.config import ModelConfig, MonitoringConfig
from monitoring_platform.defs.ingestion.assets import inference_logs_key
from monitoring_platform.defs.recording import check_result
from monitoring_platform.defs.resources import MetricStoreResource, StorageResource
from monitoring_platform.lib import lake
from monitoring_platform.lib.reference import reference_dates
from monitoring_platform.lib.memory import release_unused_memory
from monitoring_platform.lib.metric_store import Metric
from monitoring_platform.lib.reports import VALIDATION, publish_page
from monitoring_platform.lib.validation import (
    ERROR,
    contract_expectations,
    load_expectations_file,
    record_contract_expectations,
    record_frame,
    summarize,
    validate,
    validate_parquet,
)
from monitoring_platform.lib.validation_page import render_validation_page

EXPECTATIONS_MET = "expectations_met"
INGESTION_FACTS = ("objects", "rows_in", "rows_accepted", "rows_quarantined", "quarantine_share")


def build_validation_checks(
    config: MonitoringConfig, model: ModelConfig, partitions: PartitionsDefinition
) -> list[AssetChecksDefinition]:
    logs_key = inference_logs_key(model)
    extra = []
    if model.validation.expectations_file:
        path = Path(model.validation.expectations_file)
        extra = load_expectations_file(path if path.is_absolute() else config.base_dir / path)

    @_partitioned_check(
        asset=logs_key,
        name=EXPECTATIONS_MET,
        description="Great Expectations suite of the day's accepted rows; contract failures block.",
        blocking=True,
        partitions_def=partitions,
    )
    def expectations_met(
        context: AssetCheckExecutionContext,
        storage: StorageResource,
        metric_store: MetricStoreResource,
    ) -> AssetCheckResult:
        date = dt.date.fromisoformat(context.partition_key)
        release_unused_memory()  # start from what ingestion freed, not its peak
        lake_store = storage.lake_store()
        store = metric_store.get()
        accepted = lake.open_partition(lake_store, lake.ACCEPTED, model.name, date)
        if accepted is None:
            return check_result(
                context,
                store,
                logs_key,
                EXPECTATIONS_MET,
                passed=False,
                description=f"No accepted rows were written for {date}: run inference_logs first.",
                observed={},
            )
        known = lake.distinct_values(
            lake_store,
            lake.ACCEPTED,
            model.name,
            reference_dates(model, date),
            model.categorical_features,
        )
        specs = contract_expectations(model, known) + extra
        outcome = validate_parquet(accepted, specs, suite_name=f"{model.name}_logs")
        quarantine = lake.read_partition(
            lake_store, lake.QUARANTINE, model.name, date, columns=["reason"]
        )
        reasons_frame = record_frame(
            accepted.metadata.num_rows,
            quarantine.column("reason") if quarantine is not None else None,
        )
        del accepted, quarantine
        record_specs = record_contract_expectations(model)
        outcome = validate(reasons_frame, record_specs, f"{model.name}_records") + outcome
        specs = record_specs + specs

        ingestion = store.metrics(model=model.name, partition_date=date, asset=logs_key.path[-1])
        facts = {m["metric"]: m["value"] for m in ingestion if m["metric"] in INGESTION_FACTS}
        reasons = {
            _reason(m["dims"]): int(m["value"] or 0)
            for m in ingestion
            if m["metric"] == "rows_quarantined_by_reason"
        }
        reports = storage.reports_store()
        page = render_validation_page(model.name, str(date), outcome, facts, reasons)
        key = publish_page(reports, model.name, date, VALIDATION, page)
        link = storage.report_link(reports, key)

        store.replace_metrics(
            model.name,
            date,
            "validation",
            [
                Metric(
                    "expectation_unexpected_share",
                    r.unexpected_share if r.unexpected_share is not None else float(not r.success),
                    dims=dims,
                    text="passed" if r.success else f"failed ({r.spec.severity})",
                )
                for r, dims in zip(outcome.results, _expectation_dims(outcome), strict=True)
            ]
            + [Metric("expectations_failed", len(outcome.failed()))],
            run_id=context.run.run_id,
        )
        errors, warnings = outcome.failed(ERROR), outcome.failed("warn")
        failed = errors + warnings
        severity = AssetCheckSeverity.ERROR if errors else AssetCheckSeverity.WARN
        described = "; ".join(
            f"{r.spec.label}: {r.unexpected_count or 0:,} unexpected"
            + (f" ({r.unexpected_share:.2%})" if r.unexpected_share is not None else "")
            for r in failed[:5]
        )
        description = (
            f"All {len(specs)} expectations met."
            if not failed
            else f"{len(errors)} contract and {len(warnings)} soft expectations failed of "
            f"{len(specs)}: {described}"
        )
        return check_result(
            context,
            store,
            logs_key,
            EXPECTATIONS_MET,
            passed=not failed,
            severity=severity,
            description=description,
            observed={
                "expectations": len(specs),
                "failed_contract": len(errors),
                "failed_soft": len(warnings),
                "failed_expectations": [summarize(r) for r in failed],
                "rows": outcome.rows,
            },
            report=link,
        )

    return [expectations_met]


def _partitioned_check(**kwargs):
    """``@asset_check`` on a partitioned asset; the option is marked preview, its use is deliberate."""

    def decorate(fn):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return asset_check(**kwargs)(fn)

    return decorate


def _reason(dims: str) -> str:
    return json.loads(dims).get("reason", "") if dims else ""


def _expectation_dims(outcome) -> list[dict[str, str]]:
    """Distinct dimensions per expectation: type, column and severity, numbered on repeats."""
    seen: dict[tuple[str, ...], int] = {}
    out = []
    for r in outcome.results:
        base = (r.spec.type, r.spec.column or "", r.spec.severity)
        seen[base] = seen.get(base, 0) + 1
        dims = {"expectation": base[0], "column": base[1], "severity": base[2]}
        if seen[base] > 1:
            dims["repeat"] = str(seen[base])
        out.append(dims)
    return out
