"""Alert episodes from the alert outbox's messages: when each alert was raised and resolved."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class AlertEpisode:
    """An alert from its first trigger to its resolve (``resolved`` None while still open)."""

    key: str
    model: str | None
    subject: str
    day: dt.date | None
    raised: dt.datetime
    resolved: dt.datetime | None

    @property
    def duration(self) -> dt.timedelta | None:
        return None if self.resolved is None else self.resolved - self.raised


def alert_episodes(messages: Iterable[Mapping[str, Any]]) -> list[AlertEpisode]:
    """Alerts from the outbox's messages: each alert key's trigger and resolve, over all routes.

    A message per route says the same: the earliest trigger and the earliest resolve count.
    """
    raised: dict[str, tuple[dt.datetime, dict]] = {}
    resolved: dict[str, dt.datetime] = {}
    episodes = []
    for row in sorted(messages, key=lambda r: (r["created_at"], r.get("id", 0))):
        at = dt.datetime.fromtimestamp(float(row["created_at"]), dt.UTC)
        for item in json.loads(row["items"]):
            finding, action = item["finding"], item["action"]
            key = f"{finding['kind']}:{finding.get('model') or '-'}:{finding['subject']}:{finding.get('day') or '-'}"
            if action == "trigger" and key not in raised:
                raised[key] = (at, finding)
            elif action == "resolve" and key in raised and key not in resolved:
                resolved[key] = at
            elif action == "trigger" and key in resolved:
                # Raised again after a resolve: the first episode ends, a new one starts.
                episodes.append(_episode(key, *raised[key], resolved.pop(key)))
                raised[key] = (at, finding)
    for key, (at, finding) in raised.items():
        episodes.append(_episode(key, at, finding, resolved.get(key)))
    return sorted(episodes, key=lambda e: (e.raised, e.key))


def _episode(key, at, finding, end) -> AlertEpisode:
    day = finding.get("day")
    return AlertEpisode(
        key=key,
        model=finding.get("model"),
        subject=str(finding["subject"]),
        day=dt.date.fromisoformat(day) if day else None,
        raised=at,
        resolved=end,
    )


def duration_words(delta: dt.timedelta) -> str:
    """``delta`` in words: minutes below an hour, hours below two days, else days."""
    minutes = round(delta.total_seconds() / 60)
    if minutes < 60:
        return f"{minutes} minute{'s' if minutes != 1 else ''}"
    hours = minutes / 60
    if hours < 48:
        return f"{hours:.1f} hours"
    return f"{hours / 24:.1f} days"
