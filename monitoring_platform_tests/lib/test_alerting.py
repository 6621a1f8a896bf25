"""Alerting without Dagster: wording, routing, state changes, the outbox and real local receivers."""

import datetime as dt
import json

import pytest

from monitoring_platform.config import Alerts
from monitoring_platform.lib.alerting import findings as F
from monitoring_platform.lib.alerting.outbox import DEAD, DELIVERED, AlertStore
from monitoring_platform.lib.alerting.payloads import pagerduty_event, signature
from monitoring_platform.lib.alerting.service import Alerting
from monitoring_platform_tests.conftest import free_port
from monitoring_platform_tests.lib.alert_receivers import HttpReceiver, SmtpReceiver
from monitoring_platform_tests.support import check

DAY = dt.date(2026, 11, 6)
T0 = dt.datetime(2026, 11, 7, 6, 30, tzinfo=dt.UTC)

ENV = {
    "SLACK_URL": "",  # filled per test with the receiver's URL
    "HOOK_SECRET": "s3cr3t-for-tests",
    "PD_KEY": "pd-routing-key-for-tests",
    "SMTP_USER": "alerts",
    "SMTP_PASSWORD": "pw-for-tests",
}


class Clock:
    def __init__(self, start=T0):
        self.now = start

    def __call__(self):
        return self.now

    def advance(self, **kwargs):
        self.now += dt.timedelta(**kwargs)


def alerts_settings(receiver: HttpReceiver, smtp: SmtpReceiver | None = None, **extra) -> Alerts:
    routes = [
        {"kind": "slack", "name": "team", "webhook_url_env": "SLACK_URL"},
        {
            "kind": "webhook",
            "name": "hook",
            "url": receiver.base_url + "/webhook",
            "secret_env": "HOOK_SECRET",
        },
        {
            "kind": "pagerduty",
            "name": "pager",
            "routing_key_env": "PD_KEY",
            "url": receiver.base_url + "/pagerduty",
        },
    ]
    rules = [
        {"routes": ["team", "hook"], "min_severity": "WARN"},
        {"routes": ["pager"], "min_severity": "ERROR"},
    ]
    if smtp is not None:
        routes.append(
            {
                "kind": "email",
                "name": "mail",
                "smtp_host": "127.0.0.1",
                "smtp_port": smtp.port,
                "username_env": "SMTP_USER",
                "password_env": "SMTP_PASSWORD",
                "from_address": "alerts@example.org",
                "to": ["oncall@example.org"],
                "ca_file": str(smtp.cert),
            }
        )
        rules.append({"routes": ["mail"], "min_severity": "ERROR"})
    return Alerts.model_validate(
        {"routes": routes, "rules": rules, "request_timeout_seconds": 5, **extra}
    )


@pytest.fixture
def receiver():
    r = HttpReceiver().start()
    yield r
    r.release.set()
    r.stop()


@pytest.fixture(params=["sqlite", "postgresql"])
def store_url(request, tmp_path):
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'metrics.db'}"
    return request.getfixturevalue("postgres_url")


@pytest.fixture
def service(store_url, receiver):
    def make(smtp=None, **extra):
        env = {**ENV, "SLACK_URL": receiver.base_url + "/slack"}
        clock = Clock()
        store = AlertStore(store_url)
        return Alerting(store, alerts_settings(receiver, smtp, **extra), clock, environ=env)

    return make


# ---------------------------------------------------------------------------------------------
# Wording and routing


def test_sentence_says_what_failed_how_badly_model_and_day():
    text = F.sentence(check())
    assert text == (
        "ctr_ranker 2026-11-06: quarantine_share_within_limit failed (ERROR): "
        "quarantine_share 7.49% is at or above the error threshold 5.00%."
    )
    drift = check(
        "dataset_drift_within_threshold",
        severity="WARN",
        observed={"drift_share": 0.375, "warn_threshold": 0.25, "error_threshold": 0.5},
    )
    assert "drift_share 37.50% is at or above the warn threshold 25.00%" in F.sentence(drift)
    unmeasured = check("logs_arrived", observed={"objects": 0, "rows_in": 0})
    assert F.sentence(unmeasured).endswith(
        "failed (ERROR): 412 of 5500 records quarantined (7.49%; warn at 1.00%, error at 5.00%)."
    )
    assert F.sentence(check(), "resolve") == (
        "ctr_ranker 2026-11-06: quarantine_share_within_limit passes again."
    )


