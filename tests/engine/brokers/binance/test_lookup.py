"""Client-id lookups need the pair on Binance: the `symbol` hint finds an order in a pair no longer held."""

from __future__ import annotations

from decimal import Decimal

from pydantic import SecretStr

from engine.brokers.base import OrderRequest, OrderState
from engine.brokers.binance.adapter import BinanceBroker
from engine.brokers.gateways.binance import DEFAULT_API_KEY, DEFAULT_API_SECRET, BinanceGateway


def fresh_broker(gateway: BinanceGateway) -> BinanceBroker:
    """A new process's broker: it has used no pairs yet."""
    return BinanceBroker(SecretStr(DEFAULT_API_KEY), SecretStr(DEFAULT_API_SECRET), base_url=gateway.api_url,
                         timeout_s=5.0, sleep=lambda _s: None)


def test_symbol_hint_finds_a_cancelled_order_in_a_pair_not_held(gateway: BinanceGateway) -> None:
    first = fresh_broker(gateway)
    try:
        bid = first.quotes(["MSFTUSDT"])["MSFTUSDT"].bid
        assert bid is not None
        placed = first.place_limit(OrderRequest("hint-1", "MSFTUSDT", "buy", Decimal(1),
                                                (bid * Decimal("0.9")).quantize(Decimal("0.01"))))
        first.cancel(placed.order_id)
    finally:
        first.close()

    later = fresh_broker(gateway)   # e.g. `nanobook recover` after a crash: no open orders, no MSFT balance
    try:
        assert all(p.symbol != "MSFTUSDT" for p in later.positions())
        assert later.order(client_order_id="hint-1") is None          # nowhere it could have looked
        found = later.order(client_order_id="hint-1", symbol="MSFTUSDT")
        assert found is not None and found.state is OrderState.CANCELLED and found.order_id == placed.order_id
    finally:
        later.close()
