"""Unit tests of engine.lob.stops: trigger rules, trailing methods, the bounded cascade, stop queries and cancel."""

from __future__ import annotations

import pytest

from engine.lob import Exchange
from engine.lob.stops import CASCADE_LIMIT, rhaz, trunc_sat
from tests.engine.lob.rows import cancel_row, level_rows, order_row, trade_rows


def print_at(ex: Exchange, price: int, qty: int = 1) -> None:
    """Make one trade at `price` (a resting sell hit by a buy) so the last trade price becomes `price`."""
    ex.submit_limit("sell", price, qty)
    r = ex.submit_limit("buy", price, qty)
    assert [t.price for t in r.trades] == [price]


def stop_price(ex: Exchange, stop_id: int) -> int:
    return ex.get_stop_order(stop_id)["stop_price"]


# ---------------------------------------------------------------------------- helpers of the module


@pytest.mark.parametrize(("x", "expected"), [(5.55, 6), (5.5, 6), (5.49, 5), (2.5, 3), (-2.5, -3), (-0.4, 0),
                                              (0.0, 0), (float("nan"), 0), (float("inf"), 0)])
def test_rhaz_rounds_half_away_from_zero(x: float, expected: int) -> None:
    assert rhaz(x) == expected


@pytest.mark.parametrize(("x", "expected"), [(2.9, 2), (-2.9, -2), (float("nan"), 0), (1e300, 2**63 - 1),
                                              (-1e300, -(2**63))])
def test_trunc_sat(x: float, expected: int) -> None:
    assert trunc_sat(x) == expected


# ---------------------------------------------------------------------------- plain stops


def test_stop_consumes_order_id_and_timestamp_and_is_pending_without_trades() -> None:
    ex = Exchange()
    ex.submit_limit("sell", 10000, 10)  # 1, ts 1
    r = ex.submit_stop_market("buy", 9000, 5)  # already "through" the book, but no trade yet
    assert (r.order_id, r.status) == (2, "Pending")
    assert repr(r) == "StopSubmitResult(order_id=2, status='Pending')"
    assert ex.get_stop_order(2) == {"id": 2, "side": "buy", "stop_price": 9000, "limit_price": None, "quantity": 5,
                                    "status": "pending", "timestamp": 2}
    assert ex.get_order(2) is None
    assert ex.get_stop_order(1) is None
    assert ex.get_stop_order(99) is None
    assert ex.pending_stop_count() == 1
    assert ex.submit_limit("buy", 1, 1).order_id == 3
    assert ex.get_order(3).timestamp == 3


@pytest.mark.parametrize(("side", "stop", "price", "fires"), [
    ("buy", 100, 100, True), ("buy", 100, 101, True), ("buy", 100, 99, False),
    ("sell", 100, 100, True), ("sell", 100, 99, True), ("sell", 100, 101, False),
])
def test_trigger_rule(side: str, stop: int, price: int, fires: bool) -> None:
    ex = Exchange()
    sid = ex.submit_stop_limit(side, stop, 1 if side == "buy" else 10**6, 7).order_id  # limit never crosses
    print_at(ex, price)
    assert ex.get_stop_order(sid)["status"] == ("triggered" if fires else "pending")
    assert ex.pending_stop_count() == (0 if fires else 1)


def test_stop_market_fires_ioc_at_extreme_and_never_rests() -> None:
    ex = Exchange()
    ex.submit_limit("buy", 90, 3)                      # 1
    sid = ex.submit_stop_market("sell", 100, 10).order_id  # 2
    print_at(ex, 100)                                  # 3, 4 → trade ts 5; stop spawns order 5 (ts 6)
    spawned = ex.get_order(5)
    assert (spawned.side, spawned.price, spawned.time_in_force, spawned.status) == ("sell", -(2**63), "ioc",
                                                                                   "cancelled")
    assert (spawned.filled_quantity, spawned.remaining_quantity, spawned.owner) == (3, 0, None)
    assert trade_rows(ex.trades())[-1] == (2, 90, 3, "sell", 5, 1, 7)
    assert ex.get_stop_order(sid)["status"] == "triggered"
    assert ex.full_book().bids == []
    assert ex.full_book().asks == []
    assert ex.last_trade_price() == 90


