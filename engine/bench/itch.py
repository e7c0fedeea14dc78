"""ITCH 5.0 throughput benchmark: bulk decode (numpy) and streaming replay through the books, on a synthetic session.

`run_itch_bench()` returns the measurements (best of `repeat`); `python -m engine.bench.itch` writes them as JSON.
"""

from __future__ import annotations

import gc
import json
import os
import sys
import tempfile
import time
from typing import Any

from engine.lob.itch import bulk_decode, replay_itch, synthesize

SYMBOLS = ("AAPL", "MSFT", "NVDA", "AMZN", "GOOG", "META", "TSLA", "INTC")
TARGET_BULK = 5_000_000
TARGET_REPLAY = 500_000


def run_itch_bench(n_orders: int = 1_000_000, repeat: int = 3, seed: int = 7) -> dict[str, Any]:
    """Generate `n_orders` order events (plus directory/admin messages), write them to a temporary file, time both."""
    data = synthesize(n_orders, symbols=SYMBOLS, seed=seed)
    fd, path = tempfile.mkstemp(suffix=".itch")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        bulk_s, replay_s = [], []
        messages = 0
        inv: dict[str, Any] = {}
        for _ in range(repeat):
            # The previous run's arrays and books are freed (and collected) before the clock starts, not inside
            # the next timed call where rebinding the name would free them.
            gc.collect()
            t0 = time.perf_counter()
            res = bulk_decode(path)
            bulk_s.append(time.perf_counter() - t0)
            messages = res.messages
            del res
            gc.collect()
            t0 = time.perf_counter()
            rep = replay_itch(path)
            replay_s.append(time.perf_counter() - t0)
            inv = rep.summary()["invariants"]
            del rep
    finally:
        os.unlink(path)
    best_bulk, best_replay = min(bulk_s), min(replay_s)
    return {
        "messages": messages,
        "bytes": len(data),
        "repeat": repeat,
        "bulk_decode_msgs_per_s": round(messages / best_bulk),
        "bulk_decode_median_msgs_per_s": round(messages / sorted(bulk_s)[len(bulk_s) // 2]),
        "replay_msgs_per_s": round(messages / best_replay),
        "replay_median_msgs_per_s": round(messages / sorted(replay_s)[len(replay_s) // 2]),
        "targets": {"bulk_decode": TARGET_BULK, "replay": TARGET_REPLAY},
        "invariants": inv,
    }


if __name__ == "__main__":
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 1_000_000
    sys.stdout.write(json.dumps(run_itch_bench(n), indent=2) + "\n")
