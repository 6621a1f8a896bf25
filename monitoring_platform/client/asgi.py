"""ASGI middleware (FastAPI, Starlette, any ASGI app): one record per model call, live metrics.

    app.add_middleware(CollectionMiddleware, model="ctr_ranker", model_version="2026.11.0")

The request and response bodies of the recorded paths are read as they pass (up to
``max_body_bytes`` each; past that the body is not parsed) and turned into the record after the
response's last byte has been sent, so the client does not wait for it. The response carries
the call's request id in ``X-Request-ID`` (the caller's own, when it sends a plain token), the
key for :func:`log_label` and :func:`log_event` later. ``/metrics`` serves the Prometheus
metrics; the lifespan's shutdown flushes the writer.
"""

from __future__ import annotations

import asyncio
import time
from typing import TYPE_CHECKING, Any

from monitoring_platform.client.calls import (
    BoundedBody,
    Call,
    RecordingMiddleware,
    _current,
    exception_text,
    parse_json,
    request_id_from,
)
from monitoring_platform.client.collector import Collector, get_collector

if TYPE_CHECKING:
    from monitoring_platform.client.metrics import LiveMetrics

REQUEST_ID_HEADER = "x-request-id"


class CollectionMiddleware(RecordingMiddleware):
    """Records the calls to ``paths``; see :class:`RecordingMiddleware` for the options.

    ``flush_timeout``: how long the lifespan's shutdown waits for the writer.
    """

    def __init__(self, app, /, *, flush_timeout: float = 30.0, **options: Any):
        super().__init__(app, **options)
        self.flush_timeout = flush_timeout

    async def __call__(self, scope, receive, send) -> None:
        kind = scope["type"]
        if kind == "http":
            path = scope.get("path", "")
            if self._wanted(path):
                await self._record(scope, receive, send)
                return
            metrics = self.metrics_at(path)
            if metrics is not None:
                await self._serve_metrics(send, metrics)
                return
        elif kind == "lifespan":
            await self.app(scope, receive, self._lifespan_send(send))
            return
        await self.app(scope, receive, send)

    def _lifespan_send(self, send):
        async def on_lifespan(message) -> None:
            if message["type"] in ("lifespan.shutdown.complete", "lifespan.shutdown.failed"):
                collector = self._collector or _configured()
                if collector is not None:
                    loop = asyncio.get_running_loop()
                    await loop.run_in_executor(None, collector.flush, self.flush_timeout)
            await send(message)

        return on_lifespan

    async def _serve_metrics(self, send, metrics: LiveMetrics) -> None:
        from monitoring_platform.client.metrics import CONTENT_TYPE

        body = metrics.exposition()
        headers = [(b"content-type", CONTENT_TYPE.encode()), (b"content-length", b"%d" % len(body))]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": body})

    async def _record(self, scope, receive, send) -> None:
        began = time.perf_counter()
        started = time.time()
        given = None
        for name, value in scope.get("headers", ()):
            if name == b"x-request-id":
                given = value
                break
        call = Call(request_id_from(given), self.model, self.model_version)
        request_body = BoundedBody(self.max_body_bytes)
        response_body = BoundedBody(self.max_body_bytes)
        status = 0
        recorded = False

        def record(error: str | None = None) -> None:
            nonlocal recorded
            recorded = True
            self.finish(
                call,
                started=started,
                began=began,
                status=status,
                request=lambda: parse_json(b"".join(request_body.parts)),
                response=lambda: parse_json(b"".join(response_body.parts)),
                error=error,
            )

        async def receive_body():
            message = await receive()
            if message["type"] == "http.request":
                request_body.add(message.get("body", b""))
            return message

        async def send_recorded(message) -> None:
            nonlocal status
            kind = message["type"]
            if kind == "http.response.start":
                status = message["status"]
                headers = list(message.get("headers", ()))
                if not any(name.lower() == b"x-request-id" for name, _ in headers):
                    headers.append((b"x-request-id", call.request_id.encode()))
                message = {**message, "headers": headers}
            elif kind == "http.response.body":
                response_body.add(message.get("body", b""))
                if not message.get("more_body", False):
                    await send(message)
                    if not recorded:
                        record()
                    return
            await send(message)

        token = _current.set(call)
        try:
            await self.app(scope, receive_body, send_recorded)
        except Exception as exc:
            if not recorded:
                status = 500
                record(exception_text(exc))
            raise
        finally:
            _current.reset(token)
            if not recorded:
                # The response never finished (the client went away): still one record.
                record("response not completed")


def _configured() -> Collector | None:
    try:
        return get_collector()
    except RuntimeError:
        return None
