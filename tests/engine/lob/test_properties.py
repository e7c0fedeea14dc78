"""Hypothesis property tests of engine.lob: a stateful machine checking book invariants after every operation."""

from __future__ import annotations

import itertools
import tempfile
from collections import defaultdict
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from engine.lob import Exchange
from tests.engine.lob.rows import book, cancel_row, level_rows, result_row, state, trade_rows

SIDES = st.sampled_from(["buy", "sell"])
PRICES = st.integers(95, 105)
QTYS = st.integers(0, 40)
TIFS = st.sampled_from(["gtc", "gtc", "ioc", "fok"])
OWNERS = st.sampled_from([None, None, 1, 2])
STPS = st.sampled_from(["off", "cancel_newest", "cancel_oldest", "decrement_and_cancel"])
LIVE = ("new", "partiallyfilled")


def full_state(ex: Exchange, upto: int) -> tuple:
    return state(ex, upto + 8)


class LobMachine(RuleBasedStateMachine):
    """Random limit/market/cancel/modify/stop traffic; invariants hold after every step."""

    def __init__(self) -> None:
        super().__init__()
        self.ex = Exchange()
        self.calls: list[tuple[str, tuple, dict]] = []
        self.outputs: list[Any] = []
        self.next_id = 1
        self.stop_ids: list[int] = []
        self.triggered = 0

    # ------------------------------------------------------------------ plumbing

    def _call(self, name: str, *args: Any, **kwargs: Any) -> Any:
        self.calls.append((name, args, kwargs))
        out = getattr(self.ex, name)(*args, **kwargs)
        self.outputs.append(result_row(out))
        return out

    def _spawned(self) -> int:
        """How many stops triggered since the last call (each spawned exactly one order id)."""
        now = sum(1 for i in self.stop_ids if self.ex.get_stop_order(i)["status"] == "triggered")
        k, self.triggered = now - self.triggered, now
        return k

    def _own_id(self, oid: int) -> None:
        assert oid == self.next_id, "order ids must be consumed strictly in sequence (FOK ghosts included)"
        self.next_id = oid + 1 + self._spawned()

    def _live_by_level(self, side: str, price: int) -> list[Any]:
        out = []
        for i in range(1, self.next_id):
            o = self.ex.get_order(i)
            if o is not None and o.status in LIVE and o.side == side and o.price == price:
                out.append(o)
        return sorted(out, key=lambda o: o.timestamp)

    def _check_submit(self, r: Any, side: str, price: int | None, qty: int, tif: str,
                      before: dict[int, list[Any]]) -> None:
        assert r.filled_quantity + r.resting_quantity + r.cancelled_quantity == qty
        assert r.filled_quantity == sum(t.quantity for t in r.trades)
        assert all(t.quantity > 0 for t in r.trades)
        for t in r.trades:
            assert (t.aggressor_order_id, t.aggressor_side) == (r.order_id, side)
            if price is not None:
                assert t.price <= price if side == "buy" else t.price >= price  # within the limit
        prices = [t.price for t in r.trades]
        assert prices == sorted(prices, reverse=side == "sell")  # best level first
        if tif in ("ioc", "market"):
            assert r.resting_quantity == 0
        if tif == "fok":
            assert (r.status, r.filled_quantity) == ("Filled", qty) or (
                r.status, r.filled_quantity, r.trades, r.cancelled_quantity) == ("Cancelled", 0, [], qty)
            if r.status == "Cancelled" and qty:
                assert self.ex.get_order(r.order_id) is None  # ghost
        o = self.ex.get_order(r.order_id)
        if o is not None:
            assert o.filled_quantity >= r.filled_quantity  # stops may fill a resting remainder afterwards
            if r.resting_quantity == 0:
                assert o.remaining_quantity == 0
                assert o.status in ("filled", "cancelled")
        # FIFO: at every price the passive orders are a prefix (by timestamp) of the live queue before the
        # call, skipping only orders STP-cancelled by this call; all but the last of them are now filled.
        by_price: dict[int, list[int]] = defaultdict(list)
        for t in r.trades:
            by_price[t.price].append(t.passive_order_id)
        for p, passive in by_price.items():
            queue = before.get(p, [])
            kept = [o for o in queue
                    if o.id in passive or self.ex.get_order(o.id).status != "cancelled"]
            assert passive == [o.id for o in kept[:len(passive)]]
            for pid in passive[:-1]:
                assert self.ex.get_order(pid).status == "filled"

    def _before(self, side: str) -> dict[int, list[Any]]:
        opposite = "sell" if side == "buy" else "buy"
        snap = self.ex.full_book()
        levels = snap.asks if opposite == "sell" else snap.bids
        return {lv.price: self._live_by_level(opposite, lv.price) for lv in levels}

    # ------------------------------------------------------------------ rules

    @rule(side=SIDES, price=PRICES, qty=QTYS, tif=TIFS, owner=OWNERS, stp=STPS)
    def limit(self, side: str, price: int, qty: int, tif: str, owner: int | None, stp: str) -> None:
        before = self._before(side)
        r = self._call("submit_limit", side, price, qty, tif, owner=owner, stp_policy=stp)
        self._own_id(r.order_id)
        self._check_submit(r, side, price, qty, tif, before)

    @rule(side=SIDES, depth=st.integers(-1, 3), qty=st.integers(1, 60), tif=TIFS, owner=OWNERS, stp=STPS)
    def crossing_limit(self, side: str, depth: int, qty: int, tif: str, owner: int | None, stp: str) -> None:
        """A limit priced `depth` ticks through the opposite best (so it usually trades)."""
        bid, ask = self.ex.best_bid_ask()
        if (ask if side == "buy" else bid) is None:  # flip to the side that can trade, if any
            side = "sell" if side == "buy" else "buy"
        best = ask if side == "buy" else bid
        price = 100 if best is None else (best + depth if side == "buy" else best - depth)
        self.limit(side, price, qty, tif, owner, stp)

    @rule(gap=st.integers(0, 4), bid_qty=st.integers(1, 40), ask_qty=st.integers(1, 40), owner=OWNERS)
    def quote(self, gap: int, bid_qty: int, ask_qty: int, owner: int | None) -> None:
        """Post liquidity on both sides around the last trade (or 100)."""
        mid = self.ex.last_trade_price() or 100
        for side, price, qty in (("buy", mid - 1 - gap, bid_qty), ("sell", mid + 1 + gap, ask_qty)):
            self.limit(side, price, qty, "gtc", owner, "off")

    @rule(side=SIDES, qty=QTYS, owner=OWNERS, stp=STPS)
    def market(self, side: str, qty: int, owner: int | None, stp: str) -> None:
        before = self._before(side)
        r = self._call("submit_market", side, qty, owner=owner, stp_policy=stp)
        self._own_id(r.order_id)
        self._check_submit(r, side, None, qty, "market", before)

    def _live_ids(self) -> list[int]:
        return [i for i in range(1, self.next_id)
                if (o := self.ex.get_order(i)) is not None and o.status in LIVE]

    @rule(pick=st.integers(0, 10**6))
    def cancel_live(self, pick: int) -> None:
        live = self._live_ids()
        self.cancel(live[pick % len(live)] if live else pick % 50)

    @rule(pick=st.integers(0, 10**6), price=PRICES, qty=st.integers(1, 40))
    def modify_live(self, pick: int, price: int, qty: int) -> None:
        live = self._live_ids()
        self.modify(live[pick % len(live)] if live else pick % 50, price, qty)

    @rule(oid=st.integers(0, 45))
    def cancel(self, oid: int) -> None:
        o = self.ex.get_order(oid)
        s = self.ex.get_stop_order(oid)
        r = self._call("cancel", oid)
        if o is not None and o.status in LIVE:
            assert cancel_row(r) == (True, o.remaining_quantity, None)
            assert self.ex.get_order(oid).status == "cancelled"
        elif o is not None:
            assert cancel_row(r) == (False, 0, "OrderNotActive")
        elif s is not None and s["status"] == "pending":
            assert cancel_row(r) == (True, s["quantity"], None)
        else:
            assert cancel_row(r) == (False, 0, "OrderNotFound")

    @rule(oid=st.integers(0, 45), price=PRICES, qty=QTYS)
    def modify(self, oid: int, price: int, qty: int) -> None:
        o = self.ex.get_order(oid)
        before = self._before(o.side) if o is not None else {}
        r = self._call("modify", oid, price, qty)
        if qty == 0:
            assert r.error == "InvalidQuantity"
        elif o is None:
            assert r.error == "OrderNotFound"
        elif o.status not in LIVE:
            assert r.error == "OrderNotActive"
        else:
            assert (r.success, r.cancelled_quantity, r.error) == (True, o.remaining_quantity, None)
            self._own_id(r.new_order_id)
            new = self.ex.get_order(r.new_order_id)
            assert (new.side, new.price, new.original_quantity, new.owner) == (o.side, price, qty, o.owner)
            assert all(t.aggressor_order_id == r.new_order_id for t in r.trades)
            for t in r.trades:
                assert t.price <= price if o.side == "buy" else t.price >= price
            if r.trades:
                assert {t.passive_order_id for t in r.trades} <= {x.id for q in before.values() for x in q}
            return
        assert (r.success, r.new_order_id) == (False, None)

    @rule(side=SIDES, stop=PRICES, offset=st.integers(-3, 3), qty=st.integers(1, 30),
          kind=st.sampled_from(["market", "limit"]), tif=TIFS)
    def stop(self, side: str, stop: int, offset: int, qty: int, kind: str, tif: str) -> None:
        if kind == "market":
            r = self._call("submit_stop_market", side, stop, qty)
        else:
            r = self._call("submit_stop_limit", side, stop, stop + offset, qty, tif)
        self.stop_ids.append(r.order_id)
        self._own_id(r.order_id)
        assert r.status == ("Triggered" if self.ex.get_stop_order(r.order_id)["status"] == "triggered"
                            else "Pending")

    @rule(side=SIDES, stop=PRICES, qty=st.integers(1, 30),
          method=st.sampled_from([("fixed", 2.0, None), ("percentage", 0.02, None),
                                  ("sma_abs_change", 1.5, 3)]),
          limit=st.none() | PRICES)
    def trailing(self, side: str, stop: int, qty: int, method: tuple, limit: int | None) -> None:
        pending = self.ex.pending_stop_count()
        if limit is None:
            r = self._call("submit_trailing_stop_market", side, stop, qty, method[0], method[1], method[2])
        else:
            r = self._call("submit_trailing_stop_limit", side, stop, limit, qty, method[0], method[1], "gtc",
                           method[2])
        assert r.status == "Pending"  # trailing stops never trigger at submission
        assert self.ex.pending_stop_count() == pending + 1
        self.stop_ids.append(r.order_id)
        self._own_id(r.order_id)

    @rule()
    def compact(self) -> None:
        before = full_state(self.ex, self.next_id)
        self.ex.compact()
        assert full_state(self.ex, self.next_id) == before

    @precondition(lambda self: len(self.calls) >= 5)
    @rule()
    def round_trips(self) -> None:
        self._check_round_trips()

    # ------------------------------------------------------------------ invariants

    @invariant()
    def book_is_consistent(self) -> None:
        ex = self.ex
        bid, ask = ex.best_bid_ask()
        if bid is not None and ask is not None:
            assert bid < ask, "crossed book at rest"
        snap = ex.full_book()
        bids = level_rows(snap.bids)
        asks = level_rows(snap.asks)
        assert [p for p, _, _ in bids] == sorted({p for p, _, _ in bids}, reverse=True)
        assert [p for p, _, _ in asks] == sorted({p for p, _, _ in asks})
        assert (bids[0][0] if bids else None, asks[0][0] if asks else None) == (bid, ask)
        # Level totals and counts are exactly the live orders' remaining quantities.
        live: dict[tuple[str, int], list[int]] = defaultdict(list)
        filled_total = 0
        for i in range(1, self.next_id):
            o = ex.get_order(i)
            if o is None:
                continue
            assert o.id == i
            assert o.filled_quantity <= o.original_quantity
            filled_total += o.filled_quantity
            if o.status == "new":
                assert (o.filled_quantity, o.remaining_quantity) == (0, o.original_quantity)
            elif o.status == "partiallyfilled":
                assert 0 < o.filled_quantity < o.original_quantity
                assert o.remaining_quantity + o.filled_quantity == o.original_quantity
            elif o.status == "filled":
                assert (o.remaining_quantity, o.filled_quantity) == (0, o.original_quantity)
            else:
                assert o.status == "cancelled"
                assert o.remaining_quantity == 0
                assert o.filled_quantity < o.original_quantity
            if o.status in LIVE:
                assert o.time_in_force == "gtc", "only GTC orders rest"
                live[(o.side, o.price)].append(o.remaining_quantity)
        assert bids == [(p, sum(live[("buy", p)]), len(live[("buy", p)])) for p, _, _ in bids]
        assert asks == [(p, sum(live[("sell", p)]), len(live[("sell", p)])) for p, _, _ in asks]
        assert len(bids) + len(asks) == len(live)
        assert ex.active_order_count() == sum(len(v) for v in live.values())
        trades = ex.trades()
        assert filled_total == 2 * sum(t.quantity for t in trades)  # every trade fills two orders
        assert [t.trade_id for t in trades] == list(range(1, len(trades) + 1))
        stamps = [t.timestamp for t in trades]
        assert all(a < b for a, b in itertools.pairwise(stamps))
        for t in trades[-5:]:
            assert ex.get_order(t.aggressor_order_id).timestamp < t.timestamp
            assert ex.get_order(t.passive_order_id).timestamp < t.timestamp
        pending = [i for i in self.stop_ids if ex.get_stop_order(i)["status"] == "pending"]
        assert ex.pending_stop_count() == len(pending)

    # ------------------------------------------------------------------ round trips

    def _check_round_trips(self) -> None:
        ex = self.ex
        expected = full_state(ex, self.next_id)
        assert full_state(Exchange.replay(ex.events()), self.next_id) == expected
        # Determinism: the same public calls on a fresh exchange give identical outputs and state.
        again = Exchange()
        outputs = []
        for name, args, kwargs in self.calls:
            out = getattr(again, name)(*args, **kwargs)
            outputs.append(result_row(out))
        assert outputs == self.outputs
        assert full_state(again, self.next_id) == expected
        with tempfile.TemporaryDirectory() as tmp:
            path = str(Path(tmp) / "events.jsonl")
            ex.save(path)
            loaded = Exchange.load(path)
        assert full_state(loaded, self.next_id) == expected
        assert loaded.events() == ex.events()

    def teardown(self) -> None:
        self._check_round_trips()


