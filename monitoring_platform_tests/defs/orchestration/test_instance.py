"""The demo's embedded Dagster instance: the deployment's queue and pools, on SQLite."""

from dagster import DagsterInstance

from monitoring_platform.defs.orchestration.jobs import MODEL_TAG


def test_the_embedded_instance_has_the_deployments_queue_and_warehouse_pool(tmp_path):
    """The demo's instance: infra/dagster.yaml's queue and pools, on SQLite."""
    import yaml
    from dagster._core.instance.ref import InstanceRef
    from dagster._core.run_coordinator import QueuedRunCoordinator

    from monitoring_platform.defs.metrics.resources import WAREHOUSE_POOL
    from monitoring_platform.defs.orchestration.event_storage import PooledSqliteEventLogStorage
    from monitoring_platform.defs.orchestration.instance import (
        INFRA_INSTANCE,
        write_embedded_instance,
    )

    home = tmp_path / "dagster_home"
    home.mkdir()
    (home / "dagster.yaml").write_text("telemetry:\n  enabled: false\n")  # an older demo's
    path = write_embedded_instance(home)
    written = yaml.safe_load(path.read_text())
    infra = yaml.safe_load(INFRA_INSTANCE.read_text())
    assert "storage" in infra and "storage" not in written
    events = written.pop("event_log_storage")
    assert written == {k: v for k, v in infra.items() if k != "storage"}
    assert events["class"] == "PooledSqliteEventLogStorage"
    assert events["config"] == {"base_dir": str(home.resolve() / "history" / "runs")}
    with DagsterInstance.from_ref(InstanceRef.from_dir(str(home))) as instance:
        assert isinstance(instance.run_coordinator, QueuedRunCoordinator)
        assert isinstance(instance.event_log_storage, PooledSqliteEventLogStorage)
        queue = instance.get_concurrency_config().run_queue_config
        assert queue.max_concurrent_runs >= 1
        assert {
            "key": MODEL_TAG,
            "value": {"applyLimitPerUniqueValue": True},
            "limit": 1,
        } in queue.tag_concurrency_limits
        assert instance.event_log_storage.supports_global_concurrency_limits
        assert instance.get_concurrency_config().pool_config.default_pool_limit == 1
        # As a step does on its first claim: the pool gets the default limit, one slot.
        storage = instance.event_log_storage
        storage.initialize_concurrency_limit_to_default(WAREHOUSE_POOL)
        assert storage.get_concurrency_info(WAREHOUSE_POOL).slot_count == 1
        assert storage.claim_concurrency_slot(WAREHOUSE_POOL, "run-1", "dbt").is_claimed
        assert not storage.claim_concurrency_slot(WAREHOUSE_POOL, "run-2", "dbt").is_claimed
    # A file the user wrote is left alone.
    (home / "dagster.yaml").write_text("telemetry: {enabled: true}\n")
    write_embedded_instance(home)
    assert (home / "dagster.yaml").read_text() == "telemetry: {enabled: true}\n"
