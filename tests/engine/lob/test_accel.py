"""The optional C accelerator (engine/lob/_accel.c) against the pure-Python reference methods, op for op.

An accelerated `Exchange` and a pure instance (the Python methods kept in `exchange.PY_METHODS`) run the same
streams; results, exceptions, every internal structure, depth and replay must be identical. Also: the build
hook, the NANOBOOK_PURE_PYTHON switch, the B1 sequence, and reference/memory leaks.
"""

from __future__ import annotations

import gc
import os
import random
import shutil
import subprocess
import sys
import tracemalloc
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from engine.lob import exchange as exchange_module
from engine.lob.events import EV_REDUCE
from engine.lob.exchange import ACCELERATED, PY_METHODS, Exchange
from engine.lob.types import PRICE_MAX, PRICE_MIN, U64_MAX

REPO = Path(__file__).resolve().parents[3]
BUILT = sorted((REPO / "engine" / "lob").glob("_accel*.so"))
needs_accel = pytest.mark.skipif(not ACCELERATED, reason="engine.lob._accel is not built or is disabled")


class PureExchange(Exchange):
    """An exchange that always runs the pure-Python hot paths (the reference implementation)."""

    __slots__ = ()
    submit_limit = PY_METHODS["submit_limit"]  # type: ignore[assignment]
    _match = PY_METHODS["_match"]  # type: ignore[assignment]
    cancel = PY_METHODS["cancel"]  # type: ignore[assignment]
    reduce = PY_METHODS["reduce"]  # type: ignore[assignment]


# ---------------------------------------------------------------------------- observing both books


def state(ex: Exchange) -> dict[str, Any]:
    """Every piece of book state, including the depth-cache resets and the lazily purged level queues."""
    stops = ex._stops
    return {
        "orders": dict(ex._orders),
        "bids": {p: (lv[0], lv[1], list(lv[2]), lv[3]) for p, lv in ex._bids.items()},
        "asks": {p: (lv[0], lv[1], list(lv[2]), lv[3]) for p, lv in ex._asks.items()},
        "bpx": list(ex._bpx),
        "apx": list(ex._apx),
        "bbo": ex._bbo,
        "caches": (ex._bcache is None, ex._acache is None),
        "counters": (ex._next_id, ex._next_trade),
        "trades": list(ex._trades),
        "events": list(ex._events),
        "prices": (ex._ltp, ex._prev_px, list(ex._absdiff)),
        "stops": ({k: list(v) for k, v in stops.stops.items()}, list(stops.buy), list(stops.sell),
                  [r[0] for r in stops.trailing], stops.pending),
    }


def outcome(ex: Exchange, op: tuple[Any, ...]) -> tuple[Any, ...]:
    """Apply one op; the result as (type, values) or the exception as (type, message)."""
    name, args, kwargs = op
    try:
        res = getattr(ex, name)(*args, **kwargs)
    except Exception as exc:  # the exact exception is part of the contract
        return ("raised", type(exc), str(exc))
    return ("ok", type(res), tuple(res) if isinstance(res, tuple) else res)


def run_both(ops: list[tuple[Any, ...]], full_every: int = 1) -> tuple[Exchange, Exchange]:
    fast, pure = Exchange(), PureExchange()
    for i, op in enumerate(ops):
        a, b = outcome(fast, op), outcome(pure, op)
        assert a == b, (i, op)
        if i % full_every == 0 or i == len(ops) - 1:
            assert state(fast) == state(pure), (i, op)
        assert fast.full_book() == pure.full_book(), (i, op)
        assert fast.depth(3) == pure.depth(3), (i, op)
    return fast, pure


def check_final(fast: Exchange, pure: Exchange) -> None:
    assert fast.trades() == pure.trades()
    assert fast.events() == pure.events()
    assert fast.event_tuples() == pure.event_tuples()
    ids = range(1, fast._next_id + 1)
    assert [fast.get_order(i) for i in ids] == [pure.get_order(i) for i in ids]
    assert [fast.get_stop_order(i) for i in ids] == [pure.get_stop_order(i) for i in ids]
    for ex in (fast, pure):
        replayed = Exchange.replay(ex.event_tuples())
        assert replayed.full_book() == ex.full_book()
        assert replayed.trades() == ex.trades()
        assert [replayed.get_order(i) for i in ids] == [ex.get_order(i) for i in ids]
        assert replayed.best_bid_ask() == ex.best_bid_ask()


