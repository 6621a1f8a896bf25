"""Tests of the synthetic traffic generator: layout, record contracts, realism and scenarios."""

from __future__ import annotations

import datetime as dt
import gzip
import json
import re
from collections import Counter, defaultdict
from pathlib import Path

import numpy as np
import pytest
from scipy.stats import rankdata

from monitoring_platform.config import ModelConfig, MonitoringConfig, parse_config
from monitoring_platform.simulation import (
    Scenario,
    default_scenario,
    generate_traffic,
    rollout_shares,
)

START, END = dt.date(2026, 1, 1), dt.date(2026, 1, 10)
DAYS = [START + dt.timedelta(days=i) for i in range((END - START).days + 1)]
SCENARIO = default_scenario(START, END)
BUG_DAY = dt.date(2026, 1, 6)
DRIFT_DAYS = [dt.date(2026, 1, 9), dt.date(2026, 1, 10)]
CALM_DAYS = [d for d in DAYS if d not in DRIFT_DAYS and d != BUG_DAY]
MODELS = ("ctr_ranker", "eta_regressor", "intent_router")
ISO_MS = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$")

CONFIG_YAML = """
version: 1
storage:
  raw: unused
models:
  - name: ctr_ranker
    task: binary_classification
    features:
      - {name: country, type: categorical, categories: [US, DE, FR, GB, BR, IN, JP]}
      - {name: device, type: categorical, categories: [mobile, desktop, tablet]}
      - {name: query_length, type: numerical, min: 1, max: 60, integer: true}
      - {name: position, type: numerical, min: 1, max: 50, integer: true}
      - {name: item_price, type: numerical, min: 0}
      - {name: user_tenure_days, type: numerical, min: 0, integer: true}
      - {name: hour_of_day, type: numerical, min: 0, max: 23, integer: true}
      - {name: discount_pct, type: numerical, min: 0, max: 90, optional: true}
    labels: {max_delay_days: 2}
    simulation:
      requests_per_day: 2500
      versions: ["2026.10.1", "2026.11.0"]
      base_latency_ms: 35
      label_delay_days: 0.5
  - name: eta_regressor
    task: regression
    features:
      - {name: distance_km, type: numerical, min: 0, max: 60}
      - {name: basket_size, type: numerical, min: 1, max: 80, integer: true}
      - {name: courier_load, type: numerical, min: 0, max: 1}
      - {name: city, type: categorical, categories: [berlin, paris, london, madrid, rome]}
      - {name: vehicle, type: categorical, categories: [bike, scooter, car]}
      - {name: rain_mm, type: numerical, min: 0, max: 50, optional: true}
    labels: {max_delay_days: 3}
    simulation:
      requests_per_day: 1500
      versions: [eta-3.4, eta-3.5]
      base_latency_ms: 60
      label_delay_days: 1.2
  - name: intent_router
    task: multiclass_classification
    classes: [billing, shipping, returns]
    columns: {request_id: req_id, prediction: predicted_intent, features: inputs}
    features:
      - {name: channel, type: categorical}
      - {name: message_length, type: numerical, integer: true}
      - {name: sentiment, type: numerical}
    simulation: {requests_per_day: 300, versions: [r1]}
"""


def make_config(**requests_per_day: int) -> MonitoringConfig:
    """The test configuration, optionally with other daily volumes per model."""
    config = parse_config(CONFIG_YAML)
    models = []
    for model in config.models:
        if model.name in requests_per_day:
            simulation = model.simulation.model_copy(
                update={"requests_per_day": requests_per_day[model.name]}
            )
            model = model.model_copy(update={"simulation": simulation})
        models.append(model)
    return config.model_copy(update={"models": models})


def read_objects(root: Path) -> dict[str, bytes]:
    """Every object under ``root`` by its relative key."""
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*.gz"))}


