"""Event log, replay, persistence and memory management of an `Exchange`.

Replay re-applies logged inputs to a fresh exchange through the public calls, so live and replayed
behaviour cannot drift apart. Nothing here matches orders itself.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from engine.lob import stops as _stops
from engine.lob.events import (
    EV_CANCEL,
    EV_LIMIT,
    EV_MARKET,
    EV_MODIFY,
    EV_REDUCE,
    EV_STOP_LIMIT,
    EV_STOP_MARKET,
    EV_TRAIL_LIMIT,
    EV_TRAIL_MARKET,
    Event,
    load_events,
    save_events,
)
from engine.lob.record import STATUS, event_tuple
from engine.lob.results import Trade
from engine.lob.types import CANCELLED, FILLED, SIDE_NAMES, STP_NAMES, TIF_NAMES

_new = tuple.__new__

if TYPE_CHECKING:
    from engine.lob.exchange import Exchange
    from engine.lob.stops import StopBook


class HistoryMixin:
    """Event log and replay over the state owned by `Exchange` (declared here for the type checker)."""

    __slots__ = ()
    _orders: dict[int, tuple[Any, ...]]
    _bids: dict[int, list[Any]]
    _asks: dict[int, list[Any]]
    _events: list[Any]
    _trades: list[tuple[Any, ...]]
    _stops: StopBook

    def events(self) -> list[Event]:
        """The input event log, oldest first."""
        return [Event(event_tuple(e)) for e in self._events]

    def event_tuples(self) -> list[tuple[Any, ...]]:
        """The event log as raw tuples (what `apply` and `save_events` take)."""
        return [event_tuple(e) for e in self._events]

    def clear_trades(self) -> None:
        """Forget the trade history (last trade price is kept)."""
        self._trades.clear()

    def clear_order_history(self) -> int:
        """Drop terminal orders and non-pending stops; returns how many regular orders were removed."""
        # Level queues may still hold ids of cancelled orders (dropped lazily): purge them first.
        self.compact()
        dead = [oid for oid, r in self._orders.items() if r[STATUS] >= FILLED]
        for oid in dead:
            del self._orders[oid]
        self._stops.clear_history()
        return len(dead)

    def compact(self) -> None:
        """Physically drop cancelled records from level queues (no observable change)."""
        for book in (self._bids, self._asks):
            for lv in book.values():
                lv[2] = deque(oid for oid in lv[2] if self._orders[oid][STATUS] != CANCELLED)

    def clear_events(self) -> None:
        """Empty the event log; the book state is kept."""
        self._events.clear()

    def apply(self, event: Event | tuple[Any, ...]) -> list[Trade]:
        """Apply one logged event (recording it) and return the trades of that event only."""
        e = event.raw if isinstance(event, Event) else event
        ex: Exchange = self  # type: ignore[assignment]
        before = len(self._trades)
        kind = e[0]
        if kind == EV_LIMIT:
            ex.submit_limit(SIDE_NAMES[e[1]], e[2], e[3], TIF_NAMES[e[4]], owner=e[5], stp_policy=STP_NAMES[e[6]])
        elif kind == EV_MARKET:
            ex.submit_market(SIDE_NAMES[e[1]], e[2], owner=e[3], stp_policy=STP_NAMES[e[4]])
        elif kind == EV_CANCEL:
            ex.cancel(e[1])
        elif kind == EV_MODIFY:
            ex.modify(e[1], e[2], e[3])
        elif kind == EV_STOP_MARKET:
            ex.submit_stop_market(SIDE_NAMES[e[1]], e[2], e[3])
        elif kind == EV_STOP_LIMIT:
            ex.submit_stop_limit(SIDE_NAMES[e[1]], e[2], e[3], e[4], TIF_NAMES[e[5]])
        elif kind in (EV_TRAIL_MARKET, EV_TRAIL_LIMIT):
            _stops.apply_trailing_event(ex, e)
        elif kind == EV_REDUCE:
            ex.reduce(e[1], e[2])
        else:
            raise ValueError(f"unknown event kind {kind!r}")
        return [_new(Trade, t) for t in self._trades[before:]]

    def apply_all(self, events: Iterable[Event | tuple[Any, ...]]) -> list[Trade]:
        """Apply events in order; returns all their trades."""
        before = len(self._trades)
        for e in events:
            self.apply(e)
        return [_new(Trade, t) for t in self._trades[before:]]

    @staticmethod
    def replay(events: Iterable[Event | tuple[Any, ...]]) -> Exchange:
        """A fresh exchange with `events` applied: same state, same ids, same trades."""
        from engine.lob.exchange import Exchange

        ex = Exchange()
        ex.apply_all(events)
        return ex

    def save(self, path: str) -> None:
        """Write the event log as JSON lines (the seed's dialect plus owner/stp_policy when set)."""
        save_events(self.event_tuples(), path)

    @staticmethod
    def load(path: str) -> Exchange:
        """Rebuild an exchange from a JSON-lines event log; EventLogError names the bad line."""
        return HistoryMixin.replay(load_events(path))

    def __repr__(self) -> str:
        bid, ask = getattr(self, "_bbo", (None, None))
        return f"Exchange(bid={bid}, ask={ask}, orders={len(self._orders)}, trades={len(self._trades)})"


__all__ = ["HistoryMixin"]
