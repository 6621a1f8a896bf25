"""Bytes a model-day of drift and performance pages adds to the reports folder.

Baseline: Evidently's own ``save_html`` (its 3.5 MB bundle and icon font inlined in every page).
Ours: the published pages, which load the bundle from the site's ``_static/`` (stored once).
Prints both and their ratio, for one drift page and one performance page over the same data.

    .venv/bin/python benchmarks/bench_report_size.py
"""

from __future__ import annotations

import datetime as dt
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd

from monitoring_platform.config import parse_config
from monitoring_platform.lib.drift import compute_drift
from monitoring_platform.lib.drift_page import drift_page
from monitoring_platform.lib.drift_segments import segment_drift
from monitoring_platform.lib.performance import evaluate
from monitoring_platform.lib.reports import publish_page
from monitoring_platform.lib.storage import LocalObjectStore

MODEL = parse_config(
    """
models:
  - name: shop
    task: binary_classification
    reference: {trailing_days: 3}
    segments: [country]
    features:
      - {name: country, type: categorical}
      - {name: price, type: numerical}
      - {name: items, type: numerical}
"""
).models[0]
DAY = dt.date(2026, 11, 20)


def frame(rng: np.random.Generator, n: int, shift: float = 0.0) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "country": rng.choice(["US", "DE", "FR"], n),
            "price": rng.normal(10 + shift, 2, n),
            "items": rng.poisson(3, n).astype(float),
            "prediction": rng.uniform(0, 1, n),
            "model_version": "v1",
        }
    )


def main() -> None:
    from evidently import BinaryClassification, DataDefinition, Dataset, Report
    from evidently.presets import ClassificationPreset, DataDriftPreset

    rng = np.random.default_rng(1)
    ref, cur = frame(rng, 20_000), frame(rng, 20_000, shift=0.5)
    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder)
        # Baseline: Evidently's pages as it saves them.
        definition = DataDefinition(
            numerical_columns=["price", "items", "prediction"], categorical_columns=["country"]
        )
        Report([DataDriftPreset()]).run(
            current_data=Dataset.from_pandas(cur, data_definition=definition),
            reference_data=Dataset.from_pandas(ref, data_definition=definition),
        ).save_html(str(root / "evidently_drift.html"))
        labelled = cur.assign(label=(rng.uniform(0, 1, len(cur)) < cur["prediction"]).astype(int))
        Report([ClassificationPreset()]).run(
            current_data=Dataset.from_pandas(
                labelled[["label", "prediction"]],
                data_definition=DataDefinition(
                    classification=[
                        BinaryClassification(
                            target="label", prediction_probas="prediction", pos_label=1
                        )
                    ]
                ),
            ),
            reference_data=None,
        ).save_html(str(root / "evidently_performance.html"))
        baseline = sum(
            (root / f"evidently_{n}.html").stat().st_size for n in ("drift", "performance")
        )

        # Ours: published into a site folder.
        site = LocalObjectStore(root / "site")
        result = compute_drift(ref, cur, MODEL)
        page = drift_page(result, segment_drift(ref, cur, MODEL, 500), MODEL, DAY)
        publish_page(site, MODEL.name, DAY, "data_drift", page)
        labels = labelled[["label"]].assign(
            request_id=[f"r{i}" for i in range(len(cur))], labeled_at=pd.Timestamp("2026-11-21")
        )
        predictions = cur.assign(request_id=labels["request_id"])
        performance = evaluate(MODEL, predictions, labels, day=DAY)
        publish_page(site, MODEL.name, DAY, "model_performance", performance.html)
        ours = sum(p.stat().st_size for p in (root / "site" / MODEL.name).rglob("*.html"))
        shared = sum(p.stat().st_size for p in (root / "site" / "_static").iterdir())

    print(f"Evidently save_html, drift + performance page: {baseline / 1e6:8.2f} MB per model-day")
    print(f"published pages (bundle in _static/):          {ours / 1e6:8.2f} MB per model-day")
    print(f"shared files, once per site:                   {shared / 1e6:8.2f} MB")
    print(f"ratio per model-day: {baseline / ours:.1f}x smaller")


if __name__ == "__main__":
    main()