def test_routes_follow_models_and_severity():
    alerts = Alerts.model_validate(
        {
            "routes": [
                {"kind": "slack", "name": "ranking", "webhook_url_env": "A"},
                {"kind": "slack", "name": "everyone", "webhook_url_env": "B"},
                {"kind": "pagerduty", "name": "pager", "routing_key_env": "C"},
            ],
            "rules": [
                {"routes": ["ranking"], "models": ["ctr_ranker"]},
                {"routes": ["everyone"], "include_system": False},
                {"routes": ["pager"], "min_severity": "ERROR"},
            ],
        }
    )
    assert F.routes_for(alerts, check(severity="WARN")) == ["ranking", "everyone"]
    assert F.routes_for(alerts, check(severity="ERROR")) == ["ranking", "everyone", "pager"]
    assert F.routes_for(alerts, check(model="eta_regressor", severity="WARN")) == ["everyone"]
    run = F.Finding(F.RUN, "eta_regressor", "daily_job", DAY, True, "ERROR", "boom", 5)
    assert F.routes_for(alerts, run) == ["pager"]


# ---------------------------------------------------------------------------------------------
# State changes


def test_a_failing_check_alerts_once_and_resolves_once(service, receiver):
    alerting = service()
    assert alerting.record([check(event_id=1)])
    assert alerting.deliver().failed == []
    # Still failing in later runs, and the same events read again: nothing new.
    for event_id in (1, 2, 3):
        assert alerting.record([check(event_id=event_id, run_id=f"run-{event_id}")]) == []
    assert alerting.record([check(event_id=4, failing=False, severity="WARN", run_id="run-4")])
    # An older failing evaluation read again after the resolve does not reopen it.
    assert alerting.record([check(event_id=3, run_id="run-3")]) == []
    report = alerting.deliver()
    assert report.failed == [] and len(report.delivered) == 3  # team, hook, pager resolves

    slack = receiver.bodies("/slack")
    assert [b["blocks"][0]["text"]["text"].split(" · ")[0] for b in slack] == [
        "FAILING",
        "RESOLVED",
    ]
    pd = receiver.bodies("/pagerduty")
    assert [e["event_action"] for e in pd] == ["trigger", "resolve"]
    assert (
        pd[0]["dedup_key"]
        == pd[1]["dedup_key"]
        == "check:ctr_ranker:quarantine_share_within_limit:2026-11-06"
    )
    assert pd[0]["payload"]["severity"] == "critical"
    assert {link["href"] for link in pd[0]["links"]} == {
        "http://127.0.0.1:3000/runs/run-a",
        "file:///reports/ctr_ranker/2026-11-06/validation.html",
    }
    hooks = receiver.bodies("/webhook")
    assert [[a["action"] for a in h["alerts"]] for h in hooks] == [["trigger"], ["resolve"]]
    assert receiver.rejected == []


def test_a_warn_only_check_does_not_page_and_reminders_repeat(service, receiver):
    alerting = service(reminder_hours=4)
    alerting.record([check(severity="WARN", event_id=1)])
    alerting.deliver()
    assert receiver.bodies("/pagerduty") == []
    alerting.clock.advance(hours=3)
    assert alerting.remind() == []
    alerting.clock.advance(hours=1)
    assert len(alerting.remind()) == 2  # team and hook
    assert alerting.remind() == []
    alerting.deliver()
    texts = [b["text"] for b in receiver.bodies("/slack")]
    assert texts[0].startswith("FAILING") and texts[1].startswith("STILL FAILING")


def test_failures_of_one_run_are_one_message_per_route(service, receiver):
    alerting = service()
    found = [
        check(event_id=1),
        check("logs_arrived", event_id=2, observed={"objects": 0}),
        check(
            "dataset_drift_within_threshold",
            severity="WARN",
            event_id=3,
            observed={"drift_share": 0.4, "warn_threshold": 0.25, "error_threshold": 0.5},
        ),
    ]
    alerting.record(found)
    alerting.deliver()
    (slack,) = receiver.bodies("/slack")
    sections = [b for b in slack["blocks"] if b["type"] == "section"]
    assert len(sections) == 3
    assert "<http://127.0.0.1:3000/runs/run-a|Dagster run>" in sections[0]["text"]["text"]
    (hook,) = receiver.bodies("/webhook")
    assert sorted(a["subject"] for a in hook["alerts"]) == sorted(f.subject for f in found)
    # PagerDuty incidents are keyed per check: one event each for the two ERROR findings.
    assert len(receiver.bodies("/pagerduty")) == 2


# ---------------------------------------------------------------------------------------------
# Delivery


