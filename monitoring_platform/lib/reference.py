"""The reference window: the days a day is compared with, and which of them are in the lake.

A trailing window is the ``trailing_days`` days before the evaluated day; a pinned window is the
same days for every day. The ``reference_window`` step writes a manifest of the days found (and
their rows) for the day; validation, drift and estimation read the window from it.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from typing import Any

from monitoring_platform.config import ModelConfig, TrailingReference
from monitoring_platform.lib import lake
from monitoring_platform.lib.stage import StageResult, Verdict

REFERENCE_COMPLETE = "reference_window_complete"


def reference_dates(model: ModelConfig, date: dt.date) -> list[dt.date]:
    """The days of the reference window for evaluating ``date``, oldest first."""
    reference = model.reference
    if isinstance(reference, TrailingReference):
        return [date - dt.timedelta(days=n) for n in range(reference.trailing_days, 0, -1)]
    days = (reference.end - reference.start).days
    return [reference.start + dt.timedelta(days=n) for n in range(days + 1)]


def window_text(window: list[dt.date]) -> str:
    """The window as shown to people: ``first..last``, or ``(empty)``."""
    return f"{window[0]}..{window[-1]}" if window else "(empty)"


def reference_code_version(model: ModelConfig) -> str:
    """Changes whenever the reference configuration does, so what used the window turns stale."""
    text = json.dumps(model.reference.model_dump(mode="json"), sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()[:12]


def reference_manifest(model: ModelConfig, rows: dict[str, int | None]) -> dict[str, Any]:
    """The window's manifest from each day's accepted rows (``None``: the day is not ingested)."""
    return {
        "reference": model.reference.model_dump(mode="json"),
        "days": [d for d, n in rows.items() if n is not None],
        "missing": [d for d, n in rows.items() if n is None],
        "rows": {d: n for d, n in rows.items() if n is not None},
        "total_rows": sum(n for n in rows.values() if n is not None),
    }


def reference_window(model: ModelConfig, date: dt.date, lake_store: Any) -> StageResult:
    """Find the window's days in the lake and write the day's manifest of them."""
    window = reference_dates(model, date)
    rows = {str(d): lake.partition_rows(lake_store, lake.ACCEPTED, model.name, d) for d in window}
    manifest = reference_manifest(model, rows)
    lake.write_manifest(lake_store, lake.REFERENCE, model.name, date, manifest)
    return StageResult(
        metadata={
            "window": window_text(window),
            "days_used": manifest["days"],
            "days_missing": manifest["missing"],
            "rows_per_day": manifest["rows"],
            "dagster/row_count": manifest["total_rows"],
        }
    )


def window_days(model: ModelConfig, date: dt.date, manifest: dict[str, Any] | None) -> list[Any]:
    """The days to read as the reference: the manifest's when written, else the whole window."""
    return manifest["days"] if manifest else reference_dates(model, date)


def reference_complete(window: str, missing_days: list[str]) -> Verdict:
    """A WARN naming the reference days that are not ingested (they are left out of drift)."""
    if missing_days:
        text = (
            f"The reference window {window} is incomplete: {len(missing_days)} days not "
            f"ingested ({', '.join(missing_days)}). Ingest them first (see README: "
            "'Ingesting the reference days')."
        )
    else:
        text = f"Every day of the reference window {window} is ingested."
    return Verdict(
        REFERENCE_COMPLETE,
        passed=not missing_days,
        description=text,
        observed={"window": window, "days_missing": ", ".join(missing_days)},
        severity="WARN",
    )