# ---------------------------------------------------------------------------- op generation

SIDES = ["buy", "sell", "buy", "sell", "BUY", "s", "Sell", "bogus"]
TIFS = ["gtc", "gtc", "ioc", "fok", "GTC", "Ioc", "nope"]
STPS = ["off", "cancel_newest", "cancel_oldest", "decrement_and_cancel", "CancelOldest"]
QTYS = [0, 1, 2, 5, 10, 10, 25, 50, 100]


def random_op(rng: random.Random, next_id: int) -> tuple[Any, ...]:
    roll = rng.random()
    side = rng.choice(SIDES) if rng.random() < 0.05 else rng.choice(["buy", "sell"])
    price = rng.randint(95, 105)
    qty = rng.choice(QTYS)
    target = rng.randint(1, next_id + 2) if rng.random() < 0.9 else rng.choice([0, -1, 10**30])
    if roll < 0.30:
        return ("submit_limit", (side, price, qty), {})
    if roll < 0.42:
        kwargs: dict[str, Any] = {}
        if rng.random() < 0.5:
            kwargs["owner"] = rng.choice([None, 1, 2])
        if rng.random() < 0.5:
            kwargs["stp_policy"] = rng.choice(STPS)
        if rng.random() < 0.3:
            kwargs["tif"] = rng.choice(TIFS)
            return ("submit_limit", (side, price, qty), kwargs)
        return ("submit_limit", (side, price, qty, rng.choice(TIFS)), kwargs)
    if roll < 0.48:
        kwargs = {"owner": rng.choice([None, 1, 2]), "stp_policy": rng.choice(STPS)} if rng.random() < 0.5 else {}
        return ("submit_market", (side, qty), kwargs)
    if roll < 0.62:
        return ("cancel", (target,), {})
    if roll < 0.70:
        return reduce_op(rng, target)
    if roll < 0.78:
        return ("modify", (target, price, qty), {})
    if roll < 0.86:
        return stop_op(rng, side, price, qty)
    if roll < 0.90:
        return ("try_submit_limit", (side, rng.choice([0, price]), qty), {})
    return edge_op(rng, side, price, qty)


def reduce_op(rng: random.Random, target: int) -> tuple[Any, ...]:
    """Mostly plain in-place reductions; sometimes a value the C path must hand back to Python (which raises)."""
    if rng.random() < 0.85:
        return ("reduce", (target, rng.choice([1, 1, 2, 3, 5, 10, 25, 60, 200])), {})
    odd = rng.choice([0, -1, U64_MAX, U64_MAX + 1, 2**70, True, 2.0, np.int64(3), "3", None])
    if rng.random() < 0.2:
        return ("reduce", (rng.choice([[1], None, "x"]), 1), {})
    if rng.random() < 0.1:
        return ("reduce", (target,), {"quantity": 1})
    return ("reduce", (target, odd), {})


def stop_op(rng: random.Random, side: str, price: int, qty: int) -> tuple[Any, ...]:
    kind = rng.randrange(4)
    limit = price + rng.randint(-3, 3)
    tif = rng.choice(["gtc", "gtc", "ioc", "fok"])
    trail = rng.choice([("fixed", float(rng.randint(0, 4)), None), ("percentage", 0.02, None),
                        ("sma_abs_change", 1.0, rng.randint(0, 5))])
    if kind == 0:
        return ("submit_stop_market", (side, price, qty), {})
    if kind == 1:
        return ("submit_stop_limit", (side, price, limit, qty, tif), {})
    if kind == 2:
        return ("submit_trailing_stop_market", (side, price, qty, trail[0], trail[1], trail[2]), {})
    return ("submit_trailing_stop_limit", (side, price, limit, qty, trail[0], trail[1], tif, trail[2]), {})


