"""Delivering one outbox message through one route: HTTP POST or SMTP.

Every failure raises :class:`DeliveryError` with a message that names the route and the cause
(a variable that is not set, a host that cannot be reached, an HTTP status) and never a secret:
URLs are shown by scheme and host only, and whatever else a failure says goes through a
:class:`~monitoring_platform.lib.redaction.Redactor` of the route's secrets.
"""

from __future__ import annotations

import json
import os
import smtplib
import ssl
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Mapping, Sequence
from email.message import EmailMessage

from monitoring_platform.config import (
    EmailRoute,
    PagerDutyRoute,
    SlackRoute,
    WebhookRoute,
)
from monitoring_platform.lib.alerting import payloads
from monitoring_platform.lib.alerting.payloads import Item
from monitoring_platform.lib.redaction import redactor_for


class DeliveryError(Exception):
    """A route could not take a message; the text is safe to log and show."""


def _env(route, variable: str, environ: Mapping[str, str]) -> str:
    value = environ.get(variable)
    if not value:
        raise DeliveryError(
            f"route {route.name!r} ({route.kind}): environment variable {variable} is not set"
        )
    return value


def _env_url(route, variable: str, environ: Mapping[str, str]) -> str:
    url = _env(route, variable, environ)
    if not url.lower().startswith(("http://", "https://")):
        raise DeliveryError(
            f"route {route.name!r} ({route.kind}): environment variable {variable} does not "
            "hold an http:// or https:// URL"
        )
    return url


def _where(url: str) -> str:
    parts = urllib.parse.urlsplit(url)
    return f"{parts.scheme}://{parts.netloc.rsplit('@', 1)[-1]}"


def post_json(
    route, url: str, body: bytes, timeout: float, headers: Mapping[str, str] | None = None
) -> tuple[int, str]:
    """POST a JSON body; return the status and the start of the answer."""
    request = urllib.request.Request(
        url,
        data=body,
        method="POST",
        headers={"Content-Type": "application/json", **(headers or {})},
    )
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return response.status, response.read(2048).decode("utf-8", "replace")
    except urllib.error.HTTPError as exc:
        detail = exc.read(300).decode("utf-8", "replace").strip()
        raise DeliveryError(
            f"route {route.name!r} ({route.kind}): {_where(url)} answered HTTP {exc.code}"
            + (f": {detail}" if detail else "")
        ) from None
    except (urllib.error.URLError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        raise DeliveryError(
            f"route {route.name!r} ({route.kind}): cannot reach {_where(url)}: {reason}"
        ) from None


def send(
    route,
    message_id: str,
    items: Sequence[Item],
    *,
    timeout: float = 10,
    environ: Mapping[str, str] | None = None,
) -> str:
    """Send one message; return a short description of what the receiver said.

    Any failure is a :class:`DeliveryError` naming the route, with the route's secrets removed.
    """
    environ = os.environ if environ is None else environ
    redact = redactor_for(route, environ)
    try:
        return _send(route, message_id, items, timeout, environ)
    except DeliveryError as exc:
        raise DeliveryError(redact(str(exc))) from None
    except Exception as exc:
        raise DeliveryError(
            redact(f"route {route.name!r} ({route.kind}): {type(exc).__name__}: {exc}")
        ) from None


def _send(route, message_id: str, items, timeout: float, environ: Mapping[str, str]) -> str:
    if isinstance(route, SlackRoute):
        url = _env_url(route, route.webhook_url_env, environ)
        body = json.dumps(payloads.slack_body(items), ensure_ascii=False).encode()
        status, _ = post_json(route, url, body, timeout)
        return f"HTTP {status}"
    if isinstance(route, WebhookRoute):
        url = route.url or _env_url(route, route.url_env or "", environ)
        secret = _env(route, route.secret_env, environ)
        body = payloads.webhook_body(message_id, route.name, items)
        stamp = str(int(time.time()))
        headers = {
            payloads.DELIVERY_HEADER: message_id,
            payloads.TIMESTAMP_HEADER: stamp,
            payloads.SIGNATURE_HEADER: payloads.signature(secret, stamp, body),
        }
        status, _ = post_json(route, url, body, timeout, headers)
        return f"HTTP {status}"
    if isinstance(route, PagerDutyRoute):
        key = _env(route, route.routing_key_env, environ)
        answers = []
        for action, finding in items:
            event = payloads.pagerduty_event(key, action, finding)
            status, _ = post_json(route, route.url, json.dumps(event).encode(), timeout)
            answers.append(f"HTTP {status}")
        return ", ".join(answers)
    if isinstance(route, EmailRoute):
        return send_email(route, message_id, items, timeout=timeout, environ=environ)
    raise DeliveryError(f"route {getattr(route, 'name', route)!r}: unknown kind")


def send_email(
    route: EmailRoute,
    message_id: str,
    items: Sequence[Item],
    *,
    timeout: float,
    environ: Mapping[str, str],
) -> str:
    """Send one alert e-mail through the route's SMTP server."""
    message = payloads.email_message(message_id, route.from_address, route.to, items)
    return send_message(route, message, timeout=timeout, environ=environ)


def send_message(
    route: EmailRoute,
    message: EmailMessage,
    *,
    timeout: float = 10,
    environ: Mapping[str, str] | None = None,
) -> str:
    """Send a composed e-mail through the route's SMTP server (STARTTLS and login as set)."""
    environ = os.environ if environ is None else environ
    login = None
    if route.username_env and route.password_env:
        login = (
            _env(route, route.username_env, environ),
            _env(route, route.password_env, environ),
        )
    where = f"{route.smtp_host}:{route.smtp_port}"
    try:
        with smtplib.SMTP(route.smtp_host, route.smtp_port, timeout=timeout) as smtp:
            smtp.ehlo()
            if route.starttls:
                context = ssl.create_default_context(cafile=route.ca_file)
                smtp.starttls(context=context)
                smtp.ehlo()
            if login:
                smtp.login(*login)
            refused = smtp.send_message(message)
    except smtplib.SMTPAuthenticationError as exc:
        raise DeliveryError(
            f"route {route.name!r} (email): {where} refused the login: {exc.smtp_code}"
        ) from None
    except smtplib.SMTPNotSupportedError as exc:
        raise DeliveryError(f"route {route.name!r} (email): {where}: {exc}") from None
    except (smtplib.SMTPException, ssl.SSLError, OSError) as exc:
        raise DeliveryError(f"route {route.name!r} (email): {where}: {exc}") from None
    if refused:
        # Some recipients were accepted: sending again would repeat the message to them.
        return f"accepted by {where}, except for {sorted(refused)}"
    return f"accepted by {where}"
