"""The record contract: field rules as data, compiled once to one DuckDB query over lines.

A contract lists the fields of a record: the column each becomes, its kind (string, number,
integer, timestamp, category, or any JSON value kept as text), whether it is required and
where it lives in the JSON object (one or more paths, the first present wins). The compiled
query reads a table ``batch`` of lines (``line_no``, ``raw``, ``trim``, ``pre_reason``) and
gives each line its typed columns and its reason (NULL for a line that meets the contract).

Each line is parsed a fixed number of times whatever the number of fields: once for the types
of all the fields, once for their texts, once for the keys of the objects read (a key that
appears twice makes the record ambiguous), and fields read only when another is missing
(a feature logged flat rather than nested) only for the rows that need them.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from enum import StrEnum

from monitoring_platform.config import FeatureType, ModelConfig

AMBIGUOUS_REASON = "ambiguous record: a key appears more than once"

# A string holding U+0000 breaks the contract: PostgreSQL cannot store it, C-string code cuts
# the value there (two ids would become one), and pages would carry it.
NUL_REASON = "contains a NUL character (U+0000)"

# The line itself: its raw text without the terminator (which is ASCII, so characters count),
# with any NUL byte written as the JSON escape, so no later reader meets a raw NUL.
RAW_LINE = (
    "replace(CASE WHEN trim = 0 THEN raw ELSE left(raw, length(raw) - trim) END, chr(0), '\\u0000')"
)

# Columns every accepted row carries after the contract's own: where the record came from.
ORIGIN_COLUMNS = ("object_key", "line_no")


class Kind(StrEnum):
    """What a field's JSON value must be, and the column type it becomes."""

    string = "string"
    number = "number"
    integer = "integer"
    timestamp = "timestamp"
    category = "category"  # a string, or a number or boolean kept as its text
    text = "text"  # any JSON value, kept as its text; only a NUL breaks the contract


@dataclass(frozen=True)
class RequiredWhen:
    """A field is required only when the integer of field ``field`` lies in ``[low, high]``.

    ``field`` names an integer field of the same contract; a record whose ``field`` has no
    integer value needs the field too.
    """

    field: str
    low: int
    high: int


@dataclass(frozen=True)
class FieldRule:
    """One field of a record: its column, kind, whether it is required and where it lives.

    ``paths`` are the places in the JSON object tried in order, each a tuple of keys
    (``("features", "country")`` is ``$.features.country``); the first present one is read.
    ``label`` names the field in reasons (the column name by default).
    """

    name: str
    kind: Kind
    required: bool = True
    paths: tuple[tuple[str, ...], ...] = ()
    label: str = ""
    required_when: RequiredWhen | None = None

    @property
    def where(self) -> tuple[tuple[str, ...], ...]:
        """The paths read: ``paths``, or the top-level field named like the column."""
        return self.paths or ((self.name,),)

    @property
    def said(self) -> str:
        """The field's name in reasons."""
        return self.label or self.name


@dataclass(frozen=True)
class RecordContract:
    """The fields of one kind of record, and what makes two records duplicates.

    ``key_columns`` identify a duplicate (the first is kept); ``key_label`` names it in reasons.
    ``accepted_columns`` orders the accepted table (the fields, then ``ORIGIN_COLUMNS``, when
    empty).
    """

    fields: tuple[FieldRule, ...]
    key_columns: tuple[str, ...]
    key_label: str
    accepted_columns: tuple[str, ...] = ()

    @property
    def columns(self) -> tuple[str, ...]:
        """The columns of the accepted table, in order."""
        return self.accepted_columns or (*(f.name for f in self.fields), *ORIGIN_COLUMNS)


def accepted_schema(model: ModelConfig) -> list[tuple[str, str]]:
    """Column names and DuckDB types of the accepted inference-log table."""
    prediction_type = "DOUBLE" if model.prediction_is_numeric else "VARCHAR"
    columns = [
        ("request_id", "VARCHAR"),
        ("timestamp", "TIMESTAMPTZ"),
        ("model_version", "VARCHAR"),
        ("prediction", prediction_type),
        ("latency_ms", "DOUBLE"),
        ("status_code", "INTEGER"),
        ("error", "VARCHAR"),
    ]
    columns += [
        (f.name, "DOUBLE" if f.type == FeatureType.numerical else "VARCHAR") for f in model.features
    ]
    return [*columns, *((c, "BIGINT" if c == "line_no" else "VARCHAR") for c in ORIGIN_COLUMNS)]


