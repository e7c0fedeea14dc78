"""Order-book reconstruction from ITCH: a ref → order table and one price-level FIFO book per symbol.

Partial executions and cancels reduce an order in place (time priority kept); replaces re-enter under the new
ref (priority lost). Invariant breaches are counted, never raised. Prices are integers in 1/10^4 dollars.
`run` is the pure-Python reference; `run_frames` hands whole validated blocks to the optional C loop.
"""

from __future__ import annotations

import heapq
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, fields
from typing import Any

import numpy as np
import numpy.typing as npt

from engine.lob.itch import reader

__all__ = ["Counters", "ItchBook", "Reconstructor", "level_rows"]

BUY = 66  # b"B"
_A, _F, _E, _C, _X, _D, _U, _P, _R = (ord(c) for c in "AFECXDUPR")


class ItchBook:
    """One symbol's resting orders: price → {ref: remaining} per side (dict order is time priority)."""

    __slots__ = ("_ask_heap", "_bid_heap", "asks", "bids", "symbol")

    def __init__(self, symbol: str) -> None:
        self.symbol = symbol
        self.bids: dict[int, dict[int, int]] = {}
        self.asks: dict[int, dict[int, int]] = {}
        self._bid_heap: list[int] = []  # negated prices, lazily cleaned
        self._ask_heap: list[int] = []

    def best_bid(self) -> int | None:
        """Highest bid price, or None."""
        h, lv = self._bid_heap, self.bids
        while h and -h[0] not in lv:
            heapq.heappop(h)
        return -h[0] if h else None

    def best_ask(self) -> int | None:
        """Lowest ask price, or None."""
        h, lv = self._ask_heap, self.asks
        while h and h[0] not in lv:
            heapq.heappop(h)
        return h[0] if h else None

    def add(self, ref: int, buy: bool, price: int, shares: int) -> bool:
        """Rest an order at the back of its level; return True when it leaves the book crossed."""
        if buy:
            lv = self.bids.get(price)
            if lv is None:
                self.bids[price] = {ref: shares}
                heapq.heappush(self._bid_heap, -price)
            else:
                lv[ref] = shares
            if self.asks:
                ask = self.best_ask()
                return ask is not None and price > ask
            return False
        lv = self.asks.get(price)
        if lv is None:
            self.asks[price] = {ref: shares}
            heapq.heappush(self._ask_heap, price)
        else:
            lv[ref] = shares
        if self.bids:
            bid = self.best_bid()
            return bid is not None and bid > price
        return False

    def remove(self, ref: int, buy: bool, price: int) -> int:
        """Take an order off the book; return its remaining shares."""
        side = self.bids if buy else self.asks
        lv = side[price]
        q = lv.pop(ref)
        if not lv:
            del side[price]
        return q

    def reduce(self, ref: int, buy: bool, price: int, shares: int) -> int:
        """Reduce in place (keeps priority); remove at zero or below. Return what is left (negative = overdrawn)."""
        side = self.bids if buy else self.asks
        lv = side[price]
        left = lv[ref] - shares
        if left > 0:
            lv[ref] = left
            return left
        del lv[ref]
        if not lv:
            del side[price]
        return left

    def levels(self, buy: bool) -> list[tuple[int, int, int]]:
        """(price, total shares, order count) per level, best first."""
        side = self.bids if buy else self.asks
        return [(p, sum(side[p].values()), len(side[p])) for p in sorted(side, reverse=buy)]

    def orders(self) -> int:
        """Resting order count."""
        return sum(len(v) for v in self.bids.values()) + sum(len(v) for v in self.asks.values())

    def to_exchange(self) -> Any:
        """An `engine.lob.Exchange` holding the same resting orders in the same time priority (prices in 1/10^4)."""
        from engine.lob.exchange import Exchange

        ex = Exchange()
        for side_name, side in (("buy", self.bids), ("sell", self.asks)):
            for price in sorted(side):
                for qty in side[price].values():
                    ex.submit_limit(side_name, price, qty)
        return ex


_UNSEEN = ItchBook("")  # sentinel: a locate code not seen yet


def _install_apply() -> Any:
    """The C apply loop bound to ItchBook's slots and heapq, or None (not built, pure mode, or a layout mismatch)."""
    accel = reader.ACCEL
    if accel is None:
        return None
    try:
        accel.install(ItchBook, heapq.heappush, heapq.heappop)
    except (TypeError, AttributeError):
        return None
    return accel.apply


APPLY: Any = _install_apply()  # tests set this to None to run the pure-Python reference in the same process


