"""The reports index page: rendering, hostile values, headless Chromium and S3."""

import json
import re

from monitoring_platform.lib.reports import (
    publish_page,
    publish_site_page,
    refresh_navigation,
)
from monitoring_platform.lib.storage import LocalObjectStore, open_store
from monitoring_platform.lib.validation import ValidationOutcome
from monitoring_platform.lib.validation_page import render_validation_page
from monitoring_platform_tests.browser import visit
from monitoring_platform_tests.lib.reports_site.conftest import (
    D1,
    D2,
    D3,
    KEYS,
    render,
)


def test_links_are_relative_and_values_escaped():
    page = render()
    hrefs = re.findall(r'href="([^"]*)"', page)
    assert hrefs and all(not h.startswith(("/", "http", "file:")) for h in hrefs)
    for key in KEYS[:5]:
        assert f'href="{key}"' in page
    assert "notes.html" not in page and "latest/" not in page
    assert "<img src=x" not in page and "<b>by</b>" not in page
    assert "<script" not in page, "the index runs no script"


def test_index_leads_with_the_verdict_and_folds_the_plumbing(tmp_path):
    path = tmp_path / publish_site_page(LocalObjectStore(tmp_path), "index.html", render())
    seen = visit(
        path,
        evaluate="""() => ({
            verdicts: Array.from(document.querySelectorAll('section.model > p.verdict')).map(
                p => p.className + ': ' + p.textContent),
            failing: Array.from(document.querySelectorAll('#model-ctr_ranker ul.failing li')).map(
                li => li.textContent).slice(0, 1),
            headline: Array.from(document.querySelectorAll(
                '#model-ctr_ranker > .charts figcaption')).map(f => f.textContent),
            limits: document.querySelectorAll('#model-ctr_ranker > .charts line.limit').length,
            bands: Array.from(document.querySelectorAll(
                '#model-ctr_ranker > .charts figure:nth-child(1) polygon.band')).map(b => {
                    const box = b.getBoundingClientRect();
                    return [b.dataset.first, b.dataset.last, box.width, box.height,
                            getComputedStyle(b).fillOpacity, b.textContent];
                }),
            dots: Array.from(document.querySelectorAll(
                '#model-ctr_ranker > .charts figure:nth-child(1) circle')).map(c => {
                    const box = c.getBoundingClientRect();
                    return [c.textContent, box.top + box.height / 2];
                }),
            bandBox: (() => {
                const box = document.querySelector(
                    '#model-ctr_ranker > .charts figure:nth-child(1) polygon.band'
                ).getBoundingClientRect();
                return [box.top, box.bottom];
            })(),
            dashes: Array.from(document.querySelectorAll(
                '#model-ctr_ranker > .charts figure:nth-child(1) polyline')).map(
                l => l.getAttribute('stroke-dasharray')),
            drifted: Array.from(document.querySelectorAll(
                '#model-ctr_ranker table.drifted tbody tr')).map(tr => tr.textContent),
            folded: Array.from(document.querySelectorAll(
                '#model-ctr_ranker details.plumbing figcaption')).map(f => f.textContent),
            foldedOpen: document.querySelector('#model-ctr_ranker details.plumbing').open,
            scripts: document.scripts.length,
            imgs: document.images.length,
            text: document.body.textContent,
        })""",
    )
    assert seen.page_errors == [] and seen.console_errors == [] and seen.dialogs == []
    result = seen.evaluated
    assert result["verdicts"][0].startswith("verdict error: Failing.")
    assert result["failing"] == ["quarantine_share_within_limit ERROR on inference_logs: too many"]
    assert result["headline"] == ["ROC AUC", "Features drifted error at 50.0%"]
    assert result["limits"] == 1
    # The quality trend: the realized interval and the estimate's band, shaded and visible.
    realized, estimated = result["bands"]
    assert realized[:2] == [str(D1), str(D2)] and estimated[:2] == [str(D2), str(D3)]
    assert all(b[2] > 50 and b[3] > 5 and float(b[4]) > 0 for b in (realized, estimated))
    assert realized[5] == f"ROC AUC: {D1}: 0.74 to 0.86; {D2}: 0.6 to 0.78"
    top, bottom = result["bandBox"]
    realized_dots = [y for tip, y in result["dots"] if tip.startswith("ROC AUC ")]
    assert len(realized_dots) == 2 and all(top < y < bottom for y in realized_dots)
    assert result["dashes"] == [None, "6,4", "2,3"], "realized solid, estimate dashed, baseline"
    assert result["drifted"] == ["ageWasserstein distance (normed)0.31above 0.12"]
    assert any(f.startswith("rows_in") for f in result["folded"]) and not result["foldedOpen"]
    assert result["scripts"] == 0 and result["imgs"] == 0
    assert 'alert("x")' in result["text"]  # shown as text (in the folds), never run
    assert "Scores results <b>by</b> clicks" in seen.text


def test_index_served_from_an_s3_bucket_links_to_the_reports(s3_bucket, s3_server):
    bucket, factory = s3_bucket
    # A static website: the bucket lets anyone read the reports, as a public site would.
    policy = {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": "*",
                "Action": "s3:GetObject",
                "Resource": f"arn:aws:s3:::{bucket}/reports/*",
            }
        ],
    }
    factory().put_bucket_policy(Bucket=bucket, Policy=json.dumps(policy))
    store = open_store(f"s3://{bucket}/reports", factory)
    publish_site_page(store, "index.html", render())
    store.put_bytes(
        "ctr_ranker/2026-10-31/data_drift.html",
        b"<!DOCTYPE html><title>drift 31</title><p>drift report of the 31st</p>",
        content_type="text/html; charset=utf-8",
    )
    # A report published there, then a later day: the index refreshes the earlier page's bar.
    page = render_validation_page("ctr_ranker", "2026-10-30", ValidationOutcome([], 0), {}, {})
    publish_page(store, "ctr_ranker", D1, "validation", page)
    publish_page(store, "ctr_ranker", D2, "validation", page.replace("2026-10-30", "2026-10-31"))
    assert refresh_navigation(store, ["ctr_ranker"]) == 1
    assert refresh_navigation(store, ["ctr_ranker"]) == 0, "nothing stale the second time"
    url = f"{s3_server}/{bucket}/reports/index.html"
    seen = visit(
        url,
        evaluate="""async () => {
            const a = document.querySelector('a[href="ctr_ranker/2026-10-31/data_drift.html"]');
            const r = await fetch(a.href);
            const css = document.querySelector('link[rel=stylesheet]').sheet.cssRules.length;
            return [a.href, r.status, await r.text(), css];
        }""",
    )
    assert seen.page_errors == [] and seen.dialogs == []
    href, status, body, css_rules = seen.evaluated
    assert href == f"{s3_server}/{bucket}/reports/ctr_ranker/2026-10-31/data_drift.html"
    assert status == 200 and "drift report of the 31st" in body
    assert css_rules > 20, "the site stylesheet loads from the bucket"
    seen = visit(
        f"{s3_server}/{bucket}/reports/ctr_ranker/2026-10-30/validation.html",
        evaluate="""async () => {
            const next = document.querySelector('nav.site a[rel=next]');
            const r = await fetch(next.href);
            return [next.textContent, r.status, document.title];
        }""",
    )
    text, status, title = seen.evaluated
    assert text == "next day 2026-10-31 →" and status == 200
    assert title == "Validation · ctr_ranker · 2026-10-30"
