"""Unit tests of engine.lob.exchange: matching, counters, results, STP, cancel/modify, validation, queries."""

from __future__ import annotations

import pickle

import pytest

from configs.errors import InputError
from engine.errors import LobValidationError
from engine.lob import CancelResult, Exchange, ModifyResult, Order, SubmitResult, Trade
from engine.lob.types import PRICE_MAX, PRICE_MIN
from tests.engine.lob.rows import book, cancel_row, level_rows, modify_row, order_row, submit_row, trade_rows

# ---------------------------------------------------------------------------- counters and matching


def test_shared_timestamp_counter_orders_then_trade() -> None:
    ex = Exchange()
    r1 = ex.submit_limit("sell", 10100, 100)
    r2 = ex.submit_limit("buy", 10100, 50)
    assert (r1.order_id, r2.order_id) == (1, 2)
    assert ex.get_order(1).timestamp == 1
    assert ex.get_order(2).timestamp == 2
    assert trade_rows(r2.trades) == [(1, 10100, 50, "buy", 2, 1, 3)]
    # The next order takes the timestamp after the trade.
    r3 = ex.submit_limit("buy", 9000, 1)
    assert r3.order_id == 3
    assert ex.get_order(3).timestamp == 4


def test_trade_at_resting_price_gives_aggressor_price_improvement() -> None:
    ex = Exchange()
    ex.submit_limit("sell", 10000, 10)
    r = ex.submit_limit("buy", 10500, 10)
    assert [t.price for t in r.trades] == [10000]
    ex.submit_limit("buy", 9900, 10)
    r = ex.submit_limit("sell", 9000, 10)
    assert [t.price for t in r.trades] == [9900]
    assert [t.aggressor_side for t in ex.trades()] == ["buy", "sell"]


def test_sweep_is_best_level_first_and_fifo_within_level() -> None:
    ex = Exchange()
    ex.submit_limit("sell", 10200, 30)  # 1
    ex.submit_limit("sell", 10100, 10)  # 2
    ex.submit_limit("sell", 10100, 20)  # 3
    ex.submit_limit("sell", 10300, 5)   # 4
    r = ex.submit_limit("buy", 10200, 100)  # 5
    assert trade_rows(r.trades) == [
        (1, 10100, 10, "buy", 5, 2, 6),
        (2, 10100, 20, "buy", 5, 3, 7),
        (3, 10200, 30, "buy", 5, 1, 8),
    ]
    assert (r.status, r.filled_quantity, r.resting_quantity, r.cancelled_quantity) == ("PartiallyFilled", 60, 40, 0)
    assert book(ex) == ([(10200, 40, 1)], [(10300, 5, 1)])
    assert ex.get_order(5).status == "partiallyfilled"
    assert ex.get_order(5).remaining_quantity == 40


def test_partial_fill_of_resting_order_keeps_its_queue_position() -> None:
    ex = Exchange()
    ex.submit_limit("sell", 100, 50)  # 1
    ex.submit_limit("sell", 100, 50)  # 2
    ex.submit_limit("buy", 100, 20)   # 3: partially fills 1
    r = ex.submit_limit("buy", 100, 40)  # 4: 30 from 1 first, then 10 from 2
    assert [(t.passive_order_id, t.quantity) for t in r.trades] == [(1, 30), (2, 10)]
    assert ex.get_order(1).status == "filled"
    assert ex.get_order(2).remaining_quantity == 40


def test_oracle_case_07_timestamps() -> None:
    ex = Exchange()
    for q in (30, 40, 50):
        ex.submit_limit("sell", 10000, q)
    r = ex.submit_limit("buy", 10000, 100)
    assert trade_rows(r.trades) == [(1, 10000, 30, "buy", 4, 1, 5), (2, 10000, 40, "buy", 4, 2, 6),
                                    (3, 10000, 30, "buy", 4, 3, 7)]
    assert ex.get_order(3).remaining_quantity == 20


def test_zero_quantity_submit_is_filled_without_trades() -> None:
    ex = Exchange()
    ex.submit_limit("sell", 100, 10)
    for r in (ex.submit_limit("buy", 100, 0), ex.submit_limit("buy", 100, 0, "fok"), ex.submit_market("buy", 0)):
        assert (r.status, r.trades, r.filled_quantity, r.resting_quantity, r.cancelled_quantity) == (
            "Filled", [], 0, 0, 0)
    assert [r.order_id for r in (ex.submit_limit("buy", 1, 0),)] == [5]
    assert ex.get_order(2).status == "filled"
    assert book(ex) == ([], [(100, 10, 1)])


def test_plain_submit_accepts_non_positive_prices_and_extremes() -> None:
    ex = Exchange()
    assert ex.submit_limit("sell", -5, 10).status == "New"
    assert ex.submit_limit("buy", PRICE_MIN, 10).status == "New"
    assert ex.submit_limit("sell", PRICE_MAX, 10).status == "New"
    assert ex.best_bid_ask() == (PRICE_MIN, -5)
    r = ex.submit_limit("buy", 0, 4)
    assert trade_rows(r.trades) == [(1, -5, 4, "buy", 4, 1, 5)]


