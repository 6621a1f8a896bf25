"""Fixtures and helpers of the library tests: a lake in a temporary directory, small models and data."""

import datetime as dt
from collections.abc import Callable

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from monitoring_platform.config import ModelConfig, parse_config
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


def model_config(task="binary_classification", **extra) -> ModelConfig:
    raw = {
        "name": "m",
        "task": task,
        "features": [
            {"name": "x", "type": "numerical"},
            {"name": "kind", "type": "categorical", "categories": ["a", "b"]},
        ],
        "estimation": {"min_reference_labels": 200},
        **extra,
    }
    return ModelConfig.model_validate(raw)


def binary_world(n, seed, shift=0.0, versions=("v1",)):
    """Scores of a logistic model whose outcome follows the same relationship (no concept drift);
    ``shift`` moves the input distribution (covariate shift)."""
    rng = np.random.default_rng(seed)
    x = rng.normal(shift, 1, n)
    truth = 1 / (1 + np.exp(-(2 * x - 1)))
    score = 1 / (1 + np.exp(-(1.2 * x - 0.3)))  # informative but miscalibrated
    return pd.DataFrame(
        {
            "request_id": [f"r{seed}-{i}" for i in range(n)],
            "x": x,
            "kind": rng.choice(["a", "b"], n),
            "prediction": score,
            "model_version": rng.choice(list(versions), n),
            "label": (rng.random(n) < truth).astype(int),
        }
    )


SHOP = parse_config(
    """
models:
  - name: shop
    task: binary_classification
    reference: {trailing_days: 3}
    features:
      - {name: country, type: categorical}
      - {name: price, type: numerical}
      - {name: items, type: numerical}
"""
).models[0]


HOSTILE_VALUES = [
    "</script><script>window.__pwned = 1; alert(1)</script>",
    '<img src=x onerror="window.__pwned = 2; alert(2)">',
    "US",
]


def shop_frame(rng, n, price_shift=0.0, countries=("US", "DE", "FR"), weights=None):
    return pd.DataFrame(
        {
            "country": rng.choice(list(countries), n, p=weights),
            "price": rng.normal(10 + price_shift, 2, n),
            "items": rng.poisson(3, n).astype(float),
            "prediction": rng.beta(2, 5, n),
        }
    )


SHOP_SEGMENTED = SHOP.model_copy(update={"segments": ["country"]})
