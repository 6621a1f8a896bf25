"""The weekly digest as a page of the reports site and as an e-mail with a plain-text part."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from email.message import EmailMessage
from email.utils import formatdate, make_msgid
from typing import Any

from monitoring_platform.lib.digest.statements import Digest
from monitoring_platform.lib.digest.weeks import week_of
from monitoring_platform.lib.html import render, site_css
from monitoring_platform.lib.reports import Navigation, NavLink


def _context(digest: Digest, link_base: str) -> dict[str, Any]:
    previous = week_of(digest.days[0] - dt.timedelta(days=7))
    following = week_of(digest.days[0] + dt.timedelta(days=7))
    return {
        "title": digest.title,
        "heading": f"Weekly digest for {digest.week} ({digest.days[0]} to {digest.days[-1]})",
        "digest": digest,
        "link_base": link_base,
        "previous_week": previous,
        "next_week": following,
    }


def digest_navigation(week: str, weeks: Sequence[str], models: Sequence[str]) -> Navigation:
    """The navigation bar of ``week``'s digest page.

    It links the neighbouring digests among ``weeks`` (those that exist) and the models on the
    index.
    """
    earlier = [w for w in weeks if w < week]
    later = [w for w in weeks if w > week]
    return Navigation(
        root="../",
        previous=NavLink(f"previous week {max(earlier)}", f"{max(earlier)}.html")
        if earlier
        else None,
        next=NavLink(f"next week {min(later)}", f"{min(later)}.html") if later else None,
        extra=tuple(NavLink(name, f"../index.html#model-{name}") for name in models),
    )


def render_digest_page(digest: Digest, weeks: Sequence[str] = ()) -> str:
    """The digest as a page of the site (``digest/<week>.html``).

    ``weeks`` are the digests that exist, for the previous/next links.
    """
    nav = digest_navigation(digest.week, weeks, [m.name for m in digest.models])
    return render("digest.html", nav=nav, **_context(digest, "../"))


def render_digest_email(
    digest: Digest, *, sender: str, to: Sequence[str], link_base: str
) -> EmailMessage:
    """The digest as an e-mail: a plain-text part and an HTML part.

    The HTML part has inline style and absolute links under ``link_base``, the reports site's
    address.
    """
    base = link_base.rstrip("/") + "/"
    context = _context(digest, base)
    message = EmailMessage()
    message["Subject"] = f"Model monitoring: {digest.title}"
    message["From"] = sender
    message["To"] = ", ".join(to)
    message["Date"] = formatdate(usegmt=True)
    message["Message-ID"] = make_msgid(idstring=f"digest-{digest.week}")
    message.set_content(render("digest.txt", **context))
    html = render(
        "digest.html", nav=Navigation(root=base), inline_css=site_css(), email=True, **context
    )
    message.add_alternative(html, subtype="html")
    return message


# -- producing one -------------------------------------------------------------------------
