"""The pydantic model of ``monitoring.yaml`` and its loader.

Everything a user configures lives in one YAML file. Loading it validates every key; a mistake
fails with a :class:`ConfigError` naming the file, the key and what is expected. Secrets are never
read from the file: the file names environment variables (keys ending in ``_env``).

The schema is split by section: ``common`` (shared types), ``models`` (a monitored model),
``alerts`` (routes and rules), ``simulation`` (the demo traffic generator), ``platform`` (the whole
file) and ``loading`` (reading it).
"""

from monitoring_platform.config.alerts import (
    SEVERITIES,
    Alerts,
    EmailRoute,
    PagerDutyRoute,
    Route,
    Rule,
    SlackRoute,
    WebhookRoute,
)
from monitoring_platform.config.common import (
    CONFIG_ENV_VAR,
    DEFAULT_CONFIG_FILE,
    RESERVED_COLUMNS,
    ConfigError,
    EnvVarName,
    Location,
    check_location,
)
from monitoring_platform.config.loading import (
    default_config_path,
    load_config,
    parse_config,
    partitions_start_path,
)
from monitoring_platform.config.models import (
    CATEGORICAL_STATTESTS,
    NUMERICAL_STATTESTS,
    ColumnDriftSettings,
    Columns,
    DriftThresholds,
    Estimation,
    Events,
    Feature,
    FeatureType,
    KpiDrops,
    Labels,
    ModelConfig,
    PinnedReference,
    QualityThresholds,
    Task,
    Thresholds,
    TrailingReference,
    Validation,
)
from monitoring_platform.config.platform import (
    Digest,
    MetricStore,
    MonitoringConfig,
    Partitions,
    S3Settings,
    Schedule,
    Storage,
    Warehouse,
)
from monitoring_platform.config.secrets import MASK, SECRET_KEYS, redact_url_credentials
from monitoring_platform.config.simulation import Simulation

__all__ = [
    "CATEGORICAL_STATTESTS",
    "CONFIG_ENV_VAR",
    "DEFAULT_CONFIG_FILE",
    "MASK",
    "NUMERICAL_STATTESTS",
    "RESERVED_COLUMNS",
    "SECRET_KEYS",
    "SEVERITIES",
    "Alerts",
    "ColumnDriftSettings",
    "Columns",
    "ConfigError",
    "Digest",
    "DriftThresholds",
    "EmailRoute",
    "EnvVarName",
    "Estimation",
    "Events",
    "Feature",
    "FeatureType",
    "KpiDrops",
    "Labels",
    "Location",
    "MetricStore",
    "ModelConfig",
    "MonitoringConfig",
    "PagerDutyRoute",
    "Partitions",
    "PinnedReference",
    "QualityThresholds",
    "Route",
    "Rule",
    "S3Settings",
    "Schedule",
    "Simulation",
    "SlackRoute",
    "Storage",
    "Task",
    "Thresholds",
    "TrailingReference",
    "Validation",
    "Warehouse",
    "WebhookRoute",
    "check_location",
    "default_config_path",
    "load_config",
    "parse_config",
    "redact_url_credentials",
    "partitions_start_path",
]
