"""The Broker contract suite run against BinanceBroker → real python-binance Client → gateway on 127.0.0.1."""

from __future__ import annotations

from collections.abc import Iterator
from typing import ClassVar

import pytest

from engine.brokers.base import Broker
from engine.brokers.binance.adapter import BinanceBroker
from engine.brokers.gateways.binance import BinanceGateway
from tests.engine.brokers.contract import BrokerContract


class TestBinanceBrokerContract(BrokerContract):
    symbol: ClassVar[str] = "AAPLUSDT"
    unlisted: ClassVar[str] = "ZZZNOTLISTEDUSDT"

    @pytest.fixture
    def broker(self, binance: BinanceBroker, gateway: BinanceGateway) -> Iterator[Broker]:
        self._gateway = gateway
        yield binance

    def venue_order_count(self, broker: Broker, client_order_id: str) -> int | None:
        return self._gateway.exchange.order_count(client_order_id)
