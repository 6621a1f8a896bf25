"""The lake: accepted and quarantined rows per model and day, as Parquet in object storage.

Layout (Hive-style, so DuckDB, dbt and Spark read it as partitioned tables)::

    inference_logs/model=<model>/dt=<YYYY-MM-DD>/data.parquet
    quarantine/model=<model>/dt=<YYYY-MM-DD>/data.parquet

One file per partition: writing a partition replaces it.
"""

from __future__ import annotations

import datetime as dt
import json
import tempfile
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from monitoring_platform.lib.storage import ObjectStore, join_key

ACCEPTED = "inference_logs"
QUARANTINE = "quarantine"
REFERENCE = "reference"
MANIFEST = "manifest.json"


def partition_key(dataset: str, model: str, date: str | dt.date) -> str:
    """The lake key of one partition's Parquet file."""
    return join_key(dataset, f"model={model}", f"dt={date}", "data.parquet")


def write_partition(store: ObjectStore, dataset: str, model: str, date: str, path: Path) -> str:
    """Write the Parquet file ``path`` as one partition, replacing it; its key."""
    key = partition_key(dataset, model, date)
    store.put_file(key, path, content_type="application/vnd.apache.parquet")
    return key


# The asset that writes each dataset: re-running its partition rewrites the file.
WRITERS = {
    ACCEPTED: "inference_logs",
    QUARANTINE: "inference_logs",
    "events": "business_events",
    "events_quarantine": "business_events",
    "labels": "labels",
    "labels_quarantine": "labels",
}


class LakeError(RuntimeError):
    """A lake file cannot be read; the message names the file and the partition to re-run."""


@contextmanager
def _reading(store: ObjectStore, dataset: str, model: str, date: str | dt.date) -> Iterator[None]:
    """Raise a :class:`LakeError` naming the file and its writer when reading a partition fails."""
    try:
        yield
    except (pa.ArrowException, OSError) as exc:
        key = partition_key(dataset, model, date)
        writer = WRITERS.get(dataset, dataset)
        raise LakeError(
            f"lake file {store.uri(key)} is damaged and cannot be read ({type(exc).__name__}: "
            f"{str(exc)[:200]}); re-run partition {date} of {model}/{writer} to rewrite it"
        ) from exc


def open_partition(
    store: ObjectStore, dataset: str, model: str, date: str | dt.date
) -> pq.ParquetFile | None:
    """One partition opened for reading column by column, or ``None`` when never written.

    A file that is not readable Parquet raises :class:`LakeError`.
    """
    key = partition_key(dataset, model, date)
    local = store.local_path(key)
    with _reading(store, dataset, model, date):
        if local is not None:
            return pq.ParquetFile(local) if local.is_file() else None
        if not store.exists(key):
            return None
        with store.open(key) as stream:
            return pq.ParquetFile(pa.BufferReader(stream.read()))


def read_partition(
    store: ObjectStore,
    dataset: str,
    model: str,
    date: str | dt.date,
    columns: list[str] | None = None,
) -> pa.Table | None:
    """One partition's rows, or ``None`` when the partition was never written."""
    parquet = open_partition(store, dataset, model, date)
    if parquet is None:
        return None
    with _reading(store, dataset, model, date):
        return parquet.read(columns=columns)


def read_partitions(
    store: ObjectStore,
    dataset: str,
    model: str,
    dates: Iterable[str | dt.date],
    columns: list[str] | None = None,
) -> tuple[pa.Table | None, list[str], list[str]]:
    """Rows of several partitions concatenated, the dates found and the dates missing."""
    tables, found, missing = [], [], []
    for date in dates:
        table = read_partition(store, dataset, model, date, columns)
        if table is None:
            missing.append(str(date))
            continue
        found.append(str(date))
        tables.append(table)
    if not tables:
        return None, found, missing
    return pa.concat_tables(tables, promote_options="permissive"), found, missing


def distinct_values(
    store: ObjectStore,
    dataset: str,
    model: str,
    dates: Iterable[str | dt.date],
    columns: list[str],
) -> dict[str, set[str]]:
    """The distinct non-null values of ``columns`` over several partitions."""
    seen: dict[str, set[str]] = {c: set() for c in columns}
    if not columns:
        return seen
    for date in dates:
        table = read_partition(store, dataset, model, date, columns)
        if table is None:
            continue
        for column in columns:
            values = pc.unique(table.column(column)).to_pylist()
            seen[column].update(str(v) for v in values if v is not None)
    return seen


def partition_rows(store: ObjectStore, dataset: str, model: str, date: str | dt.date) -> int | None:
    """The row count of a partition from its Parquet footer, or ``None`` when it was never written."""
    parquet = open_partition(store, dataset, model, date)
    return None if parquet is None else parquet.metadata.num_rows


def manifest_key(dataset: str, model: str, date: str | dt.date) -> str:
    """The lake key of one partition's manifest."""
    return join_key(dataset, f"model={model}", f"dt={date}", MANIFEST)


def write_manifest(store: ObjectStore, dataset: str, model: str, date, manifest: dict) -> str:
    """Write one partition's manifest (JSON); its key."""
    key = manifest_key(dataset, model, date)
    store.put_bytes(key, json.dumps(manifest, sort_keys=True).encode(), "application/json")
    return key


def read_manifest(store: ObjectStore, dataset: str, model: str, date) -> dict | None:
    """One partition's manifest, or ``None`` when it has none."""
    key = manifest_key(dataset, model, date)
    if not store.exists(key):
        return None
    with store.open(key) as stream:
        return json.loads(stream.read())


def ingest_into_lake(
    ingest, lake_store: ObjectStore, accepted: str, quarantine: str, model: str, date: str
):
    """Run ``ingest(workdir)`` for one model-day and write its two Parquet outputs to the lake.

    ``ingest`` returns an :class:`~monitoring_platform.lib.ingest.IngestResult`; the accepted rows
    go to dataset ``accepted`` and the quarantine to ``quarantine``, replacing the partition.
    Returns the result and the lake keys of the two partitions.
    """
    with tempfile.TemporaryDirectory(prefix=f"{accepted}-") as tmp:
        result = ingest(Path(tmp))
        accepted_key = write_partition(lake_store, accepted, model, date, result.accepted_path)
        quarantine_key = write_partition(
            lake_store, quarantine, model, date, result.quarantine_path
        )
    return result, accepted_key, quarantine_key


def ids_as_codes(predictions: pa.Table, labels: pa.Table) -> tuple[pa.Table, pa.Table]:
    """Both tables with each request id replaced by its number in one shared dictionary.

    Equal ids get equal numbers, so a join on them pairs the same rows, without making a
    Python string of every id.
    """
    left, right = predictions.column("request_id"), labels.column("request_id")
    if left.type != right.type:  # joined as they are
        return predictions, labels
    codes = pc.dictionary_encode(pa.chunked_array(left.chunks + right.chunks, left.type))
    indices = codes.combine_chunks().indices
    split = predictions.num_rows
    return (
        _with_ids(predictions, indices.slice(0, split)),
        _with_ids(labels, indices.slice(split)),
    )


def _with_ids(table: pa.Table, ids: pa.Array) -> pa.Table:
    return table.set_column(table.schema.get_field_index("request_id"), "request_id", ids)
