"""Deterministic synthetic traffic for the monitored models: inference logs, labels and events.

The generator stands in for the web services of the demo and the benchmarks. For every model and
day it writes what a real service and its data pipelines would leave in object storage:

- inference logs ``<model>/dt=YYYY-MM-DD/part-NNNN.jsonl.gz``, one part per six hours of traffic;
- labels ``<model>/dt=<arrival day>/labels-0000.jsonl.gz``, partitioned by the day they arrived;
- business events ``<model>/dt=<event day>/events-0000.jsonl.gz`` (clicks, conversions, revenue).

Traffic follows an intraday curve and a weekly rhythm; latency is lognormal with a heavy tail;
a few per cent of calls fail (5xx) or are throttled (429); a new model version rolls out in
steps. Features are drawn per configured type, and outcomes come from a hidden relationship with
the features, so labels are informative and a newer version predicts slightly better. A
:class:`Scenario` places the incidents the platform must catch: drift (covariate shift, a changed
category mix, an unseen category and a changed relationship), a schema bug, malformed lines and
re-sent duplicates.

Binary and ranking models are click models: the label is the click and each click is a click
event, some followed by a conversion with revenue. Regression models estimate a delivery time in
minutes: a call may become an order (a conversion with revenue, less likely when the estimate is
long) and only an order gets a label, the actual time, once delivered. Multiclass models get the
true class as label and occasional conversions.

Every random draw comes from a generator seeded by (seed, model, day): the same configuration,
range and seed give byte-identical objects, and days can be generated in any order.
"""

from __future__ import annotations

import datetime as dt
import gzip
import json
import math
import time
import zlib
from collections import defaultdict, deque
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from monitoring_platform.config import (
    Columns,
    Feature,
    FeatureType,
    ModelConfig,
    MonitoringConfig,
    Task,
)
from monitoring_platform.lib.storage import ObjectStore, join_key, open_store, partition_prefix

PARTS_PER_DAY = 4
GZIP_LEVEL = 1
MS_PER_DAY = 86_400_000
MS_PER_PART = MS_PER_DAY // PARTS_PER_DAY
EPOCH = dt.date(1970, 1, 1)

# Monday to Sunday; the mean is 1.
WEEKDAY_VOLUME = (1.04, 1.07, 1.08, 1.06, 1.01, 0.89, 0.85)
DAILY_VOLUME_NOISE = 0.04

OPTIONAL_NULL_SHARE = 0.03
SLOW_CALL_SHARE = 0.01
THROTTLED_SHARE = 0.015
SERVER_ERROR_SHARE = 0.02
SERVER_ERRORS = {
    500: (0.40, "internal error: model inference failed"),
    502: (0.20, "bad gateway: the model server closed the connection"),
    503: (0.25, "service unavailable: the model server is overloaded"),
    504: (0.15, "gateway timeout: no answer from the model server"),
}
THROTTLED_ERROR = "too many requests: rate limit exceeded"

# Traffic share of the newer version at each step of a rollout, before it serves everything.
PARTIAL_ROLLOUT_SHARES = (0.1, 0.5)
# Noise of each version's estimate of the hidden relationship (later versions are better).
VERSION_NOISE = 0.6
VERSION_IMPROVEMENT = 0.75

DRIFT_SHIFT_SD = 1.0
UNSEEN_SHARE = 0.08
UNSEEN_EFFECT = 1.0
# Correlation between the relationship before and during drift.
CONCEPT_STABILITY = 0.8

CLICK_RATE = 0.1
CLICK_LOGIT_SCALE = 1.8
CONVERSION_AFTER_CLICK = 0.1
ETA_MEDIAN_MINUTES = 32.0
ETA_LOG_SCALE = 0.3
ETA_LOG_NOISE = 0.08
ORDER_RATE = 0.7
ORDER_ETA_SENSITIVITY = 1.5
MULTICLASS_LOGIT_SCALE = 2.0
MULTICLASS_CONVERSION = 0.1
REVENUE_MEDIAN = 30.0

GARBAGE_LINES = (
    "<html><head><title>502 Bad Gateway</title></head><body>nginx</body></html>",
    "upstream connect error or disconnect/reset before headers. reset reason: connection failure",
    "log shipper: buffer full, dropped 17 records",
)
LOG_FIELDS = (
    "request_id",
    "timestamp",
    "model_version",
    "features",
    "prediction",
    "latency_ms",
    "status_code",
    "error",
)
HEX_DIGITS = np.frombuffer(b"0123456789abcdef", np.uint8)
UUID_HEX_COLUMNS = [i for i in range(36) if i not in (8, 13, 18, 23)]


