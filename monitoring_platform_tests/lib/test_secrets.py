"""Secrets never appear in any output: delivery errors, the outbox, the CLI, config errors."""

import sqlalchemy as sa

from monitoring_platform.cli import main
from monitoring_platform.config import ConfigError, load_config, parse_config
from monitoring_platform.lib.alerting.outbox import alert_deliveries, alert_outbox
from monitoring_platform.lib.alerting.service import Alerting
from monitoring_platform.lib.redaction import MASK, Redactor, redact_url_credentials
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
