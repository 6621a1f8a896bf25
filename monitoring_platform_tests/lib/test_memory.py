"""Memory a step freed goes back to the operating system before the next big step."""

import subprocess
import sys

SCRIPT = """
from pathlib import Path

import numpy as np

from monitoring_platform.lib.memory import release_unused_memory


def rss_mb():
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024


keep, junk = [], []
for i in range(400_000):  # small buffers from the C heap, interleaved with a few that stay
    junk.append(np.ones(600, dtype=np.uint8))
    if i % 50 == 0:
        keep.append(np.ones(600, dtype=np.uint8))
del junk
freed = rss_mb()
release_unused_memory()
print(freed, rss_mb())
"""


def test_freed_heap_memory_is_returned():
    done = subprocess.run(
        [sys.executable, "-c", SCRIPT], capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    before, after = map(float, done.stdout.split())
    assert before - after > 100, (before, after)  # about 240 MB were free but still held


GROWTH = """
import gc

import numpy as np

from monitoring_platform.lib.memory import release_unused_memory

calls = []
gc.callbacks.append(lambda phase, info: calls.append(info["generation"]) if phase == "start" else None)
print(release_unused_memory())  # the first call collects
gc.disable()  # only the collections release_unused_memory asks for are counted
calls.clear()
print(release_unused_memory(), calls.count(2))  # nothing grew: no full collection
class Node:
    pass
big = []
for _ in range(3):  # 300 MB held by reference cycles: only a collection frees them
    a, b = Node(), Node()
    a.other, b.other, a.data = b, a, np.ones(100 * 2**20, dtype=np.uint8)
    big.append(a)
del big, a, b
print(release_unused_memory(), calls.count(2))
"""


def test_a_full_collection_runs_only_after_the_process_grew():
    done = subprocess.run(
        [sys.executable, "-c", GROWTH], capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    first, quiet, grown = done.stdout.split("\n")[:3]
    assert first == "True"
    assert quiet == "False 0"
    assert grown == "True 1"
