"""`Position`: one symbol's signed whole-share quantity, VWAP entry price and realized PnL, in integer cents.

Fixes the reference's B9 (a partial cover of a short grew |total_cost| and corrupted avg/realized). Knows nothing of
cash or costs; the Portfolio books those.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

__all__ = ["Position", "tdiv"]


def tdiv(a: int, b: int) -> int:
    """Integer division truncated toward zero (Python's // floors, which is wrong for negative quantities)."""
    q = abs(a) // abs(b)
    return q if (a >= 0) == (b >= 0) else -q


@dataclass(slots=True)
class Position:
    """Signed quantity (+long / −short), average entry price, realized PnL and signed entry cost, all in cents."""

    symbol: str
    quantity: int = 0
    avg_entry_price: int = 0
    realized_pnl: int = 0
    total_cost: int = 0

    @property
    def is_flat(self) -> bool:
        return self.quantity == 0

    @property
    def quantity_whole(self) -> int:
        """The reference's name for the whole-share quantity (quantities here are always whole shares)."""
        return self.quantity

    def market_value(self, price: int) -> int:
        return self.quantity * price

    def unrealized_pnl(self, price: int) -> int:
        return (price - self.avg_entry_price) * self.quantity if self.quantity else 0

    def apply_fill(self, quantity: int, price: int) -> None:
        """Book a fill of `quantity` shares (+buy / −sell) at `price` cents."""
        if quantity == 0:
            return
        held = self.quantity
        if held == 0 or (held > 0) == (quantity > 0):
            self._add(quantity, price)
            return
        closed = min(abs(quantity), abs(held))
        self.realized_pnl += closed * (price - self.avg_entry_price) * (1 if held > 0 else -1)
        net = held + quantity
        if net == 0:
            self.quantity = self.avg_entry_price = self.total_cost = 0
        elif (net > 0) == (held > 0):
            # Partial close: |total_cost| shrinks by the closed shares at avg (B9: the reference always subtracted,
            # growing a short's cost), then avg is re-derived from what is left, as the reference does.
            self.quantity = net
            self.total_cost -= closed * self.avg_entry_price * (1 if held > 0 else -1)
            self.avg_entry_price = tdiv(self.total_cost, net)
        else:
            self.quantity, self.avg_entry_price, self.total_cost = net, price, net * price

    def _add(self, quantity: int, price: int) -> None:
        self.total_cost += quantity * price
        self.quantity += quantity
        self.avg_entry_price = tdiv(self.total_cost, self.quantity)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Position:
        return cls(str(data["symbol"]), int(data.get("quantity", 0)), int(data.get("avg_entry_price", 0)),
                   int(data.get("realized_pnl", 0)), int(data.get("total_cost", 0)))