def read_lines(root: Path, kind: str, model: str) -> list[tuple[dt.date, str, str]]:
    """(partition day, object name, line) for every line of one kind of object of a model."""
    found = []
    for path in sorted((root / kind / model).glob("dt=*/*.jsonl.gz")):
        day = dt.date.fromisoformat(path.parent.name.removeprefix("dt="))
        lines = gzip.decompress(path.read_bytes()).decode().splitlines()
        found.extend((day, path.name, line) for line in lines)
    return found


def contract_violation(line: str, model: ModelConfig) -> str | None:
    """Why a log line cannot be ingested, or ``None`` when it can."""
    try:
        record = json.loads(line)
    except ValueError:
        return "not JSON"
    if not isinstance(record, dict):
        return "not an object"
    if not isinstance(record.get(model.columns.request_id), str):
        return "no request id"
    if not isinstance(record.get(model.columns.latency_ms), int | float):
        return "latency is not a number"
    return None


def valid_records(root: Path, model: ModelConfig) -> list[dict]:
    """The ingestible log records of a model, each with its ``_day`` and ``_part``."""
    records = []
    for day, part, line in read_lines(root, "logs", model.name):
        if contract_violation(line, model) is None:
            records.append({**json.loads(line), "_day": day, "_part": part})
    return records


def roc_auc(scores: np.ndarray, labels: np.ndarray) -> float:
    """Area under the ROC curve, from the ranks of the scores."""
    ranks = rankdata(scores)
    positives = labels == 1
    n_pos, n_neg = positives.sum(), (~positives).sum()
    return (ranks[positives].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg)


@pytest.fixture(scope="module")
def config() -> MonitoringConfig:
    """The three test models at their small default volumes."""
    return make_config()


@pytest.fixture(scope="module")
def generated(config, tmp_path_factory):
    """Ten days of traffic for the three test models, with the default scenario."""
    root = tmp_path_factory.mktemp("raw")
    messages: list[str] = []
    summary = generate_traffic(
        config, START, END, seed=11, raw_root=str(root), progress=messages.append
    )
    return root, summary, messages


@pytest.fixture(scope="module")
def records(config, generated) -> dict[str, list[dict]]:
    """The ingestible log records per model."""
    root = generated[0]
    return {model.name: valid_records(root, model) for model in config.models}


@pytest.fixture(scope="module")
def labels(generated) -> dict[str, dict[str, dict]]:
    """The labels per model, by request id, each with its arrival ``_day``."""
    root = generated[0]
    found = {}
    for model in MODELS:
        found[model] = {}
        for day, _part, line in read_lines(root, "labels", model):
            label = json.loads(line)
            found[model][label["request_id"]] = {**label, "_day": day}
    return found


@pytest.fixture(scope="module")
def events(generated) -> dict[str, list[dict]]:
    """The business events per model, each with its ``_day``."""
    root = generated[0]
    return {
        model: [
            {**json.loads(line), "_day": day} for day, _p, line in read_lines(root, "events", model)
        ]
        for model in MODELS
    }


# ---------------------------------------------------------------------------------------------
# Scenario and rollout


def test_versions_serve_their_rollout_share_each_day(config, records):
    for model in config.models:
        by_day = defaultdict(Counter)
        for record in records[model.name]:
            by_day[record["_day"]][record["model_version"]] += 1
        for day in DAYS:
            expected = rollout_shares(model.simulation.versions, SCENARIO, day)
            total = sum(by_day[day].values())
            for version in model.simulation.versions:
                share = by_day[day][version] / total
                assert share == pytest.approx(expected.get(version, 0.0), abs=0.04), (day, version)


# ---------------------------------------------------------------------------------------------
# Determinism and layout


def test_same_seed_gives_identical_bytes_and_another_seed_differs(tmp_path):
    config = make_config(ctr_ranker=400, eta_regressor=300)
    end = START + dt.timedelta(days=2)
    for name, seed in (("a", 5), ("b", 5), ("c", 6)):
        generate_traffic(config, START, end, seed=seed, raw_root=str(tmp_path / name))
    first, again, other = (read_objects(tmp_path / name) for name in "abc")
    assert first == again
    assert first.keys() == other.keys()
    assert all(first[key] != other[key] for key in first)


