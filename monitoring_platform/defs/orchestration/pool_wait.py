"""A step that waits for a pool slot sleeps until its next claim, instead of spinning on a core.

In Dagster 1.13, ``InstanceConcurrencyContext.interval_to_next_pending_claim_check`` returns
``min([0, *waits])``. That is never more than zero, so ``ActiveExecution.sleep_til_ready``
never sleeps. A run whose next step waits for a pool (``warehouse`` has one slot) then loops at
full speed on one core until its claim's timeout passes. The claim is only tried again when that
timeout passes (after 1 s at first, growing to 15 s), so the loop gains nothing. On two cores it
takes a core from the run that holds the slot: in the demo's two lanes it was about a quarter
of all the CPU time.

:func:`install` replaces that one method with one that returns the time left until the earliest
pending claim may be tried again. The claims, their timeouts and the order of steps stay
Dagster's. It installs only where Dagster's own method never waits (it probes it first), so a
Dagster that fixes this keeps its own.
"""

from __future__ import annotations

import time
from types import SimpleNamespace

from dagster._core.execution.plan.instance_concurrency_context import (
    InstanceConcurrencyContext,
)


def interval_to_next_pending_claim_check(self: InstanceConcurrencyContext) -> float:
    """Seconds until the earliest pending claim may be tried again (0 when one is due)."""
    pending = self._pending_claims
    if not pending:
        return 0.0
    now = time.time()
    waits = [self._pending_timeouts[key] - now for key in pending if key in self._pending_timeouts]
    return max(0.0, min(waits)) if waits else 0.0


def never_waits(method) -> bool:
    """Whether ``method`` answers no wait for a claim whose timeout is a minute away."""
    probe = SimpleNamespace(
        _pending_claims={"step"}, _pending_timeouts={"step": time.time() + 60.0}
    )
    return method(probe) <= 0


def install() -> bool:
    """Install the waiting method when Dagster's never waits; return whether it is installed."""
    current = InstanceConcurrencyContext.interval_to_next_pending_claim_check
    if current is interval_to_next_pending_claim_check:
        return True
    if not never_waits(current):
        return False
    InstanceConcurrencyContext.interval_to_next_pending_claim_check = (  # type: ignore[method-assign]
        interval_to_next_pending_claim_check
    )
    return True
