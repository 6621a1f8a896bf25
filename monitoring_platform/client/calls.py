"""One model call as it is being served: which features and prediction it records.

The middleware and :func:`monitored` open a :class:`Call`; code serving it can reach it with
:func:`current_call` and set what to record (``annotate(features=..., prediction=...)``), which
takes precedence over what the capture hooks read from the request and response bodies.
"""

from __future__ import annotations

import contextlib
import contextvars
import functools
import inspect
import json
import logging
import re
import time
from collections.abc import Callable, Collection, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from http import HTTPStatus
from typing import TYPE_CHECKING, Any

from monitoring_platform.client.collector import Collector, get_collector, new_request_id

if TYPE_CHECKING:
    from monitoring_platform.client.metrics import LiveMetrics

UNSET: Any = object()
log = logging.getLogger("monitoring_platform.client")
_REQUEST_ID = re.compile(r"[A-Za-z0-9._:@+=-]{1,128}")


@dataclass
class Call:
    """The model call being served."""

    request_id: str
    model: str | None
    model_version: str | None
    features: Any = UNSET
    prediction: Any = UNSET
    error: str | None = None
    skip: bool = False


_current: contextvars.ContextVar[Call | None] = contextvars.ContextVar("model_call", default=None)


def current_call() -> Call | None:
    """The call being served in this context, or ``None`` outside one."""
    return _current.get()


def annotate(
    *,
    features: Mapping | None = UNSET,
    prediction: Any = UNSET,
    model_version: str | None = None,
    error: str | None = None,
    skip: bool = False,
) -> None:
    """Set what the current call records; ``skip=True`` records nothing for it."""
    call = _current.get()
    if call is None:
        raise RuntimeError("annotate() is called outside a recorded model call")
    if features is not UNSET:
        call.features = features
    if prediction is not UNSET:
        call.prediction = prediction
    if model_version is not None:
        call.model_version = str(model_version)
    if error is not None:
        call.error = error
    call.skip = call.skip or skip


def request_id_from(value: str | bytes | None) -> str:
    """The caller's request id when it is a plain token, else a new one."""
    if isinstance(value, bytes):
        value = value.decode("latin-1")
    if value and _REQUEST_ID.fullmatch(value):
        return value
    return new_request_id()


@dataclass
class Capture:
    """How a call's features and prediction are chosen.

    ``features``: ``None`` takes the request's JSON object (its ``features`` member when it has
    one); a list of names keeps those; a callable maps the parsed request to a dict.
    ``prediction``: ``None`` takes the response's ``prediction`` member (or the response when
    it is a number or text); a name takes that member; a callable maps the parsed response.
    ``redact``: names removed from the features whatever chose them.
    """

    features: Sequence[str] | Callable[[Any], Any] | None = None
    prediction: str | Callable[[Any], Any] | None = None
    redact: Collection[str] = field(default_factory=frozenset)

    def __post_init__(self):
        self.redact = frozenset(self.redact)

    def features_of(self, payload: Any) -> dict:
        if callable(self.features):
            chosen = self.features(payload)
        else:
            chosen = payload
            if isinstance(chosen, Mapping) and isinstance(chosen.get("features"), Mapping):
                chosen = chosen["features"]
            if self.features is not None and isinstance(chosen, Mapping):
                chosen = {k: chosen[k] for k in self.features if k in chosen}
        if not isinstance(chosen, Mapping):
            return {}
        return {str(k): v for k, v in chosen.items() if k not in self.redact}

    def prediction_of(self, payload: Any) -> Any:
        if callable(self.prediction):
            return self.prediction(payload)
        if isinstance(payload, Mapping):
            return payload.get(self.prediction or "prediction")
        if isinstance(payload, int | float | str) and not isinstance(payload, bool):
            return payload
        return None


def parse_json(body: bytes | None) -> Any:
    """The JSON value of a body, or ``None`` when there is none or it is not JSON."""
    if not body:
        return None
    try:
        return json.loads(body)
    except (ValueError, UnicodeDecodeError, RecursionError):
        return None


def error_text(status: int, payload: Any) -> str | None:
    """What went wrong in a failed call: the response's ``detail``/``error``, or the status."""
    if status < 400:
        return None
    if isinstance(payload, Mapping):
        for key in ("error", "detail", "message"):
            if payload.get(key):
                value = payload[key]
                return value if isinstance(value, str) else json.dumps(value, default=str)
    try:
        return HTTPStatus(status).phrase.lower()
    except ValueError:
        return f"status {status}"


def finish_call(
    collector: Collector,
    call: Call,
    capture: Capture,
    *,
    started: float,
    latency_ms: float,
    status: int,
    request: Callable[[], Any],
    response: Callable[[], Any],
    error: str | None = None,
) -> None:
    """Record a served call; ``request`` and ``response`` parse the bodies only when needed.

    A hook that fails does not fail the call or lose its record: the record is written with
    what could be had (no features, no prediction) and the hook's error, and the failure is
    logged.
    """
    if call.skip:
        return
    hook_error = None
    try:
        source = call.features if call.features is not UNSET else request()
        features = capture.features_of(source)
    except Exception as exc:
        features, hook_error = {}, _hook_failed("features", exc)
    payload = UNSET
    prediction = None
    try:
        if call.prediction is not UNSET:
            prediction = call.prediction
        elif 200 <= status < 300:
            payload = response()
            prediction = capture.prediction_of(payload)
    except Exception as exc:
        hook_error = hook_error or _hook_failed("prediction", exc)
    if error is None:
        error = call.error or hook_error
    if error is None and status >= 400:
        error = error_text(status, response() if payload is UNSET else payload)
    collector.log_call(
        features=features,
        prediction=prediction,
        latency_ms=latency_ms,
        status_code=status,
        error=error,
        request_id=call.request_id,
        timestamp=started,
        model=call.model,
        model_version=call.model_version,
    )


