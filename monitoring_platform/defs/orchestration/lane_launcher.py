"""A run launcher for command-line backfills: a model's next day starts beside the end of the last.

``dagster job backfill`` on ``infra/dagster-sequential.yaml`` hands each run it creates to this
launcher, which executes it in one of ``workers`` spawned processes (one BLAS and OpenMP thread
each) on the same instance. A lane is a model (its runs' ``monitoring_platform/model`` tag; the
job otherwise): a lane's next run starts once every step of its last run that a later day reads
has ended, so only the steps tagged ``UNREAD_BY_LATER_DAYS`` (a day's drift, its KPI report,
which run last in their run) overlap the next day. Days are evaluated in order as with one run
at a time, and hold at most ``workers`` model-days in memory.

``launch_run`` returns once the run is handed to a worker; the command then creates the next
run, which waits in ``launch_run`` for its turn. The instance's disposal, at the command's end,
waits for the runs still executing. SIGTERM to the command is passed to the workers, which
cancel their runs (``termination``); the command then cancels the runs it created that had not
started, and exits.
"""

from __future__ import annotations

import multiprocessing
import os
import signal
import threading
import time
from collections.abc import Iterable, Mapping
from concurrent.futures import Future, ProcessPoolExecutor
from typing import Any

from dagster import DagsterEventType, DagsterInstance, DagsterRunStatus, Field, RunsFilter
from dagster._core.launcher import LaunchRunContext, RunLauncher
from dagster._serdes import ConfigurableClass, ConfigurableClassData

from monitoring_platform.defs.orchestration import termination
from monitoring_platform.defs.orchestration.jobs import MODEL_TAG
from monitoring_platform.defs.partitions import UNREAD_BY_LATER_DAYS_TAG
from monitoring_platform.lib.lanes import start_worker

STEP_ENDED = {
    DagsterEventType.STEP_SUCCESS,
    DagsterEventType.STEP_FAILURE,
    DagsterEventType.STEP_SKIPPED,
}

# In a worker: where it says that a run's steps read by later days have ended, its instance and
# the run it is executing.
_GATES: Any = None
_INSTANCE: DagsterInstance | None = None
_EXECUTING: str | None = None
_CANCELING = False


def _start_lane_worker(gates: Any, origin: Any) -> None:
    """A worker's set-up: the code location and what its first run would load, before it."""
    global _GATES
    import importlib

    from dagster._utils.hosted_user_process import recon_job_from_origin

    _GATES = gates
    termination.install_termination_handler(on_sigterm=_worker_sigterm)
    start_worker()
    try:
        recon_job_from_origin(origin).get_definition()
        definitions = importlib.import_module("monitoring_platform.definitions")
        definitions.prepare_process(definitions.defs)
    except Exception:
        pass  # left for the run, which says what failed (a failing set-up breaks the pool)


def _worker_sigterm() -> None:
    """SIGTERM in a worker: its run is canceled, or the worker ends at once if it has none.

    The command cancels what is left once its workers have ended. A second SIGTERM (the pool's,
    once another worker has ended) is ignored while the run is being canceled.
    """
    global _CANCELING
    if not _CANCELING:
        _CANCELING = True
        threading.Thread(target=_cancel_executing_run, daemon=True).start()


def _cancel_executing_run() -> None:
    run = _INSTANCE.get_run_by_id(_EXECUTING) if _INSTANCE and _EXECUTING else None
    if run is None or run.status != DagsterRunStatus.STARTED:
        os._exit(128 + signal.SIGTERM)
    termination.cancel_runs(_INSTANCE, [run], whole_backfill=False)


def _nothing() -> None:
    """Submitted once per worker at the start: each submission starts a process."""


def gate_steps(steps: Iterable[Any]) -> set[str]:
    """The keys of the steps (of a run's plan) that a later day reads: those not tagged unread."""
    return {s.key for s in steps if (s.tags or {}).get(UNREAD_BY_LATER_DAYS_TAG) != "true"}


def run_gate_steps(instance: DagsterInstance, run: Any) -> set[str]:
    """:func:`gate_steps` of the run's execution plan."""
    return gate_steps(instance.get_execution_plan_snapshot(run.execution_plan_snapshot_id).steps)


def execute_in_worker(run_id: str, origin: Any) -> None:
    """Execute the run here, saying when its steps read by later days have ended."""
    global _INSTANCE, _EXECUTING
    from dagster._core.execution.api import execute_run_iterator
    from dagster._utils.hosted_user_process import recon_job_from_origin

    if _INSTANCE is None:
        _INSTANCE = DagsterInstance.get()
    run = _INSTANCE.get_run_by_id(run_id)
    if run is None or run.status not in (DagsterRunStatus.NOT_STARTED, DagsterRunStatus.STARTING):
        return  # canceled before its turn
    waiting = run_gate_steps(_INSTANCE, run)
    _EXECUTING = run_id
    try:
        for event in execute_run_iterator(recon_job_from_origin(origin), run, _INSTANCE):
            if waiting and event.event_type in STEP_ENDED and event.step_key in waiting:
                waiting.discard(event.step_key)
                if not waiting and _GATES is not None:
                    _GATES.put(run_id)
    finally:
        _EXECUTING = None


