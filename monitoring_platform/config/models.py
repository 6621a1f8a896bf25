"""The ``models:`` entries of ``monitoring.yaml``: features, columns, references and thresholds."""

from __future__ import annotations

import datetime as dt
from enum import StrEnum
from typing import Literal

from pydantic import Field, field_validator, model_validator

from monitoring_platform.config.common import (
    IDENTIFIER,
    MODEL_NAME,
    RESERVED_COLUMNS,
    Location,
    Strict,
)
from monitoring_platform.config.simulation import Simulation


class Task(StrEnum):
    """What a model predicts; it picks the quality metrics and the drift of predictions."""

    binary_classification = "binary_classification"
    multiclass_classification = "multiclass_classification"
    regression = "regression"
    ranking_score = "ranking_score"


class FeatureType(StrEnum):
    """A feature's kind: numbers or categories."""

    numerical = "numerical"
    categorical = "categorical"


# Evidently's stat tests by registry name, for the column kinds each accepts (a test in the
# project checks this list against Evidently's registry).
NUMERICAL_STATTESTS = frozenset(
    {
        "anderson",
        "cramer_von_mises",
        "ed",
        "empirical_mmd",
        "es",
        "hellinger",
        "jensenshannon",
        "kl_div",
        "ks",
        "mannw",
        "psi",
        "t_test",
        "wasserstein",
    }
)
CATEGORICAL_STATTESTS = frozenset(
    {
        "TVD",
        "chisquare",
        "fisher_exact",
        "g_test",
        "hellinger",
        "jensenshannon",
        "kl_div",
        "psi",
        "z",
    }
)


class ColumnDriftSettings(Strict):
    """How one column's drift is measured and judged; unset keys keep the model's defaults."""

    exclude: bool = Field(default=False, description="Leave the column out of drift.")
    stattest: str | None = Field(
        default=None, description="An Evidently stat test by name (default: the preset's choice)."
    )
    threshold: float | None = Field(
        default=None, ge=0, description="The stat test's fixed threshold (mode `fixed`)."
    )
    tolerance: float | None = Field(
        default=None, gt=0, description="Standard deviations of the learned bound (calibrated)."
    )

    def check_kind(self, numerical: bool) -> None:
        allowed = NUMERICAL_STATTESTS if numerical else CATEGORICAL_STATTESTS
        if self.stattest is not None and self.stattest not in allowed:
            kind = "numerical" if numerical else "categorical"
            raise ValueError(
                f"drift.stattest {self.stattest!r} is not an Evidently stat test for a {kind} "
                f"column; expected one of: {', '.join(sorted(allowed))}"
            )


class Feature(Strict):
    """One input feature of a model."""

    name: str = Field(pattern=IDENTIFIER)
    type: FeatureType
    categories: list[str] | None = Field(
        default=None, description="Known categories (categorical features)."
    )
    min: float | None = None
    max: float | None = None
    integer: bool = False
    optional: bool = Field(
        default=False, description="Null values allowed, with a GX warning above max_null_share."
    )
    required: bool = Field(
        default=False, description="A record with a null in this feature is quarantined."
    )
    drift: ColumnDriftSettings = ColumnDriftSettings()

    @model_validator(mode="after")
    def _check(self) -> Feature:
        if self.required and self.optional:
            raise ValueError("a feature cannot be both `required` and `optional`")
        self.drift.check_kind(self.type == FeatureType.numerical)
        if self.type == FeatureType.categorical and (self.min is not None or self.max is not None):
            raise ValueError("min/max apply to numerical features only")
        if self.type == FeatureType.numerical and self.categories is not None:
            raise ValueError("categories apply to categorical features only")
        if self.min is not None and self.max is not None and self.min > self.max:
            raise ValueError(f"min ({self.min}) is greater than max ({self.max})")
        return self


class Columns(Strict):
    """Names of the record fields in the logs, when they differ from the defaults."""

    request_id: str = Field(default="request_id", pattern=IDENTIFIER)
    timestamp: str = Field(default="timestamp", pattern=IDENTIFIER)
    model_version: str = Field(default="model_version", pattern=IDENTIFIER)
    features: str = Field(default="features", pattern=IDENTIFIER)
    prediction: str = Field(default="prediction", pattern=IDENTIFIER)
    latency_ms: str = Field(default="latency_ms", pattern=IDENTIFIER)
    status_code: str = Field(default="status_code", pattern=IDENTIFIER)
    error: str = Field(default="error", pattern=IDENTIFIER)