def edge_op(rng: random.Random, side: str, price: int, qty: int) -> tuple[Any, ...]:
    """Values at the edges of the integer ranges and argument types the fast path must hand back to Python."""
    choice = rng.randrange(9)
    if choice == 0:
        return ("submit_limit", (side, rng.choice([PRICE_MIN, PRICE_MAX, PRICE_MAX - 1, PRICE_MIN + 1]), qty), {})
    if choice == 1:
        return ("submit_limit", (side, price, rng.choice([U64_MAX, U64_MAX - 1, 2**63, 2**62])), {})
    if choice == 2:
        return ("submit_limit", (side, np.int64(price), np.int32(qty)), {})
    if choice == 3:
        return ("submit_limit", (side, rng.choice([True, 1.5, "100", None, PRICE_MAX + 1]), qty), {})
    if choice == 4:
        return ("submit_limit", (side, price, rng.choice([-1, U64_MAX + 1, 2.0])), {})
    if choice == 5:
        return ("submit_market", (side, rng.choice([U64_MAX, 2**64 - 2, 3])), {})
    if choice == 6:
        return ("submit_limit", (side, price), {"quantity": qty})
    if choice == 7:
        return ("submit_limit", (side, price, qty, "gtc", "extra"), {})
    return ("submit_limit", ([side], price, qty), {})


def random_stream(seed: int, n: int) -> list[tuple[Any, ...]]:
    rng = random.Random(seed)
    ops, next_id = [], 1
    for _ in range(n):
        ops.append(random_op(rng, next_id))
        next_id += 1
    return ops


def reduce_stream(seed: int, n: int) -> tuple[list[tuple[Any, ...]], list[int]]:
    """Random traffic where about a third of the ops reduce an order resting at that point; also what those left."""
    rng = random.Random(seed)
    probe = PureExchange()
    ops: list[tuple[Any, ...]] = []
    lefts: list[int] = []
    for _ in range(n):
        live = [oid for oid, r in probe._orders.items() if r[5] <= 1]  # status new or partially filled
        if live and rng.random() < 0.35:
            op: tuple[Any, ...] = ("reduce", (rng.choice(live), rng.choice([1, 1, 2, 3, 5, 10, 25, 60])), {})
        else:
            op = random_op(rng, probe._next_id)
        res = outcome(probe, op)
        if op[0] == "reduce" and res[0] == "ok":
            lefts.append(res[2])
        ops.append(op)
    return ops, lefts


# ---------------------------------------------------------------------------- wiring


def test_built_module_is_used_unless_disabled() -> None:
    if os.environ.get("NANOBOOK_PURE_PYTHON") == "1" or not BUILT:
        assert not ACCELERATED
        assert Exchange.submit_limit is PY_METHODS["submit_limit"]
        return
    assert ACCELERATED
    for name in ("submit_limit", "_match", "cancel", "reduce"):
        assert type(Exchange.__dict__[name]).__name__ == "method_descriptor", name
        assert Exchange.__dict__[name] is not PY_METHODS[name]


def test_environment_switch_forces_pure_python() -> None:
    code = ("from engine.lob import exchange as e; "
            "print(e.ACCELERATED, e.Exchange.submit_limit is e.PY_METHODS['submit_limit'])")
    env = {**os.environ, "NANOBOOK_PURE_PYTHON": "1"}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, cwd=REPO,
                         timeout=60, check=True).stdout.split()
    assert out == ["False", "True"]


def test_pure_instance_really_runs_python() -> None:
    assert PureExchange.submit_limit is PY_METHODS["submit_limit"]
    ex = PureExchange()
    ex.submit_limit("sell", 100, 5)
    assert ex.submit_limit("buy", 100, 2)[3] == 2


# ---------------------------------------------------------------------------- differential


@needs_accel
@pytest.mark.parametrize("seed", range(6))
def test_seeded_streams_identical(seed: int) -> None:
    fast, pure = run_both(random_stream(seed, 1500), full_every=25)
    check_final(fast, pure)


