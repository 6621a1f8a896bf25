"""Which model-days received new or changed log objects since the last look.

The arrival sensor lists each model's recent ``<model>/dt=YYYY-MM-DD/`` prefixes, fingerprints
each day's objects (keys and sizes) and compares the fingerprints with the ones it remembered in
its cursor. A day whose fingerprint changed is due for (re)evaluation; the fingerprint also makes
the run key, so the same set of objects never starts two runs, even when a cursor is lost.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from monitoring_platform.lib.storage import ObjectInfo

CURSOR_VERSION = 1


@dataclass(frozen=True)
class Arrival:
    """A model-day whose objects are new or changed."""

    model: str
    day: dt.date
    fingerprint: str
    objects: int
    bytes: int

    @property
    def run_key(self) -> str:
        return f"{self.model}:{self.day.isoformat()}:{self.fingerprint[:24]}"


def fingerprint(objects: Iterable[ObjectInfo]) -> str:
    """A digest of the objects' keys and sizes, independent of listing order."""
    digest = hashlib.sha256()
    for obj in sorted(objects, key=lambda o: o.key):
        digest.update(obj.key.encode("utf-8", "surrogatepass"))
        digest.update(b"\x00")
        digest.update(str(obj.size).encode())
        digest.update(b"\n")
    return digest.hexdigest()


def watched_days(last_day: dt.date, lookback_days: int, first_day: dt.date) -> list[dt.date]:
    """The days a sensor looks at: ``lookback_days`` up to ``last_day``, none before ``first_day``."""
    days = [last_day - dt.timedelta(days=n) for n in range(lookback_days)]
    return sorted(d for d in days if d >= first_day)


def parse_cursor(cursor: str | None) -> dict[str, dict[str, str]]:
    """``{model: {day: fingerprint}}`` from a cursor string; empty for none or an old format."""
    if not cursor:
        return {}
    try:
        data = json.loads(cursor)
    except ValueError:
        return {}
    if not isinstance(data, dict) or data.get("v") != CURSOR_VERSION:
        return {}
    seen = data.get("seen")
    if not isinstance(seen, dict):
        return {}
    return {
        str(model): {str(day): str(fp) for day, fp in days.items()}
        for model, days in seen.items()
        if isinstance(days, dict)
    }


def dump_cursor(seen: Mapping[str, Mapping[str, str]]) -> str:
    """The sensor cursor of ``seen`` (the fingerprints per model and day) as stable JSON."""
    return json.dumps(
        {
            "v": CURSOR_VERSION,
            "seen": {m: dict(sorted(d.items())) for m, d in sorted(seen.items())},
        },
        separators=(",", ":"),
    )


def detect_arrivals(
    seen: Mapping[str, Mapping[str, str]],
    listings: Mapping[str, Mapping[dt.date, list[ObjectInfo]]],
) -> tuple[list[Arrival], dict[str, dict[str, str]]]:
    """New or changed model-days in ``listings``, and the cursor state to remember.

    ``listings`` maps each model to the objects found for each watched day. The returned state
    holds exactly the watched days that have objects, so it stays as small as the watch window.
    """
    arrivals: list[Arrival] = []
    state: dict[str, dict[str, str]] = {}
    for model in sorted(listings):
        known = seen.get(model, {})
        state[model] = {}
        for day in sorted(listings[model]):
            objects = listings[model][day]
            if not objects:
                continue
            fp = fingerprint(objects)
            state[model][day.isoformat()] = fp
            if known.get(day.isoformat()) != fp:
                arrivals.append(
                    Arrival(
                        model=model,
                        day=day,
                        fingerprint=fp,
                        objects=len(objects),
                        bytes=sum(o.size for o in objects),
                    )
                )
    return arrivals, state