def exception_text(exc: BaseException) -> str:
    """How a call that raised is recorded: the exception's type and message."""
    return f"{type(exc).__name__}: {exc}"


class BoundedBody:
    """A body's chunks as they pass, kept while they total at most ``limit`` bytes.

    Past the limit nothing is kept (the body is not parsed): a large body costs no memory.
    """

    def __init__(self, limit: int):
        self.limit = limit
        self.parts: list[bytes] = []
        self.size = 0  # bytes seen; -1 past the limit

    def add(self, chunk: bytes) -> None:
        """Keep ``chunk`` unless the body has gone past the limit or goes past it now."""
        if self.size < 0 or not chunk:
            return
        self.size += len(chunk)
        if self.size > self.limit:
            self.size = -1
            self.parts.clear()
        else:
            self.parts.append(chunk)


def _hook_failed(which: str, exc: Exception) -> str:
    log.warning("choosing the %s of a model call failed", which, exc_info=exc)
    return f"recording the {which} failed: {type(exc).__name__}"


class RecordingMiddleware:
    """What the ASGI and WSGI middleware share: which paths are model calls, and how to record.

    ``paths``: exact paths, or a predicate on the path. ``features``, ``prediction`` and
    ``redact`` choose what is recorded (:class:`Capture`). ``collector`` defaults to the one
    :func:`configure` made; ``model`` and ``model_version`` to the collector's.
    """

    def __init__(
        self,
        app,
        *,
        collector: Collector | None = None,
        model: str | None = None,
        model_version: str | None = None,
        paths: Collection[str] | Callable[[str], bool] = ("/predict",),
        features: Sequence[str] | Callable[[Any], Any] | None = None,
        prediction: str | Callable[[Any], Any] | None = None,
        redact: Collection[str] = (),
        metrics_path: str | None = "/metrics",
        max_body_bytes: int = 1 << 20,
    ):
        self.app = app
        self._collector = collector
        self.model = model
        self.model_version = model_version
        self._wanted = paths if callable(paths) else frozenset(paths).__contains__
        self.capture = Capture(features, prediction, redact)
        self.metrics_path = metrics_path
        self.max_body_bytes = max_body_bytes

    @property
    def collector(self) -> Collector:
        return self._collector or get_collector()

    def metrics_at(self, path: str) -> LiveMetrics | None:
        """The collector's metrics when ``path`` is where they are served, else None."""
        return self.collector.metrics if path == self.metrics_path else None

    def finish(self, call: Call, *, began: float, status: int, **recorded: Any) -> None:
        """Record ``call``, served since ``began`` (``perf_counter``); no status sent is a 500.

        ``recorded``: :func:`finish_call`'s ``started``, ``request``, ``response`` and ``error``.
        """
        latency_ms = (time.perf_counter() - began) * 1000.0
        finish_call(
            self.collector,
            call,
            self.capture,
            latency_ms=latency_ms,
            status=status or 500,
            **recorded,
        )


@dataclass
class _Outcome:
    """What a function recorded by :func:`monitored` returned, once it has."""

    result: Any = None


def monitored(
    model: str | None = None,
    *,
    model_version: str | None = None,
    collector: Collector | None = None,
    features: Callable[..., Any] | None = None,
    prediction: Callable[[Any], Any] | None = None,
    redact: Collection[str] = (),
):
    """Record every call of the decorated function (sync or async) as one model call.

    ``features(*args, **kwargs)`` chooses the features (default: the first positional argument
    when it is a mapping, else the keyword arguments); ``prediction(result)`` the prediction
    (default: the result). An exception is recorded with status 500, then raised again.
    """
    capture = Capture(redact=redact)

    def choose_features(args, kwargs):
        if features is not None:
            return features(*args, **kwargs)
        if args and isinstance(args[0], Mapping):
            return args[0]
        return kwargs

    def decorate(fn):
        def close_call(call, token, started, began, args, kwargs, result, exc) -> None:
            _current.reset(token)
            latency_ms = (time.perf_counter() - began) * 1000.0
            if exc is not None:
                status, error = 500, exception_text(exc)
            else:
                status, error = 200, None
            finish_call(
                collector or get_collector(),
                call,
                capture,
                started=started,
                latency_ms=latency_ms,
                status=status,
                request=lambda: choose_features(args, kwargs),
                response=lambda: result,
                error=error,
            )

        @contextlib.contextmanager
        def one_call(args, kwargs) -> Iterator[_Outcome]:
            """A call current while the body runs, then recorded with its result or exception."""
            call = Call(new_request_id(), model, model_version)
            token, started, began = _current.set(call), time.time(), time.perf_counter()
            outcome = _Outcome()
            try:
                yield outcome
            except Exception as exc:
                close_call(call, token, started, began, args, kwargs, None, exc)
                raise
            close_call(call, token, started, began, args, kwargs, outcome.result, None)

        if prediction is not None:
            capture.prediction = prediction
        else:
            capture.prediction = lambda result: result

        if inspect.iscoroutinefunction(fn):

            @functools.wraps(fn)
            async def run_async(*args, **kwargs):
                with one_call(args, kwargs) as outcome:
                    outcome.result = await fn(*args, **kwargs)
                return outcome.result

            return run_async

        @functools.wraps(fn)
        def run(*args, **kwargs):
            with one_call(args, kwargs) as outcome:
                outcome.result = fn(*args, **kwargs)
            return outcome.result

        return run

    return decorate
