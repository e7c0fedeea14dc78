"""ITCH book reconstruction through the project's own order book: one `engine.lob.Exchange` per symbol.

Same inputs, counters and level view as `book.Reconstructor`; never lets an Exchange trade (a crossing add is
counted and kept off the book). `run` is the Python reference; `engine.lob._accel.apply_itch` the C loop.
"""

from __future__ import annotations

import importlib
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

from engine.lob.exchange import ACCELERATED, Exchange
from engine.lob.itch.book import BUY, Counters, Reconstructor
from engine.lob.record import REM, STATUS
from engine.lob.types import PARTIALLY_FILLED

__all__ = ["ExchangeBook", "ExchangeReconstructor"]

_A, _F, _E, _C, _X, _D, _U, _P, _R = (ord(c) for c in "AFECXDUPR")


class ExchangeBook:
    """One symbol's `Exchange` (prices in 1/10^4 dollars, as ticks) and its bound hot methods."""

    __slots__ = ("cancel", "exchange", "records", "reduce", "submit", "symbol")

    def __init__(self, symbol: str) -> None:
        self.symbol = symbol
        ex = self.exchange = Exchange()
        # Bound once: the replay loop calls these per message. `records` is the Exchange's own id -> record
        # table (record.py layout), read for an order's remaining quantity without building an Order view.
        self.submit = ex.submit_limit
        self.reduce = ex.reduce
        self.cancel = ex.cancel
        self.records: dict[int, tuple[Any, ...]] = ex._orders

    def levels(self, buy: bool) -> list[tuple[int, int, int]]:
        """(price, total shares, order count) per level, best first (as `ItchBook.levels`)."""
        snap = self.exchange.full_book()
        return [(lv.price, lv.quantity, lv.order_count) for lv in (snap.bids if buy else snap.asks)]

    def queues(self, buy: bool) -> list[tuple[int, list[int]]]:
        """(price, remaining shares of each order in time priority) per level, best first."""
        ex, recs = self.exchange, self.records
        side = ex._bids if buy else ex._asks
        out = []
        for p in sorted(side, reverse=buy):
            # A level's queue may still hold orders cancelled earlier (dropped lazily by the Exchange).
            live = [recs[oid][REM] for oid in side[p][2] if recs[oid][STATUS] <= PARTIALLY_FILLED]
            out.append((p, live))
        return out

    def orders(self) -> int:
        """Resting order count."""
        return self.exchange.active_order_count()

    def rows(self) -> dict[str, list[dict[str, int]]]:
        """Full-depth JSON view, the same shape as `book.level_rows`."""
        return {name: [{"price": p, "quantity": q, "order_count": n} for p, q, n in self.levels(buy)]
                for name, buy in (("bids", True), ("asks", False))}


_UNSEEN = ExchangeBook("")  # sentinel: a locate code not seen yet


def _bind_accel() -> Any:
    """`engine.lob._accel.apply_itch` bound to ExchangeBook, or None (Exchange not accelerated, or a mismatch)."""
    if not ACCELERATED:
        return None
    try:
        accel = importlib.import_module("engine.lob._accel")
        accel.bind_itch(ExchangeBook)
    except (ImportError, TypeError, AttributeError, RuntimeError):
        return None
    return accel.apply_itch


APPLY: Any = _bind_accel()  # tests set this to None to run the pure-Python reference in the same process