@dataclass(frozen=True)
class Scenario:
    """Which days carry drift or a schema bug, when a new version rolls out, how dirty logs are."""

    # Covariate shift, a new category mix with an unseen category, a changed relationship.
    drift_days: Sequence[dt.date] = ()
    # From this hour (UTC) on, one numerical feature is sent as text and another is renamed.
    schema_bug_day: dt.date | None = None
    schema_bug_hour: int = 14
    # Shares of log lines damaged in transit and of records sent twice.
    malformed_rate: float = 1 / 2000
    duplicate_rate: float = 4e-4
    # The first day of the newer version's canary; each step (10 %, 50 %, 100 %) lasts this long.
    rollout_start: dt.date | None = None
    rollout_step_days: int = 1
    # A slow build: on this day the newer versions answer this many times slower.
    latency_regression_day: dt.date | None = None
    latency_regression_factor: float = 6.0


def default_scenario(start: dt.date, end: dt.date) -> Scenario:
    """Drift on the last two days, a schema bug on the sixth, a rollout from 40 % of the range
    whose first canary day is a slow build (ranges of ten days or more)."""
    n_days = (end - start).days + 1
    rollout_start = start + dt.timedelta(days=max(1, round(0.4 * n_days)))
    return Scenario(
        drift_days=[end - dt.timedelta(days=1), end] if n_days >= 5 else [],
        schema_bug_day=start + dt.timedelta(days=5) if n_days >= 8 else None,
        rollout_start=rollout_start,
        rollout_step_days=max(1, n_days // 7),
        latency_regression_day=rollout_start if n_days >= 10 else None,
    )


def rollout_shares(versions: Sequence[str], scenario: Scenario, day: dt.date) -> dict[str, float]:
    """The share of traffic each model version serves on ``day``."""
    current = versions[0]
    if scenario.rollout_start is None or day < scenario.rollout_start:
        return {current: 1.0}
    step = (day - scenario.rollout_start).days // scenario.rollout_step_days
    for newer in versions[1:]:
        if step < len(PARTIAL_ROLLOUT_SHARES):
            share = PARTIAL_ROLLOUT_SHARES[step]
            return {current: 1.0 - share, newer: share}
        current, step = newer, step - len(PARTIAL_ROLLOUT_SHARES) - 1
        if step < 0:
            break
    return {current: 1.0}


@dataclass
class DaySummary:
    """What was written for one model and day (labels and events by the day they landed on)."""

    model: str
    date: dt.date
    log_records: int = 0
    malformed_lines: int = 0
    duplicate_records: int = 0
    labels: int = 0
    events: int = 0
    log_keys: list[str] = field(default_factory=list)
    label_keys: list[str] = field(default_factory=list)
    event_keys: list[str] = field(default_factory=list)


@dataclass
class GenerationSummary:
    """Counts and object keys per model and day, and the generation speed."""

    days: list[DaySummary]
    seconds: float

    @property
    def log_records(self) -> int:
        """Log lines written, malformed lines and duplicates included."""
        return sum(d.log_records for d in self.days)

    @property
    def records_per_second(self) -> float:
        """Log lines written per second of wall time."""
        return self.log_records / self.seconds if self.seconds > 0 else 0.0

    def day(self, model: str, date: dt.date) -> DaySummary:
        """The summary of one model and day."""
        return next(d for d in self.days if d.model == model and d.date == date)


def generate_traffic(
    config: MonitoringConfig,
    start: dt.date,
    end: dt.date,
    *,
    seed: int = 7,
    models: list[str] | None = None,
    raw_root: str | None = None,
    client_factory=None,
    scenario: Scenario | None = None,
    progress: Callable[[str], None] | None = None,
) -> GenerationSummary:
    """Write logs, labels and events for ``start``..``end`` (inclusive) and summarise them."""
    if end < start:
        raise ValueError(f"end ({end}) is before start ({start})")
    scenario = scenario or default_scenario(start, end)
    chosen = list(config.models) if models is None else [config.model(name) for name in models]
    stores: dict[str, ObjectStore] = {}

    def store(location: str) -> ObjectStore:
        if location not in stores:
            stores[location] = open_store(location, client_factory)
        return stores[location]

    def root(kind: str, configured: str) -> str:
        return f"{raw_root.rstrip('/')}/{kind}" if raw_root else configured

    began = time.perf_counter()
    days: list[DaySummary] = []
    with duckdb.connect() as con, _Writer() as writer:
        for model in chosen:
            logs = store(root("logs", config.logs_root(model)))
            labels = store(root("labels", config.labels_root(model)))
            events = store(root("events", config.events_root(model)))
            simulator = _Simulator(model, seed)
            label_backlog, event_backlog = _Backlog(end), _Backlog(end)
            day = start
            while day <= end:
                summary = DaySummary(model.name, day)
                traffic = simulator.day(day, scenario)
                _write_logs(con, writer, logs, traffic, summary)
                label_backlog.add(traffic.labels)
                event_backlog.add(traffic.events)
                prefix = partition_prefix(model.name, day.isoformat())
                landed = label_backlog.pop(day, "labeled_at")
                if landed is not None:
                    key = join_key(prefix, "labels-0000.jsonl.gz")
                    writer.put(labels, key, _lines_bytes(_json_lines(con, landed)))
                    summary.labels, summary.label_keys = landed.num_rows, [key]
                happened = event_backlog.pop(day, "timestamp")
                if happened is not None:
                    key = join_key(prefix, "events-0000.jsonl.gz")
                    writer.put(events, key, _lines_bytes(_json_lines(con, happened)))
                    summary.events, summary.event_keys = happened.num_rows, [key]
                days.append(summary)
                if progress:
                    progress(
                        f"{model.name} {day}: {summary.log_records:,} log records, "
                        f"{summary.labels:,} labels, {summary.events:,} events"
                    )
                day += dt.timedelta(days=1)
    return GenerationSummary(days, time.perf_counter() - began)


# ---------------------------------------------------------------------------------------------
# Simulation


@dataclass
class _FeatureModel:
    """How one feature is drawn and how it moves the outcome (per output of the model)."""

    feature: Feature
    effect: np.ndarray
    changed_effect: np.ndarray
    location: float = 0.0
    spread: float = 1.0
    levels: list[str] = field(default_factory=list)
    weights: np.ndarray | None = None


@dataclass
class _Damage:
    """Log lines a day loses to broken shipping: malformed lines and re-sent records."""

    malformed: np.ndarray
    malformed_draws: np.ndarray
    resent: np.ndarray
    resent_after: np.ndarray


def _damage(rng: np.random.Generator, ms_of_day: np.ndarray, scenario: Scenario) -> _Damage:
    """Pick the calls whose line is damaged and those re-sent a little later in the same part.

    Each kind of damage with a positive rate hits at least one line a day, even at low volume.
    """
    n = len(ms_of_day)
    n_malformed = min(
        n, max(rng.binomial(n, scenario.malformed_rate), _some(scenario.malformed_rate))
    )
    n_resent = min(
        n - n_malformed,
        max(rng.binomial(n, scenario.duplicate_rate), _some(scenario.duplicate_rate)),
    )
    picked = rng.choice(n, n_malformed + n_resent, replace=False)
    malformed, resent = np.sort(picked[:n_malformed]), np.sort(picked[n_malformed:])
    part = ms_of_day // MS_PER_PART
    last_in_part = np.searchsorted(part, part[resent], side="right") - 1
    resent_after = np.minimum(resent + rng.integers(1, 200, resent.size), last_in_part)
    return _Damage(malformed, rng.random((n_malformed, 2)), resent, resent_after)


def _some(rate: float) -> int:
    """1 for a positive rate, else 0: the least number of damaged lines a day."""
    return 1 if rate > 0 else 0


@dataclass
class _Traffic:
    """One model-day: calls in time order, and the labels and events they lead to."""

    day: dt.date
    columns: Columns
    ms_of_day: np.ndarray
    failed: np.ndarray
    schema_bug: np.ndarray
    stringified: str | None
    renamed: dict[str, str]
    record: dict[str, pa.Array]
    features: dict[str, pa.Array]
    damage: _Damage
    labels: pa.Table
    events: pa.Table


class _Simulator:
    """Draws one model's traffic, day by day, from a hidden relationship of features and outcome."""

    def __init__(self, model: ModelConfig, seed: int):
        self.model = model
        self.seed = seed
        self.model_hash = zlib.crc32(model.name.encode())
        self.outputs = len(model.classes or []) if _family(model) == "multiclass" else 1
        rng = np.random.default_rng([seed, self.model_hash])
        self.features = [self._feature_model(f, rng) for f in model.features]
        _normalise(self.features, "effect")
        _normalise(self.features, "changed_effect")
        numerical = [f for f in model.features if f.type == FeatureType.numerical]
        shiftable = [f.name for f in numerical if not _is_hour_of_day(f)]
        categorical = model.categorical_features
        self.shifts = dict.fromkeys(shiftable[:2], DRIFT_SHIFT_SD)
        if len(shiftable) > 1:
            # The two shifts pull the outcome in opposite directions: drift shows in the inputs
            # and in model quality rather than as a collapse of the business metrics.
            first, second = (self._feature(name).effect[0, 0] for name in shiftable[:2])
            if first * second > 0:
                self.shifts[shiftable[1]] = -DRIFT_SHIFT_SD
        self.recomposed = categorical[0] if categorical else None
        self.stringified = numerical[0].name if numerical else None
        self.renamed = {numerical[1].name: f"{numerical[1].name}_v2"} if len(numerical) > 1 else {}

    def _feature(self, name: str) -> _FeatureModel:
        """The model of the feature called ``name``."""
        return next(fm for fm in self.features if fm.feature.name == name)

    def _feature_model(self, feature: Feature, rng: np.random.Generator) -> _FeatureModel:
        """Draw a feature's distribution and its effects on the outcome."""
        if feature.type == FeatureType.categorical:
            levels = feature.categories or [f"{feature.name}_{c}" for c in "abcde"]
            weights = 1.0 / np.arange(1, len(levels) + 1) ** 1.2
            shape = (len(levels) + 1, self.outputs)
            effect, changed = rng.normal(0, 1, shape), rng.normal(0, 1, shape)
            return _FeatureModel(
                feature,
                effect,
                changed,
                levels=[*levels, f"unseen_{feature.name}"],
                weights=weights / weights.sum(),
            )
        bounded = feature.min is not None and feature.max is not None
        one_sided = (feature.min is None) != (feature.max is None)
        if bounded:
            location, spread = rng.uniform(-1.5, -0.3), rng.uniform(0.5, 0.9)
        elif one_sided:
            location, spread = rng.uniform(2.5, 4.0), rng.uniform(0.5, 0.9)
        else:
            location, spread = rng.uniform(0, 100), rng.uniform(5, 20)
        effect, changed = rng.normal(0, 1, (1, self.outputs)), rng.normal(0, 1, (1, self.outputs))
        return _FeatureModel(feature, effect, changed, location, spread)

    def day(self, day: dt.date, scenario: Scenario) -> _Traffic:
        """Draw every call of one day, its features, prediction, outcome, label and events."""
        model, sim = self.model, self.model.simulation
        rng = np.random.default_rng([self.seed, self.model_hash, day.toordinal()])
        drifting = day in scenario.drift_days
        volume = sim.requests_per_day * WEEKDAY_VOLUME[day.weekday()]
        n = max(1, round(volume * rng.lognormal(0.0, DAILY_VOLUME_NOISE)))
        day_start = (day - EPOCH).days * MS_PER_DAY
        counts = rng.multinomial(n, INTRADAY_CURVE / INTRADAY_CURVE.sum())
        ms_of_day = np.repeat(np.arange(1440) * 60_000, counts) + rng.integers(0, 60_000, n)
        ms_of_day.sort()
        load = INTRADAY_CURVE[ms_of_day // 60_000] / INTRADAY_CURVE.max()
        timestamp_ms = day_start + ms_of_day

        shares = rollout_shares(sim.versions, scenario, day)
        version = rng.choice(
            len(sim.versions), n, p=[shares.get(v, 0.0) for v in sim.versions]
        ).astype(np.int32)
        latency, status = _latency_and_status(rng, load, sim.base_latency_ms)
        failed = status != 200
        if day == scenario.latency_regression_day:
            slow_build = (version > 0) & ~failed
            latency[slow_build] = np.round(
                latency[slow_build] * scenario.latency_regression_factor, 2
            )

        features: dict[str, pa.Array] = {}
        truth = np.zeros((n, self.outputs))
        changed = np.zeros((n, self.outputs))
        seen_by_model = np.zeros((n, self.outputs))
        for fm in self.features:
            values, known, effect, changed_effect = self._draw_feature(
                fm, rng, n, ms_of_day, drifting
            )
            features[fm.feature.name] = values
            truth += effect
            changed += changed_effect
            seen_by_model += effect * known[:, None]
        if drifting:
            truth = CONCEPT_STABILITY * truth + math.sqrt(1 - CONCEPT_STABILITY**2) * changed
        noise_sd = VERSION_NOISE * VERSION_IMPROVEMENT ** version.astype(float)
        estimate = (seen_by_model + rng.normal(0, 1, truth.shape) * noise_sd[:, None]) / np.sqrt(
            1 + noise_sd**2
        )[:, None]

        timestamps = _iso_utc(timestamp_ms)
        request_id = _uuid4_strings(rng, n)
        prediction, labels, events = self._outcomes(
            rng, estimate, truth, failed, request_id, timestamp_ms
        )
        error = np.full(n, None, dtype=object)
        error[status == 429] = THROTTLED_ERROR
        for code, (_share, message) in SERVER_ERRORS.items():
            error[status == code] = message
        record = {
            "request_id": request_id,
            "timestamp": timestamps,
            "model_version": pa.DictionaryArray.from_arrays(
                pa.array(version), pa.array(sim.versions)
            ),
            "prediction": prediction,
            "latency_ms": pa.array(latency),
            "status_code": pa.array(status),
            "error": pa.array(error, pa.string()),
        }
        schema_bug = np.zeros(n, bool)
        if day == scenario.schema_bug_day:
            schema_bug = ms_of_day >= scenario.schema_bug_hour * 3_600_000
        return _Traffic(
            day=day,
            columns=model.columns,
            ms_of_day=ms_of_day,
            failed=failed,
            schema_bug=schema_bug,
            stringified=self.stringified,
            renamed=self.renamed,
            record=record,
            features=features,
            damage=_damage(rng, ms_of_day, scenario),
            labels=labels,
            events=events,
        )

    def _draw_feature(
        self,
        fm: _FeatureModel,
        rng: np.random.Generator,
        n: int,
        ms_of_day: np.ndarray,
        drifting: bool,
    ) -> tuple[pa.Array, np.ndarray, np.ndarray, np.ndarray]:
        """Logged values, whether the model can use them, and their effect before/after drift."""
        feature = fm.feature
        null = rng.random(n) < OPTIONAL_NULL_SHARE if feature.optional else np.zeros(n, bool)
        if fm.weights is not None:
            weights = fm.weights
            if drifting and feature.name == self.recomposed:
                weights = (1 - UNSEEN_SHARE) * (weights + weights[::-1]) / 2
                weights = np.append(weights, UNSEEN_SHARE)
            codes = rng.choice(len(weights), n, p=weights)
            known = ~null & (codes < len(fm.levels) - 1)
            values = pa.DictionaryArray.from_arrays(
                pa.array(codes.astype(np.int32), mask=null), pa.array(fm.levels)
            )
            return values, known, fm.effect[codes], fm.changed_effect[codes]
        if _is_hour_of_day(feature):
            hour = ms_of_day // 3_600_000
            latent = (hour - 11.5) / 6.9
            raw = hour.astype(float)
        else:
            latent = rng.normal(0, 1, n)
            if drifting:
                latent += self.shifts.get(feature.name, 0.0)
            raw = _numerical_values(feature, fm.location + fm.spread * latent)
        values = pa.array(raw.astype(np.int64) if feature.integer else raw, mask=null)
        return values, ~null, latent[:, None] * fm.effect, latent[:, None] * fm.changed_effect

    def _outcomes(
        self,
        rng: np.random.Generator,
        estimate: np.ndarray,
        truth: np.ndarray,
        failed: np.ndarray,
        request_id: pa.Array,
        timestamp_ms: np.ndarray,
    ) -> tuple[pa.Array, pa.Table, pa.Table]:
        """Predictions, and the labels and business events of the successful calls."""
        model = self.model
        ok = np.flatnonzero(~failed)
        family = _family(model)
        if family == "click":
            bias = _logit(CLICK_RATE) * math.sqrt(1 + math.pi * CLICK_LOGIT_SCALE**2 / 8)
            score = _sigmoid(bias + CLICK_LOGIT_SCALE * estimate[:, 0])
            prediction = pa.array(np.round(score, 5), mask=failed)
            clicked = rng.random(len(ok)) < _sigmoid(bias + CLICK_LOGIT_SCALE * truth[ok, 0])
            label = pa.array(clicked.astype(np.int64))
            click_at = timestamp_ms[ok] + _lognormal_ms(rng, 6_000, 0.8, len(ok))
            known_at = np.where(clicked, click_at, timestamp_ms[ok] + 1_000)
            converted = clicked & (rng.random(len(ok)) < CONVERSION_AFTER_CLICK)
            events = pa.concat_tables(
                [
                    _events(
                        ok[clicked],
                        request_id,
                        model.events.click_event,
                        np.ones(int(clicked.sum())),
                        click_at[clicked],
                    ),
                    _events(
                        ok[converted],
                        request_id,
                        model.events.conversion_event,
                        _revenue(rng, int(converted.sum())),
                        click_at[converted] + _lognormal_ms(rng, 300_000, 0.7, converted.sum()),
                    ),
                ]
            )
        elif family == "regression":
            log_median = math.log(ETA_MEDIAN_MINUTES)
            eta = np.exp(log_median + ETA_LOG_SCALE * estimate[:, 0])
            prediction = pa.array(np.round(eta, 2), mask=failed)
            noise = rng.normal(0, ETA_LOG_NOISE, len(ok))
            actual = np.exp(log_median + ETA_LOG_SCALE * truth[ok, 0] + noise)
            order_odds = _logit(ORDER_RATE) - ORDER_ETA_SENSITIVITY * np.log(
                eta[ok] / ETA_MEDIAN_MINUTES
            )
            ordered = rng.random(len(ok)) < _sigmoid(order_odds)
            ordered_at = timestamp_ms[ok] + _lognormal_ms(rng, 60_000, 0.6, len(ok))
            events = _events(
                ok[ordered],
                request_id,
                model.events.conversion_event,
                _revenue(rng, int(ordered.sum())),
                ordered_at[ordered],
            )
            ok, label = ok[ordered], pa.array(np.round(actual[ordered], 1))
            known_at = (ordered_at + np.rint(actual * 60_000).astype(np.int64))[ordered]
        else:
            classes = pa.array(model.classes)
            logits = MULTICLASS_LOGIT_SCALE * truth[ok] + rng.gumbel(size=truth[ok].shape)
            predicted = np.argmax(estimate, axis=1).astype(np.int32)
            prediction = pa.DictionaryArray.from_arrays(pa.array(predicted, mask=failed), classes)
            label = pa.DictionaryArray.from_arrays(
                pa.array(np.argmax(logits, axis=1).astype(np.int32)), classes
            )
            known_at = timestamp_ms[ok] + 1_000
            converted = rng.random(len(ok)) < MULTICLASS_CONVERSION
            events = _events(
                ok[converted],
                request_id,
                model.events.conversion_event,
                _revenue(rng, int(converted.sum())),
                timestamp_ms[ok][converted] + _lognormal_ms(rng, 60_000, 0.6, converted.sum()),
            )
        mean_delay = model.simulation.label_delay_days * MS_PER_DAY
        delay = rng.gamma(2.0, mean_delay / 2, len(ok)) if mean_delay > 0 else np.zeros(len(ok))
        cap = model.labels.max_delay_days * MS_PER_DAY
        labeled_at = np.maximum(
            timestamp_ms[ok] + np.minimum(delay, cap).astype(np.int64), known_at
        )
        labels = pa.table({"request_id": request_id.take(ok), "label": label, "at_ms": labeled_at})
        return prediction, labels, events


def _family(model: ModelConfig) -> str:
    """``click`` (binary and ranking), ``regression`` or ``multiclass``."""
    if model.task == Task.regression:
        return "regression"
    if model.task == Task.multiclass_classification:
        return "multiclass"
    return "click"


def _is_hour_of_day(feature: Feature) -> bool:
    """An integer feature on 0..23 named after the hour carries the request's UTC hour."""
    return (
        feature.type == FeatureType.numerical
        and feature.integer
        and feature.min == 0
        and feature.max == 23
        and "hour" in feature.name
    )


def _normalise(features: list[_FeatureModel], attribute: str) -> None:
    """Centre categorical effects on the usual mix; scale all so their sum has unit variance."""
    variance = np.zeros(features[0].effect.shape[1])
    for fm in features:
        effect = getattr(fm, attribute)
        if fm.weights is None:
            variance += effect[0] ** 2
        else:
            effect[:-1] -= fm.weights @ effect[:-1]
            variance += fm.weights @ effect[:-1] ** 2
    for fm in features:
        effect = getattr(fm, attribute) / np.sqrt(np.maximum(variance, 1e-12))
        if fm.weights is not None:
            effect[-1] = UNSEEN_EFFECT
        setattr(fm, attribute, effect)


def _numerical_values(feature: Feature, latent: np.ndarray) -> np.ndarray:
    """Map a normal draw onto the feature's range: logit-normal, lognormal or normal."""
    low, high = feature.min, feature.max
    if low is not None and high is not None:
        values = low + (high - low) * _sigmoid(latent)
    elif low is not None:
        values = low + np.exp(latent)
    elif high is not None:
        values = high - np.exp(latent)
    else:
        values = latent
    if feature.integer:
        return np.clip(
            np.rint(values), -np.inf if low is None else low, np.inf if high is None else high
        )
    return np.round(values, 2)


def _latency_and_status(
    rng: np.random.Generator, load: np.ndarray, base_ms: float
) -> tuple[np.ndarray, np.ndarray]:
    """Latency (slower under load, a heavy tail) and HTTP status (429s mostly at peak)."""
    n = len(load)
    latency = base_ms * rng.lognormal(0.0, 0.3, n) * (0.8 + 0.4 * load)
    slow = rng.random(n) < SLOW_CALL_SHARE
    latency[slow] *= rng.uniform(5, 20, int(slow.sum()))
    throttle_share = THROTTLED_SHARE * load**2 / np.mean(load**2)
    draw = rng.random(n)
    status = np.full(n, 200, np.int16)
    throttled = draw < throttle_share
    server_error = ~throttled & (draw < throttle_share + SERVER_ERROR_SHARE)
    codes = list(SERVER_ERRORS)
    status[server_error] = rng.choice(
        codes, int(server_error.sum()), p=[share for share, _ in SERVER_ERRORS.values()]
    )
    status[throttled] = 429
    latency[throttled] = rng.uniform(0.5, 3.0, int(throttled.sum()))
    unavailable = status == 503
    latency[unavailable] = rng.uniform(1.0, 15.0, int(unavailable.sum()))
    timed_out = status == 504
    latency[timed_out] = base_ms * rng.uniform(25, 30, int(timed_out.sum()))
    return np.round(latency, 2), status


def _events(
    rows: np.ndarray, request_id: pa.Array, event_type: str, value: np.ndarray, at_ms: np.ndarray
) -> pa.Table:
    """Business events of the calls at ``rows``."""
    n = len(rows)
    return pa.table(
        {
            "request_id": request_id.take(rows),
            "event_type": pa.DictionaryArray.from_arrays(
                pa.array(np.zeros(n, np.int32)), pa.array([event_type])
            ),
            "value": pa.array(value),
            "at_ms": pa.array(at_ms),
        }
    )


def _revenue(rng: np.random.Generator, n: int) -> np.ndarray:
    """Order values in currency units, lognormal around ``REVENUE_MEDIAN``."""
    return np.round(rng.lognormal(math.log(REVENUE_MEDIAN), 0.7, n), 2)


def _lognormal_ms(rng: np.random.Generator, median_ms: float, sigma: float, n) -> np.ndarray:
    """Delays in milliseconds, lognormal around ``median_ms``."""
    return np.rint(rng.lognormal(math.log(median_ms), sigma, int(n))).astype(np.int64)


def _sigmoid(x):
    """The logistic function."""
    return 1.0 / (1.0 + np.exp(-x))


def _logit(p: float) -> float:
    """The inverse of the logistic function."""
    return math.log(p / (1 - p))


def _intraday_curve() -> np.ndarray:
    """Relative traffic per minute of the day (UTC): peak mid-afternoon, trough at night."""
    hours = (np.arange(1440) + 0.5) / 60
    return (
        1.0
        + 0.7 * np.cos(2 * np.pi * (hours - 15) / 24)
        + 0.12 * np.cos(4 * np.pi * (hours - 12) / 24)
    )


INTRADAY_CURVE = _intraday_curve()


# ---------------------------------------------------------------------------------------------
# Rendering and writing


def _write_logs(
    con: duckdb.DuckDBPyConnection,
    writer: _Writer,
    store: ObjectStore,
    traffic: _Traffic,
    summary: DaySummary,
) -> None:
    """Render one day of calls as JSON lines, damage a few, re-send a few, write the parts."""
    n, damage = len(traffic.ms_of_day), traffic.damage
    groups = []
    position = np.empty(n, np.int64)
    rendered = 0
    for failed in (False, True):
        for bugged in (False, True):
            rows = np.flatnonzero((traffic.failed == failed) & (traffic.schema_bug == bugged))
            if rows.size:
                groups.append(_json_lines(con, _log_table(traffic, rows, failed, bugged)))
                position[rows] = rendered + np.arange(rows.size)
                rendered += rows.size
    lines = pa.concat_arrays(groups)

    broken = [
        _malformed_line(lines[int(position[row])].as_py(), draws, traffic.columns)
        for row, draws in zip(damage.malformed, damage.malformed_draws, strict=True)
    ]
    position[damage.malformed] = len(lines) + np.arange(len(broken))
    lines = pa.concat_arrays([lines, pa.array(broken, lines.type)])

    keys = np.concatenate([np.arange(n, dtype=float), damage.resent_after + 0.5])
    rows = np.concatenate([np.arange(n), damage.resent])[np.argsort(keys, kind="stable")]
    bounds = np.searchsorted(traffic.ms_of_day[rows] // MS_PER_PART, np.arange(PARTS_PER_DAY + 1))
    prefix = partition_prefix(summary.model, traffic.day.isoformat())
    for index in range(PARTS_PER_DAY):
        chunk = rows[bounds[index] : bounds[index + 1]]
        if chunk.size:
            key = join_key(prefix, f"part-{index:04d}.jsonl.gz")
            writer.put(store, key, _lines_bytes(lines.take(position[chunk])))
            summary.log_keys.append(key)
    summary.log_records = len(rows)
    summary.malformed_lines = len(broken)
    summary.duplicate_records = len(damage.resent)


def _log_table(traffic: _Traffic, rows: np.ndarray, failed: bool, bugged: bool) -> pa.Table:
    """The log records at ``rows`` with the configured field names, in contract order."""
    indices = pa.array(rows)
    features = {}
    for name, values in traffic.features.items():
        values = values.take(indices)
        if bugged and name == traffic.stringified:
            values = pc.cast(values, pa.string())
        features[traffic.renamed.get(name, name) if bugged else name] = values
    table = {}
    for name in LOG_FIELDS:
        if name == "features":
            table[traffic.columns.features] = pa.StructArray.from_arrays(
                list(features.values()), list(features)
            )
        elif name != "error" or failed:
            table[getattr(traffic.columns, name)] = traffic.record[name].take(indices)
    return pa.table(table)


def _json_lines(con: duckdb.DuckDBPyConnection, table: pa.Table) -> pa.Array:
    """One JSON object per row, each ending in a newline, in the table's order."""
    con.register("batch", table)
    try:
        result = con.sql("SELECT to_json(batch) || chr(10) AS line FROM batch").to_arrow_table()
    finally:
        con.unregister("batch")
    return result.column("line").cast(pa.large_string()).combine_chunks()


def _lines_bytes(lines: pa.Array) -> memoryview:
    """The concatenated bytes of a large-string array, without copying them."""
    offsets = np.frombuffer(lines.buffers()[1], np.int64, len(lines) + 1, lines.offset * 8)
    return memoryview(lines.buffers()[2])[offsets[0] : offsets[-1]]


def _malformed_line(line: str, draws: np.ndarray, columns: Columns) -> str:
    """A damaged log line, chosen by two uniform draws: truncated, garbage, an array, a bad
    latency or no request id."""
    line = line.rstrip("\n")
    kind, detail = int(draws[0] * 5), draws[1]
    if kind == 0:
        return line[: 10 + int(detail * (len(line) - 12))] + "\n"
    if kind == 1:
        return GARBAGE_LINES[int(detail * len(GARBAGE_LINES))] + "\n"
    record = json.loads(line)
    if kind == 2:
        return json.dumps(list(record.values()), separators=(",", ":")) + "\n"
    if kind == 3:
        record[columns.latency_ms] = "fast"
    else:
        del record[columns.request_id]
    return json.dumps(record, separators=(",", ":")) + "\n"


def _iso_utc(epoch_ms: np.ndarray) -> pa.Array:
    """``YYYY-MM-DDTHH:MM:SS.mmmZ`` for each epoch-millisecond value."""
    days, ms = np.divmod(epoch_ms, MS_PER_DAY)
    first = int(days.min())
    dates = np.array(
        [
            np.frombuffer(f"{EPOCH + dt.timedelta(days=d)}T".encode(), np.uint8)
            for d in range(first, int(days.max()) + 1)
        ]
    )
    chars = np.empty((len(epoch_ms), 24), np.uint8)
    chars[:, :11] = dates[days - first]
    fields = (
        (ms // 3_600_000, 11, 2),
        (ms // 60_000 % 60, 14, 2),
        (ms // 1000 % 60, 17, 2),
        (ms % 1000, 20, 3),
    )
    for value, start, width in fields:
        for digit in range(width):
            chars[:, start + digit] = 48 + value // 10 ** (width - 1 - digit) % 10
    chars[:, [13, 16]] = ord(":")
    chars[:, 19] = ord(".")
    chars[:, 23] = ord("Z")
    return _fixed_width_strings(chars)


def _uuid4_strings(rng: np.random.Generator, n: int) -> pa.Array:
    """Random version-4 UUIDs in their canonical text form."""
    raw = rng.integers(0, 256, (n, 16), dtype=np.uint8)
    raw[:, 6] = raw[:, 6] & 0x0F | 0x40
    raw[:, 8] = raw[:, 8] & 0x3F | 0x80
    chars = np.full((n, 36), ord("-"), np.uint8)
    chars[:, UUID_HEX_COLUMNS] = HEX_DIGITS[np.stack([raw >> 4, raw & 0x0F], axis=2)].reshape(n, 32)
    return _fixed_width_strings(chars)


def _fixed_width_strings(chars: np.ndarray) -> pa.Array:
    """A string array over the rows of a 2-D byte matrix."""
    n, width = chars.shape
    offsets = np.arange(0, (n + 1) * width, width, dtype=np.int64)
    return pa.LargeStringArray.from_buffers(
        n, pa.py_buffer(offsets), pa.py_buffer(np.ascontiguousarray(chars))
    )


class _Backlog:
    """Labels or events waiting until the day they land on is written; later than ``end`` never."""

    def __init__(self, end: dt.date):
        self._last_day = (end - EPOCH).days
        self._waiting: dict[int, list[pa.Table]] = defaultdict(list)

    def add(self, table: pa.Table) -> None:
        """Queue records by the day of their ``at_ms`` time."""
        day = table["at_ms"].to_numpy() // MS_PER_DAY
        for number in np.unique(day[day <= self._last_day]):
            self._waiting[int(number)].append(table.filter(pa.array(day == number)))

    def pop(self, day: dt.date, time_field: str) -> pa.Table | None:
        """The records landing on ``day`` in time order, their time as ISO text in ``time_field``."""
        tables = self._waiting.pop((day - EPOCH).days, [])
        if not tables:
            return None
        table = pa.concat_tables(tables)
        at_ms = table["at_ms"].to_numpy()
        order = np.argsort(at_ms, kind="stable")
        table = table.take(pa.array(order)).drop_columns("at_ms")
        return table.append_column(time_field, _iso_utc(at_ms[order]))


def _put_gzipped(store: ObjectStore, key: str, data: memoryview) -> None:
    """Compress one object (reproducibly: no timestamp in the header) and store it."""
    store.put_bytes(key, gzip.compress(data, GZIP_LEVEL, mtime=0), "application/gzip")


class _Writer:
    """Compresses and uploads objects on background threads, a bounded number at a time."""

    def __init__(self, workers: int = 2, max_pending: int = 8):
        self._pool = ThreadPoolExecutor(workers, thread_name_prefix="traffic-writer")
        self._pending: deque[Future] = deque()
        self._max_pending = max_pending

    def put(self, store: ObjectStore, key: str, data: memoryview) -> None:
        """Queue one object; wait for the oldest ones while too many are queued."""
        self._pending.append(self._pool.submit(_put_gzipped, store, key, data))
        while len(self._pending) > self._max_pending:
            self._pending.popleft().result()

    def wait(self) -> None:
        """Block until every queued object is stored; raise the first failure."""
        while self._pending:
            self._pending.popleft().result()

    def __enter__(self) -> _Writer:
        return self

    def __exit__(self, *exc_info) -> None:
        try:
            if exc_info[0] is None:
                self.wait()
        finally:
            self._pool.shutdown(cancel_futures=True)
