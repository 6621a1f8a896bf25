"""The pydantic model of ``monitoring.yaml`` and its loader.

Everything a user configures lives in one YAML file. Loading it validates every key; a mistake
fails with a :class:`ConfigError` naming the file, the key and what is expected. Secrets are never
read from the file: the file names environment variables (keys ending in ``_env``).
"""

from __future__ import annotations

import datetime as dt
import difflib
import os
import re
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from monitoring_platform.lib.alerting.settings import Alerts
from monitoring_platform.lib.redaction import redact_url_credentials

CONFIG_ENV_VAR = "MONITORING_CONFIG"
DEFAULT_CONFIG_FILE = "monitoring.yaml"

IDENTIFIER = r"^[A-Za-z_][A-Za-z0-9_]{0,62}$"
MODEL_NAME = r"^[a-z][a-z0-9_]{0,62}$"
ENV_VAR_NAME = r"^[A-Z_][A-Z0-9_]*$"

# Keys that would hold a secret's value. The file must name an environment variable instead.
SECRET_KEYS = {
    "password",
    "secret",
    "secret_access_key",
    "access_key_id",
    "aws_secret_access_key",
    "aws_access_key_id",
    "session_token",
    "token",
    "api_key",
    "webhook_url",
    "routing_key",
    "integration_key",
    "hmac_secret",
}

# Column names of the canonical accepted-rows table; feature names may not reuse them.
RESERVED_COLUMNS = {
    "request_id",
    "timestamp",
    "model_version",
    "prediction",
    "latency_ms",
    "status_code",
    "error",
    "features",
    "object_key",
    "line_no",
}


class ConfigError(ValueError):
    """The configuration file is invalid; the message names file, key and expectation."""


S3_BUCKET = re.compile(r"^[a-z0-9][a-z0-9.\-]{1,61}[a-z0-9]$")


def check_location(location: str) -> str:
    """A storage root: a local folder, or ``s3://bucket[/prefix]`` with a valid bucket name and
    a prefix of plain segments. Anything else (another scheme, ``file://``, an empty bucket, a
    prefix with ``..``, ``.``, an empty segment or a backslash) is refused, saying the fix."""
    if not location.strip():
        raise ValueError("expected a folder or s3://bucket/prefix, got an empty value")
    if location.lower().startswith("s3://"):
        bucket, _, prefix = location[len("s3://") :].partition("/")
        if not S3_BUCKET.match(bucket):
            raise ValueError(
                "expected s3://bucket/prefix with a bucket name of 3 to 63 lowercase letters, "
                "digits, dots and hyphens"
            )
        segments = prefix.rstrip("/").split("/") if prefix.rstrip("/") else []
        if any(s in ("", ".", "..") or "\\" in s for s in segments):
            raise ValueError(
                "the prefix of an s3:// location must be plain segments separated by single "
                "slashes (no '..', '.', '//' or backslash)"
            )
        return location
    scheme = re.match(r"^([A-Za-z][A-Za-z0-9+.\-]*):", location)
    if scheme and len(scheme.group(1)) > 1:  # a one-letter "scheme" is a Windows drive
        name = scheme.group(1).lower()
        if name == "file":
            raise ValueError(
                "write a local folder as a plain path (e.g. /srv/monitoring/raw), not a file: URL"
            )
        raise ValueError(
            f"{name}: locations are not supported; use a local folder or s3://bucket/prefix "
            "(an S3-compatible server's URL goes in storage.s3.endpoint_url)"
        )
    return location


Location = Annotated[str, AfterValidator(check_location)]


