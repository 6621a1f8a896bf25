"""The record contract compiled to SQL: each line's typed columns and its reason."""

import datetime as dt
import json

import duckdb
import pyarrow as pa
import pytest

from monitoring_platform.config import parse_config
from monitoring_platform.lib.contract import (
    FieldRule,
    Kind,
    RecordContract,
    RequiredWhen,
    log_contract,
    parse_sql,
)
from monitoring_platform.lib.objects import LINES_SCHEMA

CONTRACT = RecordContract(
    fields=(
        FieldRule("id", Kind.string),
        FieldRule("n", Kind.integer),
        FieldRule("x", Kind.number, required=False),
        FieldRule("at", Kind.timestamp, required=False),
        FieldRule("tag", Kind.category, paths=(("inner", "tag"), ("tag",)), label="the tag"),
        FieldRule("note", Kind.text, required=False),
        FieldRule("out", Kind.string, required_when=RequiredWhen("n", 1, 9)),
    ),
    key_columns=("id",),
    key_label="id",
)


def parse(contract: RecordContract, *records) -> list[dict]:
    """Each record (a dict, or a line as is) run through the compiled contract."""
    lines = [r if isinstance(r, str) else json.dumps(r) for r in records]
    batch = pa.table(
        [
            pa.array(range(1, len(lines) + 1), pa.int64()),
            pa.array(lines, pa.large_string()),
            pa.array([0] * len(lines), pa.int8()),
            pa.nulls(len(lines), pa.string()),
        ],
        schema=LINES_SCHEMA,
    )
    with duckdb.connect() as con:
        con.execute("SET TimeZone = 'UTC'")
        con.register("batch", batch)
        return con.sql(parse_sql(contract)).to_arrow_table().to_pylist()


def good(**changes) -> dict:
    record = {"id": "a", "n": 3, "tag": "t", "out": "o"}
    record.update(changes)
    return {k: v for k, v in record.items() if v is not ...}


def test_a_good_record_becomes_typed_columns_and_no_reason():
    (row,) = parse(CONTRACT, good(x=2, at="2026-01-02T03:04:05Z", note={"k": 1}))
    assert row["reason"] is None and row["raw"] == ""
    assert (row["id"], row["n"], row["x"], row["tag"]) == ("a", 3, 2.0, "t")
    assert row["at"] == dt.datetime(2026, 1, 2, 3, 4, 5, tzinfo=dt.UTC)
    assert json.loads(row["note"]) == {"k": 1}, "a text field keeps any JSON value as text"


@pytest.mark.parametrize(
    ("record", "reason"),
    [
        (good(id=...), "missing id"),
        (good(id=None), "id is null"),
        (good(id=7), "id: expected a string, got a number"),
        (good(n=2.5), "n: expected an integer, got a number"),
        (good(n="3"), "n: expected an integer, got a string"),
        (good(x="1"), "x: expected a number, got a string"),
        (good(at="yesterday"), "at: expected an ISO 8601 timestamp, got a string"),
        (good(at=5), "at: expected an ISO 8601 timestamp, got a number"),
        (good(tag=[1]), "the tag: expected a string, got an array"),
        (good(tag=...), "missing the tag"),
        (good(id="a\u0000b"), "id: contains a NUL character (U+0000)"),
        (good(note="a\u0000b"), "note: contains a NUL character (U+0000)"),
        (good(out=...), "missing out"),
        ('{"id": "a", "n": 3, "tag": "t", "out": "o", "x": NaN}', "x: expected a finite number, got NaN"),
        ('{"id": "a", "n": 3, "tag": "t", "out": "o", "x": 1e999}', "x: expected a finite number, got an infinity"),
        ("{oops", "malformed JSON"),
        ("[1]", "record is an array, not an object"),
        ('{"id": "a", "id": "b", "n": 3, "tag": "t", "out": "o"}', "ambiguous record: a key appears more than once (id)"),
        (good(id=None, n="x"), "id is null; n: expected an integer, got a string"),
    ],
)  # fmt: skip
def test_a_record_breaking_the_contract_gets_its_reason_and_keeps_its_line(record, reason):
    (row,) = parse(CONTRACT, record)
    assert row["reason"] == reason
    assert row["raw"] == (record if isinstance(record, str) else json.dumps(record))


def test_optional_fields_may_be_missing_or_null():
    (row,) = parse(CONTRACT, good(x=None, at=..., note=None))
    assert row["reason"] is None and row["x"] is None and row["at"] is None
    assert row["note"] is None, "a JSON null is no text"


def test_a_field_is_read_from_its_first_present_path():
    nested, flat, both = parse(
        CONTRACT,
        good(tag=..., inner={"tag": "deep"}),
        good(tag="flat"),
        good(tag="flat", inner={"tag": None}),
    )
    assert (nested["tag"], nested["reason"]) == ("deep", None)
    assert (flat["tag"], flat["reason"]) == ("flat", None)
    assert both["reason"] == "the tag is null", "a present null is not replaced by a later path"


def test_a_field_required_only_for_some_values_of_another():
    in_range, outside, no_integer = parse(
        CONTRACT, good(out=..., n=5), good(out=..., n=50), good(out=..., n="x")
    )
    assert in_range["reason"] == "missing out"
    assert outside["reason"] is None
    assert no_integer["reason"] == "n: expected an integer, got a string; missing out"


def test_categories_keep_numbers_and_booleans_as_text():
    number, boolean = parse(CONTRACT, good(tag=12), good(tag=True))
    assert (number["tag"], boolean["tag"]) == ("12", "true")


def test_the_log_contract_of_a_model():
    model = parse_config(
        """
models:
  - name: shop
    task: binary_classification
    columns: {request_id: rid}
    features:
      - {name: country, type: categorical}
      - {name: price, type: numerical, required: true}
"""
    ).models[0]
    contract = log_contract(model)
    base = {
        "rid": "r1",
        "timestamp": "2026-01-01T00:00:00Z",
        "model_version": "v1",
        "latency_ms": 1.0,
        "status_code": 200,
        "prediction": 0.5,
        "features": {"country": "US", "price": 2.0},
    }
    failed = {**base, "status_code": 503, "prediction": None, "error": "timeout"}
    flat = {**base, "country": "DE", "price": 3.0}
    del flat["features"]
    ok, failed_row, flat_row, missing = parse(
        contract, base, failed, flat, {**base, "features": {"country": None}}
    )
    assert ok["reason"] is None and ok["request_id"] == "r1" and ok["price"] == 2.0
    assert failed_row["reason"] is None and failed_row["error"] == "timeout"
    assert (flat_row["country"], flat_row["price"]) == ("DE", 3.0)
    assert missing["reason"] == "missing feature price"
    assert contract.columns[-2:] == ("object_key", "line_no")
    assert set(contract.columns) == {r.name for r in contract.fields} | {"object_key", "line_no"}


def test_only_a_repeated_key_the_contract_reads_makes_a_record_ambiguous():
    base = '"n": 3, "tag": "t", "out": "o"'
    extra_repeated, read_repeated, nested = parse(
        CONTRACT,
        '{"id": "a", "zz": 1, "zz": 2, ' + base + "}",
        '{"id": "a", "zz": 1, "n": 4, ' + base + "}",
        '{"id": "a", "inner": {"tag": "x", "q": 1, "tag": "y"}, "n": 3, "out": "o"}',
    )
    assert extra_repeated["reason"] is None
    assert read_repeated["reason"] == "ambiguous record: a key appears more than once (n)"
    assert nested["reason"] == "ambiguous record: a key appears more than once (inner.tag)"
