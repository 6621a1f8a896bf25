"""What each kind of route receives, built from the items of one outbox message.

* Slack: an incoming-webhook JSON body with ``text`` (the notification fallback) and Block Kit
  ``blocks``.
* Webhook: the documented JSON payload below, signed with HMAC-SHA256.
* Email: a plain-text message whose ``Message-ID`` is the outbox message id.
* PagerDuty: an Events API v2 event (``trigger`` or ``resolve``) per alert, keyed by ``dedup_key``.

Webhook payload (``version`` 1)::

    {"version": 1, "id": "<message id, stable across retries>", "route": "<route name>",
     "alerts": [{"action": "trigger" | "resolve" | "remind", "dedup_key": "...",
                 "kind": "check" | "run" | "freshness" | "watchdog", "model": "...",
                 "day": "YYYY-MM-DD", "subject": "<check or job name>", "severity": "WARN" | "ERROR",
                 "summary": "<one sentence>", "description": "...", "observed": {...},
                 "run_id": "...", "run_url": "...", "report_url": "..."}]}

Headers: ``X-Monitoring-Delivery`` (the message id, for de-duplication on the receiving side),
``X-Monitoring-Timestamp`` (Unix seconds) and ``X-Monitoring-Signature: sha256=<hex>`` where the
hex digest is ``HMAC_SHA256(secret, timestamp + "." + body)``.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Sequence
from email.message import EmailMessage

from monitoring_platform.lib.alerting.findings import Finding, sentence

Item = tuple[str, Finding]  # (action, finding)

SIGNATURE_HEADER = "X-Monitoring-Signature"
TIMESTAMP_HEADER = "X-Monitoring-Timestamp"
DELIVERY_HEADER = "X-Monitoring-Delivery"

_ICON = {"trigger": ":rotating_light:", "remind": ":alarm_clock:", "resolve": ":white_check_mark:"}
_WORD = {"trigger": "FAILING", "remind": "STILL FAILING", "resolve": "RESOLVED"}


def alert_json(action: str, finding: Finding) -> dict:
    """One alert as JSON: the finding and the action (trigger, remind, resolve)."""
    data = finding.to_json()
    del data["event_id"], data["failing"]
    return {
        "action": action,
        "dedup_key": finding.key,
        "summary": sentence(finding, action),
        **data,
    }


def title(items: Sequence[Item]) -> str:
    """The one-line title of a message about these alerts."""
    actions = {a for a, _ in items}
    word = _WORD["trigger"] if "trigger" in actions else _WORD[sorted(actions)[0]]
    models = sorted({f.model for _, f in items if f.model})
    days = sorted({f.day.isoformat() for _, f in items if f.day})
    what = f"{len(items)} alerts" if len(items) > 1 else items[0][1].subject
    parts = [word, " ".join(models), " ".join(days), what]
    return " · ".join(p for p in parts if p)


# ---------------------------------------------------------------------------------------------
# Slack


def slack_escape(text: str) -> str:
    """Slack mrkdwn control characters, per Slack's formatting reference."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _slack_link(url: str, label: str) -> str:
    # A URL inside <...|...> may not carry '<', '>' or '|'.
    safe = url.replace("<", "%3C").replace(">", "%3E").replace("|", "%7C")
    return f"<{safe}|{label}>"


def slack_body(items: Sequence[Item]) -> dict:
    """A Slack Block Kit message about these alerts."""
    head = title(items)
    blocks: list[dict] = [
        {"type": "header", "text": {"type": "plain_text", "text": head[:150], "emoji": True}}
    ]
    for action, finding in items[:45]:
        links = [
            _slack_link(url, label)
            for url, label in ((finding.run_url, "Dagster run"), (finding.report_url, "Report"))
            if url
        ]
        text = f"{_ICON[action]} *{slack_escape(sentence(finding, action))}*"
        if finding.description and action != "resolve":
            text += "\n" + slack_escape(finding.description[:1500])
        if links:
            text += "\n" + " · ".join(links)
        blocks.append({"type": "section", "text": {"type": "mrkdwn", "text": text[:3000]}})
    if len(items) > 45:
        blocks.append(
            {
                "type": "context",
                "elements": [{"type": "mrkdwn", "text": f"and {len(items) - 45} more"}],
            }
        )
    return {"text": slack_escape(head), "blocks": blocks}


# ---------------------------------------------------------------------------------------------
# Generic webhook


def webhook_body(message_id: str, route: str, items: Sequence[Item]) -> bytes:
    """The JSON body of a webhook message about these alerts."""
    payload = {
        "version": 1,
        "id": message_id,
        "route": route,
        "alerts": [alert_json(a, f) for a, f in items],
    }
    return json.dumps(payload, ensure_ascii=False, sort_keys=True).encode()


def signature(secret: str, timestamp: str, body: bytes) -> str:
    """The HMAC-SHA256 signature of a webhook body and its timestamp."""
    digest = hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256)
    return "sha256=" + digest.hexdigest()


def verify_signature(secret: str, timestamp: str, body: bytes, header: str) -> bool:
    """What a receiver does: recompute the signature and compare in constant time."""
    return hmac.compare_digest(signature(secret, timestamp, body), header)


# ---------------------------------------------------------------------------------------------
# Email


def email_message(
    message_id: str, from_address: str, to: Sequence[str], items: Sequence[Item]
) -> EmailMessage:
    """An e-mail (text and HTML) about these alerts."""
    msg = EmailMessage()
    msg["Subject"] = "[monitoring] " + title(items)
    msg["From"] = from_address
    msg["To"] = ", ".join(to)
    msg["Message-ID"] = f"<{message_id}@monitoring-platform>"
    lines = []
    for action, finding in items:
        lines.append(f"{_WORD[action]}: {sentence(finding, action)}")
        if finding.description and action != "resolve":
            lines.append(f"  {finding.description}")
        for label, url in (("Dagster run", finding.run_url), ("Report", finding.report_url)):
            if url:
                lines.append(f"  {label}: {url}")
        lines.append("")
    msg.set_content("\n".join(lines))
    return msg


# ---------------------------------------------------------------------------------------------
# PagerDuty Events API v2


def pagerduty_event(routing_key: str, action: str, finding: Finding) -> dict:
    """A PagerDuty Events API v2 trigger or resolve for one alert."""
    event: dict = {
        "routing_key": routing_key,
        "event_action": "resolve" if action == "resolve" else "trigger",
        "dedup_key": finding.key,
    }
    if action == "resolve":
        return event
    event["payload"] = {
        "summary": sentence(finding, action)[:1024],
        "severity": "critical" if finding.severity == "ERROR" else "warning",
        "source": f"monitoring_platform/{finding.model or 'platform'}",
        "component": finding.model or "monitoring_platform",
        "group": finding.subject,
        "class": finding.kind,
        "custom_details": alert_json(action, finding),
    }
    links = [
        {"href": url, "text": label}
        for url, label in ((finding.run_url, "Dagster run"), (finding.report_url, "Report"))
        if url
    ]
    if links:
        event["links"] = links
    return event
