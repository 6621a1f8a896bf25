"""Per-model drift assets: the daily Evidently data-drift report."""

import datetime as dt
import hashlib
import json
import warnings
from concurrent.futures import ThreadPoolExecutor
from importlib.metadata import version

from dagster import (
    AssetDep,
    AssetExecutionContext,
    AssetKey,
    AssetsDefinition,
    MaterializeResult,
    MetadataValue,
    PartitionsDefinition,
    TimeWindowPartitionMapping,
    asset,
)

from monitoring_platform.config import ModelConfig, MonitoringConfig, TrailingReference
from monitoring_platform.defs.drift.checks import (
    drift_check_results,
    drift_check_specs,
    not_evaluated,
    reference_complete_result,
)
from monitoring_platform.defs.ingestion.assets import inference_logs_key
from monitoring_platform.defs.resources import MetricStoreResource, StorageResource
from monitoring_platform.lib import lake
from monitoring_platform.lib.drift import (
    PREDICTION,
    compute_drift,
    drift_page,
    is_pvalue_test,
    load_evidently,
    missing_shares,
    reference_dates,
    segment_drift,
)
from monitoring_platform.lib.html import escape
from monitoring_platform.lib.memory import release_unused_memory
from monitoring_platform.lib.metric_store import Metric
from monitoring_platform.lib.reports import DATA_DRIFT, publish_page

GROUP = "drift"
# Lake dataset of the reference days' calibration scores, one file per window's last day.
CALIBRATION = "drift_calibration"
# Above this many rows in the day, segments are scored after the report instead of beside it.
SEGMENTS_BESIDE_REPORT_MAX_ROWS = 3_000_000


def data_drift_report_key(model: ModelConfig) -> AssetKey:
    return AssetKey([model.name, "data_drift_report"])


def reference_window_key(model: ModelConfig) -> AssetKey:
    return AssetKey([model.name, "reference_window"])


