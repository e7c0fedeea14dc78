"""Stop and trailing-stop orders: the pending-stop book, trail offsets and the bounded trigger cascade.

Semantics follow engine-spec §2 (trigger on last trade price, FIFO by submission timestamp, cascade capped at
100 rounds, trailing stops ratchet only tighter). It drives the exchange only through `Exchange._fire_stop`.
"""

from __future__ import annotations

import math
from bisect import bisect_left, insort
from typing import TYPE_CHECKING, Any

from engine.lob.results import CancelResult, StopSubmitResult
from engine.lob.types import BUY, SIDE_NAMES, TIF_NAMES

if TYPE_CHECKING:
    from engine.lob.exchange import Exchange

PENDING, TRIGGERED, STOP_CANCELLED = 0, 1, 2
_STATUS_VIEW = ("pending", "triggered", "cancelled")
_RESULT_STATUS = ("Pending", "Triggered", "Cancelled")
CASCADE_LIMIT = 100
# Stop record layout.
S_ID, S_SIDE, S_STOP, S_LIMIT, S_QTY, S_TIF, S_TS, S_STATUS, S_METHOD, S_WM = range(10)

_new = tuple.__new__
_NOT_FOUND = _new(CancelResult, (False, 0, "OrderNotFound"))


def rhaz(x: float) -> int:
    """Round half away from zero, exactly on the float value (Rust `f64::round`)."""
    if not math.isfinite(x):
        return 0
    whole = math.trunc(x)
    if abs(x - whole) >= 0.5:
        whole += 1 if x > 0 else -1
    return whole


def trunc_sat(x: float) -> int:
    """Float → int toward zero, saturating at the i64 range, NaN → 0 (Rust `as i64`)."""
    if math.isnan(x):
        return 0
    if x >= 2**63:
        return 2**63 - 1
    if x <= -(2**63):
        return -(2**63)
    return math.trunc(x)


def parse_trail(trail_type: str, trail_value: float, atr_period: int | None) -> tuple[Any, ...]:
    """Normalise a trail method: ("fixed", ticks) | ("percentage", p) | ("sma_abs_change", m, k)."""
    kind = trail_type.lower() if isinstance(trail_type, str) else trail_type
    if isinstance(trail_value, bool) or not isinstance(trail_value, int | float):
        raise TypeError("trail_value must be a number")
    if not math.isfinite(trail_value):
        raise ValueError(f"trail_value must be finite, got {trail_value}")
    if kind == "fixed":
        return ("fixed", trunc_sat(float(trail_value)))
    if kind in ("percentage", "pct"):
        return ("percentage", float(trail_value))
    if kind in ("sma_abs_change", "atr"):
        if atr_period is None:
            raise ValueError("atr_period is required when trail_type='sma_abs_change' (or the deprecated alias 'atr')")
        if type(atr_period) is not int or atr_period < 0:
            raise ValueError("atr_period must be a non-negative int")
        return ("sma_abs_change", float(trail_value), atr_period)
    raise ValueError(f"Invalid trail_type '{trail_type}'. Use 'fixed', 'percentage', or 'sma_abs_change'.")


class StopBook:
    """Pending stops indexed by trigger price, plus every stop ever submitted until history is cleared."""

    __slots__ = ("buy", "pending", "sell", "stops", "trailing")

    def __init__(self) -> None:
        self.stops: dict[int, list[Any]] = {}
        self.buy: list[tuple[int, int, int]] = []   # (stop_price, timestamp, id), pending buy stops
        self.sell: list[tuple[int, int, int]] = []  # pending sell stops
        self.trailing: list[list[Any]] = []         # pending trailing stops, submission order
        self.pending = 0

    def add(self, rec: list[Any]) -> None:
        self.stops[rec[S_ID]] = rec
        insort(self.buy if rec[S_SIDE] == BUY else self.sell, (rec[S_STOP], rec[S_TS], rec[S_ID]))
        if rec[S_METHOD] is not None:
            self.trailing.append(rec)
        self.pending += 1

    def _unindex(self, rec: list[Any]) -> None:
        index = self.buy if rec[S_SIDE] == BUY else self.sell
        key = (rec[S_STOP], rec[S_TS], rec[S_ID])
        del index[bisect_left(index, key)]

    def _retire(self, rec: list[Any], status: int) -> None:
        self._unindex(rec)
        rec[S_STATUS] = status
        self.pending -= 1
        if rec[S_METHOD] is not None:
            self.trailing.remove(rec)

    def cancel(self, stop_id: int) -> CancelResult:
        """Cancel a pending stop; anything else (unknown, triggered, cancelled) is OrderNotFound."""
        rec = self.stops.get(stop_id)
        if rec is None or rec[S_STATUS] != PENDING:
            return _NOT_FOUND
        self._retire(rec, STOP_CANCELLED)
        return _new(CancelResult, (True, rec[S_QTY], None))

    def collect(self, price: int) -> list[list[Any]]:
        """Mark and return the stops the price triggers (buy: stop ≤ P; sell: stop ≥ P), oldest first."""
        cut_buy = bisect_left(self.buy, (price + 1,))
        cut_sell = bisect_left(self.sell, (price,))
        keys = self.buy[:cut_buy] + self.sell[cut_sell:]
        if not keys:
            return []
        del self.buy[:cut_buy]
        del self.sell[cut_sell:]
        hit = [self.stops[k[2]] for k in sorted(keys, key=lambda k: k[1])]
        for rec in hit:
            rec[S_STATUS] = TRIGGERED
            if rec[S_METHOD] is not None:
                self.trailing.remove(rec)
        self.pending -= len(hit)
        return hit

    def move(self, rec: list[Any], new_stop: int) -> None:
        self._unindex(rec)
        rec[S_STOP] = new_stop
        insort(self.buy if rec[S_SIDE] == BUY else self.sell, (new_stop, rec[S_TS], rec[S_ID]))

    def view(self, stop_id: int) -> dict[str, Any] | None:
        rec = self.stops.get(stop_id)
        if rec is None:
            return None
        return {"id": rec[S_ID], "side": SIDE_NAMES[rec[S_SIDE]], "stop_price": rec[S_STOP],
                "limit_price": rec[S_LIMIT], "quantity": rec[S_QTY], "status": _STATUS_VIEW[rec[S_STATUS]],
                "timestamp": rec[S_TS]}

    def clear_history(self) -> None:
        for sid in [sid for sid, rec in self.stops.items() if rec[S_STATUS] != PENDING]:
            del self.stops[sid]