# ---------------------------------------------------------------------------- market, IOC, FOK


def test_market_order_sweeps_and_never_rests() -> None:
    ex = Exchange()
    ex.submit_limit("sell", 10100, 50)
    ex.submit_limit("sell", 10200, 30)
    r = ex.submit_market("buy", 100)
    assert (r.order_id, r.status, r.filled_quantity, r.resting_quantity, r.cancelled_quantity) == (
        3, "PartiallyFilled", 80, 0, 20)
    assert [t.price for t in r.trades] == [10100, 10200]
    o = ex.get_order(3)
    assert (o.price, o.status, o.remaining_quantity, o.filled_quantity, o.time_in_force) == (
        PRICE_MAX, "cancelled", 0, 80, "ioc")
    assert book(ex) == ([], [])


def test_market_order_on_empty_book_is_cancelled_and_stores_sentinel_price() -> None:
    ex = Exchange()
    r = ex.submit_market("sell", 25)
    assert (r.order_id, r.status, r.trades, r.filled_quantity, r.resting_quantity, r.cancelled_quantity) == (
        1, "Cancelled", [], 0, 0, 25)
    assert ex.get_order(1).price == PRICE_MIN
    assert ex.get_order(1).status == "cancelled"


def test_b2_ioc_leftover_is_stored_terminal_but_result_says_partially_filled() -> None:
    """B2 fixed: an IOC remainder is cancelled in storage (remaining 0, filled kept); cancel/modify refuse it."""
    ex = Exchange()
    ex.submit_limit("sell", 10000, 50)
    r = ex.submit_limit("buy", 10000, 100, "ioc")
    assert (r.status, r.filled_quantity, r.resting_quantity, r.cancelled_quantity) == ("PartiallyFilled", 50, 0, 50)
    o = ex.get_order(2)
    assert (o.status, o.original_quantity, o.remaining_quantity, o.filled_quantity) == ("cancelled", 100, 0, 50)
    assert o.is_active is False
    assert cancel_row(ex.cancel(2)) == (False, 0, "OrderNotActive")
    m = ex.modify(2, 10000, 10)
    assert (m.success, m.new_order_id, m.error) == (False, None, "OrderNotActive")
    assert ex.active_order_count() == 0
    assert ex.submit_limit("buy", 1, 1).order_id == 3  # failed cancel/modify consumed no ids


def test_b2_market_leftover_cannot_be_cancelled_or_modified() -> None:
    ex = Exchange()
    ex.submit_limit("buy", 9900, 10)
    r = ex.submit_market("sell", 30)
    assert (r.status, r.filled_quantity, r.cancelled_quantity) == ("PartiallyFilled", 10, 20)
    assert ex.cancel(2).error == "OrderNotActive"
    assert ex.modify(2, 9900, 5).error == "OrderNotActive"


def test_ioc_with_no_cross_is_cancelled_and_not_on_book() -> None:
    ex = Exchange()
    ex.submit_limit("sell", 10100, 10)
    r = ex.submit_limit("buy", 10000, 10, "ioc")
    assert (r.status, r.cancelled_quantity, r.resting_quantity) == ("Cancelled", 10, 0)
    assert ex.get_order(2).status == "cancelled"
    assert book(ex) == ([], [(10100, 10, 1)])


def test_fok_reject_consumes_ghost_id_and_timestamp() -> None:
    ex = Exchange()
    ex.submit_limit("sell", 10000, 50)  # id 1, ts 1
    r = ex.submit_limit("buy", 10000, 100, "fok")  # ghost id 2, ts 2
    assert (r.order_id, r.status, r.trades, r.filled_quantity, r.resting_quantity, r.cancelled_quantity) == (
        2, "Cancelled", [], 0, 0, 100)
    assert ex.get_order(2) is None
    assert ex.cancel(2).error == "OrderNotFound"
    r = ex.submit_limit("buy", 10000, 50, "fok")  # id 3, ts 3 → trade ts 4
    assert (r.order_id, r.status) == (3, "Filled")
    assert trade_rows(r.trades) == [(1, 10000, 50, "buy", 3, 1, 4)]
    assert ex.get_order(3).timestamp == 3


def test_fok_counts_liquidity_across_levels_up_to_its_limit() -> None:
    ex = Exchange()
    ex.submit_limit("sell", 100, 30)
    ex.submit_limit("sell", 101, 30)
    ex.submit_limit("sell", 102, 30)
    assert ex.submit_limit("buy", 101, 61, "fok").status == "Cancelled"
    r = ex.submit_limit("buy", 101, 60, "fok")
    assert (r.status, [t.price for t in r.trades]) == ("Filled", [100, 101])
    assert book(ex) == ([], [(102, 30, 1)])


