"""A deliberately naive reference order book (lists, linear scans) for differential tests of engine.lob."""

from __future__ import annotations

import copy
from dataclasses import dataclass, field

PRICE_MAX = 2**63 - 1
PRICE_MIN = -(2**63)
STP_POLICIES = ("off", "cancel_newest", "cancel_oldest", "decrement_and_cancel")


@dataclass
class MOrder:
    id: int
    side: str
    price: int
    original: int
    remaining: int
    filled: int
    status: str  # new | partiallyfilled | filled | cancelled
    tif: str
    timestamp: int
    owner: int | None
    stp: str
    resting: bool = False


@dataclass
class ModelBook:
    """Price-time priority by brute force: every order lives in one list; the book is a filter over it."""

    orders: list[MOrder] = field(default_factory=list)
    trades: list[tuple[int, int, int, str, int, int, int]] = field(default_factory=list)
    next_id: int = 1
    next_ts: int = 1
    next_trade: int = 1

    # ------------------------------------------------------------------ helpers

    def find(self, order_id: int) -> MOrder | None:
        for o in self.orders:
            if o.id == order_id:
                return o
        return None

    def resting(self, side: str) -> list[MOrder]:
        return [o for o in self.orders if o.resting and o.side == side]

    def _best_passive(self, incoming: MOrder) -> MOrder | None:
        """The resting opposite order with the best price, earliest timestamp, that crosses `incoming`."""
        opposite = "sell" if incoming.side == "buy" else "buy"
        candidates = []
        for o in self.resting(opposite):
            crosses = o.price <= incoming.price if incoming.side == "buy" else o.price >= incoming.price
            if crosses:
                candidates.append(o)
        if not candidates:
            return None
        if incoming.side == "buy":
            return min(candidates, key=lambda o: (o.price, o.timestamp))
        return min(candidates, key=lambda o: (-o.price, o.timestamp))

    def _match(self, incoming: MOrder) -> tuple[list[tuple[int, int, int, str, int, int, int]], bool]:
        """Match until filled, no cross, or an STP cancel of the incoming order. Returns (trades, stp_hit)."""
        trades = []
        while incoming.remaining > 0:
            passive = self._best_passive(incoming)
            if passive is None:
                break
            conflict = (incoming.owner is not None and incoming.stp != "off"
                        and passive.owner == incoming.owner)
            if conflict:
                cancel_incoming = (incoming.stp == "cancel_newest"
                                   or (incoming.stp == "decrement_and_cancel"
                                       and incoming.remaining < passive.remaining))
                if cancel_incoming:
                    return trades, True
                passive.remaining = 0
                passive.status = "cancelled"
                passive.resting = False
                continue
            qty = min(incoming.remaining, passive.remaining)
            trade = (self.next_trade, passive.price, qty, incoming.side, incoming.id, passive.id, self.next_ts)
            self.next_trade += 1
            self.next_ts += 1
            trades.append(trade)
            incoming.remaining -= qty
            incoming.filled += qty
            passive.remaining -= qty
            passive.filled += qty
            if passive.remaining == 0:
                passive.status = "filled"
                passive.resting = False
            else:
                passive.status = "partiallyfilled"
        return trades, False

    def _fok_feasible(self, side: str, price: int, qty: int, owner: int | None, stp: str) -> bool:
        """Simulate the whole match on a deep copy: feasible iff it fills completely without an STP stop."""
        trial = copy.deepcopy(self)
        probe = MOrder(-1, side, price, qty, qty, 0, "new", "fok", 0, owner, stp)
        _, stp_hit = trial._match(probe)
        return not stp_hit and probe.remaining == 0

    # ------------------------------------------------------------------ public operations

    def submit_limit(self, side: str, price: int, qty: int, tif: str = "gtc", owner: int | None = None,
                     stp: str = "off") -> tuple[int, str, list[tuple], int, int, int]:
        if tif == "fok" and not self._fok_feasible(side, price, qty, owner, stp):
            oid = self.next_id
            self.next_id += 1
            self.next_ts += 1
            return (oid, "Cancelled", [], 0, 0, qty)
        o = MOrder(self.next_id, side, price, qty, qty, 0, "new", tif, self.next_ts, owner, stp)
        self.next_id += 1
        self.next_ts += 1
        self.orders.append(o)
        trades, stp_hit = self._match(o)
        self.trades.extend(trades)
        filled = o.filled
        if stp_hit or (o.remaining and tif != "gtc"):
            left = o.remaining
            o.remaining = 0
            o.status = "cancelled"
            return (o.id, "PartiallyFilled" if filled else "Cancelled", trades, filled, 0, left)
        if o.remaining == 0:
            o.status = "filled"
            return (o.id, "Filled", trades, filled, 0, 0)
        o.resting = True
        o.status = "partiallyfilled" if filled else "new"
        return (o.id, "PartiallyFilled" if filled else "New", trades, filled, o.remaining, 0)

    def submit_market(self, side: str, qty: int, owner: int | None = None, stp: str = "off") -> tuple:
        return self.submit_limit(side, PRICE_MAX if side == "buy" else PRICE_MIN, qty, "ioc", owner, stp)

    def cancel(self, order_id: int) -> tuple[bool, int, str | None]:
        o = self.find(order_id)
        if o is None:
            return (False, 0, "OrderNotFound")
        if o.status in ("filled", "cancelled"):
            return (False, 0, "OrderNotActive")
        left = o.remaining
        o.remaining = 0
        o.status = "cancelled"
        o.resting = False
        return (True, left, None)

    def modify(self, order_id: int, price: int, qty: int) -> tuple[bool, int, int | None, int, list, str | None]:
        if qty == 0:
            return (False, order_id, None, 0, [], "InvalidQuantity")
        o = self.find(order_id)
        if o is None:
            return (False, order_id, None, 0, [], "OrderNotFound")
        if o.status in ("filled", "cancelled"):
            return (False, order_id, None, 0, [], "OrderNotActive")
        _, cancelled, _ = self.cancel(order_id)
        new = self.submit_limit(o.side, price, qty, o.tif, o.owner, o.stp)
        return (True, order_id, new[0], cancelled, new[2], None)

    # ------------------------------------------------------------------ queries

    def levels(self, side: str) -> list[tuple[int, int, int]]:
        prices = sorted({o.price for o in self.resting(side)}, reverse=side == "buy")
        out = []
        for p in prices:
            at = [o for o in self.resting(side) if o.price == p]
            out.append((p, sum(o.remaining for o in at), len(at)))
        return out

    def best_bid_ask(self) -> tuple[int | None, int | None]:
        bids, asks = self.levels("buy"), self.levels("sell")
        return (bids[0][0] if bids else None, asks[0][0] if asks else None)

    def order_view(self, order_id: int) -> tuple | None:
        o = self.find(order_id)
        if o is None:
            return None
        return (o.id, o.side, o.price, o.original, o.remaining, o.filled, o.status, o.tif, o.timestamp, o.owner)
