"""IbkrBroker under scripted TWS faults: nothing placed twice, lookups by orderRef first, sticky states, back-off."""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime, timedelta
from decimal import ROUND_CEILING, ROUND_FLOOR, Decimal
from pathlib import Path
from typing import Any

import pytest

from configs.errors import ConfigError
from configs.models import IbkrSettings
from engine.brokers.base import OrderRequest, OrderState
from engine.brokers.gateways.tws import TwsFault, TwsGateway
from engine.brokers.ibkr.adapter import IbkrBroker
from engine.errors import AmbiguousOrderState, BrokerError, BrokerUnavailable, OrderRejected, UnknownSymbol
from tests.engine.brokers.ibkr.conftest import Sleeps, make_broker

SYMBOL = "AAPL"
TICK = Decimal("0.01")


def resting(broker: IbkrBroker, cid: str, qty: int = 2) -> OrderRequest:
    bid = broker.quotes([SYMBOL])[SYMBOL].bid
    assert bid is not None
    price = (bid * Decimal("0.9") / TICK).to_integral_value(ROUND_FLOOR) * TICK
    return OrderRequest(client_order_id=cid, symbol=SYMBOL, side="buy", quantity=Decimal(qty), limit_price=price,
                        time_in_force="gtc")


def marketable(broker: IbkrBroker, cid: str, qty: int = 2) -> OrderRequest:
    ask = broker.quotes([SYMBOL])[SYMBOL].ask
    assert ask is not None
    price = (ask * Decimal("1.002") / TICK).to_integral_value(ROUND_CEILING) * TICK
    return OrderRequest(client_order_id=cid, symbol=SYMBOL, side="buy", quantity=Decimal(qty), limit_price=price,
                        time_in_force="gtc")


def places(gw: TwsGateway) -> list[str]:
    """orderRef of every placeOrder the gateway received, in order."""
    return [_order_ref(f) for d, f in gw.transcript if d == "in" and f and f[0] == "3"]


def statuses(gw: TwsGateway, order_id: str) -> list[str]:
    """Every orderStatus the gateway sent for `order_id`, in order."""
    return [f[2] for d, f in gw.transcript if d == "out" and len(f) > 2 and f[0] == "3" and f[1] == order_id]


def wait_until_released(gw: TwsGateway, client_id: int) -> None:
    """TWS frees a client id once it sees the socket close (a moment after our close returns)."""
    deadline = time.monotonic() + 3
    while gw.session_for(client_id) is not None and time.monotonic() < deadline:
        time.sleep(0.02)


def _order_ref(fields: tuple[str, ...]) -> str:
    # placeOrder: id, orderId, 12 contract fields, secIdType, secId, action, qty, type, lmt, aux, tif, oca, account,
    # openClose, origin, orderRef (index 26)
    return fields[26]


# ------------------------------------------------------------------------------------------- connection and account


def test_no_tws_listening_is_unavailable_with_the_fix(tmp_path: Path, sleeps: Sleeps) -> None:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]            # bound, not listening: connections are refused
        b = IbkrBroker("127.0.0.1", port, timeout_s=1.0, sleep=sleeps, max_reconnects=2)
        with pytest.raises(BrokerUnavailable) as info:
            b.account()
    message = str(info.value)
    assert f"127.0.0.1:{port}" in message
    assert "API enabled" in message
    assert sleeps.calls == [1.0, 2.0]       # retried with back-off, bounded by max_reconnects
    b.close()


def test_duplicate_client_id_326_is_unavailable_naming_the_id(gateway: TwsGateway, sleeps: Sleeps) -> None:
    first = make_broker(gateway, sleeps, client_id=5)
    first.account()
    second = make_broker(gateway, sleeps, client_id=5)
    started = time.monotonic()
    with pytest.raises(BrokerUnavailable, match="client id 5 is already in use"):
        second.positions()
    assert time.monotonic() - started < 1.5  # TWS closed the socket: no waiting for the handshake timeout
    assert sleeps.calls == []               # retrying cannot help while the other program holds the id
    first.close()
    second.close()


