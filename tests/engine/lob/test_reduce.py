"""Tests of Exchange.reduce: in-place reduction keeping priority, book bookkeeping, event log, replay, save/load."""

from __future__ import annotations

import json
import tempfile
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from engine.errors import EventLogError, LobValidationError
from engine.lob import Exchange
from engine.lob.events import EV_REDUCE, load_events, oracle_event_from_json
from tests.engine.lob.rows import book, state


def test_reduce_keeps_time_priority() -> None:
    ex = Exchange()
    first = ex.submit_limit("buy", 100, 10).order_id
    second = ex.submit_limit("buy", 100, 10).order_id
    assert ex.reduce(first, 7) == 3
    res = ex.submit_limit("sell", 100, 4)
    # The reduced order still comes first: it is filled (3), then the later one takes the rest (1).
    assert [(t.passive_order_id, t.quantity) for t in res.trades] == [(first, 3), (second, 1)]
    assert ex.get_order(first).status == "filled"
    assert ex.get_order(second).remaining_quantity == 9


def test_reduce_updates_levels_depth_and_order_view() -> None:
    ex = Exchange()
    a = ex.submit_limit("sell", 105, 10).order_id
    ex.submit_limit("sell", 105, 6)
    ex.submit_limit("sell", 107, 2)
    b = ex.submit_limit("buy", 99, 8).order_id
    assert book(ex) == ([(99, 8, 1)], [(105, 16, 2), (107, 2, 1)])
    ex.depth(5)  # populate the depth caches: reduce must reset them
    assert ex.reduce(a, 4) == 6
    assert ex.reduce(b, 5) == 3
    assert book(ex) == ([(99, 3, 1)], [(105, 12, 2), (107, 2, 1)])
    snap = ex.depth(1)
    assert [(lv.price, lv.quantity, lv.order_count) for lv in snap.asks] == [(105, 12, 2)]
    o = ex.get_order(a)
    assert (o.original_quantity, o.remaining_quantity, o.filled_quantity, o.status) == (6, 6, 0, "new")
    assert ex.trades() == [] and ex.last_trade_price() is None


def test_reduce_after_partial_fill_keeps_filled_quantity() -> None:
    ex = Exchange()
    a = ex.submit_limit("buy", 100, 10).order_id
    ex.submit_limit("sell", 100, 4)
    assert ex.reduce(a, 2) == 4
    o = ex.get_order(a)
    assert (o.original_quantity, o.remaining_quantity, o.filled_quantity, o.status) == (8, 4, 4, "partiallyfilled")


@pytest.mark.parametrize("amount", [5, 9])
def test_reduce_to_zero_leaves_the_book(amount: int) -> None:
    ex = Exchange()
    ex.submit_limit("buy", 98, 1)
    a = ex.submit_limit("buy", 100, 5).order_id
    ex.submit_limit("sell", 103, 1)
    assert ex.best_bid_ask() == (100, 103)
    assert ex.reduce(a, amount) == 0
    assert ex.best_bid_ask() == (98, 103)
    assert book(ex) == ([(98, 1, 1)], [(103, 1, 1)])
    assert ex.get_order(a).status == "cancelled"
    assert ex.get_order(a).filled_quantity == 0
    assert ex.active_order_count() == 2
    # A later aggressive order never meets the reduced-away order.
    res = ex.submit_limit("sell", 97, 2)
    assert [t.passive_order_id for t in res.trades] == [1]


def test_reduce_does_not_fire_stops_or_trade() -> None:
    ex = Exchange()
    a = ex.submit_limit("buy", 100, 5).order_id
    ex.submit_stop_market("sell", 101, 1)
    ex.reduce(a, 5)
    assert ex.pending_stop_count() == 1 and ex.trades() == []


def test_reduce_validation_changes_nothing() -> None:
    ex = Exchange()
    a = ex.submit_limit("buy", 100, 5).order_id
    ex.submit_limit("sell", 100, 5)  # fills a
    b = ex.submit_limit("buy", 99, 5).order_id
    c = ex.submit_limit("buy", 98, 5).order_id
    ex.cancel(c)
    before = (state(ex), len(ex.events()))
    for oid, qty, code in ((b, 0, "InvalidQuantity"), (b, -1, "InvalidQuantity"), (999, 1, "OrderNotFound"),
                           (a, 1, "OrderNotActive"), (c, 1, "OrderNotActive")):
        with pytest.raises(LobValidationError) as info:
            ex.reduce(oid, qty)
        assert info.value.code == code
    assert (state(ex), len(ex.events())) == before