def test_stop_limit_spawns_limit_that_may_rest() -> None:
    ex = Exchange()
    sid = ex.submit_stop_limit("buy", 105, 106, 20).order_id  # 1
    assert ex.get_stop_order(sid)["limit_price"] == 106
    ex.submit_limit("sell", 106, 5)  # 2
    print_at(ex, 105)  # 3, 4 → trade ts 5; stop fires: order 5 (ts 6) buys 5 @106 (ts 7), rests 15
    o = ex.get_order(5)
    assert (o.side, o.price, o.original_quantity, o.filled_quantity, o.remaining_quantity, o.status, o.timestamp) == (
        "buy", 106, 20, 5, 15, "partiallyfilled", 6)
    assert level_rows(ex.full_book().bids) == [(106, 15, 1)]
    assert ex.last_trade_price() == 106
    assert cancel_row(ex.cancel(5)) == (True, 15, None)  # the spawned order is a regular order


def test_triggered_stop_trades_are_not_in_the_triggering_result() -> None:
    ex = Exchange()
    ex.submit_limit("buy", 95, 50)          # 1
    ex.submit_stop_market("sell", 100, 10)  # 2
    ex.submit_limit("sell", 100, 5)         # 3
    r = ex.submit_limit("buy", 100, 5)      # 4 → trade 1; stop spawns order 5 → trade 2 @95
    assert [t.trade_id for t in r.trades] == [1]
    assert [(t.trade_id, t.price, t.aggressor_order_id) for t in ex.trades()] == [(1, 100, 4), (2, 95, 5)]
    assert [e.kind for e in ex.events()] == ["submit_limit", "submit_stop_market", "submit_limit", "submit_limit"]


def test_plain_stop_triggers_immediately_when_price_is_through() -> None:
    ex = Exchange()
    print_at(ex, 100)  # 1, 2 → trade ts 3
    ex.submit_limit("sell", 101, 4)  # 3
    r = ex.submit_stop_market("buy", 99, 10)  # 4 → fires at once: order 5 buys 4 @101
    assert (r.order_id, r.status) == (4, "Triggered")
    assert ex.get_stop_order(4)["status"] == "triggered"
    assert [(t.price, t.quantity, t.aggressor_order_id) for t in ex.trades()] == [(100, 1, 2), (101, 4, 5)]
    assert ex.get_order(5).status == "cancelled"  # IOC remainder 6
    assert ex.last_trade_price() == 101
    r = ex.submit_stop_limit("sell", 102, 50, 1)  # sell stop 102 ≥ ltp 101 → Triggered; the limit rests
    assert (r.order_id, r.status) == (6, "Triggered")
    assert level_rows(ex.full_book().asks) == [(50, 1, 1)]
    r = ex.submit_stop_market("buy", 102, 1)  # 102 > 101 → not through
    assert r.status == "Pending"


def test_stops_fire_in_submission_order_across_sides() -> None:
    ex = Exchange()
    ex.submit_stop_limit("sell", 100, 10**6, 1)  # 1
    ex.submit_stop_limit("buy", 100, 1, 1)       # 2
    ex.submit_stop_limit("sell", 101, 10**6, 1)  # 3
    print_at(ex, 100)                            # 4, 5 → trade ts 6
    spawned = [ex.get_order(i) for i in (6, 7, 8)]
    assert [(o.side, o.timestamp) for o in spawned] == [("sell", 7), ("buy", 8), ("sell", 9)]
    assert [ex.get_stop_order(i)["status"] for i in (1, 2, 3)] == ["triggered"] * 3


def test_cascade_propagates_through_stop_trades() -> None:
    ex = Exchange()
    ex.submit_limit("buy", 98, 5)            # 1
    ex.submit_limit("buy", 96, 5)            # 2
    ex.submit_stop_market("sell", 100, 5)    # 3: fires on 100, trades @98
    ex.submit_stop_market("sell", 98, 5)     # 4: fires on 98 (second round), trades @96
    ex.submit_stop_market("sell", 90, 5)     # 5: stays pending
    print_at(ex, 100)
    assert [t.price for t in ex.trades()] == [100, 98, 96]
    assert [ex.get_stop_order(i)["status"] for i in (3, 4, 5)] == ["triggered", "triggered", "pending"]
    assert ex.last_trade_price() == 96