def test_scripted_326_on_the_first_connect(gateway: TwsGateway, sleeps: Sleeps) -> None:
    gateway.inject(TwsFault.duplicate_client_id())
    b = make_broker(gateway, sleeps, client_id=23)
    with pytest.raises(BrokerUnavailable, match="client id 23"):
        b.account()
    assert b.account().account_id == "DUFAKE01"   # the fault fired once; the next connect works
    b.close()


def test_326_right_after_our_own_drop_is_retried_with_back_off(gateway: TwsGateway, sleeps: Sleeps) -> None:
    """TWS may not have released our id yet when we reconnect at once: that 326 is our old session, not a rival."""
    b = make_broker(gateway, sleeps, client_id=29)
    b.account()
    b._drop()  # as after a timeout: we close our session and reconnect straight away
    gateway.inject(TwsFault.duplicate_client_id())
    assert b.account().account_id == "DUFAKE01"
    assert sleeps.calls == [1.0, 2.0]  # the reconnect's back-off, then one more after the 326
    b.close()


def test_account_is_the_only_managed_one_and_du_means_paper(ibkr: IbkrBroker) -> None:
    account = ibkr.account()
    assert account.account_id == "DUFAKE01"
    assert account.paper
    assert ibkr.paper


def test_live_account_is_not_paper_and_a_wrong_configured_account_lists_the_managed_ones(tmp_path: Path,
                                                                                        sleeps: Sleeps) -> None:
    with TwsGateway(tmp_path, account="U7654321") as gw:
        b = make_broker(gw, sleeps)
        assert not b.account().paper
        b.close()
        wrong = make_broker(gw, sleeps, account="DU0000000")
        with pytest.raises(ConfigError, match="U7654321"):
            wrong.account()
        wrong.close()


def test_several_managed_accounts_need_a_configured_one() -> None:
    class FakeIB:
        def managedAccounts(self) -> list[str]:
            return ["DU111", "DU222"]

    b = IbkrBroker()
    with pytest.raises(ConfigError, match="DU111, DU222"):
        b._pick_account(FakeIB())  # type: ignore[arg-type]
    chosen = IbkrBroker(account="DU222")
    chosen._pick_account(FakeIB())  # type: ignore[arg-type]
    assert chosen.account_id == "DU222"
    assert chosen.paper


def test_from_settings_and_request_timeout(gateway: TwsGateway) -> None:
    settings = IbkrSettings(host="127.0.0.1", port=gateway.port, client_id=31, timeout_s=1.5)
    b = IbkrBroker.from_settings(settings, readonly=True)
    assert (b.port, b.client_id, b.timeout_s, b.readonly) == (gateway.port, 31, 1.5, True)
    b.positions()
    assert b._ib is not None
    assert b._ib.RaiseRequestErrors
    assert b._ib.RequestTimeout == 1.5
    b.close()


def test_readonly_reads_but_refuses_to_place_or_cancel(gateway: TwsGateway, sleeps: Sleeps) -> None:
    b = make_broker(gateway, sleeps, readonly=True)
    assert b.account().equity > 0
    request = resting(b, "ro-1")
    with pytest.raises(BrokerError, match="read-only") as info:
        b.place_limit(request)
    assert not isinstance(info.value, OrderRejected)
    with pytest.raises(BrokerError, match="read-only"):
        b.cancel("1")
    assert gateway.order_count("ro-1") == 0
    assert places(gateway) == []
    b.close()


def test_called_from_inside_an_event_loop_is_refused(ibkr: IbkrBroker) -> None:
    async def inside() -> None:
        ibkr.account()

    with pytest.raises(BrokerError, match="running asyncio event loop"):
        asyncio.run(inside())
    assert ibkr.account().equity > 0        # and the broker still works afterwards


def test_the_callers_event_loop_is_neither_used_nor_replaced(ibkr: IbkrBroker) -> None:
    outer = asyncio.new_event_loop()
    asyncio.set_event_loop(outer)
    try:
        ibkr.account()
        assert asyncio.get_event_loop_policy()._local._loop is outer  # type: ignore[attr-defined]
        assert ibkr._loop is not None
        assert ibkr._loop is not outer
        assert not outer.is_closed()
    finally:
        asyncio.set_event_loop(None)
        outer.close()
    ibkr.close()
    assert ibkr._loop is None
    assert ibkr.account().equity > 0          # closed brokers reconnect lazily


