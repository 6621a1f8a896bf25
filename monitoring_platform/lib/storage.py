"""Object storage: one interface, a local-folder and an S3 (boto3) implementation.

Keys are ``/``-separated and relative to the store's root. A local store never reads or writes
outside its root, whatever a key contains.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import IO, Protocol
from urllib.parse import quote

PARTITION_DIR = "dt={date}"
# Name prefix of the temporary file a local write goes to before its atomic rename.
TEMPORARY_PREFIX = ".tmp-"


class StorageError(RuntimeError):
    """Reading or writing an object failed; the message names the store and key."""


@dataclass(frozen=True)
class ObjectInfo:
    """A stored object: its key under the store's root and its size in bytes."""

    key: str
    size: int


class ObjectStore(Protocol):
    """The operations the platform needs from object storage."""

    root: str

    def list(self, prefix: str, include_unfinished: bool = False) -> list[ObjectInfo]:
        """Objects whose key starts with ``prefix`` (a folder-like prefix), sorted by key.

        ``include_unfinished`` also lists the temporary ``.tmp-*`` files of writes in progress
        (local folders only: a PUT to S3 is atomic).
        """
        ...

    def open(self, key: str) -> IO[bytes]:
        """A binary stream of the object's bytes, read lazily; ``key`` exactly as listed."""
        ...

    def put_bytes(self, key: str, data: bytes, content_type: str | None = None) -> None: ...

    def put_file(
        self, key: str, path: str | os.PathLike[str], content_type: str | None = None
    ) -> None: ...

    def delete_prefix(self, prefix: str) -> int: ...

    def exists(self, key: str) -> bool: ...

    def uri(self, key: str) -> str:
        """A URI for humans and metadata: ``file:///...`` or ``s3://bucket/key``."""
        ...

    def local_path(self, key: str) -> Path | None:
        """The object's path on this machine, for local stores; ``None`` for remote ones."""
        ...


def safe_key(key: str) -> str:
    """Normalise a key and refuse anything that could climb out of the store's root.

    A backslash is an ordinary character of a key (as on S3 and in POSIX file names).
    """
    if "\x00" in key:
        raise StorageError(f"object key contains a NUL byte: {key!r}")
    parts = [p for p in PurePosixPath(key).parts if p not in ("", ".", "/")]
    if any(p == ".." for p in parts):
        raise StorageError(f"object key escapes the storage root: {key!r}")
    return "/".join(parts)


def join_key(*parts: str) -> str:
    """The key made of ``parts`` joined by ``/``, checked by :func:`safe_key`."""
    return safe_key("/".join(p.strip("/") for p in parts if p))


def current_umask() -> int:
    """The process's file-creation mask, read without changing it where the system allows."""
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except OSError:
        pass
    mask = os.umask(0o022)  # elsewhere: read by setting, then restore at once
    os.umask(mask)
    return mask


def _publish(tmp: str, target: Path) -> None:
    """Give a finished temporary file the mode a plain ``open`` would, then rename it in place.

    ``mkstemp`` makes files readable by their owner only; reports and lake files are read by
    other users too (a web server serving the reports folder).
    """
    os.chmod(tmp, 0o666 & ~current_umask())
    os.replace(tmp, target)


class LocalObjectStore:
    """A folder on this machine standing in for a bucket."""

    def __init__(self, root: str | os.PathLike[str]):
        self._root = Path(root).resolve()
        self.root = str(self._root)

    def _path(self, key: str) -> Path:
        path = (self._root / safe_key(key)).resolve()
        if path != self._root and self._root not in path.parents:
            raise StorageError(f"object key escapes the storage root {self.root}: {key!r}")
        return path

    def list(self, prefix: str, include_unfinished: bool = False) -> list[ObjectInfo]:
        prefix = safe_key(prefix)
        base = self._path(prefix)
        if not base.exists():
            return []
        if base.is_file():
            return [ObjectInfo(prefix, base.stat().st_size)]
        found = []
        for dirpath, _dirnames, filenames in os.walk(base):
            for name in filenames:
                if name.startswith(TEMPORARY_PREFIX) and not include_unfinished:
                    continue
                full = Path(dirpath) / name
                key = full.relative_to(self._root).as_posix()
                found.append(ObjectInfo(key, full.stat().st_size))
        return sorted(found, key=lambda o: o.key)

    def open(self, key: str) -> IO[bytes]:
        path = self._path(key)
        try:
            return open(path, "rb")
        except FileNotFoundError:
            raise StorageError(f"no object {key!r} in {self.root}") from None

    def put_bytes(self, key: str, data: bytes, content_type: str | None = None) -> None:
        path = self._path(key)
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=TEMPORARY_PREFIX, dir=path.parent)
        try:
            with os.fdopen(fd, "wb") as fh:
                fh.write(data)
            _publish(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise

    def put_file(
        self, key: str, path: str | os.PathLike[str], content_type: str | None = None
    ) -> None:
        target = self._path(key)
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=TEMPORARY_PREFIX, dir=target.parent)
        os.close(fd)
        try:
            shutil.copyfile(path, tmp)
            _publish(tmp, target)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise

    def delete_prefix(self, prefix: str) -> int:
        objects = self.list(prefix)
        for obj in objects:
            self._path(obj.key).unlink(missing_ok=True)
        return len(objects)

    def exists(self, key: str) -> bool:
        return self._path(key).is_file()

    def uri(self, key: str) -> str:
        return self._path(key).as_uri()

    def local_path(self, key: str) -> Path | None:
        return self._path(key)


