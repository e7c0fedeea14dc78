"""Every TwsFault kind, observed through the real ib_async client (what an adapter would see)."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from pathlib import Path

import pytest
from ib_async import IB, LimitOrder

from engine.brokers.gateways.tws import SCENARIOS, TwsFault, TwsGateway

from .conftest import aapl, connect, wait_until


def _errors(ib: IB) -> list[tuple[int, int, str]]:
    seen: list[tuple[int, int, str]] = []
    ib.errorEvent += lambda req_id, code, text, _contract: seen.append((req_id, code, text))
    return seen


def _order(action: str, qty: float, price: float, ref: str) -> LimitOrder:
    order = LimitOrder(action, qty, price)
    order.orderRef = ref
    return order


def _best(gw: TwsGateway, side: str) -> tuple[float, int]:
    level = gw.venue.book("AAPL", 1)["asks" if side == "ask" else "bids"][0]
    return float(level["price"]), int(level["quantity"])


def _until_disconnected(ib: IB, timeout: float = 5.0) -> bool:
    deadline = time.monotonic() + timeout
    while ib.isConnected() and time.monotonic() < deadline:
        try:
            ib.sleep(0.02)
        except ConnectionError:
            break
    return not ib.isConnected()


def _statuses(gw: TwsGateway, perm_id: int) -> list[str]:
    return [f[2] for d, f in gw.transcript if d == "out" and f[0] == "3" and f[6] == str(perm_id)]


# ---------------------------------------------------------------------------- order faults


def test_disconnect_after_fill_gives_a_partial_fill_then_a_dead_socket(gw: TwsGateway) -> None:
    ib = connect(gw, client_id=11)
    contract = aapl(ib)
    price, top = _best(gw, "ask")
    gw.inject(TwsFault.disconnect_after_fill())
    trade = ib.placeOrder(contract, _order("BUY", top + 10, price, "partial-1"))
    assert _until_disconnected(ib)
    assert [f.execution.shares for f in trade.fills] == [float(top)]
    [working] = gw.venue.open_orders()                      # the venue keeps the remainder working
    assert working.filled_quantity == top

    fresh = connect(gw, client_id=11)
    try:
        [open_trade] = fresh.openTrades()
        assert (open_trade.order.orderRef, open_trade.orderStatus.filled) == ("partial-1", float(top))
        assert [f.execution.shares for f in fresh.fills()] == [float(top)]
        gw.venue.set_price("AAPL", str(round(price - 1, 2)))  # the remainder fills while the new client listens
        assert wait_until(fresh, lambda: open_trade.orderStatus.status == "Filled")
        assert sum(f.execution.shares for f in fresh.fills()) == top + 10
    finally:
        fresh.disconnect()


def test_drop_after_place_books_the_order_but_never_answers(gw: TwsGateway) -> None:
    ib = connect(gw, client_id=12)
    contract = aapl(ib)
    gw.inject(TwsFault.drop_after_place())
    bid, _ = _best(gw, "bid")
    trade = ib.placeOrder(contract, _order("BUY", 2, round(bid - 3, 2), "dropped-1"))
    assert _until_disconnected(ib)
    assert trade.orderStatus.status == "PendingSubmit"      # the client never heard back
    assert gw.order_count("dropped-1") == 1

    fresh = connect(gw, client_id=12)
    try:
        assert [(t.order.orderRef, t.orderStatus.status) for t in fresh.openTrades()] == [("dropped-1", "Submitted")]
    finally:
        fresh.disconnect()


def test_duplicate_status_sends_each_status_twice_and_the_library_absorbs_it(gw: TwsGateway, ib: IB) -> None:
    contract = aapl(ib)
    gw.inject(TwsFault.duplicate_status())
    price, _ = _best(gw, "ask")
    trade = ib.placeOrder(contract, _order("BUY", 1, price, "dup-status"))
    assert wait_until(ib, lambda: trade.isDone() and bool(trade.fills))
    sent = _statuses(gw, trade.order.permId)
    assert len(sent) >= 4 and all(sent[i] == sent[i + 1] for i in range(0, len(sent), 2))
    assert [e.status for e in trade.log if not e.message].count("Filled") == 1     # one event per change


def test_out_of_order_status_leaves_the_client_at_submitted_after_filled(gw: TwsGateway, ib: IB) -> None:
    contract = aapl(ib)
    gw.inject(TwsFault.out_of_order_status())
    price, _ = _best(gw, "ask")
    trade = ib.placeOrder(contract, _order("BUY", 1, price, "ooo"))
    assert wait_until(ib, lambda: any(e.status == "Filled" for e in trade.log) and
                      trade.orderStatus.status == "Submitted")
    sent = _statuses(gw, trade.order.permId)
    assert sent[-2:] == ["Filled", "Submitted"]
    assert trade.fills and trade.fills[0].execution.shares == 1     # fills still tell the truth


def test_reject_is_error_201_and_nothing_is_booked(gw: TwsGateway, ib: IB) -> None:
    errors = _errors(ib)
    gw.inject(TwsFault.reject("margin check failed"))
    price, _ = _best(gw, "ask")
    trade = ib.placeOrder(aapl(ib), _order("BUY", 1, price, "rejected"))
    assert wait_until(ib, lambda: trade.orderStatus.status == "Cancelled")
    assert any(code == 201 and "margin check failed" in text for _, code, text in errors)
    assert gw.order_count("rejected") == 0 and gw.venue.all_orders() == []


def test_cancel_fill_race_fills_first_then_10148(gw: TwsGateway, ib: IB) -> None:
    errors = _errors(ib)
    contract = aapl(ib)
    bid, _ = _best(gw, "bid")
    order = _order("BUY", 3, round(bid - 2, 2), "race")
    trade = ib.placeOrder(contract, order)
    assert wait_until(ib, lambda: trade.orderStatus.status == "Submitted")
    gw.inject(TwsFault.cancel_fill_race())
    ib.cancelOrder(order)
    assert wait_until(ib, lambda: any(code == 10148 for _, code, _ in errors))
    assert trade.orderStatus.status == "Filled"
    assert sum(f.execution.shares for f in trade.fills) == 3


# ---------------------------------------------------------------------------- quote faults


@pytest.mark.parametrize(("fault", "data_type"), [(TwsFault.delayed_quotes(), 3), (TwsFault.frozen_quotes(), 2)])
def test_delayed_and_frozen_quotes_carry_their_market_data_type(gw: TwsGateway, ib: IB, fault: TwsFault,
                                                                data_type: int) -> None:
    contract = aapl(ib)
    gw.inject(fault)
    [ticker] = ib.reqTickers(contract)
    quote = gw.venue.quotes(["AAPL"])["AAPL"]
    assert ticker.marketDataType == data_type
    assert (ticker.bid, ticker.ask) == (float(quote.bid or 0), float(quote.ask or 0))
    [after] = ib.reqTickers(contract)                     # count=1: the next snapshot is live again
    assert after.marketDataType == 1


def test_halted_sets_generic_tick_49(gw: TwsGateway, ib: IB) -> None:
    contract = aapl(ib)
    gw.inject(TwsFault.halted())
    [ticker] = ib.reqTickers(contract)
    assert ticker.halted == 1


def test_stale_quotes_have_an_hour_old_last_timestamp(tmp_path: Path) -> None:
    fixed = datetime(2026, 11, 24, 15, 0, 0, tzinfo=UTC)
    with TwsGateway(tmp_path, clock=lambda: fixed).start() as gw:
        ib = connect(gw)
        try:
            gw.inject(TwsFault.stale_quotes())
            [ticker] = ib.reqTickers(aapl(ib))
            assert ticker.lastTimestamp is not None
            assert fixed.timestamp() - ticker.lastTimestamp.timestamp() == 3600
        finally:
            ib.disconnect()


def test_no_snapshot_end_makes_req_tickers_time_out(gw: TwsGateway, ib: IB) -> None:
    contract = aapl(ib)
    gw.inject(TwsFault.no_snapshot_end())
    ib.RequestTimeout = 0.5
    started = time.monotonic()
    with pytest.raises(TimeoutError):
        ib.reqTickers(contract)
    assert time.monotonic() - started >= 0.45
    ib.RequestTimeout = 3
    [ticker] = ib.reqTickers(contract)
    assert ticker.bid > 0


# ---------------------------------------------------------------------------- connection faults


def test_clock_skew_shifts_current_time(gw: TwsGateway, ib: IB) -> None:
    gw.inject(TwsFault.clock_skew(120.0))
    skewed = ib.reqCurrentTime()
    assert 110 < (skewed - datetime.now(UTC)).total_seconds() < 130
    handshake = [f for d, f in gw.transcript if d == "out" and f[0] == "176"]
    assert handshake  # the handshake time is skewed too (checked on the next connect)
    second = connect(gw, client_id=21)
    text = [f for d, f in gw.transcript if d == "out" and f[0] == "176"][-1][1]
    shown = datetime.strptime(text, "%Y%m%d %H:%M:%S UTC").replace(tzinfo=UTC)
    assert 110 < (shown - datetime.now(UTC)).total_seconds() < 130
    second.disconnect()


def test_refuse_connections_drops_clients_then_recovers(gw: TwsGateway, ib: IB) -> None:
    gw.inject(TwsFault.refuse_connections(0.6))
    assert _until_disconnected(ib)
    refused = IB()
    with pytest.raises((ConnectionError, TimeoutError, OSError)):
        refused.connect("127.0.0.1", gw.port, clientId=2, timeout=1)
    refused.disconnect()
    time.sleep(0.7)  # the scripted restart window itself; nothing to wait on
    back = connect(gw, client_id=2)
    assert back.isConnected()
    back.disconnect()


def test_connectivity_lost_and_restored_are_broadcast_errors(gw: TwsGateway, ib: IB) -> None:
    errors = _errors(ib)
    gw.inject(TwsFault.connectivity_lost())
    assert wait_until(ib, lambda: any(code == 1100 for _, code, _ in errors))
    gw.inject(TwsFault.connectivity_restored(after_s=0.2))
    assert wait_until(ib, lambda: any(code == 1102 for _, code, _ in errors))
    assert ib.isConnected()


def test_connectivity_faults_wait_for_a_client(gw: TwsGateway) -> None:
    gw.inject(TwsFault.connectivity_lost())
    ib = IB()
    errors = _errors(ib)
    ib.RequestTimeout = 3
    ib.connect("127.0.0.1", gw.port, clientId=1, timeout=5)
    try:
        assert wait_until(ib, lambda: any(code == 1100 for _, code, _ in errors))
    finally:
        ib.disconnect()


def test_duplicate_client_id_fault_and_real_duplicate(gw: TwsGateway, ib: IB) -> None:
    gw.inject(TwsFault.duplicate_client_id())
    scripted = IB()
    errors = _errors(scripted)
    with pytest.raises((ConnectionError, TimeoutError)):
        scripted.connect("127.0.0.1", gw.port, clientId=30, timeout=1)
    scripted.disconnect()
    assert any(code == 326 for _, code, _ in errors)

    twin = IB()                                           # the fixture's client already holds clientId 1
    with pytest.raises((ConnectionError, TimeoutError)):
        twin.connect("127.0.0.1", gw.port, clientId=1, timeout=1)
    twin.disconnect()
    assert ib.isConnected() and ib.reqCurrentTime() is not None


def test_pacing_answers_the_next_requests_with_error_100(gw: TwsGateway, ib: IB) -> None:
    errors = _errors(ib)
    gw.inject(TwsFault.pacing(2))
    from ib_async import Stock

    first, second = Stock("AAPL", "SMART", "USD"), Stock("AAPL", "SMART", "USD")
    assert ib.qualifyContracts(first) == [None]
    assert ib.qualifyContracts(second) == [None]
    assert [code for _, code, _ in errors].count(100) == 2
    assert aapl(ib).conId > 0


# ---------------------------------------------------------------------------- scenarios


@pytest.mark.parametrize("name", [n for n in SCENARIOS if n not in ("duplicate-client-id", "nightly-restart")])
def test_every_scenario_starts_and_accepts_a_client(tmp_path: Path, name: str) -> None:
    with TwsGateway(tmp_path, scenario=name).start() as gw:
        ib = connect(gw)
        assert ib.isConnected()
        ib.disconnect()


def test_nightly_restart_scenario_refuses_the_first_connection(tmp_path: Path) -> None:
    with TwsGateway(tmp_path, scenario="nightly-restart").start() as gw:
        ib = IB()
        with pytest.raises((ConnectionError, TimeoutError, OSError)):
            ib.connect("127.0.0.1", gw.port, clientId=1, timeout=1)
        ib.disconnect()