def test_a_day_does_not_depend_on_the_days_generated_with_it(tmp_path):
    config = make_config(ctr_ranker=400)
    scenario = Scenario(drift_days=[dt.date(2026, 1, 2)], rollout_start=START)
    day = dt.date(2026, 1, 2)
    generate_traffic(
        config,
        START,
        END,
        models=["ctr_ranker"],
        raw_root=str(tmp_path / "range"),
        scenario=scenario,
    )
    generate_traffic(
        config, day, day, models=["ctr_ranker"], raw_root=str(tmp_path / "day"), scenario=scenario
    )
    logs = f"logs/ctr_ranker/dt={day}"
    alone = {k: v for k, v in read_objects(tmp_path / "day").items() if k.startswith(logs)}
    within = {k: v for k, v in read_objects(tmp_path / "range").items() if k.startswith(logs)}
    assert alone and alone == within


def test_objects_follow_the_partition_layout(config, generated):
    root, summary, messages = generated
    assert len(summary.days) == len(config.models) * len(DAYS)
    assert len(messages) == len(summary.days)
    assert summary.records_per_second > 0
    for day_summary in summary.days:
        prefix = f"{day_summary.model}/dt={day_summary.date}"
        assert day_summary.log_keys == [f"{prefix}/part-{i:04d}.jsonl.gz" for i in range(4)]
        assert day_summary.label_keys == [f"{prefix}/labels-0000.jsonl.gz"]
        assert day_summary.event_keys == [f"{prefix}/events-0000.jsonl.gz"]
        for kind, keys, count in (
            ("logs", day_summary.log_keys, day_summary.log_records),
            ("labels", day_summary.label_keys, day_summary.labels),
            ("events", day_summary.event_keys, day_summary.events),
        ):
            lines = [
                line
                for key in keys
                for line in gzip.decompress((root / kind / key).read_bytes()).splitlines()
            ]
            assert len(lines) == count, (kind, keys)
    assert {p.name for p in (root / "logs").iterdir()} == {m.name for m in config.models}


def test_log_records_keep_the_contract(config, records):
    for model in config.models:
        cols = model.columns
        names = {f.name for f in model.features}
        for record in records[model.name]:
            if record["_day"] == BUG_DAY:
                continue
            assert ISO_MS.match(record[cols.timestamp])
            assert dt.date.fromisoformat(record[cols.timestamp][:10]) == record["_day"]
            assert record[cols.model_version] in model.simulation.versions
            assert set(record[cols.features]) == names
            assert isinstance(record[cols.latency_ms], float) and record[cols.latency_ms] > 0
            status = record[cols.status_code]
            prediction = record[cols.prediction]
            if status == 200:
                assert cols.error not in record
                if model.name == "ctr_ranker":
                    assert isinstance(prediction, float) and 0 <= prediction <= 1
                elif model.name == "eta_regressor":
                    assert isinstance(prediction, float) and prediction > 0
                else:
                    assert prediction in model.classes
            else:
                assert status in (429, 500, 502, 503, 504)
                assert prediction is None
                assert isinstance(record[cols.error], str) and record[cols.error]


def test_features_respect_their_configured_types(config, records):
    for model in config.models:
        for feature in model.features:
            values = [
                r[model.columns.features][feature.name]
                for r in records[model.name]
                if r["_day"] in CALM_DAYS
            ]
            present = [v for v in values if v is not None]
            null_share = 1 - len(present) / len(values)
            if feature.optional:
                assert 0.015 < null_share < 0.05, feature.name
            else:
                assert null_share == 0, feature.name
            if feature.type == "categorical":
                counts = Counter(present)
                if feature.categories:
                    assert set(counts) == set(feature.categories)
                top, rest = counts.most_common(1)[0][1], min(counts.values())
                assert top > 2 * rest, f"{feature.name} should be skewed"
                continue
            assert all(isinstance(v, int | float) and not isinstance(v, bool) for v in present)
            if feature.integer:
                assert all(isinstance(v, int) for v in present), feature.name
            if feature.min is not None:
                assert min(present) >= feature.min
            if feature.max is not None:
                assert max(present) <= feature.max


