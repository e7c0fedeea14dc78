"""Immutable result and record views returned by the order book (reference-compatible attribute names).

They are tuple subclasses built with `tuple.__new__`: read-only and picklable. Trades are stored as plain
tuples (which CPython's GC stops tracking) and wrapped in `Trade` only when read. Never mutates book state.
"""

from __future__ import annotations

from operator import itemgetter
from typing import Any

from engine.lob.types import format_price

_new = tuple.__new__


def _props(*names: str) -> dict[str, Any]:
    # `trades` is excluded: those classes build Trade views from stored plain tuples on access.
    return {name: property(itemgetter(i)) for i, name in enumerate(names) if name != "trades"}


class Trade(tuple):  # type: ignore[type-arg]
    """One execution at the resting order's price. `aggressor_side` is "buy" or "sell"."""

    __slots__ = ()
    _fields = ("trade_id", "price", "quantity", "aggressor_side", "aggressor_order_id",
               "passive_order_id", "timestamp")
    trade_id: int
    price: int
    quantity: int
    aggressor_side: str
    aggressor_order_id: int
    passive_order_id: int
    timestamp: int
    locals().update(_props(*_fields))

    @property
    def id(self) -> int:
        """Alias of `trade_id` (the Rust and oracle name)."""
        return self[0]  # type: ignore[no-any-return]

    @property
    def price_float(self) -> float:
        """Price in currency units (cents / 100)."""
        return self[1] / 100  # type: ignore[no-any-return]

    @property
    def passive_side(self) -> str:
        """Side of the resting order."""
        return "sell" if self[3] == "buy" else "buy"

    def notional(self) -> int:
        """price × quantity in ticks·lots; OverflowError beyond the reference's 64-bit range."""
        value = self[1] * self[2]
        if not -(2**63) <= value < 2**63:
            raise OverflowError(f"NotionalOverflow: price={self[1]} quantity={self[2]}")
        return value  # type: ignore[no-any-return]

    def __repr__(self) -> str:
        return f"Trade(id={self[0]}, price={format_price(self[1])}, qty={self[2]}, side='{self[3]}')"

    def __str__(self) -> str:
        verb = "bought" if self[3] == "buy" else "sold"
        return f"T{self[0]}: {self[2]} {verb} @ {format_price(self[1])} (aggressor O{self[4]})"


class SubmitResult(tuple):  # type: ignore[type-arg]
    """Outcome of a limit or market submission (status "New", "PartiallyFilled", "Filled" or "Cancelled")."""

    __slots__ = ()
    _fields = ("order_id", "status", "trades", "filled_quantity", "resting_quantity", "cancelled_quantity")
    order_id: int
    status: str
    filled_quantity: int
    resting_quantity: int
    cancelled_quantity: int
    locals().update(_props(*_fields))

    @property
    def trades(self) -> list[Trade]:
        """Trades of this submission (views built on access; the book stores plain tuples)."""
        return [_new(Trade, t) for t in self[2]]

    @property
    def has_trades(self) -> bool:
        """True when the submission traded."""
        return bool(self[2])

    @property
    def is_resting(self) -> bool:
        """True when part of the order rests on the book."""
        return self[4] > 0  # type: ignore[no-any-return]

    @property
    def is_fully_filled(self) -> bool:
        """True when the status is Filled."""
        return self[1] == "Filled"  # type: ignore[no-any-return]

    def __repr__(self) -> str:
        return (f"SubmitResult(order_id={self[0]}, status='{self[1]}', filled={self[3]}, "
                f"resting={self[4]}, cancelled={self[5]}, trades={len(self[2])})")


class CancelResult(tuple):  # type: ignore[type-arg]
    """Outcome of a cancel; `error` is "OrderNotFound", "OrderNotActive" or None."""

    __slots__ = ()
    _fields = ("success", "cancelled_quantity", "error")
    success: bool
    cancelled_quantity: int
    error: str | None
    locals().update(_props(*_fields))

    def __repr__(self) -> str:
        if self[0]:
            return f"CancelResult(success=True, cancelled_quantity={self[1]})"
        return f"CancelResult(success=False, error='{self[2]}')"


class ModifyResult(tuple):  # type: ignore[type-arg]
    """Outcome of a cancel-and-replace; `new_order_id` is None on failure."""

    __slots__ = ()
    _fields = ("success", "old_order_id", "new_order_id", "cancelled_quantity", "trades", "error")
    success: bool
    old_order_id: int
    new_order_id: int | None
    cancelled_quantity: int
    error: str | None
    locals().update(_props(*_fields))

    @property
    def trades(self) -> list[Trade]:
        """Trades of the replacement order (views built on access)."""
        return [_new(Trade, t) for t in self[4]]

    def __repr__(self) -> str:
        if self[0]:
            return (f"ModifyResult(success=True, old={self[1]}, new={self[2]}, "
                    f"trades={len(self[4])})")
        return f"ModifyResult(success=False, old={self[1]}, error='{self[5]}')"


class StopSubmitResult(tuple):  # type: ignore[type-arg]
    """Outcome of a stop submission: status "Pending", "Triggered" or "Cancelled"."""

    __slots__ = ()
    _fields = ("order_id", "status")
    order_id: int
    status: str
    locals().update(_props(*_fields))

    def __repr__(self) -> str:
        return f"StopSubmitResult(order_id={self[0]}, status='{self[1]}')"


class Order(tuple):  # type: ignore[type-arg]
    """Read-only view of an order record (status lower-case: new, partiallyfilled, filled, cancelled)."""

    __slots__ = ()
    _fields = ("id", "side", "price", "original_quantity", "remaining_quantity", "filled_quantity",
               "status", "time_in_force", "timestamp", "owner")
    id: int
    side: str
    price: int
    original_quantity: int
    remaining_quantity: int
    filled_quantity: int
    status: str
    time_in_force: str
    timestamp: int
    owner: int | None
    locals().update(_props(*_fields))

    @property
    def is_active(self) -> bool:
        """True while the order can still trade (new or partially filled, on the book)."""
        return self[6] in ("new", "partiallyfilled")

    def __repr__(self) -> str:
        return (f"Order(id={self[0]}, side={self[1]}, price={self[2]}, qty={self[5]}/{self[3]}, "
                f"status={self[6]})")


class LevelSnapshot(tuple):  # type: ignore[type-arg]
    """One aggregated price level: total remaining quantity and number of live orders."""

    __slots__ = ()
    _fields = ("price", "quantity", "order_count")
    price: int
    quantity: int
    order_count: int
    locals().update(_props(*_fields))

    @property
    def price_float(self) -> float:
        """Price in currency units."""
        return self[0] / 100  # type: ignore[no-any-return]

    def __repr__(self) -> str:
        return f"Level(price={format_price(self[0])}, qty={self[1]}, orders={self[2]})"


def new_level(price: int, quantity: int, count: int) -> LevelSnapshot:
    """Build a LevelSnapshot without going through a Python-level constructor."""
    return _new(LevelSnapshot, (price, quantity, count))
