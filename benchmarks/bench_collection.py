"""The collection client under load: latency overhead, completeness, a stalled S3, ``kill -9``.

1. Overhead, end to end: the example service (``examples/service.py``) in its own uvicorn
   process, with and without the middleware, under the same paced load from this process,
   alternating rounds; p50/p99 client-side latency side by side.
2. Overhead, in process: the middleware around a bare ASGI app against the bare app, the same
   request many times; p50/p99 per call, free of network and scheduler noise.
3. Completeness: after each graceful shutdown (SIGTERM), records written = responses received.
4. A stalled S3 (a TCP server that accepts and never answers): calls are still served, the
   writer's memory stays bounded while records are dropped and counted.
5. ``kill -9`` of the service mid-load: what it loses, against the writer's batch age.

Usage: ``python benchmarks/bench_collection.py [--seconds 12] [--rate 60] [--rounds 2]``
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import gzip
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx
import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from examples.load import run_load  # noqa: E402
from examples.service import draw_features  # noqa: E402
from monitoring_platform.client import CollectionMiddleware, Collector  # noqa: E402


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def rss_mb() -> float:
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def count_records(root: Path) -> int:
    return sum(
        gzip.decompress(p.read_bytes()).count(b"\n") for p in (root / "logs").rglob("*.jsonl.gz")
    )


class Service:
    """The example service in a uvicorn process of its own."""

    def __init__(self, raw: Path | str, *, collect: bool, batch_seconds: float = 10, env=None):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        environment = {
            **os.environ,
            "MONITORING_RAW": str(raw),
            "EXAMPLE_COLLECT": "1" if collect else "0",
            "EXAMPLE_BATCH_SECONDS": str(batch_seconds),
            **(env or {}),
        }
        self.process = subprocess.Popen(
            [sys.executable, "-m", "uvicorn", "examples.service:app", "--host", "127.0.0.1"]
            + ["--port", str(self.port), "--log-level", "warning"],
            cwd=REPO,
            env=environment,
        )
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"{self.url}/health", timeout=2).json().get("ok"):
                    return
            except httpx.HTTPError:
                time.sleep(0.3)
        raise RuntimeError("the example service did not start")

    def stop(self) -> None:
        self.process.send_signal(signal.SIGTERM)
        self.process.wait(60)

    def kill(self) -> None:
        self.process.kill()
        self.process.wait(60)


def pct(values, q) -> float:
    return float(np.percentile(np.asarray(values), q)) if len(values) else float("nan")


def end_to_end(seconds: float, rate: float, rounds: int) -> None:
    print(f"\n1. End to end: example service, {rate:.0f} calls/s for {seconds:.0f} s a round")
    latencies: dict[bool, list[float]] = {False: [], True: []}
    for n in range(rounds):
        for collect in (False, True):
            with tempfile.TemporaryDirectory(prefix="bench-collect-") as tmp:
                service = Service(Path(tmp), collect=collect)
                warm = run_load(service.url, 2, rate, feedback=False, seed=99)  # not measured
                result = run_load(service.url, seconds, rate, feedback=False, seed=n + 1)
                service.stop()  # SIGTERM: graceful, the lifespan flushes the writer
                latencies[collect] += result.latencies_ms
                if collect:
                    answered = warm.requests + result.requests
                    records = count_records(Path(tmp))
                    same = "equal" if records == answered else "DIFFERENT"
                    print(
                        f"   round {n + 1}: {answered} calls answered, {records} records written "
                        f"after the graceful shutdown ({same})"
                    )
    base, mid = latencies[False], latencies[True]
    print(f"   {'':22}{'p50 ms':>9}{'p90 ms':>9}{'p99 ms':>9}{'calls':>8}")
    for name, values in (("without middleware", base), ("with middleware", mid)):
        print(
            f"   {name:<22}{pct(values, 50):9.2f}{pct(values, 90):9.2f}{pct(values, 99):9.2f}"
            f"{len(values):8d}"
        )
    print(
        f"   overhead              {pct(mid, 50) - pct(base, 50):9.2f}{pct(mid, 90) - pct(base, 90):9.2f}"
        f"{pct(mid, 99) - pct(base, 99):9.2f}"
    )


def bare_app_body() -> bytes:
    return json.dumps({"features": draw_features(__import__("random").Random(5))}).encode()


async def _bare_app(scope, receive, send) -> None:
    await receive()
    await send(
        {
            "type": "http.response.start",
            "status": 200,
            "headers": [(b"content-type", b"application/json")],
        }
    )
    await send({"type": "http.response.body", "body": b'{"prediction": 0.4242}'})


def in_process(calls: int, rate: float = 1000) -> None:
    print(
        f"\n2. In process: {calls:,} calls of a bare ASGI app at {rate:.0f} calls/s, "
        "with and without the middleware"
    )
    pause = 1 / rate
    body = bare_app_body()
    scope = {
        "type": "http",
        "method": "POST",
        "path": "/predict",
        "headers": [(b"content-type", b"application/json")],
    }

    async def receive():
        return {"type": "http.request", "body": body, "more_body": False}

    async def send(message):
        pass

    with tempfile.TemporaryDirectory(prefix="bench-collect-") as tmp:
        collector = Collector(tmp, spill_dir=Path(tmp) / "spill", max_batch_age=1.0)
        wrapped = CollectionMiddleware(
            _bare_app, collector=collector, model="ctr_ranker", model_version="b"
        )

        async def measure(app, wall: list[float], cpu: list[float]) -> None:
            for _ in range(calls):
                began, began_cpu = time.perf_counter_ns(), time.thread_time_ns()
                await app(scope, receive, send)
                cpu.append((time.thread_time_ns() - began_cpu) / 1e3)
                wall.append((time.perf_counter_ns() - began) / 1e3)
                await asyncio.sleep(pause)  # paced, as calls arrive in a service

        async def both():
            times = {name: ([], []) for name in ("bare", "wrapped")}
            for _ in range(4):  # alternate, so both see the same machine
                await measure(_bare_app, *times["bare"])
                await measure(wrapped, *times["wrapped"])
            return times

        gc.collect()
        times = asyncio.run(both())
        collector.close(30)
        written = count_records(Path(tmp))
    print(f"   {'':22}{'p50 us':>9}{'p99 us':>9}{'p99.9 us':>10}   CPU of the calling thread:")
    for name in ("bare", "wrapped"):
        wall, cpu = times[name]
        print(
            f"   {name:<22}{pct(wall, 50):9.1f}{pct(wall, 99):9.1f}{pct(wall, 99.9):10.1f}"
            f"   {pct(cpu, 50):9.1f}{pct(cpu, 99):9.1f}{pct(cpu, 99.9):10.1f}"
        )
    (bw, bc), (ww, wc) = times["bare"], times["wrapped"]
    print(
        f"   overhead per call     {pct(ww, 50) - pct(bw, 50):9.1f}{pct(ww, 99) - pct(bw, 99):9.1f}"
        f"{pct(ww, 99.9) - pct(bw, 99.9):10.1f}"
        f"   {pct(wc, 50) - pct(bc, 50):9.1f}{pct(wc, 99) - pct(bc, 99):9.1f}"
        f"{pct(wc, 99.9) - pct(bc, 99.9):10.1f}"
    )
    w = ww
    print(f"   records written after close: {written:,} of {len(w):,} calls")


class StalledServer:
    """Accepts TCP connections and never answers."""

    def __init__(self):
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(128)
        self.url = f"http://127.0.0.1:{self.sock.getsockname()[1]}"
        self.held: list[socket.socket] = []
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                self.held.append(self.sock.accept()[0])
            except OSError:
                return

    def close(self) -> None:
        self.sock.close()
        for conn in self.held:
            conn.close()


def stalled_s3(seconds: float, rate: float, flood: int) -> None:
    print(
        f"\n4. Stalled S3: uploads hang; the service (queue of 200) takes {seconds:.0f} s of calls "
        f"at {rate:.0f}/s, then a writer in this process is flooded"
    )
    server = StalledServer()
    env = {
        "MONITORING_S3_ENDPOINT_URL": server.url,
        "AWS_ACCESS_KEY_ID": "bench",
        "AWS_SECRET_ACCESS_KEY": "bench",
        "AWS_DEFAULT_REGION": "us-east-1",
    }
    service_env = {**env, "EXAMPLE_MAX_QUEUE": "200"}
    with tempfile.TemporaryDirectory(prefix="bench-collect-") as tmp:
        service = Service("s3://stalled/raw", collect=True, batch_seconds=1, env=service_env)
        result = run_load(service.url, seconds, rate, feedback=False)
        metrics = httpx.get(f"{service.url}/metrics", timeout=10).text
        service.kill()
        print(f"   service: {result.requests} calls answered {dict(result.statuses)}")
        wanted = (
            "collector_upload_failures_total",
            "collector_queue_records",
            'collector_records_dropped_total{reason="queue full"}',
            "model_requests_total",
        )
        for line in metrics.splitlines():
            if line.startswith(wanted):
                print(f"   service metric: {line}")

        # The same writer in this process, flooded far past its queue, to watch its memory.
        os.environ.update(env)
        collector = Collector(
            "s3://stalled/raw", model="ctr_ranker", metrics=False, spill_dir=Path(tmp) / "spill"
        )
        features = draw_features(__import__("random").Random(1))
        samples = []
        durations = np.empty(flood)  # allocated up front: not part of the growth measured
        before = rss_mb()
        for n in range(flood):
            began = time.perf_counter()
            collector.log_call(features=dict(features), prediction=0.5, latency_ms=3.0)
            durations[n] = (time.perf_counter() - began) * 1e6
            if n % (flood // 10) == 0:
                samples.append(rss_mb())
        samples.append(rss_mb())
        stats = collector.writer.stats
        print(
            f"   writer flooded with {flood:,} records: accepted {stats.accepted:,}, "
            f"queued {collector.writer.queued():,} (max {collector.writer.max_queue:,}), "
            f"dropped {stats.dropped_total:,}"
        )
        print(
            f"   RSS before {before:.0f} MB, at each tenth "
            + " ".join(f"{s:.0f}" for s in samples)
            + " MB"
        )
        print(
            f"   log_call while stalled: p50 {pct(durations, 50):.0f} us, "
            f"p99 {pct(durations, 99):.0f} us, p99.9 {pct(durations, 99.9):.0f} us"
        )
        collector.close(timeout=1)
    server.close()


def kill_nine(seconds: float, rate: float, batch_seconds: float) -> None:
    print(
        f"\n5. kill -9 after {seconds:.0f} s at {rate:.0f} calls/s, batch age {batch_seconds:.0f} s"
    )
    with tempfile.TemporaryDirectory(prefix="bench-collect-") as tmp:
        service = Service(Path(tmp), collect=True, batch_seconds=batch_seconds)
        result = run_load(service.url, seconds, rate, feedback=False)
        service.kill()
        records = count_records(Path(tmp))
        lost = result.requests - records
        print(
            f"   {result.requests} calls answered, {records} records in storage, {lost} lost "
            f"({lost / rate:.1f} s of traffic; the batch age bounds it at {batch_seconds:.0f} s)"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=12)
    parser.add_argument("--rate", type=float, default=60)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--calls", type=int, default=5000)
    parser.add_argument("--flood", type=int, default=200_000)
    args = parser.parse_args()
    began = time.monotonic()
    print(f"cores: {os.cpu_count()}, load average: {os.getloadavg()[0]:.1f}")
    end_to_end(args.seconds, args.rate, args.rounds)
    in_process(args.calls)
    stalled_s3(args.seconds, args.rate, args.flood)
    kill_nine(args.seconds, args.rate, 3)
    print(f"\ndone in {time.monotonic() - began:.0f} s")


if __name__ == "__main__":
    main()
