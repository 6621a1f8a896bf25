"""Peak memory of ingesting a decompression bomb: one line of up to 1 GiB in a ~1 MB gzip object.

Each case runs in its own process, which prints its peak RSS; the baseline is the same day with
an ordinary object of the same compressed size. The line is cut off while it streams (quarantined
with its size), so the peak should stay near the baseline whatever the line's length.

Usage: ``python benchmarks/bench_hostile_memory.py [--sizes-mb 256 1024]``
"""

from __future__ import annotations

import argparse
import gzip
import json
import resource
import subprocess
import sys
import tempfile
import time
import zlib
from pathlib import Path

DAY = "2026-11-20"
CONFIG = """
models:
  - name: shop
    task: binary_classification
    features:
      - {name: country, type: categorical}
      - {name: price, type: numerical}
"""


def record(i: int) -> str:
    return json.dumps(
        {
            "request_id": f"r{i}",
            "timestamp": f"{DAY}T10:00:00Z",
            "model_version": "v1",
            "features": {"country": "US", "price": i * 0.25},
            "prediction": 0.3,
            "latency_ms": 12.0,
            "status_code": 200,
        }
    )


def write_bomb(path: Path, line_mb: int) -> None:
    compressor = zlib.compressobj(9, zlib.DEFLATED, 31)
    with open(path, "wb") as out:
        out.write(compressor.compress((record(0) + "\n").encode()))
        out.write(compressor.compress(b'{"request_id": "'))
        piece = b"A" * (16 << 20)
        for _ in range(line_mb // 16):
            out.write(compressor.compress(piece))
        out.write(compressor.compress(b'"}\n' + (record(1) + "\n").encode()))
        out.write(compressor.flush())


def write_baseline(path: Path, target_bytes: int) -> None:
    lines: list[str] = []
    n = 0
    while True:
        lines.extend(record(i) for i in range(n, n + 20_000))
        n += 20_000
        data = gzip.compress(("\n".join(lines) + "\n").encode(), 6)
        if len(data) >= target_bytes:
            path.write_bytes(data)
            return


def child(root: str) -> None:
    from monitoring_platform.config import parse_config
    from monitoring_platform.lib.ingest import ingest_partition
    from monitoring_platform.lib.storage import LocalObjectStore

    model = parse_config(CONFIG).models[0]
    start = time.perf_counter()
    result = ingest_partition(LocalObjectStore(root), model, DAY, Path(root) / "out")
    seconds = time.perf_counter() - start
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps({"peak_mb": peak, "seconds": seconds, "reasons": result.reasons}))


def measure(root: Path) -> dict:
    out = subprocess.run(
        [sys.executable, __file__, "--child", str(root)], capture_output=True, text=True, check=True
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sizes-mb", type=int, nargs="+", default=[256, 1024])
    parser.add_argument("--child")
    args = parser.parse_args()
    if args.child:
        child(args.child)
        return
    with tempfile.TemporaryDirectory() as tmp:
        rows = []
        for size in args.sizes_mb:
            root = Path(tmp) / f"bomb{size}"
            folder = root / "shop" / f"dt={DAY}"
            folder.mkdir(parents=True)
            write_bomb(folder / "bomb.jsonl.gz", size)
            compressed = (folder / "bomb.jsonl.gz").stat().st_size
            base = Path(tmp) / f"base{size}"
            (base / "shop" / f"dt={DAY}").mkdir(parents=True)
            write_baseline(base / "shop" / f"dt={DAY}" / "day.jsonl.gz", compressed)
            baseline, bomb = measure(base), measure(root)
            rows.append((size, compressed, baseline, bomb))
        print(f"{'line':>8} {'object':>9} {'baseline peak':>14} {'bomb peak':>10} {'ratio':>6}")
        for size, compressed, baseline, bomb in rows:
            print(
                f"{size:>6}MB {compressed / 1e6:>7.2f}MB {baseline['peak_mb']:>12.0f}MB "
                f"{bomb['peak_mb']:>8.0f}MB {bomb['peak_mb'] / baseline['peak_mb']:>6.2f}"
                f"  ({bomb['seconds']:.1f} s; {bomb['reasons']})"
            )


if __name__ == "__main__":
    main()
