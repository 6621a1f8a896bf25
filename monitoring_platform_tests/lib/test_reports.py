"""Report pages and their navigation bar: each script-free page kind, published into a site folder
and opened in headless Chromium with hostile values (title and heading name the page, model and
day; the bar leads on; nothing runs); the bar's links, its replacement, its refresh."""

import datetime as dt
import re

import pandas as pd
import pytest

from monitoring_platform.config import parse_config
from monitoring_platform.lib.html import static_files
from monitoring_platform.lib.performance import evaluate
from monitoring_platform.lib.reports import (
    NAV_END,
    NAV_START,
    parse_report_keys,
    publish_page,
    refresh_navigation,
    report_href,
    report_key,
    report_navigation,
    with_navigation,
)
from monitoring_platform.lib.storage import LocalObjectStore
from monitoring_platform.lib.validation_page import render_validation_page
from monitoring_platform_tests.browser import visit
from monitoring_platform_tests.support import clean, run

HOSTILE = [
    "</script><script>window.__pwned = 1</script>",
    '<img src=x onerror="window.__pwned = 2">',
    "\u2028<svg onload=window.__pwned=3>",
]
DAY = dt.date(2026, 11, 20)
CLICKS = parse_config(
    """
models:
  - name: clicks
    task: binary_classification
    features: [{name: x, type: numerical}]
"""
).models[0]
FACTS = """() => ({
    pwned: window.__pwned === undefined ? null : window.__pwned,
    h1: document.querySelector('h1').textContent,
    nav: Array.from(document.querySelectorAll('nav.site a')).map(a => a.getAttribute('href')),
    verdict: document.querySelector('.verdict').className,
})"""


def _open(root, key):
    seen = visit(root / key, evaluate=FACTS)
    assert seen.page_errors == [] and seen.console_errors == [] and seen.dialogs == []
    assert seen.evaluated["pwned"] is None
    return seen


def test_validation_and_performance_pages_stay_inert(tmp_path):
    store = LocalObjectStore(tmp_path)
    frame = clean()
    frame["country"] = frame["country"].astype(object)
    for n, value in enumerate(HOSTILE):
        frame.loc[n, "country"] = value
    page = render_validation_page(
        "shop", str(DAY), run(frame), {"rows_in": 200}, dict.fromkeys(HOSTILE, 1)
    )
    validation = publish_page(store, "shop", DAY, "validation", page)

    predictions = pd.DataFrame(
        {"request_id": ["a", "b"], "prediction": [0.5, 0.4], "model_version": HOSTILE[:2]}
    )
    empty = pd.DataFrame(columns=["request_id", "label", "labeled_at"])
    result = evaluate(CLICKS, predictions, empty, day=DAY - dt.timedelta(days=1))
    performance = publish_page(
        store, CLICKS.name, DAY - dt.timedelta(days=1), "model_performance", result.html
    )

    seen = _open(tmp_path, validation)
    assert seen.title == "Validation · shop · 2026-11-20"
    assert seen.evaluated["h1"] == "Validation of shop on 2026-11-20"
    assert seen.evaluated["nav"][:2] == ["../../index.html", "../../index.html#model-shop"]
    assert seen.evaluated["verdict"] == "verdict warn"
    assert all(h.strip() in seen.text for h in HOSTILE[:2])

    seen = _open(tmp_path, performance)
    assert seen.title == f"Model performance · {CLICKS.name} · 2026-11-19"
    assert "Not judged yet" in seen.text and "No labels have arrived" in seen.text
    assert seen.evaluated["verdict"] == "verdict na"
    assert HOSTILE[0] in seen.text


D1, D2, D3 = (dt.date(2026, 11, n) for n in (1, 2, 4))


