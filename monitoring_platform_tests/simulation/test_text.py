"""Fast string columns of the simulation: ISO-8601 UTC times and version-4 UUIDs."""

from __future__ import annotations

import datetime as dt
import uuid

import numpy as np

from monitoring_platform.simulation.text import iso_utc, uuid4_strings


def test_times_are_written_as_datetime_writes_them():
    rng = np.random.default_rng(3)
    start = int(dt.datetime(2025, 12, 30, tzinfo=dt.UTC).timestamp() * 1000)
    epoch_ms = np.sort(rng.integers(start, start + 5 * 86_400_000, 2000))
    epoch_ms[:3] = [start, start + 86_400_000 - 1, start + 999]
    expected = [
        dt.datetime.fromtimestamp(ms / 1000, dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.")
        + f"{ms % 1000:03d}Z"
        for ms in epoch_ms.tolist()
    ]
    assert iso_utc(epoch_ms).to_pylist() == expected


def test_uuids_are_canonical_version_4_and_distinct():
    values = uuid4_strings(np.random.default_rng(5), 5000).to_pylist()
    parsed = [uuid.UUID(v) for v in values]
    assert all(str(u) == v for u, v in zip(parsed, values, strict=True))
    assert {u.version for u in parsed} == {4}
    assert {u.variant for u in parsed} == {uuid.RFC_4122}
    assert len(set(values)) == len(values)


def test_the_same_generator_state_gives_the_same_uuids():
    first = uuid4_strings(np.random.default_rng(9), 10).to_pylist()
    assert uuid4_strings(np.random.default_rng(9), 10).to_pylist() == first
    assert uuid4_strings(np.random.default_rng(10), 10).to_pylist() != first
