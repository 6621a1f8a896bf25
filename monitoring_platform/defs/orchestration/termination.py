"""SIGTERM to a process that executes runs itself: its runs end CANCELED and the process stops.

That is ``dagster job backfill`` on an instance with the synchronous launcher, and the worker
processes of ``lane_launcher`` (``infra/dagster-sequential.yaml``), whose command passes SIGTERM
on to them and then cancels the runs it created that had not started; without this, the run
would end as a failure (or be left STARTED) and the command would go on with the next day.

Dagster treats SIGTERM as Ctrl-C while it executes a run. When the instance executes runs in the
launching process, the handler installed here first marks the runs this process executes
CANCELING, so Dagster records them CANCELED, and ends the process once they are. Run workers of a
queued deployment (one process per run, the daemon's or Kubernetes') keep Dagster's behaviour.
"""

from __future__ import annotations

import os
import signal
import threading
import time
from collections.abc import Callable

# How long the runs of the process get to record their cancellation before it exits anyway.
CANCEL_WAIT_SECONDS = 120.0
BACKFILL_TAG = "dagster/backfill"
SYNC_LAUNCHER = "SyncInMemoryRunLauncher"
# Executes the command's runs in its worker processes, which cancel their own runs; the command
# cancels what is left (``lane_launcher``).
LANE_LAUNCHER = "LaneRunLauncher"
MESSAGE = "The process executing this run received SIGTERM: the run is canceled."


# Called instead of cancelling this process's runs: a launcher with workers (``lane_launcher``),
# in its command and in its workers.
_ON_SIGTERM: list[Callable[[], None]] = []


def install_termination_handler(on_sigterm: Callable[[], None] | None = None) -> None:
    """Install :func:`_on_sigterm` in a process on an instance whose runs it executes itself.

    ``on_sigterm()`` (called in the handler, so it must not touch the instance) replaces the
    cancelling of this process's runs.
    """
    if threading.current_thread() is not threading.main_thread():
        return
    if _configured_launcher() not in (SYNC_LAUNCHER, LANE_LAUNCHER):
        return
    if on_sigterm is not None and on_sigterm not in _ON_SIGTERM:
        _ON_SIGTERM.append(on_sigterm)
    from dagster._utils import interrupts

    # Dagster maps SIGTERM to its interrupt handler whenever it swaps that handler in or out.
    interrupts.setup_interrupt_handlers = _setup_interrupt_handlers
    _setup_interrupt_handlers()
    _hold_new_runs()


# Set once SIGTERM has canceled this process's runs: it creates no further run before it exits.
_STOPPING = threading.Event()


def _hold_new_runs() -> None:
    """Once :data:`_STOPPING` is set, a run this process would create waits for the exit instead.

    The command goes on with its next day as soon as the canceled run has ended, and could
    otherwise create that day's run in the moment before the process exits, leaving it STARTING.
    """
    from dagster import DagsterInstance

    create_run = DagsterInstance.create_run
    if getattr(create_run, "held_while_stopping", False):
        return

    def held(self, *args, **kwargs):
        if _STOPPING.is_set():
            threading.Event().wait()  # until _exit_once_canceled ends the process
        return create_run(self, *args, **kwargs)

    held.held_while_stopping = True  # type: ignore[attr-defined]
    DagsterInstance.create_run = held  # type: ignore[method-assign]


def _configured_launcher() -> str | None:
    """The run launcher class named in ``$DAGSTER_HOME/dagster.yaml`` (read, not instantiated)."""
    home = os.environ.get("DAGSTER_HOME")
    if not home:
        return None
    try:
        import yaml

        with open(os.path.join(home, "dagster.yaml"), encoding="utf-8") as f:
            settings = yaml.safe_load(f) or {}
        return (settings.get("run_launcher") or {}).get("class")
    except (OSError, ValueError, AttributeError, yaml.YAMLError):
        return None


def _setup_interrupt_handlers() -> None:
    signal.signal(signal.SIGTERM, _on_sigterm)