def level_rows(book: ItchBook) -> dict[str, list[dict[str, int]]]:
    """Full-depth JSON view: {"bids": [{"price", "quantity", "order_count"}…], "asks": […]}, best first."""
    return {name: [{"price": p, "quantity": q, "order_count": n} for p, q, n in book.levels(buy)]
            for name, buy in (("bids", True), ("asks", False))}


@dataclass
class Counters:
    """What the reconstruction did, and which invariants the input broke (counted, never fatal)."""

    adds: int = 0
    executions: int = 0
    executed_shares: int = 0
    cancels: int = 0
    cancelled_shares: int = 0
    deletes: int = 0
    replaces: int = 0
    trades: int = 0
    trade_shares: int = 0
    unknown_refs: int = 0
    duplicate_refs: int = 0
    crossed_book: int = 0
    negative_quantity: int = 0
    timestamp_regressions: int = 0
    skipped_symbol: int = 0

    def add(self, deltas: Sequence[int]) -> None:
        """Add one batch's counts, given in field order (the order of the C loops' counter tuples)."""
        for f, delta in zip(fields(self), deltas, strict=True):
            setattr(self, f.name, getattr(self, f.name) + delta)

    def invariants(self) -> dict[str, int]:
        """The invariant-violation counters."""
        return {"crossed_book": self.crossed_book, "negative_quantity": self.negative_quantity,
                "timestamp_regressions": self.timestamp_regressions, "unknown_refs": self.unknown_refs,
                "duplicate_refs": self.duplicate_refs}