LobMachine.TestCase.settings = settings(max_examples=150, stateful_step_count=50, deadline=None,
                                        suppress_health_check=[HealthCheck.too_slow])
TestLobMachine = LobMachine.TestCase


# ---------------------------------------------------------------------------- plain @given properties

OP = st.one_of(
    st.tuples(st.just("limit"), SIDES, PRICES, st.integers(1, 40), TIFS),
    st.tuples(st.just("market"), SIDES, st.integers(1, 40)),
    st.tuples(st.just("cancel"), st.integers(1, 30)),
)


def _run_ops(ops: list[tuple]) -> Exchange:
    ex = Exchange()
    for op in ops:
        if op[0] == "limit":
            ex.submit_limit(*op[1:])
        elif op[0] == "market":
            ex.submit_market(*op[1:])
        else:
            ex.cancel(op[1])
    return ex


@settings(max_examples=150, deadline=None)
@given(st.lists(OP, max_size=60))
def test_same_ops_twice_give_identical_trades(ops: list[tuple]) -> None:
    a, b = _run_ops(ops), _run_ops(ops)
    assert trade_rows(a.trades()) == trade_rows(b.trades())
    assert book(a) == book(b)


@settings(max_examples=150, deadline=None)
@given(st.lists(OP, max_size=60))
def test_ioc_never_rests_and_total_volume_is_conserved(ops: list[tuple]) -> None:
    ex = Exchange()
    submitted = 0
    cancelled = 0
    for op in ops:
        if op[0] == "cancel":
            cancelled += ex.cancel(op[1]).cancelled_quantity
            continue
        r = ex.submit_limit(*op[1:]) if op[0] == "limit" else ex.submit_market(*op[1:])
        submitted += r.filled_quantity + r.resting_quantity + r.cancelled_quantity
        cancelled += r.cancelled_quantity
        if op[0] == "market" or op[-1] != "gtc":
            assert r.resting_quantity == 0
    snap = ex.full_book()
    resting = sum(lv.quantity for lv in snap.bids) + sum(lv.quantity for lv in snap.asks)
    traded = 2 * sum(t.quantity for t in ex.trades())
    assert submitted == resting + traded + cancelled