@needs_accel
@pytest.mark.parametrize("seed", range(4))
def test_reduce_streams_identical(seed: int) -> None:
    ops, lefts = reduce_stream(seed, 1200)
    fast, pure = run_both(ops, full_every=20)
    check_final(fast, pure)
    assert len([e for e in fast.event_tuples() if e[0] == EV_REDUCE]) == len(lefts) > 200
    assert 0 in lefts and max(lefts) > 0  # some reductions take the order off the book, others keep it


@needs_accel
@pytest.mark.slow
@pytest.mark.parametrize("seed", range(100, 103))
def test_long_streams_identical(seed: int) -> None:
    ops = random_stream(seed, 8000)
    fast, pure = run_both(ops, full_every=400)
    check_final(fast, pure)
    # Housekeeping between and after the hot paths keeps both identical too.
    for ex in (fast, pure):
        ex.compact()
        ex.clear_order_history()
        ex.clear_trades()
    assert state(fast) == state(pure)
    tail = random_stream(seed + 1000, 1000)
    for op in tail:
        assert outcome(fast, op) == outcome(pure, op)
    assert state(fast) == state(pure)


@st.composite
def op_lists(draw: st.DrawFn) -> list[tuple[Any, ...]]:
    seed = draw(st.integers(0, 2**32 - 1))
    n = draw(st.integers(1, 80))
    return random_stream(seed, n)


OP = st.one_of(
    st.tuples(st.just("submit_limit"), st.tuples(st.sampled_from(["buy", "sell"]), st.integers(97, 103),
                                                 st.integers(0, 30)), st.just({})),
    st.tuples(st.just("submit_limit"),
              st.tuples(st.sampled_from(["buy", "sell"]), st.integers(97, 103), st.integers(0, 30),
                        st.sampled_from(["gtc", "ioc", "fok"])),
              st.fixed_dictionaries({}, optional={"owner": st.sampled_from([None, 1, 2]),
                                                  "stp_policy": st.sampled_from(STPS)})),
    st.tuples(st.just("submit_market"), st.tuples(st.sampled_from(["buy", "sell"]), st.integers(0, 40)),
              st.just({})),
    st.tuples(st.just("cancel"), st.tuples(st.integers(0, 40)), st.just({})),
    st.tuples(st.just("modify"), st.tuples(st.integers(0, 40), st.integers(97, 103), st.integers(0, 30)),
              st.just({})),
    st.tuples(st.just("reduce"), st.tuples(st.integers(0, 40), st.integers(-1, 35)), st.just({})),
    st.tuples(st.just("submit_stop_market"), st.tuples(st.sampled_from(["buy", "sell"]), st.integers(97, 103),
                                                       st.integers(1, 30)), st.just({})),
    st.tuples(st.just("submit_stop_limit"),
              st.tuples(st.sampled_from(["buy", "sell"]), st.integers(97, 103), st.integers(97, 103),
                        st.integers(1, 30), st.sampled_from(["gtc", "ioc", "fok"])), st.just({})),
    st.tuples(st.just("submit_trailing_stop_market"),
              st.tuples(st.sampled_from(["buy", "sell"]), st.integers(97, 103), st.integers(1, 30),
                        st.just("fixed"), st.sampled_from([0.0, 1.0, 2.0]), st.none()), st.just({})),
)


@needs_accel
@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(OP, max_size=60))
def test_hypothesis_streams_identical(ops: list[tuple[Any, ...]]) -> None:
    fast, pure = run_both(ops)
    check_final(fast, pure)


@needs_accel
@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(op_lists())
def test_hypothesis_seeded_generator_identical(ops: list[tuple[Any, ...]]) -> None:
    fast, pure = run_both(ops)
    check_final(fast, pure)


