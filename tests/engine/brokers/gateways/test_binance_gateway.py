"""The Binance gateway at the wire, with a stdlib client: endpoints, JSON shapes, signatures, clock and filters."""

from __future__ import annotations

import hashlib
import hmac
import http.client
import json
import time
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import pytest

from engine.brokers.gateways.binance import (
    DEFAULT_API_KEY,
    DEFAULT_API_SECRET,
    BinanceGateway,
    ExchangeRules,
    Fault,
)


class Wire:
    """A minimal signed Binance client over http.client (what python-binance does, spelled out)."""

    def __init__(self, gw: BinanceGateway, key: str = DEFAULT_API_KEY, secret: str = DEFAULT_API_SECRET) -> None:
        self.gw, self.key, self.secret = gw, key, secret

    def sign(self, params: dict[str, Any], ts_offset_ms: int = 0, recv_window: int | None = 10000) -> str:
        params = {**params, "timestamp": int(time.time() * 1000) + ts_offset_ms}
        if recv_window is not None:
            params["recvWindow"] = recv_window
        payload = "&".join(f"{k}={v}" for k, v in params.items())
        sig = hmac.new(self.secret.encode(), payload.encode(), hashlib.sha256).hexdigest()
        return f"{payload}&signature={sig}"

    def call(self, method: str, path: str, params: dict[str, Any] | None = None, *, signed: bool = False,
             raw: str | None = None, **sign_kw: Any) -> tuple[int, Any, dict[str, str]]:
        text = raw if raw is not None else (self.sign(params or {}, **sign_kw) if signed else urlencode(params or {}))
        conn = http.client.HTTPConnection("127.0.0.1", self.gw.port, timeout=5)
        headers = {"X-MBX-APIKEY": self.key}
        try:
            if method == "GET":
                conn.request("GET", f"/api/v3/{path}" + (f"?{text}" if text else ""), headers=headers)
            else:
                headers["Content-Type"] = "application/x-www-form-urlencoded"
                conn.request(method, f"/api/v3/{path}", body=text, headers=headers)
            resp = conn.getresponse()
            body = resp.read()
            return resp.status, json.loads(body) if body else None, dict(resp.getheaders())
        finally:
            conn.close()


@pytest.fixture
def gw(tmp_path: Path) -> Iterator[BinanceGateway]:
    g = BinanceGateway(tmp_path).start()
    yield g
    g.stop()


@pytest.fixture
def wire(gw: BinanceGateway) -> Wire:
    return Wire(gw)


def limit(cid: str, qty: str = "2", price: str = "150.00", side: str = "BUY", symbol: str = "AAPLUSDT"
          ) -> dict[str, Any]:
    return {"symbol": symbol, "side": side, "type": "LIMIT", "timeInForce": "GTC", "quantity": qty, "price": price,
            "newClientOrderId": cid}


def test_refuses_anything_but_loopback(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match=r"127\.0\.0\.1"):
        BinanceGateway(tmp_path, host="0.0.0.0")


def test_binds_loopback_on_a_free_port(gw: BinanceGateway) -> None:
    assert gw.port > 0
    assert gw.api_url == f"http://127.0.0.1:{gw.port}/api"


def test_public_endpoints(wire: Wire) -> None:
    assert wire.call("GET", "ping")[:2] == (200, {})
    status, body, headers = wire.call("GET", "time")
    assert status == 200
    assert abs(body["serverTime"] - time.time() * 1000) < 5000
    assert headers["Server"].startswith("nanobook-binance-gateway")


def test_exchange_info_shape(wire: Wire) -> None:
    status, info, _ = wire.call("GET", "exchangeInfo")
    assert status == 200
    assert {"timezone", "serverTime", "rateLimits", "exchangeFilters", "symbols"} <= set(info)
    aapl = next(s for s in info["symbols"] if s["symbol"] == "AAPLUSDT")
    assert (aapl["baseAsset"], aapl["quoteAsset"], aapl["status"]) == ("AAPL", "USDT", "TRADING")
    kinds = {f["filterType"]: f for f in aapl["filters"]}
    assert kinds["PRICE_FILTER"]["tickSize"] == "0.01000000"
    assert kinds["LOT_SIZE"]["stepSize"] == "1.00000000"
    assert kinds["NOTIONAL"]["minNotional"] == "5.00000000"
    status, one, _ = wire.call("GET", "exchangeInfo", {"symbol": "MSFTUSDT"})
    assert [s["symbol"] for s in one["symbols"]] == ["MSFTUSDT"]


