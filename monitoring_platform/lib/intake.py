"""The intake stages of a model-day: records read, split into accepted rows and a quarantine, judged.

Inference logs and business events are ingested the same way (``lib/ingest.py``); each stage
turns what the ingestion read and decided into metrics, verdicts and metadata. The share of
quarantined records is judged by one verdict for every kind of record (logs, events, labels).
The ingestion of the logs also leaves a summary in the lake for the validation that follows.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Any

from monitoring_platform.config import ModelConfig
from monitoring_platform.lib.ingest import IngestResult
from monitoring_platform.lib.metric_store import Metric
from monitoring_platform.lib.stage import Location, StageResult, Verdict, graded

LOGS_ARRIVED = "logs_arrived"
QUARANTINE_SHARE = "quarantine_share_within_limit"
EVENT_QUARANTINE_SHARE = "event_quarantine_share_within_limit"
LABEL_QUARANTINE_SHARE = "label_quarantine_share_within_limit"
# Reasons are kept to this many characters in metric dimensions.
REASON_CHARS = 200
# The failed verdict names this many of the most frequent reasons.
TOP_REASONS = 5


def quarantine_share_verdict(
    name: str,
    noun: str,
    quarantined: int,
    rows_in: int,
    reasons: Mapping[str, int],
    model: ModelConfig,
) -> Verdict:
    """The share of a day's ``noun`` (records, events, labels) quarantined, within the model's limits.

    Passes below the warning share; fails with WARN from it and with ERROR from the error share.
    The description names the most frequent reasons.
    """
    limits = model.thresholds
    share = quarantined / rows_in if rows_in else 0.0
    passed, severity = graded(share, limits.quarantine_share_warn, limits.quarantine_share_error)
    top = sorted(reasons.items(), key=lambda kv: (-kv[1], kv[0]))[:TOP_REASONS]
    text = (
        f"{quarantined} of {rows_in} {noun} quarantined "
        f"({share:.2%}; warn at {limits.quarantine_share_warn:.2%}, "
        f"error at {limits.quarantine_share_error:.2%})"
        + (": " + "; ".join(f"{reason} ×{n}" for reason, n in top) if top else ".")
    )
    return Verdict(
        name,
        passed=passed,
        description=text,
        observed={
            "quarantine_share": share,
            "quarantined": quarantined,
            "rows_in": rows_in,
            "warn_threshold": limits.quarantine_share_warn,
            "error_threshold": limits.quarantine_share_error,
        },
        severity=severity,
    )


def logs_arrived_verdict(result: IngestResult, day: dt.date, location: str) -> Verdict:
    """Whether the day has log objects with at least one record."""
    arrived = bool(result.objects) and result.rows_in > 0
    if arrived:
        text = f"{len(result.objects)} objects with {result.rows_in} records arrived."
    elif result.objects:
        text = f"{len(result.objects)} objects arrived under {location} but hold no records."
    else:
        text = f"No log objects for {day.isoformat()} under {location}."
    return Verdict(
        LOGS_ARRIVED,
        passed=arrived,
        description=text,
        observed={"objects": len(result.objects), "rows_in": result.rows_in, "location": location},
    )


def _record_metrics(result: IngestResult) -> list[Metric]:
    """Rows in, accepted and quarantined, and the quarantined rows by reason."""
    return [
        Metric("rows_in", result.rows_in),
        Metric("rows_accepted", result.accepted),
        Metric("rows_quarantined", result.quarantined),
        Metric("quarantine_share", result.quarantine_share),
        *(
            Metric("rows_quarantined_by_reason", n, dims={"reason": reason[:REASON_CHARS]})
            for reason, n in result.reasons.items()
        ),
    ]


def _record_metadata(
    result: IngestResult, location: str, accepted_uri: str, quarantine_uri: str
) -> dict[str, Any]:
    """Where the records came from and went, and how many of them."""
    return {
        "location": location,
        "objects_read": len(result.objects),
        "rows_in": result.rows_in,
        "rows_accepted": result.accepted,
        "rows_quarantined": result.quarantined,
        "quarantine_reasons": dict(result.reasons),
        "accepted_rows": Location(accepted_uri),
        "quarantine": Location(quarantine_uri),
        "dagster/row_count": result.accepted,
    }


def ingestion_summary(result: IngestResult) -> dict[str, Any]:
    """What the validation of the day shows of its ingestion: counts and quarantine reasons."""
    return {
        "objects": len(result.objects),
        "rows_in": result.rows_in,
        "rows_accepted": result.accepted,
        "rows_quarantined": result.quarantined,
        "quarantine_share": result.quarantine_share,
        "reasons": {reason[:REASON_CHARS]: n for reason, n in result.reasons.items()},
    }


def inference_logs_stage(
    model: ModelConfig,
    day: dt.date,
    result: IngestResult,
    location: str,
    accepted_uri: str,
    quarantine_uri: str,
) -> StageResult:
    """The day's inference logs: ingestion counts, whether logs arrived, the quarantine share."""
    metadata = _record_metadata(result, location, accepted_uri, quarantine_uri)
    return StageResult(
        metrics=[
            Metric("objects", len(result.objects)),
            Metric("objects_skipped", len(result.skipped_objects)),
            Metric("bytes_read", result.bytes_read),
            *_record_metrics(result),
        ],
        verdicts=[
            logs_arrived_verdict(result, day, location),
            quarantine_share_verdict(
                QUARANTINE_SHARE,
                "records",
                result.quarantined,
                result.rows_in,
                result.reasons,
                model,
            ),
        ],
        metadata={
            "status": "ok" if result.rows_in else "no_data",
            **metadata,
            "objects_skipped": list(result.skipped_objects),
            "bytes_read": result.bytes_read,
        },
    )


def business_events_stage(
    model: ModelConfig,
    result: IngestResult,
    location: str,
    accepted_uri: str,
    quarantine_uri: str,
) -> StageResult:
    """The day's business events: ingestion counts and the quarantine share."""
    return StageResult(
        metrics=[Metric("objects", len(result.objects)), *_record_metrics(result)],
        verdicts=[
            quarantine_share_verdict(
                EVENT_QUARANTINE_SHARE,
                "events",
                result.quarantined,
                result.rows_in,
                result.reasons,
                model,
            )
        ],
        metadata=_record_metadata(result, location, accepted_uri, quarantine_uri),
    )
