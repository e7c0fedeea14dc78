"""Order routing and recovery: fills reach the owning client only, venue changes from elsewhere are pushed, and an
order recorded but never acknowledged is reconciled on restart."""

from __future__ import annotations

import asyncio
import contextlib
import threading
from decimal import Decimal
from pathlib import Path

from ib_async import LimitOrder

from engine.brokers.base import OrderRequest
from engine.brokers.gateways.tws import TwsGateway
from engine.brokers.gateways.tws.desk import con_id_for
from engine.brokers.gateways.tws.state import TwsOrder, TwsState
from engine.brokers.sim import SimVenue

from .conftest import aapl, connect, wait_until


def test_fills_from_another_process_reach_only_the_owner(gw: TwsGateway, tmp_path: Path) -> None:
    owner, other = connect(gw, client_id=1), connect(gw, client_id=2)
    try:
        bid = gw.venue.quotes(["AAPL"])["AAPL"].bid
        assert bid is not None
        order = LimitOrder("BUY", 4, float(bid - 3))
        order.orderRef = "owned"
        trade = owner.placeOrder(aapl(owner), order)
        assert wait_until(owner, lambda: trade.orderStatus.status == "Submitted")
        elsewhere = SimVenue(tmp_path)                       # its own SQLite connection, like `nanobook sim`
        elsewhere.set_price("AAPL", bid - Decimal(5))
        elsewhere.close()
        assert wait_until(owner, lambda: trade.orderStatus.status == "Filled")
        other.sleep(0.2)
        assert other.fills() == []
        assert wait_until(other, lambda: any(p.position == 4 for p in other.positions()))   # positions are shared
    finally:
        owner.disconnect()
        other.disconnect()


def test_recover_links_a_booked_order_and_closes_an_unbooked_one(tmp_path: Path) -> None:
    state = TwsState(tmp_path)
    venue = SimVenue(tmp_path)
    bid = venue.quotes(["AAPL"])["AAPL"].bid
    assert bid is not None
    for perm, order_id, ref in ((state.next_perm_id(), 1, "booked"), (state.next_perm_id(), 2, "lost")):
        state.add_order(TwsOrder(perm, 1, order_id, "DUFAKE01", "AAPL", "BUY", Decimal(2), bid - 4, "DAY", ref, None,
                                 "PendingSubmit", Decimal(0), Decimal(0), Decimal(0), "", "", ""))
        if ref == "booked":           # crashed after the venue booked it, before the ledger heard back
            venue.place(OrderRequest(f"tws{perm}", "AAPL", "buy", Decimal(2), bid - 4))
    state.close()
    venue.close()
    with TwsGateway(tmp_path).start() as gw:
        ib = connect(gw, client_id=1)
        try:
            assert [t.order.orderRef for t in ib.openTrades()] == ["booked"]
            done = {t.order.orderRef: t.orderStatus.status for t in ib.reqCompletedOrders(False)}
            assert done == {"lost": "Cancelled"}
            assert gw.order_count("booked") == 1 and gw.order_count("lost") == 0
        finally:
            ib.disconnect()


def test_con_ids_differ_per_symbol_and_fit_an_int32() -> None:
    ids = {con_id_for(s) for s in ("AAPL", "MSFT", "SPY", "QQQ", "A", "AA")}
    assert len(ids) == 6
    assert all(0 < i < 2**31 for i in ids)


def test_serve_forever_until_stop_serving(tmp_path: Path) -> None:
    gw = TwsGateway(tmp_path)
    thread = threading.Thread(target=gw.serve_forever, daemon=True)
    thread.start()
    ib = connect(gw)
    assert ib.isConnected()
    gw.stop_serving()
    thread.join(timeout=5)
    assert not thread.is_alive()
    # The gateway has closed our socket: ib_async's disconnect() may then fail in write_eof (ENOTCONN), so the
    # transport is aborted instead, as the adapter's _discard does, and the loop is run once more here, so the
    # lost connection is reported in this test rather than as a global error cancelling the next test's connect.
    with contextlib.suppress(OSError):
        ib.disconnect()
    if ib.client.conn.transport is not None:
        ib.client.conn.transport.abort()
    with contextlib.suppress(asyncio.CancelledError, ConnectionError, OSError):
        ib.sleep(0.2)


def test_a_venue_reset_closes_the_orders_it_wiped(gw: TwsGateway) -> None:
    ib = connect(gw)
    try:
        bid = gw.venue.quotes(["AAPL"])["AAPL"].bid
        assert bid is not None
        trade = ib.placeOrder(aapl(ib), LimitOrder("BUY", 1, float(bid - 3)))
        assert wait_until(ib, lambda: trade.orderStatus.status == "Submitted")
        gw.venue.reset()
        assert wait_until(ib, lambda: trade.orderStatus.status == "Cancelled")
    finally:
        ib.disconnect()
