"""Object storage, local and on an S3 server: listing, reading back, keys that never leave the
root, whole writes; damaged lake files say where and what to do; files are readable."""

import os
import stat
import threading

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from monitoring_platform.lib import lake
from monitoring_platform.lib.storage import (
    LocalObjectStore,
    S3ObjectStore,
    StorageError,
    current_umask,
    open_store,
)


@pytest.fixture
def restore_umask():
    mask = os.umask(0o022)
    yield
    os.umask(mask)


@pytest.mark.parametrize(("mask", "mode"), [(0o022, 0o644), (0o027, 0o640), (0o077, 0o600)])
def test_written_objects_follow_the_umask(tmp_path, restore_umask, mask, mode):
    os.umask(mask)
    assert current_umask() == mask
    store = LocalObjectStore(tmp_path)
    store.put_bytes("reports/index.html", b"<html></html>")
    source = tmp_path / "data.parquet"
    pq.write_table(pa.table({"a": [1]}), source)
    key = lake.write_partition(store, lake.ACCEPTED, "shop", "2026-11-20", source)
    for path in (tmp_path / "reports" / "index.html", store.local_path(key)):
        assert stat.S_IMODE(path.stat().st_mode) == mode, path


def test_a_damaged_lake_file_names_its_path_and_the_partition_to_rerun(tmp_path):
    store = LocalObjectStore(tmp_path)
    key = lake.partition_key(lake.ACCEPTED, "shop", "2026-11-20")
    store.put_bytes(key, b"PAR1 this is not parquet at all")
    for read in (
        lambda: lake.read_partition(store, lake.ACCEPTED, "shop", "2026-11-20"),
        lambda: lake.partition_rows(store, lake.ACCEPTED, "shop", "2026-11-20"),
        lambda: lake.read_partitions(store, lake.ACCEPTED, "shop", ["2026-11-20"]),
    ):
        with pytest.raises(lake.LakeError) as caught:
            read()
        message = str(caught.value)
        assert store.uri(key) in message
        assert "re-run partition 2026-11-20 of shop/inference_logs" in message
    store.put_bytes(lake.partition_key("labels", "shop", "2026-11-21"), b"\x00" * 64)
    with pytest.raises(lake.LakeError, match="of shop/labels to rewrite it"):
        lake.read_partition(store, "labels", "shop", "2026-11-21")


def test_local_keys_never_leave_the_root_and_backslashes_are_plain(tmp_path):
    store = LocalObjectStore(tmp_path / "root")
    for key in ("../outside", "a/../../outside", "/../../etc/passwd"):
        with pytest.raises(StorageError):
            store.put_bytes(key, b"x")
    store.put_bytes("..\\..\\outside", b"x")
    assert (tmp_path / "root" / "..\\..\\outside").read_bytes() == b"x"
    assert not (tmp_path / "outside").exists()


@pytest.fixture(params=["local", "s3"])
def store(request, tmp_path):
    """An empty store of each kind: a local folder, or a prefix of a bucket on the moto server."""
    if request.param == "local":
        return LocalObjectStore(tmp_path / "root")
    bucket, factory = request.getfixturevalue("s3_bucket")
    return open_store(f"s3://{bucket}/root", client_factory=factory)


def test_listing_is_sorted_sized_and_bounded_by_whole_folder_names(store):
    objects = {
        "shop/dt=2026-11-20/b.jsonl": b"bb",
        "shop/dt=2026-11-20/a.jsonl": b"a",
        "shop/dt=2026-11-21/c.jsonl": b"ccc",
        "shopping/dt=2026-11-20/d.jsonl": b"dddd",
    }
    for key, data in objects.items():
        store.put_bytes(key, data)
    shop = sorted((k, len(v)) for k, v in objects.items() if k.startswith("shop/"))
    assert [(o.key, o.size) for o in store.list("shop")] == shop
    assert [(o.key, o.size) for o in store.list("shop/")] == shop
    assert [o.key for o in store.list("shop/dt=2026-11-21")] == ["shop/dt=2026-11-21/c.jsonl"]
    assert store.list("absent") == []
    assert [o.key for o in store.list("")] == sorted(objects)


def test_objects_read_back_and_deleting_a_prefix_spares_its_neighbours(store, tmp_path):
    source = tmp_path / "source.bin"
    source.write_bytes(bytes(range(256)) * 10)
    store.put_file("shop/file.bin", source, content_type="application/octet-stream")
    store.put_bytes("shop/page.html", b"<p>hi</p>", content_type="text/html")
    store.put_bytes("shopping/keep.txt", b"keep")
    with store.open("shop/file.bin") as stream:
        assert stream.read() == source.read_bytes()
    assert store.exists("shop/page.html") and not store.exists("shop/absent.html")
    with pytest.raises(StorageError, match="absent.html"):
        store.open("shop/absent.html").read()

    assert store.delete_prefix("shop") == 2
    assert [o.key for o in store.list("")] == ["shopping/keep.txt"]
    assert store.delete_prefix("shop") == 0


