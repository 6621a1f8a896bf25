"""One model's simulated calls, labels and events, day by day, from a hidden relationship."""

from __future__ import annotations

import datetime as dt
import math
import zlib
from dataclasses import dataclass, field

import numpy as np
import pyarrow as pa

from monitoring_platform.config import Columns, Feature, FeatureType, ModelConfig, Task
from monitoring_platform.simulation.draws import (
    INTRADAY_CURVE,
    latency_and_status,
    logit,
    lognormal_ms,
    revenue,
    sigmoid,
)
from monitoring_platform.simulation.scenario import (
    CLICK_LOGIT_SCALE,
    CLICK_RATE,
    CONCEPT_STABILITY,
    CONVERSION_AFTER_CLICK,
    DAILY_VOLUME_NOISE,
    DRIFT_SHIFT_SD,
    EPOCH,
    ETA_LOG_NOISE,
    ETA_LOG_SCALE,
    ETA_MEDIAN_MINUTES,
    MS_PER_DAY,
    MS_PER_PART,
    MULTICLASS_CONVERSION,
    MULTICLASS_LOGIT_SCALE,
    OPTIONAL_NULL_SHARE,
    ORDER_ETA_SENSITIVITY,
    ORDER_RATE,
    SERVER_ERRORS,
    THROTTLED_ERROR,
    UNSEEN_EFFECT,
    UNSEEN_SHARE,
    VERSION_IMPROVEMENT,
    VERSION_NOISE,
    WEEKDAY_VOLUME,
    Scenario,
    rollout_shares,
)
from monitoring_platform.simulation.text import iso_utc, uuid4_strings


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
class Traffic:
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


class Simulator:
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

    def day(self, day: dt.date, scenario: Scenario) -> Traffic:
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
        latency, status = latency_and_status(rng, load, sim.base_latency_ms)
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

        timestamps = iso_utc(timestamp_ms)
        request_id = uuid4_strings(rng, n)
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
        return Traffic(
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
            bias = logit(CLICK_RATE) * math.sqrt(1 + math.pi * CLICK_LOGIT_SCALE**2 / 8)
            score = sigmoid(bias + CLICK_LOGIT_SCALE * estimate[:, 0])
            prediction = pa.array(np.round(score, 5), mask=failed)
            clicked = rng.random(len(ok)) < sigmoid(bias + CLICK_LOGIT_SCALE * truth[ok, 0])
            label = pa.array(clicked.astype(np.int64))
            click_at = timestamp_ms[ok] + lognormal_ms(rng, 6_000, 0.8, len(ok))
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
                        revenue(rng, int(converted.sum())),
                        click_at[converted] + lognormal_ms(rng, 300_000, 0.7, converted.sum()),
                    ),
                ]
            )
        elif family == "regression":
            log_median = math.log(ETA_MEDIAN_MINUTES)
            eta = np.exp(log_median + ETA_LOG_SCALE * estimate[:, 0])
            prediction = pa.array(np.round(eta, 2), mask=failed)
            noise = rng.normal(0, ETA_LOG_NOISE, len(ok))
            actual = np.exp(log_median + ETA_LOG_SCALE * truth[ok, 0] + noise)
            order_odds = logit(ORDER_RATE) - ORDER_ETA_SENSITIVITY * np.log(
                eta[ok] / ETA_MEDIAN_MINUTES
            )
            ordered = rng.random(len(ok)) < sigmoid(order_odds)
            ordered_at = timestamp_ms[ok] + lognormal_ms(rng, 60_000, 0.6, len(ok))
            events = _events(
                ok[ordered],
                request_id,
                model.events.conversion_event,
                revenue(rng, int(ordered.sum())),
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
                revenue(rng, int(converted.sum())),
                timestamp_ms[ok][converted] + lognormal_ms(rng, 60_000, 0.6, converted.sum()),
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
        values = low + (high - low) * sigmoid(latent)
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
