"""The ``alerts:`` section: routes, rules, URLs and secrets, as the loader reports them."""

import re

import pytest

from monitoring_platform.config import ConfigError, parse_config
from monitoring_platform_tests.conftest import REPO


def _with_alerts(section: str) -> str:
    return (REPO / "monitoring.yaml").read_text() + "\nalerts:\n" + section


def test_inline_secrets_in_routes_are_refused():
    base = (REPO / "monitoring.yaml").read_text()
    for route in (
        "{kind: slack, name: team, webhook_url: 'https://hooks.slack.com/services/T/B/X'}",
        "{kind: pagerduty, name: pager, routing_key: abc123}",
        "{kind: email, name: m, smtp_host: h, from_address: a@b.c, to: [x@y.z], password: pw}",
    ):
        with pytest.raises(ConfigError, match="secrets are never read from the configuration"):
            parse_config(base + f"\nalerts:\n  routes:\n    - {route}\n")
    with pytest.raises(ConfigError, match="names route 'nope', which is not defined"):
        parse_config(
            base + "\nalerts:\n  routes: [{kind: slack, name: team, webhook_url_env: X}]\n"
            "  rules: [{routes: [nope]}]\n"
        )


@pytest.mark.parametrize(
    ("section", "key"),
    [
        (
            "  routes: [{kind: webhook, name: hook, url: 'ftp://h/x', secret_env: S}]\n",
            "alerts.routes[0].webhook.url",
        ),
        (
            "  routes: [{kind: pagerduty, name: p, routing_key_env: K, url: 'events'}]\n",
            "alerts.routes[0].pagerduty.url",
        ),
        ("  dagster_base_url: localhost:3000\n", "alerts.dagster_base_url"),
    ],
)
def test_a_url_that_is_not_http_names_its_key(section, key):
    with pytest.raises(ConfigError, match=re.escape(f"{key}: expected an http:// or https:// URL")):
        parse_config(_with_alerts(section))


def test_http_urls_are_accepted_as_written():
    config = parse_config(
        _with_alerts(
            "  dagster_base_url: https://dagster.example.com/x\n"
            "  routes:\n"
            "    - {kind: webhook, name: hook, url: 'http://10.0.0.1:9/in', secret_env: S}\n"
            "    - {kind: pagerduty, name: p, routing_key_env: K}\n"
        )
    )
    assert config.alerts.dagster_base_url == "https://dagster.example.com/x"
    assert config.alerts.route("hook").url == "http://10.0.0.1:9/in"
    assert config.alerts.route("p").url == "https://events.pagerduty.com/v2/enqueue"


@pytest.mark.parametrize(
    ("section", "message"),
    [
        (
            "  routes: [{kind: webhook, name: hook, url: 'http://h', url_env: U, secret_env: S}]\n",
            "give exactly one of `url` and `url_env`",
        ),
        (
            "  routes: [{kind: email, name: m, smtp_host: h, from_address: a@b.c, to: [x@y.z],"
            " username_env: U}]\n",
            "give both `username_env` and `password_env`, or neither",
        ),
        (
            "  routes: [{kind: slack, name: t, webhook_url_env: A},"
            " {kind: slack, name: t, webhook_url_env: B}]\n",
            "route name 't' is used more than once",
        ),
    ],
)
def test_inconsistent_routes_are_refused(section, message):
    with pytest.raises(ConfigError, match=message):
        parse_config(_with_alerts(section))
