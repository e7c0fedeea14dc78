"""Stream an ITCH 5.0 file through the book reconstruction: counts by type, books at the end, optional latencies.

Fast path: whole blocks go to the C loop of `_itchaccel` when built, else are bulk-decoded with numpy and applied
in Python. Timed path (`timed=True`): every message is parsed and applied one at a time (Python) and each stage's
latency is recorded (ns). All give identical books.
"""

from __future__ import annotations

import struct
import time
from array import array
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

from engine.lob.itch.book import Counters, ItchBook, Reconstructor, level_rows
from engine.lob.itch.exchange_books import ExchangeReconstructor
from engine.lob.itch.reader import Block, Progress, Source, iter_blocks

__all__ = ["BOOK_KINDS", "ItchReplayResult", "latency_summary", "replay_itch"]

BOOK_KINDS = ("exchange", "itch")  # one engine.lob.Exchange per symbol (default), or the leaner per-symbol ItchBook

_BOOK_TYPES = np.array([ord(c) for c in "AFECXDUPR"], dtype=np.uint8)
# Byte offsets inside a message (type byte at 0) per type; unused fields point at the order ref (in bounds).
_SHARES_AT = np.full(256, 11, dtype=np.int64)
_PRICE_AT = np.full(256, 11, dtype=np.int64)
_SIDE_AT = np.full(256, 11, dtype=np.int64)
_NEWREF_AT = np.full(256, 11, dtype=np.int64)
for _c in "AFP":
    _SHARES_AT[ord(_c)], _PRICE_AT[ord(_c)], _SIDE_AT[ord(_c)] = 20, 32, 19
for _c in "ECX":
    _SHARES_AT[ord(_c)] = 19
_PRICE_AT[ord("C")] = 32
_SHARES_AT[ord("U")], _PRICE_AT[ord("U")], _NEWREF_AT[ord("U")] = 27, 31, 19


def _be(arr: npt.NDArray[np.uint8], at: npt.NDArray[np.int64], width: int) -> list[int]:
    """Big-endian unsigned integers of `width` bytes (2, 4, 8) at byte positions `at`."""
    if len(arr) < width:
        return [0] * len(at)
    every = np.ndarray((len(arr) - width + 1,), dtype=f">u{width}", buffer=arr, strides=(1,))
    return every[at].tolist()  # type: ignore[no-any-return]


def _columns(block: Block, recon: Reconstructor | ExchangeReconstructor) -> tuple[list[Any], ...]:
    """(type, locate, timestamp, ref, side, shares, price, new_ref, position) columns of the book messages."""
    arr = np.frombuffer(block.buf, dtype=np.uint8)
    sel = np.flatnonzero(np.isin(block.types, _BOOK_TYPES))
    p = block.offsets[sel] + 2
    t = block.types[sel]
    if len(arr) >= 8:  # timestamp: the 8 bytes from the tracking number on, low 48 bits
        every = np.ndarray((len(arr) - 7,), dtype=">u8", buffer=arr, strides=(1,))
        ts_arr = (every[p + 3] & np.uint64(0xFFFF_FFFF_FFFF)).astype(np.uint64)
        loc2 = np.ndarray((len(arr) - 1,), dtype=">u2", buffer=arr, strides=(1,))[p + 1].astype(np.uint64)
    else:
        ts_arr = loc2 = np.zeros(len(p), dtype=np.uint64)
    recon.check_timestamps(loc2, ts_arr)
    ts = [0] * len(p)  # checked above, not needed in the loop
    return (t.tolist(), loc2.tolist(), ts, _be(arr, p + 11, 8), arr[p + _SIDE_AT[t]].tolist(),
            _be(arr, p + _SHARES_AT[t], 4), _be(arr, p + _PRICE_AT[t], 4), _be(arr, p + _NEWREF_AT[t], 8),
            p.tolist())


_S_ADD = struct.Struct(">HHHIQcI8sI")
_S_EXEC = struct.Struct(">HHHIQI")
_S_REF = struct.Struct(">HHHIQ")
_S_EXPX = struct.Struct(">HHHIQIQcI")
_S_REPL = struct.Struct(">HHHIQQII")


def _parse_one(buf: Any, pos: int) -> tuple[int, int, int, int, int, int, int, int, int] | None:
    """The timed path's parse stage: one frame → the same tuple `_columns` produces (None: not a book message)."""
    m = pos + 2
    t = buf[m]
    if t in (65, 70, 80):
        loc, _, hi, lo, ref, side, shares, _stock, price = _S_ADD.unpack_from(buf, m + 1)
        return t, loc, hi << 32 | lo, ref, side[0], shares, price, 0, m
    if t in (69, 88):
        loc, _, hi, lo, ref, shares = _S_EXEC.unpack_from(buf, m + 1)
        return t, loc, hi << 32 | lo, ref, 0, shares, 0, 0, m
    if t == 67:
        loc, _, hi, lo, ref, shares, _match, _pr, price = _S_EXPX.unpack_from(buf, m + 1)
        return t, loc, hi << 32 | lo, ref, 0, shares, price, 0, m
    if t in (68, 82):
        loc, _, hi, lo, ref = _S_REF.unpack_from(buf, m + 1)
        return t, loc, hi << 32 | lo, ref, 0, 0, 0, 0, m
    if t == 85:
        loc, _, hi, lo, ref, new_ref, shares, price = _S_REPL.unpack_from(buf, m + 1)
        return t, loc, hi << 32 | lo, ref, 0, shares, price, new_ref, m
    return None


