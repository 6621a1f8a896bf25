"""A process that loaded the platform exits without traversing its objects once more."""

import subprocess
import sys

SCRIPT = """
import atexit, gc
atexit.register(lambda: print("frozen at exit:", gc.get_freeze_count()))  # runs after ours
from monitoring_platform.lib.process_exit import skip_final_collection
skip_final_collection()
skip_final_collection()  # registered once
cycles = [[] for _ in range(1000)]
for c in cycles:
    c.append(c)
print("frozen before exit:", gc.get_freeze_count())
"""


def test_the_objects_alive_at_exit_are_frozen_before_shutdown_collects():
    out = subprocess.run(
        [sys.executable, "-c", SCRIPT], capture_output=True, text=True, check=True
    ).stdout.splitlines()
    assert out[0] == "frozen before exit: 0"
    assert out[1].startswith("frozen at exit: ")
    assert int(out[1].split(": ")[1]) > 1000
    assert len(out) == 2