class TrailingReference(Strict):
    """The reference window: the days just before the evaluated day."""

    trailing_days: int = Field(ge=1, le=366)
    min_rows: int = Field(default=500, ge=1)


class PinnedReference(Strict):
    """The reference window: a fixed range of days."""

    start: dt.date
    end: dt.date
    min_rows: int = Field(default=500, ge=1)

    @model_validator(mode="after")
    def _order(self) -> PinnedReference:
        if self.start > self.end:
            raise ValueError(f"start ({self.start}) is after end ({self.end})")
        return self


class DriftThresholds(Strict):
    """How drift is judged: the column verdicts' mode, and the dataset and prediction checks."""

    mode: Literal["calibrated", "fixed"] = Field(
        default="calibrated",
        description="calibrated: bounds learned per column from the reference days; "
        "fixed: Evidently's fixed thresholds.",
    )
    tolerance: float = Field(
        default=4.0,
        gt=0,
        description="Sensitivity of calibrated bounds: standard deviations of the reference "
        "days' scores above their mean (lower: more sensitive).",
    )
    min_calibration_days: int = Field(
        default=4, ge=2, le=366, description="Fewer scored reference days: fixed thresholds."
    )
    drift_share_warn: float = Field(default=0.3, ge=0, le=1)
    drift_share_error: float = Field(default=0.5, ge=0, le=1)
    prediction_drift_severity: Literal["WARN", "ERROR"] = "WARN"
    prediction: ColumnDriftSettings = ColumnDriftSettings()
    missing_share_margin: float = Field(
        default=0.02,
        ge=0,
        le=1,
        description="A feature's missing share may exceed its reference bound by this much.",
    )

    @model_validator(mode="after")
    def _order(self) -> DriftThresholds:
        if self.drift_share_warn > self.drift_share_error:
            raise ValueError("drift_share_warn must not be above drift_share_error")
        return self


class KpiDrops(Strict):
    """The largest drop of each business KPI against its trailing mean, as a share (null: off)."""

    click_through_rate: float | None = Field(default=0.3, ge=0, le=1)
    conversion_rate: float | None = Field(default=0.3, ge=0, le=1)
    revenue_per_1k_predictions: float | None = Field(default=0.3, ge=0, le=1)
    baseline_days: int = Field(default=7, ge=1, le=90, description="Days of the trailing mean.")


class QualityThresholds(Strict):
    """Model-quality limits, checked once labels arrive; unset limits are not checked."""

    min_roc_auc: float | None = Field(default=None, ge=0, le=1)
    min_precision: float | None = Field(default=None, ge=0, le=1)
    min_recall: float | None = Field(default=None, ge=0, le=1)
    min_accuracy: float | None = Field(default=None, ge=0, le=1)
    max_log_loss: float | None = Field(default=None, gt=0)
    max_mae: float | None = Field(default=None, gt=0)
    max_rmse: float | None = Field(default=None, gt=0)
    max_mape: float | None = Field(default=None, gt=0, description="In per cent.")
    min_label_coverage: float = Field(
        default=0.5, ge=0, le=1, description="Once the label window has closed."
    )
    min_labeled_rows: int = Field(default=100, ge=1, description="Fewer: quality not judged.")
    confidence: float = Field(
        default=0.95,
        gt=0,
        lt=1,
        description="Level of each metric's confidence interval; a limit fails only when the "
        "whole interval is past it.",
    )

    def limits(self) -> list[tuple[str, str, float]]:
        """(metric, 'min'|'max', limit) for every configured limit."""
        out = []
        for name in type(self).model_fields:
            value = getattr(self, name)
            if value is None or not name.startswith(("min_", "max_")):
                continue
            if name in ("min_label_coverage", "min_labeled_rows"):
                continue
            kind, metric = name.split("_", 1)
            out.append((metric, kind, float(value)))
        return out


class Thresholds(Strict):
    """Every limit a model's checks compare against."""

    drift: DriftThresholds = DriftThresholds()
    quality: QualityThresholds = QualityThresholds()
    quarantine_share_warn: float = Field(default=0.01, ge=0, le=1)
    quarantine_share_error: float = Field(default=0.05, ge=0, le=1)
    latency_p95_slo_ms: float = Field(
        default=300.0, gt=0, description="Largest p95 latency of each model version, in ms."
    )
    error_rate_budget: float = Field(
        default=0.05, ge=0, le=1, description="Largest share of 5xx responses per model version."
    )
    kpi_drop: KpiDrops = KpiDrops()


