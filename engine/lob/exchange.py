"""Single-symbol limit order book: submissions, price-time matching, STP, cancel and modify.

Deterministic: ids and timestamps are logical counters, never the wall clock. Orders are addressed by id,
never by queue position (reference bug B1). Hot paths are inlined on purpose (see docs/benchmarks.md);
queries live in `queries.py`, the event log and replay in `history.py`. The optional C module `_accel.c`
replaces submit_limit/_match/cancel/reduce on the same data structures; the Python methods here stay the reference.
"""

from __future__ import annotations

import importlib
import os
from bisect import bisect_left, insort
from collections import deque
from typing import Any, Final

from engine.errors import LobValidationError
from engine.lob import stops as _stops
from engine.lob.events import EV_MODIFY, EV_REDUCE, EV_STOP_LIMIT, EV_STOP_MARKET, EV_TRAIL_LIMIT, EV_TRAIL_MARKET
from engine.lob.history import HistoryMixin
from engine.lob.queries import QueryMixin
from engine.lob.record import CANCEL_RESULTS, EXT, ORIG, PRICE, REM, SIDE, STATUS, TS, make_ext
from engine.lob.results import CancelResult, ModifyResult, StopSubmitResult, SubmitResult
from engine.lob.types import (
    BUY,
    CANCELLED,
    FILLED,
    FOK,
    GTC,
    IOC,
    NEW,
    PARTIALLY_FILLED,
    PRICE_MAX,
    PRICE_MIN,
    SIDE_CODES,
    SIDE_NAMES,
    STP_CANCEL_NEWEST,
    STP_CANCEL_OLDEST,
    STP_OFF,
    U64_MAX,
    check_price,
    check_quantity,
    parse_side,
    parse_tif,
)

_new = tuple.__new__
_NOT_FOUND = _new(CancelResult, (False, 0, "OrderNotFound"))
_NOT_ACTIVE = _new(CancelResult, (False, 0, "OrderNotActive"))
_INT = int


