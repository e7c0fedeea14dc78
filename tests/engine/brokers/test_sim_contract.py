"""The Broker contract suite run against SimBroker (a fresh venue in tmp_path, fixed clock)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from engine.brokers.base import Broker
from engine.brokers.sim import SimBroker
from tests.engine.brokers.contract import BrokerContract
from tests.engine.brokers.sim.helpers import Clock


class TestSimBrokerContract(BrokerContract):
    @pytest.fixture
    def broker(self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Broker]:
        monkeypatch.chdir(tmp_path)
        monkeypatch.delenv("NANOBOOK_SIM_FAULTS", raising=False)
        b = SimBroker(clock=Clock())
        yield b
        b.close()

    def venue_order_count(self, broker: Broker, client_order_id: str) -> int | None:
        assert isinstance(broker, SimBroker)
        return sum(1 for o in broker.venue.orders_data() if o["client_order_id"] == client_order_id)
