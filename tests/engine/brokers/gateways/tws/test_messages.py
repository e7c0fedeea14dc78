"""Server -> client layouts decoded by ib_async's own Decoder at several server versions (field-exact checks)."""

from __future__ import annotations

from datetime import UTC
from decimal import Decimal
from typing import Any

import pytest
from ib_async.decoder import Decoder

from engine.brokers.gateways.tws import messages as m
from engine.brokers.gateways.tws.codec import Fields

VERSIONS = [164, 170, 176, 177, 178]
INFO = m.ContractInfo(123456, "AAPL", Decimal("0.01"))
ORDER = m.OrderView(order_id=7, client_id=3, perm_id=900000042, action="BUY", quantity=Decimal(25),
                    limit_price=Decimal("185.04"), tif="DAY", account="DUFAKE01", order_ref="rebal-AAPL-B-25",
                    status="Filled", filled=Decimal(25), avg_price=Decimal("185.03"),
                    last_fill_price=Decimal("185.04"), completed_time="20261124 15:00:00 UTC",
                    completed_status="filled at the venue")
EXEC = m.ExecView("00000001.35a4e901.01.01", 7, 3, 900000042, "20261124 15:00:00 UTC", "DUFAKE01", "BOT",
                  Decimal(10), Decimal("185.04"), Decimal(10), Decimal("185.04"), "rebal-AAPL-B-25",
                  Decimal("0.35"), 2)


