"""The weekly digest: for each model and for the fleet, the week's health in plain words.

Modules: :mod:`.weeks` (ISO weeks and page keys), :mod:`.episodes` (alerts raised and resolved),
:mod:`.statements` (the week's statements, :func:`build_digest`), :mod:`.render` (the site page
and the e-mail) and :mod:`.publish` (gathering from the stores, publishing, sending).
"""

from monitoring_platform.lib.digest.publish import (
    gather_digest,
    model_infos,
    publish_digest,
    refresh_digest_navigation,
    send_digest,
)
from monitoring_platform.lib.digest.render import render_digest_email, render_digest_page
from monitoring_platform.lib.digest.statements import Digest, ModelDigest, build_digest
from monitoring_platform.lib.digest.weeks import digest_key, digest_weeks, week_days, week_of

__all__ = [
    "Digest",
    "ModelDigest",
    "build_digest",
    "digest_key",
    "digest_weeks",
    "gather_digest",
    "model_infos",
    "publish_digest",
    "refresh_digest_navigation",
    "render_digest_email",
    "render_digest_page",
    "send_digest",
    "week_days",
    "week_of",
]
