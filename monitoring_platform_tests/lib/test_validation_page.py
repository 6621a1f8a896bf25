"""The validation page: a verdict from the failed expectations' severities, failures first, each
expectation's numbers and samples shown as given, hostile values inert in Chromium."""

from monitoring_platform.lib.validation import (
    ERROR,
    WARN,
    ExpectationOutcome,
    ExpectationSpec,
    ValidationOutcome,
)
from monitoring_platform.lib.validation_page import (
    expectation_row,
    render_validation_page,
    validation_verdict,
)
from monitoring_platform_tests.browser import visit
from monitoring_platform_tests.support import clean, run

HOSTILE = [
    "</script><script>window.__pwned = 1</script>",
    '<img src=x onerror="window.__pwned = 2">',
    "' onmouseover='window.__pwned = 3",
]


def _outcome(column, success, severity=ERROR, **fields):
    spec = ExpectationSpec(
        "expect_column_values_to_be_in_set",
        {"column": column, "value_set": ["US", "DE"]},
        severity=severity,
        origin="contract" if severity == ERROR else "expectations.yaml",
    )
    return ExpectationOutcome(spec, success, **fields)


def test_the_verdict_follows_the_worst_failed_severity():
    passed = _outcome("a", True)
    warned = _outcome("b", False, WARN)
    failed = _outcome("c", False, ERROR)
    assert validation_verdict(ValidationOutcome([passed, passed], 10)) == {
        "kind": "ok",
        "word": "Passed",
        "text": "All 2 expectations passed.",
    }
    warn = validation_verdict(ValidationOutcome([passed, warned, warned], 10))
    assert (warn["kind"], warn["word"]) == ("warn", "Warning")
    assert warn["text"].startswith("2 soft expectation(s) failed")
    error = validation_verdict(ValidationOutcome([warned, failed, passed], 10))
    assert (error["kind"], error["word"]) == ("error", "Failed")
    assert error["text"].startswith("1 contract expectation(s) failed")


def test_a_row_shows_the_counts_share_parameters_and_samples():
    long = "x" * 200
    row = expectation_row(
        _outcome(
            "country",
            False,
            WARN,
            unexpected_count=12345,
            unexpected_share=0.123456,
            sample_values=["FR", 3],
            exception=None,
        )
    )
    assert row == {
        "kind": "warn",
        "status": "FAILED (warn)",
        "type": "expect_column_values_to_be_in_set",
        "note": "",
        "column": "country",
        "parameters": "value_set=['US', 'DE']",
        "count": "12,345",
        "share": "12.35%",
        "samples": ["FR", "3"],
        "origin": "expectations.yaml",
    }
    spec = ExpectationSpec("expect_table_row_count_to_be_between", {"min_value": long})
    bare = expectation_row(ExpectationOutcome(spec, True, exception="boom"))
    assert (bare["kind"], bare["status"], bare["column"], bare["count"], bare["share"]) == (
        "pass",
        "passed",
        "",
        "",
        "",
    )
    assert bare["note"] == "boom"
    assert bare["parameters"] == f"min_value={'x' * 77}..."


def test_failures_lead_the_page_errors_before_warnings_and_hostile_values_stay_text(tmp_path):
    outcome = ValidationOutcome(
        [
            _outcome("passes", True),
            _outcome("warns", False, WARN, sample_values=HOSTILE[1:]),
            _outcome("fails", False, ERROR, sample_values=HOSTILE[:1]),
        ],
        1234,
    )
    page = render_validation_page(
        "shop", "2026-11-20", outcome, {"rows_in": 1300, HOSTILE[2]: 66}, {HOSTILE[0]: 66}
    )
    path = tmp_path / "validation.html"
    path.write_text(page, encoding="utf-8")
    seen = visit(
        path,
        evaluate="""() => ({
            pwned: window.__pwned === undefined ? null : window.__pwned,
            columns: Array.from(document.querySelectorAll('table.data')[0].tBodies[0].rows)
                .map(r => r.cells[2].textContent),
            samples: Array.from(document.querySelectorAll('table.data')[0].tBodies[0].rows)
                .map(r => Array.from(r.cells[6].querySelectorAll('code')).map(c => c.textContent)),
            facts: Array.from(document.querySelectorAll('table.data')[1].rows)
                .map(r => [r.cells[0].textContent, r.cells[1].textContent]),
            reasons: Array.from(document.querySelectorAll('table.data')[2].tBodies[0].rows)
                .map(r => [r.cells[0].textContent, r.cells[1].textContent]),
            images: document.images.length,
        })""",
    )
    assert seen.page_errors == [] and seen.dialogs == []
    facts = seen.evaluated
    assert facts["pwned"] is None and facts["images"] == 0
    assert facts["columns"] == ["fails", "warns", "passes"]
    assert facts["samples"] == [HOSTILE[:1], HOSTILE[1:], []]
    assert facts["facts"] == [["rows_in", "1,300"], [HOSTILE[2], "66"]]
    assert facts["reasons"] == [[HOSTILE[0], "66"]]
    assert "Great Expectations over 1,234 accepted rows" in seen.text


def test_page_escapes_hostile_sample_values():
    frame = clean()
    frame["country"] = frame["country"].astype(object)
    frame.loc[0, "country"] = "<script>alert(1)</script>"
    outcome = run(frame)
    page = render_validation_page(
        "shop", "2026-11-20", outcome, {"rows_in": 200}, {"<img src=x>": 1}
    )
    assert "<script>alert(1)</script>" not in page and "<img src=x>" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "expect_column_values_to_be_in_set" in page and "FAILED (warn)" in page
