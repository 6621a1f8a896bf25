"""Validation: Great Expectations suites over each day's accepted rows, as blocking asset checks."""
