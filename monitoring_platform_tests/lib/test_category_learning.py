"""Category values learned from the reference window are plain, short text; hostile ones never
become allowed and keep being reported."""

from monitoring_platform.config import parse_config
from monitoring_platform.lib.validation import WARN, contract_expectations, learnable_category
from monitoring_platform_tests.support import VALIDATION_MODEL as MODEL
from monitoring_platform_tests.support import clean, failures, run

HOSTILE = [
    '"><img src=x onerror=alert(1)>',
    "'; DROP TABLE monitoring_raw.inference_logs; --",
    "A" * 5000,
    "admin\u202egnp.exe",
    "zero\u200bwidth",
    "line\nbreak",
    " padded ",
]


def test_hostile_reference_values_are_not_learned():
    known = {"country": {"FR", "Côte d'Ivoire", "São Paulo (BR-SP)", *HOSTILE}}
    (spec,) = [
        s
        for s in contract_expectations(MODEL, known)
        if s.type == "expect_column_values_to_be_in_set"
    ]
    assert set(spec.kwargs["value_set"]) == {"US", "DE", "FR", "Côte d'Ivoire", "São Paulo (BR-SP)"}


def test_a_hostile_value_in_the_reference_is_still_flagged_today():
    frame = clean()
    frame.loc[:4, "country"] = HOSTILE[0]
    outcome = run(frame, known={"country": {"FR", HOSTILE[0]}})
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