def log_contract(model: ModelConfig) -> RecordContract:
    """The inference-log contract of ``model``.

    A failed call (status outside 2xx) needs no prediction. Features may be nested under the
    features object or logged as flat fields; a null feature is accepted (and measured by the
    drift step) unless the feature is required.
    """
    c = model.columns
    prediction = Kind.number if model.prediction_is_numeric else Kind.category
    fields = [
        FieldRule("request_id", Kind.string, paths=((c.request_id,),)),
        FieldRule("timestamp", Kind.timestamp, paths=((c.timestamp,),)),
        FieldRule("model_version", Kind.string, paths=((c.model_version,),)),
        FieldRule("latency_ms", Kind.number, paths=((c.latency_ms,),)),
        FieldRule("status_code", Kind.integer, paths=((c.status_code,),)),
        FieldRule(
            "prediction",
            prediction,
            paths=((c.prediction,),),
            required_when=RequiredWhen("status_code", 200, 299),
        ),
        FieldRule("error", Kind.text, required=False, paths=((c.error,),)),
    ]
    fields += [
        FieldRule(
            f.name,
            Kind.number if f.type == FeatureType.numerical else Kind.category,
            required=f.required,
            paths=((c.features, f.name), (f.name,)),
            label=f"feature {f.name}",
        )
        for f in model.features
    ]
    return RecordContract(
        fields=tuple(fields),
        key_columns=("request_id",),
        key_label="request_id",
        accepted_columns=tuple(name for name, _ in accepted_schema(model)),
    )


# ---------------------------------------------------------------------------------------------
# Compiling a contract to SQL

# DuckDB's json_type names, as a person writing JSON would say them.
_JSON_TYPE_WORDS = (
    "CASE {t} WHEN 'VARCHAR' THEN 'a string' WHEN 'BIGINT' THEN 'a number' "
    "WHEN 'UBIGINT' THEN 'a number' WHEN 'DOUBLE' THEN 'a number' WHEN 'BOOLEAN' THEN 'a boolean' "
    "WHEN 'OBJECT' THEN 'an object' WHEN 'ARRAY' THEN 'an array' ELSE lower({t}) END"
)

# Per kind: the JSON types accepted, the type the text is cast to, the words for what is expected.
_KINDS: dict[Kind, tuple[str, str | None, str]] = {
    Kind.number: ("('BIGINT', 'UBIGINT', 'DOUBLE')", "DOUBLE", "a number"),
    Kind.integer: ("('BIGINT', 'UBIGINT')", "INTEGER", "an integer"),
    Kind.timestamp: ("('VARCHAR')", "TIMESTAMPTZ", "an ISO 8601 timestamp"),
    Kind.category: ("('VARCHAR', 'BIGINT', 'UBIGINT', 'BOOLEAN')", None, "a string"),
    Kind.string: ("('VARCHAR')", None, "a string"),
}


def _cast_of(kind: Kind) -> str | None:
    """The SQL type a field's text is cast to, if any."""
    return _KINDS[kind][1] if kind in _KINDS else None


def _json_path(path: tuple[str, ...]) -> str:
    # Keys are configured identifiers (validated by the config model): no dots or quotes.
    return "$." + ".".join(path)


@dataclass(frozen=True)
class _Rule:
    """A field rule's SQL: its select expression and its reason, over ``__t/__s/__c<i>``."""

    select: str
    reason: str


