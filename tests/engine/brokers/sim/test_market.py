"""The simulated market: seeded liquidity and walk, matching on engine.lob, determinism, partial and stepped fills."""

from __future__ import annotations

import itertools
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from engine.brokers.base import OrderState
from engine.brokers.sim import SimBroker, SimVenue, params
from engine.brokers.sim.market import ClientOrder, Execution, best_prices, liquidity, match, remaining_levels, walk
from tests.engine.brokers.sim.helpers import Clock, req

# ------------------------------------------------------------------------------------------ pure functions


@pytest.mark.parametrize("ref", [1, 7, 1_250, 18_500, 41_000, 370_000])
def test_liquidity_shape(ref: int) -> None:
    bids, asks = liquidity(7, "AAPL", 0, ref)
    assert len(asks) == params.LEVELS
    assert [p for p, _ in bids] == sorted((p for p, _ in bids), reverse=True)
    assert [p for p, _ in asks] == sorted(p for p, _ in asks)
    if ref == 1:  # a one-cent symbol has no room for bids below it
        assert bids == []
        return
    assert 1 <= len(bids) <= params.LEVELS
    assert bids[0][0] < ref < asks[0][0]
    spread = asks[0][0] - bids[0][0]
    assert spread >= 2
    if ref >= 10_000:  # above $100 the 1–5 bp spread is several ticks
        assert spread * 10_000 <= ref * (params.SPREAD_BPS[1] + 1)
        lo, hi = params.LEVEL_NOTIONAL_CENTS
        for price, qty in bids + asks:
            assert lo - price <= price * qty <= hi
    assert all(qty >= 1 and price >= 1 for price, qty in bids + asks)


def test_liquidity_is_a_pure_function_of_its_inputs() -> None:
    assert liquidity(7, "AAPL", 3, 18_500) == liquidity(7, "AAPL", 3, 18_500)
    base = liquidity(7, "AAPL", 3, 18_500)
    assert liquidity(8, "AAPL", 3, 18_500) != base
    assert liquidity(7, "AAPL", 4, 18_500) != base
    assert liquidity(7, "MSFT", 3, 18_500) != base


def test_walk_is_deterministic_small_and_positive() -> None:
    path = [18_500]
    for step in range(1, 500):
        path.append(walk(7, "AAPL", step, path[-1]))
    again = [18_500]
    for step in range(1, 500):
        again.append(walk(7, "AAPL", step, again[-1]))
    assert path == again
    moves = [abs(b - a) / a for a, b in itertools.pairwise(path)]
    assert max(moves) <= params.WALK_PPM * params.WALK_DRAWS / 1_000_000 + 1 / 18_000
    assert len(set(path)) > 50  # it does move
    assert walk(7, "PENNY", 1, 1) >= 1


def test_incoming_buy_walks_the_book_at_venue_prices_and_rests_the_rest() -> None:
    bids = [(99, 10), (98, 10)]
    asks = [(101, 5), (102, 5), (103, 5)]
    out = match(bids, asks, [], ClientOrder("A", "buy", 102, 12))
    assert out.executions == [Execution("A", "buy", 5, 101), Execution("A", "buy", 5, 102)]
    assert out.taken == {("sell", 101): 5, ("sell", 102): 5}
    assert out.book.best_bid_ask() == (102, 103)  # the remainder of A rests at its limit


def test_resting_client_order_fills_at_its_own_price_when_the_venue_crosses_it() -> None:
    resting = [ClientOrder("A", "buy", 100, 8)]
    out = match([(97, 10)], [(99, 5), (100, 5), (101, 5)], resting)
    assert out.executions == [Execution("A", "buy", 5, 100), Execution("A", "buy", 3, 100)]
    assert out.taken == {("sell", 99): 5, ("sell", 100): 3}


def test_time_priority_between_resting_client_orders() -> None:
    resting = [ClientOrder("first", "buy", 100, 5), ClientOrder("second", "buy", 100, 5)]
    out = match([], [(100, 7)], resting)
    assert out.executions == [Execution("first", "buy", 5, 100), Execution("second", "buy", 2, 100)]


def test_self_trade_reports_both_sides() -> None:
    out = match([], [], [ClientOrder("S", "sell", 100, 5)], ClientOrder("B", "buy", 100, 5))
    assert sorted(out.executions, key=lambda e: e.key) == [Execution("B", "buy", 5, 100),
                                                           Execution("S", "sell", 5, 100)]
    assert out.taken == {}


def test_remaining_levels_and_best_prices() -> None:
    levels = [(101, 5), (102, 5)]
    assert remaining_levels(levels, "sell", {("sell", 101): 5, ("sell", 102): 2}) == [(102, 3)]
    assert remaining_levels(levels, "sell", {("buy", 101): 5}) == levels
    assert best_prices([(99, 1)], [(101, 1)], [ClientOrder("A", "buy", 100, 1)]) == (100, 101)
    assert best_prices([], [], []) == (None, None)


# ------------------------------------------------------------------------------------------ the venue


