"""Where the writer's objects go: a local folder (whole files, no leftovers) or an S3 prefix."""

import pytest

from monitoring_platform.client.sinks import LocalSink, S3Sink, default_s3_client, open_sink


def test_a_local_sink_writes_whole_objects_and_leaves_nothing_when_a_write_fails(tmp_path):
    sink = open_sink(tmp_path / "raw")
    assert isinstance(sink, LocalSink) and sink.location == str(tmp_path / "raw")
    sink.put("logs/shop/dt=2026-11-20/part-1.jsonl.gz", b"first")
    sink.put("logs/shop/dt=2026-11-20/part-1.jsonl.gz", b"second")
    folder = tmp_path / "raw" / "logs" / "shop" / "dt=2026-11-20"
    assert [(p.name, p.read_bytes()) for p in folder.iterdir()] == [("part-1.jsonl.gz", b"second")]

    with pytest.raises(TypeError):
        sink.put("logs/shop/dt=2026-11-20/part-2.jsonl.gz", object())
    assert [p.name for p in folder.iterdir()] == ["part-1.jsonl.gz"], "no temporary file left"


def test_an_s3_sink_writes_under_its_prefix_with_the_gzip_content_type(s3_bucket):
    bucket, factory = s3_bucket
    made = []

    def counting_factory():
        made.append(1)
        return factory()

    sink = open_sink(f"s3://{bucket}/raw/", client_factory=counting_factory)
    assert isinstance(sink, S3Sink) and sink.location == f"s3://{bucket}/raw"
    assert made == [], "the client is made on the first write"
    sink.put("logs/shop/dt=2026-11-20/a.jsonl.gz", b"a")
    sink.put("logs/shop/dt=2026-11-20/b.jsonl.gz", b"b")
    assert made == [1]
    client = factory()
    keys = sorted(o["Key"] for o in client.list_objects_v2(Bucket=bucket)["Contents"])
    assert keys == [
        "raw/logs/shop/dt=2026-11-20/a.jsonl.gz",
        "raw/logs/shop/dt=2026-11-20/b.jsonl.gz",
    ]
    head = client.head_object(Bucket=bucket, Key=keys[0])
    assert head["ContentType"] == "application/gzip"
    with pytest.raises(ValueError, match="needs a bucket"):
        open_sink("s3:///raw")


def test_default_s3_client_reads_the_endpoint_and_region_from_the_environment(monkeypatch):
    monkeypatch.setenv("MONITORING_S3_ENDPOINT_URL", "http://127.0.0.1:9")
    monkeypatch.delenv("AWS_REGION", raising=False)
    monkeypatch.setenv("AWS_DEFAULT_REGION", "eu-west-1")
    client = default_s3_client()
    assert client.meta.endpoint_url == "http://127.0.0.1:9"
    assert client.meta.region_name == "eu-west-1"
