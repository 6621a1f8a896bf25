"""Fixtures shared by the test tiers: small configurations, a local S3 server, PostgreSQL."""

from __future__ import annotations

import os
import re
import signal
import socket
import threading
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(autouse=True)
def _sigterm_not_left_ignored():
    """Each test starts with SIGTERM not ignored, whatever the tests before it ran.

    After running a step on the main thread, Dagster sets SIGTERM to SIGINT's handler
    (``dagster._utils.interrupts``). Where the test runner was started with SIGINT ignored (in
    the background of a shell, as ``cmd &`` starts it), SIGTERM is then ignored for the rest of
    the process, and every process a later test starts inherits that: the ``tail`` processes
    that mirror a run's logs then outlive the SIGTERM that stops them, and the run waits a
    minute for them.
    """
    main = threading.current_thread() is threading.main_thread()
    if main and signal.getsignal(signal.SIGTERM) is signal.SIG_IGN:
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
    yield


def small_config_dict(tmp_path: Path, requests_per_day: int = 2000) -> dict:
    """The demo configuration with small volumes and every location inside ``tmp_path``."""
    raw = yaml.safe_load((REPO / "monitoring.yaml").read_text())
    raw["storage"] = {
        "raw": str(tmp_path / "raw"),
        "lake": str(tmp_path / "lake"),
        "reports": str(tmp_path / "reports"),
    }
    raw["metric_store"] = {"url": f"sqlite:///{tmp_path / 'metrics.db'}"}
    for model in raw["models"]:
        model["simulation"]["requests_per_day"] = requests_per_day
        model["reference"]["min_rows"] = 200
    return raw


# The end-to-end tests that start Dagster's own processes (a backfill command and its workers,
# `dagster dev`, the demo): `make test` runs the suite in two processes (pytest-xdist, `--dist
# loadgroup`) and these one after another in one of them, so no two of them share the cores.
END_TO_END = pytest.mark.xdist_group("end_to_end")


def write_config(tmp_path: Path, raw: dict) -> Path:
    path = tmp_path / "monitoring.yaml"
    path.write_text(yaml.safe_dump(raw, sort_keys=False))
    return path


@pytest.fixture
def small_config(tmp_path):
    from monitoring_platform.config import load_config

    return load_config(write_config(tmp_path, small_config_dict(tmp_path)))


def free_port() -> int:
    """A TCP port on 127.0.0.1 that is free now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="session")
def s3_server():
    """moto's S3-compatible server, over HTTP on 127.0.0.1, for the whole session."""
    from moto.server import ThreadedMotoServer

    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port)
    server.start()
    os.environ.setdefault("AWS_ACCESS_KEY_ID", "testing")
    os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "testing")
    yield f"http://127.0.0.1:{port}"
    server.stop()


@pytest.fixture
def s3_bucket(s3_server, request):
    """A fresh bucket on the local S3 server and a client factory for it."""
    from monitoring_platform.lib.storage import s3_client

    def factory():
        return s3_client(
            endpoint_url=s3_server, access_key_id="testing", secret_access_key="testing"
        )

    name = "test-" + re.sub(r"[^a-z0-9-]+", "-", request.node.name.lower())[:40].strip("-")
    factory().create_bucket(Bucket=name)
    return name, factory


@pytest.fixture
def postgres_url():
    """A fresh database on the local PostgreSQL (127.0.0.1:5432), dropped afterwards."""
    import uuid

    import psycopg2

    name = f"mp_test_{uuid.uuid4().hex[:12]}"
    admin = psycopg2.connect(host="127.0.0.1", port=5432, user="postgres", dbname="postgres")
    admin.autocommit = True
    with admin.cursor() as cur:
        cur.execute(f'CREATE DATABASE "{name}"')
    try:
        yield f"postgresql+psycopg2://postgres@127.0.0.1:5432/{name}"
    finally:
        from sqlalchemy import create_engine

        create_engine("postgresql+psycopg2://postgres@127.0.0.1:5432/postgres").dispose()
        with admin.cursor() as cur:
            cur.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.close()


# Rows of the dbt marts as the warehouse returns them, and a page publisher for stages.


def _system_row(day, version, p95, error_rate, requests=1000):
    return {
        "model_name": "shop",
        "metric_date": day,
        "model_version": version,
        "requests": requests,
        "peak_requests_per_minute": 9,
        "latency_p50_ms": p95 / 2,
        "latency_p95_ms": p95,
        "latency_p99_ms": p95 * 2,
        "server_errors": round(error_rate * requests),
        "throttled_requests": 10,
        "error_rate": error_rate,
        "throttle_rate": 10 / requests,
    }


def _business_row(day, version, predictions, clicks, conversions, revenue):
    return {
        "model_name": "shop",
        "metric_date": day,
        "model_version": version,
        "predictions": predictions,
        "clicks": clicks,
        "conversions": conversions,
        "revenue": revenue,
        "click_through_rate": clicks / predictions,
        "conversion_rate": conversions / predictions,
        "revenue_per_1k_predictions": 1000 * revenue / predictions,
    }


@pytest.fixture
def system_row():
    """A row of the system mart: ``(day, version, p95, error_rate, requests=1000)``."""
    return _system_row


@pytest.fixture
def business_row():
    """A row of the business mart: ``(day, version, predictions, clicks, conversions, revenue)``."""
    return _business_row


class _Pages:
    """Publishes pages into ``published`` and links each under a fake host."""

    def __init__(self):
        self.published = {}

    def __call__(self, name, html):
        self.published[name] = html
        return f"https://reports.test/{name}.html"


@pytest.fixture
def pages():
    """A stage's ``publish_page``: what it published is in ``pages.published``."""
    return _Pages()
