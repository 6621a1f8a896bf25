"""The definitions of a small configuration, and a model's daily assets in them."""

from monitoring_platform.config import load_config
from monitoring_platform.definitions import build_definitions
from monitoring_platform_tests.conftest import small_config_dict, write_config

MODELS = ("ctr_ranker", "eta_regressor")


def definitions_for(tmp_path, **overrides):
    """A small configuration (with ``overrides``) and its definitions."""
    raw = small_config_dict(tmp_path, requests_per_day=50)
    raw.update(overrides)
    config = load_config(write_config(tmp_path, raw))
    return config, build_definitions(config)


def model_keys(defs, model):
    """The model's materializable daily assets, and the shared dbt models its runs rebuild."""
    graph = defs.resolve_asset_graph()
    return {
        k
        for k in graph.materializable_asset_keys
        if k.path[0] in (model, "warehouse") and graph.get(k).partitions_def is not None
    }
