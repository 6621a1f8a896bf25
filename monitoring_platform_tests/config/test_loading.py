"""The configuration loads the demo file and rejects each kind of mistake with a clear message."""

import pytest
import yaml

from monitoring_platform.config import ConfigError, load_config, parse_config
from monitoring_platform_tests.conftest import REPO

VALID_MODEL = {
    "name": "m",
    "task": "regression",
    "features": [{"name": "x", "type": "numerical"}],
}


def _load(tmp_path, raw) -> str:
    path = tmp_path / "monitoring.yaml"
    path.write_text(yaml.safe_dump(raw))
    with pytest.raises(ConfigError) as err:
        load_config(path)
    message = str(err.value)
    assert str(path) in message, "the message names the file"
    return message


def test_the_demo_config_loads_with_its_locations_under_its_own_folder(monkeypatch):
    monkeypatch.delenv("MONITORING_METRIC_STORE_URL", raising=False)
    raw = yaml.safe_load((REPO / "monitoring.yaml").read_text())
    config = load_config(REPO / "monitoring.yaml")
    assert [(m.name, m.task.value) for m in config.models] == [
        (m["name"], m["task"]) for m in raw["models"]
    ]
    assert len({m.task for m in config.models}) > 1, "the demo shows more than one kind of model"
    assert config.logs_root(config.models[0]) == str(REPO / raw["storage"]["raw"] / "logs")
    database = raw["metric_store"]["url"].removeprefix("sqlite:///")
    assert config.metric_store_url() == f"sqlite:///{REPO / database}"


def test_unknown_key_names_the_key_and_suggests_the_right_one(tmp_path):
    message = _load(tmp_path, {"models": [{**VALID_MODEL, "featurs": []}]})
    assert "models[0].featurs: unknown key" in message
    assert "did you mean `features`" in message


def test_wrong_type_names_the_key_and_the_value(tmp_path):
    model = {**VALID_MODEL, "features": [{"name": "x", "type": "numerical", "min": "low"}]}
    message = _load(tmp_path, {"models": [model]})
    assert "models[0].features[0].min" in message
    assert "valid number" in message and "'low'" in message


def test_missing_feature_list_says_what_to_write(tmp_path):
    model = {k: v for k, v in VALID_MODEL.items() if k != "features"}
    message = _load(tmp_path, {"models": [model]})
    assert "models[0].features: required key is missing" in message
    assert "features: [{name:" in message


def test_empty_feature_list_is_refused(tmp_path):
    message = _load(tmp_path, {"models": [{**VALID_MODEL, "features": []}]})
    assert "models[0].features" in message


def test_duplicate_model_name(tmp_path):
    message = _load(tmp_path, {"models": [VALID_MODEL, VALID_MODEL]})
    assert "models: model name 'm' is used more than once" in message


def test_inline_secret_is_refused_and_the_fix_is_named(tmp_path):
    raw = {
        "storage": {"s3": {"secret_access_key": "wJalrXUtnFEMI/K7MDENG"}},
        "models": [VALID_MODEL],
    }
    message = _load(tmp_path, raw)
    assert "storage.s3.secret_access_key" in message
    assert "secret_access_key_env" in message
    assert "wJalrXUtnFEMI" not in message, "the secret itself is never echoed"


def test_secret_value_in_an_env_name_field_is_refused(tmp_path):
    raw = {"storage": {"s3": {"secret_access_key_env": "wJalr/abc"}}, "models": [VALID_MODEL]}
    message = _load(tmp_path, raw)
    assert (
        "storage.s3.secret_access_key_env: expected the NAME of an environment variable" in message
    )


def test_password_in_metric_store_url_is_refused(tmp_path):
    raw = {"metric_store": {"url": "postgresql://u:hunter2@db/metrics"}, "models": [VALID_MODEL]}
    message = _load(tmp_path, raw)
    assert "metric_store.url" in message and "url_env" in message


def test_feature_name_must_be_an_identifier(tmp_path):
    model = {**VALID_MODEL, "features": [{"name": "x'); DROP TABLE t;--", "type": "numerical"}]}
    message = _load(tmp_path, {"models": [model]})
    assert "models[0].features[0].name" in message


def test_segment_must_be_a_feature(tmp_path):
    message = _load(tmp_path, {"models": [{**VALID_MODEL, "segments": ["country"]}]})
    assert "segment 'country' is not a feature" in message


def test_not_yaml_and_not_a_mapping():
    with pytest.raises(ConfigError, match="x.yaml: not valid YAML"):
        parse_config("models: [", "x.yaml")
    with pytest.raises(ConfigError, match="expected a mapping"):
        parse_config("- a\n- b", "x.yaml")


def test_missing_file_names_the_variable(tmp_path):
    with pytest.raises(ConfigError, match="MONITORING_CONFIG"):
        load_config(tmp_path / "nope.yaml")


def test_relative_locations_resolve_against_the_file(tmp_path):
    (tmp_path / "sub").mkdir()
    path = tmp_path / "sub" / "monitoring.yaml"
    path.write_text(yaml.safe_dump({"models": [VALID_MODEL], "storage": {"raw": "data"}}))
    config = load_config(path)
    assert config.logs_root(config.models[0]) == str(tmp_path / "sub" / "data" / "logs")
    assert config.resolve_location("s3://bucket/x/") == "s3://bucket/x"
