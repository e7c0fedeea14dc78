"""ExchangeReconstructor: ITCH books through engine.lob.Exchange agree with the fast reference Reconstructor."""

from __future__ import annotations

import gc
import sys
import tracemalloc
from dataclasses import asdict
from typing import Any

import numpy as np
import pytest

from engine.lob import Exchange
from engine.lob.exchange import ACCELERATED
from engine.lob.itch import Reconstructor, encode, exchange_books, replay_itch, synthesize
from engine.lob.itch.book import ItchBook
from engine.lob.itch.exchange_books import ExchangeBook, ExchangeReconstructor


class Tape:
    """Builds a stream with increasing timestamps (unless one is given)."""

    def __init__(self) -> None:
        self.frames: list[bytes] = []
        self.ts = 34_200_000_000_000

    def __call__(self, kind: str, **f: Any) -> Tape:
        self.ts += 10
        f.setdefault("timestamp", self.ts)
        self.frames.append(encode(kind, **f))
        return self

    def add(self, ref: int, side: str, shares: int, price: int, sym: str = "AAPL", loc: int = 1) -> Tape:
        return self("A", stock_locate=loc, order_ref=ref, side=side, shares=shares, stock=sym, price=price)

    def bytes(self) -> bytes:
        return b"".join(self.frames)


def _itch_queues(book: ItchBook, buy: bool) -> list[tuple[int, list[int]]]:
    side = book.bids if buy else book.asks
    return [(p, list(side[p].values())) for p in sorted(side, reverse=buy)]


def _view(recon: Reconstructor | ExchangeReconstructor) -> dict[str, Any]:
    """Everything comparable: per-symbol levels and per-level queues (time priority), counters, timestamps."""
    books: dict[str, Any] = {}
    for sym, book in sorted(recon.books.items()):
        if isinstance(book, ItchBook):
            queues = (_itch_queues(book, True), _itch_queues(book, False))
        else:
            queues = (book.queues(True), book.queues(False))
        books[sym] = (book.levels(True), book.levels(False), queues, book.orders())
    return {"books": books, "counters": asdict(recon.counters), "open_orders": recon.open_orders(),
            "first_ts": recon.first_ts, "last_ts": recon.last_ts}


def _both(data: bytes, **kw: Any) -> tuple[dict[str, Any], dict[str, Any], ExchangeReconstructor]:
    ref = replay_itch(data, timed=True, books="itch", **kw)
    exc = replay_itch(data, timed=True, books="exchange", **kw)
    assert isinstance(exc.recon, ExchangeReconstructor)
    assert ref.summary()["books"] == exc.summary()["books"]
    return _view(ref.recon), _view(exc.recon), exc.recon


@pytest.mark.parametrize("seed", [1, 7, 23, 99])
def test_synthetic_sessions_match_the_reference(seed: int) -> None:
    data = synthesize(1500, seed=seed)
    ref, exc, recon = _both(data)
    assert exc == ref
    c = recon.counters
    # The session really exercises every operation (else the comparison proves little).
    assert min(c.adds, c.executions, c.cancels, c.deletes, c.replaces, c.trades) > 0
    assert any(len(q) > 1 for b in exc["books"].values() for _, q in b[2][0] + b[2][1])
    # Each Exchange's own event log (adds, reduces, cancels) replays to the same book.
    for book in recon.books.values():
        again = Exchange.replay(book.exchange.events())
        assert again.full_book() == book.exchange.full_book()


def test_bulk_path_and_symbol_filter_match() -> None:
    data = synthesize(800, seed=5)
    fast = replay_itch(data, books="exchange", symbols=["MSFT"], block_bytes=4096)
    ref = replay_itch(data, timed=True, symbols=["MSFT"], books="itch")
    assert _view(fast.recon) == _view(ref.recon)
    assert set(fast.recon.books) == {"MSFT"} and fast.counters.skipped_symbol > 0


def test_reduce_keeps_priority_and_replace_requeues() -> None:
    t = Tape()
    t("R", stock_locate=1, stock="AAPL")
    t.add(1, "B", 300, 1_000_000).add(2, "B", 200, 1_000_000).add(3, "B", 100, 1_000_000)
    t("X", stock_locate=1, order_ref=1, shares=100)
    t("E", stock_locate=1, order_ref=1, shares=50, match_number=1)
    t("C", stock_locate=1, order_ref=2, shares=20, match_number=2, printable="Y", price=1_000_001)
    t("U", stock_locate=1, order_ref=3, new_order_ref=4, shares=70, price=1_000_000)
    ref, exc, recon = _both(t.bytes())
    assert exc == ref
    assert exc["books"]["AAPL"][2][0] == [(1_000_000, [150, 180, 70])]
    ex = recon.books["AAPL"].exchange
    assert ex.trades() == [] and [e.kind for e in ex.events()].count("reduce") == 3


