"""Attribute-based plain-tuple views of engine.lob results, so tests depend on the public API, not on storage."""

from __future__ import annotations

from typing import Any


def trade_row(t: Any) -> tuple:
    return (t.trade_id, t.price, t.quantity, t.aggressor_side, t.aggressor_order_id, t.passive_order_id,
            t.timestamp)


def trade_rows(trades: Any) -> list[tuple]:
    return [trade_row(t) for t in trades]


def submit_row(r: Any) -> tuple:
    return (r.order_id, r.status, trade_rows(r.trades), r.filled_quantity, r.resting_quantity,
            r.cancelled_quantity)


def cancel_row(r: Any) -> tuple:
    return (r.success, r.cancelled_quantity, r.error)


def modify_row(r: Any) -> tuple:
    return (r.success, r.old_order_id, r.new_order_id, r.cancelled_quantity, trade_rows(r.trades), r.error)


def order_row(o: Any) -> tuple | None:
    if o is None:
        return None
    return (o.id, o.side, o.price, o.original_quantity, o.remaining_quantity, o.filled_quantity, o.status,
            o.time_in_force, o.timestamp, o.owner)


def level_rows(levels: Any) -> list[tuple[int, int, int]]:
    return [(lv.price, lv.quantity, lv.order_count) for lv in levels]


def book(ex: Any) -> tuple[list[tuple[int, int, int]], list[tuple[int, int, int]]]:
    snap = ex.full_book()
    return level_rows(snap.bids), level_rows(snap.asks)


def result_row(r: Any) -> Any:
    """Any Exchange call's return value as plain data (results by type; lists and scalars as they are)."""
    name = type(r).__name__
    if name == "SubmitResult":
        return ("submit", *submit_row(r))
    if name == "CancelResult":
        return ("cancel", *cancel_row(r))
    if name == "ModifyResult":
        return ("modify", *modify_row(r))
    if name == "StopSubmitResult":
        return ("stop", r.order_id, r.status)
    return r


def state(ex: Any, upto: int = 30) -> tuple:
    """Everything observable about an exchange (orders and stops probed by id up to `upto`)."""
    bids, asks = book(ex)
    return (ex.best_bid_ask(), bids, asks, trade_rows(ex.trades()), ex.pending_stop_count(), ex.last_trade_price(),
            ex.active_order_count(), [order_row(ex.get_order(i)) for i in range(1, upto + 1)],
            [ex.get_stop_order(i) for i in range(1, upto + 1)])
