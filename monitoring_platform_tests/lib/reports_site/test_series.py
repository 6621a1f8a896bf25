"""Metric series, the quality trend's interval, estimate and baseline, and drifted columns."""

import json

import pytest

from monitoring_platform.lib.charts import line_chart
from monitoring_platform.lib.reports_site.series import (
    drifted_columns,
    metric_series,
    quality_overlay,
)
from monitoring_platform_tests.lib.reports_site.conftest import (
    D1,
    D2,
    D3,
    DRIFT_COLUMNS,
    EST,
    METRICS,
    QUALITY,
    SEX,
    metric,
)


def test_series_take_undimensioned_values_and_the_slowest_version():
    rows = METRICS + [
        metric(
            "ctr_ranker",
            D1,
            "latency_p95_ms",
            120,
            '{"model_version": "a"}',
            "business_metrics_report",
        ),
        metric(
            "ctr_ranker",
            D1,
            "latency_p95_ms",
            90,
            '{"model_version": "b"}',
            "business_metrics_report",
        ),
    ]
    series = metric_series(rows)["ctr_ranker"]
    assert series[("data_drift_report", "drift_share")] == {D1: 0.1, D2: 0.6, D3: 0.2}
    assert series[("business_metrics_report", "latency_p95_ms")] == {D1: 120}
    assert ("data_drift_report", "drift_score") not in series
    assert ("data_drift_report", "missing") not in series


def test_quality_trend_draws_the_interval_the_estimate_and_the_baseline():
    series = metric_series(QUALITY)["ctr_ranker"]
    overlay = quality_overlay("roc_auc", "ROC AUC", series)
    assert overlay.lines == {
        "ROC AUC": {D1: 0.80, D2: 0.70},
        "estimated": {D2: 0.72, D3: 0.71},
        "reference baseline": {D1: 0.82, D2: 0.83},
    }
    assert overlay.bands == {
        "ROC AUC": {D1: (0.74, 0.86), D2: (0.60, 0.78)},
        "estimated": {D2: (0.66, 0.79), D3: (0.64, 0.77)},
    }
    assert overlay.styles == {"estimated": "dashed", "reference baseline": "dotted"}
    assert (EST, "calibration_error") not in overlay.keys, "left for the plumbing fold"
    assert quality_overlay("mae", "MAE", series).lines == {}

    chart = line_chart(
        "ROC AUC",
        [D1, D2, D3],
        overlay.lines,
        str,
        bands=overlay.bands,
        styles=overlay.styles,
    )
    # The plot spans 0 to the highest value plus 5%; days sit at the left, middle and right.
    top, height, left, width = chart.top, chart.plot_h, chart.left, chart.plot_w

    def at(day: int, value: float) -> tuple[float, float]:
        return round(left + width * day / 2, 1), round(top + height * (1 - value / 0.903), 1)

    realized, estimated = chart.bands
    assert (realized["name"], estimated["name"]) == ("ROC AUC", "estimated")
    (area,) = realized["areas"]
    corners = [tuple(float(c) for c in p.split(",")) for p in area["points"].split()]
    assert corners == [at(0, 0.86), at(1, 0.78), at(1, 0.60), at(0, 0.74)]
    assert (area["first"], area["last"]) == (str(D1), str(D2))
    assert area["tip"] == f"{D1}: 0.74 to 0.86; {D2}: 0.6 to 0.78"
    assert realized["color"] == chart.series[0]["color"]
    assert estimated["color"] == chart.series[1]["color"] != realized["color"]
    assert [(s["name"], s["style"]) for s in chart.series] == [
        ("ROC AUC", "solid"),
        ("estimated", "dashed"),
        ("reference baseline", "dotted"),
    ]
    # A band with a gap: one area per stretch of days, a lone day a narrow bar.
    gappy = line_chart("x", [D1, D2, D3], {}, str, bands={"x": {D1: (1, 2), D3: (0.5, 1.5)}})
    first, lone = gappy.bands[0]["areas"]
    assert len(first["points"].split()) == 4 and lone["first"] == lone["last"] == str(D3)
    with pytest.raises(ValueError, match="unknown line styles"):
        line_chart("x", [D1], {"a": {D1: 1.0}}, str, styles={"a": "wavy"})


def test_latest_drifted_columns_with_score_and_learned_bound():
    drift = drifted_columns(METRICS)
    assert drift == {
        "day": str(D3),
        "measured": 2,
        "columns": [
            {
                "column": "age",
                "method": "Wasserstein distance (normed)",
                "score": "0.31",
                "bound": "0.12",
                "drift_when": "above 0.12",
            }
        ],
    }
    assert (
        drifted_columns([r for r in METRICS if r["partition_date"] != D3])["columns"][0][
            "drift_when"
        ]
        == "no learned bound (Evidently's fixed threshold)"
    )
    assert drifted_columns(QUALITY) is None
    # A p-value test drifts below its bound.
    sex_drifted = [
        {**r, "value": 1.0} if r["metric"] == "drift_detected" and r["dims"] == SEX else r
        for r in METRICS
    ]
    assert [c["drift_when"] for c in drifted_columns(sex_drifted)["columns"]] == [
        "above 0.12",
        "below 0.0001",
    ]


def test_drifted_columns_read_the_metric_stores_rows(tmp_path):
    from monitoring_platform.lib.metric_store import Metric, MetricStore

    store = MetricStore(f"sqlite:///{tmp_path / 'metrics.db'}")
    for day in (D2, D3):
        rows = [r for r in DRIFT_COLUMNS if r["partition_date"] == day]
        store.replace_metrics(
            "ctr_ranker",
            day,
            "data_drift_report",
            [
                Metric(r["metric"], r["value"], json.loads(r["dims"]), r["text_value"] or None)
                for r in rows
            ],
        )
    drift = drifted_columns(store.metrics(model="ctr_ranker"))
    assert drift == drifted_columns(DRIFT_COLUMNS)
    assert drift["columns"][0]["method"] == "Wasserstein distance (normed)"
    store.dispose()
