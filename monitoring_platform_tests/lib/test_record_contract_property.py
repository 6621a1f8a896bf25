"""A property of the record contract: whatever bytes arrive, in whatever objects and compression,
rows in = accepted + quarantined, ingestion does not crash, and no accepted value breaks a later
stage (the label join, a PostgreSQL warehouse load, HTML).

CI runs a fixed, bounded set of examples. For a longer local search::

    MONITORING_HYPOTHESIS_PROFILE=long .venv/bin/pytest \
        monitoring_platform_tests/lib/test_record_contract_property.py
"""

import datetime as dt
import gzip
import json
import math
import os
import shutil
import tempfile
from pathlib import Path

import pandas as pd
import pyarrow.parquet as pq
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from monitoring_platform.config import parse_config
from monitoring_platform.lib.html import escape
from monitoring_platform.lib.ingest import ingest_partition
from monitoring_platform.lib.performance import join_labels
from monitoring_platform.lib.storage import LocalObjectStore
from monitoring_platform.lib.warehouse import PostgresWarehouse, inference_rows

_SLOW_OK = [HealthCheck.function_scoped_fixture, HealthCheck.too_slow, HealthCheck.data_too_large]
settings.register_profile(
    "ci", max_examples=40, derandomize=True, deadline=None, suppress_health_check=_SLOW_OK
)
settings.register_profile(
    "long", max_examples=3000, deadline=None, suppress_health_check=_SLOW_OK, print_blob=True
)
PROFILE = os.environ.get("MONITORING_HYPOTHESIS_PROFILE", "ci")

DAY = "2026-11-20"
MODEL = parse_config(
    """
models:
  - name: shop
    task: binary_classification
    features:
      - {name: country, type: categorical}
      - {name: price, type: numerical}
      - {name: discount, type: numerical, optional: true}
"""
).models[0]

NASTY_TEXT = [
    "\u0000",
    "a\u0000b",
    "\u202eevil",
    "\u2028",
    "<script>alert(1)</script>",
    "'; DROP TABLE t; --",
    "../../etc/passwd",
    "\\",
    '"',
    "\r",
    "\ufeff",
    "\U0001f4a9",
]
NUMBER_TOKENS = ["NaN", "Infinity", "-Infinity", "1e999", "-1e999", "-0", "1E-400", "0", "12.5"]

strings = st.one_of(st.text(max_size=12), st.sampled_from(NASTY_TEXT))
json_string = strings.map(lambda s: json.dumps(s, ensure_ascii=False))
json_number = st.one_of(
    st.sampled_from(NUMBER_TOKENS),
    st.floats(allow_nan=False, allow_infinity=False).map(json.dumps),
    st.integers(-(10**20), 10**20).map(str),
)
json_value = st.one_of(
    json_string, json_number, st.sampled_from(["null", "true", "[]", "{}", '{"a": 1}'])
)


@st.composite
def record_lines(draw) -> bytes:
    """A record close to the contract: each field right, wrong, missing or repeated."""
    ok = {
        "request_id": json.dumps(f"r{draw(st.integers(0, 30))}"),
        "timestamp": json.dumps(f"{DAY}T10:00:00Z"),
        "model_version": json.dumps("v1"),
        "prediction": "0.5",
        "latency_ms": "10",
        "status_code": draw(st.sampled_from(["200", "503"])),
    }
    fields = []
    for key, good in ok.items():
        choice = draw(st.sampled_from(["good", "good", "good", "other", "missing", "twice"]))
        if choice == "missing":
            continue
        value = good if choice == "good" else draw(json_value)
        fields.append((key, value))
        if choice == "twice":
            fields.append((key, draw(json_value)))
    features = [
        ("country", draw(st.one_of(json_string, json_value))),
        ("price", draw(st.one_of(json_number, json_value))),
    ]
    if draw(st.booleans()):
        features.append(("discount", draw(json_value)))
    body = ", ".join(f"{json.dumps(k)}: {v}" for k, v in features)
    fields.append(("features", "{" + body + "}"))
    text = "{" + ", ".join(f"{json.dumps(k)}: {v}" for k, v in fields) + "}"
    return text.encode("utf-8", errors="surrogatepass")


