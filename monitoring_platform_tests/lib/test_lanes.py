"""Lanes: each lane in its order, lanes side by side in worker processes."""

import os
import time

import pytest

from monitoring_platform.lib.lanes import LaneWorkers, run_lanes


def timed(item: tuple[str, int]) -> tuple[str, int, int, float, float]:
    """(lane, position, process, start, end) of one item that takes a little while."""
    started = time.time()
    time.sleep(0.3)
    return (*item, os.getpid(), started, time.time())


def native_threads(_item: int) -> tuple[int, str | None, list[int]]:
    """(process, OPENBLAS_NUM_THREADS, the threads of every BLAS pool loaded) where it runs."""
    import numpy  # noqa: F401 (its BLAS, loaded in the process)
    from threadpoolctl import threadpool_info

    pools = [p["num_threads"] for p in threadpool_info() if p["user_api"] == "blas"]
    return os.getpid(), os.environ.get("OPENBLAS_NUM_THREADS"), pools


def failing(item: int) -> int:
    if item == 2:
        raise ValueError(f"item {item} is bad")
    return item


LANES = [[("a", n) for n in range(3)], [("b", n) for n in range(3)], [("c", 0)]]


def test_one_worker_runs_the_lanes_interleaved_in_this_process():
    done = list(run_lanes(LANES, timed, workers=1))
    assert [(lane, n) for lane, n, *_ in done] == [
        ("a", 0), ("b", 0), ("c", 0), ("a", 1), ("b", 1), ("a", 2), ("b", 2)
    ]  # fmt: skip
    assert {pid for _, _, pid, _, _ in done} == {os.getpid()}


def test_workers_run_lanes_side_by_side_each_lane_in_order():
    done = list(run_lanes(LANES, timed, workers=2))
    assert sorted((lane, n) for lane, n, *_ in done) == sorted(i for lane in LANES for i in lane)
    pids = {pid for _, _, pid, _, _ in done}
    assert len(pids) == 2 and os.getpid() not in pids
    for name in "abc":
        items = sorted((r for r in done if r[0] == name), key=lambda r: r[1])
        for before, after in zip(items, items[1:], strict=False):
            assert after[3] >= before[4], f"lane {name}: an item started before the previous ended"
    # Two at a time: some items of different lanes overlapped.
    assert any(x[3] < y[4] and y[3] < x[4] for x in done for y in done if x[0] != y[0])


def test_a_failing_item_raises_its_error():
    with pytest.raises(ValueError, match="item 2 is bad"):
        list(run_lanes([[1, 2], [3]], failing, workers=2))
    with pytest.raises(ValueError, match="item 2 is bad"):
        list(run_lanes([[1, 2], [3]], failing, workers=1))


def test_workers_run_their_native_thread_pools_on_one_thread():
    ((_, variable_before, before),) = run_lanes([[1]], native_threads, workers=1)
    done = list(run_lanes([[1], [2]], native_threads, workers=2))
    pids = {pid for pid, _, _ in done}
    assert len(pids) == 2 and os.getpid() not in pids
    for pid, variable, pools in done:
        assert pools and set(pools) == {1}, (pid, pools)
        assert variable == "1"  # libraries a worker loads later start with one thread too
    # In this process (one worker) nothing is limited.
    ((pid, variable_after, after),) = run_lanes([[1]], native_threads, workers=1)
    assert pid == os.getpid() and after == before and variable_after == variable_before


def test_worker_processes_stay_up_between_rounds():
    with LaneWorkers(2) as workers:
        first = {pid for _, _, pid, _, _ in workers.run(LANES, timed)}
        second = {pid for _, _, pid, _, _ in workers.run(LANES, timed)}
    assert len(first) == 2 and first == second


PREPARED = "MONITORING_TEST_PREPARED"


def prepare(folder: str) -> None:
    """What a worker loads before its first item: here, a mark of its process."""
    time.sleep(0.5)  # while the caller does other work
    os.environ[PREPARED] = folder
    open(os.path.join(folder, str(os.getpid())), "w").close()


def prepared(_item: int) -> tuple[int, str | None]:
    time.sleep(0.3)
    return os.getpid(), os.environ.get(PREPARED)


def test_started_workers_prepare_before_their_first_items(tmp_path):
    """``start`` returns at once; each worker has prepared when it runs an item."""
    with LaneWorkers(2) as workers:
        began = time.monotonic()
        workers.start(prepare, str(tmp_path))
        assert time.monotonic() - began < 0.5  # not waited for
        done = list(workers.run([[1, 2], [3, 4]], prepared))
    processes = {pid for pid, _ in done}
    assert len(processes) == 2 and os.getpid() not in processes
    assert {mark for _, mark in done} == {str(tmp_path)}
    assert {int(p.name) for p in tmp_path.iterdir()} == processes  # one preparation each
    with LaneWorkers(1) as alone:
        alone.start(prepare, str(tmp_path / "none"))  # one worker: everything runs here
        assert list(alone.run([[1]], prepared)) == [(os.getpid(), None)]