class Validation(Strict):
    """Great Expectations validation of each day's accepted rows."""

    max_null_share: float = Field(
        default=0.1, ge=0, le=1, description="Above this null share an optional feature warns."
    )
    new_category_severity: Literal["warn", "error"] = "warn"
    max_category_chars: int = Field(
        default=100,
        ge=1,
        le=10_000,
        description="Longest category value learned from the reference window.",
    )
    expectations_file: str | None = Field(
        default=None, description="YAML/JSON list of extra GX expectation configurations."
    )


class Labels(Strict):
    """Where ground truth lives and how long it takes to arrive."""

    location: Location | None = Field(
        default=None, description="Root of the label objects; defaults to <storage.raw>/labels."
    )
    max_delay_days: int = Field(default=3, ge=0, le=90)


class Events(Strict):
    """The model's business events (clicks, conversions) and where they live."""

    enabled: bool = Field(
        default=True, description="The model has business events; false turns KPI checks off."
    )
    location: Location | None = Field(
        default=None, description="Root of the business events; defaults to <storage.raw>/events."
    )
    click_event: str = "click"
    conversion_event: str = "conversion"


class Estimation(Strict):
    """Quality estimated from the day's predictions before its labels arrive."""

    enabled: bool = True
    min_reference_labels: int = Field(
        default=500, ge=10, description="Fewer labelled reference predictions: not estimated."
    )
    max_calibration_error: float = Field(
        default=0.05, gt=0, le=1, description="Classifiers: out-of-fold calibration error."
    )
    max_loss_model_error: float = Field(
        default=0.15, gt=0, description="Regressors: out-of-fold relative error of the MAE."
    )
    severity: Literal["WARN", "ERROR"] = "WARN"


class ModelConfig(Strict):
    """One monitored model."""

    name: str = Field(pattern=MODEL_NAME)
    description: str = ""
    task: Task
    features: list[Feature] = Field(min_length=1)
    columns: Columns = Columns()
    classification_threshold: float = Field(default=0.5, ge=0, le=1)
    classes: list[str] | None = None
    logs: Location | None = Field(
        default=None, description="Root of the log objects; defaults to <storage.raw>/logs."
    )
    labels: Labels = Labels()
    events: Events = Events()
    reference: TrailingReference | PinnedReference = TrailingReference(trailing_days=7)
    segments: list[str] = Field(default_factory=list)
    segment_min_rows: int = Field(
        default=500, ge=1, description="Rows a segment needs, today and in the reference."
    )
    thresholds: Thresholds = Thresholds()
    validation: Validation = Validation()
    estimation: Estimation = Estimation()
    simulation: Simulation = Simulation()

    @field_validator("features")
    @classmethod
    def _unique_features(cls, features: list[Feature]) -> list[Feature]:
        seen: set[str] = set()
        for feature in features:
            if feature.name in RESERVED_COLUMNS:
                raise ValueError(
                    f"feature name {feature.name!r} is reserved for a record field; rename it"
                )
            if feature.name in seen:
                raise ValueError(f"feature {feature.name!r} is listed twice")
            seen.add(feature.name)
        return features

    @model_validator(mode="after")
    def _check(self) -> ModelConfig:
        names = {f.name for f in self.features}
        for segment in self.segments:
            if segment not in names and segment != "model_version":
                raise ValueError(
                    f"segment {segment!r} is not a feature of the model (features: {sorted(names)})"
                )
        if self.task == Task.multiclass_classification and not self.classes:
            raise ValueError("a multiclass_classification model needs its `classes` listed")
        self.thresholds.drift.prediction.check_kind(self.prediction_is_numeric)
        return self

    def drift_settings(self, column: str) -> ColumnDriftSettings:
        """The drift settings of a feature, or of the prediction (column ``prediction``)."""
        if column == "prediction":
            return self.thresholds.drift.prediction
        return next(f.drift for f in self.features if f.name == column)

    @property
    def numerical_features(self) -> list[str]:
        return [f.name for f in self.features if f.type == FeatureType.numerical]

    @property
    def categorical_features(self) -> list[str]:
        return [f.name for f in self.features if f.type == FeatureType.categorical]

    @property
    def prediction_is_numeric(self) -> bool:
        return self.task != Task.multiclass_classification
