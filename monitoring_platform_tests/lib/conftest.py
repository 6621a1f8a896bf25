"""Fixtures of the library tests: a lake in a temporary directory."""

import datetime as dt
from collections.abc import Callable

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from monitoring_platform.lib import lake
from monitoring_platform.lib.storage import LocalObjectStore


@pytest.fixture
def lake_store(tmp_path) -> LocalObjectStore:
    return LocalObjectStore(tmp_path / "lake")


@pytest.fixture
def write_lake(lake_store, tmp_path) -> Callable[[str, str, dt.date, pd.DataFrame], str]:
    """Write a frame as one lake partition (dataset, model, day) and return its key."""

    def write(dataset: str, model: str, day: dt.date, frame: pd.DataFrame) -> str:
        path = tmp_path / f"{dataset}-{model}-{day}.parquet"
        pq.write_table(pa.Table.from_pandas(frame, preserve_index=False), path)
        return lake.write_partition(lake_store, dataset, model, str(day), path)

    return write
