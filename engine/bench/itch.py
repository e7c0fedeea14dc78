"""ITCH 5.0 throughput benchmark: bulk decode (numpy) and streaming replay through Exchange and ItchBook books.

`run_itch_samples()` gives the `nanobook bench` rows (itch_decode, itch_replay); `run_itch_bench()` the JSON of
`python -m engine.bench.itch N`. Synthetic session, timed in this process. Returns data only.
"""

from __future__ import annotations

import gc
import json
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any, Final

from engine.bench.pipeline import PipelineSample
from engine.lob.itch import bulk_decode, replay_itch, synthesize

__all__ = [
    "ITCH_DECODE",
    "ITCH_REPLAY",
    "ITCH_SIZES",
    "ITCH_WORKLOADS",
    "itch_orders",
    "run_itch_bench",
    "run_itch_samples",
]

SYMBOLS: Final = ("AAPL", "MSFT", "NVDA", "AMZN", "GOOG", "META", "TSLA", "INTC")
ITCH_SEED: Final = 7  # the session `python -m engine.bench.itch` has always used
ITCH_DECODE: Final = "itch_decode"
ITCH_REPLAY: Final = "itch_replay"
ITCH_WORKLOADS: Final = (ITCH_DECODE, ITCH_REPLAY)
ITCH_SIZES: Final[dict[bool, int]] = {False: 1_000_000, True: 20_000}  # order events, by --quick
BULK, EXCHANGE, ITCH = "bulk", "exchange", "itch"
VARIANTS: Final[dict[str, tuple[str, ...]]] = {ITCH_DECODE: (BULK,), ITCH_REPLAY: (EXCHANGE, ITCH)}
TARGET_BULK: Final = 5_000_000
TARGET_REPLAY: Final = 500_000
# Summary keys that must be equal between the two replay variants (elapsed time and latencies may differ).
_COMPARED: Final = ("messages", "counts", "books", "symbols", "open_orders", "operations", "invariants",
                    "first_timestamp", "last_timestamp")
WHAT: Final[dict[str, str]] = {
    BULK: "engine.lob.itch.bulk_decode(path): frame index, counts, A F E C X D U P numpy arrays",
    EXCHANGE: "engine.lob.itch.replay_itch(path) (default books='exchange': one engine.lob.Exchange per symbol)",
    ITCH: "engine.lob.itch.replay_itch(path, books='itch') (the leaner per-symbol ItchBook)",
}
Progress = Callable[[str], None]


def itch_orders(quick: bool = False) -> int:
    """Order events in the synthetic session of a run."""
    return ITCH_SIZES[quick]


@contextmanager
def _session_file(n_orders: int, seed: int) -> Iterator[tuple[str, int]]:
    """The synthetic session written to a temporary file (path, bytes); removed afterwards."""
    data = synthesize(n_orders, symbols=SYMBOLS, seed=seed)
    fd, path = tempfile.mkstemp(suffix=".itch")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        yield path, len(data)
    finally:
        os.unlink(path)


def _timed(fn: Callable[[], Any]) -> tuple[float, Any]:
    """Seconds of one call and its output, timed after a gc.collect().

    The caller drops the previous output first, so freeing it is not inside the timed call.
    """
    gc.collect()
    t0 = time.perf_counter()
    out = fn()
    return time.perf_counter() - t0, out


def _replay_view(summary: dict[str, Any]) -> dict[str, Any]:
    return {k: summary.get(k) for k in _COMPARED}


def _measure(path: str, variants: Sequence[str], repeat: int, progress: Progress | None
             ) -> tuple[dict[str, list[float]], dict[str, dict[str, Any]], dict[str, str]]:
    """`repeat` interleaved rounds over `variants`: seconds per run, the last run's facts, errors by variant."""
    calls: dict[str, Callable[[], Any]] = {BULK: lambda: bulk_decode(path),
                                           EXCHANGE: lambda: replay_itch(path, books=EXCHANGE),
                                           ITCH: lambda: replay_itch(path, books=ITCH)}
    seconds: dict[str, list[float]] = {v: [] for v in variants}
    facts: dict[str, dict[str, Any]] = {}
    errors: dict[str, str] = {}
    for rep in range(repeat):
        for variant in variants:
            if variant in errors:
                continue
            if progress:
                progress(f"itch {variant} run {rep + 1}/{repeat}")
            try:
                took, out = _timed(calls[variant])
            except Exception as exc:  # one failing variant must not hide the others' rows
                errors[variant] = f"{type(exc).__name__}: {exc}"
                continue
            seconds[variant].append(took)
            if variant == BULK:
                facts[variant] = {"messages": out.messages, "counts": dict(out.counts)}
            else:
                facts[variant] = _replay_view(out.summary())
            del out
    return seconds, facts, errors


def _rates(messages: int, seconds: list[float]) -> dict[str, Any]:
    """Best and median msg/s (the median as the row's rate: messages / median seconds) and the raw samples."""
    if not seconds:
        return {"best_msgs_per_s": None, "median_msgs_per_s": None, "samples": []}
    return {"best_msgs_per_s": round(messages / min(seconds)),
            "median_msgs_per_s": round(messages / statistics.median(seconds)),
            "samples": [round(s, 6) for s in seconds]}


