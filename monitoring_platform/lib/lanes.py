"""Work in lanes: each lane's items one after another, up to ``workers`` lanes at a time.

A lane holds what must stay in order (a model's days: a day's drift reads the days before it);
lanes are independent of each other. With one worker every item runs in this process, the lanes
interleaved (every lane's first item, then every lane's second, ...). With more, each item runs
in a worker process (spawned: no thread or lock of this process is inherited), and a lane's next
item is handed out when its previous one has finished, so a lane never has two items running.
``work`` and the items must then be picklable (a module-level function, plain data). Each worker
runs its native thread pools (BLAS, OpenMP) on one thread: the workers already share the cores,
and a pool per worker sized for the whole machine makes them wait for each other (a fleet day in
two workers took about 10% longer with the default pools).

Not a thread of this process: Dagster's in-process run redirects the process's standard output
and error into the run's log files (at the file descriptors) and mirrors them back through
``tail`` processes, which it stops with SIGTERM; a run on a thread here would capture what every
other thread prints, and where SIGTERM is ignored (inherited from the parent) each run waited a
minute for those ``tail`` processes to end.
"""

from __future__ import annotations

import multiprocessing
import os
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from contextlib import contextmanager
from typing import TypeVar

from monitoring_platform.lib.process_exit import skip_final_collection

Item = TypeVar("Item")
Result = TypeVar("Result")
# Read by BLAS and OpenMP when they start; threadpoolctl limits those already started.
NATIVE_THREAD_VARIABLES = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")


def start_worker() -> None:
    """A worker's set-up: one native thread, and an exit that skips the last collection."""
    one_native_thread()
    skip_final_collection()


def one_native_thread() -> None:
    """This process's BLAS and OpenMP pools on one thread, those loaded later included."""
    for name in NATIVE_THREAD_VARIABLES:
        os.environ[name] = "1"
    from threadpoolctl import threadpool_limits

    threadpool_limits(limits=1)


class LaneWorkers:
    """Up to ``workers`` spawned processes, kept for several rounds of lanes.

    With one worker every item runs here, the lanes interleaved. With more, the items run in
    the spawned processes, which stay up between rounds (:meth:`run`), so a second round pays
    no start-up again. Use it as a context manager.
    """

    def __init__(self, workers: int) -> None:
        self.workers = max(1, workers)
        self._pool: ProcessPoolExecutor | None = None

    def __enter__(self) -> LaneWorkers:
        return self

    def __exit__(self, *_exc: object) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
        self._pool = None

    def _processes(self) -> ProcessPoolExecutor:
        if self._pool is None:
            context = multiprocessing.get_context("spawn")
            self._pool = ProcessPoolExecutor(
                max_workers=self.workers, mp_context=context, initializer=start_worker
            )
        return self._pool

    def start(self, prepare: Callable[[Item], object], item: Item) -> None:
        """Start the worker processes now, each running ``prepare(item)`` first; not waited for.

        Workers started while the caller does other work are ready for the first items. A
        failing ``prepare`` is left for the items to meet. Nothing happens with one worker.
        """
        if self.workers <= 1:
            return
        pool = self._processes()
        for _ in range(self.workers):  # each submission starts a process while none is idle
            pool.submit(prepare, item)

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
        yield from _scheduled(queued, work, self._processes(), min(self.workers, len(queued)))


@contextmanager
def lane_workers(workers: LaneWorkers | None, count: int) -> Iterator[LaneWorkers]:
    """``workers`` when the caller has them (left running), else ``count`` new ones for the block."""
    if workers is not None:
        yield workers
        return
    with LaneWorkers(count) as made:
        yield made


def _interleaved(queued: list[list[Item]], work: Callable[[Item], Result]) -> Iterator[Result]:
    """Every lane's first item, then every lane's second, ..., here."""
    for depth in range(max(len(lane) for lane in queued)):
        for lane in queued:
            if depth < len(lane):
                yield work(lane[depth])


def _scheduled(
    queued: list[list[Item]],
    work: Callable[[Item], Result],
    pool: ProcessPoolExecutor,
    slots: int,
) -> Iterator[Result]:
    """Each lane's next item handed to the pool when its previous item has finished.

    At most ``slots`` items run at once; a lane that finished an item goes first with its next
    one, else the first lane that is waiting.
    """
    position = [0] * len(queued)
    waiting = list(range(len(queued)))
    running: dict[Future[Result], int] = {}

    def fill() -> None:
        while len(running) < slots and waiting:
            lane = waiting.pop(0)
            running[pool.submit(work, queued[lane][position[lane]])] = lane

    fill()
    while running:
        done, _ = wait(running, return_when=FIRST_COMPLETED)
        for future in sorted(done, key=lambda f: running[f]):
            lane = running.pop(future)
            position[lane] += 1
            if position[lane] < len(queued[lane]):
                waiting.insert(0, lane)
            fill()
            yield future.result()


def run_lanes(
    lanes: Sequence[Sequence[Item]], work: Callable[[Item], Result], workers: int = 1
) -> Iterator[Result]:
    """``work(item)`` for every item, yielded as each finishes, each lane in its order.

    Up to ``workers`` lanes at a time in worker processes started for this call
    (:class:`LaneWorkers` keeps them for several calls).
    """
    with LaneWorkers(workers) as made:
        yield from made.run(lanes, work)
