"""BinanceBroker under scripted gateway faults: back-off, lookup by client id before any retry, no double orders."""

from __future__ import annotations

import logging
import time
from decimal import Decimal

import pytest
from pydantic import SecretStr

from configs.errors import ConfigError
from configs.models import BinanceSettings
from engine.brokers.base import OrderRequest, OrderState
from engine.brokers.binance.adapter import API_KEY_ENV, API_SECRET_ENV, BinanceBroker, api_url, credentials_from_env
from engine.brokers.gateways.binance import DEFAULT_API_KEY, DEFAULT_API_SECRET, BinanceGateway, Fault
from engine.errors import AmbiguousOrderState, BrokerError, BrokerUnavailable, OrderRejected
from tests.engine.brokers.binance.conftest import Sleeps

ORDER = "/api/v3/order"


def buy(cid: str, qty: str = "2", price: str | None = None, broker: BinanceBroker | None = None) -> OrderRequest:
    if price is None:
        assert broker is not None
        bid = broker.quotes(["AAPLUSDT"])["AAPLUSDT"].bid
        assert bid is not None
        price = str((bid * Decimal("0.9")).quantize(Decimal("0.01")))
    return OrderRequest(client_order_id=cid, symbol="AAPLUSDT", side="buy", quantity=Decimal(qty),
                        limit_price=Decimal(price), time_in_force="gtc")


def sequence(gw: BinanceGateway) -> list[tuple[str, str, int]]:
    """(method, client id, status) of every order request, in arrival order."""
    return [(r.method, r.params.get("newClientOrderId") or r.params.get("origClientOrderId", ""), r.status)
            for r in gw.requests(path=ORDER)]


def test_429_honours_retry_after_then_succeeds(gateway: BinanceGateway, binance: BinanceBroker,
                                               sleeps: Sleeps) -> None:
    gateway.inject(Fault.rate_limited(retry_after=3, path="/api/v3/account"))
    assert binance.account().currency == "USDT"
    assert sleeps.calls == [3.0]
    assert [r.status for r in gateway.requests(path="/api/v3/account")] == [429, 200]


def test_418_with_a_long_ban_gives_up_as_unavailable(gateway: BinanceGateway, binance: BinanceBroker,
                                                     sleeps: Sleeps) -> None:
    gateway.inject(Fault.banned(retry_after=3600, path="/api/v3/account"))
    with pytest.raises(BrokerUnavailable, match="418"):
        binance.account()
    assert sleeps.calls == []


def test_repeated_429_backs_off_then_is_unavailable(gateway: BinanceGateway, binance: BinanceBroker,
                                                    sleeps: Sleeps) -> None:
    gateway.inject(*[Fault.rate_limited(retry_after=2, path="/api/v3/account") for _ in range(4)])
    with pytest.raises(BrokerUnavailable):
        binance.account()
    assert sleeps.calls == [2.0, 2.0, 2.0]


def test_429_on_place_is_retried_and_books_once(gateway: BinanceGateway, binance: BinanceBroker,
                                                sleeps: Sleeps) -> None:
    request = buy("rl-place", broker=binance)
    gateway.inject(Fault.rate_limited(retry_after=1, method="POST", path=ORDER))
    placed = binance.place_limit(request)
    assert placed.state is OrderState.SUBMITTED
    assert gateway.exchange.order_count("rl-place") == 1
    assert sleeps.calls == [1.0]


@pytest.mark.parametrize("fault", [Fault.unknown_after_booking(method="POST", path=ORDER),
                                   Fault.dropped_after_booking(method="POST", path=ORDER)],
                         ids=["503-1007-booked", "booked-then-dropped"])
def test_booked_but_unanswered_order_is_found_by_client_id_not_resent(gateway: BinanceGateway,
                                                                      binance: BinanceBroker, fault: Fault) -> None:
    request = buy("amb-booked", broker=binance)
    gateway.inject(fault)
    placed = binance.place_limit(request)
    assert placed.client_order_id == "amb-booked"
    assert placed.state is OrderState.SUBMITTED
    assert gateway.exchange.order_count("amb-booked") == 1
    calls = sequence(gateway)
    # lookup first (unknown), one POST (unanswered), then the lookup that resolves it; never a second POST.
    assert [m for m, _, _ in calls] == ["GET", "POST", "GET"]
    assert calls[0][2] == 400
    assert calls[2][2] == 200


def test_timed_out_order_is_looked_up_not_resent(gateway: BinanceGateway, sleeps: Sleeps) -> None:
    b = BinanceBroker(SecretStr(DEFAULT_API_KEY), SecretStr(DEFAULT_API_SECRET), base_url=gateway.api_url,
                      timeout_s=0.3, sleep=sleeps)
    request = buy("amb-timeout", broker=b)
    gateway.inject(Fault.slow(1.0, method="POST", path=ORDER))
    placed = b.place_limit(request)
    assert placed.client_order_id == "amb-timeout"
    assert gateway.exchange.order_count("amb-timeout") == 1
    b.close()
    deadline = time.monotonic() + 5
    while len(sequence(gateway)) < 3 and time.monotonic() < deadline:  # the late answer is logged when sent
        time.sleep(0.05)
    assert [m for m, _, _ in sequence(gateway)] == ["GET", "POST", "GET"]


