"""`ProposedOrder`: one order of a rebalance plan as the risk engine sees it (Decimal quantity and limit price)."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Literal

__all__ = ["ProposedOrder", "Side"]

Side = Literal["buy", "sell"]


def as_decimal(name: str, value: object) -> Decimal:
    """A finite Decimal from a Decimal or int (floats and bools are refused: money must be exact)."""
    if isinstance(value, bool) or not isinstance(value, Decimal | int):
        raise TypeError(f"{name} must be a Decimal, got {type(value).__name__}")
    number = Decimal(value)
    if not number.is_finite():
        raise ValueError(f"{name} must be finite, got {number}")
    return number


@dataclass(frozen=True, slots=True)
class ProposedOrder:
    """A limit order the plan would place: `quantity` ≥ 0 (0 is a no-op), `limit_price` > 0.

    Ints are accepted and stored as Decimal; floats are refused.
    """

    symbol: str
    side: Side
    quantity: Decimal
    limit_price: Decimal

    def __post_init__(self) -> None:
        if not isinstance(self.symbol, str) or not self.symbol:
            raise ValueError(f"symbol must be a non-empty str, got {self.symbol!r}")
        if self.side not in ("buy", "sell"):
            raise ValueError(f"side must be 'buy' or 'sell', got {self.side!r}")
        quantity = as_decimal("quantity", self.quantity)
        limit_price = as_decimal("limit_price", self.limit_price)
        if quantity < 0:
            raise ValueError(f"quantity must be >= 0, got {quantity}")
        if limit_price <= 0:
            raise ValueError(f"limit_price must be > 0, got {limit_price}")
        object.__setattr__(self, "quantity", quantity)
        object.__setattr__(self, "limit_price", limit_price)

    @property
    def notional(self) -> Decimal:
        """quantity × limit_price: the most a buy pays, the least a sell receives."""
        return self.quantity * self.limit_price

    @property
    def signed_quantity(self) -> Decimal:
        """+quantity for a buy, −quantity for a sell."""
        return self.quantity if self.side == "buy" else -self.quantity
