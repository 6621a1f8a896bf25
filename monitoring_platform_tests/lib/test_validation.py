"""Each kind of expectation catches its break and passes clean data; user files merge or fail clearly."""

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from monitoring_platform.config import ConfigError, parse_config
from monitoring_platform.lib.validation import (
    ERROR,
    WARN,
    ExpectationSpec,
    column_groups,
    contract_expectations,
    learnable_category,
    load_expectations_file,
    validate,
    validate_parquet,
)
from monitoring_platform_tests.support import VALIDATION_MODEL as MODEL
from monitoring_platform_tests.support import clean, failures, run


def test_clean_data_passes_every_expectation():
    outcome = run(clean())
    assert outcome.passed, [r.spec.label for r in outcome.failed()]
    assert outcome.rows == 200 and len(outcome.results) >= 12


@pytest.mark.parametrize(
    ("column", "value", "expected"),
    [
        ("request_id", "r1", ("expect_column_values_to_be_unique", "request_id", ERROR)),
        ("request_id", None, ("expect_column_values_to_not_be_null", "request_id", ERROR)),
        ("latency_ms", -5.0, ("expect_column_values_to_be_between", "latency_ms", ERROR)),
        ("status_code", 999, ("expect_column_values_to_be_between", "status_code", ERROR)),
        ("prediction", 1.7, ("expect_column_values_to_be_between", "prediction", ERROR)),
        ("price", 250.0, ("expect_column_values_to_be_between", "price", ERROR)),
        ("price", None, ("expect_column_values_to_not_be_null", "price", ERROR)),
        ("country", "<b>XX</b>", ("expect_column_values_to_be_in_set", "country", WARN)),
    ],
)
def test_each_expectation_catches_its_break(column, value, expected):
    frame = clean()
    frame[column] = frame[column].astype(object)
    frame.loc[3, column] = value
    outcome = run(frame)
    assert failures(outcome) == {expected}
    (failed,) = outcome.failed()
    # A duplicate makes both of its rows unexpected.
    broken = 2 if (column, value) == ("request_id", "r1") else 1
    assert failed.unexpected_count == broken
    assert failed.unexpected_share == pytest.approx(broken / 200)
    if value is not None and column != "request_id":
        assert failed.sample_values == [str(value)]


def test_optional_feature_null_share_is_a_soft_finding():
    frame = clean()
    frame.loc[:100, "promo"] = np.nan
    assert failures(run(frame)) == {("expect_column_values_to_not_be_null", "promo", WARN)}


def test_categories_seen_in_the_reference_are_allowed():
    frame = clean()
    assert run(frame, known={"country": {"FR"}}).passed
    assert not run(frame, known={"country": set()}).passed


def test_user_expectations_merge(tmp_path):
    path = tmp_path / "shop.yaml"
    path.write_text(
        """
- type: expect_column_values_to_be_between
  kwargs: {column: latency_ms, max_value: 1000}
  meta: {severity: warn}
- type: expect_column_values_to_match_regex
  kwargs: {column: request_id, regex: "^r[0-9]+$"}
"""
    )
    extra = load_expectations_file(path)
    assert [s.severity for s in extra] == [WARN, ERROR]
    frame = clean()
    frame.loc[0, "latency_ms"] = 5000.0
    frame.loc[1, "request_id"] = "x1"
    outcome = validate(frame, contract_expectations(MODEL, {"country": {"FR"}}) + extra, "t")
    assert failures(outcome) == {
        ("expect_column_values_to_be_between", "latency_ms", WARN),
        ("expect_column_values_to_match_regex", "request_id", ERROR),
    }


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            "- type: expect_colum_values_to_be_null\n  kwargs: {column: x}",
            "expectations[0] (expect_colum_values_to_be_null)",
        ),
        (
            "- type: expect_column_values_to_be_between\n  kwargs: {column: x, minn: 1}",
            "expectations[0] (expect_column_values_to_be_between)",
        ),
        (
            "- type: expect_column_values_to_not_be_null\n  kwargs: {column: x}\n  meta: {severity: fatal}",
            "meta.severity must be error or warn",
        ),
        ("- {kwargs: {column: x}}", "expected a mapping with `type`"),
        ("type: x", "expected a list of expectations"),
    ],
)
def test_a_typo_in_the_expectations_file_names_file_and_expectation(tmp_path, text, message):
    path = tmp_path / "bad.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError) as err:
        load_expectations_file(path)
    assert str(path) in str(err.value) and message in str(err.value)


