"""Collection client: log model calls, labels and business events from a web service.

Importable without Dagster or the platform's data stack: it needs only the standard library,
``boto3`` for S3 and ``prometheus-client`` for live metrics. Records are written in the
platform's contracts, into the layout it ingests (``<raw>/logs/<model>/dt=YYYY-MM-DD/...``).

    from monitoring_platform import client
    client.configure("s3://bucket/raw", model="ctr_ranker", model_version="2026.11.0")
    app.add_middleware(client.CollectionMiddleware)          # FastAPI / Starlette
    client.log_label(request_id, 1)                          # ground truth, later
    client.log_event(request_id, "click", 1.0)               # business events
"""

from monitoring_platform.client.asgi import CollectionMiddleware
from monitoring_platform.client.calls import Call, annotate, current_call, monitored
from monitoring_platform.client.collector import (
    Collector,
    configure,
    get_collector,
    log_call,
    log_event,
    log_label,
)
from monitoring_platform.client.writer import BatchWriter, WriterStats
from monitoring_platform.client.wsgi import WSGICollectionMiddleware

__all__ = [
    "BatchWriter",
    "Call",
    "CollectionMiddleware",
    "Collector",
    "WSGICollectionMiddleware",
    "WriterStats",
    "annotate",
    "configure",
    "current_call",
    "get_collector",
    "log_call",
    "log_event",
    "log_label",
    "monitored",
]
