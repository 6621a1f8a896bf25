"""The weekly digest: its numbers against the metric store's, its words, its page in Chromium,
and its e-mail through a real SMTP receiver (STARTTLS and login)."""

import datetime as dt
import email.policy
from email import message_from_bytes

import pandas as pd
import pytest

from monitoring_platform.cli import main
from monitoring_platform.config import ConfigError, load_config
from monitoring_platform.lib.alerting.outbox import AlertStore
from monitoring_platform.lib.digest.episodes import alert_episodes
from monitoring_platform.lib.digest.publish import (
    gather_digest,
    model_infos,
    publish_digest,
    refresh_digest_navigation,
)
from monitoring_platform.lib.digest.statements import Digest, ModelDigest
from monitoring_platform.lib.digest.weeks import digest_key, week_days, week_of
from monitoring_platform.lib.metric_store import Metric, MetricStore
from monitoring_platform.lib.reports import publish_site_page
from monitoring_platform.lib.reports_site.index import render_index
from monitoring_platform.lib.storage import LocalObjectStore
from monitoring_platform_tests.browser import visit
from monitoring_platform_tests.conftest import small_config_dict, write_config
from monitoring_platform_tests.lib.alert_receivers import SmtpReceiver
from monitoring_platform_tests.site_crawl import crawl
from monitoring_platform_tests.support import check

WEEK = "2026-W47"
DAYS = week_days(WEEK)
BEFORE = [d - dt.timedelta(days=7) for d in DAYS]
HOSTILE = '<img src=x onerror="window.__pwned=1">'
MODEL = "ctr_ranker"


def test_weeks_are_iso_weeks_and_bad_ones_are_named():
    assert DAYS[0] == dt.date(2026, 11, 16) and DAYS[-1] == dt.date(2026, 11, 22)
    assert week_of(dt.date(2026, 11, 22)) == WEEK and week_of(dt.date(2026, 11, 23)) == "2026-W48"
    with pytest.raises(ValueError, match="YYYY-Www"):
        week_days("2026-47")
    with pytest.raises(ValueError, match="2026-W60"):
        week_days("2026-W60")


def _finding(subject, day, failing, event_id):
    return check(subject, failing=failing, event_id=event_id, day=day, model=MODEL)


def _at(day, hour, minute=0):
    return dt.datetime(day.year, day.month, day.day, hour, minute, tzinfo=dt.UTC)


def _fill(config, reports):
    """Two weeks of results for one model: check outcomes, key figures and two alerts."""
    store = MetricStore(config.metric_store_url())
    for n, day in enumerate(BEFORE + DAYS):
        this_week = day in DAYS
        ctr = (0.08 if this_week else 0.10) + 0.001 * (n % 7)
        store.replace_metrics(
            MODEL,
            day,
            "business_metrics_report",
            [Metric("click_through_rate", ctr), Metric("conversion_rate", 0.01)],
        )
        store.replace_metrics(
            MODEL, day, "model_performance_report", [Metric("roc_auc", 0.80 - 0.01 * (n % 3))]
        )
        share = 0.6 if day in (DAYS[1], DAYS[2]) else 0.1
        store.replace_metrics(MODEL, day, "data_drift_report", [Metric("drift_share", share)])
        for name, passed in [
            ("logs_arrived", True),
            ("dataset_drift_within_threshold", share < 0.5),
            (HOSTILE, day != DAYS[4]),
        ]:
            store.record_check(
                MODEL, day, "data_drift_report", name, passed, "WARN", {"description": "d"}
            )
        for name in ("validation", "data_drift"):
            publish_site_page(
                reports, f"{MODEL}/{day}/{name}.html", f"<!DOCTYPE html><title>{name}</title>"
            )
    alerts = AlertStore(config.metric_store_url())
    route = {"mail": "email"}
    alerts.record([_finding("drift", DAYS[1], True, 1)], lambda f: ["mail"], route, _at(DAYS[2], 6))
    alerts.record(
        [_finding("drift", DAYS[1], False, 2)], lambda f: ["mail"], route, _at(DAYS[3], 9, 30)
    )
    alerts.record([_finding("late", DAYS[5], True, 3)], lambda f: ["mail"], route, _at(DAYS[6], 6))
    return store, alerts


@pytest.fixture
def setup(tmp_path):
    smtp = SmtpReceiver(tmp_path).start()
    raw = small_config_dict(tmp_path)
    raw["models"] = [m for m in raw["models"] if m["name"] == MODEL]
    raw["models"][0]["description"] = HOSTILE
    raw["alerts"] = {
        "routes": [
            {
                "kind": "email",
                "name": "mail",
                "smtp_host": "127.0.0.1",
                "smtp_port": smtp.port,
                "username_env": "SMTP_USER",
                "password_env": "SMTP_PASSWORD",
                "from_address": "monitoring@example.org",
                "to": ["oncall@example.org"],
                "ca_file": str(smtp.cert),
            }
        ]
    }
    raw["digest"] = {"route": "mail", "to": ["product@example.org", "cto@example.org"]}
    config = load_config(write_config(tmp_path, raw))
    reports = LocalObjectStore(tmp_path / "reports")
    store, alerts = _fill(config, reports)
    yield config, reports, store, alerts, smtp, tmp_path
    smtp.stop()


def test_the_digest_states_the_metric_stores_numbers(setup):
    config, reports, store, alerts, _smtp, _ = setup
    digest = gather_digest(config, WEEK, store, alerts, reports)
    (model,) = digest.models

    # Checks, counted independently from the stored rows with pandas.
    checks = pd.DataFrame(store.checks(model=MODEL))
    week = checks[checks["partition_date"].isin(DAYS)]
    assert model.checks_run == len(week) == 21
    assert model.checks_failed == int((~week["passed"]).sum()) == 3
    assert model.days_evaluated == week["partition_date"].nunique() == 7
    texts = [s.text for s in model.statements]
    assert "3 of 21 checks failed, on 3 of the 7 days evaluated." in texts

    # Alerts: one raised and resolved 27.5 hours later, one still open.
    episodes = alert_episodes(alerts.messages())
    assert [e.duration for e in episodes] == [dt.timedelta(hours=27, minutes=30), None]
    assert model.alerts_raised == 2 and model.alerts_resolved == 1
    assert any(t.startswith("2 alerts raised, 1 resolved (open for 27.5 hours") for t in texts)
    assert any("1 still open at the end of the week" in t for t in texts)

    # Week-over-week means, against pandas over the stored values.
    values = pd.DataFrame(store.metrics(model=MODEL, metric="click_through_rate"))
    now = values[values["partition_date"].isin(DAYS)]["value"].mean()
    before = values[values["partition_date"].isin(BEFORE)]["value"].mean()
    ctr = next(t for t in texts if t.startswith("Click-through rate"))
    assert ctr.startswith(f"Click-through rate averaged {now:.1%}, down from {before:.1%}")
    assert f"({abs(now - before) / before:.0%}), a worsening" in ctr

    # Drift as an episode in words, with the days behind it.
    drift = next(s for s in model.statements if s.text.startswith("The input data differed"))
    assert "Tue 17 Nov to Wed 18 Nov (2 days): up to 60%" in drift.text
    assert [href for _, href in drift.links] == [
        f"{MODEL}/2026-11-17/data_drift.html",
        f"{MODEL}/2026-11-18/data_drift.html",
    ]
    assert "Wasserstein" not in " ".join(texts) and "p_value" not in " ".join(texts)
    assert digest.fleet[1].text.startswith("3 of 21 checks failed across the fleet")


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