@dataclass
class Reconstructor:
    """Applies decoded book operations; `symbols` (if given) limits which books are built."""

    symbols: frozenset[str] | None = None
    books: dict[str, ItchBook] = field(default_factory=dict)
    counters: Counters = field(default_factory=Counters)
    first_ts: int | None = None
    last_ts: int = 0
    # ref -> (book, is_buy, price)
    _orders: dict[int, tuple[ItchBook, bool, int]] = field(default_factory=dict)
    _by_locate: dict[int, ItchBook | None] = field(default_factory=dict)
    _locate_ts: dict[int, int] = field(default_factory=dict)

    def open_orders(self) -> int:
        """Orders resting across all books."""
        return len(self._orders)

    def check_timestamps(self, loc: npt.NDArray[np.uint64], ts: npt.NDArray[np.uint64]) -> None:
        """Vectorized per-locate timestamp check for a batch in stream order (same result as `run`'s own check)."""
        if not len(ts):
            return
        if self.first_ts is None:
            self.first_ts = int(ts[0])
        state = self._locate_ts
        prev_locs = np.array([k for k in state if k < 1 << 16], dtype=np.uint64)
        prev_keys = (prev_locs << np.uint64(48)) | np.array([state[int(k)] for k in prev_locs], dtype=np.uint64)
        keys = np.concatenate([prev_keys, (loc << np.uint64(48)) | ts])
        order = np.argsort(keys >> np.uint64(48), kind="stable")
        sk = keys[order]
        running = np.maximum.accumulate(sk)
        is_new = order[1:] >= len(prev_keys)
        self.counters.timestamp_regressions += int(np.count_nonzero((sk[1:] < running[:-1]) & is_new))
        group_end = [*np.flatnonzero(np.diff(sk >> np.uint64(48)) != 0).tolist(), len(sk) - 1]
        for i in group_end:
            k = int(running[i])
            state[k >> 48] = k & 0xFFFF_FFFF_FFFF
        self.last_ts = max(self.last_ts, int(ts.max()))

    def _book_for(self, loc: int, buf: Any, pos: int, stock_at: int) -> ItchBook | None:
        name = bytes(buf[pos + stock_at:pos + stock_at + 8]).decode("latin-1").rstrip(" \x00")
        book: ItchBook | None = None
        if self.symbols is None or name in self.symbols:
            book = self.books.get(name)
            if book is None:
                book = self.books[name] = ItchBook(name)
        self._by_locate[loc] = book
        return book

    def run_frames(self, buf: Any, offsets: npt.NDArray[np.int64], types: npt.NDArray[np.uint8]) -> bool:
        """Apply the book messages among validated frames (`offsets`, `types`) in C, with the timestamp check.

        Same books and counters as `run` over the same messages. Returns False, doing nothing, when the C module
        is not available (the caller then uses `run`).
        """
        if APPLY is None:
            return False
        first, deltas = APPLY(self._orders, self._by_locate, self._locate_ts, self._book_for, buf, offsets, types,
                              self.first_ts)
        self.first_ts = first
        if self._locate_ts:
            self.last_ts = max(self.last_ts, *self._locate_ts.values())
        self.counters.add(deltas)
        return True

    def apply(self, t: int, loc: int, ts: int, ref: int, side: int, shares: int, price: int, new_ref: int,
              buf: Any, pos: int) -> None:
        """Apply one message (type byte `t`; `buf[pos]` is its type byte, used to read symbols lazily)."""
        self.run(((t, loc, ts, ref, side, shares, price, new_ref, pos),), buf)

    def run(self, rows: Iterable[tuple[int, int, int, int, int, int, int, int, int]], buf: Any,
            check_ts: bool = True) -> None:
        """Apply rows (type, locate, timestamp, ref, side, shares, price, new_ref, position in `buf`) in order.

        One loop with everything in locals: this is the replay hot path. `check_ts=False` skips the per-locate
        timestamp bookkeeping when the caller has done it already (`check_timestamps`).
        """
        orders, by_locate, locate_ts = self._orders, self._by_locate, self._locate_ts
        book_for = self._book_for
        heappush, heappop = heapq.heappush, heapq.heappop
        adds = execs = exec_sh = cancels = cancel_sh = deletes = replaces = trades = trade_sh = 0
        unknown = dup = crossed = negative = regress = skipped = 0
        first = self.first_ts
        add_a, add_f, repl, dir_r, trade_p, dele, canc, buy_b = _A, _F, _U, _R, _P, _D, _X, BUY
        try:
            for t, loc, ts, ref, side, shares, price, new_ref, pos in rows:
                if check_ts:
                    if first is None:
                        first = ts
                    last = locate_ts.get(loc, -1)
                    if ts < last:
                        regress += 1
                    else:
                        locate_ts[loc] = ts
                if t in (add_a, add_f, repl):
                    if t == repl:
                        o = orders.pop(ref, None)
                        if o is None:
                            if by_locate.get(loc, _UNSEEN) is None:
                                skipped += 1
                            else:
                                unknown += 1
                            continue
                        replaces += 1
                        book, buy, px = o
                        lvs = book.bids if buy else book.asks
                        lv = lvs[px]
                        del lv[ref]
                        if not lv:
                            del lvs[px]
                        ref = new_ref
                    else:
                        maybe = by_locate.get(loc, _UNSEEN)
                        if maybe is _UNSEEN:
                            maybe = book_for(loc, buf, pos, 24)
                        if maybe is None:
                            skipped += 1
                            continue
                        book = maybe
                        adds += 1
                        buy = side == buy_b
                    o = orders.get(ref)
                    if o is not None:
                        dup += 1
                        ob, ob_buy, ob_px = o
                        ob.remove(ref, ob_buy, ob_px)
                    orders[ref] = (book, buy, price)
                    if buy:
                        lvs = book.bids
                        found = lvs.get(price)
                        if found is None:
                            lvs[price] = {ref: shares}
                            heappush(book._bid_heap, -price)
                        else:
                            found[ref] = shares
                        opp = book.asks
                        if opp:
                            h = book._ask_heap
                            while h[0] not in opp:
                                heappop(h)
                            if price > h[0]:
                                crossed += 1
                    else:
                        lvs = book.asks
                        found = lvs.get(price)
                        if found is None:
                            lvs[price] = {ref: shares}
                            heappush(book._ask_heap, price)
                        else:
                            found[ref] = shares
                        opp = book.bids
                        if opp:
                            h = book._bid_heap
                            while -h[0] not in opp:
                                heappop(h)
                            if -h[0] > price:
                                crossed += 1
                    continue
                if t == dir_r:
                    book_for(loc, buf, pos, 11)
                    continue
                if t == trade_p:
                    trades += 1
                    trade_sh += shares
                    continue
                o = orders.get(ref)
                if o is None:
                    if by_locate.get(loc, _UNSEEN) is None:
                        skipped += 1
                    else:
                        unknown += 1
                    continue
                book, buy, px = o
                lvs = book.bids if buy else book.asks
                lv = lvs[px]
                if t == dele:
                    deletes += 1
                    left = 0
                else:
                    if t == canc:
                        cancels += 1
                        cancel_sh += shares
                    else:
                        execs += 1
                        exec_sh += shares
                    left = lv[ref] - shares
                    if left > 0:
                        lv[ref] = left
                        continue
                    if left < 0:
                        negative += 1
                del lv[ref]
                if not lv:
                    del lvs[px]
                del orders[ref]
        finally:
            self.first_ts = first
            if locate_ts:
                self.last_ts = max(self.last_ts, *locate_ts.values())
            self.counters.add((adds, execs, exec_sh, cancels, cancel_sh, deletes, replaces, trades, trade_sh, unknown,
                               dup, crossed, negative, regress, skipped))