class S3ObjectStore:
    """A bucket (and optional prefix) on S3 or an S3-compatible store, through boto3."""

    def __init__(self, bucket: str, prefix: str = "", client=None):
        if not bucket:
            raise StorageError("an S3 location needs a bucket: s3://bucket/prefix")
        self.bucket = bucket
        self.prefix = safe_key(prefix)
        self.root = f"s3://{bucket}/{self.prefix}".rstrip("/")
        self._client = client

    def _key(self, key: str) -> str:
        return join_key(self.prefix, key)

    def _rel(self, full_key: str) -> str:
        return full_key[len(self.prefix) + 1 :] if self.prefix else full_key

    def list(self, prefix: str, include_unfinished: bool = False) -> list[ObjectInfo]:
        full = self._key(prefix)
        if full:
            full += "/"
        paginator = self._client.get_paginator("list_objects_v2")
        try:
            found = [
                ObjectInfo(self._rel(item["Key"]), int(item["Size"]))
                for page in paginator.paginate(Bucket=self.bucket, Prefix=full)
                for item in page.get("Contents", [])
            ]
        except Exception as exc:  # botocore raises many types; name the place
            raise StorageError(f"listing {self.root}/{prefix} failed: {exc}") from exc
        return sorted(found, key=lambda o: o.key)

    def _listed_key(self, key: str) -> str:
        # S3 keys are names, not paths: "..", "./", "//" and "\\" are ordinary characters there,
        # and normalising a listed key would fetch another object.
        if "\x00" in key:
            raise StorageError(f"object key contains a NUL byte: {key!r}")
        return f"{self.prefix}/{key}" if self.prefix else key

    def open(self, key: str) -> IO[bytes]:
        try:
            response = self._client.get_object(Bucket=self.bucket, Key=self._listed_key(key))
        except Exception as exc:
            raise StorageError(f"reading {self.root}/{key} failed: {exc}") from exc
        return response["Body"]

    def put_bytes(self, key: str, data: bytes, content_type: str | None = None) -> None:
        extra = {"ContentType": content_type} if content_type else {}
        try:
            self._client.put_object(Bucket=self.bucket, Key=self._key(key), Body=data, **extra)
        except Exception as exc:
            raise StorageError(f"writing {self.root}/{key} failed: {exc}") from exc

    def put_file(
        self, key: str, path: str | os.PathLike[str], content_type: str | None = None
    ) -> None:
        extra = {"ExtraArgs": {"ContentType": content_type}} if content_type else {}
        try:
            self._client.upload_file(str(path), self.bucket, self._key(key), **extra)
        except Exception as exc:
            raise StorageError(f"writing {self.root}/{key} failed: {exc}") from exc

    def delete_prefix(self, prefix: str) -> int:
        objects = self.list(prefix)
        for start in range(0, len(objects), 1000):
            batch = objects[start : start + 1000]
            self._client.delete_objects(
                Bucket=self.bucket,
                Delete={"Objects": [{"Key": self._key(o.key)} for o in batch], "Quiet": True},
            )
        return len(objects)

    def exists(self, key: str) -> bool:
        try:
            self._client.head_object(Bucket=self.bucket, Key=self._key(key))
            return True
        except Exception:
            return False

    def uri(self, key: str) -> str:
        return f"s3://{self.bucket}/{quote(self._key(key))}"

    def local_path(self, key: str) -> Path | None:
        return None


def s3_client(
    endpoint_url: str | None = None,
    region: str = "us-east-1",
    access_key_id: str | None = None,
    secret_access_key: str | None = None,
    session_token: str | None = None,
):
    """A boto3 S3 client, for an S3-compatible server when ``endpoint_url`` is given.

    Credentials not given are taken from the environment; throttled and failed calls are
    retried up to five times.
    """
    import boto3
    from botocore.config import Config

    return boto3.client(
        "s3",
        endpoint_url=endpoint_url,
        region_name=region,
        aws_access_key_id=access_key_id,
        aws_secret_access_key=secret_access_key,
        aws_session_token=session_token,
        config=Config(retries={"max_attempts": 5, "mode": "standard"}),
    )


def open_store(location: str, client_factory=None) -> ObjectStore:
    """A store for a local folder or an ``s3://bucket/prefix`` location."""
    if location.startswith("s3://"):
        bucket, _, prefix = location[len("s3://") :].partition("/")
        client = client_factory() if client_factory else s3_client()
        return S3ObjectStore(bucket, prefix, client)
    return LocalObjectStore(location)


def partition_prefix(model: str, date: str) -> str:
    """The key prefix of one model's objects for one day: ``<model>/dt=YYYY-MM-DD``."""
    return join_key(model, PARTITION_DIR.format(date=date))
