"""Arrow string columns drawn fast: ISO-8601 UTC times and random UUIDs."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pyarrow as pa

from monitoring_platform.simulation.scenario import EPOCH, MS_PER_DAY

HEX_DIGITS = np.frombuffer(b"0123456789abcdef", np.uint8)
UUID_HEX_COLUMNS = [i for i in range(36) if i not in (8, 13, 18, 23)]


def iso_utc(epoch_ms: np.ndarray) -> pa.Array:
    """``YYYY-MM-DDTHH:MM:SS.mmmZ`` for each epoch-millisecond value."""
    days, ms = np.divmod(epoch_ms, MS_PER_DAY)
    first = int(days.min())
    dates = np.array(
        [
            np.frombuffer(f"{EPOCH + dt.timedelta(days=d)}T".encode(), np.uint8)
            for d in range(first, int(days.max()) + 1)
        ]
    )
    chars = np.empty((len(epoch_ms), 24), np.uint8)
    chars[:, :11] = dates[days - first]
    fields = (
        (ms // 3_600_000, 11, 2),
        (ms // 60_000 % 60, 14, 2),
        (ms // 1000 % 60, 17, 2),
        (ms % 1000, 20, 3),
    )
    for value, start, width in fields:
        for digit in range(width):
            chars[:, start + digit] = 48 + value // 10 ** (width - 1 - digit) % 10
    chars[:, [13, 16]] = ord(":")
    chars[:, 19] = ord(".")
    chars[:, 23] = ord("Z")
    return _fixed_width_strings(chars)


def uuid4_strings(rng: np.random.Generator, n: int) -> pa.Array:
    """Random version-4 UUIDs in their canonical text form."""
    raw = rng.integers(0, 256, (n, 16), dtype=np.uint8)
    raw[:, 6] = raw[:, 6] & 0x0F | 0x40
    raw[:, 8] = raw[:, 8] & 0x3F | 0x80
    chars = np.full((n, 36), ord("-"), np.uint8)
    chars[:, UUID_HEX_COLUMNS] = HEX_DIGITS[np.stack([raw >> 4, raw & 0x0F], axis=2)].reshape(n, 32)
    return _fixed_width_strings(chars)


def _fixed_width_strings(chars: np.ndarray) -> pa.Array:
    """A string array over the rows of a 2-D byte matrix."""
    n, width = chars.shape
    offsets = np.arange(0, (n + 1) * width, width, dtype=np.int64)
    return pa.LargeStringArray.from_buffers(
        n, pa.py_buffer(offsets), pa.py_buffer(np.ascontiguousarray(chars))
    )