def _rule_sql(rule: FieldRule, i: int, casts: dict[str, int]) -> _Rule:
    """The typed column and the reason of rule ``i``, read from its hoisted type and text."""
    t, s, label = f"__t{i}", f"__s{i}", rule.said
    nul = f"strpos({s}, chr(0)) > 0"
    if rule.kind == Kind.text:
        return _Rule(
            f"CASE WHEN {t} NOT IN ('NULL') THEN {s} END AS {rule.name}",
            f"CASE WHEN {nul} THEN '{label}: {NUL_REASON}' END",
        )
    types, cast, expected = _KINDS[rule.kind]
    value = f"__c{i}" if cast else s
    ok = f"{t} IN {types}"
    if rule.kind == Kind.timestamp:
        ok += f" AND {value} IS NOT NULL"
    needed = "TRUE" if rule.required else "FALSE"
    if rule.required and rule.required_when is not None:
        when = rule.required_when
        needed = f"coalesce(__c{casts[when.field]} BETWEEN {when.low} AND {when.high}, TRUE)"
    reason = (
        f"CASE WHEN {t} IS NULL THEN CASE WHEN {needed} THEN 'missing {label}' END "
        f"WHEN {t} = 'NULL' THEN CASE WHEN {needed} THEN '{label} is null' END "
        f"WHEN NOT ({ok}) THEN '{label}: expected {expected}, got ' "
        f"|| {_JSON_TYPE_WORDS.format(t=t)} END"
    )
    # Only a value of the right type reaches these rules, when the one above found nothing.
    if rule.kind == Kind.number:
        # JSON has no NaN or infinities; DuckDB's parser reads them (and 1e999) all the same.
        reason = (
            f"coalesce({reason}, CASE WHEN {ok} AND NOT isfinite({value}) "
            f"THEN '{label}: expected a finite number, got ' "
            f"|| CASE WHEN isnan({value}) THEN 'NaN' ELSE 'an infinity' END END)"
        )
    elif rule.kind in (Kind.category, Kind.string):
        reason = f"coalesce({reason}, CASE WHEN {ok} AND {nul} THEN '{label}: {NUL_REASON}' END)"
    return _Rule(f"CASE WHEN {ok} THEN {value} END AS {rule.name}", reason)


def _repeated_key_sql(paths: list[str]) -> tuple[str, str, str]:
    """SQL finding a key the contract reads that appears twice in its object.

    JSON parsers disagree on a repeated key (the first or the last wins), so such a record is
    ambiguous. ``paths`` are the fields the contract reads (``$.a`` or ``$.a.b``). Returns the
    expression of the key lists of the objects read (``__keys``, one more pass over the line),
    the condition that one of those keys repeats, and the first such key, dotted as
    ``features.country``. Keys the contract does not read may repeat: nothing is taken from
    them. Counting (no set per row) keeps the check cheap, and an object with no more keys
    than the read names it holds is not looked at again.
    """
    objects: dict[str, list[str]] = {}
    for path in paths:
        parts = path.split(".")
        for depth in range(1, len(parts)):
            names = objects.setdefault(".".join(parts[:depth]), [])
            if parts[depth] not in names:
                names.append(parts[depth])
    quoted = ", ".join(f"'{o}'" for o in objects)
    keys = f"CASE WHEN pre_reason IS NULL THEN try(json_keys(raw, [{quoted}])) END"
    repeats, firsts = [], []
    for i, (path, names) in enumerate(objects.items(), start=1):
        listed = ", ".join(f"'{n}'" for n in names)
        present = " + ".join(f"list_contains(__keys[{i}], '{n}')::INT" for n in names)
        # A repeat needs more keys than the names present: most objects are filtered no further.
        repeats.append(
            f"CASE WHEN len(__keys[{i}]) > {present} "
            f"THEN len(list_filter(__keys[{i}], lambda x: x IN ({listed}))) > {present} "
            "ELSE FALSE END"
        )
        prefix = path[2:] + "." if path != "$" else ""
        firsts.append(
            f"'{prefix}' || list_filter([{listed}], "
            f"lambda n: len(list_filter(__keys[{i}], lambda x: x = n)) > 1)[1]"
        )
    return keys, " OR ".join(repeats), f"coalesce({', '.join(firsts)})"