def _agreement(variant: str, facts: dict[str, dict[str, Any]]) -> tuple[bool | None, list[str]]:
    """Whether a row's result checks out, and against what.

    Replay variants: same books, counts and counters as each other and no invariant violation. Bulk: the same
    message counts by type as the replay.
    """
    replay = facts.get(EXCHANGE) or facts.get(ITCH)
    mine = facts.get(variant)
    if mine is None:
        return None, []
    if variant == BULK:
        if replay is None:
            return None, []
        return (mine["messages"] == replay["messages"] and mine["counts"] == replay["counts"],
                ["message counts by type equal the replay's"])
    clean = not any(mine["invariants"].values())
    other = facts.get(ITCH if variant == EXCHANGE else EXCHANGE)
    if other is None:
        return clean, ["invariant counters 0"]
    return clean and mine == other, ["books, counts and counters equal across exchange/itch", "invariant counters 0"]


def run_itch_samples(*, repeat: int = 3, quick: bool = False, seed: int = ITCH_SEED,
                     workloads: Sequence[str] = ITCH_WORKLOADS, progress: Progress | None = None
                     ) -> list[PipelineSample]:
    """One row per (workload, variant): itch_decode/bulk, itch_replay/exchange, itch_replay/itch.

    `size` is the session's message count, `seconds` one entry per run (rate = messages / seconds); details carry
    messages, bytes, best and median msg/s, samples and the invariant counters.
    """
    return _run(itch_orders(quick), repeat, seed, workloads, quick, progress)


def _run(n_orders: int, repeat: int, seed: int, workloads: Sequence[str], quick: bool, progress: Progress | None
         ) -> list[PipelineSample]:
    if repeat < 1:
        raise ValueError(f"repeat must be >= 1, got {repeat}")
    chosen = [w for w in ITCH_WORKLOADS if w in workloads]
    timed = [v for w in chosen for v in VARIANTS[w]]
    if progress:
        progress(f"itch: synthesizing {n_orders:,} order events")
    with _session_file(n_orders, seed) as (path, n_bytes):
        seconds, facts, errors = _measure(path, timed, repeat, progress)
        if ITCH_REPLAY not in chosen and chosen:
            # One untimed replay, so the bulk row's message counts are still checked against something.
            facts.update(_measure(path, [ITCH], 1, progress)[1])
    return [_sample(w, v, seconds[v], facts, errors.get(v), n_orders, n_bytes, quick)
            for w in chosen for v in VARIANTS[w]]


def _sample(workload: str, variant: str, seconds: list[float], facts: dict[str, dict[str, Any]], error: str | None,
            n_orders: int, n_bytes: int, quick: bool) -> PipelineSample:
    messages = int(next((f["messages"] for f in facts.values()), 0))
    sample = PipelineSample(workload, variant, messages, list(seconds), error=error)
    sample.agree, sample.agree_with = _agreement(variant, facts)
    replay = facts.get(variant) if variant != BULK else (facts.get(EXCHANGE) or facts.get(ITCH))
    sample.details.update(implementation=variant, messages=messages, bytes=n_bytes, order_events=n_orders,
                          symbols=len(SYMBOLS), quick=quick, **_rates(messages, seconds),
                          invariants=replay["invariants"] if replay else None, what=WHAT[variant])
    target = TARGET_BULK if variant == BULK else (TARGET_REPLAY if variant == EXCHANGE else None)
    if target is not None:
        sample.details["target_msgs_per_s"] = target
    return sample


def run_itch_bench(n_orders: int = 1_000_000, repeat: int = 3, seed: int = ITCH_SEED) -> dict[str, Any]:
    """The `python -m engine.bench.itch` JSON: bulk decode and both replay variants, best and median of `repeat`."""
    rows = {r.variant: r for r in _run(n_orders, repeat, seed, ITCH_WORKLOADS, False, None)}
    bulk, exchange, itch = rows[BULK], rows[EXCHANGE], rows[ITCH]
    return {
        "messages": bulk.size,
        "bytes": bulk.details["bytes"],
        "repeat": repeat,
        "bulk_decode_msgs_per_s": bulk.details["best_msgs_per_s"],
        "bulk_decode_median_msgs_per_s": bulk.details["median_msgs_per_s"],
        # The default replay path (books="exchange"), under the names it had before the variants were added.
        "replay_msgs_per_s": exchange.details["best_msgs_per_s"],
        "replay_median_msgs_per_s": exchange.details["median_msgs_per_s"],
        "replay_exchange_msgs_per_s": exchange.details["best_msgs_per_s"],
        "replay_exchange_median_msgs_per_s": exchange.details["median_msgs_per_s"],
        "replay_itch_msgs_per_s": itch.details["best_msgs_per_s"],
        "replay_itch_median_msgs_per_s": itch.details["median_msgs_per_s"],
        "replay_variants_agree": exchange.agree is True and itch.agree is True,
        "bulk_counts_agree": bulk.agree is True,
        "targets": {"bulk_decode": TARGET_BULK, "replay": TARGET_REPLAY},
        "invariants": exchange.details["invariants"],
        "errors": {v: r.error for v, r in rows.items() if r.error},
    }


if __name__ == "__main__":
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 1_000_000
    sys.stdout.write(json.dumps(run_itch_bench(n), indent=2) + "\n")