# ---------------------------------------------------------------------------- self-trade prevention


def _alice_bob(policy: str) -> tuple[Exchange, SubmitResult]:
    ex = Exchange()
    ex.submit_limit("sell", 10000, 30, owner=2)   # BOB, id 1
    ex.submit_limit("sell", 10000, 100, owner=1)  # ALICE, id 2
    r = ex.submit_limit("buy", 10000, 100, owner=1, stp_policy=policy)  # ALICE, id 3
    return ex, r


def test_stp_cancel_newest_stops_incoming_after_other_owner_fills() -> None:
    ex, r = _alice_bob("cancel_newest")
    assert (r.status, r.filled_quantity, r.resting_quantity, r.cancelled_quantity) == ("PartiallyFilled", 30, 0, 70)
    assert trade_rows(r.trades) == [(1, 10000, 30, "buy", 3, 1, 4)]
    o = ex.get_order(3)
    assert (o.status, o.remaining_quantity, o.filled_quantity, o.owner) == ("cancelled", 0, 30, 1)
    assert ex.get_order(2).remaining_quantity == 100
    assert book(ex) == ([], [(10000, 100, 1)])
    assert ex.cancel(3).error == "OrderNotActive"


def test_stp_cancel_oldest_cancels_resting_and_continues() -> None:
    ex, r = _alice_bob("cancel_oldest")
    assert (r.status, r.filled_quantity, r.resting_quantity, r.cancelled_quantity) == ("PartiallyFilled", 30, 70, 0)
    assert ex.get_order(2).status == "cancelled"
    assert ex.get_order(2).remaining_quantity == 0
    assert book(ex) == ([(10000, 70, 1)], [])


def test_stp_decrement_and_cancel_cancels_the_smaller_resting_on_ties() -> None:
    ex = Exchange()
    ex.submit_limit("sell", 10000, 100, owner=7)
    r = ex.submit_limit("buy", 10000, 50, owner=7, stp_policy="decrement_and_cancel")
    assert (r.status, r.cancelled_quantity, r.resting_quantity) == ("Cancelled", 50, 0)
    assert book(ex) == ([], [(10000, 100, 1)])  # the larger resting order is NOT decremented
    ex2 = Exchange()
    ex2.submit_limit("sell", 10000, 50, owner=7)
    r = ex2.submit_limit("buy", 10000, 50, owner=7, stp_policy="DecrementAndCancel")
    assert (r.status, r.resting_quantity) == ("New", 50)
    assert ex2.get_order(1).status == "cancelled"
    assert book(ex2) == ([(10000, 50, 1)], [])


def test_stp_needs_equal_owners_on_both_sides_and_a_policy() -> None:
    for resting_owner, owner, policy in ((1, 2, "cancel_newest"), (None, 1, "cancel_newest"),
                                         (1, None, "cancel_newest"), (1, 1, "off")):
        ex = Exchange()
        ex.submit_limit("sell", 100, 10, owner=resting_owner)
        r = ex.submit_limit("buy", 100, 10, owner=owner, stp_policy=policy)
        assert r.status == "Filled", (resting_owner, owner, policy)


def test_b3_fok_feasibility_honours_stp() -> None:
    """B3 fixed: an FOK that STP would cut short is rejected up front, never partly filled."""
    ex = Exchange()
    ex.submit_limit("sell", 100, 50, owner=2)  # 1
    ex.submit_limit("sell", 100, 50, owner=1)  # 2
    r = ex.submit_limit("buy", 100, 100, "fok", owner=1, stp_policy="cancel_newest")
    assert (r.order_id, r.status, r.trades, r.filled_quantity, r.cancelled_quantity) == (3, "Cancelled", [], 0, 100)
    assert ex.get_order(3) is None
    assert book(ex) == ([], [(100, 100, 2)])
    # CancelOldest: only the other owner's 50 is fillable → 100 rejected, own order untouched.
    r = ex.submit_limit("buy", 100, 100, "fok", owner=1, stp_policy="cancel_oldest")
    assert (r.status, r.trades) == ("Cancelled", [])
    assert ex.get_order(2).status == "new"
    # 50 is fillable with CancelOldest: it fills against owner 2 (first in queue) without touching owner 1.
    r = ex.submit_limit("buy", 100, 50, "fok", owner=1, stp_policy="cancel_oldest")
    assert (r.order_id, r.status, [t.passive_order_id for t in r.trades]) == (5, "Filled", [1])
    assert ex.get_order(2).status == "new"


