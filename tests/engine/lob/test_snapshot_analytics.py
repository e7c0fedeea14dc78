"""Unit tests of engine.lob.snapshot (BookSnapshot analytics) and engine.lob.analytics (tdiv, vwap)."""

from __future__ import annotations

import pickle

import pytest

from engine.lob import BookSnapshot, Exchange, LevelSnapshot, tdiv, vwap
from engine.lob.results import new_level


def snapshot(bids: list[tuple[int, int, int]], asks: list[tuple[int, int, int]]) -> BookSnapshot:
    return BookSnapshot([new_level(*b) for b in bids], [new_level(*a) for a in asks])


def test_weighted_mid_worked_example_from_a_live_book() -> None:
    ex = Exchange()
    ex.submit_limit("buy", 10000, 300)
    ex.submit_limit("sell", 10200, 100)
    snap = ex.depth()
    assert snap.weighted_mid() == 10150.0
    assert snap.mid_price() == 10100.0
    assert snap.spread() == 200
    assert snap.imbalance() == 0.5
    assert (snap.best_bid(), snap.best_ask()) == (10000, 10200)
    assert (snap.total_bid_quantity(), snap.total_ask_quantity()) == (300, 100)
    assert repr(snap) == "BookSnapshot(bids=1, asks=1)"


def test_analytics_use_only_levels_in_the_snapshot() -> None:
    snap = snapshot([(100, 10, 1), (99, 30, 2)], [(101, 20, 1), (105, 100, 4)])
    assert snap.total_bid_quantity() == 40
    assert snap.total_ask_quantity() == 120
    assert snap.imbalance() == (40 - 120) / 160
    assert snap.weighted_mid() == (20 * 100 + 10 * 101) / 30  # top of book only
    ex = Exchange()
    ex.submit_limit("buy", 100, 10)
    ex.submit_limit("buy", 99, 90)
    ex.submit_limit("sell", 101, 10)
    assert ex.depth(1).imbalance() == 0.0
    assert ex.depth(2).imbalance() == (100 - 10) / 110


def test_one_sided_and_empty_snapshots() -> None:
    bids_only = snapshot([(100, 10, 1)], [])
    assert (bids_only.imbalance(), bids_only.mid_price(), bids_only.weighted_mid(), bids_only.spread()) == (
        1.0, None, None, None)
    asks_only = snapshot([], [(100, 10, 1)])
    assert asks_only.imbalance() == -1.0
    assert (asks_only.best_bid(), asks_only.best_ask()) == (None, 100)
    empty = Exchange().depth()
    assert (empty.imbalance(), empty.mid_price(), empty.weighted_mid(), empty.best_bid(), empty.spread()) == (
        None, None, None, None, None)
    assert (empty.bids, empty.asks) == ([], [])
    assert (empty.total_bid_quantity(), empty.total_ask_quantity()) == (0, 0)


def test_mid_price_is_float_cents() -> None:
    assert snapshot([(100, 1, 1)], [(101, 1, 1)]).mid_price() == 100.5
    assert snapshot([(-3, 1, 1)], [(-2, 1, 1)]).mid_price() == -2.5


def test_level_snapshot_fields_and_repr() -> None:
    lv = new_level(10050, 7, 2)
    assert isinstance(lv, LevelSnapshot)
    assert (lv.price, lv.quantity, lv.order_count, lv.price_float) == (10050, 7, 2, 100.5)
    assert repr(lv) == "Level(price=$100.50, qty=7, orders=2)"
    assert repr(new_level(-250, 1, 1)) == "Level(price=-$2.50, qty=1, orders=1)"
    assert pickle.loads(pickle.dumps(lv)) == lv


@pytest.mark.parametrize(("a", "b", "q"), [(7, 2, 3), (-7, 2, -3), (7, -2, -3), (-7, -2, 3), (0, 5, 0),
                                            (-1, 3, 0), (6, 3, 2), (-6, 3, -2), (-(2**63), 7, -1317624576693539401)])
def test_tdiv_truncates_toward_zero(a: int, b: int, q: int) -> None:
    assert tdiv(a, b) == q


def test_vwap_with_tdiv_truncation() -> None:
    ex = Exchange()
    ex.submit_limit("sell", 100, 1)
    ex.submit_limit("sell", 101, 2)
    ex.submit_market("buy", 3)
    assert vwap(ex.trades()) == 100  # 302 / 3 = 100.67 → 100
    neg = Exchange()
    neg.submit_limit("sell", -100, 1)
    neg.submit_limit("sell", -101, 2)
    neg.submit_market("buy", 3)
    assert vwap(neg.trades()) == -100  # -302 / 3 = -100.67 → -100 (floor division would give -101)


def test_vwap_edges() -> None:
    assert vwap([]) is None
    ex = Exchange()
    ex.submit_limit("sell", 2**62, 4)
    ex.submit_market("buy", 4)  # notional 2**64 exceeds i64
    assert vwap(ex.trades()) is None
    ex2 = Exchange()
    ex2.submit_limit("sell", 5000, 10)
    ex2.submit_limit("buy", 5000, 10)
    assert vwap(ex2.trades()) == 5000
    assert vwap(iter(ex2.trades())) == 5000
