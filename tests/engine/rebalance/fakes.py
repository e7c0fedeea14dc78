"""In-memory test doubles for the rebalance pipeline: a scriptable FakeBroker, a FakeClock and a list audit sink."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from engine.brokers.base import (
    Account,
    BrokerOrder,
    Fill,
    Instrument,
    OrderRequest,
    OrderState,
    Position,
    Quote,
)
from engine.errors import AmbiguousOrderState, BrokerError, BrokerUnavailable, OrderRejected, UnknownSymbol

START = datetime(2024, 1, 2, 15, 0, tzinfo=UTC)

# What one place_limit call does (consumed in order from Behaviour.place; an empty script means "ok").
OK = "ok"
REJECT = "reject"                      # raise OrderRejected, nothing booked
UNAVAILABLE = "unavailable"            # raise BrokerUnavailable, nothing booked
AMBIGUOUS_BEFORE = "ambiguous_before"  # raise AmbiguousOrderState; the venue never saw the order
AMBIGUOUS_AFTER = "ambiguous_after"    # book the order, then raise AmbiguousOrderState (reply lost)


class FakeClock:
    """A clock that only moves when slept on (or advanced by hand); records every sleep."""

    def __init__(self, start: datetime = START) -> None:
        self.start = start
        self.now = start
        self.sleeps: list[float] = []

    def __call__(self) -> datetime:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += timedelta(seconds=seconds)

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)

    @property
    def elapsed(self) -> float:
        return (self.now - self.start).total_seconds()


class ListAudit:
    """An audit sink that keeps every event in memory (a copy, so later mutation cannot rewrite history)."""

    def __init__(self) -> None:
        self.events: list[dict[str, Any]] = []

    def append(self, event: dict[str, Any]) -> None:
        self.events.append(dict(event))

    def names(self, client_order_id: str | None = None) -> list[str]:
        return [e["event"] for e in self.for_order(client_order_id)] if client_order_id else \
            [e["event"] for e in self.events]

    def for_order(self, client_order_id: str) -> list[dict[str, Any]]:
        return [e for e in self.events if e.get("client_order_id") == client_order_id]

    def of(self, name: str) -> list[dict[str, Any]]:
        return [e for e in self.events if e["event"] == name]


@dataclass
class Behaviour:
    """How the fake venue treats orders for one symbol."""

    place: list[str] = field(default_factory=list)
    fill_on_place: Decimal | None = None   # None: fill everything at once; Decimal(0): rest untouched
    fill_per_poll: Decimal = Decimal(0)    # filled on each order(order_id=...) poll while working
    fill_price: Decimal | None = None      # default: the limit price
    cancel_error: BrokerError | None = None
    cancel_acknowledged: bool = True       # False: cancel() leaves the order working (pending cancel)
    reject_reason: str = "insufficient buying power"


class FakeBroker:
    """A scriptable in-memory venue implementing the Broker protocol.

    Every call is logged in `calls` as (kind, key): ("place", cid), ("lookup", cid), ("poll", order_id),
    ("cancel", order_id). `bookings` lists each client order id the venue actually booked, so a test can assert
    that an id is never booked twice. Hooks (`on_place`, `on_poll`, `on_cancel`) run at the start of the call.
    """

    name = "fake"

    def __init__(self, *, cash: Decimal = Decimal(100_000), equity: Decimal | None = None,
                 positions: Sequence[Position] = (), quotes: dict[str, Quote] | None = None,
                 instruments: dict[str, Instrument] | None = None, clock: FakeClock | None = None,
                 account_id: str = "DU000001") -> None:
        self.account_id = account_id
        self.cash = cash
        self.equity = equity if equity is not None else cash
        self._positions: dict[str, Position] = {p.symbol: p for p in positions}
        self._quotes = dict(quotes or {})
        self._instruments = dict(instruments or {})
        self.clock = clock
        self.behaviours: dict[str, Behaviour] = {}
        self.default = Behaviour()
        self.calls: list[tuple[str, str]] = []
        self.place_requests: list[OrderRequest] = []
        self.place_times: list[datetime] = []
        self.bookings: list[str] = []
        self.orders: dict[str, BrokerOrder] = {}
        self._by_cid: dict[str, str] = {}
        self._fills: list[Fill] = []
        self.lookup_failures = 0   # order(client_order_id=...) raises BrokerUnavailable this many times
        self.poll_failures = 0     # order(order_id=...) raises BrokerUnavailable this many times
        self.on_place: Callable[[OrderRequest], None] | None = None
        self.on_poll: Callable[[BrokerOrder], None] | None = None
        self.on_cancel: Callable[[BrokerOrder], None] | None = None
        self.closed = False

    # ------------------------------------------------------------------ scripting helpers

    def script(self, symbol: str, **kwargs: Any) -> Behaviour:
        """Set (and return) the behaviour for `symbol`."""
        self.behaviours[symbol] = Behaviour(**kwargs)
        return self.behaviours[symbol]

    def behaviour(self, symbol: str) -> Behaviour:
        return self.behaviours.get(symbol, self.default)

    def place_count(self, client_order_id: str) -> int:
        return sum(1 for kind, key in self.calls if kind == "place" and key == client_order_id)

    def booked_count(self, client_order_id: str) -> int:
        return self.bookings.count(client_order_id)

    def kinds(self) -> list[str]:
        return [kind for kind, _ in self.calls]

    def _now(self) -> datetime:
        return self.clock() if self.clock else START

    # ------------------------------------------------------------------ reads

    def account(self) -> Account:
        return Account(self.account_id, "USD", self.cash, self.equity, self.cash, "cash", True)

    def positions(self) -> list[Position]:
        return [p for _, p in sorted(self._positions.items()) if p.quantity != 0]

    def quotes(self, symbols: Sequence[str]) -> dict[str, Quote]:
        out = {}
        for s in symbols:
            if s not in self._quotes:
                raise UnknownSymbol(s)
            out[s] = self._quotes[s]
        return out

    def instruments(self, symbols: Sequence[str]) -> dict[str, Instrument]:
        return {s: self._instruments.get(s, Instrument(s)) for s in symbols}

    def open_orders(self) -> list[BrokerOrder]:
        return [o for o in self.orders.values() if not o.state.is_terminal]

    def fills(self, since: datetime | None = None) -> list[Fill]:
        return [f for f in self._fills if since is None or f.ts >= since]

    def close(self) -> None:
        self.closed = True

    # ------------------------------------------------------------------ orders

    def place_limit(self, request: OrderRequest) -> BrokerOrder:
        cid = request.client_order_id
        self.calls.append(("place", cid))
        self.place_requests.append(request)
        self.place_times.append(self._now())
        if self.on_place:
            self.on_place(request)
        behaviour = self.behaviour(request.symbol)
        action = behaviour.place.pop(0) if behaviour.place else OK
        if action == REJECT:
            raise OrderRejected(cid, behaviour.reject_reason)
        if action == UNAVAILABLE:
            raise BrokerUnavailable("connection refused")
        if action == AMBIGUOUS_BEFORE:
            raise AmbiguousOrderState(cid, "timed out before the venue acknowledged")
        if cid in self._by_cid:  # idempotent by client order id: never a second booking
            return self.orders[self._by_cid[cid]]
        order_id = f"F{len(self.orders) + 1:04d}"
        order = BrokerOrder(order_id, cid, request.symbol, request.side, request.quantity, request.limit_price,
                            Decimal(0), None, OrderState.SUBMITTED)
        self.orders[order_id] = order
        self._by_cid[cid] = order_id
        self.bookings.append(cid)
        fill_now = request.quantity if behaviour.fill_on_place is None else behaviour.fill_on_place
        order = self._fill(order_id, fill_now)
        if action == AMBIGUOUS_AFTER:
            raise AmbiguousOrderState(cid, "connection lost after send")
        return order

    def order(self, order_id: str | None = None, client_order_id: str | None = None, *,
              symbol: str | None = None) -> BrokerOrder | None:
        if client_order_id is not None:
            self.calls.append(("lookup", client_order_id))
            if self.lookup_failures > 0:
                self.lookup_failures -= 1
                raise BrokerUnavailable("lookup timed out")
            oid = self._by_cid.get(client_order_id)
            return self.orders[oid] if oid else None
        assert order_id is not None
        self.calls.append(("poll", order_id))
        current = self.orders.get(order_id)
        if current is None:
            return None
        if self.on_poll:
            self.on_poll(current)
        if self.poll_failures > 0:
            self.poll_failures -= 1
            raise BrokerUnavailable("poll timed out")
        if not current.state.is_terminal:
            current = self._fill(order_id, self.behaviour(current.symbol).fill_per_poll)
        return current

    def cancel(self, order_id: str) -> BrokerOrder:
        self.calls.append(("cancel", order_id))
        current = self.orders[order_id]
        if self.on_cancel:
            self.on_cancel(current)
        behaviour = self.behaviour(current.symbol)
        if behaviour.cancel_error is not None:
            raise behaviour.cancel_error
        if current.state.is_terminal or not behaviour.cancel_acknowledged:
            return current
        current = replace(current, state=OrderState.CANCELLED)
        self.orders[order_id] = current
        return current

    def _fill(self, order_id: str, quantity: Decimal) -> BrokerOrder:
        order = self.orders[order_id]
        qty = min(quantity, order.quantity - order.filled_quantity)
        if qty <= 0:
            return order
        price = self.behaviour(order.symbol).fill_price or order.limit_price
        filled = order.filled_quantity + qty
        prior = (order.avg_fill_price or Decimal(0)) * order.filled_quantity
        avg = (prior + price * qty) / filled
        state = OrderState.FILLED if filled == order.quantity else OrderState.PARTIALLY_FILLED
        order = replace(order, filled_quantity=filled, avg_fill_price=avg, state=state)
        self.orders[order_id] = order
        self._fills.append(Fill(f"X{len(self._fills) + 1:04d}", order_id, order.client_order_id, order.symbol,
                                order.side, qty, price, Decimal(0), self._now()))
        signed = qty if order.side == "buy" else -qty
        held = self._positions.get(order.symbol)
        self._positions[order.symbol] = Position(order.symbol, (held.quantity if held else Decimal(0)) + signed,
                                                 held.avg_cost if held else price)
        return order
