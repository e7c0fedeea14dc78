"""RiskReport / RiskCheck / CheckStatus, and ProposedOrder validation."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

from engine.risk import CheckStatus, ProposedOrder, RiskCheck, RiskReport

D = Decimal


def test_report_accessors() -> None:
    report = RiskReport((RiskCheck("Leverage", CheckStatus.PASS, "0.50x <= 1.50x limit", "1.50x", "0.50x"),
                         RiskCheck("Min trade size", CheckStatus.WARN, "small", "$100.00", "$5.00"),
                         RiskCheck("Order value", CheckStatus.FAIL, "big", "$1.00", "$2.00")))
    assert not report.passed
    assert [c.name for c in report.failures] == ["Order value"]
    assert [c.name for c in report.warnings] == ["Min trade size"]
    assert report.status is CheckStatus.FAIL
    assert len(report) == 3
    assert [c.name for c in report] == ["Leverage", "Min trade size", "Order value"]
    assert report.to_dicts()[0] == {"name": "Leverage", "status": "PASS", "detail": "0.50x <= 1.50x limit",
                                    "limit": "1.50x", "value": "0.50x"}
    assert type(report.to_dicts()[0]["status"]) is str
    assert report.to_text() == ("RISK CHECKS:\n  [PASS] Leverage: 0.50x <= 1.50x limit\n  [WARN] Min trade size: small"
                                "\n  [FAIL] Order value: big")


def test_warnings_do_not_block() -> None:
    report = RiskReport((RiskCheck("Min trade size", CheckStatus.WARN, "small"),))
    assert report.passed
    assert report.status is CheckStatus.WARN
    assert RiskReport(()).passed
    assert RiskReport(()).status is CheckStatus.PASS


def test_status_values() -> None:
    assert [str(s) for s in CheckStatus] == ["PASS", "WARN", "FAIL"]
    assert CheckStatus("FAIL") is CheckStatus.FAIL


def test_proposed_order() -> None:
    order = ProposedOrder("AAPL", "sell", 3, D("185.25"))  # type: ignore[arg-type]
    assert order.quantity == D(3)
    assert isinstance(order.quantity, Decimal)
    assert order.notional == D("555.75")
    assert order.signed_quantity == D(-3)
    assert ProposedOrder("A", "buy", D(0), D(1)).notional == 0


@pytest.mark.parametrize(("args", "error"), [
    (("", "buy", D(1), D(1)), ValueError),
    (("A", "BUY", D(1), D(1)), ValueError),
    (("A", "buy", D(-1), D(1)), ValueError),
    (("A", "buy", D(1), D(0)), ValueError),
    (("A", "buy", D("NaN"), D(1)), ValueError),
    (("A", "buy", D(1), D("Infinity")), ValueError),
    (("A", "buy", 1.5, D(1)), TypeError),
    (("A", "buy", D(1), True), TypeError),
])
def test_proposed_order_validation(args: tuple[Any, ...], error: type[Exception]) -> None:
    with pytest.raises(error):
        ProposedOrder(*args)
