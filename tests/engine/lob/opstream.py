"""Engine-agnostic op streams: apply JSON-able ops to any nanobook-compatible Exchange and observe it."""

# Imported both in-process (engine.lob) and by `ref_worker` in a subprocess (the reference package), so at
# module level it imports neither.

from __future__ import annotations

import random
from typing import Any

Op = list[Any]


def trade_row(t: Any) -> list[Any]:
    return [t.trade_id, t.price, t.quantity, t.aggressor_side, t.aggressor_order_id, t.passive_order_id,
            t.timestamp]


def apply_op(ex: Any, op: Op) -> list[Any]:
    """Run one op; return its result as plain lists (attribute by attribute, reference names)."""
    kind = op[0]
    if kind in ("limit", "market"):
        r = ex.submit_limit(*op[1:]) if kind == "limit" else ex.submit_market(*op[1:])
        return ["submit", r.order_id, r.status, r.filled_quantity, r.resting_quantity, r.cancelled_quantity,
                [trade_row(t) for t in r.trades]]
    if kind == "cancel":
        r = ex.cancel(op[1])
        return ["cancel", r.success, r.cancelled_quantity, r.error]
    if kind == "modify":
        r = ex.modify(*op[1:])
        return ["modify", r.success, r.old_order_id, r.new_order_id, r.cancelled_quantity,
                [trade_row(t) for t in r.trades], r.error]
    if kind == "stop_market":
        r = ex.submit_stop_market(*op[1:])
    elif kind == "stop_limit":
        r = ex.submit_stop_limit(*op[1:])
    elif kind == "trail_market":
        r = ex.submit_trailing_stop_market(*op[1:])
    elif kind == "trail_limit":
        r = ex.submit_trailing_stop_limit(*op[1:])
    else:
        raise ValueError(f"unknown op {kind!r}")
    return ["stop", r.order_id, r.status]


def levels(snapshot_side: Any) -> list[list[int]]:
    return [[lv.price, lv.quantity, lv.order_count] for lv in snapshot_side]


def observe(ex: Any) -> list[Any]:
    """Book state visible after an op: BBO, full depth, last trade price, pending stop count."""
    book = ex.full_book()
    return [list(ex.best_bid_ask()), levels(book.bids), levels(book.asks), ex.last_trade_price(),
            ex.pending_stop_count()]


def order_row(o: Any) -> list[Any] | None:
    if o is None:
        return None
    return [o.id, o.side, o.price, o.original_quantity, o.remaining_quantity, o.filled_quantity, o.status,
            o.time_in_force, o.timestamp]


def run_stream(ex: Any, ops: list[Op]) -> dict[str, Any]:
    """Apply every op, observing after each; then dump trades, every order and every stop by id."""
    steps = []
    for op in ops:
        steps.append([apply_op(ex, op), observe(ex)])
    last_id = max([s[0][1] for s in steps if s[0][0] in ("submit", "stop")]
                  + [s[0][3] or 0 for s in steps if s[0][0] == "modify"] + [0])
    # Stops may spawn orders with ids beyond the last returned one; probe a margin past it.
    ids = range(1, last_id + 64)
    return {
        "steps": steps,
        "trades": [trade_row(t) for t in ex.trades()],
        "orders": {str(i): order_row(ex.get_order(i)) for i in ids},
        "stops": {str(i): ex.get_stop_order(i) for i in ids},
    }


# ---------------------------------------------------------------------------- stream generation

