"""Fixtures: a fake TWS over a fresh simulated venue in tmp_path, and an IbkrBroker (real ib_async) connected to it."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from engine.brokers.gateways.tws import DEFAULT_ACCOUNT, TwsGateway
from engine.brokers.ibkr.adapter import IbkrBroker

REQUEST_TIMEOUT_S = 2.0


class Sleeps:
    """A recording stand-in for time.sleep: back-off is asserted, never waited for (unless `real_s` is set)."""

    def __init__(self, real_s: float = 0.0) -> None:
        self.calls: list[float] = []
        self.real_s = real_s

    def __call__(self, seconds: float) -> None:
        self.calls.append(seconds)
        if self.real_s:
            time.sleep(self.real_s)


@pytest.fixture
def gateway(tmp_path: Path) -> Iterator[TwsGateway]:
    gw = TwsGateway(tmp_path, account=DEFAULT_ACCOUNT).start()
    yield gw
    gw.stop()


@pytest.fixture
def sleeps() -> Sleeps:
    return Sleeps()


def make_broker(gw: TwsGateway, sleeps: Sleeps, **kw: object) -> IbkrBroker:
    opts: dict[str, object] = {"timeout_s": REQUEST_TIMEOUT_S, "sleep": sleeps}
    opts.update(kw)
    return IbkrBroker("127.0.0.1", gw.port, **opts)  # type: ignore[arg-type]


@pytest.fixture
def ibkr(gateway: TwsGateway, sleeps: Sleeps) -> Iterator[IbkrBroker]:
    b = make_broker(gateway, sleeps)
    yield b
    b.close()