@pytest.mark.parametrize("fault", [Fault.server_error(method="POST", path=ORDER),
                                   Fault.unavailable(method="POST", path=ORDER),
                                   Fault.dropped(method="POST", path=ORDER)],
                         ids=["500", "503-1007-not-booked", "dropped-before"])
def test_unbooked_ambiguous_order_raises_and_is_never_resubmitted(gateway: BinanceGateway, binance: BinanceBroker,
                                                                  fault: Fault) -> None:
    request = buy("amb-lost", broker=binance)
    gateway.inject(fault)
    with pytest.raises(AmbiguousOrderState) as info:
        binance.place_limit(request)
    assert info.value.client_order_id == "amb-lost"
    assert gateway.exchange.order_count("amb-lost") == 0
    assert [m for m, _, _ in sequence(gateway)] == ["GET", "POST", "GET"]
    # The caller's resolution path: look up by client id; nothing there, so a deliberate resubmit books exactly one.
    assert binance.order(client_order_id="amb-lost") is None
    assert binance.place_limit(request).state is OrderState.SUBMITTED
    assert gateway.exchange.order_count("amb-lost") == 1


def test_genuine_duplicate_open_id_returns_the_existing_order(gateway: BinanceGateway,
                                                              binance: BinanceBroker) -> None:
    first = binance.place_limit(buy("dup-open", broker=binance))
    # Make the pre-flight lookup miss (e.g. a lagging replica) so the POST meets Binance's own -2010 duplicate check.
    gateway.inject(Fault.api(-2013, "Order does not exist.", method="GET", path=ORDER))
    again = binance.place_limit(buy("dup-open", price=str(first.limit_price)))
    assert again.order_id == first.order_id
    assert gateway.exchange.order_count("dup-open") == 1


def test_reads_are_retried_after_5xx_and_dropped_connections(gateway: BinanceGateway, binance: BinanceBroker,
                                                             sleeps: Sleeps) -> None:
    gateway.inject(Fault.server_error(path="/api/v3/account"), Fault.dropped(path="/api/v3/account"))
    assert binance.account().equity > 0
    assert len(sleeps.calls) == 2
    gateway.inject(*[Fault.server_error(path="/api/v3/openOrders") for _ in range(4)])
    with pytest.raises(BrokerUnavailable):
        binance.open_orders()


def test_clock_skew_resyncs_and_retries_once(gateway: BinanceGateway, binance: BinanceBroker) -> None:
    gateway.state.clock_offset_ms = -90_000
    binance.account()                     # first signed call syncs to the skewed server clock
    assert abs(binance._client.timestamp_offset + 90_000) < 2_000
    gateway.state.clock_offset_ms = 45_000
    binance.account()                     # -1021, resync, retry
    statuses = [r.status for r in gateway.requests(path="/api/v3/account")]
    assert statuses == [200, 400, 200]
    assert len(gateway.requests(path="/api/v3/time")) == 2


def test_filter_failure_and_insufficient_balance_are_rejections(gateway: BinanceGateway,
                                                                binance: BinanceBroker) -> None:
    with pytest.raises(OrderRejected, match="-1013"):
        binance.place_limit(buy("bad-lot", qty="1.5", price="150.00"))
    with pytest.raises(OrderRejected, match="-2010"):
        binance.place_limit(buy("too-big", qty="100000", price="150.00"))
    assert gateway.exchange.order_count("bad-lot") == 0
    assert gateway.exchange.order_count("too-big") == 0


def test_cancel_answered_unknown_returns_the_orders_real_state(gateway: BinanceGateway,
                                                               binance: BinanceBroker) -> None:
    placed = binance.place_limit(buy("cancel-2011", broker=binance))
    gateway.inject(Fault.api(-2011, "Unknown order sent.", method="DELETE", path=ORDER))
    after = binance.cancel(placed.order_id)
    assert after.state is OrderState.SUBMITTED    # the cancel did not happen; we report what the venue has
    assert binance.cancel(placed.order_id).state is OrderState.CANCELLED


def test_lookup_answered_unknown_is_none(gateway: BinanceGateway, binance: BinanceBroker) -> None:
    placed = binance.place_limit(buy("lookup-2013", broker=binance))
    gateway.inject(Fault.api(-2013, "Order does not exist.", method="GET", path=ORDER))
    assert binance.order(order_id=placed.order_id) is None
    assert binance.order(order_id=placed.order_id) == placed


def test_cancel_of_an_unknown_order_is_rejected(binance: BinanceBroker) -> None:
    with pytest.raises(OrderRejected):
        binance.cancel("AAPLUSDT-999999")
    with pytest.raises(OrderRejected):
        binance.cancel("not-an-id")