def test_hour_of_day_feature_matches_the_timestamp(records):
    for record in records["ctr_ranker"]:
        if record["_day"] != BUG_DAY:
            assert record["features"]["hour_of_day"] == int(record["timestamp"][11:13])


def test_request_ids_are_unique_apart_from_resent_records(config, generated):
    root, summary, _ = generated
    for model in config.models:
        by_day = defaultdict(list)
        for day, part, line in read_lines(root, "logs", model.name):
            if contract_violation(line, model) is None:
                by_day[day].append((json.loads(line)[model.columns.request_id], part, line))
        for day, entries in by_day.items():
            seen: dict[str, tuple[str, str]] = {}
            duplicates = 0
            for request_id, part, line in entries:
                if request_id in seen:
                    duplicates += 1
                    assert seen[request_id] == (part, line), "a re-sent record is an exact copy"
                seen[request_id] = (part, line)
            assert duplicates == summary.day(model.name, day).duplicate_records
    total = sum(d.duplicate_records for d in summary.days if d.model == "ctr_ranker")
    assert 2 <= total <= 30


# ---------------------------------------------------------------------------------------------
# Dirty data


def test_malformed_lines_come_at_the_configured_rate_and_are_truly_invalid(tmp_path):
    config = make_config(ctr_ranker=3000)
    rate = 0.01
    summary = generate_traffic(
        config,
        START,
        START + dt.timedelta(days=1),
        models=["ctr_ranker"],
        raw_root=str(tmp_path),
        scenario=Scenario(malformed_rate=rate),
    )
    model = config.model("ctr_ranker")
    lines = read_lines(tmp_path, "logs", "ctr_ranker")
    reasons = Counter(contract_violation(line, model) for _d, _p, line in lines)
    malformed = len(lines) - reasons.pop(None)
    assert malformed == sum(d.malformed_lines for d in summary.days)
    assert 0.6 * rate * len(lines) < malformed < 1.4 * rate * len(lines)
    assert set(reasons) == {
        "not JSON",
        "not an object",
        "no request id",
        "latency is not a number",
    }
    positions = [i for i, (_d, _p, line) in enumerate(lines) if contract_violation(line, model)]
    assert np.ptp(positions) > len(lines) / 2, "malformed lines are spread over the day"


def test_default_malformed_rate_is_about_one_in_two_thousand(config, generated):
    _root, summary, _ = generated
    for model in ("ctr_ranker", "eta_regressor"):
        days = [d for d in summary.days if d.model == model]
        rate = sum(d.malformed_lines for d in days) / sum(d.log_records for d in days)
        assert 1 / 5000 < rate < 1 / 800, model


def test_schema_bug_day_sends_a_string_and_a_renamed_feature_in_later_parts(config, records):
    for model in (config.model("ctr_ranker"), config.model("eta_regressor")):
        numerical = model.numerical_features
        stringified, renamed = numerical[0], numerical[1]
        bugged_parts = defaultdict(Counter)
        for record in records[model.name]:
            features = record[model.columns.features]
            bugged = isinstance(features[stringified], str)
            assert bugged == (f"{renamed}_v2" in features) == (renamed not in features)
            if bugged:
                assert isinstance(features[f"{renamed}_v2"], int | float)
                float(features[stringified])
            bugged_parts[record["_day"]][record["_part"], bugged] += 1
        assert {d for d, c in bugged_parts.items() if any(b for _p, b in c)} == {BUG_DAY}
        parts = bugged_parts[BUG_DAY]
        assert parts["part-0000.jsonl.gz", True] == parts["part-0001.jsonl.gz", True] == 0
        assert parts["part-0002.jsonl.gz", True] > 0 and parts["part-0002.jsonl.gz", False] > 0
        assert parts["part-0003.jsonl.gz", False] == 0


