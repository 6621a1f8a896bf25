"""Producing a weekly digest: gathering it from the stores, publishing its page, e-mailing it."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

from monitoring_platform.lib.database import as_date as _as_date
from monitoring_platform.lib.digest.render import (
    digest_navigation,
    render_digest_email,
    render_digest_page,
)
from monitoring_platform.lib.digest.statements import Digest, build_digest
from monitoring_platform.lib.digest.weeks import digest_key, digest_weeks, week_days
from monitoring_platform.lib.reports import (
    HTML_CONTENT_TYPE,
    NAV_END,
    NAV_START,
    navigation_html,
    parse_report_keys,
    publish_site_page,
    read_text,
    with_navigation,
)
from monitoring_platform.lib.reports_site.headlines import ModelInfo, model_limits


def model_infos(config) -> list[ModelInfo]:
    """What the digest and the index show of each configured model: name, task and limits."""
    return [ModelInfo(m.name, m.description, m.task.value, model_limits(m)) for m in config.models]


def gather_digest(config, week: str, metric_store, alert_store, reports_store) -> Digest:
    """The digest of ``week`` from the metric store, the alert outbox and the reports there."""
    models = model_infos(config)
    days = week_days(week)
    wanted = set(days) | {d - dt.timedelta(days=7) for d in days}
    checks, metrics, keys = [], [], []
    for m in models:
        checks += [
            c for c in metric_store.checks(model=m.name) if _as_date(c["partition_date"]) in wanted
        ]
        metrics += [
            r for r in metric_store.metrics(model=m.name) if _as_date(r["partition_date"]) in wanted
        ]
        keys += [o.key for o in reports_store.list(m.name + "/")]
    return build_digest(
        week, models, checks, metrics, alert_store.messages(), parse_report_keys(keys)
    )


def publish_digest(reports_store, digest: Digest) -> str:
    """Write the digest's page and refresh the bars of its neighbours; return its key.

    The week before gains a "next week", the week after a new "previous week".
    """
    weeks = sorted(set(digest_weeks(reports_store)) | {digest.week})
    key = publish_site_page(
        reports_store, digest_key(digest.week), render_digest_page(digest, weeks)
    )
    earlier = [w for w in weeks if w < digest.week]
    later = [w for w in weeks if w > digest.week]
    neighbours = ([max(earlier)] if earlier else []) + ([min(later)] if later else [])
    refresh_digest_navigation(reports_store, [m.name for m in digest.models], neighbours, weeks)
    return key


def refresh_digest_navigation(
    reports_store,
    models: Sequence[str],
    pages: Sequence[str] | None = None,
    weeks: Sequence[str] | None = None,
) -> int:
    """Rewrite the stale navigation bars of digest pages; return the number of pages rewritten.

    A page of ``pages`` (every digest when None) is rewritten when its previous or next week is
    stale given the digests of ``weeks`` (those in the store when None). A page older than the
    navigation markers is left as it is.
    """
    weeks = sorted(weeks if weeks is not None else digest_weeks(reports_store))
    rewritten = 0
    for week in weeks if pages is None else pages:
        key = digest_key(week)
        page = read_text(reports_store, key)
        nav = digest_navigation(week, weeks, models)
        start, end = page.find(NAV_START), page.find(NAV_END)
        if start < 0 or end < start or page[start + len(NAV_START) : end] == navigation_html(nav):
            continue
        data = with_navigation(page, nav).encode("utf-8")
        reports_store.put_bytes(key, data, content_type=HTML_CONTENT_TYPE)
        rewritten += 1
    return rewritten


def send_digest(config, digest: Digest, link_base: str, environ=None, timeout: float = 30) -> str:
    """E-mail the digest through the configured route; return what the server said."""
    from monitoring_platform.lib.alerting.senders import send_message

    if config.digest.route is None:
        raise ValueError(
            "no digest.route in the configuration: name an alerts route of kind email to send "
            "the digest through"
        )
    route = config.alerts.route(config.digest.route)
    to = list(config.digest.to or route.to)
    message = render_digest_email(digest, sender=route.from_address, to=to, link_base=link_base)
    return send_message(route, message, timeout=timeout, environ=environ)
