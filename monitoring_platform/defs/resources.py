"""Resources shared by every stage.

The embedded and the production implementations share one interface each, and are chosen here,
from the configuration.
"""

from __future__ import annotations

from urllib.parse import quote

from dagster import ConfigurableResource

from monitoring_platform.config import MonitoringConfig, S3Settings
from monitoring_platform.lib.metric_store import MetricStore
from monitoring_platform.lib.storage import LocalObjectStore, ObjectStore, open_store, s3_client

# Where `monitoring-platform serve-reports` serves the local reports folder by default.
LOCAL_REPORTS_BASE_URL = "http://127.0.0.1:8000"


class StorageResource(ConfigurableResource):
    """Object storage for raw logs, the lake and the reports: local folders or S3 through boto3."""

    lake: str
    reports: str
    reports_base_url: str | None = None
    s3_endpoint_url: str | None = None
    s3_region: str = "us-east-1"
    access_key_id_env: str = "AWS_ACCESS_KEY_ID"
    secret_access_key_env: str = "AWS_SECRET_ACCESS_KEY"
    session_token_env: str | None = None

    def _client(self):
        settings = S3Settings(
            endpoint_url=self.s3_endpoint_url,
            region=self.s3_region,
            access_key_id_env=self.access_key_id_env,
            secret_access_key_env=self.secret_access_key_env,
            session_token_env=self.session_token_env,
        )
        return s3_client(**settings.client_arguments())

    def store(self, location: str) -> ObjectStore:
        """A store for a configured location (a folder or ``s3://bucket/prefix``)."""
        return open_store(location, self._client)

    def lake_store(self) -> ObjectStore:
        return self.store(self.lake)

    def reports_store(self) -> ObjectStore:
        return self.store(self.reports)

    def report_link(self, store: ObjectStore, key: str) -> str:
        """Where a person opens a report from the Dagster UI.

        Under ``reports_base_url`` when set; for local folders, the reports server (``monitoring-platform serve-reports``),
        since a browser does not open ``file://`` links from a web page; else its URI.
        """
        base = self.reports_base_url
        if not base and isinstance(store, LocalObjectStore):
            base = LOCAL_REPORTS_BASE_URL
        if base:
            return base.rstrip("/") + "/" + quote(key)
        return store.uri(key)


class MetricStoreResource(ConfigurableResource):
    """The SQLAlchemy metric store (SQLite by default, PostgreSQL in production)."""

    url: str

    def get(self) -> MetricStore:
        """The store for this URL, created (with its tables) once per process."""
        store = _METRIC_STORES.get(self.url)
        if store is None:
            store = _METRIC_STORES[self.url] = MetricStore(self.url)
        return store


_METRIC_STORES: dict[str, MetricStore] = {}


def build_resources(config: MonitoringConfig) -> dict[str, ConfigurableResource]:
    """The storage and metric-store resources of a configuration."""
    s3 = config.storage.s3
    return {
        "storage": StorageResource(
            lake=config.resolve_location(config.storage.lake),
            reports=config.resolve_location(config.storage.reports),
            reports_base_url=config.storage.reports_base_url,
            s3_endpoint_url=s3.resolved_endpoint_url(),
            s3_region=s3.region,
            access_key_id_env=s3.access_key_id_env,
            secret_access_key_env=s3.secret_access_key_env,
            session_token_env=s3.session_token_env,
        ),
        "metric_store": MetricStoreResource(url=config.metric_store_url()),
    }