def test_other_clients_orders_never_mix_with_ours(gateway: TwsGateway, sleeps: Sleeps) -> None:
    a = make_broker(gateway, sleeps, client_id=17)
    b = make_broker(gateway, sleeps, client_id=18)
    a.account()
    b.account()                                       # same request sequence: TWS order ids collide
    mine = a.place_limit(marketable(a, "mine-1"))
    theirs = b.place_limit(marketable(b, "theirs-1"))
    assert mine.state is theirs.state is OrderState.FILLED
    assert mine.order_id == theirs.order_id           # ids are per client id ...
    fills = a.fills()
    assert {f.client_order_id for f in fills} == {"mine-1", "theirs-1"}    # one account: TWS reports both
    assert [f.order_id for f in fills if f.client_order_id == "mine-1"] == [mine.order_id] * len(
        [f for f in fills if f.client_order_id == "mine-1"])
    assert mine.order_id not in {f.order_id for f in fills if f.client_order_id == "theirs-1"}
    assert all(f.order_id.startswith("P") for f in fills if f.client_order_id == "theirs-1")  # ... so: P<permId>
    again = a.order(client_order_id="mine-1")
    assert again is not None
    assert again.filled_quantity == mine.quantity
    a.close()
    b.close()


def test_unknown_symbol_and_unknown_order(ibkr: IbkrBroker) -> None:
    with pytest.raises(UnknownSymbol):
        ibkr.quotes(["ZZZNOTLISTED"])
    with pytest.raises(UnknownSymbol):
        ibkr.place_limit(OrderRequest(client_order_id="u-1", symbol="ZZZNOTLISTED", side="buy",
                                      quantity=Decimal(1), limit_price=Decimal(1)))
    with pytest.raises(OrderRejected):
        ibkr.cancel("999999")
    with pytest.raises(OrderRejected):
        ibkr.cancel("not-an-id")


# ------------------------------------------------------------------------------------------- order faults


def test_drop_after_place_is_found_by_order_ref_not_resent(gateway: TwsGateway, ibkr: IbkrBroker,
                                                           sleeps: Sleeps) -> None:
    request = resting(ibkr, "drop-1")
    gateway.inject(TwsFault.drop_after_place())
    placed = ibkr.place_limit(request)
    assert placed.client_order_id == "drop-1"
    assert placed.state is OrderState.SUBMITTED
    assert gateway.order_count("drop-1") == 1
    assert places(gateway) == ["drop-1"]
    assert sleeps.calls == [1.0]            # one reconnect, after back-off
    assert ibkr.order(client_order_id="drop-1") == placed
    assert ibkr.place_limit(request) == placed


def test_lost_before_tws_read_it_is_placed_exactly_once(gateway: TwsGateway, ibkr: IbkrBroker,
                                                        sleeps: Sleeps) -> None:
    request = resting(ibkr, "lost-1")
    ib = ibkr._ib
    assert ib is not None
    real = ib.client.placeOrder

    def dropped(*args: Any) -> None:
        gateway.drop_all()                  # TWS restarts before it reads our message
        time.sleep(0.1)
        real(*args)

    ib.client.placeOrder = dropped  # type: ignore[method-assign]
    placed = ibkr.place_limit(request)
    assert placed.state is OrderState.SUBMITTED
    assert gateway.order_count("lost-1") == 1    # the lookup said "unknown", so it was placed once more
    assert sleeps.calls == [1.0]


