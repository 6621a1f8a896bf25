"""A model's days: the worst check outcome, and steps an earlier run wrote marked as such."""

import datetime as dt
import re

from monitoring_platform.lib.reports import parse_report_keys
from monitoring_platform.lib.reports_site.index import render_index
from monitoring_platform.lib.reports_site.status import STALE_NOTE, day_statuses, stale_steps
from monitoring_platform_tests.lib.reports_site.conftest import (
    CHECKS,
    D1,
    D2,
    D3,
    KEYS,
    MODELS,
    check,
    metric,
)


def test_a_day_shows_its_worst_check_outcome():
    reports = parse_report_keys(KEYS)["ctr_ranker"]
    days = day_statuses([c for c in CHECKS if c["model"] == "ctr_ranker"], reports)
    assert {d: s.status for d, s in days.items()} == {D1: "ok", D2: "warn", D3: "error"}
    assert days[D3].failed == [
        {
            "check": "quarantine_share_within_limit",
            "asset": "inference_logs",
            "severity": "ERROR",
            "description": "too many",
            "stale": "",
        }
    ]
    assert days[D3].reports == ["model_performance", "business_metrics"]


def stamped(row, run, minute):
    return {**row, "run_id": run, "recorded_at": dt.datetime(2026, 11, 2, 6, minute)}


def test_steps_an_earlier_run_wrote_are_marked_and_do_not_colour_the_day():
    # D2 was evaluated by run "a"; run "b" re-ran it, ingested and validated, then failed at
    # drift: the drift rows and page are run a's. D1's performance was re-run later, alone
    # ("c", late labels): newer than the logs, so current.
    rows = [
        stamped(metric("ctr_ranker", D1, "rows_in", 9, asset="inference_logs"), "a", 1),
        stamped(metric("ctr_ranker", D1, "drift_share", 0.1), "a", 2),
        stamped(metric("ctr_ranker", D1, "roc_auc", 0.8, asset="model_performance_report"), "c", 9),
        stamped(metric("ctr_ranker", D2, "rows_in", 9, asset="inference_logs"), "a", 3),
        stamped(metric("ctr_ranker", D2, "drift_share", 0.6), "a", 4),
        stamped(metric("ctr_ranker", D2, "rows_in", 9, asset="inference_logs"), "b", 7),
        stamped(check("ctr_ranker", D2, "logs_arrived", True), "b", 7),
        stamped(check("ctr_ranker", D2, "expectations_pass", True, asset="validation"), "b", 8),
        stamped(
            check("ctr_ranker", D2, "drift_ok", False, "ERROR", asset="data_drift_report"), "a", 4
        ),
        stamped(metric("eta_regressor", D2, "drift_share", 0.6), "a", 4),  # no logs rows: unknown
        {**metric("ctr_ranker", D2, "drift_share", 0.6), "run_id": None, "recorded_at": None},
    ]
    stale = stale_steps(rows)
    assert stale == {"ctr_ranker": {D2: {"data_drift_report"}}}
    # A run of D1 started at 06:05 and failed before writing anything: what came before it is
    # an earlier evaluation, the ingest included; the performance re-run at 06:09 is not.
    failed = [("ctr_ranker", D1, dt.datetime(2026, 11, 2, 6, 5, tzinfo=dt.UTC))]
    assert stale_steps(rows, failed) == {
        "ctr_ranker": {D1: {"inference_logs", "data_drift_report"}, D2: {"data_drift_report"}}
    }
    days = day_statuses(
        [r for r in rows if "check_name" in r],
        {D2: ["validation", "data_drift"]},
        stale["ctr_ranker"],
    )
    assert days[D2].status == "ok" and days[D2].passed == 2
    assert days[D2].failed[0]["stale"] == STALE_NOTE
    assert days[D2].stale_reports() == {"data_drift"}

    page = render_index(
        MODELS[:1],
        [r for r in rows if "check_name" in r],
        [r for r in rows if "metric" in r],
        ["ctr_ranker/2026-10-31/data_drift.html", "ctr_ranker/2026-10-31/validation.html"],
        dt.datetime(2026, 11, 2, 7, tzinfo=dt.UTC),
    )
    cell = re.search(r'<td class="day ([a-z ]+)" title="([^"]*)" data-day="2026-10-31">', page)
    assert cell and cell.group(1) == "ok stale"
    assert f"Data drift {STALE_NOTE}" in cell.group(2)
    card = re.search(r'<div class="kpi stale"><div class="v">60.0%</div>', page)
    assert card and f'<div class="d stale-note">{STALE_NOTE}</div>' in page
    assert re.search(
        r'<a class="rep stale" href="ctr_ranker/2026-10-31/data_drift.html"[^>]*'
        + re.escape(STALE_NOTE),
        page,
    )
    assert '<a class="rep" href="ctr_ranker/2026-10-31/validation.html"' in page
    assert "Evaluation incomplete" in page and "Healthy" not in page
