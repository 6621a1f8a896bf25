"""The per-partition validation page: what was checked, what failed, on which values."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from monitoring_platform.lib.html import number, render
from monitoring_platform.lib.reports import VALIDATION, Navigation, page_heading, page_title
from monitoring_platform.lib.validation import ExpectationOutcome, ValidationOutcome


def expectation_row(r: ExpectationOutcome) -> dict[str, Any]:
    """One expectation as the page's table shows it."""
    return {
        "kind": "pass" if r.success else ("error" if r.spec.severity == "error" else "warn"),
        "status": "passed" if r.success else f"FAILED ({r.spec.severity})",
        "type": r.spec.type,
        "note": r.exception or "",
        "column": r.spec.column or "",
        "parameters": ", ".join(
            f"{k}={_short(v)}" for k, v in r.spec.kwargs.items() if k != "column"
        ),
        "count": f"{r.unexpected_count:,}" if r.unexpected_count is not None else "",
        "share": f"{r.unexpected_share:.2%}" if r.unexpected_share is not None else "",
        "samples": [str(v) for v in r.sample_values],
        "origin": r.spec.origin,
    }


def validation_verdict(outcome: ValidationOutcome) -> dict[str, str]:
    """The page's headline: failed (blocking), warning or passed, in words."""
    errors, warnings = outcome.failed("error"), outcome.failed("warn")
    if errors:
        return {
            "kind": "error",
            "word": "Failed",
            "text": f"{len(errors)} contract expectation(s) failed: downstream assets are blocked.",
        }
    if warnings:
        return {
            "kind": "warn",
            "word": "Warning",
            "text": f"{len(warnings)} soft expectation(s) failed (warnings, not blocking).",
        }
    return {
        "kind": "ok",
        "word": "Passed",
        "text": f"All {len(outcome.results)} expectations passed.",
    }


def render_validation_page(
    model: str,
    date: str,
    outcome: ValidationOutcome,
    ingestion: Mapping[str, object],
    quarantine_reasons: Mapping[str, int],
) -> str:
    """The page (no script) for one model and day; publishing fills in its navigation."""
    results = sorted(outcome.results, key=lambda r: (r.success, r.spec.severity != "error"))
    return render(
        "validation.html",
        title=page_title(VALIDATION, model, date),
        heading=page_heading(VALIDATION, model, date),
        nav=Navigation(root="../../", model=model, day=str(date)),
        rows=outcome.rows,
        verdict=validation_verdict(outcome),
        expectations=[expectation_row(r) for r in results],
        facts=[(k, number(v)) for k, v in ingestion.items()],
        reasons=sorted(quarantine_reasons.items(), key=lambda kv: -kv[1]),
    )


def _short(value: object) -> str:
    text = str(value)
    return text if len(text) <= 80 else text[:77] + "..."
