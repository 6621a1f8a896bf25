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
