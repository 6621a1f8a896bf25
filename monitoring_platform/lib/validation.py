"""Great Expectations (1.x API, called directly) suites per model, and their results made readable.

A suite is generated from the model's record contract and configuration; a model may add its own
expectations in a YAML or JSON file of GX expectation configurations. Each expectation carries a
severity in its ``meta``: ``error`` expectations guard the contract (their failure blocks the
downstream assets of the day), ``warn`` ones are soft findings.

The GX import and the ephemeral context are set up once per process. A day's Parquet partition is
validated column group by column group (:func:`validate_parquet`), so a big day never becomes one
wide pandas frame; the outcome is the same as validating the whole frame at once.
"""

from __future__ import annotations

import json
import os
import unicodedata
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import yaml

from monitoring_platform.config import ConfigError, FeatureType, ModelConfig, Task

ERROR = "error"
WARN = "warn"
SEVERITIES = (ERROR, WARN)
SAMPLE_VALUES = 5


@dataclass(frozen=True)
class ExpectationSpec:
    """One expectation as configuration: GX type, kwargs and the platform's severity."""

    type: str
    kwargs: dict[str, Any]
    severity: str = ERROR
    origin: str = "contract"

    @property
    def column(self) -> str | None:
        return self.kwargs.get("column")

    @property
    def label(self) -> str:
        column = f" on {self.column}" if self.column else ""
        mostly = f" (mostly {self.kwargs['mostly']:g})" if "mostly" in self.kwargs else ""
        return f"{self.type}{column}{mostly}"


@dataclass
class ExpectationOutcome:
    """One expectation's result: passed or not, its counts, samples and any error."""

    spec: ExpectationSpec
    success: bool
    element_count: int | None = None
    unexpected_count: int | None = None
    unexpected_share: float | None = None
    sample_values: list[str] = field(default_factory=list)
    observed_value: Any = None
    exception: str | None = None


@dataclass
class ValidationOutcome:
    """A suite's results, one per expectation in order, over ``rows`` rows."""

    results: list[ExpectationOutcome]
    rows: int

    def __add__(self, other: ValidationOutcome) -> ValidationOutcome:
        return ValidationOutcome(results=self.results + other.results, rows=self.rows)

    def failed(self, severity: str | None = None) -> list[ExpectationOutcome]:
        return [
            r
            for r in self.results
            if not r.success and (severity is None or r.spec.severity == severity)
        ]

    @property
    def passed(self) -> bool:
        return not self.failed()


# ---------------------------------------------------------------------------------------------
# Suites


# Characters of markup, quoting and statements: a value holding one is never learned.
_UNLEARNABLE_CHARS = set('<>"`;\\')


def learnable_category(value: str, max_chars: int) -> bool:
    """Whether a category value seen in the reference window may become an allowed one.

    Values come from the public internet: only plain text of at most ``max_chars`` characters
    is learned, without control, format (bidi, zero-width) or unassigned characters, markup,
    quotes or statement separators. Any other value keeps being reported as unexpected on every
    day it appears, unless the model's configuration lists it in ``categories``.
    """
    if not value or len(value) > max_chars or value != value.strip():
        return False
    if any(ch in _UNLEARNABLE_CHARS for ch in value):
        return False
    return not any(unicodedata.category(ch) in ("Cc", "Cf", "Cs", "Co", "Cn") for ch in value)