def reference_code_version(model: ModelConfig) -> str:
    """Changes whenever the reference configuration does, so Dagster marks what used it stale."""
    text = json.dumps(model.reference.model_dump(mode="json"), sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()[:12]


def _calibration_key(model: ModelConfig, days: list[str], rows: list[int | None]) -> str:
    """What the reference days' scores depend on: the days, their rows and the drift settings."""
    settings = {
        "days": days,
        "rows": rows,
        "features": [f.drift.model_dump(mode="json") for f in model.features],
        "drift": model.thresholds.drift.model_dump(mode="json"),
    }
    return hashlib.sha256(json.dumps(settings, sort_keys=True).encode()).hexdigest()


def _reference_deps(model: ModelConfig) -> list[AssetDep]:
    reference = model.reference
    if not isinstance(reference, TrailingReference):
        return []  # pinned days: the window is the same for every partition
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the option is marked beta; its behaviour is relied on
        mapping = TimeWindowPartitionMapping(
            start_offset=-reference.trailing_days,
            end_offset=-1,
            allow_nonexistent_upstream_partitions=True,
        )
    return [AssetDep(inference_logs_key(model), partition_mapping=mapping)]


def build_drift_assets(
    config: MonitoringConfig, model: ModelConfig, partitions: PartitionsDefinition
) -> list[AssetsDefinition]:
    key = data_drift_report_key(model)
    ref_key = reference_window_key(model)

    @asset(
        key=ref_key,
        description="The reference days for evaluating the day, and how many rows each holds.",
        partitions_def=partitions,
        deps=_reference_deps(model),
        group_name=GROUP,
        kinds={"parquet"},
        code_version=reference_code_version(model),
        metadata={"model": model.name, "reference": model.reference.model_dump(mode="json")},
    )
    def reference_window(context: AssetExecutionContext, storage: StorageResource):
        date = dt.date.fromisoformat(context.partition_key)
        lake_store = storage.lake_store()
        window = reference_dates(model, date)
        rows = {
            str(d): lake.partition_rows(lake_store, lake.ACCEPTED, model.name, d) for d in window
        }
        found = [d for d, n in rows.items() if n is not None]
        manifest = {
            "reference": model.reference.model_dump(mode="json"),
            "days": found,
            "missing": [d for d, n in rows.items() if n is None],
            "rows": {d: n for d, n in rows.items() if n is not None},
            "total_rows": sum(n for n in rows.values() if n is not None),
        }
        lake.write_manifest(lake_store, lake.REFERENCE, model.name, date, manifest)
        return MaterializeResult(
            metadata={
                "window": f"{window[0]}..{window[-1]}" if window else "(empty)",
                "days_used": MetadataValue.json(found),
                "days_missing": MetadataValue.json(manifest["missing"]),
                "rows_per_day": MetadataValue.json(manifest["rows"]),
                "dagster/row_count": manifest["total_rows"],
            }
        )

    columns = [f.name for f in model.features] + [PREDICTION]
    if "model_version" in model.segments:
        columns.append("model_version")

    @asset(
        key=key,
        description="Evidently drift of each feature and of the prediction against the reference window.",
        partitions_def=partitions,
        deps=[AssetDep(inference_logs_key(model)), AssetDep(ref_key)],
        # The report is computed from the configured window: a new window makes it stale too.
        code_version=reference_code_version(model),
        group_name=GROUP,
        kinds={"evidently", "html"},
        check_specs=drift_check_specs(key, partitions),
        metadata={"model": model.name, "reference": model.reference.model_dump(mode="json")},
    )
    def data_drift_report(
        context: AssetExecutionContext, storage: StorageResource, metric_store: MetricStoreResource
    ):
        date = dt.date.fromisoformat(context.partition_key)
        release_unused_memory()  # start from what the earlier steps freed, not their peak
        lake_store = storage.lake_store()
        store = metric_store.get()
        current = lake.read_partition(lake_store, lake.ACCEPTED, model.name, date, columns)
        manifest = lake.read_manifest(lake_store, lake.REFERENCE, model.name, date)
        window = reference_dates(model, date)
        days = manifest["days"] if manifest else window
        reference, found, missing = lake.read_partitions(
            lake_store, lake.ACCEPTED, model.name, days, columns
        )
        missing = sorted(set(missing) | set(manifest["missing"] if manifest else []))
        day_rows = [lake.partition_rows(lake_store, lake.ACCEPTED, model.name, d) for d in found]
        current_rows = 0 if current is None else current.num_rows
        reference_rows = 0 if reference is None else reference.num_rows
        window_text = f"{window[0]}..{window[-1]}" if window else "(empty)"
        reason = None
        if current_rows == 0:
            reason = f"no accepted rows for {date}"
        elif reference_rows < model.reference.min_rows:
            reason = (
                f"the reference window {window_text} has {reference_rows} rows "
                f"(needs {model.reference.min_rows}; days found: {len(found)} of {len(window)})"
            )
        if reason is not None:
            store.replace_metrics(model.name, date, key.path[-1], [], run_id=context.run.run_id)
            yield MaterializeResult(
                metadata={
                    "status": "not_evaluated",
                    "reason": reason,
                    "current_rows": current_rows,
                    "reference_rows": reference_rows,
                    "reference_window": window_text,
                }
            )
            yield from not_evaluated(context, store, key, reason)
            yield reference_complete_result(context, store, key, window_text, missing)
            return

        reference_frame, current_frame = _frame(reference), _frame(current)
        del reference, current
        # On a day of moderate size the segments (NumPy sorts, which release the interpreter
        # lock) run on a second thread while Evidently builds the whole-day report; neither
        # changes the frames. On a large day they run after it: both at once would add their
        # working memory together.
        load_evidently()
        concurrent = len(current_frame) <= SEGMENTS_BESIDE_REPORT_MAX_ROWS
        with ThreadPoolExecutor(1, thread_name_prefix="segment-drift") as pool:
            pending = concurrent and pool.submit(
                segment_drift, reference_frame, current_frame, model, model.segment_min_rows
            )
            cache_key = _calibration_key(model, found, day_rows)
            cached = lake.read_manifest(lake_store, CALIBRATION, model.name, found[-1])
            scores = dict(cached["scores"]) if cached and cached.get("key") == cache_key else {}
            known = len(scores)
            result = compute_drift(
                reference_frame,
                current_frame,
                model,
                reference_day_rows=day_rows,
                calibration_cache=scores,
            )
            if len(scores) != known:
                lake.write_manifest(
                    lake_store,
                    CALIBRATION,
                    model.name,
                    found[-1],
                    {"key": cache_key, "days": found, "scores": scores},
                )
            missing_values = missing_shares(reference_frame, current_frame, model, day_rows)
            release_unused_memory()
            segments = (
                pending.result()
                if pending
                else segment_drift(reference_frame, current_frame, model, model.segment_min_rows)
            )
        del reference_frame, current_frame
        page = drift_page(result, segments, model, date)
        result.html = ""
        reports = storage.reports_store()
        html_key = publish_page(reports, model.name, date, DATA_DRIFT, page)
        link = storage.report_link(reports, html_key)
        metrics = [
            Metric("drift_share", result.drift_share),
            Metric("drifted_features", len(result.drifted_features)),
            Metric("reference_rows", result.reference_rows),
            Metric("current_rows", result.current_rows),
        ]
        for column in result.columns:
            dims = {"column": column.column}
            metrics += [
                Metric("drift_score", column.score, dims=dims, text=column.method),
                Metric("drift_threshold", column.threshold, dims=dims),
                Metric("drift_detected", float(column.drifted), dims=dims),
                Metric(
                    "drift_calibrated", float(column.bound is not None), dims, column.note[:256]
                ),
            ]
            if column.bound is not None:
                metrics.append(Metric("drift_bound", column.bound, dims=dims))
        for share in missing_values:
            dims = {"column": share.column}
            metrics += [
                Metric("missing_share", share.share, dims=dims),
                Metric("missing_share_reference", share.reference_share, dims=dims),
                Metric("missing_share_low", share.low, dims=dims),
                Metric("missing_share_bound", share.bound, dims=dims),
            ]
        for seg in segments:
            dims = {"segment": seg.segment, "value": seg.value}
            if seg.skipped:
                metrics.append(Metric("segment_skipped", 1.0, dims=dims, text=seg.skipped[:256]))
            else:
                metrics.append(Metric("segment_drift_share", seg.drift_share, dims=dims))
                for column in seg.columns:
                    column_dims = {**dims, "column": column.column}
                    metrics += [
                        Metric("segment_drift_score", column.score, column_dims, column.method),
                        Metric("segment_drift_detected", float(column.drifted), column_dims),
                    ]
        store.replace_metrics(model.name, date, key.path[-1], metrics, run_id=context.run.run_id)
        prediction = result.prediction
        yield MaterializeResult(
            metadata={
                "status": "ok",
                "report": MetadataValue.url(link),
                "drift_share": result.drift_share,
                "drift_mode": model.thresholds.drift.mode,
                "drifted_features": MetadataValue.json(result.drifted_features),
                "excluded_columns": MetadataValue.json(list(result.excluded)),
                "unmeasured_columns": MetadataValue.json(list(result.unmeasured)),
                "missing_share": MetadataValue.json(
                    {m.column: round(m.share, 6) for m in missing_values}
                ),
                "prediction_drift_score": prediction.score if prediction else None,
                "current_rows": result.current_rows,
                "reference_rows": result.reference_rows,
                "reference_window": window_text,
                "reference_days_found": MetadataValue.json(found),
                "reference_days_missing": MetadataValue.json(missing),
                "inputs": MetadataValue.json(
                    [
                        lake_store.uri(lake.partition_key(lake.ACCEPTED, model.name, d))
                        for d in [*found, str(date)]
                    ]
                ),
                "columns": MetadataValue.md(_columns_table(result)),
                "segments": MetadataValue.md(_segments_table(segments)),
                "evidently_version": version("evidently"),
            }
        )
        yield from drift_check_results(context, store, key, model, result, missing_values)
        yield reference_complete_result(context, store, key, window_text, missing)

    return [reference_window, data_drift_report]


def _frame(table):
    """A pandas frame of the day's columns: one copy, repeated strings shared, Arrow freed."""
    return table.to_pandas(self_destruct=True, split_blocks=True)


def _segments_table(segments) -> str:
    lines = ["| segment | value | rows | drifted share | note |", "|---|---|---|---|---|"]
    for s in segments:
        value = escape(s.value).replace("|", "\\|")
        share = "" if s.drift_share is None else f"{s.drift_share:.0%}"
        note = s.skipped or (", ".join(s.drifted_features) or "no drifted feature")
        lines.append(f"| {s.segment} | {value} | {s.current_rows} | {share} | {note} |")
    return "\n".join(lines)


def _columns_table(result) -> str:
    lines = [
        "| column | method | score | learned bound | fixed threshold | drift | note |",
        "|---|---|---|---|---|---|---|",
    ]
    for c in result.columns:
        name = c.column.replace("|", "\\|")
        side = "<" if is_pvalue_test(c.method) else ">"
        bound = "" if c.bound is None else f"{side} {c.bound:.4g}"
        lines.append(
            f"| {name} | {c.method} | {c.score:.4g} | {bound} | {c.threshold:g} | "
            f"{'yes' if c.drifted else 'no'} | {c.note} |"
        )
    return "\n".join(lines)