def test_webhook_signature_is_hmac_sha256_of_timestamp_and_body(service, receiver):
    import hashlib
    import hmac

    alerting = service()
    alerting.record([check()])
    alerting.deliver()
    (request,) = [a for a in receiver.accepted if a.path == "/webhook"]
    raw = json.dumps(request.body, ensure_ascii=False, sort_keys=True).encode()
    stamp = request.headers["X-Monitoring-Timestamp"]
    expected = (
        "sha256="
        + hmac.new(b"s3cr3t-for-tests", stamp.encode() + b"." + raw, hashlib.sha256).hexdigest()
    )
    assert (
        request.headers["X-Monitoring-Signature"]
        == expected
        == signature("s3cr3t-for-tests", stamp, raw)
    )
    assert request.body["alerts"][0]["summary"] == F.sentence(check())
    # A receiver with another secret refuses it.
    receiver.webhook_secret = "another"
    alerting.record([check(failing=False, event_id=9)])
    report = alerting.deliver()
    assert [route for route, _ in report.failed] == ["hook"]
    assert "answered HTTP 401" in report.failed[0][1]


def test_email_over_starttls_with_login(service, receiver, tmp_path):
    smtp = SmtpReceiver(tmp_path).start()
    try:
        alerting = service(smtp)
        alerting.record([check()])
        report = alerting.deliver()
        assert report.failed == []
        ((rcpt, msg, authenticated),) = smtp.messages
        assert rcpt == ["oncall@example.org"] and authenticated
        assert smtp.logins == ["alerts"]
        assert msg["Subject"].startswith("[monitoring] FAILING")
        body = msg.get_payload(decode=True).decode()
        assert F.sentence(check()) in body
        assert "http://127.0.0.1:3000/runs/run-a" in body
        # Without the CA, the self-signed certificate is refused: reported, retried later.
        bad = alerting.routes["mail"].model_copy(update={"ca_file": None})
        alerting.routes["mail"] = bad
        alerting.record([check(failing=False, event_id=2)])
        report = alerting.deliver()
        assert [r for r, _ in report.failed] == ["mail"]
        assert "CERTIFICATE_VERIFY_FAILED" in report.failed[0][1]
    finally:
        smtp.stop()


def test_a_receiver_down_then_up_gets_every_alert_exactly_once(service, receiver):
    alerting = service()
    receiver.stop()  # connection refused from now on
    expected = []
    for n in range(1, 7):
        finding = check(f"check_{n}", event_id=n, run_id=f"run-{n}")
        alerting.record([finding])
        expected.append(("trigger", finding.key))
        report = alerting.deliver()
        assert report.delivered == [] and {r for r, _ in report.failed} <= {"team", "hook", "pager"}
        alerting.clock.advance(minutes=10)
    alerting.record([check("check_1", failing=False, severity="WARN", event_id=7, run_id="run-7")])
    expected.append(("resolve", check("check_1").key))
    errors = {e for _, e in report.failed}
    assert any("cannot reach http://127.0.0.1:" in e for e in errors), errors
    attempts_while_down = len(alerting.store.attempts())
    assert attempts_while_down > 0 and all(not a["ok"] for a in alerting.store.attempts())

    alerting.clock.advance(hours=1)
    receiver.start()  # back, on the same port
    delivered = 0
    for _ in range(10):
        report = alerting.deliver()
        delivered += len(report.delivered)
        alerting.clock.advance(minutes=20)
    assert delivered == 7 * 3
    hooks = [
        (a["action"], a["dedup_key"]) for b in receiver.bodies("/webhook") for a in b["alerts"]
    ]
    assert hooks == expected  # each once, in the order they were raised
    assert len(receiver.bodies("/slack")) == 7
    pd = [(e["event_action"], e["dedup_key"]) for e in receiver.bodies("/pagerduty")]
    assert pd == expected
    assert {m["status"] for m in alerting.store.messages()} == {DELIVERED}


