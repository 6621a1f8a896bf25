"""Report pages published from a step: written to the reports store, linked for Dagster."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable

from monitoring_platform.defs.resources import StorageResource
from monitoring_platform.lib.reports import publish_page


def page_publisher(storage: StorageResource, model: str, day: dt.date) -> Callable[[str, str], str]:
    """A function that publishes a model-day's report page by name and returns its URL."""
    reports = storage.reports_store()

    def publish(name: str, page: str) -> str:
        return storage.report_link(reports, publish_page(reports, model, day, name, page))

    return publish