def _invariant_tape() -> Tape:
    t = Tape()
    t("R", stock_locate=1, stock="AAPL")
    t("R", stock_locate=2, stock="MSFT")
    t.add(1, "B", 100, 500).add(2, "S", 100, 600)
    t("E", stock_locate=1, order_ref=1, shares=150, match_number=1)    # overdrawn: negative, leaves the book
    t("D", stock_locate=1, order_ref=77)                               # unknown ref
    t("X", stock_locate=1, order_ref=77, shares=5)                     # unknown ref
    t("U", stock_locate=1, order_ref=78, new_order_ref=79, shares=1, price=1)  # unknown ref
    t.add(2, "S", 40, 610)                                             # duplicate ref: replaces the old one
    t("A", stock_locate=2, order_ref=5, side="B", shares=10, stock="MSFT", price=300, timestamp=t.ts - 1_000)
    t.add(6, "S", 10, 320, sym="MSFT", loc=2)
    t("X", stock_locate=2, order_ref=5, shares=0)                      # zero-share cancel: no change
    return t


def test_invariant_breaches_are_counted_like_the_reference() -> None:
    ref, exc, _ = _both(_invariant_tape().bytes())
    assert exc == ref
    c = exc["counters"]
    assert (c["negative_quantity"], c["unknown_refs"], c["duplicate_refs"], c["timestamp_regressions"]) == (1, 3, 1, 1)
    assert c["crossed_book"] == 0


def _crossing_tape() -> Tape:
    t = Tape()
    t("R", stock_locate=1, stock="AAPL")
    t.add(1, "S", 100, 1_000).add(2, "B", 100, 990)
    t.add(3, "B", 50, 1_005)                                  # crosses the ask
    t.add(4, "S", 30, 990)                                    # locked with the bid: the Exchange would trade too
    t("E", stock_locate=1, order_ref=3, shares=20, match_number=1)   # handled, not unknown
    t("X", stock_locate=1, order_ref=4, shares=40)            # overdraws the kept-off add
    t("U", stock_locate=1, order_ref=3, new_order_ref=5, shares=60, price=995)  # now rests
    t.add(6, "B", 0, 980).add(7, "S", 0, 1_010)               # zero-share adds: never rest on an Exchange
    t("X", stock_locate=1, order_ref=6, shares=5)             # overdraws the zero-share order
    t("D", stock_locate=1, order_ref=7)
    t.add(5, "S", 10, 990)                                    # duplicate of a resting ref, now locked: kept off
    t.add(5, "S", 10, 1_001)                                  # duplicate of a kept-off ref
    t.add(8, "B", 5, 1_000)                                   # locked with the ask: kept off
    return t


def test_crossing_add_is_counted_and_kept_off_the_book() -> None:
    _, exc, recon = _both_exchange_only(_crossing_tape().bytes())
    c = recon.counters
    assert (c.crossed_book, c.unknown_refs, c.negative_quantity, c.executions, c.replaces) == (4, 0, 2, 1, 1)
    assert (c.duplicate_refs, c.cancels, c.deletes) == (2, 2, 1)
    book = recon.books["AAPL"]
    assert book.levels(True) == [(990, 100, 1)] and book.levels(False) == [(1_000, 100, 1), (1_001, 10, 1)]
    assert book.exchange.trades() == []
    assert recon.open_orders() == 3 == exc["open_orders"]


def test_locked_add_is_kept_off_unlike_the_reference() -> None:
    t = Tape()
    t("R", stock_locate=1, stock="AAPL")
    t.add(1, "S", 100, 1_000).add(2, "B", 100, 1_000)    # locked: the reference rests it, uncounted
    ref = replay_itch(t.bytes(), timed=True, books="itch").recon
    _, _, exc = _both_exchange_only(t.bytes())
    assert (ref.counters.crossed_book, exc.counters.crossed_book) == (0, 1)
    assert exc.books["AAPL"].levels(True) == [] and exc.open_orders() == 1


def _both_exchange_only(data: bytes) -> tuple[None, dict[str, Any], ExchangeReconstructor]:
    recon = replay_itch(data, timed=True, books="exchange").recon
    assert isinstance(recon, ExchangeReconstructor)
    return None, _view(recon), recon


def test_apply_one_message_and_bad_books_kind() -> None:
    recon = ExchangeReconstructor()
    frame = encode("A", stock_locate=3, order_ref=9, side="S", shares=25, stock="NVDA", price=1234,
                   timestamp=5)
    recon.apply(ord("A"), 3, 5, 9, ord("S"), 25, 1234, 0, frame, 2)
    assert isinstance(recon.books["NVDA"], ExchangeBook)
    assert recon.books["NVDA"].rows() == {"bids": [], "asks": [{"price": 1234, "quantity": 25, "order_count": 1}]}
    assert (recon.first_ts, recon.last_ts, recon.open_orders()) == (5, 5, 1)
    with pytest.raises(ValueError, match="books must be one of"):
        replay_itch(b"", books="fast")


