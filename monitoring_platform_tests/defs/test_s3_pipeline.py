"""The same partitions with raw logs, lake and reports in a bucket, over HTTP to a local S3 server."""

import datetime as dt

import pytest
from dagster import AssetKey, DagsterInstance

from monitoring_platform.config import load_config
from monitoring_platform.definitions import build_definitions
from monitoring_platform.lib import lake
from monitoring_platform.lib.storage import S3ObjectStore
from monitoring_platform.lib.traffic import generate_traffic
from monitoring_platform_tests.conftest import small_config_dict, write_config
from monitoring_platform_tests.support import run_day

MODEL = "eta_regressor"


@pytest.mark.slow
def test_partitions_run_against_s3(tmp_path, s3_server, s3_bucket, monkeypatch):
    bucket, client_factory = s3_bucket
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    raw = small_config_dict(tmp_path, requests_per_day=800)
    raw["storage"] = {
        "raw": f"s3://{bucket}/raw",
        "lake": f"s3://{bucket}/lake",
        "reports": f"s3://{bucket}/reports",
        "s3": {"endpoint_url": s3_server},
    }
    config = load_config(write_config(tmp_path, raw))
    start, end = dt.date(2026, 11, 1), dt.date(2026, 11, 3)
    generate_traffic(config, start, end, seed=5, models=[MODEL], client_factory=client_factory)

    defs = build_definitions(config)
    instance = DagsterInstance.ephemeral()
    results = [run_day(defs, instance, start + dt.timedelta(days=n), MODEL) for n in range(3)]
    assert all(r.success for r in results)

    client = client_factory()
    lake_store = S3ObjectStore(bucket, "lake", client)
    table = lake.read_partition(lake_store, lake.ACCEPTED, MODEL, end)
    assert table is not None and table.num_rows > 700
    assert set(table.column("object_key").to_pylist()) <= {
        o.key for o in S3ObjectStore(bucket, "raw/logs", client).list(f"{MODEL}/dt={end}")
    }
    (event,) = [
        e
        for e in results[-1].get_asset_materialization_events()
        if e.asset_key == AssetKey([MODEL, "data_drift_report"])
    ]
    link = event.event_specific_data.materialization.metadata["report"].value
    assert link == f"s3://{bucket}/reports/{MODEL}/{end}/data_drift.html"
    body = client.get_object(Bucket=bucket, Key=f"reports/{MODEL}/{end}/data_drift.html")
    assert body["ContentType"].startswith("text/html")
    html = body["Body"].read().decode()
    assert "var evidently_report = " in html and "distance_km" in html