def test_reduce_event_view_and_json(tmp_path: Path) -> None:
    ex = Exchange()
    a = ex.submit_limit("buy", 100, 5).order_id
    ex.reduce(a, 2)
    ev = ex.events()[-1]
    assert ev.kind == "reduce" and ev.raw == (EV_REDUCE, a, 2)
    assert ev.fields() == {"order_id": a, "quantity": 2}
    assert repr(ev) == f"Reduce {{ order_id: OrderId({a}), quantity: 2 }}"
    path = tmp_path / "log.jsonl"
    ex.save(str(path))
    assert json.loads(path.read_text().splitlines()[-1]) == {"Reduce": {"order_id": a, "quantity": 2}}
    assert load_events(str(path)) == ex.event_tuples()
    assert state(Exchange.load(str(path))) == state(ex)


def test_reduce_json_rejections(tmp_path: Path) -> None:
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"SubmitLimit":{"side":"Buy","price":1,"quantity":1,"time_in_force":"GTC"}}\n'
                   '{"Reduce":{"order_id":1,"quantity":0}}\n')
    with pytest.raises(EventLogError) as info:
        load_events(str(bad))
    assert info.value.line == 2
    with pytest.raises(ValueError, match="not part of the oracle dialect"):
        oracle_event_from_json({"type": "Reduce", "order_id": 1, "quantity": 1})


# ---------------------------------------------------------------------------- property: replay equality

OPS = st.lists(st.tuples(st.sampled_from(["limit", "limit", "market", "cancel", "modify", "reduce", "reduce"]),
                         st.sampled_from(["buy", "sell"]), st.integers(95, 105), st.integers(1, 30),
                         st.integers(1, 40)), max_size=60)


def _drive(ex: Exchange, ops: list[tuple[str, str, int, int, int]]) -> None:
    """Apply random traffic; a reduce of a non-resting order must be refused."""
    for kind, side, price, qty, target in ops:
        if kind == "limit":
            ex.submit_limit(side, price, qty)
        elif kind == "market":
            ex.submit_market(side, qty)
        elif kind == "cancel":
            ex.cancel(target)
        elif kind == "modify":
            ex.modify(target, price, qty)
        else:
            o = ex.get_order(target)
            if o is None or o.status not in ("new", "partiallyfilled"):
                with pytest.raises(LobValidationError):
                    ex.reduce(target, qty)
                continue
            left = ex.reduce(target, qty)
            assert left == max(0, o.remaining_quantity - qty)


def _live_queue(ex: Exchange, upto: int) -> list[tuple[str, int, int, int]]:
    """Live orders as (side, price, timestamp, remaining): the time-priority order within each level."""
    out: list[Any] = []
    for i in range(1, upto):
        o = ex.get_order(i)
        if o is not None and o.status in ("new", "partiallyfilled"):
            out.append((o.side, o.price, o.timestamp, o.remaining_quantity))
    return sorted(out)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(OPS)
def test_reduce_mixed_traffic_replays_exactly(ops: list[tuple[str, str, int, int, int]]) -> None:
    ex = Exchange()
    _drive(ex, ops)
    n = len(ops) + 2
    replayed = Exchange.replay(ex.events())
    assert state(replayed, n) == state(ex, n)
    assert _live_queue(replayed, n) == _live_queue(ex, n)
    with tempfile.TemporaryDirectory() as tmp:
        path = str(Path(tmp) / "log.jsonl")
        ex.save(path)
        assert state(Exchange.load(path), n) == state(ex, n)
    bid, ask = ex.best_bid_ask()
    assert bid is None or ask is None or bid < ask
    # Level totals are exactly the live orders' remaining quantities.
    bids, asks = book(ex)
    live = _live_queue(ex, n)
    for side, rows in (("buy", bids), ("sell", asks)):
        for price, total, count in rows:
            mine = [q for s, p, _, q in live if s == side and p == price]
            assert (total, count) == (sum(mine), len(mine))
    assert sum(c for _, _, c in bids + asks) == len(live) == ex.active_order_count()