@functools.cache
def parse_sql(contract: RecordContract, carry: str | None = None) -> str:
    """A SELECT over the lines in ``batch`` giving each line's typed columns and its reason.

    The types and the texts of all the fields come from two passes over the line
    (``json_type`` and ``json_extract_string`` with a list of paths); a field's later paths
    are read only for the rows whose first path is missing. Each value is cast once.
    ``carry`` names a column of ``batch`` passed through unchanged, as the first column.
    """
    c = f"{carry}, " if carry else ""
    primary: list[str] = []
    for rule in contract.fields:
        if (path := _json_path(rule.where[0])) not in primary:
            primary.append(path)
    fallback: list[str] = []
    for rule in contract.fields:
        for later in rule.where[1:]:
            if (path := _json_path(later)) not in primary and path not in fallback:
                fallback.append(path)

    def read(path: str, list_name: str, offset: int) -> str:
        if path in primary:
            return f"{list_name}[{primary.index(path) + offset}]"
        return f"{list_name}_fallback[{fallback.index(path) + 1}]"

    typed_list, cast_list, fallen_back = "", "", []
    casts = {r.name: i for i, r in enumerate(contract.fields) if _cast_of(r.kind)}
    for i, rule in enumerate(contract.fields):
        paths = [_json_path(p) for p in rule.where]
        # The list of types starts with the type of the record itself.
        types = [read(p, "__types", 2) for p in paths]
        texts = [read(p, "__texts", 1) for p in paths]
        if len(paths) == 1:
            type_expr, text_expr = types[0], texts[0]
        else:
            fallen_back.append(types[0])
            type_expr = f"coalesce({', '.join(types)})"
            text_expr = (
                "CASE "
                + " ".join(
                    f"WHEN {t} IS NOT NULL THEN {s}" for t, s in zip(types, texts, strict=True)
                )
                + " END"
            )
        typed_list += f",\n           {type_expr} AS __t{i}, {text_expr} AS __s{i}"
        if cast := _cast_of(rule.kind):
            cast_list += f",\n           TRY_CAST(__s{i} AS {cast}) AS __c{i}"
    rules = [_rule_sql(rule, i, casts) for i, rule in enumerate(contract.fields)]

    def path_list(paths: list[str]) -> str:
        return ", ".join(f"'{p}'" for p in paths)

    lists = (
        ",\n           CASE WHEN line_reason IS NULL "
        f"THEN json_extract_string(raw, [{path_list(primary)}]) END AS __texts"
    )
    if fallback:
        missing = " OR ".join(f"{t} IS NULL" for t in fallen_back)
        for list_name, function in (("__types", "json_type"), ("__texts", "json_extract_string")):
            lists += (
                f",\n           CASE WHEN line_reason IS NULL AND ({missing}) "
                f"THEN {function}(raw, [{path_list(fallback)}]) END AS {list_name}_fallback"
            )
    select_list = ",\n    ".join(r.select for r in rules)
    reason_list = ",\n        ".join(r.reason for r in rules)
    words = _JSON_TYPE_WORDS.format(t="__types[1]")
    keys, repeats, repeated = _repeated_key_sql(sorted(primary + fallback))
    # Only configured identifiers (validated as such) and fixed text are interpolated.
    # try(): a line that is not JSON fails to parse, and has no types.
    return f"""
WITH checked AS (
    SELECT {c}line_no, raw, trim, pre_reason,
           CASE WHEN pre_reason IS NULL THEN try(json_type(raw, ['$', {path_list(primary)}])) END
           AS __types,
           {keys} AS __keys
    FROM batch
), lines AS (
    SELECT {c}line_no, raw, trim, __types,
           CASE WHEN pre_reason IS NOT NULL THEN pre_reason
                WHEN __types IS NULL THEN 'malformed JSON'
                WHEN __types[1] <> 'OBJECT' THEN 'record is ' || {words} || ', not an object'
                WHEN {repeats} THEN '{AMBIGUOUS_REASON} (' || {repeated} || ')'
           END AS line_reason
    FROM checked
), docs AS (
    SELECT {c}line_no, raw, trim, __types, line_reason{lists}
    FROM lines
), typed AS (
    SELECT *{typed_list}
    FROM docs
), converted AS (
    SELECT *{cast_list}
    FROM typed
), decided AS (
    SELECT {c}line_no,
        {select_list},
        CASE WHEN line_reason IS NOT NULL THEN line_reason
             ELSE nullif(concat_ws('; ',
            {reason_list}
             ), '')
        END AS reason,
        raw, trim
    FROM converted
)
SELECT * EXCLUDE (raw, trim), CASE WHEN reason IS NOT NULL THEN {RAW_LINE} ELSE '' END AS raw
FROM decided
"""  # noqa: S608