class Exchange(QueryMixin, HistoryMixin):
    """A deterministic single-symbol exchange, signature-compatible with `nanobook.Exchange`.

    Prices are integer ticks (cents), quantities integer lots. Extras over the reference are keyword-only:
    `owner=` and `stp_policy=` on submits (self-trade prevention, logged so replay is faithful).
    """

    __slots__ = (
        "__weakref__", "_absdiff", "_acache", "_apx", "_asks", "_bbo", "_bcache", "_bids", "_bpx", "_events", "_ltp",
        "_next_id",
        "_next_trade", "_orders", "_prev_px", "_stops", "_trades",
    )

    def __init__(self) -> None:
        # Order records: id -> (side, price, original, remaining, timestamp, status, ext), see record.py.
        self._orders: dict[int, tuple[Any, ...]] = {}
        # Levels: price -> [total_remaining, live_count, deque[order id], cached LevelSnapshot | None].
        self._bids: dict[int, list[Any]] = {}
        self._asks: dict[int, list[Any]] = {}
        self._bpx: list[int] = []               # bid prices ascending: best bid is the last element
        self._apx: list[int] = []               # NEGATED ask prices ascending: best ask is -last
        self._bbo: tuple[int | None, int | None] = (None, None)
        # Depth snapshot per side, reused until that side changes: every write path resets it (queries.py).
        self._bcache: tuple[int, list[Any]] | None = None
        self._acache: tuple[int, list[Any]] | None = None
        # The timestamp counter is implied: next timestamp == next_id + next_trade - 1, since every order id
        # and every trade id consumes exactly one timestamp (engine-spec §1.2).
        self._next_id = 1
        self._next_trade = 1
        self._trades: list[tuple[Any, ...]] = []  # plain tuples, Trade field order
        # Event log: the record tuple for a submit, a bare int for a cancel, a list for anything else.
        self._events: list[Any] = []
        self._ltp: int | None = None
        self._prev_px: int | None = None        # last price seen by trigger processing
        self._absdiff: deque[int] = deque(maxlen=10_000)  # |Δp| history for adaptive trailing stops
        self._stops = _stops.StopBook()

    # ------------------------------------------------------------------ submissions

    def submit_limit(self, side: str, price: int, quantity: int, tif: str = "gtc", *,
                     owner: int | None = None, stp_policy: str = "off") -> SubmitResult:
        """Submit a limit order (price in ticks). Trades at resting prices; GTC remainders rest."""
        s = SIDE_CODES.get(side)
        if s is None:
            s = parse_side(side)
        if type(price) is not _INT or type(quantity) is not _INT or not (
                PRICE_MIN <= price <= PRICE_MAX and 0 <= quantity <= U64_MAX):
            price = check_price(price)
            quantity = check_quantity(quantity)
        ext = None if tif == "gtc" and owner is None and stp_policy == "off" else make_ext(tif, owner, stp_policy)
        if ext is None and quantity:
            # Fast path: a plain GTC order that does not cross simply rests at the back of its level.
            if s == BUY:
                a = self._apx
                if not a or -a[-1] > price:
                    oid = self._next_id
                    self._next_id = oid + 1
                    rec = (0, price, quantity, quantity, oid + self._next_trade - 1, NEW, None)
                    self._events.append(rec)
                    self._orders[oid] = rec
                    self._bcache = None
                    lv = self._bids.get(price)
                    if lv is None:
                        b = self._bpx
                        if not b or price > b[-1]:
                            self._bbo = (price, self._bbo[1])
                        self._bids[price] = [quantity, 1, deque((oid,)), None]
                        insort(b, price)
                    else:
                        lv[0] += quantity
                        lv[1] += 1
                        lv[2].append(oid)
                    return _new(SubmitResult, (oid, "New", (), 0, quantity, 0))
            else:
                b = self._bpx
                if not b or b[-1] < price:
                    oid = self._next_id
                    self._next_id = oid + 1
                    rec = (1, price, quantity, quantity, oid + self._next_trade - 1, NEW, None)
                    self._events.append(rec)
                    self._orders[oid] = rec
                    self._acache = None
                    lv = self._asks.get(price)
                    if lv is None:
                        a = self._apx
                        if not a or -price > a[-1]:
                            self._bbo = (self._bbo[0], price)
                        self._asks[price] = [quantity, 1, deque((oid,)), None]
                        insort(a, -price)
                    else:
                        lv[0] += quantity
                        lv[1] += 1
                        lv[2].append(oid)
                    return _new(SubmitResult, (oid, "New", (), 0, quantity, 0))
        return self._match(s, price, quantity, ext)

    def submit_market(self, side: str, quantity: int, *, owner: int | None = None,
                      stp_policy: str = "off") -> SubmitResult:
        """Submit a market order: an IOC at the extreme sentinel price; never rests."""
        s = SIDE_CODES.get(side)
        if s is None:
            s = parse_side(side)
        quantity = check_quantity(quantity)
        ext = make_ext("ioc", owner, stp_policy, market=True)
        return self._match(s, PRICE_MAX if s == BUY else PRICE_MIN, quantity, ext)

    def try_submit_limit(self, side: str, price: int, quantity: int, tif: str = "gtc", *,
                         owner: int | None = None, stp_policy: str = "off") -> SubmitResult:
        """Validated submit: LobValidationError for a zero quantity (checked first) or a price <= 0."""
        if quantity == 0:
            raise LobValidationError("ZeroQuantity", "quantity must be greater than zero")
        if price <= 0:
            raise LobValidationError("ZeroPrice", "price must be greater than zero")
        return self.submit_limit(side, price, quantity, tif, owner=owner, stp_policy=stp_policy)

    def try_submit_market(self, side: str, quantity: int, *, owner: int | None = None,
                          stp_policy: str = "off") -> SubmitResult:
        """Validated market submit: LobValidationError for a zero quantity."""
        if quantity == 0:
            raise LobValidationError("ZeroQuantity", "quantity must be greater than zero")
        return self.submit_market(side, quantity, owner=owner, stp_policy=stp_policy)

    def _match(self, s: int, price: int, qty: int, ext: tuple[Any, ...] | None, log: bool = True,
               fire_stops: bool = True) -> SubmitResult:
        """Create an order, match it, then rest, store or drop its remainder; fire stops if it traded.

        `log=False` for orders spawned by modify and by stops (their own inputs are logged instead).
        """
        oid = self._next_id
        self._next_id = oid + 1
        ts = oid + self._next_trade - 1
        if ext is None:
            tif, owner, stp = GTC, None, STP_OFF
        else:
            tif, owner, stp = ext[0], ext[1], ext[2]
        if tif == FOK and qty and not self._fok_fillable(s, price, qty, owner, stp):
            # Ghost: the id and timestamp are consumed but nothing is stored (reference contract).
            if log:
                self._events.append((s, price, qty, qty, ts, NEW, ext))
            return _new(SubmitResult, (oid, "Cancelled", (), 0, 0, qty))
        if s == BUY:
            opx, book, sign = self._apx, self._asks, -1
        else:
            opx, book, sign = self._bpx, self._bids, 1
        trades: list[tuple[Any, ...]] = []
        rem = qty
        stp_hit = False
        if rem and opx:
            orders = self._orders
            side_name = SIDE_NAMES[s]
            stp_on = owner is not None and stp != STP_OFF
            ntid = self._next_trade
            append = trades.append
            while rem and opx:
                best = opx[-1] * sign
                if (best > price) if s == BUY else (best < price):
                    break
                lv = book[best]
                q = lv[2]
                while True:
                    roid = q[0]
                    r = orders[roid]
                    if r[5] == CANCELLED:  # cancelled earlier; dropped lazily
                        q.popleft()
                        continue
                    rr = r[3]
                    if stp_on:
                        r_ext = r[6]
                        if r_ext is not None and r_ext[1] == owner:
                            if stp == STP_CANCEL_NEWEST or (stp != STP_CANCEL_OLDEST and rem < rr):
                                stp_hit = True
                                break
                            # CancelOldest, or DecrementAndCancel with the resting order not larger.
                            orders[roid] = (r[0], r[1], r[2], rr, r[4], CANCELLED, r_ext)
                            q.popleft()
                            lv[0] -= rr
                            lv[1] -= 1
                            if not lv[1]:
                                del book[best]
                                opx.pop()
                                break
                            continue
                    if rr <= rem:
                        fill = rr
                        orders[roid] = (r[0], r[1], r[2], 0, r[4], FILLED, r[6])
                        q.popleft()
                        lv[1] -= 1
                    else:
                        fill = rem
                        orders[roid] = (r[0], r[1], r[2], rr - rem, r[4], PARTIALLY_FILLED, r[6])
                    lv[0] -= fill
                    append((ntid, best, fill, side_name, oid, roid, oid + ntid))
                    ntid += 1
                    rem -= fill
                    if not lv[1]:
                        del book[best]
                        opx.pop()
                        break
                    if not rem:
                        break
                if stp_hit:
                    break
            self._next_trade = ntid
            if s == BUY:
                self._acache = None
            else:
                self._bcache = None
            b, a = self._bpx, self._apx  # inlined _refresh_bbo: this is the hot matching path
            self._bbo = (b[-1] if b else None, -a[-1] if a else None)
        filled = qty - rem
        if stp_hit or (rem and tif != GTC):
            # Leftovers of IOC/FOK/market/STP never rest and are terminal (fixes reference bug B2).
            status = CANCELLED
            result = _new(SubmitResult, (oid, "PartiallyFilled" if filled else "Cancelled", trades, filled, 0, rem))
        elif not rem:
            status = FILLED
            result = _new(SubmitResult, (oid, "Filled", trades, filled, 0, 0))
        else:
            status = PARTIALLY_FILLED if filled else NEW
            self._rest(oid, s, price, rem)
            result = _new(SubmitResult, (oid, "PartiallyFilled" if filled else "New", trades, filled, rem, 0))
        rec = (s, price, qty, rem, ts, status, ext)
        self._orders[oid] = rec
        if log:
            self._events.append(rec)
        if trades:
            self._trades.extend(trades)
            if fire_stops:
                px = trades[-1][1]
                self._ltp = px
                if self._stops.pending:
                    _stops.process_triggers(self)
                else:  # no stop pending: only the |Δp| history advances (trigger processing, §2.3)
                    prev = self._prev_px
                    if prev is not None:
                        self._absdiff.append(px - prev if px >= prev else prev - px)
                    self._prev_px = px
        return result

    def _rest(self, oid: int, s: int, price: int, rem: int) -> None:
        """Append a live order to the back of its level (creating the level)."""
        if s == BUY:
            self._bcache = None
        else:
            self._acache = None
        book = self._bids if s == BUY else self._asks
        lv = book.get(price)
        if lv is None:
            book[price] = [rem, 1, deque((oid,)), None]
            if s == BUY:
                insort(self._bpx, price)
            else:
                insort(self._apx, -price)
            self._refresh_bbo()
        else:
            lv[0] += rem
            lv[1] += 1
            lv[2].append(oid)

    def _refresh_bbo(self) -> None:
        b, a = self._bpx, self._apx
        self._bbo = (b[-1] if b else None, -a[-1] if a else None)

    def _fok_fillable(self, s: int, price: int, qty: int, owner: int | None, stp: int) -> bool:
        """Can an FOK fill completely? Honours STP so an FOK is never partly STP-cancelled (fixes B3)."""
        if s == BUY:
            prices, book = [-p for p in reversed(self._apx)], self._asks
        else:
            prices, book = list(reversed(self._bpx)), self._bids
        available = 0
        stp_on = owner is not None and stp != STP_OFF
        for p in prices:
            if (p > price) if s == BUY else (p < price):
                break
            if not stp_on:
                available += book[p][0]
            else:
                for roid in book[p][2]:
                    r = self._orders[roid]
                    if r[STATUS] == CANCELLED:
                        continue
                    if r[EXT] is not None and r[EXT][1] == owner:
                        if stp == STP_CANCEL_NEWEST or (stp != STP_CANCEL_OLDEST and qty - available < r[REM]):
                            return False
                        continue
                    available += r[REM]
                    if available >= qty:
                        return True
            if available >= qty:
                return True
        return available >= qty

    # ------------------------------------------------------------------ cancel / modify

    def cancel(self, order_id: int) -> CancelResult:
        """Cancel a resting order or a pending stop by id."""
        # A non-int (bool, float, str) or negative id is refused, as by the reference; it never reaches the log.
        if type(order_id) is not _INT or not 0 <= order_id <= U64_MAX:
            order_id = check_quantity(order_id, "order_id")
        self._events.append(order_id)
        r = self._orders.get(order_id)
        if r is None:
            return self._stops.cancel(order_id)
        if r[5] >= FILLED:
            return _NOT_ACTIVE
        rem = r[3]
        price = r[1]
        self._orders[order_id] = (r[0], price, r[2], rem, r[4], CANCELLED, r[6])
        if r[0] == BUY:
            self._bcache = None
            lv = self._bids[price]
            if lv[1] == 1:
                del self._bids[price]
                px = self._bpx
                del px[bisect_left(px, price)]
                if not px or price > px[-1]:
                    self._bbo = (px[-1] if px else None, self._bbo[1])
            else:
                lv[1] -= 1
                lv[0] -= rem
        else:
            self._acache = None
            lv = self._asks[price]
            if lv[1] == 1:
                del self._asks[price]
                px = self._apx
                del px[bisect_left(px, -price)]
                if not px or -price > px[-1]:
                    self._bbo = (self._bbo[0], -px[-1] if px else None)
            else:
                lv[1] -= 1
                lv[0] -= rem
        res = CANCEL_RESULTS.get(rem)
        if res is None:
            res = _new(CancelResult, (True, rem, None))
        return res

    def _take_off_book(self, oid: int, r: tuple[Any, ...]) -> int:
        """Cancel an active order without logging an event; returns the cancelled quantity."""
        rem: int = r[REM]
        price = r[PRICE]
        self._orders[oid] = (r[SIDE], price, r[ORIG], rem, r[TS], CANCELLED, r[EXT])
        self._bcache = self._acache = None
        book = self._bids if r[SIDE] == BUY else self._asks
        lv = book[price]
        lv[1] -= 1
        lv[0] -= rem
        if not lv[1]:
            del book[price]
            px, key = (self._bpx, price) if r[SIDE] == BUY else (self._apx, -price)
            del px[bisect_left(px, key)]
            self._refresh_bbo()
        return rem

    def modify(self, order_id: int, new_price: int, new_quantity: int) -> ModifyResult:
        """Cancel-and-replace: same side, TIF and owner; new id, back of the queue; may trade at once.

        Unlike the reference (B5), a trading modify updates the last trade price and fires stops, live
        exactly as on replay.
        """
        if type(order_id) is not _INT or not 0 <= order_id <= U64_MAX:
            order_id = check_quantity(order_id, "order_id")
        new_price = check_price(new_price, "new_price")
        new_quantity = check_quantity(new_quantity, "new_quantity")
        self._events.append([EV_MODIFY, order_id, new_price, new_quantity])
        if new_quantity == 0:
            return _new(ModifyResult, (False, order_id, None, 0, (), "InvalidQuantity"))
        r = self._orders.get(order_id)
        if r is None:
            return _new(ModifyResult, (False, order_id, None, 0, (), "OrderNotFound"))
        if r[STATUS] >= FILLED:
            return _new(ModifyResult, (False, order_id, None, 0, (), "OrderNotActive"))
        cancelled = self._take_off_book(order_id, r)
        res = self._match(r[SIDE], new_price, new_quantity, r[EXT], log=False)
        return _new(ModifyResult, (True, order_id, res[0], cancelled, res[2], None))

    def reduce(self, order_id: int, quantity: int) -> int:
        """Reduce a resting order by `quantity` in place, keeping its queue position; returns what is left.

        Not a trade: no Trade, last trade price unchanged, no stop fires. The order's original quantity shrinks
        with it, so its filled quantity is unchanged. Reducing by at least the remaining quantity takes the order
        off the book as CANCELLED and returns 0. LobValidationError, with nothing changed or logged, for
        quantity <= 0 ("InvalidQuantity"), an unknown id ("OrderNotFound") or an order no longer resting
        ("OrderNotActive").
        """
        if type(quantity) is not _INT:
            quantity = check_quantity(quantity)
        if type(order_id) is not _INT or not 0 <= order_id <= U64_MAX:
            order_id = check_quantity(order_id, "order_id")
        if quantity <= 0:
            raise LobValidationError("InvalidQuantity", "reduce quantity must be greater than zero")
        r = self._orders.get(order_id)
        if r is None:
            raise LobValidationError("OrderNotFound", f"order {order_id} is not on this book")
        if r[STATUS] >= FILLED:
            raise LobValidationError("OrderNotActive", f"order {order_id} is no longer resting")
        self._events.append([EV_REDUCE, order_id, quantity])
        rem: int = r[REM]
        if quantity >= rem:
            self._take_off_book(order_id, r)
            return 0
        self._orders[order_id] = (r[SIDE], r[PRICE], r[ORIG] - quantity, rem - quantity, r[TS], r[STATUS], r[EXT])
        if r[SIDE] == BUY:
            self._bcache = None
            self._bids[r[PRICE]][0] -= quantity
        else:
            self._acache = None
            self._asks[r[PRICE]][0] -= quantity
        return rem - quantity

    # ------------------------------------------------------------------ stops

    def submit_stop_market(self, side: str, stop_price: int, quantity: int) -> StopSubmitResult:
        """Stop that fires a market (IOC) order when the last trade price reaches `stop_price`."""
        s = parse_side(side)
        stop_price = check_price(stop_price, "stop_price")
        quantity = check_quantity(quantity)
        self._events.append([EV_STOP_MARKET, s, stop_price, quantity])
        return _stops.submit(self, s, stop_price, None, quantity, GTC, None)

    def submit_stop_limit(self, side: str, stop_price: int, limit_price: int, quantity: int,
                          tif: str = "gtc") -> StopSubmitResult:
        """Stop that places a limit order at `limit_price` when triggered."""
        s = parse_side(side)
        t = parse_tif(tif)
        stop_price = check_price(stop_price, "stop_price")
        limit_price = check_price(limit_price, "limit_price")
        quantity = check_quantity(quantity)
        self._events.append([EV_STOP_LIMIT, s, stop_price, limit_price, quantity, t])
        return _stops.submit(self, s, stop_price, limit_price, quantity, t, None)

    def submit_trailing_stop_market(self, side: str, initial_stop_price: int, quantity: int,
                                    trail_type: str, trail_value: float,
                                    atr_period: int | None = None) -> StopSubmitResult:
        """Trailing stop-market: "fixed" (ticks), "percentage" (fraction) or "sma_abs_change" (multiplier)."""
        s = parse_side(side)
        initial_stop_price = check_price(initial_stop_price, "initial_stop_price")
        quantity = check_quantity(quantity)
        method = _stops.parse_trail(trail_type, trail_value, atr_period)
        self._events.append([EV_TRAIL_MARKET, s, initial_stop_price, quantity, method])
        return _stops.submit(self, s, initial_stop_price, None, quantity, GTC, method)

    def submit_trailing_stop_limit(self, side: str, initial_stop_price: int, limit_price: int,
                                   quantity: int, trail_type: str, trail_value: float,
                                   tif: str = "gtc", atr_period: int | None = None) -> StopSubmitResult:
        """Trailing stop-limit; never triggers at submission, only on a later trade."""
        s = parse_side(side)
        t = parse_tif(tif)
        initial_stop_price = check_price(initial_stop_price, "initial_stop_price")
        limit_price = check_price(limit_price, "limit_price")
        quantity = check_quantity(quantity)
        method = _stops.parse_trail(trail_type, trail_value, atr_period)
        self._events.append([EV_TRAIL_LIMIT, s, initial_stop_price, limit_price, quantity, t, method])
        return _stops.submit(self, s, initial_stop_price, limit_price, quantity, t, method)

    def _fire_stop(self, side: int, limit: int | None, qty: int, tif: int) -> SubmitResult:
        """Place the order a triggered stop spawns (not logged, no owner; a stop-market fires as IOC)."""
        if limit is None:
            extreme = PRICE_MAX if side == BUY else PRICE_MIN
            return self._match(side, extreme, qty, (IOC, None, STP_OFF, True), log=False, fire_stops=False)
        ext = None if tif == GTC else (tif, None, STP_OFF, False)
        return self._match(side, limit, qty, ext, log=False, fire_stops=False)