def test_legacy_min_notional_can_be_advertised(tmp_path: Path) -> None:
    with BinanceGateway(tmp_path, rules=ExchangeRules(legacy_min_notional=True)) as g:
        _, info, _ = Wire(g).call("GET", "exchangeInfo", {"symbol": "AAPLUSDT"})
    kinds = {f["filterType"] for f in info["symbols"][0]["filters"]}
    assert "MIN_NOTIONAL" in kinds
    assert "NOTIONAL" not in kinds


def test_book_ticker_one_and_all(wire: Wire) -> None:
    status, t, _ = wire.call("GET", "ticker/bookTicker", {"symbol": "AAPLUSDT"})
    assert status == 200
    assert set(t) == {"symbol", "bidPrice", "bidQty", "askPrice", "askQty"}
    assert 0 < Decimal(t["bidPrice"]) < Decimal(t["askPrice"])
    _, every, _ = wire.call("GET", "ticker/bookTicker")
    assert isinstance(every, list)
    assert "AAPLUSDT" in {x["symbol"] for x in every}
    assert wire.call("GET", "ticker/bookTicker", {"symbol": "NOPEUSDT"})[:2] == (400, {"code": -1121,
                                                                                     "msg": "Invalid symbol."})


def test_account_balances(wire: Wire) -> None:
    status, acct, _ = wire.call("GET", "account", signed=True)
    assert status == 200
    assert acct["accountType"] == "SPOT"
    usdt = next(b for b in acct["balances"] if b["asset"] == "USDT")
    assert Decimal(usdt["free"]) == Decimal("1000000")
    assert Decimal(usdt["locked"]) == 0


def test_signature_key_and_clock_are_checked(gw: BinanceGateway, wire: Wire) -> None:
    assert wire.call("GET", "account", signed=True)[0] == 200
    assert Wire(gw, key="wrong").call("GET", "account", signed=True)[1]["code"] == -2014
    assert Wire(gw, secret="wrong").call("GET", "account", signed=True)[1]["code"] == -1022
    assert wire.call("GET", "account", raw="timestamp=1")[1]["code"] == -1022
    assert wire.call("GET", "account", signed=True, ts_offset_ms=-20_000)[1]["code"] == -1021
    assert wire.call("GET", "account", signed=True, ts_offset_ms=5_000)[1]["code"] == -1021
    assert wire.call("GET", "account", signed=True, recv_window=70_000)[1]["code"] == -1131
    gw.state.clock_offset_ms = 30_000
    assert wire.call("GET", "account", signed=True)[1]["code"] == -1021


def test_signature_covers_the_exact_bytes_sent(wire: Wire) -> None:
    # A percent-encoded body whose signature covered the decoded text is refused (research/brokers.md §3.2).
    signed = wire.sign(limit("a:b"))
    encoded = signed.replace("a:b", "a%3Ab")
    assert wire.call("POST", "order", raw=encoded)[1]["code"] == -1022


def test_order_lifecycle(gw: BinanceGateway, wire: Wire) -> None:
    status, placed, _ = wire.call("POST", "order", limit("life-1"), signed=True)
    assert status == 200
    assert placed["status"] == "NEW"
    assert placed["clientOrderId"] == "life-1"
    assert placed["fills"] == []
    oid = placed["orderId"]
    _, by_cid, _ = wire.call("GET", "order", {"symbol": "AAPLUSDT", "origClientOrderId": "life-1"}, signed=True)
    _, by_id, _ = wire.call("GET", "order", {"symbol": "AAPLUSDT", "orderId": oid}, signed=True)
    assert by_cid == by_id
    assert by_id["origQty"] == "2.00000000"
    _, working, _ = wire.call("GET", "openOrders", signed=True)
    assert [o["clientOrderId"] for o in working] == ["life-1"]
    _, acct, _ = wire.call("GET", "account", signed=True)
    usdt = next(b for b in acct["balances"] if b["asset"] == "USDT")
    assert Decimal(usdt["locked"]) > 300
    status, cancelled, _ = wire.call("DELETE", "order", {"symbol": "AAPLUSDT", "orderId": oid}, signed=True)
    assert status == 200
    assert (cancelled["status"], cancelled["origClientOrderId"]) == ("CANCELED", "life-1")
    assert wire.call("DELETE", "order", {"symbol": "AAPLUSDT", "orderId": oid}, signed=True)[1]["code"] == -2011
    assert wire.call("GET", "openOrders", signed=True)[1] == []


