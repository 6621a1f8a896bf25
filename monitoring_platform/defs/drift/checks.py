"""The checks of a day's drift: drifted features, the prediction, missing values, the reference."""

from __future__ import annotations

from monitoring_platform.lib.drift_stage import DATASET_DRIFT, MISSING_SHARE, PREDICTION_DRIFT
from monitoring_platform.lib.reference import REFERENCE_COMPLETE

# The drift report's checks, one result per partition: name to description.
DRIFT_CHECKS = {
    DATASET_DRIFT: "The share of drifted features stays below its WARN and ERROR levels.",
    PREDICTION_DRIFT: "The prediction's distribution has not drifted from the reference window.",
    MISSING_SHARE: "Each feature's share of missing values stays within its reference range.",
    REFERENCE_COMPLETE: "Every day of the reference window has been ingested.",
}