def test_cascade_is_bounded_at_100_rounds() -> None:
    """A 150-stop chain where each round fires exactly one stop: the cascade stops after 100 rounds."""
    assert CASCADE_LIMIT == 100
    ex = Exchange()
    for k in range(200):
        ex.submit_limit("buy", 10000 - k, 1)                 # ids 1..200
    for k in range(1, 151):
        ex.submit_stop_market("sell", 10000 - (k - 1), 1)    # ids 201..350, stop k fires on print 10001-k
    r = ex.submit_market("sell", 1)                          # prints 10000
    assert len(r.trades) == 1
    assert len(ex.trades()) == 101
    assert ex.pending_stop_count() == 50
    assert ex.last_trade_price() == 9900
    assert ex.get_stop_order(300)["status"] == "triggered"   # the 100th stop
    # Stop 301 (stop 9900) is already through the last price but waits: the cascade hit its bound.
    assert ex.get_stop_order(301) == {"id": 301, "side": "sell", "stop_price": 9900, "limit_price": None,
                                      "quantity": 1, "status": "pending", "timestamp": 301}
    assert ex.best_bid() == 9899
    ex.submit_market("sell", 1)  # next trade resumes: 9899 then 50 more stops, but only 100 rounds again
    assert ex.pending_stop_count() == 0
    assert len(ex.trades()) == 101 + 1 + 50


def test_cancel_pending_vs_triggered_stop() -> None:
    ex = Exchange()
    a = ex.submit_stop_market("sell", 50, 7).order_id   # 1
    b = ex.submit_stop_limit("buy", 100, 1, 9).order_id  # 2
    assert ex.pending_stop_count() == 2
    assert cancel_row(ex.cancel(a)) == (True, 7, None)
    assert ex.get_stop_order(a)["status"] == "cancelled"
    assert cancel_row(ex.cancel(a)) == (False, 0, "OrderNotFound")
    assert ex.pending_stop_count() == 1
    print_at(ex, 100)  # triggers b
    assert ex.get_stop_order(b)["status"] == "triggered"
    assert cancel_row(ex.cancel(b)) == (False, 0, "OrderNotFound")  # the spawned order has its own id
    assert ex.get_order(5).price == 1
    assert cancel_row(ex.cancel(5)) == (True, 9, None)
    assert ex.pending_stop_count() == 0
    # A cancelled stop never fires.
    print_at(ex, 10)
    assert ex.get_stop_order(a)["status"] == "cancelled"


# ---------------------------------------------------------------------------- trailing stops


def test_trailing_stop_never_triggers_at_submission() -> None:
    ex = Exchange()
    print_at(ex, 100)
    r = ex.submit_trailing_stop_market("sell", 200, 5, "fixed", 10.0)  # far through already
    assert r.status == "Pending"
    r2 = ex.submit_trailing_stop_limit("buy", 50, 60, 5, "percentage", 0.01)
    assert r2.status == "Pending"
    assert ex.pending_stop_count() == 2
    print_at(ex, 100)  # next trigger processing fires both
    assert ex.get_stop_order(r.order_id)["status"] == "triggered"
    assert ex.get_stop_order(r2.order_id)["status"] == "triggered"


def test_worked_example_fixed_200() -> None:
    """Sell, initial 98.00, Fixed 200: prints 102 → 100; 105 → 103; 104 → stays 103; 103 → triggers."""
    ex = Exchange()
    ex.submit_limit("buy", 5000, 100)  # liquidity for the stop's market sell
    sid = ex.submit_trailing_stop_market("sell", 9800, 10, "fixed", 200.0).order_id
    seen = []
    for p in (10200, 10500, 10400):
        print_at(ex, p)
        seen.append((stop_price(ex, sid), ex.get_stop_order(sid)["status"]))
    assert seen == [(10000, "pending"), (10300, "pending"), (10300, "pending")]
    print_at(ex, 10300)
    assert ex.get_stop_order(sid)["status"] == "triggered"
    assert ex.trades()[-1].price == 5000
    assert ex.trades()[-1].quantity == 10
    assert ex.last_trade_price() == 5000