@needs_accel
def test_i128_edges_identical() -> None:
    # Asks at PRICE_MIN put 2**63 into the negated ask list; quantities at U64_MAX push level totals past 2**64.
    ops: list[tuple[Any, ...]] = [
        ("submit_limit", ("sell", PRICE_MIN, U64_MAX), {}),
        ("submit_limit", ("sell", PRICE_MIN, U64_MAX), {}),
        ("submit_limit", ("buy", PRICE_MAX, U64_MAX), {}),
        ("submit_limit", ("sell", PRICE_MIN + 1, 7), {}),
        ("submit_limit", ("buy", PRICE_MIN, 2), {}),
        ("submit_market", ("buy", U64_MAX), {}),
        ("submit_limit", ("buy", PRICE_MAX, U64_MAX), {}),
        ("submit_limit", ("buy", PRICE_MAX, U64_MAX), {}),
        ("cancel", (8,), {}),
        ("submit_market", ("sell", 5), {}),
        ("cancel", (7,), {}),
        ("submit_limit", ("sell", PRICE_MAX, 1), {}),
        ("cancel", (12,), {}),
    ]
    fast, pure = run_both(ops)
    check_final(fast, pure)


@needs_accel
def test_results_are_the_same_classes_and_shared_values() -> None:
    fast, pure = Exchange(), PureExchange()
    for ex in (fast, pure):
        ex.submit_limit("buy", 100, 3)
        ex.submit_limit("buy", 100, 2000)
    a, b = fast.cancel(1), pure.cancel(1)
    assert a is b  # small cancelled quantities share one CancelResult
    assert fast.cancel(1) is pure.cancel(1)  # the shared OrderNotActive result
    big_a, big_b = fast.cancel(2), pure.cancel(2)
    assert type(big_a) is type(big_b) and big_a == big_b and big_a.cancelled_quantity == 2000
    for args in (("sell", 90, 1), ("buy", 95, 1), ("buy", 90, 0), ("sell", 90, 1, "ioc")):
        r, rp = fast.submit_limit(*args), pure.submit_limit(*args)
        assert type(r) is type(rp) and r == rp and type(r[2]) is type(rp[2]), args  # () when resting at once


@needs_accel
def test_odd_cancel_ids_identical() -> None:
    # A bool, float, list, None, negative or too-large id is refused the same way on both paths, before
    # anything is logged, so the event logs stay replayable.
    odd: list[Any] = [True, 2.0, [1], None, -1, 2**64]
    ops: list[tuple[Any, ...]] = [("submit_limit", ("buy", 100, 5), {}), ("submit_limit", ("sell", 101, 5), {}),
                                  *[("cancel", (v,), {}) for v in odd], ("cancel", (1,), {})]
    check_final(*run_both(ops))
    ops = [("submit_limit", ("buy", 100, 5), {}), ("submit_limit", ("sell", 101, 5), {}),
           *[("reduce", (v, 1), {}) for v in odd], ("reduce", (1, 1.0), {}), ("reduce", (2, 9), {}),
           ("reduce", (1, 9), {})]
    fast, pure = run_both(ops)
    check_final(fast, pure)
    assert fast.best_bid_ask() == (None, None)


# ---------------------------------------------------------------------------- reference bug B1


@needs_accel
@pytest.mark.timeout(20)
def test_b1_sequence_does_not_hang_and_matches_python() -> None:
    ops: list[tuple[Any, ...]] = [
        ("submit_limit", ("sell", 10001, 73), {}), ("submit_limit", ("sell", 10001, 93), {}),
        ("submit_limit", ("buy", 10001, 35), {}), ("submit_limit", ("buy", 10001, 50), {}),
        ("cancel", (2,), {}), ("submit_limit", ("buy", 10001, 10), {}),
    ]
    fast, pure = run_both(ops)
    check_final(fast, pure)
    assert fast.get_order(2).status == "cancelled"
    assert fast.get_order(5).status == "new"
    assert fast.full_book().asks == [] and fast.best_bid_ask() == (10001, None)


# ---------------------------------------------------------------------------- leaks


