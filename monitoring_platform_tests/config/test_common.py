"""Storage roots are checked when the configuration loads: a wrong one never becomes a folder."""

import pytest

from monitoring_platform.config import ConfigError, parse_config

MODEL = "models: [{name: m, task: regression, features: [{name: x, type: numerical}]%s}]"


@pytest.mark.parametrize(
    ("where", "value", "says"),
    [
        ("storage.raw", "s3://", "bucket name of 3 to 63"),
        ("storage.lake", "s3:///lake", "bucket name of 3 to 63"),
        ("storage.reports", "file:///etc", "not a file: URL"),
        ("storage.raw", "http://minio:9000/raw", "http: locations are not supported"),
        ("storage.raw", "s3://../x", "bucket name"),
        ("storage.raw", "s3://bucket/../x", "no '..', '.', '//' or backslash"),
        ("storage.lake", "s3://bucket//x", "no '..', '.', '//' or backslash"),
        ("storage.lake", "", "got an empty value"),
        ("models[0].logs", "ftp://host/logs", "ftp: locations are not supported"),
        ("models[0].labels.location", "s3://Bad_Bucket/l", "bucket name"),
    ],
)
def test_a_wrong_storage_root_is_a_config_error_naming_the_key(where, value, says):
    if where.startswith("storage."):
        text = f"storage: {{{where.split('.')[1]}: '{value}'}}\n" + MODEL % ""
    elif where == "models[0].logs":
        text = MODEL % f", logs: '{value}'"
    else:
        text = MODEL % f", labels: {{location: '{value}'}}"
    with pytest.raises(ConfigError) as caught:
        parse_config(text)
    message = str(caught.value)
    assert f"{where}:" in message and says in message


@pytest.mark.parametrize(
    "value", ["var/raw", "/srv/monitoring/raw", "s3://my-bucket", "s3://my.bucket/a/b/", "C:/data"]
)
def test_good_storage_roots_load(value):
    config = parse_config(f"storage: {{raw: '{value}'}}\n" + MODEL % "")
    assert config.storage.raw == value
