"""The collector: builds records in the platform's contracts and hands them to the writer.

One collector per process is usual: :func:`configure` makes the default one that the middleware,
:func:`log_label` and :func:`log_event` use.
"""

from __future__ import annotations

import datetime as dt
import os
import threading
import time
import uuid
from typing import TYPE_CHECKING, Any

from monitoring_platform.client.writer import BatchWriter, check_model_name, utc_iso

if TYPE_CHECKING:
    from monitoring_platform.client.metrics import LiveMetrics

MAX_ERROR_CHARS = 1000


def as_utc_iso(moment: float | dt.datetime | str | None) -> str:
    """A timestamp (epoch seconds, datetime, ISO text, or now) as ``YYYY-MM-DDTHH:MM:SS.mmmZ``.

    A naive datetime or ISO text without an offset is taken as UTC.
    """
    if moment is None:
        return utc_iso(time.time())
    if isinstance(moment, bool):
        raise TypeError(f"timestamp must be a datetime, epoch seconds or ISO 8601 text: {moment!r}")
    if isinstance(moment, int | float):
        return utc_iso(float(moment))
    if isinstance(moment, str):
        try:
            moment = dt.datetime.fromisoformat(moment)
        except ValueError:
            raise ValueError(f"timestamp is not ISO 8601: {moment!r}") from None
    if isinstance(moment, dt.datetime):
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=dt.UTC)
        return utc_iso(moment.timestamp())
    raise TypeError(f"timestamp must be a datetime, epoch seconds or ISO 8601 text: {moment!r}")


def new_request_id() -> str:
    """A new random request id (a UUID4)."""
    return str(uuid.uuid4())


def _request_id(request_id: Any) -> str:
    if not isinstance(request_id, str) or not request_id or len(request_id) > 256:
        raise ValueError(
            f"request_id must be a non-empty string of at most 256 characters: {request_id!r}"
        )
    return request_id


class Collector:
    """Records model calls, labels and business events of one service.

    ``location`` is the raw root the platform reads (``storage.raw`` of monitoring.yaml): a
    local folder or ``s3://bucket/prefix``. ``model`` and ``model_version`` are the defaults
    of the records; ``metrics`` adds Prometheus metrics (``True``: a new registry). Other
    keyword arguments tune the writer (:class:`BatchWriter`).
    """

    def __init__(
        self,
        location: str | os.PathLike[str] | None = None,
        *,
        model: str | None = None,
        model_version: str = "unknown",
        metrics: Any = True,
        writer: BatchWriter | None = None,
        **writer_options: Any,
    ):
        if writer is None:
            if location is None:
                raise ValueError("a collector needs a location (a folder or s3://bucket/prefix)")
            writer = BatchWriter(location, **writer_options)
        self.writer = writer
        self.model = check_model_name(model) if model is not None else None
        self.model_version = str(model_version)
        self.metrics: LiveMetrics | None = None
        if metrics is True:
            try:
                from monitoring_platform.client.metrics import LiveMetrics
            except ImportError:  # prometheus-client is optional
                metrics = None
            else:
                metrics = LiveMetrics()
        if metrics:
            self.metrics = metrics
            metrics.watch_writer(writer)

    def _model(self, model: str | None) -> str:
        if model is not None:
            return check_model_name(model)
        if self.model is None:
            raise ValueError("no model name: pass model=... here or to the collector")
        return self.model

    def log_call(
        self,
        *,
        features: dict | None,
        prediction: Any,
        latency_ms: float,
        status_code: int = 200,
        error: str | None = None,
        request_id: str | None = None,
        timestamp: float | dt.datetime | str | None = None,
        model: str | None = None,
        model_version: str | None = None,
    ) -> str:
        """Record one model call; returns its request id (made when not given)."""
        model = self._model(model)
        version = str(model_version) if model_version is not None else self.model_version
        request_id = _request_id(request_id) if request_id is not None else new_request_id()
        status_code = int(status_code)
        if error is not None:
            error = str(error)[:MAX_ERROR_CHARS]
        record = {
            "request_id": request_id,
            "timestamp": as_utc_iso(timestamp),
            "model_version": version,
            "features": features if features is not None else {},
            "prediction": prediction,
            "latency_ms": round(float(latency_ms), 3),
            "status_code": status_code,
            "error": error,
        }
        self.writer.put("logs", model, record)
        if self.metrics is not None:
            self.metrics.observe(model, version, status_code, latency_ms / 1000.0, prediction)
        return request_id

    def log_label(
        self,
        request_id: str,
        label: Any,
        *,
        labeled_at: float | dt.datetime | str | None = None,
        model: str | None = None,
    ) -> bool:
        """Record the ground truth of a call; it lands under the day it was labelled."""
        record = {
            "request_id": _request_id(request_id),
            "label": label,
            "labeled_at": as_utc_iso(labeled_at),
        }
        return self.writer.put("labels", self._model(model), record)

    def log_event(
        self,
        request_id: str,
        event_type: str,
        value: float | None = None,
        *,
        timestamp: float | dt.datetime | str | None = None,
        model: str | None = None,
    ) -> bool:
        """Record a business event (click, conversion, revenue) following a call."""
        if not isinstance(event_type, str) or not event_type:
            raise ValueError(f"event_type must be a non-empty string: {event_type!r}")
        record = {
            "request_id": _request_id(request_id),
            "event_type": event_type,
            "value": value,
            "timestamp": as_utc_iso(timestamp),
        }
        return self.writer.put("events", self._model(model), record)

    def flush(self, timeout: float | None = 30.0) -> bool:
        """Write everything recorded so far; ``True`` when done in time."""
        return self.writer.flush(timeout)

    def close(self, timeout: float | None = 30.0) -> bool:
        """Flush and stop the writer (also done at interpreter exit)."""
        return self.writer.close(timeout)


_default: Collector | None = None
_default_lock = threading.Lock()


def configure(location: str | os.PathLike[str] | None = None, **options: Any) -> Collector:
    """Make the process's default collector (replacing, after flushing, an earlier one).

    ``location`` defaults to ``$MONITORING_RAW``.
    """
    global _default
    location = location if location is not None else os.environ.get("MONITORING_RAW")
    if location is None:
        raise ValueError(
            "configure() needs the raw root: a folder or s3://bucket/prefix (or set MONITORING_RAW)"
        )
    collector = Collector(location, **options)
    with _default_lock:
        previous, _default = _default, collector
    if previous is not None:
        previous.close()
    return collector


def get_collector() -> Collector:
    """The default collector made by :func:`configure`."""
    if _default is None:
        raise RuntimeError(
            "no collector configured: call monitoring_platform.client.configure(location, "
            "model=...) at start-up, or pass collector=... to the middleware"
        )
    return _default


def log_call(**fields: Any) -> str:
    """Record one model call through the default collector (see :meth:`Collector.log_call`)."""
    return get_collector().log_call(**fields)


def log_label(request_id: str, label: Any, **options: Any) -> bool:
    """Record the ground truth of a call through the default collector."""
    return get_collector().log_label(request_id, label, **options)


def log_event(request_id: str, event_type: str, value: float | None = None, **options: Any) -> bool:
    """Record a business event through the default collector."""
    return get_collector().log_event(request_id, event_type, value, **options)