def test_fixed_trail_value_is_truncated() -> None:
    ex = Exchange()
    sid = ex.submit_trailing_stop_market("buy", 10**6, 1, "fixed", 200.9).order_id
    print_at(ex, 1000)
    assert stop_price(ex, sid) == 1200
    assert ex.events()[0].trail_method == ("fixed", 200)


def test_adverse_first_print_never_loosens_the_stop() -> None:
    ex = Exchange()
    sid = ex.submit_trailing_stop_market("sell", 95, 1, "fixed", 3.0).order_id
    print_at(ex, 97)   # candidate 94 < 95 → stays
    assert stop_price(ex, sid) == 95
    print_at(ex, 99)   # candidate 96 → moves up
    assert stop_price(ex, sid) == 96
    print_at(ex, 98)   # watermark stays 99
    assert stop_price(ex, sid) == 96
    print_at(ex, 96)
    assert ex.get_stop_order(sid)["status"] == "triggered"


def test_buy_trailing_stop_ratchets_down() -> None:
    ex = Exchange()
    sid = ex.submit_trailing_stop_market("buy", 120, 1, "fixed", 5.0).order_id
    print_at(ex, 110)
    assert stop_price(ex, sid) == 115
    print_at(ex, 100)
    assert stop_price(ex, sid) == 105
    print_at(ex, 103)
    assert stop_price(ex, sid) == 105
    print_at(ex, 105)
    assert ex.get_stop_order(sid)["status"] == "triggered"


@pytest.mark.parametrize(("side", "price", "pct", "expected"), [
    ("sell", 111, 0.05, 111 - 6),       # 5.55 → 6, not 5
    ("sell", 250, 0.01, 250 - 3),       # exact tie 2.5 → 3 (banker's rounding would give 2)
    ("buy", 90, 0.05, 90 + 5),          # exact tie 4.5 → 5 (banker's would give 4)
    ("sell", 20000, 0.02, 19600),       # 2% from 200.00 → 196.00
])
def test_percentage_offset_rounds_half_away_from_zero(side: str, price: int, pct: float, expected: int) -> None:
    ex = Exchange()
    initial = 1 if side == "sell" else 10**6
    sid = ex.submit_trailing_stop_market(side, initial, 1, "percentage", pct).order_id
    print_at(ex, price)
    assert stop_price(ex, sid) == expected


def test_pct_alias_and_percentage_from_watermark() -> None:
    ex = Exchange()
    sid = ex.submit_trailing_stop_limit("sell", 1, 1, 1, "pct", 0.1).order_id
    for p in (1000, 1200, 1100):
        print_at(ex, p)
    assert stop_price(ex, sid) == 1080
    assert ex.events()[0].trail_method == ("percentage", 0.1)


def test_sma_abs_change_uses_last_k_absolute_changes_and_truncates() -> None:
    ex = Exchange()
    print_at(ex, 11100)  # first processed price: no change yet
    sid = ex.submit_trailing_stop_market("sell", 100, 10, "sma_abs_change", 2.0, 3).order_id
    seen = []
    for p in (11000, 11300, 11200, 11250):
        print_at(ex, p)
        seen.append(stop_price(ex, sid))
    # |Δp| history: 100, 300, 100, 50 → windows [100], [100,300], [100,300,100], [300,100,50]
    # offsets 200, 400, trunc(333.3)=333, 300; watermarks 11000, 11300, 11300, 11300.
    assert seen == [10800, 10900, 10967, 11000]


def test_sma_abs_change_empty_history_or_zero_period_never_moves() -> None:
    ex = Exchange()
    a = ex.submit_trailing_stop_market("sell", 100, 1, "sma_abs_change", 2.0, 0).order_id
    b = ex.submit_trailing_stop_market("sell", 100, 1, "atr", 2.0, 5).order_id
    print_at(ex, 1000)  # b: empty history → offset 0
    assert (stop_price(ex, a), stop_price(ex, b)) == (100, 100)
    print_at(ex, 1010)  # b: history [10] → offset 20 → 990
    assert (stop_price(ex, a), stop_price(ex, b)) == (100, 990)
    assert ex.events()[1].trail_method == ("sma_abs_change", 2.0, 5)