EnvVarName = Annotated[str, Field(pattern=ENV_VAR_NAME)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Task(StrEnum):
    binary_classification = "binary_classification"
    multiclass_classification = "multiclass_classification"
    regression = "regression"
    ranking_score = "ranking_score"


class FeatureType(StrEnum):
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


class ColumnDriftSettings(_Strict):
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


class Feature(_Strict):
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


class Columns(_Strict):
    """Names of the record fields in the logs, when they differ from the defaults."""

    request_id: str = Field(default="request_id", pattern=IDENTIFIER)
    timestamp: str = Field(default="timestamp", pattern=IDENTIFIER)
    model_version: str = Field(default="model_version", pattern=IDENTIFIER)
    features: str = Field(default="features", pattern=IDENTIFIER)
    prediction: str = Field(default="prediction", pattern=IDENTIFIER)
    latency_ms: str = Field(default="latency_ms", pattern=IDENTIFIER)
    status_code: str = Field(default="status_code", pattern=IDENTIFIER)
    error: str = Field(default="error", pattern=IDENTIFIER)


class TrailingReference(_Strict):
    trailing_days: int = Field(ge=1, le=366)
    min_rows: int = Field(default=500, ge=1)


class PinnedReference(_Strict):
    start: dt.date
    end: dt.date
    min_rows: int = Field(default=500, ge=1)

    @model_validator(mode="after")
    def _order(self) -> PinnedReference:
        if self.start > self.end:
            raise ValueError(f"start ({self.start}) is after end ({self.end})")
        return self


class DriftThresholds(_Strict):
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


class KpiDrops(_Strict):
    """The largest drop of each business KPI against its trailing mean, as a share (null: off)."""

    click_through_rate: float | None = Field(default=0.3, ge=0, le=1)
    conversion_rate: float | None = Field(default=0.3, ge=0, le=1)
    revenue_per_1k_predictions: float | None = Field(default=0.3, ge=0, le=1)
    baseline_days: int = Field(default=7, ge=1, le=90, description="Days of the trailing mean.")


class QualityThresholds(_Strict):
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


class Thresholds(_Strict):
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


class Validation(_Strict):
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


class Labels(_Strict):
    """Where ground truth lives and how long it takes to arrive."""

    location: Location | None = Field(
        default=None, description="Root of the label objects; defaults to <storage.raw>/labels."
    )
    max_delay_days: int = Field(default=3, ge=0, le=90)


class Events(_Strict):
    enabled: bool = Field(
        default=True, description="The model has business events; false turns KPI checks off."
    )
    location: Location | None = Field(
        default=None, description="Root of the business events; defaults to <storage.raw>/events."
    )
    click_event: str = "click"
    conversion_event: str = "conversion"


class Simulation(_Strict):
    """Traffic the generator writes for this model (demo and benchmarks)."""

    requests_per_day: int = Field(default=20_000, ge=1)
    versions: list[str] = Field(default_factory=lambda: ["v1", "v2"], min_length=1)
    base_latency_ms: float = Field(default=40.0, gt=0)
    label_delay_days: float = Field(default=1.0, ge=0, description="Mean label delay.")


class Estimation(_Strict):
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


class ModelConfig(_Strict):
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


class S3Settings(_Strict):
    """How to reach S3 or an S3-compatible store. Credentials come from the environment."""

    endpoint_url: str | None = Field(default=None, description="For MinIO and other S3 stores.")
    endpoint_url_env: EnvVarName | None = None
    region: str = "us-east-1"
    access_key_id_env: EnvVarName = "AWS_ACCESS_KEY_ID"
    secret_access_key_env: EnvVarName = "AWS_SECRET_ACCESS_KEY"
    session_token_env: EnvVarName | None = None

    def resolved_endpoint_url(self) -> str | None:
        if self.endpoint_url_env and os.environ.get(self.endpoint_url_env):
            return os.environ[self.endpoint_url_env]
        return self.endpoint_url


class Storage(_Strict):
    """Roots of the storage roles: a local folder or ``s3://bucket/prefix`` each."""

    raw: Location = Field(default="var/data/raw", description="Logs, labels and events.")
    lake: Location = Field(default="var/data/lake", description="Accepted and quarantined rows.")
    reports: Location = Field(default="var/reports", description="HTML reports.")
    reports_base_url: str | None = Field(
        default=None, description="Public URL of the reports root, used in links."
    )
    s3: S3Settings = S3Settings()


class MetricStore(_Strict):
    url: str = Field(default="sqlite:///var/metrics.db", description="SQLAlchemy URL.")
    url_env: EnvVarName | None = Field(
        default=None, description="Environment variable holding the URL (wins when set)."
    )

    @field_validator("url")
    @classmethod
    def _no_password(cls, url: str) -> str:
        if re.match(r"^[a-z0-9+]+://[^/@]*:[^/@]+@", url):
            raise ValueError(
                "the URL carries a password; put the whole URL in an environment variable "
                "and name it in `url_env`"
            )
        return url

    def resolved_url(self) -> str:
        if self.url_env and os.environ.get(self.url_env):
            return os.environ[self.url_env]
        return self.url


class Warehouse(_Strict):
    """Where logs and events are loaded for dbt: a DuckDB file (default) or PostgreSQL."""

    type: Literal["duckdb", "postgres"] = "duckdb"
    path: str = Field(default="var/warehouse.duckdb", description="The DuckDB file (duckdb).")
    url_env: EnvVarName | None = Field(
        default=None, description="Variable holding the PostgreSQL URL (postgres)."
    )
    raw_schema: str = Field(
        default="monitoring_raw", pattern=IDENTIFIER, description="Schema of the loaded tables."
    )
    dbt_schema: str = Field(
        default="analytics", pattern=IDENTIFIER, description="Schema of the dbt models."
    )

    @model_validator(mode="after")
    def _postgres_url(self) -> Warehouse:
        if self.type == "postgres" and not self.url_env:
            raise ValueError(
                "a postgres warehouse needs `url_env`: the name of the variable holding its URL"
            )
        return self


class Partitions(_Strict):
    start_date: dt.date = dt.date(2026, 1, 1)
    timezone: Literal["UTC"] = "UTC"
    start_date_file: str | None = Field(
        default=None,
        description="A file holding an ISO date that replaces start_date when it exists "
        "(the demo writes the first day of its traffic there).",
    )


class Schedule(_Strict):
    """When the daily evaluation runs, and how the arrival sensor looks for new log objects."""

    cron: str = Field(default="0 6 * * *", description="Cron of the daily evaluation.")
    timezone: str = Field(default="UTC", description="IANA time zone the cron is read in.")
    logs_lookback_days: int = Field(
        default=3, ge=1, le=90, description="Days back the arrival sensor watches for new objects."
    )
    sensor_interval_seconds: int = Field(default=60, ge=10, le=86_400)
    autostart: bool = Field(
        default=False,
        description="Run the schedule and sensors as soon as the daemon loads the code location.",
    )

    @field_validator("cron")
    @classmethod
    def _cron(cls, cron: str) -> str:
        # Dagster's own parser: what it accepts here, the daemon runs (`@daily` too).
        from dagster._utils.schedules import is_valid_cron_string

        if not is_valid_cron_string(cron):
            raise ValueError(
                f"{cron!r} is not a cron expression Dagster runs: expected five fields with "
                "values in range (e.g. '0 6 * * *') or a shortcut such as '@daily'"
            )
        return cron

    @field_validator("timezone")
    @classmethod
    def _timezone(cls, name: str) -> str:
        from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

        try:
            ZoneInfo(name)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError("expected an IANA time zone name, e.g. UTC or Europe/Berlin") from None
        return name


class Digest(_Strict):
    """The weekly stakeholder digest: a page on the reports site, and an e-mail."""

    route: str | None = Field(
        default=None, description="An `alerts.routes` entry of kind email: its SMTP server sends."
    )
    to: list[Annotated[str, Field(pattern=r"^[^@\s]+@[^@\s]+$")]] = Field(
        default_factory=list, description="Recipients (default: the route's `to`)."
    )
    send: bool = Field(
        default=False, description="Send the e-mail when the weekly_digest asset materializes."
    )


class MonitoringConfig(_Strict):
    """The whole ``monitoring.yaml``."""

    version: Literal[1] = 1
    partitions: Partitions = Partitions()
    schedule: Schedule = Schedule()
    storage: Storage = Storage()
    metric_store: MetricStore = MetricStore()
    warehouse: Warehouse = Warehouse()
    alerts: Alerts = Alerts()
    digest: Digest = Digest()
    models: list[ModelConfig] = Field(min_length=1)

    # Set by the loader: the directory relative paths are resolved against.
    base_dir: Path = Field(default=Path("."), exclude=True)
    source_file: Path | None = Field(default=None, exclude=True)

    @model_validator(mode="after")
    def _digest_route_is_email(self) -> MonitoringConfig:
        if self.digest.route is not None:
            try:
                route = self.alerts.route(self.digest.route)
            except KeyError as exc:
                raise ValueError(f"digest.route: {exc.args[0]}") from None
            if route.kind != "email":
                raise ValueError(
                    f"digest.route: route {route.name!r} is of kind {route.kind}; "
                    "the digest is sent by e-mail (use a route of kind email)"
                )
        return self

    @field_validator("models")
    @classmethod
    def _unique_models(cls, models: list[ModelConfig]) -> list[ModelConfig]:
        names = [m.name for m in models]
        duplicates = sorted({n for n in names if names.count(n) > 1})
        if duplicates:
            raise ValueError(f"model name {duplicates[0]!r} is used more than once")
        return models

    def model(self, name: str) -> ModelConfig:
        for model in self.models:
            if model.name == name:
                return model
        raise KeyError(f"no model named {name!r} in the configuration")

    def resolve_location(self, location: str) -> str:
        """An absolute local path or an ``s3://`` URI for a configured location."""
        if location.startswith("s3://"):
            return location.rstrip("/")
        if "://" in location:
            raise ConfigError(
                f"unsupported location {location!r}: use a folder or s3://bucket/prefix"
            )
        path = Path(location)
        if not path.is_absolute():
            path = self.base_dir / path
        return str(path.resolve())

    def logs_root(self, model: ModelConfig) -> str:
        return self.resolve_location(model.logs or _join(self.storage.raw, "logs"))

    def labels_root(self, model: ModelConfig) -> str:
        return self.resolve_location(model.labels.location or _join(self.storage.raw, "labels"))

    def events_root(self, model: ModelConfig) -> str:
        return self.resolve_location(model.events.location or _join(self.storage.raw, "events"))

    def warehouse_path(self) -> Path:
        """The DuckDB warehouse file, absolute."""
        path = Path(self.warehouse.path)
        return (path if path.is_absolute() else self.base_dir / path).resolve()

    def metric_store_url(self) -> str:
        url = self.metric_store.resolved_url()
        prefix = "sqlite:///"
        if url.startswith(prefix) and not url.startswith(prefix + "/") and url != "sqlite://":
            path = Path(url[len(prefix) :])
            if not path.is_absolute() and str(path) != ":memory:":
                url = prefix + str((self.base_dir / path).resolve())
        return url


def _join(root: str, child: str) -> str:
    return root.rstrip("/") + "/" + child


# ---------------------------------------------------------------------------------------------
# Loading


def default_config_path() -> Path:
    return Path(os.environ.get(CONFIG_ENV_VAR, DEFAULT_CONFIG_FILE))


def load_config(path: str | os.PathLike[str] | None = None) -> MonitoringConfig:
    """Read and validate a configuration file; raise :class:`ConfigError` on any mistake."""
    file = Path(path) if path is not None else default_config_path()
    try:
        text = file.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(
            f"{file}: configuration file not found (set {CONFIG_ENV_VAR} to its path)"
        ) from None
    return parse_config(text, source=file)


def parse_config(text: str, source: Path | str = "<string>") -> MonitoringConfig:
    source_path = Path(source)
    try:
        raw = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ConfigError(f"{source}: not valid YAML: {exc}") from None
    if not isinstance(raw, dict):
        raise ConfigError(f"{source}: expected a mapping with a `models` list at the top level")
    secret_errors = list(_inline_secrets(raw, ()))
    if secret_errors:
        raise ConfigError(f"{source}: " + f"\n{source}: ".join(secret_errors))
    base_dir = source_path.parent.resolve() if source != "<string>" else Path.cwd()
    try:
        config = MonitoringConfig.model_validate(raw)
    except ValidationError as exc:
        raise ConfigError(_format_errors(exc, raw, str(source))) from None
    config = config.model_copy(update={"base_dir": base_dir, "source_file": source_path})
    return _with_partitions_start(config)


def _with_partitions_start(config: MonitoringConfig) -> MonitoringConfig:
    """``partitions.start_date`` from ``partitions.start_date_file`` when that file exists."""
    path = partitions_start_path(config)
    if path is None:
        return config
    try:
        text = path.read_text(encoding="utf-8").strip()
    except FileNotFoundError:
        return config
    try:
        start = dt.date.fromisoformat(text)
    except ValueError:
        raise ConfigError(
            f"{path}: partitions.start_date_file holds {text[:40]!r}, expected an ISO date "
            "(YYYY-MM-DD)"
        ) from None
    partitions = config.partitions.model_copy(update={"start_date": start})
    return config.model_copy(update={"partitions": partitions})


def partitions_start_path(config: MonitoringConfig) -> Path | None:
    """Where ``partitions.start_date_file`` points, absolute; None when not configured."""
    name = config.partitions.start_date_file
    if not name:
        return None
    return Path(name) if Path(name).is_absolute() else config.base_dir / name


def _inline_secrets(node: Any, path: tuple[Any, ...]):
    if isinstance(node, dict):
        for key, value in node.items():
            here = (*path, key)
            if isinstance(key, str) and key.lower() in SECRET_KEYS and value is not None:
                yield (
                    f"{_dotted(here)}: secrets are never read from the configuration file; "
                    f"put the value in an environment variable and write "
                    f"`{key}_env: NAME_OF_THAT_VARIABLE` instead"
                )
            else:
                yield from _inline_secrets(value, here)
    elif isinstance(node, list):
        for index, item in enumerate(node):
            yield from _inline_secrets(item, (*path, index))


def _dotted(loc: tuple[Any, ...]) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += ("." if out else "") + str(part)
    return out or "(top level)"


def _lookup(raw: Any, loc: tuple[Any, ...]) -> Any:
    node = raw
    for part in loc:
        try:
            node = node[part]
        except (KeyError, IndexError, TypeError):
            return None
    return node


def _format_errors(exc: ValidationError, raw: dict, source: str) -> str:
    lines = []
    for error in exc.errors():
        # Drop the union-branch names pydantic inserts (``TrailingReference``, ``function-after[...]``).
        loc = tuple(
            p
            for p in error["loc"]
            if not (isinstance(p, str) and (p[:1].isupper() or p.startswith("function-")))
        )
        key = _dotted(loc)
        kind = error["type"]
        if kind == "extra_forbidden":
            name = str(loc[-1])
            allowed = _allowed_keys(raw, loc[:-1])
            hint = ""
            if allowed:
                close = difflib.get_close_matches(name, allowed, n=1)
                hint = f" (did you mean `{close[0]}`?)" if close else ""
                hint += f"; expected one of: {', '.join(sorted(allowed))}"
            lines.append(f"{source}: {key}: unknown key{hint}")
        elif kind == "missing":
            lines.append(f"{source}: {key}: required key is missing{_expectation(loc)}")
        elif kind == "string_pattern_mismatch" and str(loc[-1]).endswith("_env"):
            lines.append(
                f"{source}: {key}: expected the NAME of an environment variable (capital letters, "
                f"digits and underscores, e.g. MY_SECRET), not a value"
            )
        else:
            got = _lookup(raw, loc)
            msg = error["msg"].removeprefix("Value error, ")
            # A rejected value may be a URL with credentials in it: never echo those.
            shown = (
                f" (got {redact_url_credentials(repr(got))})"
                if got is not None and not isinstance(got, dict | list)
                else ""
            )
            lines.append(f"{source}: {key}: {msg}{shown}")
    return "\n".join(dict.fromkeys(lines))


def _expectation(loc: tuple[Any, ...]) -> str:
    last = loc[-1] if loc else ""
    hints = {
        "features": ": list the model's features, e.g. `features: [{name: country, type: categorical}]`",
        "task": ": one of " + ", ".join(t.value for t in Task),
        "models": ": a list of monitored models",
        "name": ": a lowercase identifier",
        "type": ": numerical or categorical",
    }
    return hints.get(str(last), "")


def _allowed_keys(raw: dict, parent_loc: tuple[Any, ...]) -> set[str]:
    """The keys a model at ``parent_loc`` accepts, walking the pydantic model tree."""
    model: Any = MonitoringConfig
    for part in parent_loc:
        if isinstance(part, int):
            continue
        field = model.model_fields.get(part)
        if field is None:
            return set()
        model = _model_of(field.annotation)
        if model is None:
            return set()
    fields = set(model.model_fields) - {"base_dir", "source_file"}
    if model is TrailingReference or model is PinnedReference:
        fields = set(TrailingReference.model_fields) | set(PinnedReference.model_fields)
    return fields


def _model_of(annotation: Any) -> Any:
    import typing

    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for arg in typing.get_args(annotation):
        found = _model_of(arg)
        if found is not None:
            return found
    return None
