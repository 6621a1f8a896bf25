"""Hand memory that earlier work freed back to the operating system.

A run's steps share one process. A big step frees its frames when it ends, but the allocators keep
much of that memory for reuse (glibc's heap, Arrow's pool), so the next big step would start from
the previous one's high-water mark. Calling :func:`release_unused_memory` at the start of a big
step returns what is free, so the process's peak is the largest step's, not their sum.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import gc

import pyarrow as pa


def release_unused_memory() -> None:
    """Collect garbage, then return the free memory of Arrow's pool and of the C heap."""
    gc.collect()
    pa.default_memory_pool().release_unused()
    _malloc_trim()


def _malloc_trim() -> None:
    name = ctypes.util.find_library("c")
    if name is None:
        return
    try:
        trim = ctypes.CDLL(name).malloc_trim
    except (OSError, AttributeError):  # not glibc: nothing to trim
        return
    trim(0)
