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
"""

from __future__ import annotations

import multiprocessing
import os
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from typing import TypeVar

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


def run_lanes(
    lanes: Sequence[Sequence[Item]], work: Callable[[Item], Result], workers: int = 1
) -> Iterator[Result]:
    """``work(item)`` for every item, yielded as each finishes, each lane in its order."""
    queued = [list(lane) for lane in lanes if lane]
    if workers <= 1 or len(queued) <= 1:
        for depth in range(max((len(lane) for lane in queued), default=0)):
            for lane in queued:
                if depth < len(lane):
                    yield work(lane[depth])
        return
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(
        max_workers=min(workers, len(queued)), mp_context=context, initializer=one_native_thread
    ) as pool:
        position = [0] * len(queued)
        running: dict[Future[Result], int] = {
            pool.submit(work, lane[0]): n for n, lane in enumerate(queued)
        }
        while running:
            done, _ = wait(running, return_when=FIRST_COMPLETED)
            for future in sorted(done, key=lambda f: running[f]):
                index = running.pop(future)
                position[index] += 1
                if position[index] < len(queued[index]):
                    running[pool.submit(work, queued[index][position[index]])] = index
                yield future.result()
