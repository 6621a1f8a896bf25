"""Alert episodes from the outbox's messages: one per raise, over every route, and their length."""

import datetime as dt
import json

from monitoring_platform.lib.digest.episodes import alert_episodes, duration_words

T0 = dt.datetime(2026, 11, 17, 6, tzinfo=dt.UTC)
FINDING = {"kind": "check", "model": "ctr_ranker", "subject": "drift", "day": "2026-11-16"}


def message(n, at, action, route):
    item = {"finding": FINDING, "action": action, "route": route}
    return {"id": n, "created_at": at.timestamp(), "items": json.dumps([item])}


def test_each_raise_is_one_episode_over_every_route():
    resolve, again = T0 + dt.timedelta(minutes=90), T0 + dt.timedelta(hours=5)
    messages = [
        message(1, T0, "trigger", "slack"),
        message(2, T0 + dt.timedelta(minutes=1), "trigger", "mail"),
        message(3, resolve, "resolve", "slack"),
        message(4, resolve + dt.timedelta(minutes=10), "resolve", "mail"),
        message(5, again, "trigger", "slack"),
    ]
    first, second = alert_episodes(reversed(messages))
    assert (first.raised, first.resolved, first.duration) == (T0, resolve, resolve - T0)
    assert (first.model, first.subject, first.day) == ("ctr_ranker", "drift", dt.date(2026, 11, 16))
    assert (second.raised, second.resolved, second.duration) == (again, None, None)
    assert first.key == second.key == "check:ctr_ranker:drift:2026-11-16"


def test_durations_in_minutes_hours_or_days():
    assert duration_words(dt.timedelta(minutes=1)) == "1 minute"
    assert duration_words(dt.timedelta(minutes=59)) == "59 minutes"
    assert duration_words(dt.timedelta(minutes=90)) == "1.5 hours"
    assert duration_words(dt.timedelta(hours=47)) == "47.0 hours"
    assert duration_words(dt.timedelta(days=3)) == "3.0 days"
