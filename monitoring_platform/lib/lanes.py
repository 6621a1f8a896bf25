"""Work in lanes: each lane's items one after another, up to ``workers`` lanes at a time.

A lane holds what must stay in order (a model's days: a day's drift reads the days before it);
lanes are independent of each other. With one worker every item runs in this process, the lanes
interleaved (every lane's first item, then every lane's second, ...). With more, one lane at a
time runs in this process on a thread (what this process already loaded costs nothing again) and
the others in worker processes (spawned: no thread or lock of this process is inherited), and a
lane's next item is handed out when its previous one has finished, so a lane never has two items
running. ``work`` and the items must then be picklable (a module-level function, plain data), and
``work`` must be safe to run on a thread of this process. Every process runs its native thread
pools (BLAS, OpenMP) on one thread while lanes run side by side: the processes already share the
cores, and a pool per process sized for the whole machine makes them wait for each other (a fleet
day in two workers took about 10% longer with the default pools).
"""

from __future__ import annotations

import multiprocessing
import os
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import (
    FIRST_COMPLETED,
    Executor,
    Future,
    ProcessPoolExecutor,
    ThreadPoolExecutor,
    wait,
)
from typing import TypeVar

from monitoring_platform.lib.environment import environment

Item = TypeVar("Item")
Result = TypeVar("Result")
# Read by BLAS and OpenMP when they start; threadpoolctl limits those already started.
NATIVE_THREAD_VARIABLES = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")


def one_native_thread() -> None:
    """This process's BLAS and OpenMP pools on one thread, those loaded later included."""
    for name in NATIVE_THREAD_VARIABLES:
        os.environ[name] = "1"
    from threadpoolctl import threadpool_limits

    threadpool_limits(limits=1)


class LaneWorkers:
    """This process and ``workers - 1`` spawned processes, kept for several rounds of lanes.

    With one worker every item runs here, the lanes interleaved. With more, one lane at a time
    runs here on a thread and the others in the spawned processes, which stay up between rounds
    (:meth:`run`), so a second round pays no start-up again. Use it as a context manager.
    """

    def __init__(self, workers: int) -> None:
        self.workers = max(1, workers)
        self._here: ThreadPoolExecutor | None = None
        self._pool: ProcessPoolExecutor | None = None

    def __enter__(self) -> LaneWorkers:
        return self

    def __exit__(self, *_exc: object) -> None:
        for executor in (self._here, self._pool):
            if executor is not None:
                executor.shutdown(wait=True, cancel_futures=True)
        self._here = self._pool = None

    def _executors(self, lanes: int) -> list[tuple[Executor, int]]:
        """(executor, items it runs at once): this process, then the worker processes."""
        if self._here is None:
            self._here = ThreadPoolExecutor(max_workers=1, thread_name_prefix="lane")
        others = min(self.workers, lanes) - 1
        if others > 0 and self._pool is None:
            context = multiprocessing.get_context("spawn")
            self._pool = ProcessPoolExecutor(
                max_workers=self.workers - 1, mp_context=context, initializer=one_native_thread
            )
        return [(self._here, 1)] + ([(self._pool, others)] if self._pool and others > 0 else [])

    def run(
        self, lanes: Sequence[Sequence[Item]], work: Callable[[Item], Result]
    ) -> Iterator[Result]:
        """``work(item)`` for every item, yielded as each finishes, each lane in its order."""
        queued = [list(lane) for lane in lanes if lane]
        if not queued:
            return
        if self.workers <= 1 or len(queued) <= 1:
            yield from _interleaved(queued, work)
            return
        # This process's share of the cores is one, like each worker's.
        # (The variables for libraries loaded meanwhile, the limits for those loaded already.)
        with environment(dict.fromkeys(NATIVE_THREAD_VARIABLES, "1")):
            yield from _scheduled(queued, work, self._executors(len(queued)))


def _on_one_native_thread(work: Callable[[Item], Result], item: Item) -> Result:
    """``work(item)`` in this process with its loaded BLAS and OpenMP pools on one thread."""
    from threadpoolctl import threadpool_limits

    with threadpool_limits(limits=1):
        return work(item)


def _interleaved(queued: list[list[Item]], work: Callable[[Item], Result]) -> Iterator[Result]:
    """Every lane's first item, then every lane's second, ..., here."""
    for depth in range(max(len(lane) for lane in queued)):
        for lane in queued:
            if depth < len(lane):
                yield work(lane[depth])


def _scheduled(
    queued: list[list[Item]],
    work: Callable[[Item], Result],
    executors: list[tuple[Executor, int]],
) -> Iterator[Result]:
    """Each lane's next item handed to a free executor when its previous item has finished.

    A lane that finished an item keeps its executor when it has more (its caches stay warm);
    a free executor otherwise takes the first lane that is waiting.
    """
    position = [0] * len(queued)
    waiting = list(range(len(queued)))
    running: dict[Future[Result], tuple[int, int]] = {}
    free = [slots for _, slots in executors]

    def start(lane: int, slot: int) -> None:
        free[slot] -= 1
        executor, item = executors[slot][0], queued[lane][position[lane]]
        if isinstance(executor, ThreadPoolExecutor):
            future = executor.submit(_on_one_native_thread, work, item)
        else:
            future = executor.submit(work, item)
        running[future] = (lane, slot)

    for slot in range(len(executors)):
        while free[slot] and waiting:
            start(waiting.pop(0), slot)
    while running:
        done, _ = wait(running, return_when=FIRST_COMPLETED)
        for future in sorted(done, key=lambda f: running[f]):
            lane, slot = running.pop(future)
            free[slot] += 1
            position[lane] += 1
            if position[lane] < len(queued[lane]):
                waiting.insert(0, lane)
            while free[slot] and waiting:
                start(waiting.pop(0), slot)
            yield future.result()
        for other in range(len(executors)):
            while free[other] and waiting:
                start(waiting.pop(0), other)


def run_lanes(
    lanes: Sequence[Sequence[Item]], work: Callable[[Item], Result], workers: int = 1
) -> Iterator[Result]:
    """``work(item)`` for every item, yielded as each finishes, each lane in its order.

    Up to ``workers`` lanes at a time: one in this process, the others in worker processes
    started for this call (:class:`LaneWorkers` keeps them for several calls).
    """
    with LaneWorkers(workers) as lane_workers:
        yield from lane_workers.run(lanes, work)
