"""Secrets never appear in any output: every form of a known secret and URL credentials are
masked; delivery errors, the outbox, the CLI and config errors stay clean."""

import urllib.parse

import pytest
import sqlalchemy as sa

from monitoring_platform.cli import main
from monitoring_platform.config import ConfigError, load_config, parse_config
from monitoring_platform.lib.alerting.outbox import alert_deliveries, alert_outbox
from monitoring_platform.lib.alerting.service import Alerting
from monitoring_platform.lib.redaction import (
    MASK,
    Redactor,
    env_names,
    redact_url_credentials,
    redactor_for,
    secret_forms,
)
from monitoring_platform_tests.conftest import small_config_dict, write_config
from monitoring_platform_tests.support import check

SECRET_PATH = "services/T0AAA/B0BBB/zQ7secretPART"
SHAPES = {
    "no scheme": f"hooks.slack.com/{SECRET_PATH}",
    "scheme": f"https://hooks.slack.com/{SECRET_PATH}",
    "odd scheme": f"htps://hooks.slack.com/{SECRET_PATH}",
    "credentials": f"https://bot:{SECRET_PATH}@127.0.0.1:9/hook",
}


def test_a_redactor_removes_every_form_of_a_secret():
    redact = Redactor([SHAPES["no scheme"]])
    for text in (
        f"unknown url type: '{SHAPES['no scheme']}'",
        f"POST https://hooks.slack.com/{SECRET_PATH} failed",
        f"path /{SECRET_PATH} refused",
        "quoted: hooks.slack.com%2Fservices%2FT0AAA%2FB0BBB%2FzQ7secretPART",
    ):
        assert "zQ7secretPART" not in redact(text), text
    assert redact_url_credentials("postgresql://u:hunter2@db/x") == f"postgresql://{MASK}@db/x"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("postgresql://u:hunter2@db:5432/x", f"postgresql://{MASK}@db:5432/x"),
        ("see https://token@api.example.com/v1 now", f"see https://{MASK}@api.example.com/v1 now"),
        ("two: s3://a:b@h/x and redis://:pw@h", f"two: s3://{MASK}@h/x and redis://{MASK}@h"),
        ("mail bob@example.com, https://example.com/a@b", None),
        ("", None),
    ],
)
def test_url_credentials_are_masked_and_nothing_else(text, expected):
    assert redact_url_credentials(text) == (text if expected is None else expected)


def test_the_forms_of_a_secret_are_its_parts_a_library_may_repeat():
    forms = secret_forms(
        " https://user:pa55word@hooks.example.com/T0/B1/xyzzy-secret?sig=abcdef12 "
    )
    value = "https://user:pa55word@hooks.example.com/T0/B1/xyzzy-secret?sig=abcdef12"
    bare = value.removeprefix("https://")
    assert {
        value,
        bare,
        "/T0/B1/xyzzy-secret?sig=abcdef12",
        "sig=abcdef12",
        "user:pa55word",
        "pa55word",
        urllib.parse.quote(value, safe=""),
    } <= forms
    assert "hooks.example.com" not in forms, "the host is not secret"
    assert "user" not in forms, "forms shorter than six characters would mangle ordinary text"
    assert secret_forms("   ") == set()


def test_a_redactor_masks_the_longest_form_first_and_leaves_other_text():
    redact = Redactor(["https://hooks.example.com/T0/B1/xyzzy-secret", "", "short"])
    text = "POST https://hooks.example.com/T0/B1/xyzzy-secret failed; short; T0/B1/xyzzy-secret"
    assert redact(text) == f"POST {MASK} failed; short; {MASK}"
    assert Redactor()("https://u:p@h/x") == f"https://{MASK}@h/x"
    assert redact("") == ""


def test_a_configuration_names_its_secrets_and_the_redactor_knows_their_values():
    config = parse_config(
        """
models: [{name: m, task: regression, features: [{name: x, type: numerical}]}]
alerts:
  routes:
    - {kind: slack, name: team, webhook_url_env: TEAM_URL}
    - {kind: webhook, name: hook, url_env: HOOK_URL, secret_env: HOOK_SECRET}
  rules: [{routes: [team, hook]}]
"""
    )
    assert {"TEAM_URL", "HOOK_URL", "HOOK_SECRET"} <= set(env_names(config))
    redact = redactor_for(
        config, {"TEAM_URL": "https://hooks.slack.com/services/T/B/team-secret", "HOOK_SECRET": ""}
    )
    assert redact("error at hooks.slack.com/services/T/B/team-secret") == f"error at {MASK}"


def _config(tmp_path, monkeypatch, url):
    raw = small_config_dict(tmp_path)
    raw["alerts"] = {
        "routes": [{"kind": "slack", "name": "team", "webhook_url_env": "TEAM_SLACK_URL"}],
        "rules": [{"routes": ["team"]}],
    }
    monkeypatch.setenv("TEAM_SLACK_URL", url)
    return write_config(tmp_path, raw)


def test_a_secret_url_of_any_shape_stays_out_of_alerts_test(tmp_path, monkeypatch, capsys):
    for shape, url in SHAPES.items():
        path = _config(tmp_path, monkeypatch, url)
        assert main(["--config", str(path), "alerts", "test", "--route", "team"]) == 1, shape
        captured = capsys.readouterr()
        assert "route 'team' (slack)" in captured.err, shape
        assert "zQ7secretPART" not in captured.out + captured.err, shape


def test_a_secret_url_stays_out_of_the_outbox_deliveries_and_status(tmp_path, monkeypatch, capsys):
    for shape, url in SHAPES.items():
        folder = tmp_path / shape.replace(" ", "_")
        folder.mkdir()
        path = _config(folder, monkeypatch, url)
        config = load_config(path)
        alerting = Alerting.for_url(config.metric_store_url(), config.alerts)
        alerting.record([check()])
        report = alerting.deliver()
        (failed,) = report.failed
        assert "zQ7secretPART" not in failed[1], shape
        engine = sa.create_engine(config.metric_store_url())
        with engine.connect() as conn:
            errors = [r[0] for r in conn.execute(sa.select(alert_outbox.c.last_error))]
            details = [r[0] for r in conn.execute(sa.select(alert_deliveries.c.detail))]
        engine.dispose()
        assert errors and details
        assert not any("zQ7secretPART" in text for text in errors + details), shape
        assert main(["--config", str(path), "alerts", "status"]) == 1
        assert "zQ7secretPART" not in capsys.readouterr().out, shape


def test_a_metric_store_url_with_a_password_is_refused_without_echoing_it():
    text = """
metric_store: {url: "postgresql://monitor:hunter2-Secret@db.internal/metrics"}
models: [{name: m, task: regression, features: [{name: x, type: numerical}]}]
"""
    try:
        parse_config(text)
    except ConfigError as exc:
        message = str(exc)
    assert "metric_store.url" in message and "url_env" in message
    assert "hunter2-Secret" not in message
