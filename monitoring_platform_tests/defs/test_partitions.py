"""Partitioned check specs, one per named check, and day-window dependencies clipped at the start."""

import datetime as dt

from dagster import AssetKey, DailyPartitionsDefinition

from monitoring_platform.defs.partitions import partitioned_check_specs, window_dep


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


def test_a_window_dependency_reads_the_days_around_each_day_that_exist():
    days = DailyPartitionsDefinition(start_date="2026-11-01")
    dep = window_dep(AssetKey(["shop", "inference_logs"]), -3, -1)
    mapping = dep.partition_mapping
    assert dep.asset_key == AssetKey(["shop", "inference_logs"]) and mapping is not None
    now = dt.datetime(2026, 11, 20, tzinfo=dt.UTC)

    def upstream(day: str) -> tuple[list[str], list[str]]:
        result = mapping.get_upstream_mapped_partitions_result_for_partitions(
            days.subset_with_partition_keys([day]), days, days, current_time=now
        )
        return sorted(result.partitions_subset.get_partition_keys()), sorted(
            result.required_but_nonexistent_subset.get_partition_keys()
        )

    assert upstream("2026-11-10") == (["2026-11-07", "2026-11-08", "2026-11-09"], [])
    assert upstream("2026-11-02") == (["2026-11-01"], [])  # days before the first are left out