def test_a_bad_route_is_reported_and_does_not_block_the_others(service, receiver, tmp_path):
    closed = free_port()
    extra_routes = [
        {"kind": "slack", "name": "unset", "webhook_url_env": "NOT_SET_ANYWHERE"},
        {
            "kind": "webhook",
            "name": "unreachable",
            "url": f"http://127.0.0.1:{closed}/hook",
            "secret_env": "HOOK_SECRET",
        },
    ]
    base = service()
    settings = Alerts.model_validate(
        {
            **base.settings.model_dump(),
            "routes": [*base.settings.model_dump()["routes"], *extra_routes],
            "rules": [
                *base.settings.model_dump()["rules"],
                {"routes": ["unset", "unreachable"]},
            ],
        }
    )
    alerting = Alerting(base.store, settings, base.clock, environ=base.environ)
    alerting.record([check(event_id=1), check("logs_arrived", event_id=2, run_id="run-b")])
    report = alerting.deliver()
    failures = dict(report.failed)
    assert failures["unset"] == (
        "route 'unset' (slack): environment variable NOT_SET_ANYWHERE is not set"
    )
    assert failures["unreachable"].startswith(
        f"route 'unreachable' (webhook): cannot reach http://127.0.0.1:{closed}:"
    )
    assert sorted({r for r, _ in report.delivered}) == ["hook", "pager", "team"]
    assert len(receiver.bodies("/slack")) == 2 and len(receiver.bodies("/pagerduty")) == 2
    # Given up after the configured time, and still listed.
    alerting.clock.advance(hours=80)
    report = alerting.deliver()
    assert {r for r, _ in report.gave_up} == {"unset", "unreachable"}
    assert {m["route"] for m in alerting.store.messages(DEAD)} == {"unset", "unreachable"}


def test_pagerduty_event_matches_events_api_v2():
    trigger = pagerduty_event("KEY", "trigger", check())
    assert set(trigger) == {"routing_key", "event_action", "dedup_key", "payload", "links"}
    assert set(trigger["payload"]) >= {"summary", "severity", "source"}
    assert len(trigger["payload"]["summary"]) <= 1024
    assert pagerduty_event("KEY", "resolve", check()) == {
        "routing_key": "KEY",
        "event_action": "resolve",
        "dedup_key": check().key,
    }


def test_alerts_test_command_sends_through_a_route(tmp_path, receiver, monkeypatch, capsys):
    import yaml

    from monitoring_platform.cli import main
    from monitoring_platform_tests.conftest import small_config_dict, write_config

    raw = small_config_dict(tmp_path)
    raw["alerts"] = {
        "routes": [
            {"kind": "slack", "name": "team", "webhook_url_env": "TEST_SLACK_URL"},
            {
                "kind": "pagerduty",
                "name": "pager",
                "routing_key_env": "TEST_PD_KEY",
                "url": receiver.base_url + "/pagerduty",
            },
        ]
    }
    path = write_config(tmp_path, raw)
    monkeypatch.setenv("TEST_SLACK_URL", receiver.base_url + "/slack")
    monkeypatch.setenv("TEST_PD_KEY", receiver.pagerduty_key)
    assert main(["--config", str(path), "alerts", "test", "--route", "team"]) == 0
    assert "route 'team': test message sent (HTTP 200)" in capsys.readouterr().out
    (body,) = receiver.bodies("/slack")
    assert "test message from monitoring-platform through route 'team'" in json.dumps(body)
    assert main(["--config", str(path), "alerts", "test", "--route", "pager"]) == 0
    assert [e["event_action"] for e in receiver.bodies("/pagerduty")] == ["trigger", "resolve"]
    monkeypatch.delenv("TEST_PD_KEY")
    assert main(["--config", str(path), "alerts", "test", "--route", "pager"]) == 1
    assert "environment variable TEST_PD_KEY is not set" in capsys.readouterr().err
    assert main(["--config", str(path), "alerts", "test", "--route", "nope"]) == 2
    assert yaml  # the config file stays plain YAML


def test_alerts_status_lists_open_alerts_and_stuck_messages(tmp_path, receiver, capsys):
    from monitoring_platform.cli import main
    from monitoring_platform_tests.conftest import small_config_dict, write_config

    raw = small_config_dict(tmp_path)
    raw["alerts"] = {
        "routes": [{"kind": "slack", "name": "team", "webhook_url_env": "UNSET_FOR_STATUS"}],
        "rules": [{"routes": ["team"]}],
    }
    path = write_config(tmp_path, raw)
    from monitoring_platform.config import load_config

    alerting = Alerting.for_url(load_config(path).metric_store_url(), load_config(path).alerts)
    assert main(["--config", str(path), "alerts", "status"]) == 1  # the sensor never ticked
    assert "check_alert_sensor last ticked: never (silent)" in capsys.readouterr().out
    alerting.beat("check_alert_sensor")
    assert main(["--config", str(path), "alerts", "status"]) == 0
    alerting.record([check()])
    alerting.deliver()
    assert main(["--config", str(path), "alerts", "status"]) == 1
    out = capsys.readouterr().out
    assert "1 open alerts" in out and check().key in out
    assert "team pending" in out and "UNSET_FOR_STATUS is not set" in out
