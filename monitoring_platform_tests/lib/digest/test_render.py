"""The digest's navigation bar, and its e-mail's headers, parts and absolute links."""

import email.policy
from email import message_from_bytes

from monitoring_platform.lib.digest.render import digest_navigation, render_digest_email
from monitoring_platform.lib.digest.statements import Digest, ModelDigest, Statement
from monitoring_platform.lib.digest.weeks import week_days


def test_the_bar_links_the_nearest_existing_weeks_and_the_models():
    weeks = ["2026-W40", "2026-W45", "2026-W47", "2026-W50"]
    nav = digest_navigation("2026-W47", weeks, ["a", "b"])
    assert nav.root == "../"
    assert (nav.previous.label, nav.previous.href) == ("previous week 2026-W45", "2026-W45.html")
    assert (nav.next.label, nav.next.href) == ("next week 2026-W50", "2026-W50.html")
    assert [(x.label, x.href) for x in nav.extra] == [
        ("a", "../index.html#model-a"),
        ("b", "../index.html#model-b"),
    ]
    alone = digest_navigation("2026-W40", ["2026-W40"], [])
    assert alone.previous is None and alone.next is None


def test_the_email_has_a_plain_and_an_html_part_with_absolute_links():
    link = ("Tue 17 Nov", "m/2026-11-17/data_drift.html")
    model = ModelDigest("m", "", "warn", "Worth a look.", 7, 21, 1, 0, 0)
    model.statements.append(Statement("The input data differed.", "warn", [link]))
    digest = Digest("2026-W47", week_days("2026-W47"), [model], [Statement("Fleet.", "ok")])
    sent = render_digest_email(
        digest,
        sender="from@example.org",
        to=["a@example.org", "b@example.org"],
        link_base="https://reports.example.org/site",
    )
    msg = message_from_bytes(sent.as_bytes(), policy=email.policy.default)
    assert msg["To"] == "a@example.org, b@example.org" and msg["From"] == "from@example.org"
    assert msg["Subject"] == f"Model monitoring: {digest.title}"
    plain = msg.get_body(("plain",)).get_content()
    html = msg.get_body(("html",)).get_content()
    url = "https://reports.example.org/site/m/2026-11-17/data_drift.html"
    assert "The input data differed." in plain and f"<{url}>" in plain
    assert f'href="{url}"' in html and "<style>" in html