def test_b3_fok_with_own_order_ahead_in_queue() -> None:
    ex = Exchange()
    ex.submit_limit("sell", 100, 40, owner=1)  # 1, own order first
    ex.submit_limit("sell", 100, 60, owner=2)  # 2
    assert ex.submit_limit("buy", 100, 60, "fok", owner=1, stp_policy="cancel_newest").status == "Cancelled"
    assert ex.submit_limit("buy", 100, 30, "fok", owner=1, stp_policy="decrement_and_cancel").status == "Cancelled"
    # DecrementAndCancel with incoming ≥ resting: own 40 cancelled, then 60 filled from owner 2.
    r = ex.submit_limit("buy", 100, 60, "fok", owner=1, stp_policy="decrement_and_cancel")
    assert (r.status, r.filled_quantity, [t.passive_order_id for t in r.trades]) == ("Filled", 60, [2])
    assert ex.get_order(1).status == "cancelled"
    assert book(ex) == ([], [])


def test_market_order_with_stp() -> None:
    ex = Exchange()
    ex.submit_limit("buy", 100, 10, owner=3)
    ex.submit_limit("buy", 99, 10, owner=4)
    r = ex.submit_market("sell", 15, owner=3, stp_policy="cancel_oldest")
    assert (r.status, r.filled_quantity, r.cancelled_quantity) == ("PartiallyFilled", 10, 5)
    assert [t.passive_order_id for t in r.trades] == [2]
    assert ex.get_order(1).status == "cancelled"


# ---------------------------------------------------------------------------- cancel


def test_cancel_resting_partial_and_errors() -> None:
    ex = Exchange()
    ex.submit_limit("sell", 10000, 100)  # 1
    ex.submit_limit("sell", 10000, 20)   # 2
    ex.submit_limit("buy", 10000, 30)    # 3 → 1 has 70 left
    r = ex.cancel(1)
    assert isinstance(r, CancelResult)
    assert (r.success, r.cancelled_quantity, r.error) == (True, 70, None)
    o = ex.get_order(1)
    assert (o.status, o.remaining_quantity, o.filled_quantity, o.original_quantity) == ("cancelled", 0, 30, 100)
    assert book(ex) == ([], [(10000, 20, 1)])
    assert cancel_row(ex.cancel(1)) == (False, 0, "OrderNotActive")
    assert cancel_row(ex.cancel(3)) == (False, 0, "OrderNotActive")  # filled
    assert cancel_row(ex.cancel(99)) == (False, 0, "OrderNotFound")
    assert cancel_row(ex.cancel(0)) == (False, 0, "OrderNotFound")
    assert repr(ex.cancel(2)) == "CancelResult(success=True, cancelled_quantity=20)"
    assert repr(ex.cancel(2)) == "CancelResult(success=False, error='OrderNotActive')"
    assert book(ex) == ([], [])
    assert ex.submit_limit("buy", 1, 1).order_id == 4  # cancels consume no ids


@pytest.mark.parametrize("bad", [True, 2.0, "1", None, -1, 2**64])
@pytest.mark.parametrize("call", ["cancel", "modify", "reduce"])
def test_order_id_must_be_an_unsigned_64_bit_int_and_a_refusal_is_not_logged(bad: object, call: str) -> None:
    """A refused id never reaches the event log, so events(), save and replay keep working (both code paths)."""
    ex = Exchange()
    ex.submit_limit("buy", 100, 10)
    args = {"cancel": (bad,), "modify": (bad, 101, 5), "reduce": (bad, 1)}[call]
    with pytest.raises(OverflowError if isinstance(bad, int) and not isinstance(bad, bool) else TypeError,
                       match="order_id"):
        getattr(ex, call)(*args)
    assert len(ex.events()) == 1
    assert Exchange.replay(ex.events()).full_book() == ex.full_book()


def test_cancel_middle_of_level_keeps_fifo_of_the_rest() -> None:
    ex = Exchange()
    for q in (10, 20, 30):
        ex.submit_limit("buy", 500, q)
    assert ex.cancel(2).cancelled_quantity == 20
    assert book(ex) == ([(500, 40, 2)], [])
    r = ex.submit_limit("sell", 500, 40)
    assert [(t.passive_order_id, t.quantity) for t in r.trades] == [(1, 10), (3, 30)]
    assert all(t.quantity > 0 for t in ex.trades())


def test_b1_cancel_after_fills_addresses_the_right_order() -> None:
    """B1 fixed (the reference hangs here): cancel by id after a fill popped an earlier order."""
    ex = Exchange()
    for _ in range(3):
        ex.submit_limit("sell", 100, 100)  # ids 1-3
    assert ex.submit_limit("buy", 100, 100).status == "Filled"  # fills 1
    assert cancel_row(ex.cancel(2)) == (True, 100, None)
    assert book(ex) == ([], [(100, 100, 1)])
    r = ex.submit_limit("buy", 100, 50)
    assert trade_rows(r.trades) == [(2, 100, 50, "buy", 5, 3, 7)]
    assert ex.get_order(3).remaining_quantity == 50
    assert ex.get_order(2).filled_quantity == 0
    assert all(t.quantity > 0 for t in ex.trades())


