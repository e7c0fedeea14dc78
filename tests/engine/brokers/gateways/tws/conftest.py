"""Fixtures: a TWS gateway on a temporary venue, and real ib_async clients connected to it (sync API)."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from ib_async import IB, Stock

from engine.brokers.gateways.tws import TwsGateway

REQUEST_TIMEOUT_S = 3.0


@pytest.fixture
def gw(tmp_path: Path) -> Iterator[TwsGateway]:
    gateway = TwsGateway(tmp_path, poll_interval_s=0.05).start()
    yield gateway
    gateway.stop()


def connect(gw: TwsGateway, client_id: int = 1, **kwargs: object) -> IB:
    """A real ib_async client connected to the gateway (RequestTimeout always set)."""
    ib = IB()
    ib.RequestTimeout = REQUEST_TIMEOUT_S
    ib.connect("127.0.0.1", gw.port, clientId=client_id, timeout=5, **kwargs)
    return ib


@pytest.fixture
def ib(gw: TwsGateway) -> Iterator[IB]:
    client = connect(gw)
    yield client
    client.disconnect()


def wait_until(ib: IB, predicate: Callable[[], bool], timeout: float = 5.0) -> bool:
    """Run the client's event loop until `predicate()` holds or `timeout` passes; returns the predicate."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            return False
        ib.sleep(0.02)
    return True


def aapl(ib: IB) -> Stock:
    """AAPL qualified through the gateway."""
    contract = Stock("AAPL", "SMART", "USD")
    ib.qualifyContracts(contract)
    return contract