# ---------------------------------------------------------------------------------------------
# Realism


def test_traffic_follows_a_daily_curve_and_a_weekly_rhythm(config, generated, records):
    _root, summary, _ = generated
    hours = Counter(int(r["timestamp"][11:13]) for r in records["ctr_ranker"])
    assert 12 <= max(hours, key=hours.get) <= 17
    assert 1 <= min(hours, key=hours.get) <= 6
    assert hours.most_common(1)[0][1] > 3 * min(hours.values())
    volumes = {d.date: d.log_records for d in summary.days if d.model == "ctr_ranker"}
    weekend = [v for day, v in volumes.items() if day.weekday() >= 5]
    weekdays = [v for day, v in volumes.items() if day.weekday() < 5]
    assert np.mean(weekend) < np.mean(weekdays)
    assert all(0.7 * 2500 < v < 1.3 * 2500 for v in volumes.values())


def test_latency_has_a_heavy_tail_and_a_few_calls_fail(config, records):
    for model in (config.model("ctr_ranker"), config.model("eta_regressor")):
        rows = records[model.name]
        status = np.array([r["status_code"] for r in rows])
        assert 0.012 < np.mean(status >= 500) < 0.03
        assert 0.008 < np.mean(status == 429) < 0.025
        latency = np.array([r["latency_ms"] for r in rows])[status == 200]
        median = np.median(latency)
        assert (
            0.7 * model.simulation.base_latency_ms < median < 1.5 * model.simulation.base_latency_ms
        )
        assert 0.005 < np.mean(latency > 5 * median) < 0.02


def test_labels_are_informative_and_drift_days_hurt_quality(records, labels):
    def quality(model: str, days: list[dt.date]) -> tuple[np.ndarray, np.ndarray]:
        pairs = [
            (r["prediction"], labels[model][r["request_id"]]["label"])
            for r in records[model]
            if r["_day"] in days and r["request_id"] in labels[model]
        ]
        return np.array(pairs, dtype=float).T

    calm = [d for d in CALM_DAYS if d.day >= 7]
    auc_calm = roc_auc(*quality("ctr_ranker", calm))
    auc_drift = roc_auc(*quality("ctr_ranker", DRIFT_DAYS))
    assert 0.75 < auc_calm < 0.9
    assert auc_drift < auc_calm - 0.03

    def relative_mae(days):
        predicted, actual = quality("eta_regressor", days)
        return np.mean(np.abs(predicted - actual)) / np.mean(actual)

    assert 0.08 < relative_mae(calm) < 0.16
    assert relative_mae(DRIFT_DAYS) > relative_mae(calm) + 0.03


def test_a_new_version_keeps_the_prediction_distribution(records):
    half_day = next(d for d in DAYS if rollout_shares(["a", "b"], SCENARIO, d).get("b") == 0.5)
    by_version = defaultdict(list)
    for record in records["ctr_ranker"]:
        if record["_day"] == half_day and record["prediction"] is not None:
            by_version[record["model_version"]].append(record["prediction"])
    old, new = (np.array(v) for v in by_version.values())
    assert np.mean(new) == pytest.approx(np.mean(old), rel=0.15)
    assert np.median(new) == pytest.approx(np.median(old), rel=0.2)


def feature_values(rows: list[dict], name: str) -> np.ndarray:
    """The non-null values of a feature."""
    return np.array([r["features"][name] for r in rows if r["features"][name] is not None])


def category_mix(rows: list[dict], name: str) -> dict[str, float]:
    """The share of each value of a categorical feature."""
    counts = Counter(r["features"][name] for r in rows)
    return {value: count / sum(counts.values()) for value, count in counts.items()}


