"""Single-symbol limit order book: price-time matching, STP, cancel/modify, queries, event log and replay.

Deterministic: ids and timestamps are logical counters, never the wall clock. Orders are addressed by id,
never by queue position (reference bug B1). Hot paths are inlined on purpose; see docs/benchmarks.md.
"""

from __future__ import annotations

from bisect import bisect_left, insort
from collections import deque
from collections.abc import Iterable
from typing import Any

from engine.errors import LobValidationError
from engine.lob import stops as _stops
from engine.lob.events import (
    EV_CANCEL,
    EV_LIMIT,
    EV_MARKET,
    EV_MODIFY,
    EV_STOP_LIMIT,
    EV_STOP_MARKET,
    EV_TRAIL_LIMIT,
    EV_TRAIL_MARKET,
    Event,
    load_events,
    save_events,
)
from engine.lob.results import (
    CancelResult,
    LevelSnapshot,
    ModifyResult,
    Order,
    StopSubmitResult,
    SubmitResult,
    Trade,
)
from engine.lob.snapshot import BookSnapshot
from engine.lob.types import (
    BUY,
    CANCELLED,
    FILLED,
    FOK,
    GTC,
    NEW,
    PARTIALLY_FILLED,
    PRICE_MAX,
    PRICE_MIN,
    SELL,
    SIDE_CODES,
    SIDE_NAMES,
    STATUS_ORDER,
    STP_CANCEL_NEWEST,
    STP_CANCEL_OLDEST,
    STP_CODES,
    STP_NAMES,
    STP_OFF,
    TIF_CODES,
    TIF_NAMES,
    U64_MAX,
    check_owner,
    check_price,
    check_quantity,
    parse_side,
    parse_stp,
    parse_tif,
)

# Order record layout (a plain list: ~3x cheaper to create than an object; public views are built lazily).
ID, SIDE, PRICE, ORIG, REM, FILLED_QTY, TS, TIF, STATUS, OWNER, STP = range(11)

_new = tuple.__new__
_NOT_FOUND = _new(CancelResult, (False, 0, "OrderNotFound"))
_NOT_ACTIVE = _new(CancelResult, (False, 0, "OrderNotActive"))
_INT = int


