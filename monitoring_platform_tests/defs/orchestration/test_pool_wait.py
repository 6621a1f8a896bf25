"""A run whose step waits for a pool slot sleeps until its claim may be tried again."""

import resource
import sys
import threading
import time
import traceback

from dagster import DagsterInstance, job, op
from dagster._core.execution.plan.instance_concurrency_context import (
    InstanceConcurrencyContext,
)
from dagster._core.instance.ref import InstanceRef

from monitoring_platform.defs.metrics.resources import WAREHOUSE_POOL
from monitoring_platform.defs.orchestration import pool_wait
from monitoring_platform.defs.orchestration.event_storage import CLAIM_RETRY_SECONDS
from monitoring_platform.defs.orchestration.instance import write_embedded_instance


def _stack(thread: threading.Thread) -> str:
    """Where ``thread`` is now, to say where a run that does not end waits."""
    frame = sys._current_frames().get(thread.ident or 0)
    return "".join(traceback.format_stack(frame)) if frame is not None else "(ended)"


def _cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


@op(pool=WAREHOUSE_POOL)
def writes_the_warehouse() -> int:
    return 1


@job
def warehouse_job():
    writes_the_warehouse()


def test_a_step_waiting_for_the_warehouse_pool_sleeps_and_runs_once_the_slot_frees(tmp_path):
    """Another run holds the only slot: the waiting run uses little CPU, and runs once it frees."""
    assert pool_wait.install()
    assert not pool_wait.never_waits(
        InstanceConcurrencyContext.interval_to_next_pending_claim_check
    )
    home = tmp_path / "dagster_home"
    write_embedded_instance(home)
    with DagsterInstance.from_ref(InstanceRef.from_dir(str(home))) as instance:
        storage = instance.event_log_storage
        storage.initialize_concurrency_limit_to_default(WAREHOUSE_POOL)
        assert storage.claim_concurrency_slot(WAREHOUSE_POOL, "other-run", "dbt").is_claimed
        # The embedded instance asks a waiting step to try again soon, not after 1 to 15 s.
        waiting = storage.claim_concurrency_slot(WAREHOUSE_POOL, "probe-run", "dbt")
        assert not waiting.is_claimed
        assert waiting.sleep_interval == CLAIM_RETRY_SECONDS
        storage.free_concurrency_slot_for_step("probe-run", "dbt")
        outcome = {}
        runner = threading.Thread(
            target=lambda: outcome.update(
                result=warehouse_job.execute_in_process(instance=instance)
            )
        )
        runner.start()
        time.sleep(1.0)  # the run has started and its step is waiting for the slot
        assert runner.is_alive()
        cpu_before, wall_before = _cpu_seconds(), time.monotonic()
        time.sleep(2.0)
        waited_cpu = _cpu_seconds() - cpu_before
        waited_wall = time.monotonic() - wall_before
        assert runner.is_alive(), "the step ran while another run held the only slot"
        # Spinning, the waiting run keeps a core busy (about 2 s of CPU in these 2 s).
        assert waited_cpu < 0.25 * waited_wall, f"{waited_cpu:.2f} s of CPU while waiting"
        storage.free_concurrency_slot_for_step("other-run", "dbt")
        runner.join(timeout=60)
        assert not runner.is_alive(), "the run did not end once the slot freed:\n" + _stack(runner)
        result = outcome["result"]
        assert result.success
        assert result.output_for_node("writes_the_warehouse") == 1


def test_the_method_is_left_alone_where_dagster_waits():
    """A method that already waits is not replaced; the replacement answers the time left."""

    class Waits:
        def interval_to_next_pending_claim_check(self):
            return 1.0

    assert not pool_wait.never_waits(Waits.interval_to_next_pending_claim_check)
    soon = type("Claims", (), {})()
    soon._pending_claims = {"a", "b"}
    soon._pending_timeouts = {"a": time.time() + 5.0, "b": time.time() + 2.0}
    assert 1.5 < pool_wait.interval_to_next_pending_claim_check(soon) <= 2.0
    soon._pending_timeouts = {"a": time.time() - 1.0, "b": time.time() + 2.0}
    assert pool_wait.interval_to_next_pending_claim_check(soon) == 0.0
    soon._pending_claims = set()
    assert pool_wait.interval_to_next_pending_claim_check(soon) == 0.0