def contract_expectations(
    model: ModelConfig, known_categories: dict[str, set[str]] | None = None
) -> list[ExpectationSpec]:
    """The expectations the record contract and the configuration imply for accepted rows."""
    specs = [
        ExpectationSpec("expect_column_values_to_not_be_null", {"column": "request_id"}),
        ExpectationSpec("expect_column_values_to_be_unique", {"column": "request_id"}),
        ExpectationSpec("expect_column_values_to_not_be_null", {"column": "timestamp"}),
        ExpectationSpec("expect_column_values_to_not_be_null", {"column": "model_version"}),
        ExpectationSpec("expect_column_values_to_not_be_null", {"column": "latency_ms"}),
        ExpectationSpec(
            "expect_column_values_to_be_between", {"column": "latency_ms", "min_value": 0}
        ),
        ExpectationSpec(
            "expect_column_values_to_be_between",
            {"column": "status_code", "min_value": 100, "max_value": 599},
        ),
    ]
    if model.task == Task.binary_classification:
        specs.append(
            ExpectationSpec(
                "expect_column_values_to_be_between",
                {"column": "prediction", "min_value": 0, "max_value": 1},
            )
        )
    if model.task == Task.multiclass_classification and model.classes:
        specs.append(
            ExpectationSpec(
                "expect_column_values_to_be_in_set",
                {"column": "prediction", "value_set": list(model.classes)},
            )
        )
    known_categories = known_categories or {}
    for feature in model.features:
        if feature.optional:
            specs.append(
                ExpectationSpec(
                    "expect_column_values_to_not_be_null",
                    {
                        "column": feature.name,
                        "mostly": round(1 - model.validation.max_null_share, 6),
                    },
                    severity=WARN,
                )
            )
        elif feature.required:
            specs.append(
                ExpectationSpec("expect_column_values_to_not_be_null", {"column": feature.name})
            )
        # Otherwise nulls are accepted; their share is checked against the reference's by drift.
        if feature.type == FeatureType.numerical and (
            feature.min is not None or feature.max is not None
        ):
            kwargs: dict[str, Any] = {"column": feature.name}
            if feature.min is not None:
                kwargs["min_value"] = feature.min
            if feature.max is not None:
                kwargs["max_value"] = feature.max
            specs.append(ExpectationSpec("expect_column_values_to_be_between", kwargs))
        if feature.type == FeatureType.categorical:
            learned = {
                value
                for value in known_categories.get(feature.name, set())
                if learnable_category(value, model.validation.max_category_chars)
            }
            allowed = set(feature.categories or []) | learned
            if allowed:
                specs.append(
                    ExpectationSpec(
                        "expect_column_values_to_be_in_set",
                        {"column": feature.name, "value_set": sorted(allowed)},
                        severity=model.validation.new_category_severity,
                    )
                )
    return specs


def load_expectations_file(path: str | os.PathLike[str]) -> list[ExpectationSpec]:
    """A model's own expectations: a YAML or JSON list of GX expectation configurations.

    Each item is ``{type: expect_..., kwargs: {...}, meta: {severity: error|warn}}``. A mistake
    raises :class:`ConfigError` naming the file and the expectation.
    """
    file = Path(path)
    try:
        raw = yaml.safe_load(file.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"{file}: expectations file not found") from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"{file}: not valid YAML or JSON: {exc}") from None
    if isinstance(raw, dict) and "expectations" in raw:
        raw = raw["expectations"]
    if not isinstance(raw, list):
        raise ConfigError(
            f"{file}: expected a list of expectations (or a mapping with `expectations`)"
        )
    specs = []
    for index, item in enumerate(raw):
        where = f"{file}: expectations[{index}]"
        if not isinstance(item, dict) or "type" not in item:
            raise ConfigError(f"{where}: expected a mapping with `type` and `kwargs`")
        unknown = set(item) - {"type", "kwargs", "meta"}
        if unknown:
            raise ConfigError(f"{where} ({item['type']}): unknown keys {sorted(unknown)}")
        meta = item.get("meta") or {}
        severity = str(meta.get("severity", ERROR)).lower()
        if severity not in SEVERITIES:
            raise ConfigError(f"{where} ({item['type']}): meta.severity must be error or warn")
        spec = ExpectationSpec(
            type=str(item["type"]),
            kwargs=dict(item.get("kwargs") or {}),
            severity=severity,
            origin=str(file),
        )
        try:
            _to_gx(spec)
        except Exception as exc:  # GX raises several kinds for unknown types and bad kwargs
            raise ConfigError(f"{where} ({spec.type}): {_short(exc)}") from None
        specs.append(spec)
    return specs


def _short(exc: Exception) -> str:
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return text[:300]


# ---------------------------------------------------------------------------------------------
# Running


# GX's result detail: BASIC carries everything an outcome reports (counts, share, the first
# unexpected values, observed values) without the unexpected index lists SUMMARY adds, which cost
# several copies of the frame per expectation.
RESULT_FORMAT: dict[str, Any] = {"result_format": "BASIC", "partial_unexpected_count": 20}

# Column expectations whose outcome does not depend on an integer column's width (bounds given
# as numbers): their columns are widened to int64 so GX compares them vectorized instead of
# value by value.
_WIDTH_NEUTRAL = frozenset(
    {
        "expect_column_values_to_be_between",
        "expect_column_values_to_not_be_null",
        "expect_column_values_to_be_null",
        "expect_column_values_to_be_unique",
    }
)