def latency_summary(samples: array[int]) -> dict[str, Any]:
    """p50/p95/p99/max (ns) and a log2 histogram ({"le_ns": upper bound, "count"}) of latency samples."""
    if not samples:
        return {"samples": 0, "p50_ns": None, "p95_ns": None, "p99_ns": None, "max_ns": None, "histogram": []}
    a = np.frombuffer(samples, dtype=np.int64)
    p50, p95, p99 = (int(x) for x in np.percentile(a, [50, 95, 99], method="lower"))
    top = max(1, int(a.max()))
    bounds = [1 << k for k in range(max(0, int(a.min()).bit_length() - 1), top.bit_length() + 1)]
    counts = np.bincount(np.searchsorted(np.array(bounds), a, side="left"), minlength=len(bounds))
    hist = [{"le_ns": b, "count": int(n)} for b, n in zip(bounds, counts.tolist(), strict=False) if n]
    return {"samples": len(a), "p50_ns": p50, "p95_ns": p95, "p99_ns": p99, "max_ns": int(a.max()),
            "histogram": hist}


@dataclass
class ItchReplayResult:
    """Outcome of `replay_itch`."""

    messages: int
    counts: dict[str, int]
    recon: Reconstructor | ExchangeReconstructor
    elapsed_s: float
    parse_ns: array[int] = field(default_factory=lambda: array("q"))
    book_ns: array[int] = field(default_factory=lambda: array("q"))
    truncated_at_limit: bool = False

    @property
    def counters(self) -> Counters:
        """Reconstruction counters and invariant violations."""
        return self.recon.counters

    def summary(self, depth: int | None = None) -> dict[str, Any]:
        """JSON-ready summary: messages, counts, books (full depth unless `depth`), counters, latencies."""
        books = {}
        for sym in sorted(self.recon.books):
            book = self.recon.books[sym]
            rows = level_rows(book) if isinstance(book, ItchBook) else book.rows()
            books[sym] = rows if depth is None else {k: v[:depth] for k, v in rows.items()}
        c = self.counters
        return {
            "messages": self.messages,
            "counts": dict(self.counts),
            "books": books,
            "price_scale": 10_000,
            "symbols": len(self.recon.books),
            "open_orders": self.recon.open_orders(),
            "operations": {"adds": c.adds, "executions": c.executions, "executed_shares": c.executed_shares,
                           "cancels": c.cancels, "cancelled_shares": c.cancelled_shares, "deletes": c.deletes,
                           "replaces": c.replaces, "trades": c.trades, "trade_shares": c.trade_shares,
                           "skipped_symbol": c.skipped_symbol},
            "invariants": c.invariants(),
            "first_timestamp": self.recon.first_ts,
            "last_timestamp": self.recon.last_ts if self.recon.first_ts is not None else None,
            "limit_reached": self.truncated_at_limit,
            "elapsed_s": round(self.elapsed_s, 6),
            "latency": {"parse": latency_summary(self.parse_ns), "book": latency_summary(self.book_ns)}
            if len(self.parse_ns) else None,
        }


def replay_itch(source: Source, *, symbols: list[str] | None = None, limit: int | None = None,
                timed: bool = False, progress: Progress | None = None, block_bytes: int = 1 << 22,
                books: str = "exchange") -> ItchReplayResult:
    """Replay `source` (bytes, file or .gz) into per-symbol books; stop after `limit` messages if given.

    `books="exchange"` (default) reconstructs through one `engine.lob.Exchange` per symbol; `books="itch"` through
    the leaner `ItchBook` (faster; same books, counters and summary shape).
    Raises `ItchError` (naming the byte offset) on truncated or corrupt input; ValueError for an unknown `books`.
    """
    if books not in BOOK_KINDS:
        raise ValueError(f"books must be one of {', '.join(BOOK_KINDS)}, got {books!r}")
    wanted = frozenset(symbols) if symbols else None
    recon = Reconstructor(symbols=wanted) if books == "itch" else ExchangeReconstructor(symbols=wanted)
    counts = np.zeros(256, dtype=np.int64)
    total = 0
    hit_limit = False
    parse_ns: array[int] = array("q")
    book_ns: array[int] = array("q")
    run = recon.run
    start = time.perf_counter()
    for block in iter_blocks(source, block_bytes=block_bytes, progress=progress):
        if limit is not None and total + len(block.offsets) >= limit:
            keep = limit - total
            hit_limit = keep < len(block.offsets)
            block = Block(block.base, block.buf, block.offsets[:keep], block.types[:keep])
        counts += np.bincount(block.types, minlength=256)
        total += len(block.offsets)
        buf = block.buf
        if timed:
            clock = time.perf_counter_ns
            pa, ba = parse_ns.append, book_ns.append
            for pos in block.offsets.tolist():
                t0 = clock()
                op = _parse_one(buf, pos)
                t1 = clock()
                pa(t1 - t0)
                if op is not None:
                    run((op,), buf)
                    ba(clock() - t1)
        elif not recon.run_frames(buf, block.offsets, block.types):  # the C loop, when built
            recon.run(zip(*_columns(block, recon), strict=True), buf, check_ts=False)
        if limit is not None and total >= limit:
            break
    elapsed = time.perf_counter() - start
    by_type = {chr(i): int(n) for i, n in enumerate(counts.tolist()) if n}
    return ItchReplayResult(total, dict(sorted(by_type.items())), recon, elapsed, parse_ns, book_ns, hit_limit)