def test_b1_cancel_after_partial_fill_and_compact() -> None:
    ex = Exchange()
    for _ in range(4):
        ex.submit_limit("buy", 200, 10)  # 1-4
    ex.cancel(1)
    ex.submit_limit("sell", 200, 15)  # 5: fills 2, half of 3
    ex.compact()
    assert cancel_row(ex.cancel(4)) == (True, 10, None)
    assert cancel_row(ex.cancel(3)) == (True, 5, None)
    assert book(ex) == ([], [])
    assert ex.submit_market("sell", 5).status == "Cancelled"


# ---------------------------------------------------------------------------- modify


def test_modify_validation_order_and_errors() -> None:
    ex = Exchange()
    ex.submit_limit("sell", 100, 10)
    ex.submit_stop_market("sell", 50, 5)  # id 2 is a stop
    assert modify_row(ex.modify(99, 100, 0)) == (False, 99, None, 0, [], "InvalidQuantity")  # checked first
    assert modify_row(ex.modify(99, 100, 5)) == (False, 99, None, 0, [], "OrderNotFound")
    assert ex.modify(2, 100, 5).error == "OrderNotFound"  # stops cannot be modified
    ex.cancel(1)
    assert ex.modify(1, 100, 5).error == "OrderNotActive"
    assert ex.submit_limit("buy", 1, 1).order_id == 3  # failures consumed nothing
    assert [e.kind for e in ex.events()].count("modify") == 4  # every modify is logged


def test_modify_is_cancel_and_replace_losing_priority() -> None:
    ex = Exchange()
    ex.submit_limit("buy", 100, 50)  # 1
    ex.submit_limit("buy", 100, 50)  # 2
    m = ex.modify(1, 100, 40)  # pure size decrease still goes to the back
    assert isinstance(m, ModifyResult)
    assert (m.success, m.old_order_id, m.new_order_id, m.cancelled_quantity, m.trades, m.error) == (
        True, 1, 3, 50, [], None)
    assert repr(m) == "ModifyResult(success=True, old=1, new=3, trades=0)"
    new = ex.get_order(3)
    assert (new.side, new.price, new.original_quantity, new.timestamp, new.time_in_force) == ("buy", 100, 40, 3, "gtc")
    assert ex.get_order(1).status == "cancelled"
    r = ex.submit_limit("sell", 100, 60)
    assert [(t.passive_order_id, t.quantity) for t in r.trades] == [(2, 50), (3, 10)]


def test_modify_of_partially_filled_order_cancels_only_the_remainder() -> None:
    ex = Exchange()
    ex.submit_limit("sell", 100, 100)  # 1
    ex.submit_limit("buy", 100, 30)    # 2
    m = ex.modify(1, 101, 100)
    assert (m.cancelled_quantity, m.new_order_id) == (70, 3)
    o = ex.get_order(1)
    assert (o.status, o.filled_quantity, o.remaining_quantity) == ("cancelled", 30, 0)
    assert book(ex) == ([], [(101, 100, 1)])


def test_modify_that_crosses_trades_immediately() -> None:
    ex = Exchange()
    ex.submit_limit("sell", 105, 10)  # 1
    ex.submit_limit("buy", 100, 20)   # 2
    m = ex.modify(2, 106, 20)
    assert trade_rows(m.trades) == [(1, 105, 10, "buy", 3, 1, 4)]
    assert book(ex) == ([(106, 10, 1)], [])
    assert ex.last_trade_price() == 105


def test_modify_carries_owner_and_stp_policy_over() -> None:
    ex = Exchange()
    ex.submit_limit("sell", 105, 10, owner=9)                                  # 1
    ex.submit_limit("buy", 100, 20, owner=9, stp_policy="cancel_newest")       # 2
    m = ex.modify(2, 106, 20)
    assert (m.success, m.new_order_id, m.trades) == (True, 3, [])
    new = ex.get_order(3)
    assert (new.owner, new.status, new.remaining_quantity) == (9, "cancelled", 0)
    assert book(ex) == ([], [(105, 10, 1)])


def test_b5_trading_modify_fires_stops_live_as_on_replay() -> None:
    """B5 fixed: modify that trades updates last_trade_price and triggers stops (reference: neither, live)."""
    ex = Exchange()
    ex.submit_limit("sell", 105, 10)          # 1
    ex.submit_limit("buy", 90, 50)            # 2
    ex.submit_limit("buy", 100, 10)           # 3
    assert ex.submit_stop_market("buy", 105, 5).status == "Pending"  # 4
    m = ex.modify(3, 105, 10)                 # new id 5 trades 10 @105 → stop fires
    assert [t.price for t in m.trades] == [105]
    assert ex.last_trade_price() == 105
    assert ex.get_stop_order(4)["status"] == "triggered"
    assert ex.pending_stop_count() == 0
    assert ex.get_order(6).status == "cancelled"  # spawned market buy found an empty ask side
    replayed = Exchange.replay(ex.events())
    assert replayed.get_stop_order(4) == ex.get_stop_order(4)
    assert trade_rows(replayed.trades()) == trade_rows(ex.trades())
    assert replayed.last_trade_price() == 105