class Exchange:
    """A deterministic single-symbol exchange, signature-compatible with `nanobook.Exchange`.

    Prices are integer ticks (cents), quantities integer lots. Extras over the reference are keyword-only:
    `owner=` and `stp_policy=` on submits (self-trade prevention, logged so replay is faithful).
    """

    __slots__ = (
        "__weakref__",
        "_absdiff",
        "_apx",
        "_asks",
        "_bids",
        "_bpx",
        "_events",
        "_ltp",
        "_next_id",
        "_next_trade",
        "_next_ts",
        "_orders",
        "_prev_px",
        "_stops",
        "_trades",
    )

    def __init__(self) -> None:
        self._orders: dict[int, list[Any]] = {}
        self._bids: dict[int, list[Any]] = {}   # price -> [total_remaining, live_count, deque[record]]
        self._asks: dict[int, list[Any]] = {}
        self._bpx: list[int] = []               # bid prices ascending: best bid is the last element
        self._apx: list[int] = []               # NEGATED ask prices ascending: best ask is -last
        self._next_id = 1
        self._next_ts = 1
        self._next_trade = 1
        self._trades: list[Trade] = []
        self._events: list[tuple[Any, ...]] = []
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
        t = TIF_CODES.get(tif)
        if t is None:
            t = parse_tif(tif)
        p = STP_CODES.get(stp_policy) if stp_policy != "off" else STP_OFF
        if p is None:
            p = parse_stp(stp_policy)
        if price.__class__ is not _INT or not PRICE_MIN <= price <= PRICE_MAX:
            check_price(price)
        if quantity.__class__ is not _INT or not 0 <= quantity <= U64_MAX:
            check_quantity(quantity)
        if owner is not None:
            check_owner(owner)
        self._events.append((EV_LIMIT, s, price, quantity, t, owner, p))
        # Fast path: a GTC order that does not cross simply rests.
        if t == GTC and quantity and (
            (s == BUY and (not self._apx or -self._apx[-1] > price))
            or (s == SELL and (not self._bpx or self._bpx[-1] < price))
        ):
            oid = self._next_id
            self._next_id = oid + 1
            ts = self._next_ts
            self._next_ts = ts + 1
            rec = [oid, s, price, quantity, quantity, 0, ts, GTC, NEW, owner, p]
            self._orders[oid] = rec
            book = self._bids if s == BUY else self._asks
            lv = book.get(price)
            if lv is None:
                book[price] = [quantity, 1, deque((rec,))]
                if s == BUY:
                    insort(self._bpx, price)
                else:
                    insort(self._apx, -price)
            else:
                lv[0] += quantity
                lv[1] += 1
                lv[2].append(rec)
            return _new(SubmitResult, (oid, "New", [], 0, quantity, 0))
        return self._limit(s, price, quantity, t, owner, p)

    def submit_market(self, side: str, quantity: int, *, owner: int | None = None,
                      stp_policy: str = "off") -> SubmitResult:
        """Submit a market order: an IOC at the extreme sentinel price; never rests."""
        s = SIDE_CODES.get(side)
        if s is None:
            s = parse_side(side)
        p = parse_stp(stp_policy) if stp_policy != "off" else STP_OFF
        check_quantity(quantity)
        check_owner(owner)
        self._events.append((EV_MARKET, s, quantity, owner, p))
        return self._limit(s, PRICE_MAX if s == BUY else PRICE_MIN, quantity, 1, owner, p)

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

    def _limit(self, s: int, price: int, qty: int, tif: int, owner: int | None, stp: int,
               fire_stops: bool = True) -> SubmitResult:
        """Create, match and dispose of one order (no event logging). Runs stop triggers if it traded."""
        if tif == FOK and qty and not self._fok_fillable(s, price, qty, owner, stp):
            # Ghost id: consumes an id and a timestamp, stores nothing (reference contract).
            oid = self._next_id
            self._next_id = oid + 1
            self._next_ts += 1
            return _new(SubmitResult, (oid, "Cancelled", [], 0, 0, qty))
        oid = self._next_id
        self._next_id = oid + 1
        nts = self._next_ts + 1
        rec = [oid, s, price, qty, qty, 0, nts - 1, tif, NEW, owner, stp]
        self._orders[oid] = rec
        if s == BUY:
            opx = self._apx
            book = self._asks
            sign = -1
        else:
            opx = self._bpx
            book = self._bids
            sign = 1
        trades: list[Trade] = []
        rem = qty
        stp_hit = False
        if rem and opx:
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
                    r = q[0]
                    rr = r[4]
                    if not rr:  # cancelled earlier; dropped lazily
                        q.popleft()
                        continue
                    if stp_on and r[9] == owner:
                        if stp == STP_CANCEL_NEWEST or (stp != STP_CANCEL_OLDEST and rem < rr):
                            stp_hit = True
                            break
                        # CancelOldest, or DecrementAndCancel with the resting order not larger.
                        r[4] = 0
                        r[8] = CANCELLED
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
                        r[4] = 0
                        r[5] += rr
                        r[8] = FILLED
                        q.popleft()
                        lv[1] -= 1
                    else:
                        fill = rem
                        r[4] = rr - rem
                        r[5] += rem
                        r[8] = PARTIALLY_FILLED
                    lv[0] -= fill
                    append(_new(Trade, (ntid, best, fill, side_name, oid, r[0], nts)))
                    ntid += 1
                    nts += 1
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
        self._next_ts = nts
        filled = qty - rem
        rec[5] = filled
        if trades:
            self._trades.extend(trades)
        if stp_hit or (rem and tif != GTC):
            # Leftovers of IOC/FOK/market/STP never rest and are terminal (fixes reference bug B2).
            rec[4] = 0
            rec[8] = CANCELLED
            result = _new(SubmitResult, (oid, "PartiallyFilled" if filled else "Cancelled",
                                         trades, filled, 0, rem))
        elif not rem:
            rec[4] = 0
            rec[8] = FILLED
            result = _new(SubmitResult, (oid, "Filled", trades, filled, 0, 0))
        else:
            rec[4] = rem
            if filled:
                rec[8] = PARTIALLY_FILLED
            self._rest(rec, rem)
            result = _new(SubmitResult, (oid, "PartiallyFilled" if filled else "New", trades, filled, rem, 0))
        if trades and fire_stops:
            self._on_trade_price(trades[-1][1])
        return result

    def _rest(self, rec: list[Any], rem: int) -> None:
        price = rec[PRICE]
        book = self._bids if rec[SIDE] == BUY else self._asks
        lv = book.get(price)
        if lv is None:
            book[price] = [rem, 1, deque((rec,))]
            if rec[SIDE] == BUY:
                insort(self._bpx, price)
            else:
                insort(self._apx, -price)
        else:
            lv[0] += rem
            lv[1] += 1
            lv[2].append(rec)

    def _fok_fillable(self, s: int, price: int, qty: int, owner: int | None, stp: int) -> bool:
        """Can an FOK fill completely? Honours STP so an FOK is never partly STP-cancelled (fixes B3)."""
        if s == BUY:
            prices = [-p for p in reversed(self._apx)]
            book = self._asks
        else:
            prices = list(reversed(self._bpx))
            book = self._bids
        available = 0
        stp_on = owner is not None and stp != STP_OFF
        for p in prices:
            if (p > price) if s == BUY else (p < price):
                break
            if not stp_on:
                available += book[p][0]
            else:
                for r in book[p][2]:
                    rr = r[REM]
                    if not rr:
                        continue
                    if r[OWNER] == owner:
                        if stp == STP_CANCEL_NEWEST or (stp != STP_CANCEL_OLDEST and qty - available < rr):
                            return False
                        continue
                    available += rr
                    if available >= qty:
                        return True
            if available >= qty:
                return True
        return available >= qty

    # ------------------------------------------------------------------ cancel / modify

    def cancel(self, order_id: int) -> CancelResult:
        """Cancel a resting order or a pending stop by id."""
        self._events.append((EV_CANCEL, order_id))
        r = self._orders.get(order_id)
        if r is None:
            return self._stops.cancel(order_id)
        if r[8] >= FILLED:
            return _NOT_ACTIVE
        rem = r[4]
        r[4] = 0
        r[8] = CANCELLED
        price = r[2]
        book = self._bids if r[1] == BUY else self._asks
        lv = book[price]
        if lv[1] == 1:
            del book[price]
            if r[1] == BUY:
                px = self._bpx
                del px[bisect_left(px, price)]
            else:
                px = self._apx
                del px[bisect_left(px, -price)]
        else:
            lv[1] -= 1
            lv[0] -= rem
        return _new(CancelResult, (True, rem, None))

    def _take_off_book(self, r: list[Any]) -> int:
        """Cancel an active record without logging an event; returns the cancelled quantity."""
        rem = r[REM]
        r[REM] = 0
        r[STATUS] = CANCELLED
        price = r[PRICE]
        book = self._bids if r[SIDE] == BUY else self._asks
        lv = book[price]
        lv[1] -= 1
        lv[0] -= rem
        if not lv[1]:
            del book[price]
            px, key = (self._bpx, price) if r[SIDE] == BUY else (self._apx, -price)
            del px[bisect_left(px, key)]
        return rem  # type: ignore[no-any-return]

    def modify(self, order_id: int, new_price: int, new_quantity: int) -> ModifyResult:
        """Cancel-and-replace: same side, TIF and owner; new id, back of the queue; may trade at once.

        Unlike the reference (B5), a trading modify updates the last trade price and fires stops, live
        exactly as on replay.
        """
        check_price(new_price, "new_price")
        check_quantity(new_quantity, "new_quantity")
        self._events.append((EV_MODIFY, order_id, new_price, new_quantity))
        if new_quantity == 0:
            return _new(ModifyResult, (False, order_id, None, 0, [], "InvalidQuantity"))
        r = self._orders.get(order_id)
        if r is None:
            return _new(ModifyResult, (False, order_id, None, 0, [], "OrderNotFound"))
        if r[STATUS] >= FILLED:
            return _new(ModifyResult, (False, order_id, None, 0, [], "OrderNotActive"))
        cancelled = self._take_off_book(r)
        res = self._limit(r[SIDE], new_price, new_quantity, r[TIF], r[OWNER], r[STP])
        return _new(ModifyResult, (True, order_id, res[0], cancelled, res[2], None))

    # ------------------------------------------------------------------ stops

    def submit_stop_market(self, side: str, stop_price: int, quantity: int) -> StopSubmitResult:
        """Stop that fires a market (IOC) order when the last trade price reaches `stop_price`."""
        s = parse_side(side)
        check_price(stop_price, "stop_price")
        check_quantity(quantity)
        self._events.append((EV_STOP_MARKET, s, stop_price, quantity))
        return _stops.submit(self, s, stop_price, None, quantity, GTC, None)

    def submit_stop_limit(self, side: str, stop_price: int, limit_price: int, quantity: int,
                          tif: str = "gtc") -> StopSubmitResult:
        """Stop that places a limit order at `limit_price` when triggered."""
        s = parse_side(side)
        t = parse_tif(tif)
        check_price(stop_price, "stop_price")
        check_price(limit_price, "limit_price")
        check_quantity(quantity)
        self._events.append((EV_STOP_LIMIT, s, stop_price, limit_price, quantity, t))
        return _stops.submit(self, s, stop_price, limit_price, quantity, t, None)

    def submit_trailing_stop_market(self, side: str, initial_stop_price: int, quantity: int,
                                    trail_type: str, trail_value: float,
                                    atr_period: int | None = None) -> StopSubmitResult:
        """Trailing stop-market: "fixed" (ticks), "percentage" (fraction) or "sma_abs_change" (multiplier)."""
        s = parse_side(side)
        check_price(initial_stop_price, "initial_stop_price")
        check_quantity(quantity)
        method = _stops.parse_trail(trail_type, trail_value, atr_period)
        self._events.append((EV_TRAIL_MARKET, s, initial_stop_price, quantity, method))
        return _stops.submit(self, s, initial_stop_price, None, quantity, GTC, method)

    def submit_trailing_stop_limit(self, side: str, initial_stop_price: int, limit_price: int,
                                   quantity: int, trail_type: str, trail_value: float,
                                   tif: str = "gtc", atr_period: int | None = None) -> StopSubmitResult:
        """Trailing stop-limit; never triggers at submission, only on a later trade."""
        s = parse_side(side)
        t = parse_tif(tif)
        check_price(initial_stop_price, "initial_stop_price")
        check_price(limit_price, "limit_price")
        check_quantity(quantity)
        method = _stops.parse_trail(trail_type, trail_value, atr_period)
        self._events.append((EV_TRAIL_LIMIT, s, initial_stop_price, limit_price, quantity, t, method))
        return _stops.submit(self, s, initial_stop_price, limit_price, quantity, t, method)

    def _on_trade_price(self, price: int) -> None:
        """Record the last trade price and run trigger processing (history only when no stop is pending)."""
        self._ltp = price
        if self._stops.pending:
            _stops.process_triggers(self)
            return
        prev = self._prev_px
        if prev is not None:
            self._absdiff.append(price - prev if price >= prev else prev - price)
        self._prev_px = price

    # ------------------------------------------------------------------ queries

    def best_bid(self) -> int | None:
        """Highest bid price, or None."""
        b = self._bpx
        return b[-1] if b else None

    def best_ask(self) -> int | None:
        """Lowest ask price, or None."""
        a = self._apx
        return -a[-1] if a else None

    def best_bid_ask(self) -> tuple[int | None, int | None]:
        """(best bid, best ask); None for an empty side."""
        b = self._bpx
        a = self._apx
        return (b[-1] if b else None, -a[-1] if a else None)

    def spread(self) -> int | None:
        """best ask - best bid in ticks, when both sides exist."""
        b = self._bpx
        a = self._apx
        return -a[-1] - b[-1] if a and b else None

    def depth(self, levels: int = 10) -> BookSnapshot:
        """Immutable snapshot of the top `levels` price levels per side, best first."""
        bk = self._bids
        ak = self._asks
        bids = [_new(LevelSnapshot, (p, (lv := bk[p])[0], lv[1])) for p in self._bpx[:-levels - 1:-1]]
        asks = [_new(LevelSnapshot, (-n, (lv := ak[-n])[0], lv[1])) for n in self._apx[:-levels - 1:-1]]
        return BookSnapshot(bids, asks)

    def full_book(self) -> BookSnapshot:
        """Snapshot of every level on both sides."""
        return self.depth(max(len(self._bpx), len(self._apx)))

    def l2(self, levels: int = 10) -> tuple[list[tuple[int, int, int]], list[tuple[int, int, int]]]:
        """Raw top-of-book levels as plain (price, quantity, order_count) tuples (no snapshot object)."""
        bk = self._bids
        ak = self._asks
        return ([(p, (lv := bk[p])[0], lv[1]) for p in self._bpx[:-levels - 1:-1]],
                [(-n, (lv := ak[-n])[0], lv[1]) for n in self._apx[:-levels - 1:-1]])

    def get_order(self, order_id: int) -> Order | None:
        """Read-only view of an order (None for unknown, FOK ghost or cleared ids)."""
        r = self._orders.get(order_id)
        if r is None:
            return None
        return _new(Order, (r[ID], SIDE_NAMES[r[SIDE]], r[PRICE], r[ORIG], r[REM], r[FILLED_QTY],
                            STATUS_ORDER[r[STATUS]], TIF_NAMES[r[TIF]], r[TS], r[OWNER]))

    def get_stop_order(self, order_id: int) -> dict[str, Any] | None:
        """Stop order as a dict (id, side, stop_price, limit_price, quantity, status, timestamp)."""
        return self._stops.view(order_id)

    def trades(self) -> list[Trade]:
        """Trade history since the last `clear_trades`, chronological."""
        return list(self._trades)

    def last_trade_price(self) -> int | None:
        """Price of the last trade that drove trigger processing."""
        return self._ltp

    def pending_stop_count(self) -> int:
        """Number of pending (untriggered, uncancelled) stops."""
        return self._stops.pending

    def active_order_count(self) -> int:
        """Number of orders resting on the book."""
        return sum(lv[1] for lv in self._bids.values()) + sum(lv[1] for lv in self._asks.values())  # type: ignore[no-any-return]

    def events(self) -> list[Event]:
        """The input event log, oldest first."""
        return [Event(e) for e in self._events]

    # ------------------------------------------------------------------ memory management

    def clear_trades(self) -> None:
        """Forget the trade history (last trade price is kept)."""
        self._trades.clear()

    def clear_order_history(self) -> int:
        """Drop terminal orders and non-pending stops; returns how many regular orders were removed."""
        dead = [oid for oid, r in self._orders.items() if r[STATUS] >= FILLED]
        for oid in dead:
            del self._orders[oid]
        self._stops.clear_history()
        return len(dead)

    def compact(self) -> None:
        """Physically drop cancelled records from level queues (no observable change)."""
        for book in (self._bids, self._asks):
            for lv in book.values():
                lv[2] = deque(r for r in lv[2] if r[REM])

    def clear_events(self) -> None:
        """Empty the event log; the book state is kept."""
        self._events.clear()

    # ------------------------------------------------------------------ event log and replay

    def apply(self, event: Event | tuple[Any, ...]) -> list[Trade]:
        """Apply one logged event (recording it) and return the trades of that event only."""
        e = event.raw if isinstance(event, Event) else event
        before = len(self._trades)
        kind = e[0]
        if kind == EV_LIMIT:
            self.submit_limit(SIDE_NAMES[e[1]], e[2], e[3], TIF_NAMES[e[4]], owner=e[5],
                              stp_policy=STP_NAMES[e[6]])
        elif kind == EV_MARKET:
            self.submit_market(SIDE_NAMES[e[1]], e[2], owner=e[3], stp_policy=STP_NAMES[e[4]])
        elif kind == EV_CANCEL:
            self.cancel(e[1])
        elif kind == EV_MODIFY:
            self.modify(e[1], e[2], e[3])
        elif kind == EV_STOP_MARKET:
            self.submit_stop_market(SIDE_NAMES[e[1]], e[2], e[3])
        elif kind == EV_STOP_LIMIT:
            self.submit_stop_limit(SIDE_NAMES[e[1]], e[2], e[3], e[4], TIF_NAMES[e[5]])
        elif kind in (EV_TRAIL_MARKET, EV_TRAIL_LIMIT):
            _stops.apply_trailing_event(self, e)
        else:
            raise ValueError(f"unknown event kind {kind!r}")
        return self._trades[before:]

    def apply_all(self, events: Iterable[Event | tuple[Any, ...]]) -> list[Trade]:
        """Apply events in order; returns all their trades."""
        before = len(self._trades)
        for e in events:
            self.apply(e)
        return self._trades[before:]

    @staticmethod
    def replay(events: Iterable[Event | tuple[Any, ...]]) -> Exchange:
        """A fresh exchange with `events` applied: same state, same ids, same trades."""
        ex = Exchange()
        ex.apply_all(events)
        return ex

    def save(self, path: str) -> None:
        """Write the event log as JSON lines (the seed's dialect plus owner/stp_policy when set)."""
        save_events(self._events, path)

    @staticmethod
    def load(path: str) -> Exchange:
        """Rebuild an exchange from a JSON-lines event log; EventLogError names the bad line."""
        return Exchange.replay(load_events(path))

    def __repr__(self) -> str:
        bid, ask = self.best_bid_ask()
        return f"Exchange(bid={bid}, ask={ask}, orders={len(self._orders)}, trades={len(self._trades)})"
