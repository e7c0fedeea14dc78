"""The broker protocol and its value types: the only broker surface the rebalance pipeline may see.

Money and quantities are `Decimal` at this boundary; timestamps are timezone-aware UTC. Adapters (sim, ibkr,
binance) translate their SDK objects into these types; no SDK object ever crosses this module.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from enum import StrEnum
from typing import Literal, Protocol, runtime_checkable

Side = Literal["buy", "sell"]
CLIENT_ORDER_ID_RE = re.compile(r"^[A-Za-z0-9_-]{1,32}$")


class OrderState(StrEnum):
    """Lifecycle of an order at the venue. Terminal states are sticky."""

    PENDING = "pending"            # accepted by us, not yet acknowledged by the venue
    SUBMITTED = "submitted"        # working at the venue, nothing filled
    PARTIALLY_FILLED = "partially_filled"
    FILLED = "filled"
    CANCELLED = "cancelled"        # may carry a partial fill
    REJECTED = "rejected"

    @property
    def is_terminal(self) -> bool:
        """Filled, cancelled or rejected: the order can no longer change."""
        return self in (OrderState.FILLED, OrderState.CANCELLED, OrderState.REJECTED)


@dataclass(frozen=True, slots=True)
class Account:
    """Account summary in the account currency. `equity` is net liquidation value."""

    account_id: str
    currency: str
    cash: Decimal
    equity: Decimal
    buying_power: Decimal
    kind: Literal["cash", "margin"] = "cash"
    paper: bool = True


@dataclass(frozen=True, slots=True)
class Position:
    """A holding: signed quantity (negative = short) and average cost per unit."""

    symbol: str
    quantity: Decimal
    avg_cost: Decimal


@dataclass(frozen=True, slots=True)
class Quote:
    """Top of book with the *source* timestamp (not our receipt time) and whether it is live."""

    symbol: str
    bid: Decimal | None
    ask: Decimal | None
    last: Decimal | None
    ts: datetime
    live: bool = True

    @property
    def mid(self) -> Decimal | None:
        """(bid + ask) / 2 when both sides exist, else the one side present, else last."""
        if self.bid is not None and self.ask is not None and self.bid > 0 and self.ask > 0:
            return (self.bid + self.ask) / 2
        for value in (self.bid, self.ask, self.last):
            if value is not None and value > 0:
                return value
        return None


@dataclass(frozen=True, slots=True)
class Instrument:
    """Trading rules: prices are multiples of `tick_size`, quantities of `lot_size` (≥ `min_quantity`)."""

    symbol: str
    tick_size: Decimal = Decimal("0.01")
    lot_size: Decimal = Decimal("1")
    min_quantity: Decimal = Decimal("1")
    min_notional: Decimal = Decimal("0")
    currency: str = "USD"
    tradable: bool = True


@dataclass(frozen=True, slots=True)
class OrderRequest:
    """A limit order we want placed. `client_order_id` is deterministic and idempotent."""

    client_order_id: str
    symbol: str
    side: Side
    quantity: Decimal
    limit_price: Decimal
    time_in_force: Literal["day", "gtc"] = "day"

    def __post_init__(self) -> None:
        if not CLIENT_ORDER_ID_RE.match(self.client_order_id):
            raise ValueError(f"client_order_id {self.client_order_id!r} must match [A-Za-z0-9_-]{{1,32}}")
        if self.quantity <= 0 or not self.quantity.is_finite():
            raise ValueError(f"quantity must be a positive finite amount, got {self.quantity}")
        if self.limit_price <= 0 or not self.limit_price.is_finite():
            raise ValueError(f"limit price must be a positive finite amount, got {self.limit_price}")


@dataclass(frozen=True, slots=True)
class BrokerOrder:
    """An order as the venue knows it."""

    order_id: str
    client_order_id: str
    symbol: str
    side: Side
    quantity: Decimal
    limit_price: Decimal
    filled_quantity: Decimal
    avg_fill_price: Decimal | None
    state: OrderState
    reason: str | None = None

    @property
    def remaining(self) -> Decimal:
        """Quantity still working (0 once terminal)."""
        return Decimal(0) if self.state.is_terminal else self.quantity - self.filled_quantity


@dataclass(frozen=True, slots=True)
class Fill:
    """One execution, keyed by the venue's execution id."""

    fill_id: str
    order_id: str
    client_order_id: str
    symbol: str
    side: Side
    quantity: Decimal
    price: Decimal
    commission: Decimal
    ts: datetime


@runtime_checkable
class Broker(Protocol):
    """Synchronous broker port (DESIGN §3.2).

    Every ambiguous outcome raises `AmbiguousOrderState`; callers resolve it with
    `order(client_order_id=...)` before any retry and never resubmit a remainder automatically.
    """

    name: str

    def account(self) -> Account:
        """Account summary."""
        ...

    def positions(self) -> list[Position]:
        """Non-zero holdings."""
        ...

    def quotes(self, symbols: Sequence[str]) -> dict[str, Quote]:
        """Quotes for `symbols`; UnknownSymbol for a symbol the venue does not list."""
        ...

    def instruments(self, symbols: Sequence[str]) -> dict[str, Instrument]:
        """Trading rules for `symbols`."""
        ...

    def place_limit(self, request: OrderRequest) -> BrokerOrder:
        """Place a limit order. Idempotent by client order id: a known id returns the existing order."""
        ...

    def order(self, order_id: str | None = None, client_order_id: str | None = None, *,
              symbol: str | None = None) -> BrokerOrder | None:
        """Look an order up by venue id or by our client order id (None when the venue never saw it).

        `symbol` is a hint from the caller's records: venues that need the instrument for a client-id lookup
        (Binance) search it first; it never hides an order that exists under another symbol.
        """
        ...

    def open_orders(self) -> list[BrokerOrder]:
        """Orders still working at the venue."""
        ...

    def cancel(self, order_id: str) -> BrokerOrder:
        """Request cancellation; returns the order's state afterwards (terminal states stay as they are)."""
        ...

    def fills(self, since: datetime | None = None) -> list[Fill]:
        """Executions, oldest first (optionally only those at or after `since`)."""
        ...

    def close(self) -> None:
        """Release connections and files."""
        ...
