"""Implementation adapters: translate engine-neutral ops into pre-bound `(callable, args)` pairs per engine.

Foreign packages (the reference `nanobook`, the peer `pyorderbook`) are imported only when their adapter is built.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from typing import Any, Final

from engine.bench.workloads import BBO, CANCEL, L2, LIMIT, Book, Level, Op, TradeRow

Call = tuple[Callable[..., Any], tuple[Any, ...]]

OURS: Final = "ours"
REFERENCE: Final = "reference"
PYORDERBOOK: Final = "pyorderbook"
LOOP: Final = "loop-overhead"
IMPLEMENTATIONS: Final = (LOOP, OURS, REFERENCE, PYORDERBOOK)

# Workloads each implementation can run. The reference never runs plain `mixed` (bug B1 can hang it);
# pyorderbook has no depth query or public best-price API.
SUPPORTS: Final[dict[str, frozenset[str]]] = {
    LOOP: frozenset({"submit_no_match", "submit_match_1", "cancel_deep", "bbo", "l2_top10", "mixed", "mixed_safe"}),
    OURS: frozenset({"submit_no_match", "submit_match_1", "cancel_deep", "bbo", "l2_top10", "mixed", "mixed_safe"}),
    REFERENCE: frozenset({"submit_no_match", "submit_match_1", "cancel_deep", "bbo", "l2_top10", "mixed_safe"}),
    PYORDERBOOK: frozenset({"submit_no_match", "submit_match_1", "cancel_deep", "mixed", "mixed_safe"}),
}
SLOW: Final = frozenset({PYORDERBOOK})  # run a quarter of N
_SIDES: Final = ("buy", "sell")


def _noop(*_args: object) -> None:
    return None


def _l2(depth: Callable[[int], Any], levels: int) -> None:
    """L2 query: take the depth snapshot and materialise both sides' level lists."""
    snap = depth(levels)
    snap.bids  # noqa: B018 (touching the attribute is the point: it builds the level objects)
    snap.asks  # noqa: B018


class Adapter:
    """A fresh book of one implementation plus the translation of ops into calls on it."""

    name: str = ""

    def calls(self, ops: Sequence[Op]) -> list[Call]:
        """Pre-bound calls for `ops` (ids continue from earlier translations on this book)."""
        raise NotImplementedError

    def run(self, ops: Sequence[Op]) -> None:
        """Apply ops untimed (setup)."""
        for f, a in self.calls(ops):
            f(*a)

    def book(self) -> Book:
        """Full-depth L2 of the book, best first."""
        raise NotImplementedError

    def trades(self) -> list[TradeRow] | None:
        """All trades so far as (aggressor id, passive id, price, qty), or None when the engine keeps none."""
        raise NotImplementedError


class ExchangeAdapter(Adapter):
    """Our `engine.lob.Exchange` or the reference `nanobook.Exchange` (same Python signatures)."""

    def __init__(self, name: str, exchange: Any) -> None:
        self.name = name
        self.ex = exchange

    def calls(self, ops: Sequence[Op]) -> list[Call]:
        """Translate to submit_limit / cancel / best_bid_ask / depth calls."""
        ex = self.ex
        submit, cancel, bba, depth = ex.submit_limit, ex.cancel, ex.best_bid_ask, ex.depth
        out: list[Call] = []
        append = out.append
        for op in ops:
            kind = op[0]
            if kind == LIMIT:
                append((submit, (_SIDES[op[1]], op[2], op[3])))
            elif kind == CANCEL:
                append((cancel, (op[1],)))
            elif kind == BBO:
                append((bba, ()))
            elif kind == L2:
                append((_l2, (depth, op[1])))
            else:
                raise ValueError(f"unknown op {op!r}")
        return out

    def book(self) -> Book:
        """Full depth through `depth(n)` with reference attribute names."""
        snap = self.ex.depth(1_000_000)
        return ([(lv.price, lv.quantity, lv.order_count) for lv in snap.bids],
                [(lv.price, lv.quantity, lv.order_count) for lv in snap.asks])

    def trades(self) -> list[TradeRow] | None:
        """Trade history through `trades()`."""
        return [(t.aggressor_order_id, t.passive_order_id, t.price, t.quantity) for t in self.ex.trades()]