def test_drift_days_shift_numbers_and_change_the_category_mix(config, records):
    for model in (config.model("ctr_ranker"), config.model("eta_regressor")):
        shifted = [n for n in model.numerical_features if n != "hour_of_day"][:2]
        recomposed = model.categorical_features[0]
        reference = [r for r in records[model.name] if r["_day"] in CALM_DAYS[:4]]
        reference_mix = category_mix(reference, recomposed)
        for day in DAYS:
            if day == BUG_DAY:
                continue
            rows = [r for r in records[model.name] if r["_day"] == day]
            drifting = day in DRIFT_DAYS
            for name in shifted:
                ref = feature_values(reference, name)
                moved = abs(feature_values(rows, name).mean() - ref.mean()) / ref.std()
                assert (moved > 0.5) if drifting else (moved < 0.15), (model.name, day, name)
            mix = category_mix(rows, recomposed)
            unseen = mix.get(f"unseen_{recomposed}", 0.0)
            distance = sum(abs(mix.get(k, 0) - reference_mix.get(k, 0)) for k in mix) / 2
            if drifting:
                assert 0.05 < unseen < 0.11
                assert distance > 0.15
            else:
                assert unseen == 0 and distance < 0.05


# ---------------------------------------------------------------------------------------------
# Labels and events


def test_labels_arrive_after_the_call_and_never_after_the_end(config, generated, records, labels):
    root, summary, _ = generated
    for model in config.models:
        cols = model.columns
        calls = {r[cols.request_id]: r for r in records[model.name]}
        model_labels = labels[model.name]
        assert model_labels
        arrival_days = {label["_day"] for label in model_labels.values()}
        assert max(arrival_days) <= END
        unmatched = 0
        for request_id, label in model_labels.items():
            assert ISO_MS.match(label["labeled_at"])
            assert dt.date.fromisoformat(label["labeled_at"][:10]) == label["_day"]
            call = calls.get(request_id)
            if call is None:
                unmatched += 1
                continue
            assert call[cols.status_code] == 200
            assert label["labeled_at"] > call[cols.timestamp]
            assert 0 <= (label["_day"] - call["_day"]).days <= model.labels.max_delay_days
        assert unmatched <= sum(d.malformed_lines for d in summary.days if d.model == model.name)
        counted = Counter(label["_day"] for label in model_labels.values())
        for day in DAYS:
            assert summary.day(model.name, day).labels == counted[day]
    assert {label["label"] for label in labels["ctr_ranker"].values()} == {0, 1}
    assert {label["label"] for label in labels["intent_router"].values()} == {
        "billing",
        "shipping",
        "returns",
    }
    assert all(isinstance(x["label"], float) for x in labels["eta_regressor"].values())


def test_late_labels_spread_over_the_following_days(records, labels):
    calls = {r["request_id"]: r["_day"] for r in records["eta_regressor"]}
    delays = Counter(
        (label["_day"] - calls[rid]).days
        for rid, label in labels["eta_regressor"].items()
        if rid in calls and calls[rid] <= DAYS[4]
    )
    assert delays[1] > delays[0] > 0 and delays[2] > 0


def test_click_labels_agree_with_click_events(records, labels, events):
    clicks = {e["request_id"] for e in events["ctr_ranker"] if e["event_type"] == "click"}
    conversions = [e for e in events["ctr_ranker"] if e["event_type"] == "conversion"]
    labelled = labels["ctr_ranker"]
    assert all(
        (label["label"] == 1) == (request_id in clicks) for request_id, label in labelled.items()
    )
    assert {e["request_id"] for e in conversions} <= clicks
    assert all(e["value"] > 0 for e in conversions)
    assert all(e["value"] == 1 for e in events["ctr_ranker"] if e["event_type"] == "click")
    calls = {r["request_id"]: r["timestamp"] for r in records["ctr_ranker"]}
    assert all(
        e["timestamp"] > calls[e["request_id"]]
        for e in events["ctr_ranker"]
        if e["request_id"] in calls
    )
    assert max(e["_day"] for e in events["ctr_ranker"]) <= END


