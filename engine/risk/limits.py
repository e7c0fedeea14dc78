"""`RiskLimits`: the validated, Decimal-valued limits that `RiskEngine.check_plan` enforces.

Fractions are of account equity (0.25 = 25 %); notional amounts are in the account currency; 0 disables a cap.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from decimal import Decimal

__all__ = ["RiskLimits"]


def _as_decimal(name: str, value: object) -> Decimal:
    """Decimal, int or numeric str as a Decimal; floats are refused (no binary money in the rebalance path)."""
    if isinstance(value, bool) or not isinstance(value, Decimal | int | str):
        raise TypeError(f"invalid RiskLimits: {name} must be a Decimal, got {type(value).__name__}")
    try:
        number = Decimal(value)
    except ArithmeticError:
        raise ValueError(f"invalid RiskLimits: {name} must be a number, got {value!r}") from None
    if not number.is_finite():
        raise ValueError(f"invalid RiskLimits: {name} must be finite, got {number}")
    return number


@dataclass(frozen=True, slots=True)
class RiskLimits:
    """Pre-trade limits. Invalid values raise ValueError (TypeError for a float or a wrong type).

    | field | default | valid | meaning |
    |---|---|---|---|
    | max_position_pct | 0.25 | (0, 1] | largest post-trade |position| × price / equity |
    | max_leverage | 1.5 | ≥ 1 | post-trade gross exposure / equity |
    | max_short_pct | 0.30 | ≥ 0 | post-trade short exposure / equity |
    | allow_short | True | bool | False: any post-trade short FAILs |
    | min_trade_notional | 100 | ≥ 0 | orders below it WARN (0 disables) |
    | max_trade_notional | 100000 | ≥ 0 | orders above it FAIL (0 disables) |
    | max_order_value | 0 | ≥ 0 | hard per-order cap (0 disables) |
    | max_batch_value | 0 | ≥ 0 | hard cap on the plan's summed notional (0 disables) |
    | max_drawdown_pct | 0.20 | [0, 1] | accepted and validated for parity with the seed; no check uses it |
    """

    max_position_pct: Decimal = Decimal("0.25")
    max_leverage: Decimal = Decimal("1.5")
    max_short_pct: Decimal = Decimal("0.30")
    allow_short: bool = True
    min_trade_notional: Decimal = Decimal("100")
    max_trade_notional: Decimal = Decimal("100000")
    max_order_value: Decimal = Decimal("0")
    max_batch_value: Decimal = Decimal("0")
    max_drawdown_pct: Decimal = Decimal("0.20")

    def __post_init__(self) -> None:
        if not isinstance(self.allow_short, bool):
            raise TypeError(f"invalid RiskLimits: allow_short must be a bool, got {type(self.allow_short).__name__}")
        for field in fields(self):
            if field.name != "allow_short":
                object.__setattr__(self, field.name, _as_decimal(field.name, getattr(self, field.name)))
        if not 0 < self.max_position_pct <= 1:
            raise ValueError(f"invalid RiskLimits: max_position_pct must be in (0, 1], got {self.max_position_pct}")
        if self.max_leverage < 1:
            raise ValueError(f"invalid RiskLimits: max_leverage must be >= 1, got {self.max_leverage}")
        if not 0 <= self.max_drawdown_pct <= 1:
            raise ValueError(f"invalid RiskLimits: max_drawdown_pct must be in [0, 1], got {self.max_drawdown_pct}")
        for name in ("max_short_pct", "min_trade_notional", "max_trade_notional", "max_order_value",
                     "max_batch_value"):
            value: Decimal = getattr(self, name)
            if value < 0:
                raise ValueError(f"invalid RiskLimits: {name} must be >= 0, got {value}")