HOUSEKEEPING_OP = st.one_of(
    st.tuples(st.just("limit"), SIDES, st.integers(99, 101), st.integers(1, 20), TIFS),
    st.tuples(st.just("market"), SIDES, st.integers(1, 30)),
    st.tuples(st.just("cancel"), st.integers(1, 12)),
    st.tuples(st.just("clear_order_history")), st.tuples(st.just("compact")), st.tuples(st.just("clear_trades")))


@settings(max_examples=150, deadline=None)
@given(st.lists(HOUSEKEEPING_OP, max_size=60))
def test_housekeeping_never_changes_matching(ops: list[tuple]) -> None:
    """clear_order_history / compact / clear_trades at any point leave every later result and the book as is."""
    plain, kept = Exchange(), Exchange()
    for op in ops:
        if op[0] in ("clear_order_history", "compact", "clear_trades"):
            getattr(kept, op[0])()
            continue
        if op[0] == "limit":
            a, b = plain.submit_limit(*op[1:]), kept.submit_limit(*op[1:])
        elif op[0] == "market":
            a, b = plain.submit_market(*op[1:]), kept.submit_market(*op[1:])
        else:
            a, b = plain.cancel(op[1]), kept.cancel(op[1])
            if a.error == "OrderNotActive" and b.error == "OrderNotFound":
                continue  # the only allowed difference: the terminal order's record was cleared
        assert result_row(a) == result_row(b), op
        assert book(plain) == book(kept)
        assert plain.best_bid_ask() == kept.best_bid_ask()