@lru_cache(maxsize=1)
def _gx():
    """GX imported and its ephemeral context made once per process."""
    os.environ.setdefault("GX_ANALYTICS_ENABLED", "false")
    import great_expectations as gx
    from great_expectations.data_context.types.base import ProgressBarsConfig
    from great_expectations.execution_engine import pandas_execution_engine

    # GX fingerprints each in-memory batch by hashing every value (seconds on a big day); the
    # fingerprint is only a batch marker, which no outcome uses.
    pandas_execution_engine.HASH_THRESHOLD = 0
    context = gx.get_context(mode="ephemeral")
    context.variables.progress_bars = ProgressBarsConfig(globally=False)
    source = context.data_sources.add_pandas("platform")
    batch_definition = source.add_dataframe_asset("partition").add_batch_definition_whole_dataframe(
        "whole"
    )
    return gx, context, batch_definition


def _to_gx(spec: ExpectationSpec, index: int = 0):
    from great_expectations.expectations.expectation_configuration import ExpectationConfiguration

    _gx()
    config = ExpectationConfiguration(
        type=spec.type, kwargs=spec.kwargs, meta={"severity": spec.severity, "index": index}
    )
    return config.to_domain_obj()


def validate(
    frame: pd.DataFrame,
    specs: list[ExpectationSpec],
    suite_name: str,
    *,
    result_format: dict[str, Any] | None = None,
) -> ValidationOutcome:
    """Run ``specs`` over ``frame`` with GX's pandas engine; one result per spec, in order."""
    from great_expectations.validator.v1_validator import Validator

    gx, _context, batch_definition = _gx()
    suite = gx.ExpectationSuite(
        name=suite_name, expectations=[_to_gx(s, i) for i, s in enumerate(specs)]
    )
    # One validator over the whole-frame batch definition: building a Batch first would load
    # the frame twice.
    validator = Validator(
        batch_definition=batch_definition,
        batch_parameters={"dataframe": frame},
        result_format=dict(result_format or RESULT_FORMAT),
    )
    result = validator.validate_expectation_suite(suite)
    # GX may reorder results: each carries the index of its spec in ``meta``.
    by_index = {
        int(config.meta["index"]): item
        for item in result.results
        if (config := item.expectation_config) is not None
    }
    outcomes = []
    for index, spec in enumerate(specs):
        item = by_index[index]
        detail = item.result or {}
        info = item.exception_info or {}
        exception = info.get("exception_message") if info.get("raised_exception") else None
        outcomes.append(
            ExpectationOutcome(
                spec=spec,
                success=bool(item.success),
                element_count=detail.get("element_count"),
                unexpected_count=detail.get("unexpected_count"),
                unexpected_share=(
                    detail["unexpected_percent"] / 100.0
                    if detail.get("unexpected_percent") is not None
                    else None
                ),
                sample_values=_samples(detail.get("partial_unexpected_list") or []),
                observed_value=detail.get("observed_value"),
                exception=exception,
            )
        )
    return ValidationOutcome(results=outcomes, rows=len(frame))


def spec_columns(spec: ExpectationSpec) -> list[str] | None:
    """The columns an expectation reads.

    ``None`` when it may read any (table expectations, row conditions).
    """
    if spec.kwargs.get("row_condition"):
        return None
    keys = type(_to_gx(spec)).domain_keys
    if "column" in keys:
        return [spec.kwargs["column"]]
    if "column_A" in keys and "column_B" in keys:
        return [spec.kwargs["column_A"], spec.kwargs["column_B"]]
    if "column_list" in keys:
        return list(spec.kwargs["column_list"])
    return None


def column_groups(
    specs: list[ExpectationSpec], columns: list[str]
) -> list[tuple[list[str], list[int]]] | None:
    """Specs grouped by the columns they read: ``(columns, spec indices)`` in first-seen order.

    Expectations that may read any column share one group with every column. ``None`` when an
    expectation names a column the data lacks: GX then reports it on the whole frame.
    """
    groups: dict[tuple[str, ...], list[int]] = {}
    for index, spec in enumerate(specs):
        try:
            needed = spec_columns(spec)
        except Exception:  # a malformed configuration: GX reports it on the whole frame
            return None
        if needed is None:
            key = tuple(columns)
        elif any(not isinstance(c, str) or c not in columns for c in needed):
            return None
        else:
            key = tuple(dict.fromkeys(needed))
        groups.setdefault(key, []).append(index)
    return [(list(key), indices) for key, indices in groups.items()]


