"""The whole ``monitoring.yaml``: storage, metric store, warehouse, partitions, schedule, digest."""

from __future__ import annotations

import datetime as dt
import os
import re
from pathlib import Path
from typing import Annotated, Literal, TypedDict

from pydantic import Field, field_validator, model_validator

from monitoring_platform.config.alerts import Alerts
from monitoring_platform.config.common import (
    IDENTIFIER,
    ConfigError,
    EnvVarName,
    Location,
    Strict,
)
from monitoring_platform.config.models import ModelConfig


class S3ClientArguments(TypedDict):
    """The keyword arguments of an S3 client, credentials included."""

    endpoint_url: str | None
    region: str
    access_key_id: str | None
    secret_access_key: str | None
    session_token: str | None


class S3Settings(Strict):
    """How to reach S3 or an S3-compatible store. Credentials come from the environment."""

    endpoint_url: str | None = Field(default=None, description="For MinIO and other S3 stores.")
    endpoint_url_env: EnvVarName | None = None
    region: str = "us-east-1"
    access_key_id_env: EnvVarName = "AWS_ACCESS_KEY_ID"
    secret_access_key_env: EnvVarName = "AWS_SECRET_ACCESS_KEY"
    session_token_env: EnvVarName | None = None

    def resolved_endpoint_url(self) -> str | None:
        """The endpoint: from ``endpoint_url_env`` when that variable is set, else ``endpoint_url``."""
        if self.endpoint_url_env and os.environ.get(self.endpoint_url_env):
            return os.environ[self.endpoint_url_env]
        return self.endpoint_url

    def client_arguments(self, endpoint_url: str | None = None) -> S3ClientArguments:
        """An S3 client's endpoint, region and credentials, read from the named variables.

        Args:
            endpoint_url: An endpoint that replaces the configured one.
        """
        token = os.environ.get(self.session_token_env) if self.session_token_env else None
        return {
            "endpoint_url": endpoint_url or self.resolved_endpoint_url(),
            "region": self.region,
            "access_key_id": os.environ.get(self.access_key_id_env),
            "secret_access_key": os.environ.get(self.secret_access_key_env),
            "session_token": token,
        }


class Storage(Strict):
    """Roots of the storage roles: a local folder or ``s3://bucket/prefix`` each."""

    raw: Location = Field(default="var/data/raw", description="Logs, labels and events.")
    lake: Location = Field(default="var/data/lake", description="Accepted and quarantined rows.")
    reports: Location = Field(default="var/reports", description="HTML reports.")
    reports_base_url: str | None = Field(
        default=None, description="Public URL of the reports root, used in links."
    )
    s3: S3Settings = S3Settings()


class MetricStore(Strict):
    """The database of metric values, check results and alert state."""

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


class Warehouse(Strict):
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


class Partitions(Strict):
    """The daily partitions: the first day and the time zone."""

    start_date: dt.date = dt.date(2026, 1, 1)
    timezone: Literal["UTC"] = "UTC"
    start_date_file: str | None = Field(
        default=None,
        description="A file holding an ISO date that replaces start_date when it exists "
        "(the demo writes the first day of its traffic there).",
    )


class Schedule(Strict):
    """When the daily evaluation runs, and how the arrival sensor looks for new log objects."""

    cron: str = Field(default="0 6 * * *", description="Cron of the daily evaluation.")
    timezone: str = Field(default="UTC", description="IANA time zone the cron is read in.")
    logs_lookback_days: int = Field(
        default=3, ge=1, le=90, description="Days back the arrival sensor watches for new objects."
    )
    sensor_interval_seconds: int = Field(default=60, ge=10, le=86_400)
    runs: Literal["per_day", "per_model"] = Field(
        default="per_model",
        description=(
            "per_model: one run per model-day (`<model>_daily_schedule`), run side by side by "
            "the run queue; per_day: one run a day evaluates every model (`daily_schedule`, "
            "`monitoring_job`), sharing the run's start-up and one dbt build, but a model-day "
            "stopped by a blocking check then also stops that day's dbt build for every model."
        ),
    )
    parallel_runs: int = Field(
        default=1,
        ge=1,
        le=64,
        description=(
            "per_day: the models are split into this many runs a day (each model always in the "
            "same one), which the run queue runs side by side, one dbt build each; the demo "
            "runs this many runs at once, each in its own process. Up to the cores a run may use."
        ),
    )
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


class Digest(Strict):
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


class MonitoringConfig(Strict):
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

    def run_groups(self) -> list[list[ModelConfig]]:
        """The models each scheduled run of a day evaluates, in the configured order.

        ``per_model``: one model a run. ``per_day``: ``schedule.parallel_runs`` runs (at most one
        per model), the models dealt out in turn, so a model stays in the same run every day.
        """
        if self.schedule.runs == "per_model":
            return [[model] for model in self.models]
        count = max(1, min(self.schedule.parallel_runs, len(self.models)))
        return [self.models[n::count] for n in range(count)]

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