# The pure-Python hot paths, kept as the reference (tests build a pure instance from them).
PY_METHODS: Final = {"submit_limit": Exchange.submit_limit, "_match": Exchange._match, "cancel": Exchange.cancel,
              "reduce": Exchange.reduce}


def _install_accel() -> bool:
    """Swap in the C hot paths when `engine.lob._accel` is built, unless NANOBOOK_PURE_PYTHON=1."""
    if os.environ.get("NANOBOOK_PURE_PYTHON") == "1":
        return False
    try:
        accel = importlib.import_module("engine.lob._accel")
        methods = accel.install(Exchange, {
            "SubmitResult": SubmitResult, "CancelResult": CancelResult, "CANCEL_RESULTS": CANCEL_RESULTS,
            "NOT_ACTIVE": _NOT_ACTIVE, "SIDE_CODES": SIDE_CODES, "SIDE_NAMES": SIDE_NAMES, "deque": deque,
            "stops": _stops, "StopBook": _stops.StopBook, "EV_REDUCE": EV_REDUCE, **PY_METHODS,
        })
    except (ImportError, TypeError, KeyError):  # not built, or built against a different layout: stay pure
        return False
    for name, method in methods.items():
        setattr(Exchange, name, method)
    return True


ACCELERATED: Final = _install_accel()

__all__ = ["ACCELERATED", "Exchange"]
