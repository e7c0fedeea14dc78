"""The Binance gateway's named scenarios: each queues faults that a real python-binance client then meets."""

from __future__ import annotations

from pathlib import Path

import pytest
from binance.client import Client
from binance.exceptions import BinanceAPIException

from engine.brokers.gateways.binance import DEFAULT_API_KEY, DEFAULT_API_SECRET, BinanceGateway
from engine.brokers.gateways.binance.scenarios import SCENARIOS, apply_scenario


@pytest.fixture
def client_and_gateway(tmp_path: Path):  # type: ignore[no-untyped-def]
    gw = BinanceGateway(tmp_path).start()
    client = Client(DEFAULT_API_KEY, DEFAULT_API_SECRET, ping=False)
    client.API_URL = gw.api_url
    yield client, gw
    client.close_connection()
    gw.stop()


def _buy(client: Client) -> dict[str, object]:
    return client.create_order(symbol="AAPLUSDT", side="BUY", type="LIMIT", timeInForce="GTC",
                               quantity="1", price="100.00", newClientOrderId="scen-1")


def test_unknown_scenario_names_the_known_ones(tmp_path: Path) -> None:
    gw = BinanceGateway(tmp_path)
    try:
        with pytest.raises(ValueError, match="rate-limited"):
            apply_scenario(gw, "nope")
    finally:
        gw.stop_serving()


@pytest.mark.parametrize(("name", "status", "code"), [
    ("rate-limited", 429, -1003), ("banned", 418, -1003), ("server-error", 500, -1000),
    ("filter-failure", 400, -1013), ("insufficient-balance", 400, -2010),
])
def test_error_scenarios_hit_the_first_order_only(client_and_gateway, name: str, status: int,  # type: ignore[no-untyped-def]
                                                  code: int) -> None:
    client, gw = client_and_gateway
    apply_scenario(gw, name)
    with pytest.raises(BinanceAPIException) as info:
        _buy(client)
    assert (info.value.status_code, info.value.code) == (status, code)
    assert gw.exchange.order_count("scen-1") == 0        # nothing was booked
    assert _buy(client)["clientOrderId"] == "scen-1"      # the fault fired once
    assert gw.exchange.order_count("scen-1") == 1


def test_unknown_after_booking_books_then_answers_503(client_and_gateway) -> None:  # type: ignore[no-untyped-def]
    client, gw = client_and_gateway
    apply_scenario(gw, "unknown-after-booking")
    with pytest.raises(BinanceAPIException) as info:
        _buy(client)
    assert info.value.code == -1007
    assert gw.exchange.order_count("scen-1") == 1        # booked although the answer says "unknown"


def test_clock_skew_scenario_moves_the_server_clock(client_and_gateway) -> None:  # type: ignore[no-untyped-def]
    client, gw = client_and_gateway
    apply_scenario(gw, "clock-skew")
    with pytest.raises(BinanceAPIException) as info:
        client.get_account()
    assert info.value.code == -1021
    server = int(client.get_server_time()["serverTime"])
    client.timestamp_offset = server - gw.server_ms() + SCENARIOS["clock-skew"].clock_offset_ms
    assert client.get_account()["balances"]


def test_every_scenario_has_a_description() -> None:
    assert "happy" in SCENARIOS
    assert all(s.description for s in SCENARIOS.values())