class StreamGen:
    """Random op streams that avoid the reference's known bugs, so the reference is a fair oracle.

    * B1 (stale queue index): cancel/modify only targets an order whose price level has not changed (no trade,
      no cancel) since the order was placed, or an order that is no longer live (filled, cancelled, unknown).
    * B2 (IOC/market leftovers look active): IOC/FOK/market ids are never cancel/modify targets.
    * B5 (modify does not fire stops): streams with stops contain no modify.
    Liveness is read from a shadow `engine.lob.Exchange` fed the same ops (used only to pick targets; the
    expected values always come from the reference).
    """

    def __init__(self, seed: int, *, stops: bool = False, price_lo: int = 95, price_hi: int = 105) -> None:
        from engine.lob import Exchange  # lazy: the reference worker never builds streams

        self.rng = random.Random(seed)
        self.stops = stops
        self.lo, self.hi = price_lo, price_hi
        self.shadow = Exchange()
        self.version: dict[tuple[str, int], int] = {}
        self.placed: dict[int, tuple[str, int, int]] = {}  # GTC id -> (side, price, level version at placement)
        self.dead: list[int] = []
        self.stop_ids: list[int] = []

    def _touch(self, side: str, price: int) -> None:
        self.version[(side, price)] = self.version.get((side, price), 0) + 1

    def _run(self, op: Op) -> list[Any]:
        ex = self.shadow
        before = len(ex.trades())
        if op[0] in ("cancel", "modify"):
            o = ex.get_order(op[1])
            if o is not None and o.status in ("new", "partiallyfilled"):
                self._touch(o.side, o.price)
        res = apply_op(ex, op)
        for t in ex.trades()[before:]:
            passive = ex.get_order(t.passive_order_id)
            self._touch(passive.side, passive.price)
        gtc_id = None
        if res[0] == "submit" and op[0] == "limit" and op[4] == "gtc":
            gtc_id = res[1]
        elif res[0] == "modify" and res[1]:
            gtc_id = res[3]
        elif res[0] == "stop":
            self.stop_ids.append(res[1])
        if gtc_id is not None:
            o = ex.get_order(gtc_id)
            if o.status in ("new", "partiallyfilled"):
                self.placed[gtc_id] = (o.side, o.price, self.version.get((o.side, o.price), 0))
            else:
                self.dead.append(gtc_id)
        return res

    def _safe_targets(self) -> list[int]:
        out = []
        for oid, (side, price, ver) in list(self.placed.items()):
            o = self.shadow.get_order(oid)
            if o.status not in ("new", "partiallyfilled"):
                del self.placed[oid]
                self.dead.append(oid)
            elif self.version.get((side, price), 0) == ver:
                out.append(oid)
        return out

    def _qty(self) -> int:
        return self.rng.choice([1, 2, 5, 10, 10, 20, 25, 50, 100])

    def _make(self) -> Op:
        rng = self.rng
        roll = rng.random()
        side = rng.choice(["buy", "sell"])
        price = rng.randint(self.lo, self.hi)
        if self.stops and roll < 0.2:
            return self._stop_op(side)
        if roll < 0.6:
            tif = rng.choices(["gtc", "ioc", "fok"], [6, 2, 2])[0]
            return ["limit", side, price, self._qty(), tif]
        if roll < 0.7:
            return ["market", side, self._qty()]
        targets = self._safe_targets()
        if self.stops and self.stop_ids and rng.random() < 0.3:
            return ["cancel", rng.choice(self.stop_ids)]
        if targets and rng.random() < 0.8:
            oid = rng.choice(targets)
        elif self.dead and rng.random() < 0.5:
            oid = rng.choice(self.dead)
        else:
            oid = 10_000 + rng.randint(0, 99)  # never issued
        if self.stops or roll < 0.85:
            return ["cancel", oid]
        return ["modify", oid, price, self._qty() if rng.random() > 0.05 else 0]

    def _stop_op(self, side: str) -> Op:
        rng = self.rng
        stop = rng.randint(self.lo, self.hi)
        qty = self._qty()
        kind = rng.choice(["stop_market", "stop_limit", "trail_market", "trail_limit"])
        limit = stop + rng.randint(-3, 3)
        tif = rng.choice(["gtc", "gtc", "ioc", "fok"])
        trail = rng.choice([["fixed", float(rng.randint(0, 4)), None],
                            ["percentage", rng.choice([0.01, 0.02, 0.05]), None],
                            ["sma_abs_change", rng.choice([0.5, 1.0, 2.0]), rng.randint(0, 5)]])
        if kind == "stop_market":
            return ["stop_market", side, stop, qty]
        if kind == "stop_limit":
            return ["stop_limit", side, stop, limit, qty, tif]
        if kind == "trail_market":
            return ["trail_market", side, stop, qty, *trail]
        return ["trail_limit", side, stop, limit, qty, trail[0], trail[1], tif, trail[2]]

    def stream(self, n: int) -> list[Op]:
        out = []
        for _ in range(n):
            op = self._make()
            self._run(op)
            out.append(op)
        return out
