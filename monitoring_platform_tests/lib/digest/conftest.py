"""Two weeks of one model's results and alerts in real stores, for the digest's tests."""

import datetime as dt

import pytest

from monitoring_platform.config import load_config
from monitoring_platform.lib.alerting.outbox import AlertStore
from monitoring_platform.lib.digest.weeks import week_days
from monitoring_platform.lib.metric_store import Metric, MetricStore
from monitoring_platform.lib.reports import publish_site_page
from monitoring_platform.lib.storage import LocalObjectStore
from monitoring_platform_tests.conftest import small_config_dict, write_config
from monitoring_platform_tests.lib.alert_receivers import SmtpReceiver
from monitoring_platform_tests.support import check

WEEK = "2026-W47"


DAYS = week_days(WEEK)


BEFORE = [d - dt.timedelta(days=7) for d in DAYS]


HOSTILE = '<img src=x onerror="window.__pwned=1">'


MODEL = "ctr_ranker"


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