def test_lookup_impossible_is_ambiguous_then_resolvable(gateway: TwsGateway, sleeps: Sleeps) -> None:
    class Restarting(Sleeps):
        def __call__(self, seconds: float) -> None:
            if not self.calls:
                gateway.inject(TwsFault.refuse_connections(0.5))   # TWS restarts while we try to look it up
            super().__call__(seconds)

    b = make_broker(gateway, Restarting())
    request = resting(b, "amb-1")
    gateway.inject(TwsFault.drop_after_place())
    with pytest.raises(AmbiguousOrderState) as info:
        b.place_limit(request)
    assert info.value.client_order_id == "amb-1"
    assert gateway.order_count("amb-1") == 1
    time.sleep(0.6)
    found = b.order(client_order_id="amb-1")      # the caller's resolution path
    assert found is not None
    assert found.state is OrderState.SUBMITTED
    assert b.place_limit(request) == found
    assert gateway.order_count("amb-1") == 1
    assert places(gateway) == ["amb-1"]
    b.close()


def test_disconnect_after_fill_reports_the_fill_once(gateway: TwsGateway, ibkr: IbkrBroker,
                                                     sleeps: Sleeps) -> None:
    request = marketable(ibkr, "dcf-1")
    gateway.inject(TwsFault.disconnect_after_fill())
    placed = ibkr.place_limit(request)
    assert placed.state is OrderState.FILLED
    assert placed.filled_quantity == request.quantity
    assert gateway.order_count("dcf-1") == 1
    fills = [f for f in ibkr.fills() if f.client_order_id == "dcf-1"]
    assert sum(f.quantity for f in fills) == request.quantity
    assert len({f.fill_id for f in fills}) == len(fills)
    assert {f.order_id for f in fills} == {placed.order_id}
    gateway.drop_all()                                # yet another reconnect replays the executions
    again = [f for f in ibkr.fills() if f.client_order_id == "dcf-1"]
    assert again == fills
    assert ibkr.place_limit(request).order_id == placed.order_id
    assert gateway.order_count("dcf-1") == 1


def test_partial_fill_then_disconnect_never_resubmits_the_remainder(gateway: TwsGateway, ibkr: IbkrBroker,
                                                                     sleeps: Sleeps) -> None:
    book = gateway.venue.book(SYMBOL, depth=1)
    best_ask, shown = Decimal(book["asks"][0]["price"]), int(book["asks"][0]["quantity"])
    request = OrderRequest(client_order_id="partial-1", symbol=SYMBOL, side="buy", quantity=Decimal(shown + 100),
                           limit_price=best_ask, time_in_force="gtc")
    gateway.inject(TwsFault.disconnect_after_fill())
    placed = ibkr.place_limit(request)
    assert placed.state is OrderState.PARTIALLY_FILLED
    assert placed.filled_quantity == shown
    assert sleeps.calls == [1.0]                       # it reconnected and looked the order up
    again = ibkr.place_limit(request)                  # the caller retries: same order, no remainder order
    assert again.order_id == placed.order_id
    assert again.filled_quantity == shown
    assert gateway.order_count("partial-1") == 1
    assert places(gateway) == ["partial-1"]
    assert [o.order_id for o in ibkr.open_orders()] == [placed.order_id]


def test_unacknowledged_but_booked_order_is_found_not_resent(gateway: TwsGateway, sleeps: Sleeps) -> None:
    b = make_broker(gateway, sleeps, timeout_s=0.5)
    request = resting(b, "deaf-1")
    ib = b._ib
    assert ib is not None
    ib.wrapper.orderStatus = lambda *a, **k: None  # type: ignore[method-assign]  # TWS's answers never reach us
    ib.wrapper.openOrder = lambda *a, **k: None  # type: ignore[method-assign]
    placed = b.place_limit(request)
    assert placed.state is OrderState.SUBMITTED
    assert gateway.order_count("deaf-1") == 1
    assert places(gateway) == ["deaf-1"]
    assert sleeps.calls == [1.0]                       # reconnected before looking it up
    b.close()


def test_unacknowledged_and_unbooked_order_is_placed_once_more(gateway: TwsGateway, sleeps: Sleeps) -> None:
    b = make_broker(gateway, sleeps, timeout_s=0.5)
    request = resting(b, "mute-1")
    ib = b._ib
    assert ib is not None
    ib.client.placeOrder = lambda *a, **k: None  # type: ignore[method-assign]  # the message never leaves
    placed = b.place_limit(request)
    assert placed.state is OrderState.SUBMITTED
    assert gateway.order_count("mute-1") == 1
    assert places(gateway) == ["mute-1"]
    b.close()


