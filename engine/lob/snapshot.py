"""Immutable depth snapshots and their analytics (mid, spread, imbalance, weighted mid).

Analytics use only the levels captured in the snapshot; nothing here touches a live book.
"""

from __future__ import annotations

from engine.lob.results import LevelSnapshot


class BookSnapshot(tuple):  # type: ignore[type-arg]
    """Bids (best = highest first) and asks (best = lowest first) at one moment."""

    __slots__ = ()

    def __new__(cls, bids: list[LevelSnapshot], asks: list[LevelSnapshot]) -> BookSnapshot:
        return tuple.__new__(cls, (bids, asks))

    @property
    def bids(self) -> list[LevelSnapshot]:
        """Bid levels, best first."""
        return self[0]  # type: ignore[no-any-return]

    @property
    def asks(self) -> list[LevelSnapshot]:
        """Ask levels, best first."""
        return self[1]  # type: ignore[no-any-return]

    def best_bid(self) -> int | None:
        """Price of the first bid level."""
        return self[0][0][0] if self[0] else None

    def best_ask(self) -> int | None:
        """Price of the first ask level."""
        return self[1][0][0] if self[1] else None

    def spread(self) -> int | None:
        """ask - bid when both sides are present."""
        bid, ask = self.best_bid(), self.best_ask()
        return ask - bid if bid is not None and ask is not None else None

    def mid_price(self) -> float | None:
        """(bid + ask) / 2 in float ticks; None unless both sides exist."""
        bid, ask = self.best_bid(), self.best_ask()
        return (bid + ask) / 2 if bid is not None and ask is not None else None

    def total_bid_quantity(self) -> int:
        """Sum of bid quantity over the snapshot's levels."""
        return sum(level[1] for level in self[0])

    def total_ask_quantity(self) -> int:
        """Sum of ask quantity over the snapshot's levels."""
        return sum(level[1] for level in self[1])

    def imbalance(self) -> float | None:
        """(B - A) / (B + A) over the snapshot totals, in [-1, 1]; None when both are zero."""
        b, a = self.total_bid_quantity(), self.total_ask_quantity()
        return (b - a) / (b + a) if b + a else None

    def weighted_mid(self) -> float | None:
        """Top-of-book size-weighted mid: (askQty·bid + bidQty·ask) / (bidQty + askQty)."""
        if not self[0] or not self[1]:
            return None
        (bid, bid_qty, _), (ask, ask_qty, _) = self[0][0], self[1][0]
        total = bid_qty + ask_qty
        return (ask_qty * bid + bid_qty * ask) / total if total else None

    def __repr__(self) -> str:
        return f"BookSnapshot(bids={len(self[0])}, asks={len(self[1])})"
