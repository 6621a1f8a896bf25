"""The background writer: batches records in memory and writes gzip JSON Lines objects.

``put`` serialises the record to one JSON line on the caller's thread (tens of microseconds) and
appends it to a bounded queue: it never blocks on storage and never lets the queue grow past
``max_queue`` records or ``max_queue_bytes``; a record that does not fit is dropped and counted.
A single background thread takes the queue over in one swap, appends the lines to one open batch
per (kind, model, day), compresses them in large pieces (zlib lets other threads run meanwhile,
so the thread rarely competes with request handling for the interpreter), and finishes a batch
into an object when it reaches ``max_batch_bytes`` of JSON or ``max_batch_age`` seconds. Object keys follow the layout the platform ingests::

    <kind>/<model>/dt=YYYY-MM-DD/<prefix>-<UTC time>-<host>-<pid>-<token>-<seq>.jsonl.gz

with the day taken from the record's own timestamp (UTC). An upload that fails is retried with
backoff; one that still fails is written to a local spill folder and sent again later (also by
the next process that uses the same spill folder), so nothing accepted vanishes while the disk
holds. The spill folder is bounded too: past ``max_spill_bytes`` objects are dropped and counted.

What a crash (``kill -9``) loses: the records in the queue and in the open batches, that is at
most the last ``max_batch_age`` seconds of records (or one ``max_batch_bytes`` batch) per open
partition. Everything finished before is in storage or in the spill folder.
"""

from __future__ import annotations

import atexit
import datetime as dt
import json
import math
import os
import re
import secrets
import socket
import tempfile
import threading
import time
import weakref
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from monitoring_platform.client.sinks import Sink, open_sink

KINDS = ("logs", "labels", "events")
# The record field whose UTC day names the partition.
TIME_FIELD = {"logs": "timestamp", "labels": "labeled_at", "events": "timestamp"}
OBJECT_PREFIX = {"logs": "part", "labels": "labels", "events": "events"}
MODEL_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,127}")
_DAY = re.compile(r"\d{4}-\d{2}-\d{2}")
COMPRESS_BYTES = 256 << 10
POLL_SECONDS = 0.05


@dataclass
class WriterStats:
    """Counts since the writer started; ``dropped`` is by reason."""

    accepted: int = 0
    written_records: int = 0
    written_objects: int = 0
    upload_failures: int = 0
    spilled_objects: int = 0
    resent_objects: int = 0
    dropped: dict[str, int] = field(default_factory=dict)

    @property
    def dropped_total(self) -> int:
        return sum(self.dropped.values())


class _Batch:
    """One open object: its lines, compressed in pieces of ``COMPRESS_BYTES``."""

    __slots__ = ("compressor", "parts", "lines", "buffered", "raw_bytes", "records", "opened")

    def __init__(self, level: int):
        self.compressor = zlib.compressobj(level, zlib.DEFLATED, 31)  # 31: a gzip stream
        self.parts: list[bytes] = []
        self.lines: list[bytes] = []
        self.buffered = 0
        self.raw_bytes = 0
        self.records = 0
        self.opened = time.monotonic()

    def add(self, line: bytes) -> None:
        self.lines.append(line)
        self.buffered += len(line)
        self.raw_bytes += len(line)
        self.records += 1
        if self.buffered >= COMPRESS_BYTES:
            self._compress()

    def _compress(self) -> None:
        out = self.compressor.compress(b"".join(self.lines))
        if out:
            self.parts.append(out)
        self.lines, self.buffered = [], 0

    def finish(self) -> bytes:
        self._compress()
        self.parts.append(self.compressor.flush())
        return b"".join(self.parts)