def churn(ex: Exchange, rng: random.Random, n: int) -> None:
    live: list[int] = []
    for _ in range(n):
        r = rng.random()
        side = "buy" if rng.random() < 0.5 else "sell"
        if r < 0.45:
            res = ex.submit_limit(side, rng.randint(90, 110), rng.randint(1, 50))
            live.append(res[0])
        elif r < 0.68 and live:
            ex.cancel(live.pop(rng.randrange(len(live))))
        elif r < 0.75 and live:
            oid = live[rng.randrange(len(live))]
            if ex._orders[oid][3] and ex._orders[oid][5] <= 1:  # resting: reduce it (maybe away)
                ex.reduce(oid, rng.randint(1, 30))
        elif r < 0.85:
            ex.submit_limit(side, rng.randint(90, 110), rng.randint(1, 50), "ioc")
        elif r < 0.9:
            ex.submit_market(side, rng.randint(1, 80))
        elif r < 0.95:
            ex.submit_limit(side, rng.randint(90, 110), 2**64 - 1 - rng.randint(0, 5))
        else:
            ex.cancel(rng.randint(1, 10**6))


@needs_accel
@pytest.mark.slow
def test_no_reference_or_memory_leak() -> None:
    watched: list[Any] = [None, True, False, 0, 1, 2, 3, "buy", "sell", "New", "Filled", "PartiallyFilled",
                          "Cancelled", exchange_module.SubmitResult, exchange_module.CancelResult,
                          exchange_module.deque, exchange_module._NOT_ACTIVE, exchange_module.CANCEL_RESULTS[1]]
    rng = random.Random(7)
    churn(Exchange(), rng, 20_000)  # warm-up: interned values, allocator pools
    gc.collect()
    tracemalloc.start()
    try:
        before_refs = [sys.getrefcount(o) for o in watched]
        base = tracemalloc.get_traced_memory()[0]
        for _ in range(6):
            ex = Exchange()
            churn(ex, rng, 50_000)
            ex.submit_stop_market("buy", 200, 1)  # a pending stop: trades now go through the Python cascade
            churn(ex, rng, 2_000)
            del ex
        gc.collect()
        grown = tracemalloc.get_traced_memory()[0] - base
        after_refs = [sys.getrefcount(o) for o in watched]
    finally:
        tracemalloc.stop()
    # 300 000 ops: a leak of one object per op would be megabytes and hundreds of thousands of references.
    assert grown < 200_000, grown
    drift = {repr(o): b - a for o, a, b in zip(watched, before_refs, after_refs, strict=True) if abs(b - a) > 50}
    assert not drift, drift


# ---------------------------------------------------------------------------- build hook


def load_hook() -> Any:
    sys.path.insert(0, str(REPO))
    try:
        import hatch_build
    finally:
        sys.path.remove(str(REPO))
    return hatch_build


@pytest.mark.slow
def test_hook_builds_an_importable_module(tmp_path: Path) -> None:
    hook = load_hook()
    src = tmp_path / "engine" / "lob"
    src.mkdir(parents=True)
    shutil.copy(REPO / "engine" / "lob" / "_accel.c", src / "_accel.c")
    built = hook.build_accel(tmp_path)
    if shutil.which("gcc") is None and shutil.which("cc") is None:
        assert built is None
        return
    assert built is not None and built.parent == src and built.name.startswith("_accel")
    assert os.stat(built).st_mode & 0o444 == 0o444
    code = ("import importlib.util, sys; spec = importlib.util.spec_from_file_location('engine.lob._accel', "
            f"{str(built)!r}); m = importlib.util.module_from_spec(spec); spec.loader.exec_module(m); "
            "print(callable(m.install))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True)
    assert out.stdout.strip() == "True"
    assert [p.name for p in src.iterdir() if p.name.startswith("._accel")] == []


def test_hook_warns_and_continues_when_the_compiler_fails(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                          capsys: pytest.CaptureFixture[str]) -> None:
    hook = load_hook()
    src = tmp_path / "engine" / "lob"
    src.mkdir(parents=True)
    (src / "_accel.c").write_text("this is not C\n")
    monkeypatch.setattr(hook, "compile_command", lambda s, t: [sys.executable, "-c", "import sys; sys.exit(3)"])
    assert hook.build_accel(tmp_path) is None
    assert "WARNING" in capsys.readouterr().err
    assert sorted(p.name for p in src.iterdir()) == ["_accel.c"]  # no half-written module left behind
    monkeypatch.setattr(hook, "compile_command", lambda s, t: ["/nonexistent/compiler"])
    assert hook.build_accel(tmp_path) is None