@pytest.mark.parametrize("key", ["../outside", "a/../../outside", "/../../etc/passwd", "a\x00b"])
def test_a_key_that_climbs_out_of_the_root_is_refused(store, key):
    with pytest.raises(StorageError):
        store.put_bytes(key, b"x")
    assert store.list("") == []


def test_leading_and_repeated_slashes_and_dots_stay_inside_the_root(store):
    store.put_bytes("/a//./b/c.txt", b"x")
    assert [o.key for o in store.list("")] == ["a/b/c.txt"]
    assert store.uri("a/b/c.txt").endswith("root/a/b/c.txt")


def test_an_s3_store_writes_under_its_prefix_only(s3_bucket):
    bucket, factory = s3_bucket
    client = factory()
    client.put_object(Bucket=bucket, Key="rootless/other.txt", Body=b"other")
    store = open_store(f"s3://{bucket}/root/", client_factory=factory)
    store.put_bytes("a b/c.txt", b"x")
    raw = sorted(o["Key"] for o in client.list_objects_v2(Bucket=bucket)["Contents"])
    assert raw == ["root/a b/c.txt", "rootless/other.txt"]
    assert [o.key for o in store.list("")] == ["a b/c.txt"]
    assert store.uri("a b/c.txt") == f"s3://{bucket}/root/a%20b/c.txt"
    assert store.local_path("a b/c.txt") is None


def test_a_local_symlink_out_of_the_root_is_refused(tmp_path):
    outside = tmp_path / "outside"
    outside.mkdir()
    root = tmp_path / "root"
    root.mkdir()
    (root / "link").symlink_to(outside, target_is_directory=True)
    store = LocalObjectStore(root)
    with pytest.raises(StorageError, match="escapes"):
        store.put_bytes("link/x.txt", b"x")
    with pytest.raises(StorageError, match="escapes"):
        store.open("link/x.txt")
    assert list(outside.iterdir()) == []


def test_local_writes_are_whole_to_a_concurrent_reader(tmp_path):
    store = LocalObjectStore(tmp_path)
    versions = [bytes([n]) * (4 << 20) for n in (1, 2)]
    store.put_bytes("big.bin", versions[0])
    stop = threading.Event()

    def rewrite():
        n = 0
        while not stop.is_set():
            n += 1
            store.put_bytes("big.bin", versions[n % 2])

    writer = threading.Thread(target=rewrite)
    writer.start()
    try:
        for _ in range(200):
            with store.open("big.bin") as stream:
                assert stream.read() in versions
    finally:
        stop.set()
        writer.join()
    assert [o.key for o in store.list("")] == ["big.bin"]


def test_unfinished_local_writes_are_listed_only_on_request_and_failed_ones_leave_nothing(
    tmp_path,
):
    store = LocalObjectStore(tmp_path)
    store.put_bytes("shop/a.jsonl", b"old")
    (tmp_path / "shop" / ".tmp-writing").write_bytes(b"partial")
    assert [o.key for o in store.list("shop")] == ["shop/a.jsonl"]
    assert [o.key for o in store.list("shop", include_unfinished=True)] == [
        "shop/.tmp-writing",
        "shop/a.jsonl",
    ]
    (tmp_path / "shop" / ".tmp-writing").unlink()

    with pytest.raises(FileNotFoundError):
        store.put_file("shop/a.jsonl", tmp_path / "missing-source")
    assert sorted(p.name for p in (tmp_path / "shop").iterdir()) == ["a.jsonl"]
    assert store.open("shop/a.jsonl").read() == b"old"


def test_open_store_picks_the_kind_from_the_location(tmp_path, s3_bucket):
    bucket, factory = s3_bucket
    local = open_store(str(tmp_path / "here"))
    assert isinstance(local, LocalObjectStore) and local.root == str(tmp_path / "here")
    remote = open_store(f"s3://{bucket}/a/b", client_factory=factory)
    assert isinstance(remote, S3ObjectStore)
    assert (remote.bucket, remote.prefix, remote.root) == (bucket, "a/b", f"s3://{bucket}/a/b")
    with pytest.raises(StorageError, match="needs a bucket"):
        open_store("s3:///prefix", client_factory=factory)