def test_a_reports_bar_lists_its_days_reports_in_order_and_leads_to_the_neighbouring_days():
    days = {D1: ["data_drift"], D2: ["validation", "model_performance"], D3: ["validation"]}
    nav = report_navigation("shop", D2, "data_drift", days)
    assert (nav.root, nav.model, nav.day) == ("../../", "shop", "2026-11-02")
    assert [(link.label, link.href, link.current) for link in nav.day_reports] == [
        ("Validation", "validation.html", False),
        ("Data drift", "data_drift.html", True),
        ("Model performance", "model_performance.html", False),
    ]
    # The same report on the neighbouring day where there is one, else that day's first.
    assert (nav.previous.label, nav.previous.href) == (
        "previous day 2026-11-01",
        "../2026-11-01/data_drift.html",
    )
    assert (nav.next.label, nav.next.href) == (
        "next day 2026-11-04",
        "../2026-11-04/validation.html",
    )
    last = report_navigation("shop", D3, "validation", days)
    assert last.next is None and last.previous.href == "../2026-11-02/validation.html"


def test_the_bar_is_replaced_between_its_markers_only():
    page = f"<h1>kept</h1>{NAV_START}old bar{NAV_END}<p>kept too</p>"
    nav = report_navigation("shop", D1, "validation", {})
    replaced = with_navigation(page, nav)
    assert replaced.startswith(f"<h1>kept</h1>{NAV_START}") and replaced.endswith(
        f"{NAV_END}<p>kept too</p>"
    )
    assert "old bar" not in replaced and 'href="../../index.html#model-shop"' in replaced
    with pytest.raises(ValueError, match="no navigation markers"):
        with_navigation("<h1>no bar</h1>", nav)


def _links(store, key):
    page = store.open(key).read().decode()
    bar = page[page.index(NAV_START) : page.index(NAV_END)]
    return re.findall(r'rel="(prev|next)" href="([^"]+)"', bar)


def test_publishing_a_later_day_and_refreshing_gives_the_earlier_page_its_next_link(tmp_path):
    store = LocalObjectStore(tmp_path)
    page = f"<html><body>{NAV_START}{NAV_END}<p>body</p></body></html>"
    first = publish_page(store, "shop", D1, "data_drift", page)
    assert first == "shop/2026-11-01/data_drift.html"
    assert all(store.exists(f.key) for f in static_files().values())
    assert _links(store, first) == []
    second = publish_page(store, "shop", str(D2), "data_drift", page)
    assert _links(store, second) == [("prev", "../2026-11-01/data_drift.html")]
    assert _links(store, first) == [], "publishing does not touch the earlier page"

    assert refresh_navigation(store, ["shop"]) == 1
    assert _links(store, first) == [("next", "../2026-11-02/data_drift.html")]
    assert "<p>body</p>" in store.open(first).read().decode()
    assert refresh_navigation(store, ["shop"]) == 0, "nothing changed since"
    store.put_bytes(first, page.encode())  # the day re-rendered without its bar
    assert refresh_navigation(store, ["shop"]) == 1
    assert _links(store, first) == [("next", "../2026-11-02/data_drift.html")]


def test_report_keys_are_parsed_in_report_order_and_junk_ignored():
    keys = [
        "shop/2026-10-30/data_drift.html",
        "shop/2026-10-30/validation.html",
        "shop/2026-10-31/data_drift.html",
        "shop/2026-11-01/business_metrics.html",
        "shop/2026-11-01/model_performance.html",
        "shop/2026-11-01/notes.html",  # not a report name
        "shop/latest/data_drift.html",  # not a date
        "shop/2026-13-45/data_drift.html",  # not a real date
        "index.html",
        "Shop/2026-10-30/data_drift.html",  # not a model name
        "eta/2026-10-30/data_drift.html",
    ]
    found = parse_report_keys(keys)
    assert found == {
        "shop": {
            dt.date(2026, 10, 30): ["validation", "data_drift"],
            dt.date(2026, 10, 31): ["data_drift"],
            dt.date(2026, 11, 1): ["model_performance", "business_metrics"],
        },
        "eta": {dt.date(2026, 10, 30): ["data_drift"]},
    }
    for model, days in found.items():
        for day, names in days.items():
            for name in names:
                assert report_key(model, day, name) in keys
                assert report_href(model, day, name) == report_key(model, day, name)
