"""Where reports live, how a page is published, and the navigation bar every page carries.

Reports live in the reports storage at ``<model>/<YYYY-MM-DD>/<name>.html``.

Links between pages are relative, so the site works opened from a folder (``file://``), from
``serve-reports`` and from an S3 static website alike. A page's navigation sits between two
markers; publishing a page fills it from what the store holds, and the reports index refreshes
the bars that a later day (a new "next day") or a new report of the same day made stale.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import re
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from urllib.parse import quote

from monitoring_platform.lib.html import ensure_static_files, render
from monitoring_platform.lib.storage import ObjectStore, join_key

VALIDATION = "validation"
DATA_DRIFT = "data_drift"
MODEL_PERFORMANCE = "model_performance"
BUSINESS_METRICS = "business_metrics"
REPORT_NAMES = (VALIDATION, DATA_DRIFT, MODEL_PERFORMANCE, BUSINESS_METRICS)
REPORT_TITLES = {
    VALIDATION: "Validation",
    DATA_DRIFT: "Data drift",
    MODEL_PERFORMANCE: "Model performance",
    BUSINESS_METRICS: "Business metrics",
}
HTML_CONTENT_TYPE = "text/html; charset=utf-8"
NAV_START, NAV_END = "<!--navigation-->", "<!--/navigation-->"
NAVIGATION_MANIFEST = "_static/navigation.json"
_REPORT_KEY = re.compile(r"^([a-z][a-z0-9_]{0,62})/(\d{4}-\d{2}-\d{2})/([a-z_]+)\.html$")


def report_key(model: str, date: str | dt.date, name: str) -> str:
    """The storage key of report ``name`` of ``model`` on ``date``."""
    return join_key(model, str(date), f"{name}.html")


def report_href(model: str, day: dt.date, name: str) -> str:
    """The link from the site root to a report: relative, URL-quoted."""
    return "/".join(quote(part, safe="") for part in (model, day.isoformat(), f"{name}.html"))


def page_title(name: str, model: str, day: str | dt.date) -> str:
    """The ``<title>`` of a report page."""
    return f"{REPORT_TITLES.get(name, name)} · {model} · {day}"


def page_heading(name: str, model: str, day: str | dt.date) -> str:
    """The heading of a report page, as a sentence."""
    return f"{REPORT_TITLES.get(name, name)} of {model} on {day}"


def parse_report_keys(keys: Iterable[str]) -> dict[str, dict[dt.date, list[str]]]:
    """``{model: {day: [report names]}}`` from report keys; anything else is ignored."""
    found: dict[str, dict[dt.date, set[str]]] = defaultdict(lambda: defaultdict(set))
    for key in keys:
        match = _REPORT_KEY.match(key)
        if not match or match.group(3) not in REPORT_NAMES:
            continue
        try:
            day = dt.date.fromisoformat(match.group(2))
        except ValueError:
            continue
        found[match.group(1)][day].add(match.group(3))
    order = {name: n for n, name in enumerate(REPORT_NAMES)}
    return {
        model: {day: sorted(names, key=order.__getitem__) for day, names in sorted(days.items())}
        for model, days in found.items()
    }


@dataclass(frozen=True)
class NavLink:
    """One link of the navigation bar; ``current`` marks the page it sits on."""

    label: str
    href: str
    title: str = ""
    current: bool = False


@dataclass(frozen=True)
class Navigation:
    """The bar under every page's heading; ``root`` leads from the page to the site root."""

    root: str = ""
    model: str | None = None
    day: str | None = None
    day_reports: Sequence[NavLink] = ()
    previous: NavLink | None = None
    next: NavLink | None = None
    extra: Sequence[NavLink] = field(default_factory=tuple)