def _runs_of_this_process(instance, statuses) -> list:
    """Runs in ``statuses`` whose execution this process started (their RUN_START's pid)."""
    from dagster import DagsterEventType, RunsFilter

    mine = []
    for run in instance.get_runs(RunsFilter(statuses=statuses)):
        records = instance.get_records_for_run(
            run.run_id, of_type=DagsterEventType.RUN_START, limit=1
        ).records
        event = records[0].event_log_entry.dagster_event if records else None
        if event is not None and event.pid == os.getpid():
            mine.append(run)
    return mine


def _on_sigterm(signum, frame) -> None:
    """The handler, in the main thread: everything that touches the instance runs on a thread.

    The main thread may be inside the instance's storage, holding its lock, when the signal
    arrives; writing from the handler would wait for that lock forever.
    """
    if _ON_SIGTERM:
        _STOPPING.set()
        for stop in _ON_SIGTERM:
            stop()
        return
    threading.Thread(target=_cancel_runs_of_this_process, daemon=True).start()


def _cancel_runs_of_this_process() -> None:
    from dagster import DagsterInstance, DagsterRunStatus

    instance, runs = None, []
    try:
        instance = DagsterInstance.get()
        runs = _runs_of_this_process(instance, [DagsterRunStatus.STARTED])
    except Exception:
        pass
    cancel_runs(instance, runs, whole_backfill=True)


def cancel_runs(instance, runs: list, *, whole_backfill: bool) -> None:
    """Mark ``runs`` (executed here) CANCELING, then interrupt the main thread as Ctrl-C does.

    Dagster then records them CANCELED, and the process ends once they are; with
    ``whole_backfill`` the runs of their backfills not ended by then are canceled too. Called on
    a thread other than the main one.
    """
    for run in runs:
        instance.report_run_canceling(run, message=MESSAGE)
    if runs:
        _STOPPING.set()
        backfills = {run.tags[BACKFILL_TAG] for run in runs if BACKFILL_TAG in run.tags}
        threading.Thread(
            target=_exit_once_canceled,
            args=(instance, backfills if whole_backfill else set()),
            daemon=True,
        ).start()
    if callable(signal.getsignal(signal.SIGINT)):
        os.kill(os.getpid(), signal.SIGINT)  # its handler runs in the main thread
    elif not runs:
        os._exit(128 + signal.SIGTERM)  # Ctrl-C is ignored here, and nothing is to be canceled


# A run in these has not ended.
LIVE_STATUSES = ("NOT_STARTED", "QUEUED", "STARTING", "STARTED", "CANCELING")


def _exit_once_canceled(instance, backfills: set[str]) -> None:
    """Leave the process once its runs have ended, so the command starts no further run.

    A run of the same backfill it created meanwhile is marked canceled first.
    """
    from dagster import DagsterRunStatus

    deadline = time.monotonic() + CANCEL_WAIT_SECONDS
    while time.monotonic() < deadline:
        if not _runs_of_this_process(instance, [DagsterRunStatus.CANCELING]):
            break
        time.sleep(0.2)
    live = [DagsterRunStatus(s) for s in LIVE_STATUSES]
    exit_canceling_the_rest(instance, _runs_of_this_process(instance, live), backfills)


def exit_canceling_the_rest(instance, runs: list, backfills: set[str]) -> None:
    """Mark canceled those of ``runs`` and of the runs of ``backfills`` not ended; exit."""
    from dagster import DagsterRunStatus, RunsFilter

    live = [DagsterRunStatus(s) for s in LIVE_STATUSES]
    leftover = {run.run_id: run for run in runs if run.status in live}
    for backfill in backfills:
        for run in instance.get_runs(RunsFilter(statuses=live, tags={BACKFILL_TAG: backfill})):
            leftover[run.run_id] = run
    for run in leftover.values():
        instance.report_run_canceled(run, message=MESSAGE)
    os._exit(128 + signal.SIGTERM)