def test_typo_fails_when_the_definitions_load(tmp_path):
    from monitoring_platform.config import load_config
    from monitoring_platform.definitions import build_definitions
    from monitoring_platform_tests.conftest import small_config_dict, write_config

    (tmp_path / "extra.yaml").write_text("- type: expect_nonsense\n  kwargs: {}")
    raw = small_config_dict(tmp_path)
    raw["models"][0]["validation"] = {"expectations_file": "extra.yaml"}
    config = load_config(write_config(tmp_path, raw))
    with pytest.raises(ConfigError, match=r"extra.yaml: expectations\[0\] \(expect_nonsense\)"):
        build_definitions(config)


def _day_with_every_failure(n=400):
    """A day breaking each kind of expectation, as the lake would hold it."""
    frame = clean(n)
    for column in ("request_id", "country", "price", "latency_ms", "prediction"):
        frame[column] = frame[column].astype(object)
    frame.loc[3, "request_id"] = "r1"  # duplicate
    frame.loc[30, "request_id"] = "x30"
    frame.loc[[5, 250], "request_id"] = None
    frame.loc[7, "latency_ms"] = -5.0
    frame.loc[[8, 300], "status_code"] = 999
    frame.loc[9, "prediction"] = 1.7
    frame.loc[10, "price"] = 250.0
    frame.loc[[11, 12], "price"] = None
    frame.loc[[13, 14, 399], "country"] = ["<b>XX</b>", "YY", "<b>XX</b>"]
    frame.loc[:150, "promo"] = np.nan
    frame["error"] = frame["error"].astype(object)
    frame.loc[20, "error"] = "boom"
    frame["price"] = frame["price"].astype(float)
    frame["latency_ms"] = frame["latency_ms"].astype(float)
    frame["prediction"] = frame["prediction"].astype(float)
    frame["object_key"] = [f"logs/part-{i // 50}.gz" for i in range(n)]
    table = pa.Table.from_pandas(frame, preserve_index=False)
    return table.set_column(
        table.schema.get_field_index("status_code"),
        "status_code",
        table.column("status_code").cast(pa.int32()),
    )


def _user_specs(tmp_path):
    path = tmp_path / "extra.yaml"
    path.write_text(
        """
- type: expect_column_values_to_match_regex
  kwargs: {column: request_id, regex: "^r[0-9]+$"}
- type: expect_column_values_to_be_between
  kwargs: {column: status_code, min_value: 100, max_value: 299}
  meta: {severity: warn}
- type: expect_column_values_to_be_in_set
  kwargs: {column: status_code, value_set: [200]}
- type: expect_column_values_to_be_between
  kwargs: {column: country, min_value: 0, max_value: 1}
- type: expect_column_pair_values_a_to_be_greater_than_b
  kwargs: {column_A: price, column_B: latency_ms, or_equal: true}
  meta: {severity: warn}
- type: expect_table_row_count_to_be_between
  kwargs: {min_value: 1, max_value: 10}
- type: expect_table_columns_to_match_set
  kwargs: {column_set: [request_id, timestamp]}
  meta: {severity: warn}
- type: expect_column_mean_to_be_between
  kwargs: {column: price, min_value: 0, max_value: 10}
- type: expect_column_values_to_be_between
  kwargs: {column: price, min_value: 0, max_value: 50, row_condition: 'country=="US"', condition_parser: pandas}
"""
    )
    return load_expectations_file(path)


def _facts(outcome):
    return outcome.rows, [
        (
            r.spec,
            r.success,
            r.element_count,
            r.unexpected_count,
            r.unexpected_share,
            r.sample_values,
            r.observed_value,
            r.exception,
        )
        for r in outcome.results
    ]


@pytest.mark.parametrize("dictionary", [True, False])
def test_parquet_path_matches_the_whole_frame(tmp_path, monkeypatch, dictionary):
    import monitoring_platform.lib.validation as validation

    table = _day_with_every_failure()
    path = tmp_path / "data.parquet"
    # Strings with and without a dictionary, several row groups and several read batches.
    pq.write_table(
        table,
        path,
        row_group_size=128,
        use_dictionary=["country", "error", "object_key"] if dictionary else False,
    )
    monkeypatch.setattr(validation, "_BATCH_ROWS", 100)
    specs = contract_expectations(MODEL, {"country": {"FR"}}) + _user_specs(tmp_path)
    assert column_groups(specs, table.schema.names) is not None  # read group by group
    whole = validate(
        pq.read_table(path).to_pandas(),
        specs,
        "t",
        result_format={"result_format": "SUMMARY", "partial_unexpected_count": 20},
    )
    lean = validate_parquet(pq.ParquetFile(path), specs, "t")
    assert _facts(lean) == _facts(whole)
    failed = {(r.spec.type, r.spec.column) for r in lean.failed()}
    assert {
        ("expect_column_values_to_be_unique", "request_id"),
        ("expect_column_values_to_not_be_null", "request_id"),
        ("expect_column_values_to_be_between", "latency_ms"),
        ("expect_column_values_to_be_between", "status_code"),
        ("expect_column_values_to_be_between", "prediction"),
        ("expect_column_values_to_be_between", "price"),
        ("expect_column_values_to_not_be_null", "price"),
        ("expect_column_values_to_be_in_set", "country"),
        ("expect_column_values_to_not_be_null", "promo"),
        ("expect_column_values_to_match_regex", "request_id"),
        ("expect_column_values_to_be_in_set", "status_code"),
        ("expect_column_values_to_be_between", "country"),
        ("expect_column_pair_values_a_to_be_greater_than_b", None),
        ("expect_table_row_count_to_be_between", None),
        ("expect_table_columns_to_match_set", None),
        ("expect_column_mean_to_be_between", "price"),
    } <= failed
    by_label = {r.spec.label: r for r in lean.results}
    # A between on strings raises inside GX: failed, without counts.
    assert by_label["expect_column_values_to_be_between on country"].unexpected_count is None
    assert by_label["expect_column_values_to_be_between on status_code"].sample_values == ["999"]
    assert by_label["expect_column_values_to_be_unique on request_id"].unexpected_count == 2