def _width_neutral(spec: ExpectationSpec) -> bool:
    return spec.type in _WIDTH_NEUTRAL and all(
        isinstance(spec.kwargs.get(bound), int | float | None)
        for bound in ("min_value", "max_value")
    )


def _is_string(field: pa.Field) -> bool:
    return pa.types.is_string(field.type) or pa.types.is_large_string(field.type)


def _read_frame(parquet: pq.ParquetFile, columns: list[str], widen: bool) -> pd.DataFrame:
    """``columns`` of the file as pandas, as the whole file's ``to_pandas()`` would give them.

    String columns are filled batch by batch into one object array, so their Arrow buffers and
    their Python strings are never all in memory together; equal strings of a column written
    with a dictionary are shared as one object. Narrow integer columns are widened to int64 when
    ``widen``.
    """
    rows = parquet.metadata.num_rows
    data: dict[str, Any] = {}
    for name in columns:
        if _is_string(parquet.schema_arrow.field(name)):
            values = np.empty(rows, dtype=object)
            deduplicate = not _mostly_distinct(parquet, name)
            start = 0
            for batch in parquet.iter_batches(batch_size=_BATCH_ROWS, columns=[name]):
                part = batch.column(0).to_pandas(deduplicate_objects=deduplicate).to_numpy()
                values[start : start + len(part)] = part
                start += len(part)
            data[name] = pd.Series(values, dtype=object, name=name, copy=False)
        else:
            table = parquet.read(columns=[name])
            column = table.to_pandas(split_blocks=True, self_destruct=True)[name]
            del table
            dtype = column.dtype
            if widen and isinstance(dtype, np.dtype) and dtype.kind in "iu" and dtype.itemsize < 8:
                column = column.astype(np.int64)
            data[name] = column
    return pd.DataFrame(data, copy=False)


_BATCH_ROWS = 131_072


def _mostly_distinct(parquet: pq.ParquetFile, column: str) -> bool:
    """Whether a column was written without a dictionary in every row group.

    Its values are then mostly distinct, so sharing equal strings would only cost hashing.
    """
    metadata = parquet.metadata
    leaves = [i for i in range(metadata.num_columns) if metadata.schema.column(i).path == column]
    return bool(leaves) and all(
        not metadata.row_group(g).column(i).has_dictionary_page
        for g in range(metadata.num_row_groups)
        for i in leaves
    )


def validate_parquet(
    parquet: pq.ParquetFile, specs: list[ExpectationSpec], suite_name: str
) -> ValidationOutcome:
    """The outcome of :func:`validate` over the whole file as one frame, read group by group.

    Each group of expectations runs on a frame of only the columns it reads, so GX's per
    expectation copies of the frame stay one column wide and a big day is never in memory as
    a whole.
    """
    columns = parquet.schema_arrow.names
    groups = column_groups(specs, columns)
    pandas_index = (parquet.schema_arrow.pandas_metadata or {}).get("index_columns")
    if groups is None or pandas_index:  # a pandas index restores only with the whole table
        return validate(parquet.read().to_pandas(), specs, suite_name)
    results: list[ExpectationOutcome | None] = [None] * len(specs)
    for group_columns, indices in groups:
        group = [specs[i] for i in indices]
        widen = all(_width_neutral(s) for s in group)
        frame = _read_frame(parquet, group_columns, widen)
        outcome = validate(frame, group, suite_name)
        del frame
        for index, result in zip(indices, outcome.results, strict=True):
            results[index] = result
    return ValidationOutcome(
        results=[r for r in results if r is not None], rows=parquet.metadata.num_rows
    )


def _samples(values: list[Any]) -> list[str]:
    seen: list[str] = []
    for value in values:
        text = value if isinstance(value, str) else json.dumps(value, default=str)
        if len(text) > 120:
            text = text[:117] + "..."
        if text not in seen:
            seen.append(text)
        if len(seen) >= SAMPLE_VALUES:
            break
    return seen
