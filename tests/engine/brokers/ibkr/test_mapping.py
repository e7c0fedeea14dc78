"""engine.brokers.ibkr.mapping: ib_async objects ↔ broker value types, the error table and the order-state rules."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st
from ib_async import (
    AccountValue,
    CommissionReport,
    Contract,
    ContractDetails,
    Execution,
    LimitOrder,
    OrderStatus,
    Stock,
    Ticker,
    Trade,
)
from ib_async import Position as IbPosition
from ib_async.objects import TradeLogEntry
from ib_async.util import UNSET_DOUBLE

from engine.brokers.base import BrokerOrder, Fill, OrderRequest, OrderState
from engine.brokers.ibkr import mapping as m
from engine.brokers.ibkr.mapping import ErrorKind, OrderFacts

T0 = datetime(2026, 11, 24, 15, 30, tzinfo=UTC)


def facts(status: str = "Submitted", qty: str = "10", **kw: object) -> OrderFacts:
    base: dict[str, object] = {"order_id": "7", "client_order_id": "cid-1", "symbol": "AAPL", "side": "buy",
                               "quantity": Decimal(qty), "limit_price": Decimal("185.03"), "status": status}
    base.update(kw)
    return OrderFacts(**base)  # type: ignore[arg-type]


def fill(exec_id: str, qty: str, px: str = "185.00") -> Fill:
    return Fill(fill_id=exec_id, order_id="7", client_order_id="cid-1", symbol="AAPL", side="buy",
                quantity=Decimal(qty), price=Decimal(px), commission=Decimal("0.35"), ts=T0)


# ---------------------------------------------------------------------------------------------------- errors


@pytest.mark.parametrize(("code", "kind"), [
    (100, ErrorKind.PACING), (200, ErrorKind.UNKNOWN_SYMBOL), (201, ErrorKind.REJECTED),
    (202, ErrorKind.CANCELLED), (326, ErrorKind.CLIENT_ID_IN_USE), (1100, ErrorKind.CONNECTIVITY_LOST),
    (1101, ErrorKind.CONNECTIVITY_RESTORED), (1102, ErrorKind.CONNECTIVITY_RESTORED),
    (10148, ErrorKind.CANNOT_CANCEL), (161, ErrorKind.CANNOT_CANCEL), (2104, ErrorKind.INFO),
    (2158, ErrorKind.INFO), (354, ErrorKind.OTHER),
])
def test_error_codes_are_classified(code: int, kind: ErrorKind) -> None:
    assert m.classify(code) is kind


# ---------------------------------------------------------------------------------------------------- numbers


def test_decimals_come_from_the_wire_text_not_float_arithmetic() -> None:
    assert str(m.dec(185.03)) == "185.03"
    assert str(m.dec(0.1)) == "0.1"
    assert str(m.dec(2.0)) == "2"
    assert str(m.dec("1.2300")) == "1.2300"
    with pytest.raises(ValueError):
        m.dec(math.nan)


@pytest.mark.parametrize("raw", [math.nan, -1.0, 0.0, UNSET_DOUBLE, math.inf, None])
def test_no_value_markers_are_none(raw: float | None) -> None:
    assert m.price(raw) is None


@given(st.decimals(min_value=Decimal("0.0001"), max_value=Decimal("99999"), places=4))
def test_price_round_trips_any_wire_price(value: Decimal) -> None:
    assert m.price(float(str(value))) == value


def test_utc_normalises_naive_and_foreign_times() -> None:
    assert m.utc(datetime(2026, 1, 1, 12)) == datetime(2026, 1, 1, 12, tzinfo=UTC)
    est = timezone(timedelta(hours=-5))
    converted = m.utc(datetime(2026, 1, 1, 7, tzinfo=est))
    assert converted == datetime(2026, 1, 1, 12, tzinfo=UTC)
    assert converted.utcoffset() == timedelta(0)


@pytest.mark.parametrize(("action", "side"), [("BUY", "buy"), ("BOT", "buy"), ("SELL", "sell"), ("SLD", "sell")])
def test_actions_map_to_sides(action: str, side: str) -> None:
    assert m.side(action) == side


def test_unknown_action_is_an_error() -> None:
    with pytest.raises(ValueError):
        m.side("HOLD")


# ---------------------------------------------------------------------------------------------------- requests


def test_stock_contract_is_a_smart_routed_us_stock() -> None:
    c = m.stock("AAPL")
    assert (c.symbol, c.secType, c.exchange, c.currency) == ("AAPL", "STK", "SMART", "USD")


def test_limit_order_carries_the_client_id_as_order_ref_and_an_exact_price() -> None:
    req = OrderRequest(client_order_id="rebal-1-AAPL-B", symbol="AAPL", side="sell", quantity=Decimal(3),
                       limit_price=Decimal("1E+2"), time_in_force="gtc")
    order = m.limit_order(req, "DU123")
    assert order.orderRef == "rebal-1-AAPL-B"
    assert (order.action, order.orderType, order.tif, order.account) == ("SELL", "LMT", "GTC", "DU123")
    assert order.totalQuantity == 3
    assert isinstance(order.lmtPrice, Decimal)
    assert str(order.lmtPrice) == "100"     # never "1E+2" on the wire
    assert order.transmit
    day = m.limit_order(OrderRequest(client_order_id="x", symbol="AAPL", side="buy", quantity=Decimal(1),
                                     limit_price=Decimal("0.07")), "DU123")
    assert day.tif == "DAY"
    assert str(day.lmtPrice) == "0.07"


# ---------------------------------------------------------------------------------------------------- order state


@pytest.mark.parametrize(("status", "filled", "state"), [
    ("PendingSubmit", "0", OrderState.PENDING),
    ("PreSubmitted", "0", OrderState.SUBMITTED),
    ("Submitted", "0", OrderState.SUBMITTED),
    ("Submitted", "4", OrderState.PARTIALLY_FILLED),
    ("PendingCancel", "0", OrderState.SUBMITTED),
    ("Submitted", "10", OrderState.FILLED),         # fills are proof even when the status lags
    ("Filled", "0", OrderState.FILLED),
    ("Cancelled", "0", OrderState.CANCELLED),
    ("Cancelled", "4", OrderState.CANCELLED),
    ("ApiCancelled", "0", OrderState.CANCELLED),
    ("Inactive", "0", OrderState.REJECTED),
    ("Inactive", "2", OrderState.CANCELLED),
])
def test_order_state_from_status_and_fills(status: str, filled: str, state: OrderState) -> None:
    assert m.order_state(facts(status), Decimal(filled))[0] is state


def test_error_201_is_a_rejection_with_its_reason_and_202_a_cancel() -> None:
    state, reason = m.order_state(facts("Cancelled", error_code=201, error_text="Order rejected - no funds"),
                                  Decimal(0))
    assert state is OrderState.REJECTED
    assert reason is not None
    assert "201" in reason
    assert "no funds" in reason
    assert m.order_state(facts("PendingCancel", error_code=202, error_text="Order Canceled"),
                         Decimal(0))[0] is OrderState.CANCELLED


def test_quantities_come_from_fills() -> None:
    order = m.broker_order(facts("Submitted"), [fill("e1", "4", "185.00"), fill("e2", "2", "186.00")])
    assert order.filled_quantity == 6
    assert order.avg_fill_price == (Decimal(4) * Decimal("185.00") + Decimal(2) * Decimal("186.00")) / 6
    assert order.state is OrderState.PARTIALLY_FILLED
    assert order.remaining == 4


def test_twss_cumulative_count_is_used_only_while_executions_lag() -> None:
    lagging = m.broker_order(facts("Filled", status_filled=Decimal(10), status_avg_price=Decimal("185.01")), [])
    assert lagging.filled_quantity == 10
    assert lagging.avg_fill_price == Decimal("185.01")
    stale = m.broker_order(facts("Submitted", status_filled=Decimal(0)), [fill("e1", "10")])
    assert stale.filled_quantity == 10
    assert stale.state is OrderState.FILLED


def test_a_late_submitted_after_filled_does_not_reopen() -> None:
    done = m.broker_order(facts("Filled"), [fill("e1", "10")])
    late = m.broker_order(facts("Submitted"), [], previous=done)
    assert late.state is OrderState.FILLED
    assert late.filled_quantity == 10
    assert late == done


def test_cancelled_stays_cancelled_unless_fills_prove_a_full_fill() -> None:
    cancelled = m.broker_order(facts("Cancelled"), [fill("e1", "4")])
    assert m.broker_order(facts("Filled"), [fill("e1", "4")], previous=cancelled).state is OrderState.CANCELLED
    assert m.broker_order(facts("Submitted"), [fill("e1", "4")], previous=cancelled).state is OrderState.CANCELLED
    raced = m.broker_order(facts("Cancelled"), [fill("e1", "4"), fill("e2", "6")], previous=cancelled)
    assert raced.state is OrderState.FILLED


@given(status=st.sampled_from(["", "PendingSubmit", "PreSubmitted", "Submitted", "PendingCancel", "Filled",
                               "Cancelled", "ApiCancelled", "Inactive", "ValidationError"]),
       prior=st.sampled_from([OrderState.FILLED, OrderState.CANCELLED, OrderState.REJECTED]),
       filled=st.integers(min_value=0, max_value=9), extra=st.integers(min_value=0, max_value=3))
def test_terminal_states_are_sticky_for_any_later_report(status: str, prior: OrderState, filled: int,
                                                         extra: int) -> None:
    previous = BrokerOrder(order_id="7", client_order_id="cid-1", symbol="AAPL", side="buy", quantity=Decimal(10),
                           limit_price=Decimal("185.03"), filled_quantity=Decimal(filled), avg_fill_price=None,
                           state=prior)
    fills = [fill(f"e{i}", "1") for i in range(filled + extra)]
    later = m.broker_order(facts(status), fills, previous=previous)
    assert later.state.is_terminal
    assert later.filled_quantity >= previous.filled_quantity
    if later.state is not prior:
        assert later.state is OrderState.FILLED
        assert later.filled_quantity >= later.quantity


def _trade(status: str, log: list[TradeLogEntry], **order_kw: object) -> Trade:
    order = LimitOrder("BUY", 10, 185.03, orderRef="cid-1", **order_kw)
    order.orderId, order.permId = 7, 900
    return Trade(contract=Stock("AAPL", "SMART", "USD"), order=order,
                 orderStatus=OrderStatus(orderId=7, status=status), log=log)


def test_facts_of_a_rejected_trade_carry_the_reason() -> None:
    log = [TradeLogEntry(T0, "PendingSubmit"),
           TradeLogEntry(T0, "Cancelled", "Error 201, reqId 7: Order rejected - reason: no funds", 201)]
    f = m.facts_from_trade("7", _trade("Cancelled", log))
    assert (f.order_id, f.client_order_id, f.symbol, f.side) == ("7", "cid-1", "AAPL", "buy")
    assert (f.quantity, f.limit_price) == (Decimal(10), Decimal("185.03"))
    assert f.error_code == 201
    assert m.broker_order(f, []).state is OrderState.REJECTED


def test_ib_asyncs_local_cancel_on_10148_is_not_venue_state() -> None:
    log = [TradeLogEntry(T0, "Submitted"), TradeLogEntry(T0, "PendingCancel"),
           TradeLogEntry(T0, "Cancelled", "Error 10148 ... cannot be cancelled", 10148),
           TradeLogEntry(T0, "Cancelled", "Fill 10.0@185.0")]
    assert m.venue_status(log, "Cancelled") == "PendingCancel"
    f = m.facts_from_trade("7", _trade("Cancelled", log))
    assert m.broker_order(f, []).state is OrderState.SUBMITTED
    assert m.venue_status([], "Filled") == "Filled"   # completed orders carry no log


# ---------------------------------------------------------------------------------------------------- fills


def test_execution_and_commission_make_a_fill() -> None:
    ex = Execution(execId="0001.01", time=datetime(2026, 11, 24, 10, 30, tzinfo=timezone(timedelta(hours=-5))),
                   acctNumber="DU1", side="SLD", shares=3.0, price=185.07, permId=900, orderId=7, orderRef="cid-1")
    f = m.fill_from(ex, CommissionReport(execId="0001.01", commission=1.05, currency="USD"), "AAPL", "7")
    assert f == Fill(fill_id="0001.01", order_id="7", client_order_id="cid-1", symbol="AAPL", side="sell",
                     quantity=Decimal(3), price=Decimal("185.07"), commission=Decimal("1.05"),
                     ts=datetime(2026, 11, 24, 15, 30, tzinfo=UTC))
    assert f.ts.utcoffset() == timedelta(0)
    assert m.fill_from(ex, CommissionReport(), "AAPL", "7").commission == 0
    assert m.fill_from(ex, CommissionReport(execId="0001.01", commission=UNSET_DOUBLE), "AAPL", "7").commission == 0


# ---------------------------------------------------------------------------------------------------- quotes


def ticker(**kw: object) -> Ticker:
    base: dict[str, object] = {"contract": Stock("AAPL", "SMART", "USD"), "bid": 185.0, "ask": 185.05,
                               "last": 185.02, "marketDataType": 1, "time": T0}
    base.update(kw)
    t = Ticker()                 # __post_init__ resets prices to NaN, so set them afterwards as the wrapper does
    for name, value in base.items():
        setattr(t, name, value)
    return t


def test_live_snapshot_is_live_and_uses_the_source_timestamp() -> None:
    source = T0 - timedelta(seconds=3)
    q = m.quote_from("AAPL", ticker(lastTimestamp=source), T0 + timedelta(hours=1))
    assert (q.bid, q.ask, q.last) == (Decimal("185.0"), Decimal("185.05"), Decimal("185.02"))
    assert q.ts == source
    assert q.live


def test_quote_time_falls_back_to_receipt_then_to_the_clock() -> None:
    assert m.quote_from("AAPL", ticker(), T0 + timedelta(hours=1)).ts == T0
    assert m.quote_from("AAPL", ticker(time=None), T0 + timedelta(hours=1)).ts == T0 + timedelta(hours=1)


@pytest.mark.parametrize("kw", [{"marketDataType": 2}, {"marketDataType": 3}, {"marketDataType": 4},
                                {"halted": 1.0}, {"halted": 2.0}, {"bid": math.nan}, {"ask": -1.0},
                                {"bid": 185.1, "ask": 185.0}])
def test_frozen_delayed_halted_one_sided_or_crossed_quotes_are_not_live(kw: dict[str, object]) -> None:
    q = m.quote_from("AAPL", ticker(**kw), T0)
    assert not q.live


def test_missing_sides_are_none() -> None:
    q = m.quote_from("AAPL", ticker(bid=math.nan, ask=-1.0, last=math.nan), T0)
    assert (q.bid, q.ask, q.last, q.mid) == (None, None, None, None)


# ---------------------------------------------------------------------------------------------------- account


def test_instrument_takes_the_min_tick() -> None:
    details = ContractDetails(contract=Contract(symbol="AAPL", currency="USD", conId=1), minTick=0.01)
    inst = m.instrument_from("AAPL", details)
    assert (inst.tick_size, inst.lot_size, inst.min_quantity, inst.currency) == (Decimal("0.01"), 1, 1, "USD")
    assert m.instrument_from("AAPL", ContractDetails(minTick=0.0)).tick_size == Decimal("0.01")


def test_positions_skip_flat_holdings() -> None:
    held = m.position_from(IbPosition("DU1", Stock("AAPL", "SMART", "USD"), 12.0, 150.1234))
    assert held is not None
    assert (held.symbol, held.quantity, held.avg_cost) == ("AAPL", Decimal(12), Decimal("150.1234"))
    assert m.position_from(IbPosition("DU1", Stock("AAPL", "SMART", "USD"), 0.0, 0.0)) is None


def values(acct: str, **tags: tuple[str, str]) -> list[AccountValue]:
    return [AccountValue(acct, tag, value, ccy, "") for tag, (value, ccy) in tags.items()]


def test_account_values_make_an_account() -> None:
    vals = values("DU1", NetLiquidation=("100500.25", "USD"), TotalCashValue=("50000.10", "USD"),
                  BuyingPower=("50000.10", "USD"), AccountType=("INDIVIDUAL", ""))
    vals += values("DU2", NetLiquidation=("1", "USD"))
    acct = m.account_from(vals, "DU1", paper=True)
    assert (acct.account_id, acct.currency, acct.equity, acct.cash, acct.buying_power, acct.kind, acct.paper) == (
        "DU1", "USD", Decimal("100500.25"), Decimal("50000.10"), Decimal("50000.10"), "cash", True)


def test_account_prefers_the_nlv_currency_then_base_and_detects_margin() -> None:
    vals = values("U1", NetLiquidation=("200000", "EUR"), BuyingPower=("800000", "EUR"))
    vals += [AccountValue("U1", "TotalCashValue", "1000", "BASE", ""),
             AccountValue("U1", "TotalCashValue", "7", "USD", "")]
    acct = m.account_from(vals, "U1", paper=False)
    assert (acct.currency, acct.cash, acct.kind, acct.paper) == ("EUR", Decimal(1000), "margin", False)


def test_account_without_net_liquidation_is_an_error() -> None:
    with pytest.raises(ValueError, match="NetLiquidation"):
        m.account_from(values("DU1", TotalCashValue=("1", "USD")), "DU1", paper=True)


def test_an_order_known_only_by_executions_is_done_and_filled_as_far_as_they_go() -> None:
    ex = [Execution(execId="e1", side="BOT", shares=3.0, price=185.0, cumQty=3.0, avgPrice=185.0, orderRef="cid-9"),
          Execution(execId="e2", side="BOT", shares=2.0, price=185.5, cumQty=5.0, avgPrice=185.2, orderRef="cid-9")]
    f = m.facts_from_executions("9", "AAPL", ex)
    assert (f.client_order_id, f.side, f.quantity, f.limit_price) == ("cid-9", "buy", Decimal(5), Decimal("185.2"))
    order = m.broker_order(f, [])
    assert order.state is OrderState.FILLED
    assert order.filled_quantity == 5