# ---------------------------------------------------------------------------- validation


def test_bad_side_and_tif_raise_value_error_with_reference_text() -> None:
    ex = Exchange()
    with pytest.raises(ValueError, match=r"^Invalid side 'x'\. Use 'buy' or 'sell'\.$"):
        ex.submit_limit("x", 1, 1)
    with pytest.raises(ValueError, match=r"^Invalid time_in_force 'day'\. Use 'gtc', 'ioc', or 'fok'\.$"):
        ex.submit_limit("buy", 1, 1, "day")
    with pytest.raises(ValueError, match="Invalid side"):
        ex.submit_market("long", 1)
    with pytest.raises(ValueError, match="Invalid stp_policy 'bogus'"):
        ex.submit_limit("buy", 1, 1, stp_policy="bogus")
    with pytest.raises(ValueError, match="Invalid side"):
        ex.submit_stop_market("up", 1, 1)
    with pytest.raises(ValueError, match="Invalid time_in_force"):
        ex.submit_stop_limit("buy", 1, 1, 1, "gtd")
    assert ex.events() == []  # rejected calls are not logged


def test_side_and_tif_aliases_are_case_insensitive() -> None:
    ex = Exchange()
    assert ex.get_order(ex.submit_limit("B", 1, 1, "GTC").order_id).side == "buy"
    assert ex.get_order(ex.submit_limit("SELL", 9, 1, "Gtc").order_id).side == "sell"
    assert ex.get_order(ex.submit_limit("s", 10, 1, "IoC").order_id).time_in_force == "ioc"
    assert ex.submit_limit("bUy", 1, 1, "fOk").status == "Cancelled"


def test_numeric_argument_types_and_ranges() -> None:
    ex = Exchange()
    with pytest.raises(TypeError, match="price must be an int"):
        ex.submit_limit("buy", 100.0, 1)
    with pytest.raises(TypeError):
        ex.submit_limit("buy", True, 1)
    with pytest.raises(TypeError):
        ex.submit_limit("buy", 100, 1.5)
    with pytest.raises(OverflowError):
        ex.submit_limit("buy", 100, -1)
    with pytest.raises(OverflowError):
        ex.submit_market("buy", -1)
    with pytest.raises(OverflowError):
        ex.submit_limit("buy", 100, 2**64)
    with pytest.raises(OverflowError):
        ex.submit_limit("buy", 2**63, 1)
    with pytest.raises(OverflowError):
        ex.modify(1, 100, -5)
    with pytest.raises(TypeError):
        ex.modify(1, 100.5, 5)
    with pytest.raises(OverflowError):
        ex.submit_stop_market("buy", 100, -1)
    with pytest.raises(TypeError):
        ex.submit_stop_limit("buy", 100, 99.0, 1)
    with pytest.raises(ValueError, match="owner"):
        ex.submit_limit("buy", 1, 1, owner=-1)
    with pytest.raises(ValueError, match="owner"):
        ex.submit_limit("buy", 1, 1, owner=2**32)
    assert ex.submit_limit("buy", 1, 2**64 - 1, owner=2**32 - 1).resting_quantity == 2**64 - 1
    assert len(ex.events()) == 1


def test_try_submit_limit_validation_codes() -> None:
    ex = Exchange()
    with pytest.raises(LobValidationError) as info:
        ex.try_submit_limit("buy", 0, 0)
    assert info.value.code == "ZeroQuantity"  # checked before the price
    assert str(info.value) == "quantity must be greater than zero"
    for price in (0, -100):
        with pytest.raises(LobValidationError) as info:
            ex.try_submit_limit("sell", price, 10)
        assert info.value.code == "ZeroPrice"
        assert str(info.value) == "price must be greater than zero"
    assert isinstance(info.value, ValueError)
    assert isinstance(info.value, InputError)
    assert ex.events() == []
    r = ex.try_submit_limit("sell", 100, 10, "gtc", owner=1)
    assert (r.order_id, r.status) == (1, "New")
    assert [e.kind for e in ex.events()] == ["submit_limit"]


def test_try_submit_market_validation() -> None:
    ex = Exchange()
    with pytest.raises(LobValidationError) as info:
        ex.try_submit_market("buy", 0)
    assert info.value.code == "ZeroQuantity"
    ex.submit_limit("sell", 100, 10)
    r = ex.try_submit_market("buy", 4)
    assert (r.status, r.filled_quantity) == ("Filled", 4)


# ---------------------------------------------------------------------------- result objects


