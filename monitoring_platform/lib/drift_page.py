"""The data drift report page: the dataset verdict, each column's drift and each segment's."""

from __future__ import annotations

import datetime as dt

from markupsafe import Markup

from monitoring_platform.config import ModelConfig
from monitoring_platform.lib.drift import ColumnDrift, DriftResult
from monitoring_platform.lib.drift_segments import SegmentDrift
from monitoring_platform.lib.html import escape, render
from monitoring_platform.lib.reports import DATA_DRIFT, Navigation, page_heading, page_title
from monitoring_platform.lib.stattests import is_pvalue_test


def drift_page(
    result: DriftResult, segments: list[SegmentDrift], model: ModelConfig, date: dt.date | str
) -> str:
    """The report page: the dataset verdict, the segments, then Evidently's column widgets."""
    limits = model.thresholds.drift
    share = result.drift_share
    if share >= limits.drift_share_error:
        kind, word = "error", "Drift detected"
    elif share >= limits.drift_share_warn:
        kind, word = "warn", "Drift detected"
    else:
        kind, word = "ok", "No dataset drift"
    return render(
        "data_drift.html",
        title=page_title(DATA_DRIFT, model.name, date),
        heading=page_heading(DATA_DRIFT, model.name, date),
        nav=Navigation(root="../../", model=model.name, day=str(date)),
        verdict={
            "kind": kind,
            "word": word,
            "text": f"{share:.0%} of features drifted; the limits are "
            f"{limits.drift_share_warn:.0%} (warning) and {limits.drift_share_error:.0%} (error).",
        },
        drifted=len(result.drifted_features),
        total=len(result.features),
        share=f"{share:.0%}",
        current_rows=result.current_rows,
        reference_rows=result.reference_rows,
        columns=DRIFT_COLUMNS,
        rows=drift_rows(result),
        notes=unmeasured_notes(result),
        segment_columns=SEGMENT_COLUMNS,
        segment_rows=segment_rows(segments),
        evidently=Markup(result.html) if result.html else None,
    )


DRIFT_COLUMNS = [
    ("column", "column"),
    ("method", "method"),
    ("score", "score"),
    ("bound", "drift when"),
    ("drift", "drift"),
    ("note", "note"),
]


def drift_rows(result: DriftResult) -> list[dict]:
    """One row per column for the page's table (keys of ``DRIFT_COLUMNS``)."""
    return [
        {
            "column": c.column,
            "method": c.method,
            "score": f"{c.score:.4g}",
            "bound": bound_text(c),
            "drift": {"text": "Detected", "kind": "error"}
            if c.drifted
            else {"text": "Not detected", "kind": "ok"},
            "note": c.note,
        }
        for c in result.columns
    ]


def bound_text(c: ColumnDrift) -> str:
    """The limit the verdict used, in words: the learned bound or Evidently's threshold."""
    pvalue = is_pvalue_test(c.method)
    if c.bound is not None:
        return f"{'below' if pvalue else 'above'} {c.bound:.4g} (learned)"
    return f"{'below' if pvalue else 'from'} {c.threshold:g} (fixed)"


def unmeasured_notes(result: DriftResult) -> list[str]:
    """Why some columns have no drift verdict: excluded in the configuration, or no values."""
    notes = []
    if result.excluded:
        notes.append(
            "Not measured (excluded in the configuration): " + ", ".join(result.excluded) + "."
        )
    if result.unmeasured:
        notes.append("Not measured: " + "; ".join(result.unmeasured) + ".")
    return notes


SEGMENT_COLUMNS = [
    ("segment", "segment"),
    ("value", "value"),
    ("current_rows", "rows today"),
    ("reference_rows", "rows in reference"),
    ("share", "drifted share"),
    ("verdict", "verdict"),
]


def segment_rows(segments: list[SegmentDrift]) -> list[dict]:
    """One row per segment for the page's table: its drift, or why it was skipped."""
    rows = []
    for s in segments:
        if s.skipped:
            verdict = {"text": f"skipped: {s.skipped}", "kind": "na"}
        else:
            drifted = ", ".join(s.drifted_features) or "none"
            pred = "yes" if s.prediction_drifted else "no"
            verdict = {
                "text": f"drifted features: {drifted}; prediction drift: {pred}",
                "kind": "error" if s.drifted_features or s.prediction_drifted else "ok",
            }
        rows.append(
            {
                "segment": s.segment,
                "value": s.value,
                "current_rows": f"{s.current_rows:,}",
                "reference_rows": f"{s.reference_rows:,}",
                "share": "" if s.skipped else f"{s.drift_share:.0%}",
                "verdict": verdict,
            }
        )
    return rows


def _cell(text: str) -> str:
    return text.replace("|", "\\|")


def segments_table(segments: list[SegmentDrift]) -> str:
    """The segments as a Markdown table, for the materialization's metadata."""
    lines = ["| segment | value | rows | drifted share | note |", "|---|---|---|---|---|"]
    for s in segments:
        value = _cell(escape(s.value))
        share = "" if s.drift_share is None else f"{s.drift_share:.0%}"
        note = s.skipped or (", ".join(s.drifted_features) or "no drifted feature")
        lines.append(f"| {s.segment} | {value} | {s.current_rows} | {share} | {note} |")
    return "\n".join(lines)


def columns_table(result: DriftResult) -> str:
    """Each column's drift as a Markdown table, for the materialization's metadata."""
    lines = [
        "| column | method | score | learned bound | fixed threshold | drift | note |",
        "|---|---|---|---|---|---|---|",
    ]
    for c in result.columns:
        side = "<" if is_pvalue_test(c.method) else ">"
        bound = "" if c.bound is None else f"{side} {c.bound:.4g}"
        lines.append(
            f"| {_cell(c.column)} | {c.method} | {c.score:.4g} | {bound} | {c.threshold:g} | "
            f"{'yes' if c.drifted else 'no'} | {c.note} |"
        )
    return "\n".join(lines)
