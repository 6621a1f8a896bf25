"""Where finished objects go: a local folder (atomic rename) or an S3 bucket (boto3).

A sink puts one whole object under a key relative to the raw root (``logs/<model>/dt=.../x.jsonl.gz``)
and raises when it could not; retrying and spilling are the writer's business.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any, Protocol

CONTENT_TYPE = "application/gzip"


class Sink(Protocol):
    """Puts whole objects under keys relative to the raw root."""

    location: str

    def put(self, key: str, data: bytes) -> None: ...


class LocalSink:
    """A folder on this machine: each object appears whole, through a rename in its folder.

    The temporary name starts with ``.tmp-``, which the platform's listing skips.
    """

    def __init__(self, root: str | os.PathLike[str]):
        self.root = Path(root).resolve()
        self.location = str(self.root)

    def put(self, key: str, data: bytes) -> None:
        path = self.root / key
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=".tmp-", dir=path.parent)
        try:
            with os.fdopen(fd, "wb") as fh:
                fh.write(data)
                fh.flush()
                os.fsync(fh.fileno())
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise


class S3Sink:
    """A bucket and prefix on S3 or an S3-compatible store (MinIO), through boto3."""

    def __init__(self, bucket: str, prefix: str = "", client_factory: Callable | None = None):
        if not bucket:
            raise ValueError("an S3 location needs a bucket: s3://bucket/prefix")
        self.bucket = bucket
        self.prefix = prefix.strip("/")
        self.location = f"s3://{bucket}/{self.prefix}".rstrip("/")
        self._client_factory = client_factory or default_s3_client
        self._client: Any = None  # a boto3 client, made on the first write

    def put(self, key: str, data: bytes) -> None:
        if self._client is None:
            self._client = self._client_factory()
        full = f"{self.prefix}/{key}" if self.prefix else key
        self._client.put_object(Bucket=self.bucket, Key=full, Body=data, ContentType=CONTENT_TYPE)


def default_s3_client():
    """A boto3 client with short timeouts and no retries of its own (the writer retries).

    The endpoint comes from ``MONITORING_S3_ENDPOINT_URL`` (MinIO), credentials from the usual
    AWS variables or instance role.
    """
    import boto3
    from botocore.config import Config

    return boto3.client(
        "s3",
        endpoint_url=os.environ.get("MONITORING_S3_ENDPOINT_URL") or None,
        region_name=os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION") or None,
        config=Config(
            connect_timeout=5, read_timeout=10, retries={"max_attempts": 1, "mode": "standard"}
        ),
    )


def open_sink(location: str | os.PathLike[str], client_factory: Callable | None = None) -> Sink:
    """A sink for a local folder or an ``s3://bucket/prefix`` location."""
    text = str(location)
    if text.startswith("s3://"):
        bucket, _, prefix = text[len("s3://") :].partition("/")
        return S3Sink(bucket, prefix, client_factory)
    return LocalSink(text)