def test_orders_depend_on_the_promised_time_and_carry_revenue(records, labels, events):
    orders = {e["request_id"]: e for e in events["eta_regressor"]}
    assert {e["event_type"] for e in orders.values()} == {"conversion"}
    assert all(e["value"] > 0 for e in orders.values())
    assert set(labels["eta_regressor"]) <= set(orders), "only orders are delivered and labelled"
    served = [r for r in records["eta_regressor"] if r["status_code"] == 200]
    eta = np.array([r["prediction"] for r in served])
    ordered = np.array([r["request_id"] in orders for r in served])
    quick, slow = eta < np.quantile(eta, 0.25), eta > np.quantile(eta, 0.75)
    assert ordered[quick].mean() > ordered[slow].mean() + 0.1


def test_custom_field_names_are_used(records):
    record = records["intent_router"][0]
    assert {"req_id", "predicted_intent", "inputs"} <= set(record)
    assert not {"request_id", "prediction", "features"} & set(record)


# ---------------------------------------------------------------------------------------------
# S3


def test_writes_to_s3(s3_bucket):
    bucket, client = s3_bucket
    config = make_config(eta_regressor=200)
    summary = generate_traffic(
        config,
        START,
        START + dt.timedelta(days=1),
        models=["eta_regressor"],
        raw_root=f"s3://{bucket}/raw",
        client_factory=client,
    )
    listed = client().list_objects_v2(Bucket=bucket, Prefix="raw/")["Contents"]
    first = summary.days[0]
    expected = {f"raw/logs/{key}" for key in first.log_keys}
    expected |= {f"raw/labels/{key}" for key in first.label_keys}
    expected |= {f"raw/events/{key}" for key in first.event_keys}
    assert expected <= {item["Key"] for item in listed}
    body = client().get_object(Bucket=bucket, Key=f"raw/logs/{first.log_keys[0]}")["Body"].read()
    record = json.loads(gzip.decompress(body).splitlines()[0])
    assert record["model_version"] == "eta-3.4"


def test_latency_regression_day_slows_the_newer_version_only(tmp_path):
    import gzip
    import json

    from monitoring_platform.simulation import Scenario, default_scenario, generate_traffic

    config = _latency_config(tmp_path)
    day = dt.date(2026, 3, 10)
    scenario = Scenario(
        rollout_start=day, latency_regression_day=day, latency_regression_factor=6.0
    )
    generate_traffic(config, day, day + dt.timedelta(days=1), seed=4, scenario=scenario)
    medians = {}
    for d in (day, day + dt.timedelta(days=1)):
        by_version: dict[str, list[float]] = {}
        for path in sorted((tmp_path / "raw" / "logs" / "m" / f"dt={d}").glob("*.gz")):
            for line in gzip.decompress(path.read_bytes()).decode().splitlines():
                try:
                    rec = json.loads(line)
                except json.JSONDecodeError:
                    continue
                ok = isinstance(rec, dict) and rec.get("status_code") == 200
                if ok and isinstance(rec.get("latency_ms"), float | int):
                    by_version.setdefault(rec["model_version"], []).append(rec["latency_ms"])
        medians[d] = {v: float(np.median(x)) for v, x in by_version.items() if len(x) > 50}
    slow = medians[day]
    assert slow["b"] / slow["a"] > 4, slow
    later = medians[day + dt.timedelta(days=1)]
    assert later["b"] / later["a"] < 1.5, later
    assert default_scenario(day, day + dt.timedelta(days=13)).latency_regression_day == (
        day + dt.timedelta(days=6)
    )


def _latency_config(tmp_path):
    return parse_config(
        f"""
storage: {{raw: {tmp_path / "raw"}}}
models:
  - name: m
    task: regression
    features: [{{name: x, type: numerical, min: 0, max: 10}}]
    simulation: {{requests_per_day: 4000, versions: [a, b]}}
"""
    )