def test_marketable_order_fills_and_shows_in_my_trades(wire: Wire) -> None:
    _, t, _ = wire.call("GET", "ticker/bookTicker", {"symbol": "AAPLUSDT"})
    price = str((Decimal(t["askPrice"]) * Decimal("1.01")).quantize(Decimal("0.01")))
    _, placed, _ = wire.call("POST", "order", limit("fill-1", price=price), signed=True)
    assert placed["status"] == "FILLED"
    assert sum(Decimal(f["qty"]) for f in placed["fills"]) == 2
    _, trades, _ = wire.call("GET", "myTrades", {"symbol": "AAPLUSDT"}, signed=True)
    assert {t["orderId"] for t in trades} == {placed["orderId"]}
    assert all(t["isBuyer"] for t in trades)
    _, acct, _ = wire.call("GET", "account", signed=True)
    assert next(b for b in acct["balances"] if b["asset"] == "AAPL")["free"] == "2.00000000"
    # Selling more than is held is -2010.
    assert wire.call("POST", "order", limit("sell-3", qty="3", price="10.00", side="SELL"),
                     signed=True)[1]["code"] == -2010


@pytest.mark.parametrize(("qty", "price", "what"), [
    ("1.5", "150.00", "LOT_SIZE"), ("2", "150.001", "PRICE_FILTER"), ("1", "4.99", "NOTIONAL")])
def test_filter_failures(wire: Wire, qty: str, price: str, what: str) -> None:
    status, body, _ = wire.call("POST", "order", limit("filt", qty=qty, price=price), signed=True)
    assert (status, body) == (400, {"code": -1013, "msg": f"Filter failure: {what}"})


def test_balance_duplicate_and_unknown_orders(wire: Wire) -> None:
    assert wire.call("POST", "order", limit("big", qty="100000", price="150.00"), signed=True)[1]["code"] == -2010
    assert wire.call("POST", "order", limit("dup"), signed=True)[0] == 200
    assert wire.call("POST", "order", limit("dup"), signed=True)[1] == {"code": -2010, "msg": "Duplicate order sent."}
    assert wire.call("GET", "order", {"symbol": "AAPLUSDT", "origClientOrderId": "big"},
                     signed=True)[1]["code"] == -2013
    assert wire.call("GET", "order", {"symbol": "MSFTUSDT", "origClientOrderId": "dup"},
                     signed=True)[1]["code"] == -2013
    assert wire.call("DELETE", "order", {"symbol": "AAPLUSDT", "origClientOrderId": "nope"},
                     signed=True)[1]["code"] == -2011
    assert wire.call("POST", "order", limit("bad id!"), signed=True)[1]["code"] == -1100


def test_scripted_faults_apply_once(gw: BinanceGateway, wire: Wire) -> None:
    gw.inject(Fault.rate_limited(retry_after=7, path="/api/v3/ping"))
    status, body, headers = wire.call("GET", "ping")
    assert (status, body["code"], headers["Retry-After"]) == (429, -1003, "7")
    assert wire.call("GET", "ping")[0] == 200
    gw.inject(Fault.unknown_after_booking(method="POST", path="/api/v3/order"))
    status, body, _ = wire.call("POST", "order", limit("booked-503"), signed=True)
    assert (status, body["code"]) == (503, -1007)
    assert gw.exchange.order_count("booked-503") == 1
    gw.inject(Fault.dropped_after_booking(method="POST"))
    with pytest.raises((http.client.RemoteDisconnected, ConnectionError)):
        wire.call("POST", "order", limit("booked-drop"), signed=True)
    assert gw.exchange.order_count("booked-drop") == 1
    assert [r.status for r in gw.requests("POST")] == [503, 0]


def test_a_finished_orders_client_id_is_accepted_again_like_binance(gw: BinanceGateway, wire: Wire) -> None:
    _, t, _ = wire.call("GET", "ticker/bookTicker", {"symbol": "AAPLUSDT"})
    price = str((Decimal(t["askPrice"]) * Decimal("1.01")).quantize(Decimal("0.01")))
    _, first, _ = wire.call("POST", "order", limit("reuse", price=price), signed=True)
    assert first["status"] == "FILLED"
    status, second, _ = wire.call("POST", "order", limit("reuse"), signed=True)
    assert status == 200
    assert second["clientOrderId"] == "reuse"
    assert second["orderId"] != first["orderId"]
    assert gw.exchange.order_count("reuse") == 2
    _, newest, _ = wire.call("GET", "order", {"symbol": "AAPLUSDT", "origClientOrderId": "reuse"}, signed=True)
    assert newest["orderId"] == second["orderId"]
    # While the new one is open the id is a duplicate again; cancelling it frees the id once more.
    assert wire.call("POST", "order", limit("reuse"), signed=True)[1]["code"] == -2010
    _, cancelled, _ = wire.call("DELETE", "order", {"symbol": "AAPLUSDT", "origClientOrderId": "reuse"}, signed=True)
    assert cancelled["origClientOrderId"] == "reuse"
    assert wire.call("POST", "order", limit("reuse"), signed=True)[0] == 200
    assert gw.exchange.order_count("reuse") == 3
