"""Arrival detection: fingerprints, the watch window and the cursor, without Dagster."""

import datetime as dt

from monitoring_platform.lib.arrivals import (
    detect_arrivals,
    dump_cursor,
    fingerprint,
    parse_cursor,
    watched_days,
)
from monitoring_platform.lib.storage import ObjectInfo

D1, D2 = dt.date(2026, 11, 19), dt.date(2026, 11, 20)
A = ObjectInfo("m/dt=2026-11-20/a.jsonl", 10)
B = ObjectInfo("m/dt=2026-11-20/b.jsonl", 20)


def test_fingerprint_ignores_order_and_sees_keys_and_sizes():
    assert fingerprint([A, B]) == fingerprint([B, A])
    assert fingerprint([A]) != fingerprint([A, B])
    assert fingerprint([A]) != fingerprint([ObjectInfo(A.key, 11)])
    assert fingerprint([A]) != fingerprint([ObjectInfo("m/dt=2026-11-20/c.jsonl", 10)])


def test_watched_days_stop_at_the_first_partition():
    assert watched_days(D2, 3, dt.date(2026, 1, 1)) == [
        dt.date(2026, 11, 18),
        D1,
        D2,
    ]
    assert watched_days(D2, 3, D2) == [D2]
    assert watched_days(D2, 3, dt.date(2026, 12, 1)) == []


def test_new_and_changed_days_are_detected_once():
    listings = {"m": {D1: [], D2: [A]}, "n": {D1: [A], D2: []}}
    arrivals, state = detect_arrivals({}, listings)
    assert [(a.model, a.day, a.objects, a.bytes) for a in arrivals] == [
        ("m", D2, 1, 10),
        ("n", D1, 1, 10),
    ]
    assert state == {"m": {"2026-11-20": fingerprint([A])}, "n": {"2026-11-19": fingerprint([A])}}
    again, _ = detect_arrivals(parse_cursor(dump_cursor(state)), listings)
    assert again == []
    listings["m"][D2] = [A, B]
    changed, _ = detect_arrivals(state, listings)
    assert [(a.model, a.day) for a in changed] == [("m", D2)]
    assert changed[0].run_key == f"m:2026-11-20:{fingerprint([A, B])[:24]}"
    assert changed[0].run_key != arrivals[0].run_key


def test_unreadable_cursors_start_afresh():
    for cursor in (None, "", "not json", '{"v": 99, "seen": {}}', "[1, 2]", '{"v": 1}'):
        assert parse_cursor(cursor) == {}