def test_immediate_trigger_path_appends_a_zero_change() -> None:
    """Quirk kept for parity: a plain stop triggering at submission re-processes the last price (|Δp| = 0)."""
    ex = Exchange()
    sid = ex.submit_trailing_stop_market("sell", 1, 1, "sma_abs_change", 1.0, 14).order_id
    print_at(ex, 100)
    print_at(ex, 110)  # history [10] → offset 10 → stop 100
    assert stop_price(ex, sid) == 100
    assert ex.submit_stop_limit("buy", 105, 1, 1).status == "Triggered"  # limit 1 rests, no trade
    assert stop_price(ex, sid) == 105  # history [10, 0] → offset 5 → 110 - 5


def test_trail_type_and_value_validation() -> None:
    ex = Exchange()
    message = r"^Invalid trail_type 'foo'\. Use 'fixed', 'percentage', or 'sma_abs_change'\.$"
    with pytest.raises(ValueError, match=message):
        ex.submit_trailing_stop_market("sell", 1, 1, "foo", 1.0)
    with pytest.raises(ValueError, match="atr_period is required"):
        ex.submit_trailing_stop_market("sell", 1, 1, "sma_abs_change", 1.0)
    with pytest.raises(ValueError, match="atr_period is required"):
        ex.submit_trailing_stop_limit("sell", 1, 1, 1, "atr", 1.0)
    with pytest.raises(TypeError):
        ex.submit_trailing_stop_market("sell", 1, 1, "fixed", "100")
    with pytest.raises(ValueError, match="Invalid side"):
        ex.submit_trailing_stop_market("hold", 1, 1, "fixed", 1.0)
    with pytest.raises(ValueError, match="Invalid time_in_force"):
        ex.submit_trailing_stop_limit("buy", 1, 1, 1, "fixed", 1.0, "day")
    with pytest.raises(TypeError):
        ex.submit_trailing_stop_market("sell", 1.5, 1, "fixed", 1.0)
    with pytest.raises(OverflowError):
        ex.submit_trailing_stop_market("sell", 1, -1, "fixed", 1.0)
    assert ex.events() == []
    assert ex.pending_stop_count() == 0


def test_trailing_stop_cancel_and_clear_history() -> None:
    ex = Exchange()
    a = ex.submit_trailing_stop_market("sell", 90, 3, "fixed", 5.0).order_id  # 1
    b = ex.submit_trailing_stop_market("sell", 50, 4, "fixed", 5.0).order_id  # 2
    assert cancel_row(ex.cancel(a)) == (True, 3, None)
    print_at(ex, 100)  # only b trails: 95
    assert (stop_price(ex, a), stop_price(ex, b)) == (90, 95)
    assert ex.clear_order_history() == 2  # the two filled print orders; stops are not counted
    assert ex.get_stop_order(a) is None
    assert ex.get_stop_order(b)["status"] == "pending"


def test_stops_replay_faithfully() -> None:
    ex = Exchange()
    ex.submit_limit("buy", 90, 100)
    ex.submit_trailing_stop_market("sell", 80, 5, "percentage", 0.05)
    ex.submit_trailing_stop_limit("sell", 80, 85, 5, "sma_abs_change", 1.5, "ioc", 4)
    ex.submit_stop_limit("buy", 120, 125, 5, "fok")
    for p in (100, 104, 99, 97, 95):
        print_at(ex, p)
    replayed = Exchange.replay(ex.events())
    for i in range(1, 40):
        assert replayed.get_stop_order(i) == ex.get_stop_order(i)
        assert order_row(replayed.get_order(i)) == order_row(ex.get_order(i))
    assert trade_rows(replayed.trades()) == trade_rows(ex.trades())
    assert replayed.last_trade_price() == ex.last_trade_price()
    assert replayed.pending_stop_count() == ex.pending_stop_count()
