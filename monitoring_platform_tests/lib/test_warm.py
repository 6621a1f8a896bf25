"""Background imports: done once per process, failures left to the importing step."""

import subprocess
import sys

SCRIPT = """
import sys
from monitoring_platform.lib.warm import import_in_background

assert "colorsys" not in sys.modules
thread = import_in_background(("no_such_module_for_the_test", "colorsys"))
thread.join(timeout=60)
assert "colorsys" in sys.modules, "a failing module does not stop the others"
assert import_in_background(("colorsys",)) is None, "started once per process"
try:
    import no_such_module_for_the_test  # noqa: F401
except ModuleNotFoundError as exc:
    print("reported:", exc.name)
"""


def test_modules_import_on_a_thread_and_failures_reach_the_importing_step():
    done = subprocess.run(
        [sys.executable, "-c", SCRIPT], capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    assert "reported: no_such_module_for_the_test" in done.stdout
