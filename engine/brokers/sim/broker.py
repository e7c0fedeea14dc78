"""`SimBroker`: the Broker protocol over the persistent simulated venue, with optional failure injection.

Idempotent by client order id at the venue: a repeated id returns the existing order and never books a second one,
even across processes and crashes (the booking is one SQLite transaction). See `faults.py` for the test hooks.
"""

from __future__ import annotations

import os
import time
from collections.abc import Sequence
from datetime import datetime, timedelta
from decimal import Decimal
from pathlib import Path
from types import TracebackType

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
from engine.brokers.sim import params
from engine.brokers.sim.faults import CRASH_EXIT_CODE, SimFaults
from engine.brokers.sim.venue import Clock, SimVenue
from engine.errors import AmbiguousOrderState, BrokerUnavailable, OrderRejected


def _crash() -> None:
    os._exit(CRASH_EXIT_CODE)  # a simulated kill -9: no cleanup, no commit, no flush


class SimBroker:
    """The default broker: an engine.lob-backed simulated venue persisted under `<root>/.nanobook/sim.db`.

    `root` defaults to the working directory; `clock` (aware UTC datetimes) stamps quotes, fills and orders;
    `auto_init` creates the venue on first use ($1,000,000, bundled prices); `faults` defaults to
    NANOBOOK_SIM_FAULTS (unset: none).
    """

    name = "sim"

    def __init__(self, root: Path | None = None, clock: Clock | None = None, *, auto_init: bool = True,
                 faults: SimFaults | None = None, initial_cash: Decimal | None = None,
                 seed: int | None = None) -> None:
        self.venue = SimVenue(root, clock, auto_init=auto_init,
                              initial_cash=initial_cash if initial_cash is not None else params.DEFAULT_CASH,
                              seed=seed if seed is not None else params.DEFAULT_SEED)
        self.faults = faults if faults is not None else (SimFaults.from_env() or SimFaults())

    def _enter(self) -> None:
        if self.faults.latency_s > 0:
            time.sleep(self.faults.latency_s)
        if self.faults.unavailable:
            raise BrokerUnavailable("simulated venue unavailable (injected fault)")

    # ------------------------------------------------------------------ Broker protocol

    def account(self) -> Account:
        """Cash, equity at mid, buying power (cash less open buys' reservation)."""
        self._enter()
        return self.venue.account()

    def positions(self) -> list[Position]:
        """Non-zero holdings."""
        self._enter()
        return self.venue.positions()

    def quotes(self, symbols: Sequence[str]) -> dict[str, Quote]:
        """Top of book; UnknownSymbol (naming `nanobook sim set-price`) for an unlisted symbol."""
        self._enter()
        quotes = self.venue.quotes(symbols)
        if self.faults.quote_age_s or self.faults.delayed_quotes:
            age = timedelta(seconds=self.faults.quote_age_s)
            quotes = {s: Quote(q.symbol, q.bid, q.ask, q.last, q.ts - age, live=not self.faults.delayed_quotes)
                      for s, q in quotes.items()}
        return quotes

    def instruments(self, symbols: Sequence[str]) -> dict[str, Instrument]:
        """Tick 0.01, lot 1, minimum quantity 1."""
        self._enter()
        return self.venue.instruments(symbols)

    def place_limit(self, request: OrderRequest) -> BrokerOrder:
        """Book a limit order; a known client order id returns the existing order (whatever its state).

        A new order the venue refuses (insufficient cash, selling more than held, off-tick price) is recorded as
        rejected and raises OrderRejected; an unlisted symbol raises UnknownSymbol and records nothing.
        """
        self._enter()
        fault = self.faults.take_place_fault()
        if fault == "drop_before_booking":
            raise AmbiguousOrderState(request.client_order_id, "injected fault: request lost before booking")
        order, created = self.venue.place(request, before_commit=_crash if fault == "crash_before_commit" else None)
        if fault == "crash_after_commit":
            _crash()
        if fault == "lose_ack":
            raise AmbiguousOrderState(request.client_order_id,
                                      "injected fault: booked at the venue, acknowledgement lost")
        if created and order.state is OrderState.REJECTED:
            raise OrderRejected(request.client_order_id, order.reason or "rejected")
        return order

    def order(self, order_id: str | None = None, client_order_id: str | None = None, *,
              symbol: str | None = None) -> BrokerOrder | None:
        """Look up by venue id or client order id; None when the venue never saw it (no symbol needed here)."""
        self._enter()
        return self.venue.order(order_id=order_id, client_order_id=client_order_id)

    def open_orders(self) -> list[BrokerOrder]:
        """Working orders, oldest first."""
        self._enter()
        return self.venue.open_orders()

    def cancel(self, order_id: str) -> BrokerOrder:
        """Cancel; terminal orders come back unchanged; OrderRejected for an id the venue does not know."""
        self._enter()
        return self.venue.cancel(order_id)

    def fills(self, since: datetime | None = None) -> list[Fill]:
        """Executions, oldest first, optionally at or after `since`."""
        self._enter()
        return self.venue.fills(since)

    def close(self) -> None:
        """Close the database connection (reopened on next use)."""
        self.venue.close()

    def __enter__(self) -> SimBroker:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()
