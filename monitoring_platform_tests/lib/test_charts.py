"""Line charts as geometry: every point where its day and value put it, gaps split lines,
limits drawn at their value, the axis spans zero to the highest value."""

import datetime as dt

import pytest

from monitoring_platform.lib.charts import DASHES, PALETTE, Limit, line_chart

DAYS = [dt.date(2026, 11, 1) + dt.timedelta(days=n) for n in range(5)]


def _place(chart, n_days, low, high):
    """Where a (day index, value) pair must land, computed from the chart's plot area."""
    top, left = chart.top, chart.left
    high = high + (high - low) * 0.05

    def at(i, v):
        x = left + chart.plot_w * i / max(n_days - 1, 1)
        y = top + chart.plot_h * (1 - (v - low) / (high - low))
        return round(x, 1), round(y, 1)

    return at


def test_points_sit_at_their_day_and_value_and_a_missing_day_splits_the_line():
    values = {DAYS[0]: 2.0, DAYS[1]: 4.0, DAYS[3]: 8.0, DAYS[4]: 6.0}
    chart = line_chart("Rows", DAYS, {"rows": values}, lambda v: f"{v:.1f}", width=500, height=220)
    at = _place(chart, len(DAYS), 0.0, 8.0)
    assert chart.plot_w == 500 - chart.left - 10 and chart.plot_h == 220 - chart.top - 26
    (line,) = chart.series
    assert line["color"] == PALETTE[0] and line["style"] == "solid" and line["dash"] == ""
    assert [[(p["x"], p["y"]) for p in s] for s in line["segments"]] == [
        [at(0, 2.0), at(1, 4.0)],
        [at(3, 8.0), at(4, 6.0)],
    ]
    assert [p["day"] for p in line["points"]] == [str(DAYS[i]) for i in (0, 1, 3, 4)]
    assert [p["label"] for p in line["points"]] == ["2.0", "4.0", "8.0", "6.0"]


def test_the_axis_spans_zero_to_the_highest_value_or_limit_with_five_ticks():
    chart = line_chart(
        "Latency",
        DAYS[:3],
        {"p95": {DAYS[0]: 10.0, DAYS[2]: 20.0}},
        str,
        limits=[Limit("error at", 40.0), Limit("warn at", 30.0, kind="warn")],
    )
    at = _place(chart, 3, 0.0, 40.0)
    high = 40.0 * 1.05
    assert [t["label"] for t in chart.y_ticks] == [str(high * k / 4) for k in range(5)]
    assert [t["y"] for t in chart.y_ticks] == [at(0, high * k / 4)[1] for k in range(5)]
    assert chart.limits == [
        {"y": at(0, 40.0)[1], "label": "error at 40.0", "color": "#c62828"},
        {"y": at(0, 30.0)[1], "label": "warn at 30.0", "color": "#b26a00"},
    ]
    assert [(t["label"], t["anchor"]) for t in chart.x_ticks] == [
        (str(DAYS[0]), "start"),
        (str(DAYS[1]), "middle"),
        (str(DAYS[2]), "end"),
    ]


def test_negative_values_lower_the_axis_below_zero():
    chart = line_chart("Change", DAYS[:2], {"delta": {DAYS[0]: -3.0, DAYS[1]: 1.0}}, str)
    at = _place(chart, 2, -3.0, 1.0)
    assert [(p["x"], p["y"]) for p in chart.series[0]["points"]] == [at(0, -3.0), at(1, 1.0)]
    assert chart.y_ticks[0]["label"] == "-3.0"


def test_a_chart_without_values_still_has_an_axis_and_one_day_sits_left():
    empty = line_chart("Nothing", DAYS[:1], {"x": {}}, str)
    assert [t["label"] for t in empty.y_ticks][0] == "0.0" and empty.series[0]["segments"] == []
    flat = line_chart("Flat", DAYS[:1], {"x": {DAYS[0]: 0.0}}, str)
    (point,) = flat.series[0]["points"]
    assert point["x"] == flat.left
    assert point["y"] == round(flat.top + flat.plot_h, 1), "zero at the bottom of a 0..1 axis"


def test_series_take_the_palette_in_order_and_their_style():
    series = {f"s{n}": {DAYS[0]: float(n)} for n in range(len(PALETTE) + 1)}
    chart = line_chart("Many", DAYS[:1], series, str, styles={"s1": "dashed", "s2": "dotted"})
    assert [s["color"] for s in chart.series] == [*PALETTE, PALETTE[0]]
    assert [s["dash"] for s in chart.series[:3]] == ["", DASHES["dashed"], DASHES["dotted"]]
    with pytest.raises(ValueError, match="unknown line styles"):
        line_chart("x", DAYS[:1], {"a": {DAYS[0]: 1.0}}, str, styles={"a": "wavy"})


def test_a_band_without_its_own_line_gets_the_next_colour_and_lows_and_highs_in_any_order():
    chart = line_chart(
        "Band",
        DAYS[:2],
        {"line": {DAYS[0]: 1.0}},
        str,
        bands={"spread": {DAYS[0]: (3.0, 1.0), DAYS[1]: (None, 2.0)}},
    )
    at = _place(chart, 2, 0.0, 3.0)
    (band,) = chart.bands
    assert band["color"] == PALETTE[1]
    (area,) = band["areas"]
    assert area["tip"] == f"{DAYS[0]}: 1.0 to 3.0"
    corners = [tuple(float(c) for c in p.split(",")) for p in area["points"].split()]
    x0, y_high = at(0, 3.0)
    _, y_low = at(0, 1.0)
    assert corners == [(x0 - 2.5, y_high), (x0 + 2.5, y_high), (x0 + 2.5, y_low), (x0 - 2.5, y_low)]