def utc_iso(epoch_seconds: float) -> str:
    """``YYYY-MM-DDTHH:MM:SS.mmmZ``, the timestamp form of the record contracts."""
    moment = dt.datetime.fromtimestamp(epoch_seconds, dt.UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def check_model_name(model: str) -> str:
    """``model`` if it is safe as one folder name of the layout; else a clear error."""
    if not isinstance(model, str) or not MODEL_NAME.fullmatch(model):
        raise ValueError(
            f"model name {model!r} must be 1-128 letters, digits, '_', '.' or '-', "
            "starting with a letter or digit (it names a folder of the log layout)"
        )
    return model


def _finite(value: Any) -> Any:
    """``value`` with NaN and infinities replaced by null, which JSON can carry."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_finite(v) for v in value]
    return value


def _json_default(value: Any) -> Any:
    if hasattr(value, "item") and callable(value.item):  # numpy scalars
        return value.item()
    if hasattr(value, "tolist") and callable(value.tolist):  # numpy arrays
        return value.tolist()
    if isinstance(value, dt.datetime | dt.date):
        return value.isoformat()
    return str(value)


def encode_record(record: dict) -> bytes:
    """One JSON line; values JSON cannot carry become null (NaN) or text (anything unknown)."""
    try:
        text = json.dumps(record, separators=(",", ":"), default=_json_default, allow_nan=False)
    except ValueError:
        # NaN or infinity somewhere (maybe inside a numpy value): make them null.
        plain = json.loads(json.dumps(record, default=_json_default))
        text = json.dumps(_finite(plain), separators=(",", ":"))
    return text.encode() + b"\n"


def default_spill_dir(location: str) -> Path:
    """A spill folder per destination, shared by the processes that write there."""
    import hashlib

    digest = hashlib.sha256(location.encode()).hexdigest()[:16]
    return Path(tempfile.gettempdir()) / "monitoring-platform-spill" / digest


_LIVE_WRITERS: weakref.WeakSet[BatchWriter] = weakref.WeakSet()


def _close_all_at_exit() -> None:
    for writer in list(_LIVE_WRITERS):
        writer.close(timeout=writer.exit_timeout)


def _after_fork_in_child() -> None:
    for writer in list(_LIVE_WRITERS):
        writer._reset_after_fork()


atexit.register(_close_all_at_exit)
if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)


class BatchWriter:
    """Writes records of the three contracts into ``location`` off the caller's thread.

    ``location`` is the raw root: a local folder or ``s3://bucket/prefix``; objects go under
    ``logs/``, ``labels/`` and ``events/`` of it.
    """

    _closed: bool
    _deadline: float | None
    _thread: threading.Thread

    def __init__(
        self,
        location: str | os.PathLike[str],
        *,
        sink: Sink | None = None,
        client_factory: Callable | None = None,
        max_queue: int = 20_000,
        max_queue_bytes: int = 32 << 20,
        max_record_bytes: int = 1 << 20,
        max_batch_bytes: int = 8 << 20,
        max_batch_age: float = 60.0,
        spill_dir: str | os.PathLike[str] | None = None,
        max_spill_bytes: int = 1 << 30,
        upload_attempts: int = 3,
        retry_backoff: float = 0.5,
        resend_interval: float = 5.0,
        compression_level: int = 1,
        exit_timeout: float = 10.0,
    ):
        self.sink = sink or open_sink(location, client_factory)
        self.location = self.sink.location
        self.max_queue = max_queue
        self.max_queue_bytes = max_queue_bytes
        self.max_record_bytes = max_record_bytes
        self.max_batch_bytes = max_batch_bytes
        self.max_batch_age = max_batch_age
        self.spill_dir = Path(spill_dir) if spill_dir else default_spill_dir(self.location)
        self.max_spill_bytes = max_spill_bytes
        self.upload_attempts = max(1, upload_attempts)
        self.retry_backoff = retry_backoff
        self.resend_interval = resend_interval
        self.compression_level = compression_level
        self.exit_timeout = exit_timeout
        self.stats = WriterStats()
        self._host = re.sub(r"[^A-Za-z0-9-]", "-", socket.gethostname())[:40] or "host"
        self._start()
        _LIVE_WRITERS.add(self)

    # -- the caller's side -------------------------------------------------------------------

    def put(self, kind: str, model: str, record: dict) -> bool:
        """Hand one record over; ``False`` when it was dropped (and counted).

        Serialises the record here; never waits for storage.
        """
        if self._closed:
            self._drop("writer closed")
            return False
        try:
            line = encode_record(record)
        except Exception:  # a value that cannot be written at all (a cycle)
            self._drop("not serialisable")
            return False
        if len(line) > self.max_record_bytes:
            self._drop("record too large")
            return False
        stamp = record.get(TIME_FIELD[kind])
        day = stamp[:10] if isinstance(stamp, str) and _DAY.match(stamp[:10]) else None
        day = day or dt.datetime.now(dt.UTC).date().isoformat()
        with self._lock:
            if (
                len(self._pending) >= self.max_queue
                or self._pending_bytes + len(line) > self.max_queue_bytes
            ):
                self.stats.dropped["queue full"] = self.stats.dropped.get("queue full", 0) + 1
                return False
            self._pending.append((kind, model, day, line))
            self._pending_bytes += len(line)
        return True

    def queued(self) -> int:
        return len(self._pending)

    def flush(self, timeout: float | None = 30.0) -> bool:
        """Write every record handed over before this call; ``True`` when done in time."""
        with self._cond:
            self._flush_requested += 1
            wanted = self._flush_requested
        self._wake()
        with self._cond:
            return self._cond.wait_for(lambda: self._flushed >= wanted, timeout)

    def close(self, timeout: float | None = 30.0) -> bool:
        """Flush, then stop the thread; later records are dropped and counted."""
        if self._closed:
            return True
        self._deadline = time.monotonic() + (timeout if timeout is not None else 1e9)
        done = self.flush(timeout)
        self._closed = True
        self._stop.set()
        self._wake()
        self._thread.join(max(0.0, self._deadline - time.monotonic()))
        _LIVE_WRITERS.discard(self)
        return done

    def _drop(self, reason: str, count: int = 1) -> None:
        with self._lock:
            self.stats.dropped[reason] = self.stats.dropped.get(reason, 0) + count

    def _wake(self) -> None:
        self._wakeup.set()

    # -- lifecycle ---------------------------------------------------------------------------

    def _start(self) -> None:
        self._lock = threading.Lock()  # guards the queue and the drop counts
        self._pending: list[tuple[str, str, str, bytes]] = []
        self._pending_bytes = 0
        self._wakeup = threading.Event()
        self._batches: dict[tuple[str, str, str], _Batch] = {}
        self._cond = threading.Condition()
        self._flush_requested = 0
        self._flushed = 0
        self._stop = threading.Event()
        self._closed = False
        self._deadline = None
        self._token = secrets.token_hex(4)
        self._pid = os.getpid()
        self._seq = 0
        self._next_resend = 0.0
        self._resend_delay = self.resend_interval
        self._thread = threading.Thread(target=self._run, name="monitoring-writer", daemon=True)
        self._thread.start()

    def _reset_after_fork(self) -> None:
        # A forked worker (gunicorn, uWSGI) has no writer thread: it gets its own, and its own
        # names; the parent's queued records stay the parent's.
        self.stats = WriterStats()
        self._start()

    # -- the writer thread -------------------------------------------------------------------

    def _run(self) -> None:
        while True:
            self._wakeup.wait(POLL_SECONDS)
            self._wakeup.clear()
            self._take_queue()
            self._rotate_old()
            if self._flush_requested > self._flushed:
                self._flush_now()
            if time.monotonic() >= self._next_resend:
                self._resend_spilled()
            if self._stop.is_set() and self._flush_requested <= self._flushed:
                return

    def _take_queue(self) -> None:
        with self._lock:
            items, self._pending, self._pending_bytes = self._pending, [], 0
        for kind, model, day, line in items:
            key = (kind, model, day)
            batch = self._batches.get(key)
            if batch is None:
                batch = self._batches[key] = _Batch(self.compression_level)
            batch.add(line)
            self.stats.accepted += 1
            if batch.raw_bytes >= self.max_batch_bytes:
                self._finish(key)

    def _rotate_old(self) -> None:
        now = time.monotonic()
        for key in [k for k, b in self._batches.items() if now - b.opened >= self.max_batch_age]:
            self._finish(key)

    def _flush_now(self) -> None:
        wanted = self._flush_requested
        self._take_queue()
        for key in list(self._batches):
            self._finish(key)
        self._resend_spilled()
        with self._cond:
            self._flushed = max(self._flushed, wanted)
            self._cond.notify_all()

    def _object_key(self, kind: str, model: str, day: str) -> str:
        self._seq += 1
        stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%S")
        name = (
            f"{OBJECT_PREFIX[kind]}-{stamp}-{self._host}-{self._pid}-{self._token}"
            f"-{self._seq:06d}.jsonl.gz"
        )
        return f"{kind}/{model}/dt={day}/{name}"

    def _finish(self, key: tuple[str, str, str]) -> None:
        batch = self._batches.pop(key)
        kind, model, day = key
        data = batch.finish()
        object_key = self._object_key(kind, model, day)
        if self._upload(object_key, data):
            self.stats.written_records += batch.records
            self.stats.written_objects += 1
        else:
            self._spill(object_key, data, batch.records)

    def _upload(self, key: str, data: bytes) -> bool:
        delay = self.retry_backoff
        for attempt in range(self.upload_attempts):
            try:
                self.sink.put(key, data)
                self._resend_delay = self.resend_interval
                return True
            except Exception:
                self.stats.upload_failures += 1
                if attempt + 1 == self.upload_attempts or self._past_deadline():
                    return False
                time.sleep(delay)
                delay *= 2
        return False

    def _past_deadline(self) -> bool:
        return self._deadline is not None and time.monotonic() >= self._deadline

    def _spill_size(self) -> int:
        return sum(p.stat().st_size for p in self.spill_dir.rglob("*.jsonl.gz") if p.is_file())

    def _spill(self, key: str, data: bytes, records: int) -> None:
        try:
            if self._spill_size() + len(data) > self.max_spill_bytes:
                self._drop("spill folder full", records)
                return
            path = self.spill_dir / key
            path.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(prefix=".tmp-", dir=path.parent)
            with os.fdopen(fd, "wb") as fh:
                fh.write(data)
            os.replace(tmp, path)
        except OSError:
            self._drop("spill failed", records)
            return
        self.stats.spilled_objects += 1
        self._next_resend = time.monotonic() + self._resend_delay

    def _resend_spilled(self) -> None:
        """Send the spilled objects again, oldest first; stop at the first failure."""
        self._next_resend = time.monotonic() + self._resend_delay
        if not self.spill_dir.is_dir():
            return
        paths = sorted(
            (p for p in self.spill_dir.rglob("*.jsonl.gz") if not p.name.startswith(".tmp-")),
            key=lambda p: p.stat().st_mtime,
        )
        for path in paths:
            key = path.relative_to(self.spill_dir).as_posix()
            try:
                data = path.read_bytes()
            except FileNotFoundError:  # another process sent it
                continue
            try:
                self.sink.put(key, data)
            except Exception:
                self.stats.upload_failures += 1
                self._resend_delay = min(self._resend_delay * 2, 300.0)
                self._next_resend = time.monotonic() + self._resend_delay
                return
            path.unlink(missing_ok=True)
            self.stats.resent_objects += 1
            self.stats.written_objects += 1
            self.stats.written_records += zlib.decompress(data, 31).count(b"\n")
            if self._past_deadline():
                return
        self._resend_delay = self.resend_interval
