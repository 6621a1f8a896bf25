"""A process that has loaded the platform exits without a last full garbage collection.

At exit Python clears every module and runs the cyclic garbage collector over what is left: a
process that has loaded Dagster, Evidently, Great Expectations, scikit-learn and dbt holds
millions of objects, and a worker of the demo took about 3 s of CPU to exit. Everything a run
writes is committed and closed by the time its step ends, so the last collection frees only
memory the operating system takes back anyway. :func:`skip_final_collection` moves the objects
alive at exit out of the collector's reach (``gc.freeze``) from an exit handler: the exit
handlers themselves all run as before. A worker's exit then took 0.2 s.
"""

from __future__ import annotations

import atexit
import gc

_registered = False


def skip_final_collection() -> None:
    """Freeze the objects alive at exit so that interpreter shutdown does not traverse them."""
    global _registered
    if not _registered:
        _registered = True
        atexit.register(gc.freeze)
