"""Book reconstruction from ITCH: reduce-in-place keeps priority, replace re-queues, invariants are counted."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from engine.lob.itch import Reconstructor, encode, replay_itch, synthesize
from engine.lob.itch.book import ItchBook

SAMPLE_PATH = Path(__file__).resolve().parents[3] / "data" / "itch" / "sample.itch"


class Tape:
    """Builds a stream with increasing timestamps."""

    def __init__(self) -> None:
        self.frames: list[bytes] = []
        self.ts = 34_200_000_000_000

    def __call__(self, kind: str, **f: Any) -> Tape:
        self.ts += 10
        f.setdefault("timestamp", self.ts)
        self.frames.append(encode(kind, **f))
        return self

    def bytes(self) -> bytes:
        return b"".join(self.frames)


def _add(t: Tape, ref: int, side: str, shares: int, price: int, sym: str = "AAPL", loc: int = 1) -> None:
    t("A", stock_locate=loc, order_ref=ref, side=side, shares=shares, stock=sym, price=price)


def _queue(recon: Reconstructor, sym: str, buy: bool, price: int) -> list[tuple[int, int]]:
    side = recon.books[sym].bids if buy else recon.books[sym].asks
    return list(side.get(price, {}).items())


def _both(data: bytes, **kw: Any) -> Any:
    fast, timed = replay_itch(data, books="itch", **kw), replay_itch(data, timed=True, books="itch", **kw)
    assert fast.summary()["books"] == timed.summary()["books"]
    assert fast.summary()["operations"] == timed.summary()["operations"]
    assert fast.summary()["invariants"] == timed.summary()["invariants"]
    return fast


def test_partial_cancel_and_execution_keep_time_priority() -> None:
    t = Tape()
    t("R", stock_locate=1, stock="AAPL")
    _add(t, 1, "B", 300, 1_000_000)
    _add(t, 2, "B", 200, 1_000_000)
    t("X", stock_locate=1, order_ref=1, shares=100)             # partial cancel: stays first
    t("E", stock_locate=1, order_ref=1, shares=50, match_number=1)
    t("C", stock_locate=1, order_ref=2, shares=20, match_number=2, printable="Y", price=1_000_001)
    r = _both(t.bytes())
    assert _queue(r.recon, "AAPL", True, 1_000_000) == [(1, 150), (2, 180)]
    c = r.counters
    assert (c.cancels, c.cancelled_shares, c.executions, c.executed_shares) == (1, 100, 2, 70)
    assert r.summary()["books"]["AAPL"] == {
        "bids": [{"price": 1_000_000, "quantity": 330, "order_count": 2}], "asks": []}


def test_full_execution_and_delete_remove_the_order() -> None:
    t = Tape()
    _add(t, 1, "S", 100, 1_000_100)
    _add(t, 2, "S", 100, 1_000_100)
    _add(t, 3, "S", 100, 1_000_200)
    t("E", stock_locate=1, order_ref=1, shares=100, match_number=1)
    t("D", stock_locate=1, order_ref=3)
    t("X", stock_locate=1, order_ref=3, shares=1)  # already gone
    r = _both(t.bytes())
    assert r.summary()["books"]["AAPL"]["asks"] == [{"price": 1_000_100, "quantity": 100, "order_count": 1}]
    assert r.recon.open_orders() == 1
    assert r.counters.unknown_refs == 1 and r.counters.deletes == 1


def test_replace_moves_to_new_ref_and_loses_priority() -> None:
    t = Tape()
    _add(t, 1, "B", 100, 990_000)
    _add(t, 2, "B", 100, 990_000)
    t("U", stock_locate=1, order_ref=1, new_order_ref=10, shares=300, price=990_000)
    t("U", stock_locate=1, order_ref=2, new_order_ref=11, shares=50, price=990_050)  # sub-penny, exact
    t("X", stock_locate=1, order_ref=1, shares=10)  # old ref is dead
    r = _both(t.bytes())
    assert _queue(r.recon, "AAPL", True, 990_000) == [(10, 300)]
    assert _queue(r.recon, "AAPL", True, 990_050) == [(11, 50)]
    assert r.counters.replaces == 2 and r.counters.unknown_refs == 1
    bids = r.summary()["books"]["AAPL"]["bids"]
    assert [b["price"] for b in bids] == [990_050, 990_000]  # distinct sub-penny levels, never collapsed


def test_invariants_are_counted_not_fatal() -> None:
    t = Tape()
    _add(t, 1, "S", 100, 1_000_000)
    _add(t, 2, "B", 100, 1_000_100)                                # crosses the ask
    t("X", stock_locate=1, order_ref=1, shares=150)                 # more than remains
    t("A", stock_locate=1, order_ref=3, side="B", shares=5, stock="AAPL", price=1, timestamp=1)  # time goes back
    _add(t, 3, "B", 7, 2)                                           # duplicate ref
    t("E", stock_locate=1, order_ref=999, shares=1, match_number=1)  # unknown
    r = _both(t.bytes())
    inv = r.summary()["invariants"]
    assert inv == {"crossed_book": 1, "negative_quantity": 1, "timestamp_regressions": 1, "unknown_refs": 1,
                   "duplicate_refs": 1}
    assert r.summary()["books"]["AAPL"]["bids"][-1] == {"price": 2, "quantity": 7, "order_count": 1}


def test_symbols_filter_limit_and_trades() -> None:
    t = Tape()
    t("R", stock_locate=1, stock="AAPL")
    t("R", stock_locate=2, stock="MSFT")
    _add(t, 1, "B", 100, 10_000, "AAPL", 1)
    _add(t, 2, "B", 100, 20_000, "MSFT", 2)
    t("X", stock_locate=2, order_ref=2, shares=10)
    t("P", stock_locate=1, order_ref=0, side="B", shares=40, stock="AAPL", price=10_001, match_number=3)
    t("Q", stock_locate=1, shares=500, stock="AAPL", cross_price=10_000, match_number=4, cross_type="O")
    r = _both(t.bytes(), symbols=["MSFT"])
    s = r.summary()
    assert list(s["books"]) == ["MSFT"] and s["books"]["MSFT"]["bids"][0]["quantity"] == 90
    assert s["counts"] == {"A": 2, "P": 1, "Q": 1, "R": 2, "X": 1} and s["messages"] == 7
    assert r.counters.unknown_refs == 0 and r.counters.trades == 1
    lim = replay_itch(t.bytes(), limit=3, books="itch")
    assert lim.messages == 3 and lim.summary()["limit_reached"] is True
    assert lim.summary()["books"]["AAPL"]["bids"][0]["quantity"] == 100


def test_books_convert_to_exchange_with_same_depth() -> None:
    r = replay_itch(SAMPLE_PATH, books="itch")
    for sym, book in r.recon.books.items():
        ex = book.to_exchange()
        assert isinstance(book, ItchBook)
        bids = r.summary()["books"][sym]["bids"]
        assert ex.best_bid_ask()[0] == (bids[0]["price"] if bids else None)


def test_sample_file_is_the_generator_output_and_replays_clean() -> None:
    data = SAMPLE_PATH.read_bytes()
    assert data == synthesize(300, symbols=("AAPL", "MSFT", "NVDA"), seed=7)
    s = replay_itch(SAMPLE_PATH, books="itch").summary()
    assert all(v == 0 for v in s["invariants"].values())
    assert set(s["counts"]) == set("SRHYLVWKJhAFECXDUPQBINO")
    assert s["messages"] == sum(s["counts"].values())


@pytest.mark.parametrize("seed", [1, 2])
def test_determinism(seed: int) -> None:
    a = synthesize(3000, seed=seed)
    assert a == synthesize(3000, seed=seed)
    docs = [json.dumps({k: v for k, v in replay_itch(a, block_bytes=b, books="itch").summary().items()
                        if k not in ("elapsed_s", "latency")}, sort_keys=True) for b in (1 << 22, 333)]
    assert docs[0] == docs[1]
    s = json.loads(docs[0])
    assert all(v == 0 for v in s["invariants"].values())


@pytest.mark.parametrize("seed", range(5))
def test_vectorized_timestamp_check_matches_the_loop(seed: int) -> None:
    import random

    rng = random.Random(seed)
    frames = [encode("A", stock_locate=rng.randint(1, 3), timestamp=rng.randint(0, 50), order_ref=i + 1,
                     side=rng.choice("BS"), shares=1, stock=f"S{rng.randint(1, 3)}", price=rng.randint(1, 9) * 100)
              for i in range(200)]
    data = b"".join(frames)
    want = replay_itch(data, timed=True, books="itch")
    for block in (37, 400, 1 << 20):
        got = replay_itch(data, block_bytes=block, books="itch")
        assert got.summary()["invariants"] == want.summary()["invariants"]
        assert (got.recon.first_ts, got.recon.last_ts) == (want.recon.first_ts, want.recon.last_ts)
