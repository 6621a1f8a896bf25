"""The daily assets the model jobs run carry the one-partition backfill policy."""

from monitoring_platform.defs.orchestration.jobs import BACKFILL_POLICY
from monitoring_platform_tests.defs.orchestration.conftest import (
    MODELS,
    definitions_for,
    model_keys,
)


def test_daily_assets_carry_the_backfill_policy(tmp_path):
    _config, defs = definitions_for(tmp_path)
    graph = defs.resolve_asset_graph()
    for model in MODELS:
        for key in model_keys(defs, model):
            assert graph.get(key).backfill_policy == BACKFILL_POLICY, key
    assert BACKFILL_POLICY.max_partitions_per_run == 1
