"""An example model service: FastAPI, a small scikit-learn model, and the collection client.

The model scores click probability for ``ctr_ranker`` (the model of ``monitoring.yaml``). It is
trained at start-up on generated data, so nothing is downloaded. Run it with::

    MONITORING_RAW=var/data/raw uvicorn examples.service:app --port 8080

``POST /predict`` takes ``{"features": {...}}`` and answers ``{"prediction": p, "request_id": ...}``;
``POST /feedback`` takes ``{"request_id": ..., "clicked": true, "revenue": 12.5}`` and records the
label and the business events; ``GET /metrics`` is Prometheus'. A token bucket refuses calls
beyond ``EXAMPLE_MAX_RPS`` with 429, and ``EXAMPLE_FAILURE_RATE`` of calls fail with 503, so the
live view has something to show. ``EXAMPLE_BATCH_SECONDS`` (default 10) is the writer's batch age:
the most a crash of the process can lose; ``EXAMPLE_MAX_QUEUE`` (default 20000) bounds the writer's
queue.
"""

from __future__ import annotations

import os
import random
import threading
import time
from contextlib import asynccontextmanager

import numpy as np
from fastapi import FastAPI, HTTPException
from pydantic import BaseModel, Field
from sklearn.compose import ColumnTransformer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

from monitoring_platform import client

MODEL = "ctr_ranker"
VERSION = "2026.11.0"
COUNTRIES = ["US", "DE", "FR", "GB", "BR", "IN", "JP"]
DEVICES = ["mobile", "desktop", "tablet"]
CATEGORICAL = ["country", "device"]
NUMERICAL = [
    "query_length",
    "position",
    "item_price",
    "user_tenure_days",
    "hour_of_day",
    "discount_pct",
]


def draw_features(rng: random.Random) -> dict:
    """One request's features, as a search page would send them."""
    features = {
        "country": rng.choices(COUNTRIES, weights=[30, 15, 12, 12, 10, 15, 6])[0],
        "device": rng.choices(DEVICES, weights=[60, 32, 8])[0],
        "query_length": rng.randint(1, 60),
        "position": min(50, int(rng.expovariate(1 / 6)) + 1),
        "item_price": round(rng.lognormvariate(3.2, 0.8), 2),
        "user_tenure_days": int(rng.expovariate(1 / 300)),
        "hour_of_day": rng.randint(0, 23),
        "discount_pct": None if rng.random() < 0.03 else rng.choice([0, 5, 10, 20, 30]),
    }
    return features


def click_probability(features: dict) -> float:
    """The hidden relationship the generated clicks follow."""
    z = (
        -0.8
        - 0.12 * features["position"]
        + 0.02 * (features["discount_pct"] or 0)
        - 0.004 * features["item_price"]
        + (0.3 if features["device"] == "desktop" else 0.0)
        + (0.2 if features["country"] in ("US", "GB") else 0.0)
    )
    return 1.0 / (1.0 + np.exp(-z))


def _frame(rows: list[dict]) -> dict:
    columns = {name: [r[name] for r in rows] for name in CATEGORICAL}
    for name in NUMERICAL:
        columns[name] = [float(r[name]) if r[name] is not None else 0.0 for r in rows]
    return columns


def train(rows: int = 4000, seed: int = 3):
    """A logistic regression over one-hot categories and scaled numbers, on generated clicks."""
    import pandas as pd

    rng = random.Random(seed)
    data = [draw_features(rng) for _ in range(rows)]
    clicks = [rng.random() < click_probability(f) for f in data]
    frame = pd.DataFrame(_frame(data))
    model = make_pipeline(
        ColumnTransformer(
            [
                ("categories", OneHotEncoder(handle_unknown="ignore"), CATEGORICAL),
                ("numbers", StandardScaler(), NUMERICAL),
            ]
        ),
        LogisticRegression(max_iter=500),
    )
    model.fit(frame, clicks)
    return model


class TokenBucket:
    """At most ``rate`` calls a second on average, bursts of ``rate``."""

    def __init__(self, rate: float):
        self.rate = rate
        self.tokens = rate
        self.at = time.monotonic()
        self.lock = threading.Lock()

    def take(self) -> bool:
        with self.lock:
            now = time.monotonic()
            self.tokens = min(self.rate, self.tokens + (now - self.at) * self.rate)
            self.at = now
            if self.tokens >= 1:
                self.tokens -= 1
                return True
            return False


class Prediction(BaseModel):
    features: dict


class Feedback(BaseModel):
    request_id: str = Field(min_length=1, max_length=256)
    clicked: bool
    revenue: float | None = None


def create_app(
    collector: client.Collector | None = None,
    *,
    max_rps: float | None = None,
    failure_rate: float | None = None,
    collect: bool = True,
) -> FastAPI:
    """The service; ``collect=False`` leaves the middleware out (for the benchmark's baseline)."""
    max_rps = max_rps if max_rps is not None else float(os.environ.get("EXAMPLE_MAX_RPS", "0"))
    failure_rate = (
        failure_rate
        if failure_rate is not None
        else float(os.environ.get("EXAMPLE_FAILURE_RATE", "0"))
    )
    state: dict = {}

    @asynccontextmanager
    async def lifespan(_app: FastAPI):
        state["model"] = train()
        if collect and collector is None:
            # $MONITORING_RAW names the raw root of monitoring.yaml (a folder or s3://...).
            state["collector"] = client.configure(
                model=MODEL,
                model_version=VERSION,
                max_batch_age=float(os.environ.get("EXAMPLE_BATCH_SECONDS", "10")),
                max_queue=int(os.environ.get("EXAMPLE_MAX_QUEUE", "20000")),
            )
        yield

    def current_collector() -> client.Collector:
        return collector or state.get("collector") or client.get_collector()

    app = FastAPI(title="ctr_ranker example", lifespan=lifespan)
    bucket = TokenBucket(max_rps) if max_rps else None
    failures = random.Random(11)

    @app.post("/predict")
    def predict(body: Prediction) -> dict:
        if bucket is not None and not bucket.take():
            raise HTTPException(429, "too many requests: rate limit exceeded")
        if failure_rate and failures.random() < failure_rate:
            raise HTTPException(503, "service unavailable: the model server is overloaded")
        missing = [n for n in [*CATEGORICAL, *NUMERICAL] if n not in body.features]
        if missing:
            raise HTTPException(422, f"missing features: {', '.join(missing)}")
        import pandas as pd

        score = float(state["model"].predict_proba(pd.DataFrame(_frame([body.features])))[0, 1])
        call = client.current_call()
        return {
            "prediction": round(score, 6),
            "model_version": VERSION,
            "request_id": call.request_id if call else None,
        }

    @app.post("/feedback")
    def feedback(body: Feedback) -> dict:
        sink = current_collector() if collect else None
        if sink is not None:
            sink.log_label(body.request_id, int(body.clicked), model=MODEL)
            if body.clicked:
                sink.log_event(body.request_id, "click", 1.0, model=MODEL)
            if body.revenue:
                sink.log_event(body.request_id, "conversion", body.revenue, model=MODEL)
        return {"ok": True}

    @app.get("/health")
    def health() -> dict:
        return {"ok": "model" in state}

    if collect:
        app.add_middleware(
            client.CollectionMiddleware,
            collector=collector,
            model=MODEL,
            model_version=VERSION,
            paths=("/predict",),
        )
    return app


# EXAMPLE_COLLECT=0 serves the same app without the middleware (the benchmark's baseline).
app = create_app(collect=os.environ.get("EXAMPLE_COLLECT", "1") != "0")
