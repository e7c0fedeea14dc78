"""Bench workloads: deterministic per seed, shaped as documented, and predicted correctly by the model book."""

from __future__ import annotations

import pytest

from engine.bench import workloads as w
from engine.lob import Exchange

SMALL = {"submit_no_match": 400, "submit_match_1": 300, "cancel_deep": 250, "bbo": 50, "l2_top10": 50,
         "mixed": 3000, "mixed_safe": 3000}


def replay_on_exchange(wl: w.Workload) -> Exchange:
    ex = Exchange()
    for op in [*wl.setup, *wl.ops]:
        if op[0] == w.LIMIT:
            ex.submit_limit(("buy", "sell")[op[1]], op[2], op[3])
        elif op[0] == w.CANCEL:
            assert ex.cancel(op[1]).success
    return ex


@pytest.mark.parametrize("name", w.WORKLOAD_NAMES)
def test_same_seed_gives_the_same_ops(name: str) -> None:
    a = w.make(name, SMALL[name], seed=7)
    b = w.make(name, SMALL[name], seed=7)
    assert (a.setup, a.ops, a.expected) == (b.setup, b.ops, b.expected)
    assert len(a.ops) == SMALL[name]


@pytest.mark.parametrize("name", ["submit_no_match", "submit_match_1", "cancel_deep", "mixed", "mixed_safe"])
def test_a_different_seed_gives_different_ops(name: str) -> None:
    a = w.make(name, SMALL[name], seed=1)
    b = w.make(name, SMALL[name], seed=2)
    assert (a.setup, a.ops) != (b.setup, b.ops)


def test_unknown_workload_is_a_value_error() -> None:
    with pytest.raises(ValueError, match="unknown workload 'nope'"):
        w.make("nope", 10)


def test_sizes_quick_and_peer() -> None:
    assert w.size("submit_no_match") == 20_000
    assert w.size("mixed") == 50_000
    assert w.size("mixed", peer=True) == 12_500
    assert w.size("cancel_deep", quick=True) < w.size("cancel_deep")


def test_base_book_is_1000_orders_over_100_levels() -> None:
    wl = w.make("bbo", 10)
    bids, asks = wl.expected.book
    assert len(bids) == len(asks) == 50
    assert sum(lv[2] for lv in bids + asks) == 1000
    assert bids[0][0] < asks[0][0]


def test_no_match_never_trades_and_match_1_fills_exactly_one_order_per_buy() -> None:
    assert w.make("submit_no_match", 500).expected.trades == []
    wl = w.make("submit_match_1", 500)
    assert len(wl.setup) == 500
    assert len({op[2] for op in wl.setup}) == 50
    trades = wl.expected.trades
    assert len(trades) == 500
    assert all(q == 10 for _a, _p, _px, q in trades)
    assert [a for a, *_ in trades] == list(range(501, 1001))
    assert wl.expected.book == ([], [])


def test_cancel_deep_cancels_the_whole_queue_in_shuffled_order() -> None:
    wl = w.make("cancel_deep", 300)
    ids = [op[1] for op in wl.ops]
    assert sorted(ids) == list(range(1001, 1301))
    assert ids != sorted(ids)
    assert all(op[2] == w.DEEP_PRICE for op in wl.setup[1000:])
    assert wl.expected.book == w.make("bbo", 1).expected.book  # only the base book is left


def test_mixed_is_prefix_stable_and_roughly_60_30_10() -> None:
    long = w.make("mixed", 6000)
    assert w.make("mixed", 2000).ops == long.ops[:2000]
    cancels = sum(op[0] == w.CANCEL for op in long.ops)
    assert 0.25 < cancels / len(long.ops) < 0.35


def test_mixed_cancels_hit_live_orders_and_takes_fill_completely() -> None:
    wl = w.make("mixed", 4000)
    model = w.ModelBook()
    model.apply(wl.setup)
    takes = 0
    for op in wl.ops:
        if op[0] == w.CANCEL:
            assert model.cancel(op[1]), op
            continue
        before = len(model.trades)
        oid = model.submit(op[1], op[2], op[3])
        if len(model.trades) > before:
            takes += 1
            assert oid not in model.orders  # a marketable limit never rests
            assert sum(t[3] for t in model.trades[before:]) == op[3]
    assert 0.07 < takes / len(wl.ops) < 0.13


def test_mixed_safe_never_cancels_an_order_whose_level_traded_after_it_arrived() -> None:
    wl = w.make("mixed_safe", 4000)
    model = w.ModelBook()
    model.apply(wl.setup)
    born = dict.fromkeys(model.orders, -1)
    traded: dict[tuple[int, int], int] = {}
    for step, op in enumerate(wl.ops):
        if op[0] == w.CANCEL:
            side, price, _entry = model.orders[op[1]]
            assert traded.get((side, price), -2) < born[op[1]]
            model.cancel(op[1])
            continue
        oid = model.submit(op[1], op[2], op[3])
        for key in model.touched:
            traded[key] = step
        born[oid] = step


@pytest.mark.parametrize("name", w.WORKLOAD_NAMES)
def test_the_model_predicts_our_exchange(name: str) -> None:
    wl = w.make(name, SMALL[name])
    ex = replay_on_exchange(wl)
    snap = ex.full_book()
    assert ([tuple(lv) for lv in snap.bids], [tuple(lv) for lv in snap.asks]) == wl.expected.book
    trades = [(t.aggressor_order_id, t.passive_order_id, t.price, t.quantity) for t in ex.trades()]
    assert w.trades_digest(trades) == wl.expected.trades_digest
