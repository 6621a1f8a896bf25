"""The digest's page in Chromium, its e-mail through a real SMTP receiver (STARTTLS and
login), and the navigation between weeks."""

import datetime as dt
import email.policy
from email import message_from_bytes

import pytest

from monitoring_platform.cli import main
from monitoring_platform.config import ConfigError, load_config
from monitoring_platform.lib.digest.publish import (
    model_infos,
    publish_digest,
    refresh_digest_navigation,
)
from monitoring_platform.lib.digest.statements import Digest, ModelDigest
from monitoring_platform.lib.digest.weeks import digest_key, week_days
from monitoring_platform.lib.reports import publish_site_page
from monitoring_platform.lib.reports_site.index import render_index
from monitoring_platform.lib.storage import LocalObjectStore
from monitoring_platform_tests.browser import visit
from monitoring_platform_tests.conftest import small_config_dict, write_config
from monitoring_platform_tests.lib.digest.conftest import (
    HOSTILE,
    MODEL,
    WEEK,
)
from monitoring_platform_tests.site_crawl import crawl


def test_digest_page_and_email_through_smtp(setup, monkeypatch):
    config, reports, store, _alerts, smtp, tmp_path = setup
    monkeypatch.setenv("SMTP_USER", "alerts")
    monkeypatch.setenv("SMTP_PASSWORD", "pw-for-tests")
    keys = [o.key for o in reports.list(MODEL + "/")]
    index = render_index(
        model_infos(config), store.checks(), store.metrics(), keys, dt.datetime.now(dt.UTC)
    )
    publish_site_page(reports, "index.html", index)
    assert main(["--config", str(config.source_file), "digest", "--week", WEEK, "--send"]) == 0

    # The page: every link resolves, hostile values stay text, it names the week.
    page = tmp_path / "reports" / digest_key(WEEK)
    site = crawl(tmp_path / "reports", digest_key(WEEK))
    assert site.broken == [] and len(site.pages) > 10
    seen = visit(
        page,
        evaluate="window.__pwned === undefined",
        screenshot=tmp_path / "digest.png",
        full_page_screenshot=tmp_path / "digest-full.png",
    )
    assert seen.evaluated is True and seen.page_errors == [] and seen.console_errors == []
    assert seen.title == "Weekly digest · 2026-W47 · 2026-11-16 to 2026-11-22"
    assert "Weekly digest for 2026-W47" in seen.text and HOSTILE in seen.text
    assert "All models" in seen.text
    assert (tmp_path / "digest-full.png").stat().st_size > (
        tmp_path / "digest.png"
    ).stat().st_size / 2

    # The e-mail: sent once, over STARTTLS with the login, to the digest's recipients, with a
    # plain-text part and an HTML part carrying the same statements.
    ((rcpt, msg, authenticated),) = smtp.messages
    assert rcpt == ["product@example.org", "cto@example.org"] and authenticated
    msg = message_from_bytes(msg.as_bytes(), policy=email.policy.default)
    assert msg["Subject"] == "Model monitoring: Weekly digest · 2026-W47 · 2026-11-16 to 2026-11-22"
    plain = msg.get_body(("plain",)).get_content()
    html = msg.get_body(("html",)).get_content()
    assert "3 of 21 checks failed, on 3 of the 7 days evaluated." in plain
    assert "3 of 21 checks failed, on 3 of the 7 days evaluated." in html
    base = (tmp_path / "reports").as_uri() + "/"
    assert f"<{base}{MODEL}/2026-11-17/data_drift.html>" in plain
    assert f'href="{base}{MODEL}/2026-11-17/data_drift.html"' in html
    assert "<style>" in html and 'rel="stylesheet"' not in html, "mail clients load no files"
    assert HOSTILE not in html and "&lt;img src=x" in html
    received = tmp_path / "received.html"
    received.write_text(html)
    seen = visit(received, evaluate="window.__pwned === undefined")
    assert seen.evaluated is True and seen.page_errors == [] and seen.console_errors == []
    assert "2 alerts raised, 1 resolved" in seen.text


def test_an_older_digest_gains_its_next_week_when_a_later_one_is_published(tmp_path):
    import re

    store = LocalObjectStore(tmp_path)

    def digest(week):
        model = ModelDigest(MODEL, "", "ok", "healthy", 7, 21, 0, 0, 0)
        return Digest(week, week_days(week), [model], [])

    def bar(week):
        page = (tmp_path / digest_key(week)).read_text()
        nav = page[page.index("<!--navigation-->") : page.index("<!--/navigation-->")]
        return dict(re.findall(r'rel="(prev|next)" href="([^"]*)"', nav))

    publish_digest(store, digest("2026-W45"))
    assert bar("2026-W45") == {}
    publish_digest(store, digest("2026-W47"))
    assert bar("2026-W45") == {"next": "2026-W47.html"}
    assert bar("2026-W47") == {"prev": "2026-W45.html"}
    # A week published out of order sits between its neighbours on both their pages.
    publish_digest(store, digest("2026-W46"))
    assert bar("2026-W45") == {"next": "2026-W46.html"}
    assert bar("2026-W46") == {"prev": "2026-W45.html", "next": "2026-W47.html"}
    assert bar("2026-W47") == {"prev": "2026-W46.html"}
    before = (tmp_path / digest_key("2026-W46")).read_text()
    assert refresh_digest_navigation(store, [MODEL]) == 0, "nothing stale"
    assert (tmp_path / digest_key("2026-W46")).read_text() == before
    assert f'href="../index.html#model-{MODEL}"' in before


def test_the_digest_route_must_be_an_email_route(tmp_path):
    raw = small_config_dict(tmp_path)
    raw["digest"] = {"route": "nowhere"}
    with pytest.raises(ConfigError, match="no alert route named 'nowhere'"):
        load_config(write_config(tmp_path, raw))
