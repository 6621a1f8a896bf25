"""Import the libraries of a run's later steps while its first step works.

A run executes its steps in one process, one after another. The first step (ingesting a day)
spends most of its time in DuckDB, which releases the interpreter lock, while the later steps
need Great Expectations and Evidently, whose imports take seconds of pure Python. Importing them
on a background thread during ingestion overlaps the two on a second core. The step that started
the thread joins it before it ends, so no later step ever imports the same package concurrently
from another thread (two threads inside one package's circular imports can see each other's
half-initialised modules). A failed background import is left for the step that needs the
module to report when it imports it.
"""

from __future__ import annotations

import importlib
import threading

LATER_STEPS = (
    "great_expectations",
    "evidently",
    "evidently.metrics",
    "evidently.presets",
    "evidently.legacy.calculations.stattests",
)

_started: set[str] = set()
_lock = threading.Lock()


def import_in_background(modules: tuple[str, ...] = LATER_STEPS) -> threading.Thread | None:
    """Start importing ``modules`` on a daemon thread (once per process); the thread, if started."""
    with _lock:
        todo = tuple(m for m in modules if m not in _started)
        _started.update(todo)
    if not todo:
        return None

    def run() -> None:
        for name in todo:
            try:
                importlib.import_module(name)
            except Exception:  # the step that needs it imports it and reports
                continue

    thread = threading.Thread(target=run, name="import-later-steps", daemon=True)
    thread.start()
    return thread