# ---------------------------------------------------------------------------- the C loop against `run`

needs_loop = pytest.mark.skipif(exchange_books.APPLY is None,
                                reason="engine.lob._accel is not built or is disabled (NANOBOOK_PURE_PYTHON=1)")


def _internal(recon: ExchangeReconstructor) -> dict[str, Any]:
    """Everything the loop writes: the ref table, kept-off adds, locate state, and every Exchange's structures."""
    exchanges = {}
    for sym, book in recon.books.items():
        ex = book.exchange
        exchanges[sym] = (dict(ex._orders), [tuple(e) if isinstance(e, list) else e for e in ex._events],
                          {p: (lv[0], lv[1], list(lv[2])) for p, lv in ex._bids.items()},
                          {p: (lv[0], lv[1], list(lv[2])) for p, lv in ex._asks.items()},
                          list(ex._bpx), list(ex._apx), ex._bbo, ex._next_id, ex._next_trade, ex._trades)
    return {"view": _view(recon), "exchanges": exchanges, "ghosts": recon._ghosts,
            "orders": {ref: (b.symbol, buy, oid) for ref, (b, buy, oid) in recon._orders.items()},
            "locates": {loc: None if b is None else b.symbol for loc, b in recon._by_locate.items()},
            "locate_ts": recon._locate_ts}


def _sources() -> list[tuple[bytes, list[str] | None]]:
    return [(synthesize(3000, seed=11), None), (synthesize(2000, seed=3), ["AAPL", "NVDA"]),
            (_invariant_tape().bytes(), None), (_crossing_tape().bytes(), None), (b"", None)]


@needs_loop
@pytest.mark.parametrize("case", range(5))
@pytest.mark.parametrize("block_bytes", [1 << 22, 2048])
def test_c_loop_matches_the_python_loop(case: int, block_bytes: int, monkeypatch: pytest.MonkeyPatch) -> None:
    data, symbols = _sources()[case]
    fast = replay_itch(data, books="exchange", symbols=symbols, block_bytes=block_bytes)
    monkeypatch.setattr(exchange_books, "APPLY", None)
    slow = replay_itch(data, books="exchange", symbols=symbols, block_bytes=block_bytes)
    timed = replay_itch(data, books="exchange", symbols=symbols, timed=True)
    assert isinstance(fast.recon, ExchangeReconstructor) and isinstance(slow.recon, ExchangeReconstructor)
    assert isinstance(timed.recon, ExchangeReconstructor)
    assert _internal(fast.recon) == _internal(slow.recon) == _internal(timed.recon)
    assert fast.summary()["books"] == slow.summary()["books"]


def test_c_loop_is_used_exactly_when_the_exchange_is_accelerated() -> None:
    assert (exchange_books.APPLY is not None) == ACCELERATED
    recon = ExchangeReconstructor()
    empty = np.zeros(0, dtype=np.int64)
    assert recon.run_frames(b"", empty, np.zeros(0, dtype=np.uint8)) == ACCELERATED


@needs_loop
def test_c_loop_rejects_a_foreign_book() -> None:
    frame = encode("A", stock_locate=3, order_ref=9, side="S", shares=25, stock="NVDA", price=1234, timestamp=5)
    recon = ExchangeReconstructor()
    recon._by_locate[3] = ItchBook("NVDA")  # type: ignore[assignment]
    with pytest.raises(TypeError, match="not an ExchangeBook"):
        recon.run_frames(frame, np.zeros(1, dtype=np.int64), np.array([ord("A")], dtype=np.uint8))
    assert recon._locate_ts == {3: 5}  # the timestamp state is written back even after an error


@needs_loop
def test_c_loop_leaks_no_references_or_memory() -> None:
    data = synthesize(4000, seed=13)
    watched: list[Any] = [None, True, False, 0, 1, "buy", "sell", ExchangeBook]
    replay_itch(data, books="exchange", block_bytes=4096)  # warm-up
    gc.collect()
    tracemalloc.start()
    try:
        before = [sys.getrefcount(o) for o in watched]
        base = tracemalloc.get_traced_memory()[0]
        for _ in range(8):
            replay_itch(data, books="exchange", block_bytes=4096)
        gc.collect()
        grown = tracemalloc.get_traced_memory()[0] - base
        after = [sys.getrefcount(o) for o in watched]
    finally:
        tracemalloc.stop()
    assert grown < 100_000, grown  # one leaked object per message would be megabytes
    assert all(abs(b - a) < 50 for a, b in zip(before, after, strict=True)), (before, after)
