"""WSGI middleware (Flask, Django, any WSGI app): one record per model call, live metrics.

    app.wsgi_app = WSGICollectionMiddleware(app.wsgi_app, model="ctr_ranker", model_version="1")

The request body of a recorded path is read once and handed on to the app unchanged; the
response is recorded when the server closes it (after its last byte was sent).
"""

from __future__ import annotations

import io
import time
from collections.abc import Iterable

from monitoring_platform.client.calls import (
    BoundedBody,
    Call,
    RecordingMiddleware,
    _current,
    exception_text,
    parse_json,
    request_id_from,
)


class WSGICollectionMiddleware(RecordingMiddleware):
    """Records the calls to ``paths``; see :class:`RecordingMiddleware` for the options."""

    def __call__(self, environ, start_response) -> Iterable[bytes]:
        path = environ.get("PATH_INFO", "")
        if self._wanted(path):
            return self._record(environ, start_response)
        metrics = self.metrics_at(path)
        if metrics is not None:
            from monitoring_platform.client.metrics import CONTENT_TYPE

            body = metrics.exposition()
            start_response(
                "200 OK", [("Content-Type", CONTENT_TYPE), ("Content-Length", str(len(body)))]
            )
            return [body]
        return self.app(environ, start_response)

    def _record(self, environ, start_response) -> Iterable[bytes]:
        began = time.perf_counter()
        started = time.time()
        call = Call(
            request_id_from(environ.get("HTTP_X_REQUEST_ID")), self.model, self.model_version
        )
        try:
            length = int(environ.get("CONTENT_LENGTH") or 0)
        except ValueError:
            length = 0
        request_body = b""
        if length > 0:
            # Read once, handed on unchanged. A body without a length (chunked) is left to the
            # app, unread: its features come from annotate() or a hook.
            body = environ["wsgi.input"].read(length)
            environ["wsgi.input"] = io.BytesIO(body)
            if len(body) <= self.max_body_bytes:
                request_body = body
        state = {"status": 0}

        def start_recorded(status: str, headers, exc_info=None):
            state["status"] = int(status.split(" ", 1)[0])
            if not any(name.lower() == "x-request-id" for name, _ in headers):
                headers = [*headers, ("X-Request-ID", call.request_id)]
            return start_response(status, headers, exc_info)

        def record(response_parts: list[bytes], error: str | None) -> None:
            self.finish(
                call,
                started=started,
                began=began,
                status=state["status"],
                request=lambda: parse_json(request_body),
                response=lambda: parse_json(b"".join(response_parts)),
                error=error,
            )

        token = _current.set(call)
        try:
            result = self.app(environ, start_recorded)
        except Exception as exc:
            _current.reset(token)
            state["status"] = 500
            record([], exception_text(exc))
            raise
        _current.reset(token)
        return _RecordedBody(result, self.max_body_bytes, record)


class _RecordedBody:
    """The app's response, passed through; recorded when the server closes it."""

    def __init__(self, result: Iterable[bytes], limit: int, record):
        self._result = result
        self._record = record
        self._body = BoundedBody(limit)
        self._error: str | None = None
        self._done = False

    def __iter__(self):
        try:
            for chunk in self._result:
                self._body.add(chunk)
                yield chunk
        except Exception as exc:
            self._error = exception_text(exc)
            raise

    def close(self) -> None:
        try:
            close = getattr(self._result, "close", None)
            if close is not None:
                close()
        finally:
            if not self._done:
                self._done = True
                self._record(self._body.parts, self._error)
