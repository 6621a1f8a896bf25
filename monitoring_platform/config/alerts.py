"""The ``alerts:`` section of ``monitoring.yaml``: where alerts go, for which models and severities.

Secrets (Slack webhook URLs, HMAC secrets, SMTP passwords, PagerDuty routing keys) are never in the
file: each route names the environment variable that holds them (keys ending in ``_env``).
"""

from __future__ import annotations

import re
from typing import Annotated, Literal

from pydantic import AfterValidator, Field, field_validator, model_validator

from monitoring_platform.config.common import EnvVarName, Strict

ROUTE_NAME = r"^[a-z][a-z0-9_\-]{0,62}$"
SEVERITIES = ("WARN", "ERROR")


def _http_url(url: str) -> str:
    if not re.match(r"^https?://[^\s/]+", url):
        raise ValueError("expected an http:// or https:// URL")
    return url


HttpUrl = Annotated[str, AfterValidator(_http_url)]


class SlackRoute(Strict):
    """A Slack incoming webhook; the message is Block Kit."""

    kind: Literal["slack"]
    name: str = Field(pattern=ROUTE_NAME)
    webhook_url_env: EnvVarName = Field(description="Variable holding the incoming-webhook URL.")


class WebhookRoute(Strict):
    """A generic JSON webhook, signed with HMAC-SHA256 (header ``X-Monitoring-Signature``)."""

    kind: Literal["webhook"]
    name: str = Field(pattern=ROUTE_NAME)
    url: HttpUrl | None = Field(default=None, description="Endpoint URL (when it is not secret).")
    url_env: EnvVarName | None = Field(default=None, description="Variable holding the URL.")
    secret_env: EnvVarName = Field(description="Variable holding the HMAC signing secret.")

    @model_validator(mode="after")
    def _one_url(self) -> WebhookRoute:
        if (self.url is None) == (self.url_env is None):
            raise ValueError("give exactly one of `url` and `url_env`")
        return self


class EmailRoute(Strict):
    """SMTP email, with STARTTLS and a login whose credentials come from the environment."""

    kind: Literal["email"]
    name: str = Field(pattern=ROUTE_NAME)
    smtp_host: str
    smtp_port: int = Field(default=587, ge=1, le=65535)
    starttls: bool = True
    username_env: EnvVarName | None = None
    password_env: EnvVarName | None = None
    from_address: str = Field(pattern=r"^[^@\s]+@[^@\s]+$")
    to: list[Annotated[str, Field(pattern=r"^[^@\s]+@[^@\s]+$")]] = Field(min_length=1)
    ca_file: str | None = Field(
        default=None, description="CA bundle to verify the server's certificate (private CAs)."
    )

    @model_validator(mode="after")
    def _login_pair(self) -> EmailRoute:
        if (self.username_env is None) != (self.password_env is None):
            raise ValueError("give both `username_env` and `password_env`, or neither")
        return self


class PagerDutyRoute(Strict):
    """PagerDuty Events API v2: a trigger per failing check, a resolve with the same dedup_key."""

    kind: Literal["pagerduty"]
    name: str = Field(pattern=ROUTE_NAME)
    routing_key_env: EnvVarName = Field(description="Variable holding the integration key.")
    url: HttpUrl = Field(default="https://events.pagerduty.com/v2/enqueue")


Route = Annotated[
    SlackRoute | WebhookRoute | EmailRoute | PagerDutyRoute, Field(discriminator="kind")
]


class Rule(Strict):
    """Alerts of these models, at or above this severity, go to these routes."""

    routes: list[str] = Field(min_length=1)
    models: list[str] | None = Field(default=None, description="Model names; omitted = all.")
    min_severity: Literal["WARN", "ERROR"] = "WARN"
    include_system: bool = Field(
        default=True,
        description="Also route platform alerts (failed runs, missing logs, a stalled sensor).",
    )


class Alerts(Strict):
    """Alert routes and the rules that pick them."""

    dagster_base_url: HttpUrl = Field(
        default="http://127.0.0.1:3000", description="Dagster UI, for links to runs."
    )
    routes: list[Route] = Field(default_factory=list)
    rules: list[Rule] = Field(default_factory=list)
    reminder_hours: float | None = Field(
        default=None, gt=0, description="Re-send a still-failing alert after this many hours."
    )
    logs_due_hour: int | None = Field(
        default=6,
        ge=0,
        le=23,
        description="Hour (UTC) by which yesterday's logs must have arrived; null disables.",
    )
    watchdog_minutes: int = Field(
        default=15, ge=2, le=1440, description="Say so when the check sensor is silent this long."
    )
    sensor_interval_seconds: int = Field(default=30, ge=5, le=3600)
    request_timeout_seconds: float = Field(default=10, gt=0, le=120)
    retry_base_seconds: float = Field(default=30, gt=0)
    retry_max_seconds: float = Field(default=900, gt=0)
    give_up_hours: float = Field(
        default=72, gt=0, description="Stop retrying a message after this long (it stays listed)."
    )

    @field_validator("routes")
    @classmethod
    def _unique(cls, routes: list) -> list:
        names = [r.name for r in routes]
        duplicates = sorted({n for n in names if names.count(n) > 1})
        if duplicates:
            raise ValueError(f"route name {duplicates[0]!r} is used more than once")
        return routes

    @model_validator(mode="after")
    def _rules_name_routes(self) -> Alerts:
        names = {r.name for r in self.routes}
        for index, rule in enumerate(self.rules):
            for route in rule.routes:
                if route not in names:
                    raise ValueError(
                        f"rules[{index}] names route {route!r}, which is not defined "
                        f"(routes: {sorted(names) or 'none'})"
                    )
        return self

    def route(self, name: str):
        for route in self.routes:
            if route.name == name:
                return route
        raise KeyError(
            f"no alert route named {name!r} (routes: {sorted(r.name for r in self.routes)})"
        )
