"""A load generator for the example service: paced predictions, then feedback for some.

    python -m examples.load --url http://127.0.0.1:8080 --seconds 30 --rate 50

Each worker keeps its own connection and sends at ``rate / workers`` calls a second; after a
successful prediction it reports a click with the predicted probability (and, for some clicks,
a conversion with revenue) through ``/feedback``. Only loopback addresses are targeted by the
demo and the benchmark.
"""

from __future__ import annotations

import argparse
import random
import threading
import time
from collections import Counter
from dataclasses import dataclass, field

import httpx

from examples.service import draw_features


@dataclass
class LoadResult:
    """What the load generator sent and saw."""

    seconds: float = 0.0
    statuses: Counter = field(default_factory=Counter)
    latencies_ms: list[float] = field(default_factory=list)
    feedback: int = 0
    transport_errors: int = 0

    @property
    def requests(self) -> int:
        return sum(self.statuses.values())


def run_load(
    url: str,
    seconds: float,
    rate: float,
    *,
    workers: int = 4,
    feedback: bool = True,
    seed: int = 1,
) -> LoadResult:
    """Send predictions to ``url`` for ``seconds`` at about ``rate`` calls a second."""
    result = LoadResult()
    lock = threading.Lock()
    stop_at = time.monotonic() + seconds
    interval = workers / rate

    def worker(n: int) -> None:
        rng = random.Random(seed * 1000 + n)
        statuses: Counter = Counter()
        latencies: list[float] = []
        sent_feedback = errors = 0
        with httpx.Client(base_url=url, timeout=30) as http:
            next_at = time.monotonic() + rng.random() * interval
            while next_at < stop_at:
                pause = next_at - time.monotonic()
                if pause > 0:
                    time.sleep(pause)
                next_at += interval
                began = time.perf_counter()
                try:
                    response = http.post("/predict", json={"features": draw_features(rng)})
                except httpx.TransportError:
                    errors += 1
                    continue
                latencies.append((time.perf_counter() - began) * 1000.0)
                statuses[response.status_code] += 1
                if feedback and response.status_code == 200:
                    clicked = rng.random() < response.json()["prediction"]
                    revenue = (
                        round(rng.lognormvariate(3, 0.7), 2)
                        if clicked and rng.random() < 0.2
                        else None
                    )
                    body = {
                        "request_id": response.headers["x-request-id"],
                        "clicked": clicked,
                        "revenue": revenue,
                    }
                    http.post("/feedback", json=body)
                    sent_feedback += 1
        with lock:
            result.statuses.update(statuses)
            result.latencies_ms.extend(latencies)
            result.feedback += sent_feedback
            result.transport_errors += errors

    began = time.monotonic()
    threads = [threading.Thread(target=worker, args=(n,)) for n in range(workers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    result.seconds = time.monotonic() - began
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--url", default="http://127.0.0.1:8080")
    parser.add_argument("--seconds", type=float, default=30)
    parser.add_argument("--rate", type=float, default=50, help="calls a second")
    parser.add_argument("--workers", type=int, default=4)
    args = parser.parse_args()
    result = run_load(args.url, args.seconds, args.rate, workers=args.workers)
    print(f"{result.requests} calls in {result.seconds:.1f} s: {dict(result.statuses)}")


if __name__ == "__main__":
    main()
