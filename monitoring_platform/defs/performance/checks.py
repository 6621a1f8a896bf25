"""The checks of a prediction day's quality: the configured limits, and how much truth arrived."""

from monitoring_platform.lib.performance_stage import COVERAGE, QUALITY

# The performance report's checks, one result per partition: name to description.
PERFORMANCE_CHECKS = {
    QUALITY: "Quality metrics meet their configured limits.",
    COVERAGE: "Enough predictions are labelled once the label window has closed.",
}
