"""Check specs made per partition: one per named check, in order, blocking only where asked."""

from dagster import AssetKey, DailyPartitionsDefinition

from monitoring_platform.defs.partitions import partitioned_check_specs


def test_one_partitioned_spec_per_description_blocking_only_the_named_ones():
    days = DailyPartitionsDefinition(start_date="2026-11-01")
    asset = AssetKey(["shop", "inference_logs"])
    specs = partitioned_check_specs(
        asset, days, {"arrived": "Logs arrived.", "share": "Few broke."}, blocking={"arrived"}
    )
    assert [(s.name, s.description, s.blocking) for s in specs] == [
        ("arrived", "Logs arrived.", True),
        ("share", "Few broke.", False),
    ]
    assert {s.asset_key for s in specs} == {asset}
    assert all(s.partitions_def == days for s in specs)
