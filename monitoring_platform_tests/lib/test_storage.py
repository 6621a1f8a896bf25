"""Faults of storage and the lake: damaged files say where and what to do; files are readable."""

import os
import stat

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from monitoring_platform.lib import lake
from monitoring_platform.lib.storage import LocalObjectStore, current_umask


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
    from monitoring_platform.lib.storage import StorageError

    store = LocalObjectStore(tmp_path / "root")
    for key in ("../outside", "a/../../outside", "/../../etc/passwd"):
        with pytest.raises(StorageError):
            store.put_bytes(key, b"x")
    store.put_bytes("..\\..\\outside", b"x")
    assert (tmp_path / "root" / "..\\..\\outside").read_bytes() == b"x"
    assert not (tmp_path / "outside").exists()
