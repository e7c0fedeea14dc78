"""`CostModel`: per-fill commission and modelled slippage in integer cents (reference 0.19.2 rounding rules).

Pure arithmetic on cents; it never touches cash or positions (the Portfolio does).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from numbers import Integral, Real
from typing import Any

from engine.errors import BacktestError

__all__ = ["CostModel", "is_int", "rhaz"]


def rhaz(x: float) -> int:
    """Round half away from zero (the reference's rounding of costs and slippage)."""
    return math.floor(abs(x) + 0.5) * (1 if x >= 0 else -1)


def is_int(value: object) -> bool:
    """An integer that is not a bool (numpy integers included)."""
    return isinstance(value, Integral) and not isinstance(value, bool)


def _bps(name: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, Real) or not math.isfinite(float(value)) or value < 0:
        raise BacktestError(f"{name} must be a finite number of basis points >= 0, got {value!r}")
    return float(value)


@dataclass(frozen=True, slots=True)
class CostModel:
    """Commission and modelled slippage of simple fills, in basis points, and a minimum commission per fill.

    Commission is `commission_bps` of the fill notional, at least `min_commission` cents; slippage moves simple-fill
    prices against the trader (buys up, sells down).
    """

    commission_bps: float = 0.0
    slippage_bps: float = 0.0
    min_commission: int = 0

    def __post_init__(self) -> None:
        object.__setattr__(self, "commission_bps", _bps("commission_bps", self.commission_bps))
        object.__setattr__(self, "slippage_bps", _bps("slippage_bps", self.slippage_bps))
        fee: object = self.min_commission
        if not is_int(fee) or int(fee) < 0:  # type: ignore[call-overload]
            raise BacktestError(f"min_commission must be integer cents >= 0, got {fee!r}")
        object.__setattr__(self, "min_commission", int(self.min_commission))

    @classmethod
    def zero(cls) -> CostModel:
        return cls()

    def compute_cost(self, notional: int) -> int:
        """Commission of one fill: max(rhaz(|notional|·bps/10⁴), min_commission)."""
        return max(rhaz(abs(notional) * self.commission_bps / 10_000), self.min_commission)

    def fill_price(self, price: int, quantity: int) -> int:
        """Simple-fill execution price: rhaz(price·(1 ± slippage_bps/10⁴)), moved against the trade."""
        if not self.slippage_bps or quantity == 0:
            return price
        slip = self.slippage_bps / 10_000
        return rhaz(price * (1.0 + slip if quantity > 0 else 1.0 - slip))

    def affordable(self, cash: int, price: int) -> int:
        """Largest whole quantity q >= 0 whose q·price plus commission fits in `cash` (0 when nothing fits)."""
        if cash <= 0 or price <= 0:
            return 0

        lo, hi = 0, cash // price  # the cost is >= 0, so nothing above hi fits; fits(q) is monotone in q
        while lo < hi:
            mid = (lo + hi + 1) // 2
            if mid * price + self.compute_cost(mid * price) <= cash:
                lo = mid
            else:
                hi = mid - 1
        return lo

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> CostModel:
        return cls(float(data.get("commission_bps", 0.0)), float(data.get("slippage_bps", 0.0)),
                   int(data.get("min_commission", 0)))
