"""A run launcher for command-line backfills: a model's next day starts beside the end of the last.

``dagster job backfill`` on ``infra/dagster-sequential.yaml`` hands each run it creates to this
launcher, which executes it in one of ``workers`` spawned processes (one BLAS and OpenMP thread
each) on the same instance. A lane is a model (its runs' ``monitoring_platform/model`` tag; the
job otherwise). A lane's days overlap in two places, and are otherwise one after another:

- A lane's next run starts once its last run's ingest phase (the steps tagged ``INGEST_PHASE``:
  the logs, their validation, the business events, which run first in their run) has ended: of
  the days before, those steps read only what their ingest wrote.
- The next run's other steps wait, after its own ingest phase, until every step of the last run
  that a later day reads has ended; only the steps tagged ``UNREAD_BY_LATER_DAYS`` (a day's
  drift, its KPI report, which run last in their run) overlap what follows.

So every step reads what it would read with one run at a time, and at most ``workers``
model-days are held in memory.

``launch_run`` returns once the run is handed to a worker; the command then creates the next
run, which waits in ``launch_run`` for its turn. The instance's disposal, at the command's end,
waits for the runs still executing. SIGTERM to the command is passed to the workers, which
cancel their runs (``termination``); the command then cancels the runs it created that had not
started, and exits.
"""

from __future__ import annotations

import multiprocessing
import os
import shutil
import signal
import tempfile
import threading
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import Future, ProcessPoolExecutor
from pathlib import Path
from typing import Any

from dagster import DagsterEventType, DagsterInstance, DagsterRunStatus, Field, RunsFilter
from dagster._core.events import EngineEventData
from dagster._core.launcher import LaunchRunContext, RunLauncher
from dagster._serdes import ConfigurableClass, ConfigurableClassData

from monitoring_platform.defs.orchestration import termination
from monitoring_platform.defs.orchestration.jobs import MODEL_TAG
from monitoring_platform.defs.partitions import INGEST_PHASE_TAG, UNREAD_BY_LATER_DAYS_TAG
from monitoring_platform.lib.lanes import start_worker

STEP_ENDED = {
    DagsterEventType.STEP_SUCCESS,
    DagsterEventType.STEP_FAILURE,
    DagsterEventType.STEP_SKIPPED,
}

# How often a run waiting for the steps of its lane's last run looks again.
POLL_SECONDS = 0.01
# The engine event a run records once it has waited for them, with the seconds it waited.
WAITED = "waited_seconds"

# In a worker: where it says that a run's ingest phase has ended (read by the command), the folder
# where it marks a run whose steps read by later days have ended (read by the other workers), its
# instance and the run it is executing.
_GATES: Any = None
_PASSED: str | None = None
_INSTANCE: DagsterInstance | None = None
_EXECUTING: str | None = None
_CANCELING = False


def _start_lane_worker(gates: Any, passed: str | None, origin: Any) -> None:
    """A worker's set-up: the code location and what its first run would load, before it."""
    global _GATES, _PASSED
    import importlib

    from dagster._utils.hosted_user_process import recon_job_from_origin

    _GATES, _PASSED = gates, passed
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


def ingest_steps(steps: Iterable[Any]) -> set[str]:
    """The keys of the steps (of a run's plan) of the day's ingest phase."""
    return {s.key for s in steps if (s.tags or {}).get(INGEST_PHASE_TAG) == "true"}


def plan_steps(instance: DagsterInstance, run: Any) -> Sequence[Any]:
    """The steps of the run's execution plan."""
    return instance.get_execution_plan_snapshot(run.execution_plan_snapshot_id).steps


def run_gate_steps(instance: DagsterInstance, run: Any) -> set[str]:
    """:func:`gate_steps` of the run's execution plan."""
    return gate_steps(plan_steps(instance, run))


def mark_passed(folder: str, run_id: str) -> None:
    """Say that the run's steps read by later days have ended (or that the run has)."""
    (Path(folder) / run_id).touch()


def wait_passed(folder: str, run_id: str, stop: Callable[[], bool]) -> float:
    """Wait until :func:`mark_passed` of the run, or ``stop()``; the seconds waited."""
    began = time.monotonic()
    marker = Path(folder) / run_id
    while not marker.exists() and not stop():
        time.sleep(POLL_SECONDS)
    return time.monotonic() - began


