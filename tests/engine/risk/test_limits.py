"""RiskLimits validation and its mapping to and from the seed-compatible RiskEngine constructor."""

from __future__ import annotations

import dataclasses
from decimal import Decimal
from typing import Any

import pytest

from engine.risk import RiskEngine, RiskLimits

D = Decimal


def test_defaults() -> None:
    limits = RiskLimits()
    assert limits == RiskLimits(max_position_pct=D("0.25"), max_leverage=D("1.5"), max_short_pct=D("0.30"),
                                allow_short=True, min_trade_notional=D(100), max_trade_notional=D(100_000),
                                max_order_value=D(0), max_batch_value=D(0), max_drawdown_pct=D("0.20"))


def test_ints_and_numeric_strings_are_stored_as_decimal() -> None:
    limits = RiskLimits(max_position_pct="0.5", max_leverage=2, max_order_value="1e3")  # type: ignore[arg-type]
    assert limits.max_position_pct == D("0.5")
    assert isinstance(limits.max_leverage, Decimal)
    assert limits.max_order_value == D(1000)


def test_frozen() -> None:
    with pytest.raises(dataclasses.FrozenInstanceError):
        RiskLimits().max_leverage = D(2)  # type: ignore[misc]


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"max_position_pct": D(0)}, "max_position_pct must be in (0, 1], got 0"),
    ({"max_position_pct": D("1.01")}, "max_position_pct must be in (0, 1], got 1.01"),
    ({"max_leverage": D("0.99")}, "max_leverage must be >= 1, got 0.99"),
    ({"max_short_pct": D("-0.01")}, "max_short_pct must be >= 0, got -0.01"),
    ({"min_trade_notional": D(-1)}, "min_trade_notional must be >= 0, got -1"),
    ({"max_trade_notional": D(-1)}, "max_trade_notional must be >= 0, got -1"),
    ({"max_order_value": D(-1)}, "max_order_value must be >= 0, got -1"),
    ({"max_batch_value": D(-1)}, "max_batch_value must be >= 0, got -1"),
    ({"max_drawdown_pct": D("1.5")}, "max_drawdown_pct must be in [0, 1], got 1.5"),
    ({"max_leverage": D("NaN")}, "max_leverage must be finite, got NaN"),
    ({"max_trade_notional": D("Infinity")}, "max_trade_notional must be finite, got Infinity"),
    ({"max_batch_value": "-Infinity"}, "max_batch_value must be finite, got -Infinity"),
    ({"max_order_value": "ten"}, "max_order_value must be a number, got 'ten'"),
])
def test_invalid_limits(kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError) as info:
        RiskLimits(**kwargs)
    assert str(info.value) == f"invalid RiskLimits: {message}"


@pytest.mark.parametrize("kwargs", [{"max_leverage": 1.5}, {"max_position_pct": True}, {"allow_short": 1},
                                    {"min_trade_notional": None}])
def test_wrong_types(kwargs: dict[str, Any]) -> None:
    with pytest.raises(TypeError):
        RiskLimits(**kwargs)


def test_boundaries_are_valid() -> None:
    RiskLimits(max_position_pct=D(1), max_leverage=D(1), max_short_pct=D(0), min_trade_notional=D(0),
               max_trade_notional=D(0), max_drawdown_pct=D(0))
    RiskLimits(max_drawdown_pct=D(1))


def test_engine_constructor_derives_limits() -> None:
    engine = RiskEngine(max_position_pct=0.2, max_leverage=2, max_drawdown_pct=0.1, allow_short=False,
                        max_short_pct=0.05, max_trade_usd=5000.5, max_order_value_cents=123_456,
                        max_batch_value_cents=0)
    assert engine.limits == RiskLimits(max_position_pct=D("0.2"), max_leverage=D("2.0"), max_short_pct=D("0.05"),
                                       allow_short=False, min_trade_notional=D("100.0"),
                                       max_trade_notional=D("5000.5"), max_order_value=D("1234.56"),
                                       max_batch_value=D(0), max_drawdown_pct=D("0.1"))
    assert RiskEngine().limits.max_order_value == D(100_000)
    assert RiskEngine().limits.max_batch_value == D(1_000_000)


def test_from_limits_keeps_the_exact_limits() -> None:
    limits = RiskLimits(max_position_pct=D("0.333"), min_trade_notional=D("12.34"), max_order_value=D("99.99"))
    engine = RiskEngine.from_limits(limits)
    assert engine.limits is limits
    assert repr(engine) == "RiskEngine(max_position_pct=0.333, max_leverage=1.5, allow_short=true)"
    rows = engine.check_order("A", "buy", 1, 10_000, 10**9, [])
    assert rows[0]["detail"] == "$100 > $100 max_order_value_cents"  # 9,999 cents: the reference sees cents
    with pytest.raises(TypeError):
        RiskEngine.from_limits({"max_leverage": 2})  # type: ignore[arg-type]