def test_submit_result_attributes_helpers_and_repr() -> None:
    ex = Exchange()
    r = ex.submit_limit("sell", 10000, 100)
    assert r._fields == ("order_id", "status", "trades", "filled_quantity", "resting_quantity", "cancelled_quantity")
    assert (r.has_trades, r.is_resting, r.is_fully_filled) == (False, True, False)
    assert repr(r) == "SubmitResult(order_id=1, status='New', filled=0, resting=100, cancelled=0, trades=0)"
    r = ex.submit_limit("buy", 10000, 30)
    assert (r.has_trades, r.is_resting, r.is_fully_filled) == (True, False, True)
    assert repr(r) == "SubmitResult(order_id=2, status='Filled', filled=30, resting=0, cancelled=0, trades=1)"
    assert submit_row(pickle.loads(pickle.dumps(r))) == submit_row(r)


def test_trade_attributes_and_texts() -> None:
    ex = Exchange()
    ex.submit_limit("sell", 10050, 100)
    t = ex.submit_limit("buy", 10050, 30).trades[0]
    assert isinstance(t, Trade)
    assert (t.trade_id, t.id, t.price, t.quantity, t.aggressor_side, t.aggressor_order_id, t.passive_order_id,
            t.timestamp) == (1, 1, 10050, 30, "buy", 2, 1, 3)
    assert t.price_float == 100.5
    assert t.passive_side == "sell"
    assert t.notional() == 301_500
    assert repr(t) == "Trade(id=1, price=$100.50, qty=30, side='buy')"
    assert str(t) == "T1: 30 bought @ $100.50 (aggressor O2)"
    ex.submit_limit("buy", -250, 4)
    t2 = ex.submit_limit("sell", -300, 4).trades[0]
    assert repr(t2) == "Trade(id=2, price=-$2.50, qty=4, side='sell')"
    assert str(t2) == "T2: 4 sold @ -$2.50 (aggressor O4)"
    assert t2.notional() == -1000


def test_trade_notional_overflow() -> None:
    ex = Exchange()
    ex.submit_limit("sell", 2**62, 4)
    t = ex.submit_limit("buy", 2**62, 2).trades[0]
    with pytest.raises(OverflowError, match=f"NotionalOverflow: price={2**62} quantity=2"):
        t.notional()


def test_order_view_fields_and_repr() -> None:
    ex = Exchange()
    ex.submit_limit("sell", 10000, 100, "gtc", owner=5)
    ex.submit_limit("buy", 10000, 30)
    o = ex.get_order(1)
    assert isinstance(o, Order)
    assert order_row(o) == (1, "sell", 10000, 100, 70, 30, "partiallyfilled", "gtc", 1, 5)
    assert o.is_active is True
    assert repr(o) == "Order(id=1, side=sell, price=10000, qty=30/100, status=partiallyfilled)"
    assert repr(ex.get_order(2)) == "Order(id=2, side=buy, price=10000, qty=30/30, status=filled)"
    assert ex.get_order(2).owner is None
    assert ex.get_order(3) is None


# ---------------------------------------------------------------------------- queries and memory


def test_bbo_spread_depth_and_snapshot_immutability() -> None:
    ex = Exchange()
    assert (ex.best_bid(), ex.best_ask(), ex.best_bid_ask(), ex.spread()) == (None, None, (None, None), None)
    for p in (9900, 9800, 9700):
        ex.submit_limit("buy", p, 10)
        ex.submit_limit("buy", p, 5)
    ex.submit_limit("sell", 10100, 7)
    assert (ex.best_bid(), ex.best_ask(), ex.spread()) == (9900, 10100, 200)
    snap = ex.depth(2)
    assert level_rows(snap.bids) == [(9900, 15, 2), (9800, 15, 2)]
    assert level_rows(snap.asks) == [(10100, 7, 1)]
    assert level_rows(ex.depth().bids) == [(9900, 15, 2), (9800, 15, 2), (9700, 15, 2)]
    assert ex.depth(0).bids == []
    assert len(ex.full_book().bids) == 3
    ex.submit_limit("sell", 9800, 40)
    assert level_rows(snap.bids) == [(9900, 15, 2), (9800, 15, 2)]  # snapshot did not change
    assert level_rows(ex.depth(5).bids) == [(9700, 15, 2)]
    assert level_rows(ex.depth(5).asks) == [(9800, 10, 1), (10100, 7, 1)]
    assert ex.active_order_count() == 4


def test_clear_trades_keeps_last_trade_price_and_trade_ids_continue() -> None:
    ex = Exchange()
    ex.submit_limit("sell", 100, 10)
    ex.submit_limit("buy", 100, 4)
    ex.clear_trades()
    assert ex.trades() == []
    assert ex.last_trade_price() == 100
    r = ex.submit_limit("buy", 100, 1)
    assert trade_rows(r.trades) == [(2, 100, 1, "buy", 3, 1, 5)]
    assert len(ex.trades()) == 1


