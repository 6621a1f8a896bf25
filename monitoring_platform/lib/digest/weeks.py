"""The ISO weeks a digest covers and where each week's page lives in the reports storage."""

from __future__ import annotations

import datetime as dt
import re

DIGEST_PREFIX = "digest/"
_WEEK = re.compile(r"^(\d{4})-W(\d{2})$")


def week_days(week: str) -> list[dt.date]:
    """The seven days (Monday first) of an ISO week written ``YYYY-Www``."""
    match = _WEEK.match(week)
    if not match:
        raise ValueError(f"week {week!r} is not of the form YYYY-Www (for example 2026-W47)")
    try:
        monday = dt.date.fromisocalendar(int(match.group(1)), int(match.group(2)), 1)
    except ValueError as exc:
        raise ValueError(f"week {week!r}: {exc}") from None
    return [monday + dt.timedelta(days=n) for n in range(7)]


def week_of(day: dt.date) -> str:
    """The ISO week of ``day`` as ``YYYY-Www``."""
    year, number, _ = day.isocalendar()
    return f"{year}-W{number:02d}"


def digest_key(week: str) -> str:
    """The key of ``week``'s digest page in the reports storage."""
    return f"{DIGEST_PREFIX}{week}.html"


def digest_weeks(reports_store) -> list[str]:
    """The weeks whose digest page the reports store holds, oldest first."""
    found = []
    for o in reports_store.list(DIGEST_PREFIX):
        name = o.key[len(DIGEST_PREFIX) :]
        if name.endswith(".html") and _WEEK.match(name[: -len(".html")]):
            found.append(name[: -len(".html")])
    return sorted(found)