def test_parquet_path_on_a_missing_column_reports_like_the_whole_frame(tmp_path):
    path = tmp_path / "data.parquet"
    pq.write_table(_day_with_every_failure(), path)
    specs = contract_expectations(MODEL, {"country": {"FR"}}) + [
        ExpectationSpec("expect_column_values_to_not_be_null", {"column": "no_such_column"})
    ]
    lean = validate_parquet(pq.ParquetFile(path), specs, "t")
    assert _facts(lean) == _facts(validate(pq.read_table(path).to_pandas(), specs, "t"))
    assert not lean.results[-1].success and lean.results[-1].unexpected_count is None


def test_spec_groups_read_only_their_columns():
    specs = [
        ExpectationSpec("expect_column_values_to_not_be_null", {"column": "a"}),
        ExpectationSpec(
            "expect_column_pair_values_to_be_equal", {"column_A": "b", "column_B": "a"}
        ),
        ExpectationSpec("expect_column_values_to_be_unique", {"column": "a"}),
        ExpectationSpec("expect_table_row_count_to_equal", {"value": 3}),
    ]
    assert column_groups(specs, ["a", "b", "c"]) == [
        (["a"], [0, 2]),
        (["b", "a"], [1]),
        (["a", "b", "c"], [3]),
    ]
    assert column_groups(specs, ["a"]) is None


def test_integer_bounds_of_another_type_fail_alike(tmp_path):
    path = tmp_path / "data.parquet"
    pq.write_table(_day_with_every_failure(), path)
    specs = [
        ExpectationSpec("expect_column_values_to_be_between", {"column": "status_code", **bounds})
        for bounds in ({"min_value": 100.5}, {"min_value": "100"}, {"max_value": 2**40})
    ]
    lean = validate_parquet(pq.ParquetFile(path), specs, "t")
    assert _facts(lean) == _facts(validate(pq.read_table(path).to_pandas(), specs, "t"))


# Category values learned from the reference window are plain, short text; hostile ones never
# become allowed and keep being reported.

HOSTILE_CATEGORIES = [
    '"><img src=x onerror=alert(1)>',
    "'; DROP TABLE monitoring_raw.inference_logs; --",
    "A" * 5000,
    "admin\u202egnp.exe",
    "zero\u200bwidth",
    "line\nbreak",
    " padded ",
]


def test_hostile_reference_values_are_not_learned():
    known = {"country": {"FR", "Côte d'Ivoire", "São Paulo (BR-SP)", *HOSTILE_CATEGORIES}}
    (spec,) = [
        s
        for s in contract_expectations(MODEL, known)
        if s.type == "expect_column_values_to_be_in_set"
    ]
    assert set(spec.kwargs["value_set"]) == {"US", "DE", "FR", "Côte d'Ivoire", "São Paulo (BR-SP)"}


def test_a_hostile_value_in_the_reference_is_still_flagged_today():
    frame = clean()
    frame.loc[:4, "country"] = HOSTILE_CATEGORIES[0]
    outcome = run(frame, known={"country": {"FR", HOSTILE_CATEGORIES[0]}})
    assert ("expect_column_values_to_be_in_set", "country", WARN) in failures(outcome)


def test_the_length_cap_is_configurable():
    model = parse_config(
        """
models:
  - name: m
    task: regression
    validation: {max_category_chars: 8}
    features: [{name: city, type: categorical}]
"""
    ).models[0]
    (spec,) = [
        s
        for s in contract_expectations(model, {"city": {"Paris", "Llanfairpwllgwyngyll"}})
        if s.type == "expect_column_values_to_be_in_set"
    ]
    assert spec.kwargs["value_set"] == ["Paris"]
    assert learnable_category("x" * 100, 100) and not learnable_category("x" * 101, 100)
