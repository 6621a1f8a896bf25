"""The validation stage of a model-day: its suites run over the accepted rows and every record.

Two suites make one check, ``expectations_met``: the record contract over every record of the day
(how many were quarantined, and why) and the expectations over the accepted rows (the contract,
the configuration and the model's own file). Contract failures (severity ``error``) fail the check
with ERROR, which blocks the day's downstream assets; soft ones fail it with WARN. The page shows
every expectation and what the ingestion read, from the summary it left in the lake.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from monitoring_platform.config import ModelConfig
from monitoring_platform.lib.metric_store import Metric
from monitoring_platform.lib.reports import VALIDATION
from monitoring_platform.lib.stage import StageResult, Verdict
from monitoring_platform.lib.validation import (
    ERROR,
    WARN,
    ExpectationOutcome,
    ExpectationSpec,
    ValidationOutcome,
    contract_expectations,
    validate,
    validate_parquet,
)
from monitoring_platform.lib.validation_page import render_validation_page

EXPECTATIONS_MET = "expectations_met"
# The asset name the stage's metrics are recorded under.
VALIDATION_METRICS = "validation"
# What the page shows of the ingestion's summary, in this order.
INGESTION_FACTS = ("objects", "rows_in", "rows_accepted", "rows_quarantined", "quarantine_share")
# The failed verdict describes this many failed expectations.
DESCRIBED_FAILURES = 5


QUARANTINE_REASON = "quarantine_reason"


def record_contract_expectations(model: ModelConfig) -> list[ExpectationSpec]:
    """Expectations over every record of the day: how many broke the record contract.

    They run on a frame with one row per record and its quarantine reason (null when accepted),
    so the page shows the share of broken records and samples of why they broke.
    """
    limits = model.thresholds
    return [
        ExpectationSpec(
            "expect_column_values_to_be_null",
            {"column": QUARANTINE_REASON, "mostly": round(1 - limits.quarantine_share_error, 6)},
            severity=ERROR,
            origin="record contract",
        ),
        ExpectationSpec(
            "expect_column_values_to_be_null",
            {"column": QUARANTINE_REASON, "mostly": round(1 - limits.quarantine_share_warn, 6)},
            severity=WARN,
            origin="record contract",
        ),
    ]


def record_frame(accepted: int, reasons: pa.ChunkedArray | None) -> pd.DataFrame:
    """One row per record of the day, with its quarantine reason.

    A null reason per accepted row, then each quarantined record's reason.
    """
    quarantined = len(reasons) if reasons is not None else 0
    values = np.full(accepted + quarantined, None, dtype=object)
    if reasons is not None and quarantined:
        values[accepted:] = reasons.to_numpy(zero_copy_only=False)
    return pd.DataFrame({QUARANTINE_REASON: pd.Series(values, dtype="object")})


def summarize(outcome: ExpectationOutcome) -> dict[str, Any]:
    """A JSON-ready description of one failed expectation for check metadata and alerts."""
    return {
        "expectation": outcome.spec.type,
        "column": outcome.spec.column,
        "severity": outcome.spec.severity,
        "unexpected_count": outcome.unexpected_count,
        "unexpected_share": outcome.unexpected_share,
        "sample_unexpected_values": outcome.sample_values,
        **(
            {"observed_value": outcome.observed_value} if outcome.observed_value is not None else {}
        ),
        **({"error": outcome.exception} if outcome.exception else {}),
    }


def expectations_verdict(outcome: ValidationOutcome, expectations: int) -> Verdict:
    """The day's outcome as one verdict: ERROR when a contract expectation failed, else WARN."""
    errors, warnings = outcome.failed(ERROR), outcome.failed(WARN)
    failed = errors + warnings
    described = "; ".join(
        f"{r.spec.label}: {r.unexpected_count or 0:,} unexpected"
        + (f" ({r.unexpected_share:.2%})" if r.unexpected_share is not None else "")
        for r in failed[:DESCRIBED_FAILURES]
    )
    description = (
        f"All {expectations} expectations met."
        if not failed
        else f"{len(errors)} contract and {len(warnings)} soft expectations failed of "
        f"{expectations}: {described}"
    )
    return Verdict(
        EXPECTATIONS_MET,
        passed=not failed,
        description=description,
        observed={
            "expectations": expectations,
            "failed_contract": len(errors),
            "failed_soft": len(warnings),
            "failed_expectations": [summarize(r) for r in failed],
            "rows": outcome.rows,
        },
        severity="ERROR" if errors else "WARN",
    )


def expectation_dims(outcome: ValidationOutcome) -> list[dict[str, str]]:
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


def validation_metrics(outcome: ValidationOutcome) -> list[Metric]:
    """Each expectation's unexpected share (1 for a failure without one), and the failures."""
    return [
        Metric(
            "expectation_unexpected_share",
            r.unexpected_share if r.unexpected_share is not None else float(not r.success),
            dims=dims,
            text="passed" if r.success else f"failed ({r.spec.severity})",
        )
        for r, dims in zip(outcome.results, expectation_dims(outcome), strict=True)
    ] + [Metric("expectations_failed", len(outcome.failed()))]


def ingestion_facts(summary: Mapping[str, Any] | None) -> tuple[dict[str, Any], dict[str, int]]:
    """The counts and the quarantine reasons the ingestion's summary holds (none without one)."""
    if summary is None:
        return {}, {}
    facts = {name: summary[name] for name in INGESTION_FACTS if name in summary}
    return facts, {str(k): int(v or 0) for k, v in (summary.get("reasons") or {}).items()}


def validation_stage(
    model: ModelConfig,
    day: dt.date,
    accepted: pq.ParquetFile | None,
    quarantine_reasons: pa.ChunkedArray | None,
    known_categories: dict[str, set[str]],
    extra: list[ExpectationSpec],
    summary: Mapping[str, Any] | None,
    publish_page: Callable[[str, str], str],
) -> StageResult:
    """Validate the day's accepted rows and records; metrics, the verdict and the page.

    ``accepted`` is the day's accepted Parquet (``None`` when ingestion never wrote it),
    ``quarantine_reasons`` the reason of each quarantined record, ``known_categories`` the
    categories seen in the reference window, ``extra`` the model's own expectations and
    ``summary`` what the ingestion left in the lake. ``publish_page(name, html)`` publishes a
    report page and returns its URL.
    """
    if accepted is None:
        missing = f"No accepted rows were written for {day}: run inference_logs first."
        return StageResult(verdicts=[Verdict(EXPECTATIONS_MET, passed=False, description=missing)])
    specs = contract_expectations(model, known_categories) + extra
    outcome = validate_parquet(accepted, specs, suite_name=f"{model.name}_logs")
    reasons_frame = record_frame(accepted.metadata.num_rows, quarantine_reasons)
    record_specs = record_contract_expectations(model)
    outcome = validate(reasons_frame, record_specs, f"{model.name}_records") + outcome
    del reasons_frame
    facts, reasons = ingestion_facts(summary)
    page = render_validation_page(model.name, str(day), outcome, facts, reasons)
    link = publish_page(VALIDATION, page)
    verdict = expectations_verdict(outcome, len(record_specs) + len(specs))
    return StageResult(
        metrics=validation_metrics(outcome),
        verdicts=[dataclasses.replace(verdict, report=link)],
        pages={VALIDATION: link},
    )