def test_clear_order_history_counts_regular_orders_only() -> None:
    ex = Exchange()
    ex.submit_limit("sell", 100, 10)          # 1 filled below
    ex.submit_limit("buy", 100, 10)           # 2 filled
    ex.submit_limit("buy", 90, 10)            # 3 cancelled
    ex.cancel(3)
    ex.submit_limit("buy", 80, 10)            # 4 resting (kept)
    ex.submit_limit("buy", 1, 5, "ioc")       # 5 cancelled IOC
    ex.submit_stop_market("sell", 10, 1)      # 6 pending stop (kept)
    ex.submit_stop_market("sell", 11, 1)      # 7 stop, cancelled → dropped, not counted
    ex.cancel(7)
    assert ex.clear_order_history() == 4
    assert [ex.get_order(i) is None for i in (1, 2, 3, 4, 5)] == [True, True, True, False, True]
    assert ex.get_stop_order(6)["status"] == "pending"
    assert ex.get_stop_order(7) is None
    assert ex.cancel(3).error == "OrderNotFound"  # was OrderNotActive before the clear
    assert ex.clear_order_history() == 0
    assert cancel_row(ex.cancel(4)) == (True, 10, None)


def test_clear_order_history_then_match_through_a_level_holding_a_cancelled_order() -> None:
    """ENGINE BUG: cancel leaves the id in its level queue (lazy removal) but clear_order_history drops the
    record, so the next order matching through that level raises KeyError instead of trading."""
    ex = Exchange()
    ex.submit_limit("sell", 100, 10)  # 1
    ex.submit_limit("sell", 100, 10)  # 2
    ex.cancel(1)
    assert ex.clear_order_history() == 1
    r = ex.submit_limit("buy", 100, 5)
    assert trade_rows(r.trades) == [(1, 100, 5, "buy", 3, 2, 4)]


def test_clear_order_history_then_match_after_modify() -> None:
    """ENGINE BUG (same cause): modify's cancel-and-replace leaves the old id queued; after clearing history
    a market order through that level raises KeyError."""
    ex = Exchange()
    ex.submit_limit("buy", 100, 10)  # 1
    ex.submit_limit("buy", 100, 10)  # 2
    assert ex.modify(1, 100, 5).new_order_id == 3
    ex.clear_order_history()
    r = ex.submit_market("sell", 15)
    assert [(t.passive_order_id, t.quantity) for t in r.trades] == [(2, 10), (3, 5)]


def test_compact_after_clear_order_history() -> None:
    """ENGINE BUG (same cause): compact() raises KeyError on a queued id whose record was cleared."""
    ex = Exchange()
    ex.submit_limit("sell", 100, 10)
    ex.submit_limit("sell", 100, 10)
    ex.cancel(1)
    ex.clear_order_history()
    ex.compact()
    assert book(ex) == ([], [(100, 10, 1)])


def test_fok_with_stp_after_clear_order_history() -> None:
    """ENGINE BUG (same cause): the STP-aware FOK feasibility scan raises KeyError on a cleared queued id."""
    ex = Exchange()
    ex.submit_limit("sell", 100, 10, owner=1)  # 1
    ex.submit_limit("sell", 100, 10)           # 2
    ex.cancel(1)
    ex.clear_order_history()
    r = ex.submit_limit("buy", 100, 5, "fok", owner=1, stp_policy="cancel_newest")
    assert (r.status, r.filled_quantity) == ("Filled", 5)


def test_numpy_integer_arguments_are_accepted_like_the_reference() -> None:
    """ENGINE DIVERGENCE: the reference (PyO3) accepts any integer with __index__, e.g. numpy.int64 from a
    DataFrame; engine.lob raises TypeError. (bool is rejected on purpose and stays a TypeError.)"""
    np = pytest.importorskip("numpy")
    ex = Exchange()
    r = ex.submit_limit("sell", np.int64(10000), np.int64(5))
    assert (r.order_id, r.resting_quantity) == (1, 5)
    assert ex.submit_market("buy", np.uint64(2)).filled_quantity == 2
    assert ex.modify(1, np.int64(10100), np.int64(3)).success is True


def test_compact_has_no_observable_effect() -> None:
    ex = Exchange()
    for q in (10, 20, 30, 40):
        ex.submit_limit("sell", 100, q)
    ex.cancel(1)
    ex.cancel(3)
    before = (book(ex), ex.best_bid_ask(), [order_row(ex.get_order(i)) for i in range(1, 5)])
    assert ex.compact() is None
    assert (book(ex), ex.best_bid_ask(), [order_row(ex.get_order(i)) for i in range(1, 5)]) == before
    r = ex.submit_limit("buy", 100, 60)
    assert [(t.passive_order_id, t.quantity) for t in r.trades] == [(2, 20), (4, 40)]


def test_exchange_repr() -> None:
    ex = Exchange()
    ex.submit_limit("buy", 99, 1)
    ex.submit_limit("sell", 101, 1)
    assert repr(ex) == "Exchange(bid=99, ask=101, orders=2, trades=0)"
