"""Names and types every part of the configuration schema shares.

The configuration error, the patterns of identifiers and environment-variable names, the keys that
would hold a secret, and the storage-location type with its validation.
"""

from __future__ import annotations

import re
from typing import Annotated

from pydantic import AfterValidator, BaseModel, ConfigDict, Field

CONFIG_ENV_VAR = "MONITORING_CONFIG"
DEFAULT_CONFIG_FILE = "monitoring.yaml"

IDENTIFIER = r"^[A-Za-z_][A-Za-z0-9_]{0,62}$"
MODEL_NAME = r"^[a-z][a-z0-9_]{0,62}$"
ENV_VAR_NAME = r"^[A-Z_][A-Z0-9_]*$"

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
    """A storage root: a local folder, or ``s3://bucket[/prefix]``.

    The bucket name must be valid and the prefix plain segments. Anything else (another scheme, ``file://``, an empty bucket, a
    prefix with ``..``, ``.``, an empty segment or a backslash) is refused, saying the fix.
    """
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


class Strict(BaseModel):
    """A settings section: unknown keys are refused and values are frozen."""

    model_config = ConfigDict(extra="forbid", frozen=True)