lines = st.one_of(
    record_lines(),
    record_lines(),
    st.binary(max_size=60),
    st.sampled_from([b"", b"   ", b"{", b"[1]", b'"x"', b"\xff\xfe", b"{}" * 3000]),
)


@st.composite
def objects(draw) -> tuple[str, bytes]:
    body_lines = draw(st.lists(lines, min_size=0, max_size=25))
    ending = draw(st.sampled_from([b"\n", b"\r\n"]))
    data = ending.join(body_lines) + (ending if draw(st.booleans()) else b"")
    name = draw(
        st.sampled_from(["a", "sub/b", "deep/er/c", "back\\slash", ".tmp-d", "e f", "ü"])
    ) + str(draw(st.integers(0, 9)))
    kind = draw(st.sampled_from(["jsonl", "gz", "gz-members", "gz-cut", "ndjson", "txt"]))
    if kind == "gz":
        return name + ".jsonl.gz", gzip.compress(data)
    if kind == "gz-members":
        half = len(data) // 2
        return name + ".jsonl.gz", gzip.compress(data[:half]) + gzip.compress(data[half:])
    if kind == "gz-cut":
        packed = gzip.compress(data)
        return name + ".jsonl.gz", packed[: draw(st.integers(0, len(packed)))]
    return f"{name}.{kind}", data


@pytest.fixture(scope="module")
def warehouse():
    """One PostgreSQL database for every example: a load replaces its model-day."""
    import uuid

    import psycopg2

    name = f"mp_prop_{uuid.uuid4().hex[:12]}"
    admin = psycopg2.connect(host="127.0.0.1", port=5432, user="postgres", dbname="postgres")
    admin.autocommit = True
    with admin.cursor() as cur:
        cur.execute(f'CREATE DATABASE "{name}"')
    try:
        yield PostgresWarehouse(f"postgresql+psycopg2://postgres@127.0.0.1:5432/{name}")
    finally:
        with admin.cursor() as cur:
            cur.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.close()


@settings(settings.get_profile(PROFILE))
@given(layout=st.lists(objects(), min_size=1, max_size=3), max_line=st.sampled_from([64, 4096]))
def test_any_input_splits_cleanly_and_feeds_every_later_stage(warehouse, layout, max_line):
    work = Path(tempfile.mkdtemp(prefix="contract-"))
    try:
        folder = work / "raw" / "shop" / f"dt={DAY}"
        for name, data in layout:
            path = folder / name
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(data)
        result = ingest_partition(
            LocalObjectStore(work / "raw"), MODEL, DAY, work / "out", max_line_bytes=max_line
        )
        accepted = pq.read_table(result.accepted_path)
        quarantined = pq.read_table(result.quarantine_path)
        assert result.rows_in == result.accepted + result.quarantined
        assert (accepted.num_rows, quarantined.num_rows) == (result.accepted, result.quarantined)

        rows = accepted.to_pylist()
        for row in rows:
            for value in row.values():
                if isinstance(value, str):
                    assert "\x00" not in value and "\x00" not in escape(value)
                if isinstance(value, float):
                    assert math.isfinite(value)
        for text in quarantined.column("raw").to_pylist():
            assert "\x00" not in text
        assert len({r["request_id"] for r in rows}) == len(rows)

        frame = accepted.to_pandas()
        labels = pd.DataFrame(
            {
                "request_id": pd.Series(list(frame["request_id"]) * 2, dtype=object),
                "label": [1.0] * (2 * len(frame)),
                "labeled_at": [pd.Timestamp("2026-11-21", tz="UTC")] * (2 * len(frame)),
            }
        )
        joined = join_labels(frame, labels)
        assert len(joined) == int(frame["prediction"].notna().sum())

        loaded = warehouse.replace_partitions(
            MODEL.name,
            dt.date.fromisoformat(DAY),
            {"inference_logs": inference_rows(MODEL, dt.date.fromisoformat(DAY), accepted)},
        )
        assert loaded["inference_logs"] == result.accepted
    finally:
        shutil.rmtree(work, ignore_errors=True)