def test_wrong_secret_is_a_credentials_error(gateway: BinanceGateway) -> None:
    b = BinanceBroker(SecretStr(DEFAULT_API_KEY), SecretStr("wrong"), base_url=gateway.api_url)
    with pytest.raises(BrokerError, match=API_SECRET_ENV):
        b.account()
    b.close()


def test_keys_come_from_the_environment_and_are_never_shown(gateway: BinanceGateway,
                                                            caplog: pytest.LogCaptureFixture) -> None:
    with pytest.raises(ConfigError) as info:
        credentials_from_env({})
    assert len(info.value.issues) == 2
    env = {API_KEY_ENV: DEFAULT_API_KEY, API_SECRET_ENV: DEFAULT_API_SECRET}
    _key, secret = credentials_from_env(env)
    assert DEFAULT_API_SECRET not in repr(secret)
    with caplog.at_level(logging.DEBUG):
        b = BinanceBroker.from_env(env, base_url=gateway.api_url)
        b.account()
    assert DEFAULT_API_SECRET not in repr(b)
    assert DEFAULT_API_SECRET not in caplog.text
    assert b.paper
    b.close()


def test_real_binance_url_is_not_paper_and_api_url_is_normalised() -> None:
    b = BinanceBroker(SecretStr("k"), SecretStr("s"))  # constructing opens no socket (ping=False)
    assert not b.paper
    assert b._client.API_URL == "https://api.binance.com/api"
    b.close()
    assert api_url("http://127.0.0.1:8765/") == api_url("http://127.0.0.1:8765/api") == "http://127.0.0.1:8765/api"


def test_from_settings_uses_the_config_table(gateway: BinanceGateway) -> None:
    settings = BinanceSettings(base_url=f"http://127.0.0.1:{gateway.port}", quote_asset="USDT", recv_window_ms=7000)
    env = {API_KEY_ENV: DEFAULT_API_KEY, API_SECRET_ENV: DEFAULT_API_SECRET}
    b = BinanceBroker.from_settings(settings, env)
    assert b.account().currency == "USDT"
    assert gateway.requests(path="/api/v3/account")[-1].params["recvWindow"] == "7000"
    b.close()


def test_a_fresh_process_finds_an_order_by_client_id_through_its_balances(gateway: BinanceGateway,
                                                                          binance: BinanceBroker) -> None:
    ask = binance.quotes(["AAPLUSDT"])["AAPLUSDT"].ask
    assert ask is not None
    filled = binance.place_limit(buy("recover-me", price=str((ask * Decimal("1.01")).quantize(Decimal("0.01")))))
    assert filled.state is OrderState.FILLED
    fresh = BinanceBroker(SecretStr(DEFAULT_API_KEY), SecretStr(DEFAULT_API_SECRET), base_url=gateway.api_url)
    found = fresh.order(client_order_id="recover-me")
    assert found == filled
    assert fresh.order(client_order_id="never-sent") is None
    fresh.close()


def test_open_orders_span_symbols_oldest_first(binance: BinanceBroker) -> None:
    a = binance.place_limit(buy("span-a", broker=binance))
    bid = binance.quotes(["MSFTUSDT"])["MSFTUSDT"].bid
    assert bid is not None
    b = binance.place_limit(OrderRequest(client_order_id="span-b", symbol="MSFTUSDT", side="buy",
                                         quantity=Decimal(1), limit_price=(bid * Decimal("0.9")).quantize(
                                             Decimal("0.01")), time_in_force="gtc"))
    assert [o.order_id for o in binance.open_orders()] == [a.order_id, b.order_id]
    assert b.order_id.startswith("MSFTUSDT-")


def test_a_filled_client_id_is_never_resent_although_binance_would_accept_it(gateway: BinanceGateway,
                                                                             binance: BinanceBroker) -> None:
    ask = binance.quotes(["AAPLUSDT"])["AAPLUSDT"].ask
    assert ask is not None
    request = buy("once-only", price=str((ask * Decimal("1.01")).quantize(Decimal("0.01"))))
    first = binance.place_limit(request)
    assert first.state is OrderState.FILLED
    again = binance.place_limit(request)      # e.g. a cron double-fire (F7)
    assert again == first
    assert gateway.exchange.order_count("once-only") == 1
    assert [m for m, _, _ in sequence(gateway)] == ["GET", "POST", "GET"]


def test_every_connection_goes_to_loopback(gateway: BinanceGateway, monkeypatch: pytest.MonkeyPatch) -> None:
    import socket

    seen: list[object] = []
    real_connect = socket.socket.connect

    def guarded(self: socket.socket, address: object) -> None:
        seen.append(address)
        assert isinstance(address, tuple)
        assert address[0] == "127.0.0.1", f"non-loopback connection to {address}"
        real_connect(self, address)

    monkeypatch.setattr(socket.socket, "connect", guarded)
    b = BinanceBroker(SecretStr(DEFAULT_API_KEY), SecretStr(DEFAULT_API_SECRET), base_url=gateway.api_url)
    assert seen == []                           # ping=False: constructing opens no socket
    b.account()
    b.place_limit(buy("guarded", broker=b))
    b.fills()
    b.close()
    assert seen