def test_cancel_across_a_dropped_connection(gateway: TwsGateway, ibkr: IbkrBroker, sleeps: Sleeps) -> None:
    placed = ibkr.place_limit(resting(ibkr, "cdrop-1"))
    ib = ibkr._ib
    assert ib is not None
    real = ib.client.cancelOrder

    def dropped(*args: Any) -> None:
        gateway.drop_all()
        time.sleep(0.1)
        real(*args)

    ib.client.cancelOrder = dropped  # type: ignore[method-assign]
    cancelled = ibkr.cancel(placed.order_id)
    assert cancelled.state is OrderState.CANCELLED
    assert sleeps.calls == [1.0]


def test_duplicate_status_does_not_double_count(gateway: TwsGateway, ibkr: IbkrBroker) -> None:
    request = marketable(ibkr, "dup-1")
    gateway.inject(TwsFault.duplicate_status())
    placed = ibkr.place_limit(request)
    assert placed.state is OrderState.FILLED
    assert placed.filled_quantity == request.quantity
    sent = statuses(gateway, placed.order_id)
    assert len(sent) > len(set(sent))                  # the duplicates were sent
    fills = [f for f in ibkr.fills() if f.client_order_id == "dup-1"]
    assert sum(f.quantity for f in fills) == request.quantity
    assert gateway.order_count("dup-1") == 1


def test_late_submitted_after_filled_stays_filled(gateway: TwsGateway, ibkr: IbkrBroker) -> None:
    request = marketable(ibkr, "ooo-1")
    gateway.inject(TwsFault.out_of_order_status())
    placed = ibkr.place_limit(request)
    assert placed.state is OrderState.FILLED
    looked_up = ibkr.order(order_id=placed.order_id)
    assert looked_up is not None
    assert looked_up.state is OrderState.FILLED
    assert placed.order_id not in [o.order_id for o in ibkr.open_orders()]
    assert ibkr.cancel(placed.order_id).state is OrderState.FILLED
    assert statuses(gateway, placed.order_id)[-2:] == ["Filled", "Submitted"]   # the late Submitted was sent
    assert ibkr._ib is not None
    [trade] = [t for t in ibkr._ib.trades() if str(t.order.orderId) == placed.order_id]
    assert trade.orderStatus.status == "Submitted"    # ib_async itself reopened it; we did not


def test_reject_201_raises_with_the_reason_and_is_not_resent(gateway: TwsGateway, ibkr: IbkrBroker) -> None:
    request = resting(ibkr, "rej-1")
    gateway.inject(TwsFault.reject("no trading permissions"))
    with pytest.raises(OrderRejected, match="no trading permissions") as info:
        ibkr.place_limit(request)
    assert info.value.client_order_id == "rej-1"
    again = ibkr.place_limit(request)                 # a known id comes back as it is, never re-sent
    assert again.state is OrderState.REJECTED
    assert again.reason is not None
    assert "201" in again.reason
    assert places(gateway) == ["rej-1"]
    assert gateway.order_count("rej-1") == 0


def test_cancel_that_loses_the_race_returns_the_fill(gateway: TwsGateway, ibkr: IbkrBroker) -> None:
    placed = ibkr.place_limit(resting(ibkr, "race-1"))
    gateway.inject(TwsFault.cancel_fill_race())
    after = ibkr.cancel(placed.order_id)
    assert after.state is OrderState.FILLED
    assert after.filled_quantity == placed.quantity
    assert ibkr.cancel(placed.order_id).state is OrderState.FILLED
    fills = [f for f in ibkr.fills() if f.client_order_id == "race-1"]
    assert sum(f.quantity for f in fills) == placed.quantity


def test_cancel_202_is_a_cancel_not_an_error(ibkr: IbkrBroker) -> None:
    placed = ibkr.place_limit(resting(ibkr, "c202-1"))
    cancelled = ibkr.cancel(placed.order_id)
    assert cancelled.state is OrderState.CANCELLED
    assert cancelled.remaining == 0


