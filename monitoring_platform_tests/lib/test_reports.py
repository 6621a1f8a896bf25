"""Each script-free page kind, published into a site folder and opened in headless Chromium with
hostile values: title and heading name the page, model and day; the bar leads on; nothing runs."""

import datetime as dt

import pandas as pd

from monitoring_platform.config import parse_config
from monitoring_platform.lib.performance import evaluate
from monitoring_platform.lib.reports import publish_page
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