class RunPhases:
    """Where a run executing in a worker is: its ingest phase, its wait, its steps read later.

    ``release(run_id)`` says that its ingest phase has ended (its lane's next run may start);
    ``after`` is its lane's last run, whose steps read by later days it waits for before its
    own steps beyond the ingest phase (which the executor runs first) start.
    """

    def __init__(self, instance: DagsterInstance, run: Any, after: str | None, release) -> None:
        steps = plan_steps(instance, run)
        self.instance, self.run, self.after, self.release = instance, run, after, release
        self.ingest, self.gate = ingest_steps(steps), gate_steps(steps)
        self.later = len(steps) > len(self.ingest)
        self.released = self.marked = False

    def seen(self, event: Any) -> None:
        """After each event of the run: the executor starts no step while this runs."""
        if event.event_type in STEP_ENDED:
            self.ingest.discard(event.step_key)
            self.gate.discard(event.step_key)
        if not self.ingest and not self.released:
            self.released = True
            self.release(self.run.run_id)
            if self.after and self.later and _PASSED is not None:
                self._wait()
        if not self.gate:
            self.passed()

    def _wait(self) -> None:
        waited = wait_passed(_PASSED, self.after, lambda: _CANCELING)  # type: ignore[arg-type]
        message = f"Waited {waited:.2f} s for the steps of run {self.after} that later days read"
        data = EngineEventData({WAITED: waited, "after_run": self.after})
        self.instance.report_engine_event(message, self.run, data)

    def passed(self) -> None:
        """The run's steps read by later days have ended (or the run has)."""
        if not self.marked and _PASSED is not None:
            self.marked = True
            mark_passed(_PASSED, self.run.run_id)


def waited_seconds(instance: DagsterInstance, run_id: str) -> float | None:
    """How long the run waited for its lane's last run (``None``: it had none to wait for)."""
    waits = [
        float(value.value)  # type: ignore[arg-type]
        for record in instance.all_logs(run_id, of_type=DagsterEventType.ENGINE_EVENT)
        if record.dagster_event is not None
        and (data := record.dagster_event.engine_event_data) is not None
        and (value := data.metadata.get(WAITED)) is not None
    ]
    return sum(waits) if waits else None


def _say_released(run_id: str) -> None:
    if _GATES is not None:
        _GATES.put(run_id)


def execute_in_worker(run_id: str, origin: Any, after: str | None = None) -> None:
    """Execute the run here, in its lane after ``after`` (:class:`RunPhases`)."""
    global _INSTANCE, _EXECUTING
    from dagster._core.execution.api import execute_run_iterator
    from dagster._utils.hosted_user_process import recon_job_from_origin

    if _INSTANCE is None:
        _INSTANCE = DagsterInstance.get()
    run = _INSTANCE.get_run_by_id(run_id)
    if run is None or run.status not in (DagsterRunStatus.NOT_STARTED, DagsterRunStatus.STARTING):
        return  # canceled before its turn
    phases = RunPhases(_INSTANCE, run, after, _say_released)
    _EXECUTING = run_id
    try:
        for event in execute_run_iterator(recon_job_from_origin(origin), run, _INSTANCE):
            phases.seen(event)
    finally:
        _EXECUTING = None
        phases.passed()


class LaneRunLauncher(RunLauncher, ConfigurableClass):
    """Executes the runs this process launches in ``workers`` processes, a model's days in order."""

    def __init__(self, workers: int = 2, inst_data: ConfigurableClassData | None = None):
        self._inst_data = inst_data
        self.workers = max(1, int(workers))
        self._changed = threading.Condition()
        self._pool: ProcessPoolExecutor | None = None
        self._gates: Any = None
        self._passed: str | None = None  # the folder of mark_passed
        self._running: set[Future] = set()
        self._held: dict[str, str] = {}  # lane: its last run, until its ingest phase has ended
        self._last: dict[str, str] = {}  # lane: its last run
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
            after, self._last[lane] = self._last.get(lane), run.run_id
            pool = self._processes(context.job_code_origin)
            future = pool.submit(execute_in_worker, run.run_id, context.job_code_origin, after)
            self._running.add(future)
        future.add_done_callback(lambda f: self._ended(f, run.run_id))

    def _may_start(self, lane: str) -> bool:
        return lane not in self._held and len(self._running) < self.workers

    def _processes(self, origin: Any) -> ProcessPoolExecutor:
        """The workers, all started (and preparing) with the first run."""
        if self._pool is None:
            context = multiprocessing.get_context("spawn")
            self._gates = context.SimpleQueue()
            self._passed = tempfile.mkdtemp(prefix="monitoring-lanes-")
            self._pool = ProcessPoolExecutor(
                self.workers, mp_context=context, initializer=_start_lane_worker,
                initargs=(self._gates, self._passed, origin),
            )  # fmt: skip
            for _ in range(self.workers):
                self._pool.submit(_nothing)
            threading.Thread(target=self._listen, daemon=True).start()
        return self._pool

    def _listen(self) -> None:
        """Release a lane when a worker says its run's ingest phase has ended."""
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
        if self._passed is not None:
            mark_passed(self._passed, run_id)  # whatever became of the run and its worker
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
            shutil.rmtree(self._passed or "", ignore_errors=True)

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