def _triggers(side: int, stop: int, price: int) -> bool:
    return price >= stop if side == BUY else price <= stop


def submit(ex: Exchange, side: int, stop: int, limit: int | None, qty: int, tif: int,
           method: tuple[Any, ...] | None) -> StopSubmitResult:
    """Register a stop (consuming an id and a timestamp); plain stops trigger at once if already through."""
    oid = ex._next_id
    ex._next_id = oid + 1
    ts = oid + ex._next_trade - 1  # the shared timestamp counter (see Exchange.__init__)
    rec: list[Any] = [oid, side, stop, limit, qty, tif, ts, PENDING, method, None]
    ex._stops.add(rec)
    if method is None and ex._ltp is not None and _triggers(side, stop, ex._ltp):
        process_triggers(ex)
    return _new(StopSubmitResult, (oid, _RESULT_STATUS[rec[S_STATUS]]))


def _offset(method: tuple[Any, ...], watermark: int, history: Any) -> int:
    if method[0] == "fixed":
        return method[1]  # type: ignore[no-any-return]
    if method[0] == "percentage":
        return rhaz(watermark * method[1])
    multiplier, period = method[1], method[2]
    if not history or period == 0:
        return 0
    window = list(history)[-period:]
    return trunc_sat(multiplier * (sum(window) / len(window)))


def update_trailing(ex: Exchange, price: int) -> None:
    """Advance the |Δp| history and ratchet every pending trailing stop toward `price`."""
    prev = ex._prev_px
    if prev is not None:
        ex._absdiff.append(abs(price - prev))
    ex._prev_px = price
    book = ex._stops
    for rec in list(book.trailing):
        sell = rec[S_SIDE] != BUY
        wm = rec[S_WM] if rec[S_WM] is not None else price
        wm = max(wm, price) if sell else min(wm, price)
        offset = _offset(rec[S_METHOD], wm, ex._absdiff)
        if offset > 0:
            candidate = wm - offset if sell else wm + offset
            if (candidate > rec[S_STOP]) if sell else (candidate < rec[S_STOP]):
                book.move(rec, candidate)
        rec[S_WM] = wm


def process_triggers(ex: Exchange) -> None:
    """The trigger cascade: fire stops crossed by the last trade price, at most 100 rounds."""
    for _ in range(CASCADE_LIMIT):
        price = ex._ltp
        if price is None:
            return
        update_trailing(ex, price)
        fired = ex._stops.collect(price)
        if not fired:
            return
        traded_at = None
        for rec in fired:
            res = ex._fire_stop(rec[S_SIDE], rec[S_LIMIT], rec[S_QTY], rec[S_TIF])
            if res[2]:
                traded_at = res[2][-1][1]
        if traded_at is None:
            return
        ex._ltp = traded_at


def apply_trailing_event(ex: Exchange, raw: tuple[Any, ...]) -> None:
    """Re-apply a logged trailing-stop submission."""
    method = raw[-1]
    period = method[2] if len(method) > 2 else None
    if len(raw) == 5:
        ex.submit_trailing_stop_market(SIDE_NAMES[raw[1]], raw[2], raw[3], method[0], method[1], period)
    else:
        ex.submit_trailing_stop_limit(SIDE_NAMES[raw[1]], raw[2], raw[3], raw[4], method[0], method[1],
                                      TIF_NAMES[raw[5]], period)


__all__ = ["StopBook", "apply_trailing_event", "parse_trail", "process_triggers", "rhaz", "submit"]
