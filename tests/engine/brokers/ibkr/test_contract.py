"""The Broker contract suite run against IbkrBroker → real ib_async → fake TWS gateway on 127.0.0.1."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from engine.brokers.base import Broker
from engine.brokers.gateways.tws import TwsGateway
from engine.brokers.ibkr.adapter import IbkrBroker
from tests.engine.brokers.contract import BrokerContract


class TestIbkrBrokerContract(BrokerContract):
    @pytest.fixture
    def broker(self, ibkr: IbkrBroker, gateway: TwsGateway) -> Iterator[Broker]:
        self._gateway = gateway
        yield ibkr

    def venue_order_count(self, broker: Broker, client_order_id: str) -> int | None:
        return self._gateway.order_count(client_order_id)