def test_pacing_on_place_backs_off_and_places_once(gateway: TwsGateway, ibkr: IbkrBroker,
                                                   sleeps: Sleeps) -> None:
    request = resting(ibkr, "pace-1")
    gateway.inject(TwsFault.pacing(1))
    placed = ibkr.place_limit(request)
    assert placed.state is OrderState.SUBMITTED
    assert gateway.order_count("pace-1") == 1
    assert sleeps.calls == [1.0]


def test_pacing_on_reads_backs_off_and_retries(gateway: TwsGateway, ibkr: IbkrBroker, sleeps: Sleeps) -> None:
    ibkr.quotes([SYMBOL])                             # contract qualified and cached
    gateway.inject(TwsFault.pacing(2))
    quote = ibkr.quotes([SYMBOL])[SYMBOL]
    assert quote.bid is not None
    assert sleeps.calls == [1.0, 2.0]
    gateway.inject(TwsFault.pacing(4))
    with pytest.raises(BrokerUnavailable, match="100"):
        ibkr.quotes([SYMBOL])


# ------------------------------------------------------------------------------------------- quote faults


@pytest.mark.parametrize("fault", [TwsFault.delayed_quotes(), TwsFault.frozen_quotes(), TwsFault.halted()],
                         ids=["delayed", "frozen", "halted"])
def test_non_live_quotes_are_flagged(gateway: TwsGateway, ibkr: IbkrBroker, fault: TwsFault) -> None:
    assert ibkr.quotes([SYMBOL])[SYMBOL].live
    gateway.inject(fault)
    quote = ibkr.quotes([SYMBOL])[SYMBOL]
    assert not quote.live
    assert quote.bid is not None
    assert quote.ask is not None
    assert ibkr.quotes([SYMBOL])[SYMBOL].live        # the fault fired once


def test_stale_quote_keeps_its_source_timestamp(gateway: TwsGateway, ibkr: IbkrBroker) -> None:
    fresh = ibkr.quotes([SYMBOL])[SYMBOL]
    gateway.inject(TwsFault.stale_quotes(seconds=3600))
    stale = ibkr.quotes([SYMBOL])[SYMBOL]
    assert timedelta(minutes=59) < fresh.ts - stale.ts < timedelta(minutes=61)
    assert stale.ts.utcoffset() == timedelta(0)


def test_quote_time_is_the_sources_not_ours(tmp_path: Path, sleeps: Sleeps) -> None:
    venue_time = datetime(2026, 3, 2, 15, 0, 7, tzinfo=UTC)
    ours = datetime(2030, 1, 1, tzinfo=UTC)
    with TwsGateway(tmp_path, clock=lambda: venue_time) as gw:
        gw.inject(TwsFault.clock_skew(120.0))
        b = make_broker(gw, sleeps, clock=lambda: ours)
        quote = b.quotes([SYMBOL])[SYMBOL]
        assert quote.ts == venue_time              # tick 45 from the venue; neither our clock nor the skew
        placed = b.place_limit(marketable(b, "skew-1"))
        assert placed.state is OrderState.FILLED   # nothing of ours depends on TWS's clock
        b.close()


def test_missing_snapshot_end_times_out_as_unavailable(gateway: TwsGateway, sleeps: Sleeps) -> None:
    b = make_broker(gateway, sleeps, timeout_s=0.5)
    b.quotes([SYMBOL])
    gateway.inject(TwsFault.no_snapshot_end())
    started = time.monotonic()
    with pytest.raises(BrokerUnavailable, match="quotes"):
        b.quotes([SYMBOL])
    assert time.monotonic() - started < 2.0
    assert b.quotes([SYMBOL])[SYMBOL].bid is not None
    b.close()


# ------------------------------------------------------------------------------------------- connectivity