class Recorder:
    """Stands in for ib_async's Wrapper: records every callback the decoder makes."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, tuple[Any, ...]]] = []
        self.defaultTimezone = UTC
        self.ib = type("IBStub", (), {"TimezoneTWS": None})()

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__"):
            raise AttributeError(name)
        return lambda *args: self.calls.append((name, args))


def decode(version: int, fields: Fields) -> list[tuple[str, tuple[Any, ...]]]:
    rec = Recorder()
    Decoder(rec, version).interpret(list(fields))  # type: ignore[arg-type]
    return rec.calls


@pytest.mark.parametrize("version", VERSIONS)
def test_open_order_decodes_field_exact(version: int) -> None:
    fields = m.open_order(version, INFO, ORDER)
    [(name, (order_id, contract, order, state))] = decode(version, fields)
    assert name == "openOrder" and order_id == 7
    assert (contract.conId, contract.symbol, contract.secType, contract.exchange) == (123456, "AAPL", "STK", "SMART")
    assert (order.action, order.totalQuantity, order.orderType, order.lmtPrice) == ("BUY", 25.0, "LMT", 185.04)
    assert (order.orderRef, order.permId, order.clientId, order.tif, order.account) == \
        ("rebal-AAPL-B-25", 900000042, 3, "DAY", "DUFAKE01")
    assert state.status == "Filled" and not order.whatIf
    assert decode(version, fields[:-1]) == []          # one field short: the client cannot decode it


@pytest.mark.parametrize("version", VERSIONS)
def test_completed_order_decodes_field_exact(version: int) -> None:
    fields = m.completed_order(version, INFO, ORDER)
    [(name, (contract, order, state))] = decode(version, fields)
    assert name == "completedOrder"
    assert contract.conId == 123456
    assert (order.orderRef, order.permId, order.totalQuantity, order.lmtPrice, order.filledQuantity) == \
        ("rebal-AAPL-B-25", 900000042, 25.0, 185.04, 25.0)
    assert (state.status, state.completedTime, state.completedStatus) == \
        ("Filled", "20261124 15:00:00 UTC", "filled at the venue")
    assert decode(version, fields[:-1]) == []


@pytest.mark.parametrize("version", VERSIONS)
def test_exec_details_and_commission_decode(version: int) -> None:
    [(name, (req_id, contract, ex))] = decode(version, m.exec_details(version, -1, INFO, EXEC))
    assert name == "execDetails" and req_id == -1 and contract.symbol == "AAPL"
    assert (ex.execId, ex.orderId, ex.permId, ex.clientId, ex.side, ex.shares, ex.price, ex.orderRef) == \
        (EXEC.exec_id, 7, 900000042, 3, "BOT", 10.0, 185.04, "rebal-AAPL-B-25")
    assert ex.time.tzinfo is not None and ex.time.hour == 15
    [(name, (report,))] = decode(version, m.commission_report(EXEC))
    assert name == "commissionReport" and report.execId == EXEC.exec_id and report.commission == 0.35


@pytest.mark.parametrize("version", [164, 176])
def test_contract_details_decode(version: int) -> None:
    [(name, (req_id, cd))] = decode(version, m.contract_details(5, INFO))
    assert name == "contractDetails" and req_id == 5
    assert (cd.contract.conId, cd.contract.primaryExchange, cd.minTick, cd.contract.currency) == \
        (123456, "NASDAQ", 0.01, "USD")


def test_small_messages_decode() -> None:
    version = 176
    assert decode(version, m.order_status(ORDER)) == [
        ("orderStatus", (7, "Filled", 25.0, 0.0, 185.03, 900000042, 0, 185.04, 3, "", 0.0))]
    [(name, (acct, contract, qty, cost))] = decode(version, m.position("DUFAKE01", INFO, Decimal(3), Decimal("2.5")))
    assert (name, acct, contract.conId, qty, cost) == ("position", "DUFAKE01", 123456, 3.0, 2.5)
    [(name, args)] = decode(version, m.portfolio_value(INFO, Decimal(2), Decimal(10), Decimal(8), "DUFAKE01"))
    assert name == "updatePortfolio" and args[1:] == (2.0, 10.0, 20.0, 8.0, 4.0, 0.0, "DUFAKE01")
    assert decode(version, m.error(version, 4, 202, "Order Canceled - reason:")) == \
        [("error", (4, 202, "Order Canceled - reason:", ""))]
    assert decode(version, m.tick_price(1, 2, Decimal("1.5"), Decimal(100))) == [("priceSizeTick", (1, 2, 1.5, 100.0))]
    assert decode(version, m.completed_orders_end()) == [("completedOrdersEnd", ())]
    assert decode(version, m.account_summary(9, "DU1", "NetLiquidation", "1.00", "USD")) == \
        [("accountSummary", (9, "DU1", "NetLiquidation", "1.00", "USD"))]


def _client_fields(version: int, order: Any, contract: Any) -> Fields:
    from ib_async import Client

    sent: list[str] = []
    client = Client(Recorder())
    client.connState = Client.CONNECTED
    client._serverVersion = version
    client.sendMsg = sent.append  # type: ignore[method-assign]
    client.placeOrder(41, contract, order)
    return tuple(sent[0].split("\0")[:-1])


@pytest.mark.parametrize("version", [170, 176, 177, 178])
@pytest.mark.parametrize("what_if", [False, True])
@pytest.mark.parametrize("algo", [False, True])
def test_place_order_parser_reads_the_client_layout(version: int, what_if: bool, algo: bool) -> None:
    from ib_async import LimitOrder, Stock, TagValue

    order = LimitOrder("SELL", 12, 99.5, orderRef="ref-9", tif="GTC", account="DUFAKE01", whatIf=what_if)
    if algo:
        order.algoStrategy = "Adaptive"
        order.algoParams = [TagValue("adaptivePriority", "Normal")]
    req = m.parse_place(_client_fields(version, order, Stock("MSFT", "SMART", "USD")), version)
    assert (req.order_id, req.contract.symbol, req.action, req.quantity, req.order_type, req.limit_price,
            req.tif, req.account, req.order_ref, req.what_if) == (41, "MSFT", "SELL", Decimal(12), "LMT",
                                                                  Decimal("99.5"), "GTC", "DUFAKE01", "ref-9",
                                                                  what_if)


@pytest.mark.parametrize("fields", [("3",), ("3", "x"), ("1", "11", "5"), ("7", "3", "1", "zz")])
def test_short_or_garbled_requests_raise_request_error_320(fields: Fields) -> None:
    parsers = {"3": m.parse_place, "1": m.parse_mkt_data, "7": m.parse_exec_filter}
    with pytest.raises(m.RequestError) as info:
        parsers[fields[0]](fields)
    assert info.value.code == 320