def report_navigation(
    model: str, day: dt.date, name: str, days: Mapping[dt.date, Sequence[str]]
) -> Navigation:
    """The bar of report ``name`` of ``model`` on ``day``, given the model's reports by day."""
    today = list(days.get(day, ()))
    if name not in today:
        today.append(name)
    order = {n: i for i, n in enumerate(REPORT_NAMES)}
    today.sort(key=lambda n: order.get(n, len(order)))
    links = [
        NavLink(REPORT_TITLES.get(n, n), f"{quote(n, safe='')}.html", current=n == name)
        for n in today
    ]
    earlier = [d for d in days if d < day]
    later = [d for d in days if d > day]

    def neighbour(other: dt.date | None, label: str) -> NavLink | None:
        if other is None:
            return None
        target = name if name in days[other] else days[other][0]
        href = f"../{other.isoformat()}/{quote(target, safe='')}.html"
        return NavLink(f"{label} {other.isoformat()}", href)

    return Navigation(
        root="../../",
        model=model,
        day=day.isoformat(),
        day_reports=tuple(links),
        previous=neighbour(max(earlier) if earlier else None, "previous day"),
        next=neighbour(min(later) if later else None, "next day"),
    )


def navigation_html(nav: Navigation) -> str:
    """The navigation bar as HTML."""
    return render("nav.html", nav=nav)


def with_navigation(page: str, nav: Navigation) -> str:
    """``page`` with the bar between its navigation markers replaced."""
    start = page.find(NAV_START)
    end = page.find(NAV_END, start)
    if start < 0 or end < 0:
        raise ValueError("the page has no navigation markers")
    return page[: start + len(NAV_START)] + navigation_html(nav) + page[end:]


def publish_page(store: ObjectStore, model: str, day: dt.date | str, name: str, page: str) -> str:
    """Write report ``name`` with a navigation bar for what the store holds; return its key.

    The files every page shares are written first when the store lacks them.
    """
    day = day if isinstance(day, dt.date) else dt.date.fromisoformat(str(day))
    ensure_static_files(store)
    days = parse_report_keys(o.key for o in store.list(model + "/")).get(model, {})
    key = report_key(model, day, name)
    nav = report_navigation(model, day, name, days)
    store.put_bytes(key, with_navigation(page, nav).encode("utf-8"), content_type=HTML_CONTENT_TYPE)
    return key


def publish_site_page(store: ObjectStore, key: str, page: str) -> str:
    """Write a page that is not a model-day report (the index, a digest) with the shared files."""
    ensure_static_files(store)
    store.put_bytes(key, page.encode("utf-8"), content_type=HTML_CONTENT_TYPE)
    return key


def refresh_navigation(store: ObjectStore, models: Iterable[str]) -> int:
    """Rewrite the bars made stale by later pages (a new next day, a new report of the day).

    A manifest (``_static/navigation.json``) records each page's bar and size as last written
    here, so only pages whose bar changed, or that were re-rendered since, are read. Returns the
    number of pages rewritten.
    """
    try:
        manifest: dict[str, list] = json.loads(_read(store, NAVIGATION_MANIFEST))
    except Exception:  # no manifest yet (or unreadable): check every page
        manifest = {}
    rewritten = 0
    updated: dict[str, list] = {}
    for model in models:
        objects = {o.key: o.size for o in store.list(model + "/")}
        days = parse_report_keys(objects).get(model, {})
        for day, names in days.items():
            for name in names:
                key = report_key(model, day, name)
                nav = navigation_html(report_navigation(model, day, name, days))
                digest = hashlib.sha256(nav.encode("utf-8")).hexdigest()[:16]
                if manifest.get(key) == [digest, objects[key]]:
                    updated[key] = manifest[key]
                    continue
                page = _read(store, key).decode("utf-8")
                start, end = page.find(NAV_START), page.find(NAV_END)
                if start < 0 or end < start:
                    continue  # a page written before pages carried a bar
                data = page
                if page[start + len(NAV_START) : end] != nav:
                    data = page[: start + len(NAV_START)] + nav + page[end:]
                    store.put_bytes(key, data.encode("utf-8"), content_type=HTML_CONTENT_TYPE)
                    rewritten += 1
                updated[key] = [digest, len(data.encode("utf-8"))]
    store.put_bytes(
        NAVIGATION_MANIFEST, json.dumps(updated, sort_keys=True).encode(), "application/json"
    )
    return rewritten


def read_text(store: ObjectStore, key: str) -> str:
    """A page of the store, as text."""
    return _read(store, key).decode("utf-8")


def _read(store: ObjectStore, key: str) -> bytes:
    stream = store.open(key)
    try:
        return stream.read()
    finally:
        stream.close()
