"""Timing harness: one timed `for f, a in calls: f(*a)` batch for throughput, per-call samples for latency.

GC stays on; `gc.collect()` runs before every timed batch. Latencies are net of the timer's own overhead.
"""

from __future__ import annotations

import gc
import math
import os
import subprocess
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from time import perf_counter, perf_counter_ns
from typing import Any

from engine.bench.adapters import Call, make_adapter
from engine.bench.workloads import Book, Workload, trades_digest


@dataclass(frozen=True)
class RunResult:
    """One implementation × workload × run: elapsed time for the batch, latency percentiles, final state."""

    workload: str
    implementation: str
    ops: int
    elapsed_ns: int
    p50_ns: int
    p99_ns: int
    book: Book = field(default_factory=lambda: ([], []))
    trades_digest: str | None = None
    trades_count: int | None = None

    @property
    def ops_per_s(self) -> float:
        """Throughput of the timed batch."""
        return self.ops * 1e9 / self.elapsed_ns if self.elapsed_ns > 0 else math.inf

    def to_json(self) -> dict[str, Any]:
        """JSON-safe dict (the worker's wire format)."""
        return {"workload": self.workload, "implementation": self.implementation, "ops": self.ops,
                "elapsed_ns": self.elapsed_ns, "p50_ns": self.p50_ns, "p99_ns": self.p99_ns,
                "book": [[list(lv) for lv in self.book[0]], [list(lv) for lv in self.book[1]]],
                "trades_digest": self.trades_digest, "trades_count": self.trades_count}

    @classmethod
    def from_json(cls, d: Mapping[str, Any]) -> RunResult:
        """Inverse of `to_json`."""
        bids, asks = d["book"]
        return cls(d["workload"], d["implementation"], int(d["ops"]), int(d["elapsed_ns"]), int(d["p50_ns"]),
                   int(d["p99_ns"]), ([tuple(lv) for lv in bids], [tuple(lv) for lv in asks]),
                   d.get("trades_digest"), d.get("trades_count"))


def time_batch(calls: Sequence[Call]) -> int:
    """Nanoseconds for one pass of `for f, a in calls: f(*a)` (after a gc.collect())."""
    gc.collect()
    t0 = perf_counter_ns()
    for f, a in calls:
        f(*a)
    return perf_counter_ns() - t0


def timer_overhead_ns(samples: int = 20_000) -> int:
    """Median cost of an empty timed region in the latency sampler's loop shape."""
    pc = perf_counter_ns
    out: list[int] = []
    append = out.append
    for _ in range(samples):
        t0 = pc()
        append(pc() - t0)
    out.sort()
    return out[len(out) // 2]


def latency_sample(calls: Sequence[Call], overhead_ns: int) -> list[int]:
    """Per-call nanoseconds, net of `overhead_ns` and clamped at 0, sorted ascending."""
    pc = perf_counter_ns
    out: list[int] = []
    append = out.append
    gc.collect()
    for f, a in calls:
        t0 = pc()
        f(*a)
        append(pc() - t0)
    return sorted(max(0, x - overhead_ns) for x in out)


def percentile(sorted_values: Sequence[int], q: float) -> int:
    """Nearest-rank percentile (q in [0, 1]) of an ascending sequence; 0 when empty."""
    if not sorted_values:
        return 0
    rank = max(1, math.ceil(q * len(sorted_values)))
    return sorted_values[min(rank, len(sorted_values)) - 1]


def run_workload(implementation: str, workload: Workload, overhead_ns: int | None = None) -> RunResult:
    """Throughput batch then latency sample (a fresh book for each when the workload mutates state)."""
    if overhead_ns is None:
        overhead_ns = timer_overhead_ns()
    adapter = make_adapter(implementation)
    adapter.run(workload.setup)
    calls = adapter.calls(workload.ops)
    elapsed = time_batch(calls)
    book = adapter.book()
    trades = adapter.trades()
    if workload.mutates:
        del calls, adapter
        adapter = make_adapter(implementation)
        adapter.run(workload.setup)
        calls = adapter.calls(workload.ops)
    lat = latency_sample(calls, overhead_ns)
    del calls, adapter
    gc.collect()
    return RunResult(workload.name, implementation, len(workload.ops), elapsed,
                     percentile(lat, 0.50), percentile(lat, 0.99), book,
                     None if trades is None else trades_digest(trades),
                     None if trades is None else len(trades))


def time_command(argv: Sequence[str], repeat: int = 5, timeout_s: float = 60.0,
                 env: Mapping[str, str] | None = None) -> list[float]:
    """Wall seconds of `repeat` runs of a command (stdout/stderr discarded); CalledProcessError on failure."""
    full_env = {**os.environ, **(env or {})}
    times: list[float] = []
    for _ in range(repeat):
        t0 = perf_counter()
        subprocess.run(list(argv), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=full_env,
                       timeout=timeout_s, check=True)
        times.append(perf_counter() - t0)
    return times
