"""Read-only queries of an `Exchange`: BBO, spread, depth snapshots, order and stop lookups, trades.

Depth is cached per side until that side changes (every write path in exchange.py resets the cache), and
per level while its quantity and order count are unchanged. Nothing here mutates book state.
"""

from __future__ import annotations

from collections import deque
from typing import TYPE_CHECKING, Any

from engine.lob.record import order_view
from engine.lob.results import LevelSnapshot, Order, Trade
from engine.lob.snapshot import BookSnapshot

if TYPE_CHECKING:
    from engine.lob.stops import StopBook

_new = tuple.__new__


def _levels(prices: list[int], book: dict[int, list[Any]], sign: int) -> list[LevelSnapshot]:
    out = []
    for key in prices:
        p = key * sign
        lv = book[p]
        c = lv[3]
        # A level snapshot is fully determined by (price, quantity, count): reuse it while those hold.
        if c is None or c[1] != lv[0] or c[2] != lv[1]:
            c = lv[3] = _new(LevelSnapshot, (p, lv[0], lv[1]))
        out.append(c)
    return out


class QueryMixin:
    """Queries over the state owned by `Exchange` (declared here for the type checker)."""

    __slots__ = ()
    _orders: dict[int, tuple[Any, ...]]
    _bids: dict[int, list[Any]]
    _asks: dict[int, list[Any]]
    _bpx: list[int]
    _apx: list[int]
    _bbo: tuple[int | None, int | None]
    _trades: list[tuple[Any, ...]]
    _ltp: int | None
    _stops: StopBook
    _absdiff: deque[int]
    _bcache: tuple[int, list[LevelSnapshot]] | None
    _acache: tuple[int, list[LevelSnapshot]] | None

    def best_bid(self) -> int | None:
        """Highest bid price, or None."""
        return self._bbo[0]

    def best_ask(self) -> int | None:
        """Lowest ask price, or None."""
        return self._bbo[1]

    def best_bid_ask(self) -> tuple[int | None, int | None]:
        """(best bid, best ask); None for an empty side."""
        return self._bbo

    def spread(self) -> int | None:
        """best ask - best bid in ticks, when both sides exist."""
        bid, ask = self._bbo
        return ask - bid if bid is not None and ask is not None else None

    def depth(self, levels: int = 10) -> BookSnapshot:
        """Immutable snapshot of the top `levels` price levels per side, best first."""
        if levels <= 0:
            return _new(BookSnapshot, ([], []))
        bc = self._bcache
        if bc is None or bc[0] != levels:
            bc = self._bcache = (levels, _levels(self._bpx[:-levels - 1:-1], self._bids, 1))  # type: ignore[misc]  # slot declared by Exchange
        ac = self._acache
        if ac is None or ac[0] != levels:
            ac = self._acache = (levels, _levels(self._apx[:-levels - 1:-1], self._asks, -1))  # type: ignore[misc]
        # Copies: a caller mutating its lists must not change the cache or another caller's snapshot.
        return _new(BookSnapshot, (bc[1].copy(), ac[1].copy()))

    def full_book(self) -> BookSnapshot:
        """Snapshot of every level on both sides."""
        return self.depth(max(len(self._bpx), len(self._apx)))

    def get_order(self, order_id: int) -> Order | None:
        """Read-only view of an order (None for unknown, FOK ghost or cleared ids)."""
        r = self._orders.get(order_id)
        return None if r is None else order_view(order_id, r)

    def get_stop_order(self, order_id: int) -> dict[str, Any] | None:
        """Stop order as a dict (id, side, stop_price, limit_price, quantity, status, timestamp)."""
        return self._stops.view(order_id)

    def trades(self) -> list[Trade]:
        """Trade history since the last `clear_trades`, chronological."""
        return [_new(Trade, t) for t in self._trades]

    def last_trade_price(self) -> int | None:
        """Price of the last trade that drove trigger processing."""
        return self._ltp

    def pending_stop_count(self) -> int:
        """Number of pending (untriggered, uncancelled) stops."""
        return self._stops.pending

    def active_order_count(self) -> int:
        """Number of orders resting on the book."""
        return sum(lv[1] for lv in self._bids.values()) + sum(lv[1] for lv in self._asks.values())  # type: ignore[no-any-return]
