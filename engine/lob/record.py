"""The internal order-record layout and its conversions (to public `Order` views and to event tuples).

A record is an immutable tuple (side, price, original, remaining, timestamp, status, ext) stored by id and
replaced on every change: tuples of plain values are not tracked by CPython's cyclic GC, lists are, and GC
traversal dominated the cost of a book that keeps every order. `ext` is None for a plain GTC order, else
(tif, owner, stp, is_market). Filled quantity is always original - remaining.
"""

from __future__ import annotations

from typing import Any, Final

from engine.lob.events import EV_CANCEL, EV_LIMIT, EV_MARKET
from engine.lob.results import CancelResult, Order
from engine.lob.types import (
    CANCELLED,
    GTC,
    SIDE_NAMES,
    STATUS_ORDER,
    STP_CODES,
    STP_OFF,
    TIF_CODES,
    TIF_NAMES,
    check_owner,
    parse_stp,
    parse_tif,
)

SIDE, PRICE, ORIG, REM, TS, STATUS, EXT = range(7)

_new = tuple.__new__
# Cancel results are immutable values; small quantities are shared rather than rebuilt on every cancel.
CANCEL_RESULTS: Final[dict[int, CancelResult]] = {q: _new(CancelResult, (True, q, None)) for q in range(1025)}


def make_ext(tif: str, owner: int | None, stp_policy: str, market: bool = False) -> tuple[Any, ...] | None:
    """Validate and pack the rarely-set order attributes; None means plain GTC, no owner, STP off."""
    t = TIF_CODES.get(tif)
    if t is None:
        t = parse_tif(tif)
    p = STP_CODES.get(stp_policy) if isinstance(stp_policy, str) else None
    if p is None:
        p = parse_stp(stp_policy)
    check_owner(owner)
    if t == GTC and owner is None and p == STP_OFF and not market:
        return None
    return (t, owner, p, market)


def order_view(oid: int, r: tuple[Any, ...]) -> Order:
    """Public read-only view; a cancelled order reports remaining 0 and keeps its filled quantity."""
    ext = r[EXT]
    status = r[STATUS]
    return _new(Order, (
        oid, SIDE_NAMES[r[SIDE]], r[PRICE], r[ORIG], 0 if status == CANCELLED else r[REM], r[ORIG] - r[REM],
        STATUS_ORDER[status], TIF_NAMES[GTC if ext is None else ext[0]], r[TS], None if ext is None else ext[1],
    ))


def event_tuple(entry: Any) -> tuple[Any, ...]:
    """Normalise one event-log entry: a record tuple is its submit event, an int a cancel, a list the rest."""
    kind = type(entry)
    if kind is int:
        return (EV_CANCEL, entry)
    if kind is list:
        return tuple(entry)
    ext = entry[EXT]
    if ext is None:
        return (EV_LIMIT, entry[SIDE], entry[PRICE], entry[ORIG], GTC, None, STP_OFF)
    if ext[3]:
        return (EV_MARKET, entry[SIDE], entry[ORIG], ext[1], ext[2])
    return (EV_LIMIT, entry[SIDE], entry[PRICE], entry[ORIG], ext[0], ext[1], ext[2])