class LaneRunLauncher(RunLauncher, ConfigurableClass):
    """Executes the runs this process launches in ``workers`` processes, a model's days in order."""

    def __init__(self, workers: int = 2, inst_data: ConfigurableClassData | None = None):
        self._inst_data = inst_data
        self.workers = max(1, int(workers))
        self._changed = threading.Condition()
        self._pool: ProcessPoolExecutor | None = None
        self._gates: Any = None
        self._running: set[Future] = set()
        self._held: dict[str, str] = {}  # lane: its last run, until that run passes its gate
        self._lanes: dict[str, str] = {}  # every run handed to this launcher: its lane
        self._stopping = False
        super().__init__()

    @property
    def inst_data(self) -> ConfigurableClassData | None:
        return self._inst_data

    @classmethod
    def config_type(cls) -> Mapping[str, Any]:
        return {"workers": Field(int, is_required=False, default_value=2)}

    @classmethod
    def from_config_value(
        cls, inst_data: ConfigurableClassData, config_value: Mapping[str, Any]
    ) -> LaneRunLauncher:
        return cls(inst_data=inst_data, **config_value)

    def launch_run(self, context: LaunchRunContext) -> None:
        run = context.dagster_run
        lane = run.tags.get(MODEL_TAG) or run.job_name
        termination.install_termination_handler(on_sigterm=self.stop)
        with self._changed:
            self._lanes[run.run_id] = lane
            self._changed.wait_for(lambda: self._stopping or self._may_start(lane))
            if self._stopping:
                self._changed.wait_for(lambda: False)  # the exit thread ends the process
            self._held[lane] = run.run_id
            pool = self._processes(context.job_code_origin)
            future = pool.submit(execute_in_worker, run.run_id, context.job_code_origin)
            self._running.add(future)
        future.add_done_callback(lambda f: self._ended(f, run.run_id))

    def _may_start(self, lane: str) -> bool:
        return lane not in self._held and len(self._running) < self.workers

    def _processes(self, origin: Any) -> ProcessPoolExecutor:
        """The workers, all started (and preparing) with the first run."""
        if self._pool is None:
            context = multiprocessing.get_context("spawn")
            self._gates = context.SimpleQueue()
            self._pool = ProcessPoolExecutor(
                self.workers, mp_context=context, initializer=_start_lane_worker,
                initargs=(self._gates, origin),
            )  # fmt: skip
            for _ in range(self.workers):
                self._pool.submit(_nothing)
            threading.Thread(target=self._listen, daemon=True).start()
        return self._pool

    def _listen(self) -> None:
        """Release a lane when a worker says its run's steps read by later days have ended."""
        while True:
            run_id = self._gates.get()
            if run_id is None:
                return
            self._release(run_id)

    def _release(self, run_id: str) -> None:
        """The run's lane may start its next run (if the run still holds it)."""
        with self._changed:
            lane = self._lanes[run_id]
            if self._held.get(lane) == run_id:
                del self._held[lane]
            self._changed.notify_all()

    def _ended(self, future: Future, run_id: str) -> None:
        with self._changed:
            self._running.discard(future)
        self._release(run_id)
        error = future.exception()
        if error is not None and not self._stopping:
            self._fail(run_id, error)

    def _fail(self, run_id: str, error: BaseException) -> None:
        """A worker that died with its run: the run is recorded failed, not left STARTED."""
        run = self._instance.get_run_by_id(run_id)
        if run is not None and not run.is_finished:
            self._instance.report_run_failed(
                run, message=f"The process executing the run ended: {error!r}"
            )

    def dispose(self) -> None:
        """Wait for the runs still executing (the command's end), then stop the workers."""
        with self._changed:
            self._changed.wait_for(lambda: not self._running)
        if self._pool is not None:
            self._gates.put(None)
            self._pool.shutdown(wait=True)
            self._pool = None

    def terminate(self, run_id: str) -> bool:
        """Not supported: SIGTERM to the command cancels its runs."""
        return False

    def stop(self) -> None:
        """SIGTERM: the workers cancel their runs; then the runs not started are canceled."""
        with self._changed:
            if self._stopping:
                return
            self._stopping = True
            self._changed.notify_all()
            pool = self._pool
            workers = list((pool._processes or {}).values()) if pool is not None else []
        for process in workers:
            if process.pid is not None and process.is_alive():
                os.kill(process.pid, signal.SIGTERM)
        threading.Thread(target=self._exit_after, args=(workers,), daemon=True).start()

    def _exit_after(self, workers: list) -> None:
        """Once the workers have ended: the runs handed here or of their backfills not ended."""
        deadline = time.monotonic() + termination.CANCEL_WAIT_SECONDS
        for process in workers:
            process.join(max(0.0, deadline - time.monotonic()))
        instance = self._instance
        runs = list(instance.get_runs(RunsFilter(run_ids=list(self._lanes))))
        backfills = {b for r in runs if (b := r.tags.get(termination.BACKFILL_TAG))}
        termination.exit_canceling_the_rest(instance, runs, backfills)
