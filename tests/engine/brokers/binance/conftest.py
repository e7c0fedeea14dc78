"""Fixtures: a Binance gateway over a fresh simulated venue in tmp_path, and a BinanceBroker pointed at it."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from pydantic import SecretStr

from engine.brokers.binance.adapter import BinanceBroker
from engine.brokers.gateways.binance import DEFAULT_API_KEY, DEFAULT_API_SECRET, BinanceGateway


class Sleeps:
    """A recording stand-in for time.sleep: back-off is asserted, never waited for."""

    def __init__(self) -> None:
        self.calls: list[float] = []

    def __call__(self, seconds: float) -> None:
        self.calls.append(seconds)


@pytest.fixture
def gateway(tmp_path: Path) -> Iterator[BinanceGateway]:
    gw = BinanceGateway(tmp_path).start()
    yield gw
    gw.stop()


@pytest.fixture
def sleeps() -> Sleeps:
    return Sleeps()


@pytest.fixture
def binance(gateway: BinanceGateway, sleeps: Sleeps) -> Iterator[BinanceBroker]:
    b = BinanceBroker(SecretStr(DEFAULT_API_KEY), SecretStr(DEFAULT_API_SECRET), base_url=gateway.api_url,
                      timeout_s=5.0, sleep=sleeps)
    yield b
    b.close()
