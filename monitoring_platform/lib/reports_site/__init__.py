"""The reports site's index page: what it leads with, how it reads the metric store, its page.

Modules: :mod:`.headlines` (the figures led with, each model's limits), :mod:`.status` (a day's
check outcome and stale steps), :mod:`.series` (trends, quality bands, drifted columns),
:mod:`.index` (the ``index.html`` page) and :mod:`.server` (serving a reports folder).
"""

from monitoring_platform.lib.reports_site.headlines import (
    HEADLINES,
    Headline,
    ModelInfo,
    model_limits,
)
from monitoring_platform.lib.reports_site.index import INDEX_KEY, render_index
from monitoring_platform.lib.reports_site.server import reports_server
from monitoring_platform.lib.reports_site.status import STALE_NOTE

__all__ = [
    "HEADLINES",
    "INDEX_KEY",
    "STALE_NOTE",
    "Headline",
    "ModelInfo",
    "model_limits",
    "render_index",
    "reports_server",
]
