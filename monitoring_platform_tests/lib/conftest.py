"""Fixtures of the library's tests: rows of the dbt marts, and a page publisher for stages."""

import pytest


def _system_row(day, version, p95, error_rate, requests=1000):
    return {
        "model_name": "shop",
        "metric_date": day,
        "model_version": version,
        "requests": requests,
        "peak_requests_per_minute": 9,
        "latency_p50_ms": p95 / 2,
        "latency_p95_ms": p95,
        "latency_p99_ms": p95 * 2,
        "server_errors": round(error_rate * requests),
        "throttled_requests": 10,
        "error_rate": error_rate,
        "throttle_rate": 10 / requests,
    }


def _business_row(day, version, predictions, clicks, conversions, revenue):
    return {
        "model_name": "shop",
        "metric_date": day,
        "model_version": version,
        "predictions": predictions,
        "clicks": clicks,
        "conversions": conversions,
        "revenue": revenue,
        "click_through_rate": clicks / predictions,
        "conversion_rate": conversions / predictions,
        "revenue_per_1k_predictions": 1000 * revenue / predictions,
    }


@pytest.fixture
def system_row():
    """A row of the system mart: ``(day, version, p95, error_rate, requests=1000)``."""
    return _system_row


@pytest.fixture
def business_row():
    """A row of the business mart: ``(day, version, predictions, clicks, conversions, revenue)``."""
    return _business_row


class _Pages:
    """Publishes pages into ``published`` and links each under a fake host."""

    def __init__(self):
        self.published = {}

    def __call__(self, name, html):
        self.published[name] = html
        return f"https://reports.test/{name}.html"


@pytest.fixture
def pages():
    """A stage's ``publish_page``: what it published is in ``pages.published``."""
    return _Pages()