def test_connectivity_lost_pauses_then_unavailable(gateway: TwsGateway, sleeps: Sleeps) -> None:
    b = make_broker(gateway, sleeps, timeout_s=0.5)
    b.account()
    gateway.inject(TwsFault.connectivity_lost())
    time.sleep(0.2)                                   # the notice reaches us before our next call, as in life
    started = time.monotonic()
    with pytest.raises(BrokerUnavailable, match="1100"):
        b.positions()
    assert 0.4 < time.monotonic() - started < 2.0
    gateway.inject(TwsFault.connectivity_restored())
    assert b.account().equity > 0
    b.close()


def test_connectivity_restored_resumes_the_waiting_call(gateway: TwsGateway, sleeps: Sleeps) -> None:
    b = make_broker(gateway, sleeps, timeout_s=2.0)
    b.account()
    gateway.inject(TwsFault.connectivity_lost(), TwsFault.connectivity_restored(after_s=0.5))
    time.sleep(0.2)
    started = time.monotonic()
    assert b.account().equity > 0
    assert 0.1 < time.monotonic() - started < 2.0
    b.close()


def test_restart_window_reconnects_with_backoff(gateway: TwsGateway) -> None:
    sleeps = Sleeps(real_s=0.3)
    b = make_broker(gateway, sleeps)
    b.account()
    gateway.inject(TwsFault.refuse_connections(0.45))
    assert b.positions() is not None
    assert sleeps.calls[:2] == [1.0, 2.0]
    assert len(sleeps.calls) <= 3
    b.close()


def test_reconnects_are_bounded(gateway: TwsGateway, sleeps: Sleeps) -> None:
    b = make_broker(gateway, sleeps, max_reconnects=3)
    b.account()
    gateway.inject(TwsFault.refuse_connections(30))
    with pytest.raises(BrokerUnavailable, match="3 connection attempts"):
        b.account()
    assert sleeps.calls == [1.0, 2.0, 4.0]
    b.close()


# ------------------------------------------------------------------------------------------- recovery


def test_a_fresh_process_finds_open_and_finished_orders_by_client_id(gateway: TwsGateway, sleeps: Sleeps) -> None:
    first = make_broker(gateway, sleeps)
    working = first.place_limit(resting(first, "rec-open"))
    filled = first.place_limit(marketable(first, "rec-filled"))
    cancelled = first.cancel(first.place_limit(resting(first, "rec-cancelled")).order_id)
    first.close()                                     # a crash would do the same to TWS: the orders stay
    wait_until_released(gateway, first.client_id)
    fresh = make_broker(gateway, sleeps)
    assert fresh.order(client_order_id="rec-open") == working
    again = fresh.order(client_order_id="rec-filled")
    assert again is not None
    assert (again.order_id, again.state, again.filled_quantity) == (filled.order_id, OrderState.FILLED,
                                                                    filled.filled_quantity)
    gone = fresh.order(client_order_id="rec-cancelled")
    assert gone is not None
    assert gone.state is OrderState.CANCELLED
    assert cancelled.state is OrderState.CANCELLED
    assert fresh.place_limit(resting(fresh, "rec-filled")).state is OrderState.FILLED
    assert [o.client_order_id for o in fresh.open_orders()] == ["rec-open"]
    for cid in ("rec-open", "rec-filled", "rec-cancelled"):
        assert gateway.order_count(cid) == 1
    fresh.close()


def test_an_order_tws_lists_only_in_executions_is_never_placed_again(gateway: TwsGateway, sleeps: Sleeps,
                                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    from ib_async import IB

    first = make_broker(gateway, sleeps)
    filled = first.place_limit(marketable(first, "exec-only"))
    first.close()
    wait_until_released(gateway, first.client_id)

    async def no_completed_orders(self: IB, api_only: bool) -> list[object]:
        return []                                     # e.g. an older TWS without completed orders

    monkeypatch.setattr(IB, "reqCompletedOrdersAsync", no_completed_orders)
    fresh = make_broker(gateway, sleeps)
    found = fresh.order(client_order_id="exec-only")
    assert found is not None
    assert (found.order_id, found.state, found.filled_quantity) == (filled.order_id, OrderState.FILLED,
                                                                    filled.filled_quantity)
    assert fresh.place_limit(marketable(fresh, "exec-only")).order_id == filled.order_id
    assert gateway.order_count("exec-only") == 1
    fresh.close()