@dataclass
class ExchangeReconstructor:
    """Applies decoded ITCH book operations to one `Exchange` per symbol; `symbols` (if given) limits the books.

    Add (A/F) → `submit_limit` GTC; execute (E, C) and partial cancel (X) → `Exchange.reduce` (time priority
    kept); delete (D) → `cancel`; replace (U) → cancel, then add under the new ref (priority lost); trades (P) are
    only counted. An add at or through the opposite best (never in valid ITCH) would trade inside the Exchange:
    it is counted in `crossed_book` (a locked add too, unlike `Reconstructor`, which rests it) and kept off the
    book, its ref remembered with its shares so later messages on it are handled, not unknown. Unknown refs,
    overdrawn quantities and per-locate timestamp regressions are counted exactly as `Reconstructor` does.
    """

    symbols: frozenset[str] | None = None
    books: dict[str, ExchangeBook] = field(default_factory=dict)
    counters: Counters = field(default_factory=Counters)
    first_ts: int | None = None
    last_ts: int = 0
    # ref -> (book, is_buy, Exchange order id, or None for an add kept off the book)
    _orders: dict[int, tuple[ExchangeBook, bool, int | None]] = field(default_factory=dict)
    _ghosts: dict[int, int] = field(default_factory=dict)  # ref -> shares of an add kept off the book
    _by_locate: dict[int, ExchangeBook | None] = field(default_factory=dict)
    _locate_ts: dict[int, int] = field(default_factory=dict)

    def open_orders(self) -> int:
        """Orders resting across all books (adds kept off the book excluded)."""
        return len(self._orders) - len(self._ghosts)

    def run_frames(self, buf: Any, offsets: npt.NDArray[np.int64], types: npt.NDArray[np.uint8]) -> bool:
        """Apply the book messages among validated frames (`offsets`, `types`) in C, with the timestamp check.

        Same books, Exchange calls and counters as `run` over the same messages. Returns False, doing nothing, when
        the C module is not available (the caller then uses `run`).
        """
        if APPLY is None:
            return False
        first, deltas = APPLY(self._orders, self._ghosts, self._by_locate, self._locate_ts, self._book_for, buf,
                              offsets, types, self.first_ts)
        self.first_ts = first
        if self._locate_ts:
            self.last_ts = max(self.last_ts, *self._locate_ts.values())
        self.counters.add(deltas)
        return True

    def check_timestamps(self, loc: npt.NDArray[np.uint64], ts: npt.NDArray[np.uint64]) -> None:
        """Per-locate timestamp check for a batch in stream order: `Reconstructor`'s vectorized rule, same state."""
        clock = Reconstructor(counters=self.counters, first_ts=self.first_ts, last_ts=self.last_ts,
                              _locate_ts=self._locate_ts)
        clock.check_timestamps(loc, ts)
        self.first_ts, self.last_ts = clock.first_ts, clock.last_ts

    def _book_for(self, loc: int, buf: Any, pos: int, stock_at: int) -> ExchangeBook | None:
        name = bytes(buf[pos + stock_at:pos + stock_at + 8]).decode("latin-1").rstrip(" \x00")
        book: ExchangeBook | None = None
        if self.symbols is None or name in self.symbols:
            book = self.books.get(name)
            if book is None:
                book = self.books[name] = ExchangeBook(name)
        self._by_locate[loc] = book
        return book

    def apply(self, t: int, loc: int, ts: int, ref: int, side: int, shares: int, price: int, new_ref: int,
              buf: Any, pos: int) -> None:
        """Apply one message (type byte `t`; `buf[pos]` is its type byte, used to read symbols lazily)."""
        self.run(((t, loc, ts, ref, side, shares, price, new_ref, pos),), buf)

    def run(self, rows: Iterable[tuple[int, int, int, int, int, int, int, int, int]], buf: Any,
            check_ts: bool = True) -> None:
        """Apply rows (type, locate, timestamp, ref, side, shares, price, new_ref, position in `buf`) in order.

        One loop with everything in locals: this is the replay hot path (the Exchange calls are its C paths).
        `check_ts=False` skips the per-locate timestamp bookkeeping when the caller has done it (`check_timestamps`).
        """
        orders, ghosts, by_locate, locate_ts = self._orders, self._ghosts, self._by_locate, self._locate_ts
        book_for, unseen = self._book_for, _UNSEEN
        adds = execs = exec_sh = cancels = cancel_sh = deletes = replaces = trades = trade_sh = 0
        unknown = dup = crossed = negative = regress = skipped = 0
        first, last = self.first_ts, self.last_ts
        add_a, add_f, repl, dir_r, trade_p, dele, canc, buy_b = _A, _F, _U, _R, _P, _D, _X, BUY
        try:
            for t, loc, ts, ref, side, shares, price, new_ref, pos in rows:
                if check_ts:
                    if first is None:
                        first = ts
                    if ts < locate_ts.get(loc, -1):
                        regress += 1
                    else:
                        locate_ts[loc] = ts
                        last = max(last, ts)
                if t == dir_r:
                    book_for(loc, buf, pos, 11)
                    continue
                if t == trade_p:
                    trades += 1
                    trade_sh += shares
                    continue
                if t in (add_a, add_f):
                    maybe = by_locate.get(loc, unseen)
                    if maybe is unseen:
                        maybe = book_for(loc, buf, pos, 24)
                    if maybe is None:
                        skipped += 1
                        continue
                    book = maybe
                    adds += 1
                    buy = side == buy_b
                else:
                    if t not in (repl, dele, _E, _C, canc):
                        continue
                    o = orders.get(ref)
                    if o is None:  # a symbol we skip, or a ref never added
                        if by_locate.get(loc, unseen) is None:
                            skipped += 1
                        else:
                            unknown += 1
                        continue
                    book, buy, oid = o
                    if t not in (repl, dele):  # execution or partial cancel: reduce in place
                        if t == canc:
                            cancels += 1
                            cancel_sh += shares
                        else:
                            execs += 1
                            exec_sh += shares
                        if oid is None:
                            left = ghosts[ref] - shares
                            if left > 0:
                                ghosts[ref] = left
                                continue
                            del ghosts[ref]
                        else:
                            rem = book.records[oid][3]  # resting, so > 0 (0 only for a zero-share add)
                            left = rem - shares
                            if left > 0:
                                if shares:
                                    book.reduce(oid, shares)
                                continue
                            if rem:  # an overdraw reduces to zero: the order leaves the book either way
                                book.reduce(oid, rem)
                        if left < 0:
                            negative += 1
                        del orders[ref]
                        continue
                    del orders[ref]
                    if oid is None:
                        del ghosts[ref]
                    else:
                        book.cancel(oid)
                    if t == dele:
                        deletes += 1
                        continue
                    replaces += 1  # then added under the new ref, at the back of the queue
                    ref = new_ref
                o = orders.get(ref)
                if o is not None:  # a duplicate ref replaces the old order
                    dup += 1
                    ob, _, ooid = o
                    if ooid is None:
                        del ghosts[ref]
                    else:
                        ob.cancel(ooid)
                bid, ask = book.exchange._bbo
                if buy:
                    if ask is not None and price >= ask:  # would trade inside the Exchange: keep it off
                        crossed += 1
                        orders[ref] = (book, True, None)
                        ghosts[ref] = shares
                    else:
                        orders[ref] = (book, True, book.submit("buy", price, shares)[0])
                elif bid is not None and price <= bid:
                    crossed += 1
                    orders[ref] = (book, False, None)
                    ghosts[ref] = shares
                else:
                    orders[ref] = (book, False, book.submit("sell", price, shares)[0])
        finally:
            self.first_ts, self.last_ts = first, last
            self.counters.add((adds, execs, exec_sh, cancels, cancel_sh, deletes, replaces, trades, trade_sh, unknown,
                               dup, crossed, negative, regress, skipped))
