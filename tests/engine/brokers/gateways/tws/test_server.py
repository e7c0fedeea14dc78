"""The TWS gateway driven by the real ib_async client over a socket: connect, account, contracts, quotes, orders."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import pytest
from ib_async import IB, ExecutionFilter, LimitOrder, MarketOrder, Stock

from engine.brokers.base import OrderRequest
from engine.brokers.gateways.tws import DEFAULT_ACCOUNT, SCENARIOS, TwsGateway

from .conftest import aapl, connect, wait_until


def _errors(ib: IB) -> list[tuple[int, int, str]]:
    seen: list[tuple[int, int, str]] = []
    ib.errorEvent += lambda req_id, code, text, _contract: seen.append((req_id, code, text))
    return seen


def _ask(gw: TwsGateway, symbol: str = "AAPL") -> float:
    ask = gw.venue.quotes([symbol])[symbol].ask
    assert ask is not None
    return float(ask)


def _bid(gw: TwsGateway, symbol: str = "AAPL") -> float:
    bid = gw.venue.quotes([symbol])[symbol].bid
    assert bid is not None
    return float(bid)


def _limit(action: str, qty: float, price: float, ref: str) -> LimitOrder:
    order = LimitOrder(action, qty, price)
    order.orderRef = ref
    return order


# ---------------------------------------------------------------------------- construction


def test_refuses_non_loopback_and_unknown_scenarios(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="loopback only"):
        TwsGateway(tmp_path, host="0.0.0.0")
    with pytest.raises(ValueError, match="happy"):
        TwsGateway(tmp_path, scenario="no-such-scenario")


def test_scenarios_cover_the_required_names() -> None:
    required = {"happy", "partial-disconnect", "drop-after-place", "duplicate-status", "out-of-order-status",
                "reject", "cancel-fill-race", "delayed-quotes", "frozen-quotes", "halted", "stale-quotes",
                "no-snapshot-end", "clock-skew", "nightly-restart", "connectivity-loss", "duplicate-client-id",
                "pacing"}
    assert required <= set(SCENARIOS)
    assert SCENARIOS["happy"] == ()


# ---------------------------------------------------------------------------- connect and reads


def test_connect_negotiates_176_and_reports_the_fake_account(gw: TwsGateway) -> None:
    ib = connect(gw, client_id=3)
    try:
        assert ib.isConnected()
        assert ib.client.serverVersion() == 176
        assert ib.managedAccounts() == [DEFAULT_ACCOUNT]
        assert DEFAULT_ACCOUNT.startswith("DU")
    finally:
        ib.disconnect()
    again = connect(gw, client_id=3)       # the clientId is free again once the first client left
    assert again.isConnected()
    again.disconnect()


def test_readonly_connect(gw: TwsGateway) -> None:
    ib = connect(gw, client_id=4, readonly=True)
    assert ib.isConnected()
    ib.disconnect()


def test_positions_and_portfolio_come_from_the_venue(gw: TwsGateway) -> None:
    ask = gw.venue.quotes(["MSFT"])["MSFT"].ask
    assert ask is not None
    gw.venue.place(OrderRequest("seed-msft", "MSFT", "buy", Decimal(7), ask))
    [held] = gw.venue.positions()
    ib = connect(gw)
    try:
        [pos] = ib.positions()
        assert (pos.contract.symbol, pos.position, pos.avgCost) == ("MSFT", 7.0, float(held.avg_cost))
        assert pos.account == DEFAULT_ACCOUNT
        [item] = ib.portfolio()
        assert item.contract.symbol == "MSFT" and item.position == 7.0
        assert item.contract.primaryExchange == "NASDAQ"
    finally:
        ib.disconnect()


def test_account_summary_matches_the_venue_account(gw: TwsGateway, ib: IB) -> None:
    acct = gw.venue.account()
    rows = {v.tag: v for v in ib.accountSummary()}
    assert Decimal(rows["NetLiquidation"].value) == acct.equity
    assert Decimal(rows["TotalCashValue"].value) == acct.cash
    assert Decimal(rows["BuyingPower"].value) == acct.buying_power
    assert Decimal(rows["AvailableFunds"].value) == acct.buying_power
    assert rows["NetLiquidation"].currency == "USD"
    assert rows["AccountType"].value
    values = {v.tag for v in ib.accountValues()}
    assert {"NetLiquidation", "TotalCashValue", "BuyingPower"} <= values


def test_qualify_known_symbol_gives_a_stable_stock_contract(gw: TwsGateway, ib: IB, tmp_path: Path) -> None:
    contract = aapl(ib)
    assert contract.conId > 0
    assert (contract.secType, contract.exchange, contract.primaryExchange, contract.currency) == \
        ("STK", "SMART", "NASDAQ", "USD")
    [details] = ib.reqContractDetails(contract)
    assert details.minTick == pytest.approx(float(gw.venue.instruments(["AAPL"])["AAPL"].tick_size))
    other_root = tmp_path / "other"
    other_root.mkdir()
    with TwsGateway(other_root).start() as second:
        ib2 = connect(second)
        assert aapl(ib2).conId == contract.conId           # same symbol, same conId, in any run
        ib2.disconnect()


def test_qualify_unknown_symbol_fails_cleanly_with_error_200(ib: IB) -> None:
    errors = _errors(ib)
    assert ib.qualifyContracts(Stock("NOSUCHSYM", "SMART", "USD")) == [None]
    assert any(code == 200 for _, code, _ in errors)
    assert ib.isConnected()


def test_snapshot_equals_the_venue_quote(tmp_path: Path) -> None:
    fixed = datetime(2026, 11, 24, 15, 30, 0, tzinfo=UTC)
    with TwsGateway(tmp_path, clock=lambda: fixed).start() as gw:
        ib = connect(gw)
        try:
            contract = aapl(ib)
            [ticker] = ib.reqTickers(contract)
            quote = gw.venue.quotes(["AAPL"])["AAPL"]
            assert (ticker.bid, ticker.ask, ticker.last) == (float(quote.bid or 0), float(quote.ask or 0),
                                                             float(quote.last or 0))
            assert ticker.bidSize > 0 and ticker.askSize > 0
            assert ticker.marketDataType == 1
            assert ticker.lastTimestamp is not None and ticker.lastTimestamp.timestamp() == fixed.timestamp()
        finally:
            ib.disconnect()


def test_current_time_and_req_ids(gw: TwsGateway, ib: IB) -> None:
    server = ib.reqCurrentTime()
    assert abs((server - datetime.now(UTC)).total_seconds()) < 5
    first = ib.client.getReqId()
    ib.client.reqIds(1)
    assert wait_until(ib, lambda: any(d == "out" and f[0] == "9" for d, f in gw.transcript[-3:]), 2)
    assert first >= 1


# ---------------------------------------------------------------------------- orders


def test_marketable_limit_fills_with_fills_commission_and_order_ref(gw: TwsGateway, ib: IB) -> None:
    contract = aapl(ib)
    trade = ib.placeOrder(contract, _limit("BUY", 10, _ask(gw), "rebal-1-AAPL"))
    assert wait_until(ib, lambda: trade.isDone() and bool(trade.fills) and
                      trade.fills[-1].commissionReport.commission > 0)
    assert trade.orderStatus.status == "Filled"
    assert trade.orderStatus.filled == 10
    venue_fills = gw.venue.fills()
    assert [f.execution.shares for f in trade.fills] == [float(f.quantity) for f in venue_fills]
    assert sum(f.commissionReport.commission for f in trade.fills) == pytest.approx(
        float(sum(f.commission for f in venue_fills)))
    assert {f.execution.orderRef for f in trade.fills} == {"rebal-1-AAPL"}
    assert {f.execution.lastLiquidity for f in trade.fills} == {2}          # it crossed: liquidity removed
    assert trade.order.permId > 0
    assert gw.order_count("rebal-1-AAPL") == 1
    assert wait_until(ib, lambda: any(p.contract.symbol == "AAPL" and p.position == 10 for p in ib.positions()))


def test_resting_order_fills_when_the_market_moves(gw: TwsGateway, ib: IB) -> None:
    contract = aapl(ib)
    limit = round(_bid(gw) - 1.0, 2)
    trade = ib.placeOrder(contract, _limit("BUY", 5, limit, "rest-1"))
    assert wait_until(ib, lambda: trade.orderStatus.status == "Submitted")
    assert not trade.fills
    filled: list[float] = []
    ib.execDetailsEvent += lambda _t, fill: filled.append(fill.execution.shares)
    gw.venue.set_price("AAPL", Decimal(str(limit)) - Decimal("2"))    # another process moving the market
    assert wait_until(ib, lambda: trade.orderStatus.status == "Filled")
    assert filled == [5.0]
    assert trade.fills[0].execution.price <= limit
    assert trade.fills[0].execution.lastLiquidity == 1                       # it rested: liquidity added


def test_resting_order_filled_by_venue_steps(gw: TwsGateway, ib: IB) -> None:
    contract = aapl(ib)
    trade = ib.placeOrder(contract, _limit("BUY", 3, round(_bid(gw) - 0.02, 2), "step-1"))
    assert wait_until(ib, lambda: trade.orderStatus.status == "Submitted")
    for _ in range(200):
        if trade.isDone():
            break
        gw.venue.step()
        ib.sleep(0.01)
    assert wait_until(ib, trade.isDone)
    assert trade.orderStatus.status == "Filled"
    assert trade.fills and trade.fills[0].execution.orderRef == "step-1"


def test_cancel_a_working_order(gw: TwsGateway, ib: IB) -> None:
    errors = _errors(ib)
    contract = aapl(ib)
    order = _limit("BUY", 5, round(_bid(gw) - 5, 2), "cxl-1")
    trade = ib.placeOrder(contract, order)
    assert wait_until(ib, lambda: trade.orderStatus.status == "Submitted")
    ib.cancelOrder(order)
    assert wait_until(ib, lambda: trade.orderStatus.status == "Cancelled")
    assert wait_until(ib, lambda: any(code == 202 for _, code, _ in errors))
    [venue_order] = gw.venue.all_orders()
    assert venue_order.state.value == "cancelled"


def test_cancel_of_a_done_order_is_10148_and_unknown_is_135(gw: TwsGateway, ib: IB) -> None:
    errors = _errors(ib)
    contract = aapl(ib)
    order = _limit("BUY", 1, _ask(gw), "done-1")
    trade = ib.placeOrder(contract, order)
    assert wait_until(ib, trade.isDone)
    ib.cancelOrder(order)
    assert wait_until(ib, lambda: any(code == 10148 for _, code, _ in errors))
    assert trade.orderStatus.status == "Filled"
    ib.client.cancelOrder(987654)
    assert wait_until(ib, lambda: any(code == 135 and rid == 987654 for rid, code, _ in errors))


def test_non_limit_orders_are_rejected_with_201(gw: TwsGateway, ib: IB) -> None:
    errors = _errors(ib)
    trade = ib.placeOrder(aapl(ib), MarketOrder("BUY", 1))
    assert wait_until(ib, lambda: trade.orderStatus.status == "Cancelled")
    assert any(code == 201 and "LMT" in text for _, code, text in errors)
    assert gw.venue.all_orders() == []


def test_venue_refusal_is_201_with_the_reason(gw: TwsGateway, ib: IB) -> None:
    errors = _errors(ib)
    trade = ib.placeOrder(aapl(ib), _limit("SELL", 10, _bid(gw), "short-1"))    # nothing held: cash account
    assert wait_until(ib, lambda: trade.orderStatus.status == "Cancelled")
    assert any(code == 201 and "held" in text for _, code, text in errors)


def test_same_order_ref_twice_makes_two_venue_orders(gw: TwsGateway, ib: IB) -> None:
    contract = aapl(ib)
    price = round(_bid(gw) - 5, 2)
    first = ib.placeOrder(contract, _limit("BUY", 1, price, "dup-ref"))
    second = ib.placeOrder(contract, _limit("BUY", 1, price, "dup-ref"))
    assert wait_until(ib, lambda: first.orderStatus.status == second.orderStatus.status == "Submitted")
    assert first.order.permId != second.order.permId
    assert gw.order_count("dup-ref") == 2
    assert len(gw.venue.open_orders()) == 2


def test_modify_is_cancel_replace_under_the_same_ids(gw: TwsGateway, ib: IB) -> None:
    contract = aapl(ib)
    order = _limit("BUY", 4, round(_bid(gw) - 5, 2), "mod-1")
    trade = ib.placeOrder(contract, order)
    assert wait_until(ib, lambda: trade.orderStatus.status == "Submitted")
    perm = trade.order.permId
    order.lmtPrice = round(order.lmtPrice - 1, 2)
    ib.placeOrder(contract, order)
    assert wait_until(ib, lambda: any(e.message == "Modified" for e in trade.log))
    [working] = gw.venue.open_orders()
    assert float(working.limit_price) == order.lmtPrice
    assert trade.order.permId == perm
    assert gw.order_count("mod-1") == 2


def test_reusing_the_id_of_a_done_order_is_103(gw: TwsGateway, ib: IB) -> None:
    errors = _errors(ib)
    contract = aapl(ib)
    done = _limit("BUY", 1, _ask(gw), "once")
    trade = ib.placeOrder(contract, done)
    assert wait_until(ib, trade.isDone)
    ib.client.placeOrder(done.orderId, contract, _limit("BUY", 1, _ask(gw), "again"))
    assert wait_until(ib, lambda: any(code == 103 for _, code, _ in errors))
    assert gw.order_count("again") == 0


def test_global_cancel_cancels_every_working_order(gw: TwsGateway, ib: IB) -> None:
    contract = aapl(ib)
    trades = [ib.placeOrder(contract, _limit("BUY", 1, round(_bid(gw) - 5 - i, 2), f"g-{i}")) for i in range(3)]
    assert wait_until(ib, lambda: all(t.orderStatus.status == "Submitted" for t in trades))
    ib.reqGlobalCancel()
    assert wait_until(ib, lambda: all(t.orderStatus.status == "Cancelled" for t in trades))
    assert gw.venue.open_orders() == []


# ---------------------------------------------------------------------------- after a reconnect


def test_reconnect_sees_open_completed_orders_and_executions(gw: TwsGateway) -> None:
    ib = connect(gw, client_id=5)
    contract = aapl(ib)
    resting = ib.placeOrder(contract, _limit("BUY", 2, round(_bid(gw) - 5, 2), "keep-open"))
    filled = ib.placeOrder(contract, _limit("BUY", 3, _ask(gw), "got-filled"))
    assert wait_until(ib, lambda: resting.orderStatus.status == "Submitted" and filled.isDone())
    ib.disconnect()

    fresh = connect(gw, client_id=5)
    try:
        open_refs = {(t.order.orderRef, t.orderStatus.status, t.order.permId) for t in fresh.openTrades()}
        assert open_refs == {("keep-open", "Submitted", resting.order.permId)}
        done = {(t.order.orderRef, t.orderStatus.status, t.order.permId) for t in fresh.reqCompletedOrders(False)}
        assert ("got-filled", "Filled", filled.order.permId) in done
        fills = fresh.reqExecutions(ExecutionFilter(clientId=5))
        assert [(f.execution.orderRef, f.execution.execId) for f in fills] == \
            [(f.execution.orderRef, f.execution.execId) for f in filled.fills]
        assert {f.execution.orderRef for f in fresh.fills()} == {"got-filled"}
        assert all(f.commissionReport.commission > 0 for f in fresh.fills())   # ib.fills() holds the reports
        all_open = fresh.reqAllOpenOrders()
        assert {t.order.orderRef for t in all_open} == {"keep-open"}
    finally:
        fresh.disconnect()


def test_state_survives_a_gateway_restart(tmp_path: Path) -> None:
    with TwsGateway(tmp_path).start() as gw:
        ib = connect(gw, client_id=9)
        trade = ib.placeOrder(aapl(ib), _limit("BUY", 2, _ask(gw), "before-restart"))
        assert wait_until(ib, trade.isDone)
        exec_ids = [f.execution.execId for f in trade.fills]
        perm = trade.order.permId
        ib.disconnect()
    with TwsGateway(tmp_path).start() as restarted:
        ib = connect(restarted, client_id=9)
        try:
            [done] = ib.reqCompletedOrders(False)
            assert (done.order.permId, done.order.orderRef) == (perm, "before-restart")
            assert [f.execution.execId for f in ib.fills()] == exec_ids
            later = ib.placeOrder(aapl(ib), _limit("BUY", 1, _ask(restarted), "after-restart"))
            assert wait_until(ib, later.isDone)
            assert later.order.permId > perm and later.order.orderId > trade.order.orderId
        finally:
            ib.disconnect()


def test_what_if_reports_commission_and_books_nothing(gw: TwsGateway, ib: IB) -> None:
    state = ib.whatIfOrder(aapl(ib), _limit("BUY", 10, _ask(gw), "what-if"))
    assert float(state.commission) > 0
    assert float(state.initMarginChange) == pytest.approx(10 * _ask(gw), rel=1e-6)
    assert gw.venue.all_orders() == [] and gw.order_count("what-if") == 0


def test_a_taken_port_or_bad_poll_interval_is_refused(gw: TwsGateway, tmp_path: Path) -> None:
    with pytest.raises(OSError):
        TwsGateway(tmp_path / "second", port=gw.port)
    with pytest.raises(ValueError, match="poll_interval_s"):
        TwsGateway(tmp_path, poll_interval_s=0)


def test_client_zero_sees_every_clients_open_orders(gw: TwsGateway, ib: IB) -> None:
    trade = ib.placeOrder(aapl(ib), _limit("BUY", 1, round(_bid(gw) - 5, 2), "from-client-1"))
    assert wait_until(ib, lambda: trade.orderStatus.status == "Submitted")
    other = connect(gw, client_id=2)
    master = connect(gw, client_id=0)
    try:
        assert other.openTrades() == []                        # reqOpenOrders: only the caller's own orders
        assert [t.order.orderRef for t in master.openTrades()] == ["from-client-1"]
    finally:
        other.disconnect()
        master.disconnect()


def test_selling_everything_removes_the_position_and_portfolio_item(gw: TwsGateway, ib: IB) -> None:
    contract = aapl(ib)
    buy = ib.placeOrder(contract, _limit("BUY", 3, _ask(gw), "in"))
    assert wait_until(ib, lambda: buy.isDone() and len(ib.positions()) == 1 and len(ib.portfolio()) == 1)
    sell = ib.placeOrder(contract, _limit("SELL", 3, _bid(gw), "out"))
    assert wait_until(ib, lambda: sell.isDone() and ib.positions() == [] and ib.portfolio() == [])
    assert sell.orderStatus.status == "Filled"


def test_streaming_market_data_follows_the_venue_until_cancelled(gw: TwsGateway, ib: IB) -> None:
    contract = aapl(ib)
    ticker = ib.reqMktData(contract)
    first = gw.venue.quotes(["AAPL"])["AAPL"]
    assert wait_until(ib, lambda: ticker.bid == float(first.bid or 0))
    gw.venue.set_price("AAPL", "150.00")
    moved = gw.venue.quotes(["AAPL"])["AAPL"]
    assert wait_until(ib, lambda: (ticker.bid, ticker.ask, ticker.last) ==
                      (float(moved.bid or 0), float(moved.ask or 0), 150.0))
    ib.cancelMktData(contract)
    assert wait_until(ib, lambda: any(d == "in" and f[0] == "2" for d, f in gw.transcript))
    cancelled_at = len(gw.transcript)
    gw.venue.set_price("AAPL", "160.00")
    ib.sleep(0.3)  # several poll intervals: proving that nothing more arrives
    assert not [f for d, f in gw.transcript[cancelled_at:] if d == "out" and f[0] == "1"]


def test_a_contract_given_by_con_id_alone_resolves(gw: TwsGateway, ib: IB) -> None:
    from ib_async import Contract

    known = aapl(ib)
    fresh_gateway_view = Contract(conId=known.conId)      # no symbol: TWS looks the conId up
    [details] = ib.reqContractDetails(fresh_gateway_view)
    assert details.contract is not None and details.contract.symbol == "AAPL"
    assert ib.reqContractDetails(Contract(conId=1)) == []