def _script(root: Path, seed: int) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    venue = SimVenue(root, Clock(), auto_init=False)
    venue.init(Decimal(2_000_000), seed=seed)
    broker = SimBroker(root, Clock(), auto_init=False)
    broker.place_limit(req("a", qty=3000, price="185.20"))
    broker.place_limit(req("b", "MSFT", qty=100, price="409.00"))
    broker.place_limit(req("c", "JPM", qty=500, price="196.00"))
    venue.step(25)
    broker.place_limit(req("d", "AAPL", "sell", qty=1000, price="180.00"))
    venue.set_price("XOM", "110")
    venue.step(5)
    orders = [{k: v for k, v in o.items() if k not in ("created_at", "updated_at")} for o in venue.orders_data()]
    return orders, {s: venue.book(s, 10) for s in ("AAPL", "MSFT", "JPM", "XOM")}


def test_same_seed_same_books_and_fills(tmp_path: Path) -> None:
    a = _script(tmp_path / "a", seed=11)
    b = _script(tmp_path / "b", seed=11)
    assert a == b
    c = _script(tmp_path / "c", seed=12)
    assert c[1] != a[1]


def test_a_large_order_walks_the_book(tmp_path: Path) -> None:
    broker = SimBroker(tmp_path, Clock())
    book = broker.venue.book("AAPL", 10)
    top3 = sum(int(lv["quantity"]) for lv in book["asks"][:3])
    order = broker.place_limit(req("big", qty=top3, price="186.00"))
    assert order.state is OrderState.FILLED
    prices = [f.price for f in broker.fills()]
    assert prices == [Decimal(lv["price"]) for lv in book["asks"][:3]]
    assert order.avg_fill_price is not None
    assert Decimal(book["asks"][0]["price"]) < order.avg_fill_price < Decimal(book["asks"][2]["price"])
    assert broker.quotes(["AAPL"])["AAPL"].ask == Decimal(book["asks"][3]["price"])  # liquidity was taken


def test_a_very_large_order_fills_partially_and_rests(tmp_path: Path) -> None:
    SimVenue(tmp_path, Clock(), auto_init=False).init(Decimal(50_000_000))
    broker = SimBroker(tmp_path, Clock())
    book = broker.venue.book("AAPL", 10)
    available = sum(int(lv["quantity"]) for lv in book["asks"])
    order = broker.place_limit(req("huge", qty=available + 5_000, price="190.00"))
    assert order.state is OrderState.PARTIALLY_FILLED
    assert order.filled_quantity == available
    assert order.remaining == 5_000
    assert broker.quotes(["AAPL"])["AAPL"].bid == Decimal("190.00")  # the remainder is the best bid
    assert broker.open_orders() == [order]


def test_taken_liquidity_is_refreshed_by_a_step(tmp_path: Path) -> None:
    broker = SimBroker(tmp_path, Clock())
    ask0 = broker.quotes(["AAPL"])["AAPL"].ask
    qty = int(broker.venue.book("AAPL", 1)["asks"][0]["quantity"])
    broker.place_limit(req("x", qty=qty, price=str(ask0)))
    assert broker.quotes(["AAPL"])["AAPL"].ask != ask0
    broker.venue.step()
    fresh = broker.venue.book("AAPL", 1)
    assert int(fresh["asks"][0]["quantity"]) > 0
    assert broker.venue.summary()["step"] == 1


def test_step_fills_a_resting_buy_below_the_market(tmp_path: Path) -> None:
    broker = SimBroker(tmp_path, Clock())
    bid = broker.quotes(["AAPL"])["AAPL"].bid
    assert bid is not None
    limit = bid - Decimal("0.05")
    order = broker.place_limit(req("low", qty=50, price=str(limit)))
    assert order.state is OrderState.SUBMITTED
    steps = 0
    while broker.order(order.order_id).state is not OrderState.FILLED:  # type: ignore[union-attr]
        report = broker.venue.step()
        steps += 1
        assert steps < 200
    assert report.fills
    assert {f.price for f in report.fills} == {limit}  # a passive order trades at its own price
    assert broker.positions()[0].quantity == 50


def test_set_price_through_resting_orders_fills_them(tmp_path: Path) -> None:
    broker = SimBroker(tmp_path, Clock())
    broker.place_limit(req("buy", qty=10, price="180.00"))
    update = broker.venue.set_price("AAPL", "179.00")
    assert [(f.client_order_id, f.quantity, f.price) for f in update.fills] == [("buy", Decimal(10), Decimal("180.00"))]
    sell = broker.place_limit(req("sell", side="sell", qty=10, price="190.00"))
    assert sell.state is OrderState.SUBMITTED
    update = broker.venue.set_price("AAPL", "191")
    assert [(f.client_order_id, f.price) for f in update.fills] == [("sell", Decimal("190.00"))]
    assert broker.positions() == []
    assert update.old_price == Decimal("179.00")
    assert not update.added


def test_set_price_lists_a_new_symbol(tmp_path: Path) -> None:
    venue = SimVenue(tmp_path, Clock())
    update = venue.set_price("zzz", "12.5")
    assert (update.symbol, update.added, update.price, update.old_price) == ("ZZZ", True, Decimal("12.50"), None)
    assert venue.quotes(["ZZZ"])["ZZZ"].last == Decimal("12.50")
    assert venue.set_prices({"ZZZ": 1300, "NEW1": 500, "NEW2": 700}) == 2
    assert venue.quotes(["ZZZ"])["ZZZ"].last == Decimal("13.00")
