"""Run NannyML's CBPE or DLE on a reference and an analysis Parquet file; write daily estimates.

Runs inside NannyML's own virtual environment (its pins clash with the platform's), called by
``bench_estimation.py``. No import from the platform. Usage::

    python nannyml_estimate.py SPEC.json

SPEC: ``{"reference": path, "analysis": path, "out": path, "task": "binary"|"regression",
"features": [...], "categorical": [...], "metrics": [...]}``. Both files hold ``timestamp``,
``y_pred`` (and ``y_pred_proba`` for binary) and ``y_true`` (the reference's is used). The output
has one row per analysis day and metric: ``day, metric, value, low, high``.
"""

import json
import sys
import time
import warnings

import pandas as pd


def main() -> None:
    with open(sys.argv[1]) as fh:
        spec = json.load(fh)
    import nannyml as nml

    warnings.filterwarnings("ignore")
    reference = pd.read_parquet(spec["reference"])
    analysis = pd.read_parquet(spec["analysis"]).drop(columns=["y_true"], errors="ignore")
    for frame in (reference, analysis):
        for column in spec.get("categorical", []):
            frame[column] = frame[column].astype(str).astype(object)
    started = time.perf_counter()
    if spec["task"] == "binary":
        estimator = nml.CBPE(
            metrics=spec["metrics"],
            y_pred_proba="y_pred_proba",
            y_pred="y_pred",
            y_true="y_true",
            problem_type="classification_binary",
            timestamp_column_name="timestamp",
            chunk_period="D",
        )
    else:
        estimator = nml.DLE(
            feature_column_names=spec["features"],
            y_pred="y_pred",
            y_true="y_true",
            metrics=spec["metrics"],
            timestamp_column_name="timestamp",
            chunk_period="D",
            tune_hyperparameters=False,
        )
    estimator.fit(reference)
    result = estimator.estimate(analysis).filter(period="analysis").to_df()
    elapsed = time.perf_counter() - started
    rows = [
        {
            "day": pd.Timestamp(chunk[("chunk", "start_date")]).date().isoformat(),
            "metric": metric,
            "value": float(chunk[(metric, "value")]),
            "low": float(chunk[(metric, "lower_confidence_boundary")]),
            "high": float(chunk[(metric, "upper_confidence_boundary")]),
        }
        for _, chunk in result.iterrows()
        for metric in spec["metrics"]
    ]
    out = pd.DataFrame(rows)
    out.attrs = {}
    out.to_parquet(spec["out"])
    print(json.dumps({"seconds": elapsed}))


if __name__ == "__main__":
    main()
