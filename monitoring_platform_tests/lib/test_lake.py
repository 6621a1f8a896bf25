"""The lake: one Parquet file per dataset, model and day, replaced on rewrite."""

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from monitoring_platform.lib import lake
from monitoring_platform.lib.storage import LocalObjectStore


@pytest.fixture
def store(tmp_path):
    return LocalObjectStore(tmp_path / "lake")


def put(store, tmp_path, date, table, dataset=lake.ACCEPTED):
    path = tmp_path / f"{dataset}-{date}.parquet"
    pq.write_table(table, path)
    return lake.write_partition(store, dataset, "shop", date, path)


def test_a_written_partition_reads_back_and_a_rewrite_replaces_it(store, tmp_path):
    key = put(store, tmp_path, "2026-01-02", pa.table({"x": [1, 2, 3]}))
    assert key == "inference_logs/model=shop/dt=2026-01-02/data.parquet"
    put(store, tmp_path, "2026-01-02", pa.table({"x": [7]}))
    assert lake.read_partition(store, lake.ACCEPTED, "shop", "2026-01-02").to_pylist() == [{"x": 7}]
    assert lake.partition_rows(store, lake.ACCEPTED, "shop", "2026-01-02") == 1
    assert lake.read_partition(store, lake.ACCEPTED, "shop", "2026-01-03") is None
    assert lake.partition_rows(store, lake.ACCEPTED, "shop", "2026-01-03") is None


def test_several_days_are_concatenated_and_the_missing_ones_named(store, tmp_path):
    put(store, tmp_path, "2026-01-01", pa.table({"c": ["a", None], "n": [1, 2]}))
    put(store, tmp_path, "2026-01-03", pa.table({"c": ["b", "a"], "n": [3, 4]}))
    days = ["2026-01-01", "2026-01-02", "2026-01-03"]
    table, found, missing = lake.read_partitions(store, lake.ACCEPTED, "shop", days, ["n"])
    assert table.column_names == ["n"] and table.column("n").to_pylist() == [1, 2, 3, 4]
    assert (found, missing) == (["2026-01-01", "2026-01-03"], ["2026-01-02"])
    assert lake.distinct_values(store, lake.ACCEPTED, "shop", days, ["c"]) == {"c": {"a", "b"}}
    assert lake.read_partitions(store, lake.ACCEPTED, "shop", ["2026-02-01"], None)[0] is None


def test_a_damaged_file_names_the_partition_to_rerun(store, tmp_path):
    store.put_bytes(lake.partition_key("labels", "shop", "2026-01-05"), b"not parquet", "x")
    with pytest.raises(lake.LakeError) as caught:
        lake.read_partition(store, "labels", "shop", "2026-01-05")
    message = str(caught.value)
    assert store.uri(lake.partition_key("labels", "shop", "2026-01-05")) in message
    assert "re-run partition 2026-01-05 of shop/labels" in message


def test_manifests_round_trip(store):
    assert lake.read_manifest(store, lake.REFERENCE, "shop", "2026-01-05") is None
    lake.write_manifest(store, lake.REFERENCE, "shop", "2026-01-05", {"days": ["2026-01-04"]})
    assert lake.read_manifest(store, lake.REFERENCE, "shop", "2026-01-05") == {
        "days": ["2026-01-04"]
    }


def test_an_ingestion_writes_both_of_its_outputs(store):
    class Result:
        pass

    def ingest(workdir):
        result = Result()
        result.accepted_path = workdir / "a.parquet"
        result.quarantine_path = workdir / "q.parquet"
        pq.write_table(pa.table({"x": [1]}), result.accepted_path)
        pq.write_table(pa.table({"reason": ["bad"]}), result.quarantine_path)
        return result

    _, accepted, quarantined = lake.ingest_into_lake(
        ingest, store, "labels", "labels_quarantine", "shop", "2026-01-05"
    )
    assert lake.read_partition(store, "labels", "shop", "2026-01-05").num_rows == 1
    assert quarantined == lake.partition_key("labels_quarantine", "shop", "2026-01-05")
    assert accepted == lake.partition_key("labels", "shop", "2026-01-05")
