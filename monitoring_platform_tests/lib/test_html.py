"""HTML out of values from the public internet: script data and escaped text stay inert in
Chromium and mean what they meant; numbers read well; shared files are stored once by content."""

import hashlib
import json
import math
import re

import pytest

from monitoring_platform.lib.html import (
    ensure_static_files,
    escape,
    milliseconds,
    money,
    number,
    percent,
    script_json,
    site_css,
    static_files,
    whole,
)
from monitoring_platform.lib.storage import LocalObjectStore
from monitoring_platform_tests.browser import visit

HOSTILE = [
    "</script><script>window.__pwned = 1</script>",
    "<!--<script>window.__pwned = 2//",
    '"><img src=x onerror="window.__pwned = 3">',
    "' onmouseover='window.__pwned = 4",
    "\u2028window.__pwned = 5\u2029",
    "&lt;b&gt; &amp; &#x3c;",
    "]]></svg><svg onload=window.__pwned=6>",
    "{{ 7 * 7 }} ${7 * 7}",
]
DATA = {
    "values": HOSTILE,
    "by_value": {value: n for n, value in enumerate(HOSTILE)},
    "nested": [{"label": HOSTILE[0], "score": 0.5}, None, True, 3],
}


def test_script_json_means_the_same_and_holds_no_markup_characters():
    text = script_json(DATA)
    assert json.loads(text) == DATA
    assert not set(text) & {"<", ">", "&", "\u2028", "\u2029"}
    assert math.isnan(json.loads(script_json({"x": float("nan")}))["x"])


def test_script_data_and_escaped_text_are_inert_in_chromium(tmp_path):
    paragraphs = "\n".join(
        f'<p class="v" title="{escape(value)}">{escape(value)}</p>' for value in HOSTILE
    )
    page = tmp_path / "page.html"
    page.write_text(
        '<!DOCTYPE html><html><head><meta charset="utf-8"><title>inert</title></head><body>\n'
        f"<script>window.__data = {script_json(DATA)};</script>\n{paragraphs}\n</body></html>",
        encoding="utf-8",
    )
    seen = visit(
        page,
        evaluate="""() => ({
            pwned: window.__pwned === undefined ? null : window.__pwned,
            data: window.__data,
            paragraphs: Array.from(document.querySelectorAll('p.v')).map(p => [p.textContent, p.title]),
            elements: document.body.querySelectorAll('*').length,
        })""",
    )
    assert seen.page_errors == [] and seen.dialogs == []
    assert seen.evaluated["pwned"] is None
    assert seen.evaluated["data"] == DATA
    assert seen.evaluated["paragraphs"] == [[value, value] for value in HOSTILE]
    assert seen.evaluated["elements"] == 1 + len(HOSTILE)


def test_escape_turns_nothing_into_nothing_and_keeps_plain_text():
    assert escape(None) == ""
    assert escape("plain text 42") == "plain text 42"
    assert escape(12.5) == "12.5"


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (None, "–"),
        (float("nan"), "–"),
        (float("inf"), "–"),
        (True, "True"),
        (1234567, "1,234,567"),
        (1234567.0, "1,234,567"),
        (-2.0, "-2"),
        (0.123456, "0.1235"),
        (0.5, "0.5"),
        (0.000123456, "0.0001235"),
        ("text", "text"),
    ],
)
def test_numbers_read_with_separators_and_significant_digits(value, text):
    assert number(value) == text


def test_shares_durations_amounts_and_wholes():
    assert [percent(v) for v in (0.1234, 1, 0, None, float("nan"))] == [
        "12.3%",
        "100.0%",
        "0.0%",
        "–",
        "–",
    ]
    assert percent(0.12345, digits=2) == "12.35%"
    assert milliseconds(1234.56) == "1,234.6 ms" and milliseconds(None) == "–"
    assert money(1234.5) == "1,234.50" and money(None) == "–"
    assert whole(1234.5) == "1,234" and whole(1235.5) == "1,236" and whole(None) == "–"


def test_shared_files_are_stored_once_under_names_that_follow_their_content(tmp_path):
    store = LocalObjectStore(tmp_path)
    written = ensure_static_files(store)
    assert sorted(written) == sorted(f.key for f in static_files().values())
    for key in written:
        stem_digest = re.fullmatch(r"_static/[a-z_-]+-([0-9a-f]{12})\.[a-z0-9]+", key)
        assert stem_digest, key
        data = store.open(key).read()
        assert hashlib.sha256(data).hexdigest()[:12] == stem_digest.group(1)
    assert ensure_static_files(store) == []
    assert str(site_css()).encode() == store.open(static_files()["site_css"].key).read()