class LoopAdapter(ExchangeAdapter):
    """The `loop-overhead` row: our call shapes with a no-op callable, on no book."""

    def __init__(self) -> None:
        super().__init__(LOOP, None)

    def calls(self, ops: Sequence[Op]) -> list[Call]:
        """Same tuple shapes as `ours`, every callable a no-op."""
        out: list[Call] = []
        for op in ops:
            kind = op[0]
            if kind == LIMIT:
                out.append((_noop, (_SIDES[op[1]], op[2], op[3])))
            elif kind == CANCEL:
                out.append((_noop, (op[1],)))
            elif kind == BBO:
                out.append((_noop, ()))
            else:
                out.append((_noop, (_noop, op[1])))
        return out

    def book(self) -> Book:
        """No book."""
        return [], []

    def trades(self) -> None:
        """No trades."""
        return


class PyOrderBookAdapter(Adapter):
    """pyorderbook 0.4.9: `Book.match(Order)` / `Book.cancel(Order)`; Orders are built before timing.

    Building an Order costs a uuid4 and a Decimal (about 3 µs); it is left out of the timed loop, which favours
    the peer. Cancels need the Order object, so ids map to the Orders created for earlier submits.
    """

    SYMBOL: Final = "X"

    def __init__(self) -> None:
        self.name = PYORDERBOOK
        # pyorderbook calls logging.basicConfig(INFO) at import: a root handler first turns that into a no-op.
        root = logging.getLogger()
        if not root.handlers:
            root.addHandler(logging.NullHandler())
        import pyorderbook

        self._mod = pyorderbook
        self.bk = pyorderbook.Book()
        self._orders: list[Any] = [None]  # index = our order id

    def calls(self, ops: Sequence[Op]) -> list[Call]:
        """Translate to match(Order) / cancel(Order) calls."""
        order_cls, side_enum = self._mod.Order, self._mod.Side
        sides = (side_enum.BID, side_enum.ASK)
        match, cancel = self.bk.match, self.bk.cancel
        orders = self._orders
        out: list[Call] = []
        for op in ops:
            kind = op[0]
            if kind == LIMIT:
                order = order_cls(sides[op[1]], self.SYMBOL, op[2], op[3])
                orders.append(order)
                out.append((match, (order,)))
            elif kind == CANCEL:
                out.append((cancel, (orders[op[1]],)))
            else:
                raise ValueError(f"pyorderbook has no query for op {op!r}")
        return out

    def book(self) -> Book:
        """L2 from the level map, skipping the empty levels pyorderbook's cancel leaves behind."""
        side_enum = self._mod.Side
        maps = self.bk.level_map[self.SYMBOL]

        def side(s: Any, best_first_desc: bool) -> list[Level]:
            rows = [(int(p), sum(o.quantity for o in lv.orders.values()), len(lv.orders))
                    for p, lv in maps[s].items() if lv.orders]
            return sorted(rows, reverse=best_first_desc)

        return side(side_enum.BID, True), side(side_enum.ASK, False)

    def trades(self) -> None:
        """pyorderbook returns trades per call and keeps no history."""
        return


def make_adapter(name: str) -> Adapter:
    """A fresh book for implementation `name` (ImportError when its package is missing)."""
    if name == OURS:
        from engine.lob import Exchange

        return ExchangeAdapter(OURS, Exchange())
    if name == REFERENCE:
        import nanobook

        return ExchangeAdapter(REFERENCE, nanobook.Exchange())
    if name == PYORDERBOOK:
        return PyOrderBookAdapter()
    if name == LOOP:
        return LoopAdapter()
    raise ValueError(f"unknown implementation {name!r} (choose from {', '.join(IMPLEMENTATIONS)})")

