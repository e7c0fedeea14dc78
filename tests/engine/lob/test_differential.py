"""Differential tests: engine.lob against a naive model (tests/engine/lob/model.py) and the reference `nanobook`."""

from __future__ import annotations

import json
import queue
import subprocess
import sys
import tempfile
import threading
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from engine.lob import Exchange
from tests.engine.lob.model import STP_POLICIES, ModelBook
from tests.engine.lob.opstream import Op, StreamGen, run_stream
from tests.engine.lob.rows import book, cancel_row, modify_row, order_row, submit_row, trade_rows

REPO = Path(__file__).resolve().parents[3]
STREAM_TIMEOUT = 5.0  # seconds per stream on the reference (its B1 bug can loop forever)


# ============================================================================ (a) the naive model


def model_submit_row(r: tuple) -> tuple:
    return (r[0], r[1], [tuple(t) for t in r[2]], *r[3:])


def apply_both(ex: Exchange, model: ModelBook, op: tuple) -> None:
    kind = op[0]
    if kind == "limit":
        _, side, price, qty, tif, owner, stp = op
        ours = submit_row(ex.submit_limit(side, price, qty, tif, owner=owner, stp_policy=stp))
        theirs = model_submit_row(model.submit_limit(side, price, qty, tif, owner, stp))
    elif kind == "market":
        _, side, qty, owner, stp = op
        ours = submit_row(ex.submit_market(side, qty, owner=owner, stp_policy=stp))
        theirs = model_submit_row(model.submit_market(side, qty, owner, stp))
    elif kind == "cancel":
        ours, theirs = cancel_row(ex.cancel(op[1])), model.cancel(op[1])
    else:
        _, oid, price, qty = op
        ours = modify_row(ex.modify(oid, price, qty))
        m = model.modify(oid, price, qty)
        theirs = (*m[:4], [tuple(t) for t in m[4]], m[5])
    assert ours == theirs, op
    assert book(ex) == (model.levels("buy"), model.levels("sell")), op
    assert ex.best_bid_ask() == model.best_bid_ask()


def check_final(ex: Exchange, model: ModelBook) -> None:
    assert trade_rows(ex.trades()) == [tuple(t) for t in model.trades]
    for i in range(1, model.next_id + 1):
        assert order_row(ex.get_order(i)) == model.order_view(i), i


MODEL_OP = st.one_of(
    st.tuples(st.just("limit"), st.sampled_from(["buy", "sell"]), st.integers(97, 103), st.integers(0, 30),
              st.sampled_from(["gtc", "gtc", "ioc", "fok"]), st.sampled_from([None, 1, 2]),
              st.sampled_from(STP_POLICIES)),
    st.tuples(st.just("market"), st.sampled_from(["buy", "sell"]), st.integers(0, 40), st.sampled_from([None, 1, 2]),
              st.sampled_from(STP_POLICIES)),
    st.tuples(st.just("cancel"), st.integers(0, 25)),
    st.tuples(st.just("modify"), st.integers(0, 25), st.integers(97, 103), st.integers(0, 30)),
)


@settings(max_examples=200, deadline=None)
@given(st.lists(MODEL_OP, max_size=50))
def test_matches_naive_model_on_hypothesis_streams(ops: list[tuple]) -> None:
    ex, model = Exchange(), ModelBook()
    for op in ops:
        apply_both(ex, model, op)
    check_final(ex, model)


def random_model_op(rng: Any, model: ModelBook) -> tuple:
    roll = rng.random()
    side = rng.choice(["buy", "sell"])
    price = rng.randint(95, 105)
    qty = rng.choice([0, 1, 3, 5, 10, 20, 50])
    owner = rng.choice([None, None, 1, 2, 3])
    stp = rng.choice(STP_POLICIES)
    if roll < 0.5:
        return ("limit", side, price, qty, rng.choice(["gtc", "gtc", "ioc", "fok"]), owner, stp)
    if roll < 0.6:
        return ("market", side, qty, owner, stp)
    oid = rng.randint(1, model.next_id + 2)
    if roll < 0.8:
        return ("cancel", oid)
    return ("modify", oid, price, qty)


@pytest.mark.slow
@pytest.mark.parametrize("block", range(4))
def test_matches_naive_model_on_seeded_streams(block: int) -> None:
    import random

    for seed in range(block * 60, (block + 1) * 60):
        rng = random.Random(seed)
        ex, model = Exchange(), ModelBook()
        for _ in range(120):
            apply_both(ex, model, random_model_op(rng, model))
        check_final(ex, model)


# ============================================================================ (b) the reference package


def run_on_reference(streams: list[list[Op]], timeout: float = STREAM_TIMEOUT,
                     startup: float = 5.0) -> list[dict[str, Any] | None]:
    """Run each stream on `nanobook.Exchange` in a worker process; None for a stream that hung (killed)."""
    results: list[dict[str, Any] | None] = [None] * len(streams)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "streams.json"
        path.write_text(json.dumps(streams), encoding="utf-8")
        start = 0
        while start < len(streams):
            proc = subprocess.Popen([sys.executable, "-m", "tests.engine.lob.ref_worker", str(path), str(start)],
                                    cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
            lines: queue.Queue[str | None] = queue.Queue()

            def pump(p: subprocess.Popen[str] = proc, q: queue.Queue[str | None] = lines) -> None:
                assert p.stdout is not None
                for line in p.stdout:
                    q.put(line)
                q.put(None)

            threading.Thread(target=pump, daemon=True).start()
            i = start
            try:
                while i < len(streams):
                    try:
                        line = lines.get(timeout=timeout + (startup if i == start else 0.0))
                    except queue.Empty:
                        break  # stream i hung
                    if line is None:
                        raise AssertionError(f"reference worker died at stream {i}")
                    doc = json.loads(line)
                    assert doc["i"] == i
                    assert "error" not in doc, doc.get("error")
                    results[i] = doc["ok"]
                    i += 1
            finally:
                proc.kill()
                proc.wait()
            start = i + 1
    return results


def jsonify(value: Any) -> Any:
    return json.loads(json.dumps(value))


def normalise_b2(ours: dict[str, Any], ref: dict[str, Any]) -> int:
    """B2: the reference stores IOC/FOK/market leftovers as live-looking (remaining > 0); we store them terminal.

    Checks the divergence is exactly that, then rewrites the reference rows our way. Returns rows rewritten.
    """
    n = 0
    for key, row in ref["orders"].items():
        if row is None or row[7] == "gtc" or row[6] not in ("partiallyfilled", "cancelled"):
            continue
        _, _, _, original, remaining, filled, _, _, _ = row
        assert remaining == original - filled, row  # the reference keeps the unfilled part as "remaining"
        mine = ours["orders"][key]
        assert (mine[4], mine[6]) == (0, "cancelled"), mine
        if (row[4], row[6]) != (0, "cancelled"):
            n += 1
        row[4], row[6] = 0, "cancelled"
    return n


def normalise_b5(ops: list[Op], ours: dict[str, Any], ref: dict[str, Any]) -> None:
    """B5: the reference's public modify does not update last_trade_price; ours does. Check both, then drop it."""
    ours_ltp = ref_ltp = None
    for op, mine, theirs in zip(ops, ours["steps"], ref["steps"], strict=True):
        trades = mine[0][6] if mine[0][0] == "submit" else mine[0][5] if mine[0][0] == "modify" else []
        if trades:
            ours_ltp = trades[-1][1]
            if op[0] != "modify":
                ref_ltp = trades[-1][1]
        assert mine[1][3] == ours_ltp
        assert theirs[1][3] == ref_ltp
        mine[1][3] = theirs[1][3] = None


def first_difference(ours: dict[str, Any], ref: dict[str, Any], ops: list[Op]) -> str:
    for j, (a, b) in enumerate(zip(ours["steps"], ref["steps"], strict=True)):
        if a != b:
            return f"step {j} op={ops[j]}\n ours={a}\n ref ={b}"
    for key in ("trades", "orders", "stops"):
        if ours[key] != ref[key]:
            diff = [k for k in ours[key] if ours[key][k] != ref[key].get(k)] if key != "trades" else []
            return f"{key} differ {diff[:3]}"
    return "no difference"


def compare_streams(streams: list[list[Op]], *, stops: bool) -> tuple[int, int]:
    refs = run_on_reference(streams)
    hung = sum(r is None for r in refs)
    b2_rows = 0
    for ops, ref in zip(streams, refs, strict=True):
        if ref is None:
            continue
        ours = jsonify(run_stream(Exchange(), ops))
        b2_rows += normalise_b2(ours, ref)
        if not stops:
            normalise_b5(ops, ours, ref)
        assert ours == ref, first_difference(ours, ref, ops)
    assert hung <= len(streams) // 20, f"{hung} of {len(streams)} reference streams hung"
    return hung, b2_rows


def make_streams(seeds: range, n_ops: int, *, stops: bool) -> list[list[Op]]:
    out = []
    for seed in seeds:
        lo, hi = ((95, 105), (98, 102), (80, 120), (50, 150))[seed % 4]
        out.append(StreamGen(seed, stops=stops, price_lo=lo, price_hi=hi).stream(n_ops))
    return out


def test_reference_plain_streams() -> None:
    """limit/market/cancel/modify without owners; B1 triggers and B2 targets are never generated."""
    streams = make_streams(range(400), 100, stops=False)
    ops = [op for s in streams for op in s]
    assert sum(op[0] == "modify" for op in ops) > 1000
    assert sum(op[0] == "cancel" for op in ops) > 2000
    _, b2_rows = compare_streams(streams, stops=False)
    assert b2_rows > 100  # the documented B2 divergence really occurs (and nothing else differs)


def test_reference_stop_streams() -> None:
    """Stop-market, stop-limit and fixed/percentage/sma_abs_change trailing stops inside random traffic."""
    streams = make_streams(range(1000, 1400), 100, stops=True)
    kinds = [op[0] for s in streams for op in s]
    assert min(kinds.count(k) for k in ("stop_market", "stop_limit", "trail_market", "trail_limit")) > 500
    compare_streams(streams, stops=True)


@pytest.mark.slow
def test_reference_long_streams() -> None:
    compare_streams(make_streams(range(5000, 5060), 400, stops=False), stops=False)
    compare_streams(make_streams(range(6000, 6060), 400, stops=True), stops=True)


# ---------------------------------------------------------------------------- scripted stop scenarios


def prints(*prices: int) -> list[Op]:
    ops: list[Op] = []
    for p in prices:
        ops += [["limit", "sell", p, 1, "gtc"], ["limit", "buy", p, 1, "gtc"]]
    return ops


STOP_SCENARIOS: dict[str, list[Op]] = {
    "worked_example_fixed_200": [["limit", "buy", 5000, 100, "gtc"],
                                 ["trail_market", "sell", 9800, 10, "fixed", 200.0, None],
                                 *prints(10200, 10500, 10400, 10300)],
    "percentage_5_55_rounds_to_6": [["trail_market", "sell", 1, 1, "percentage", 0.05, None], *prints(111)],
    "percentage_tie_2_5_rounds_to_3": [["trail_limit", "sell", 1, 1, 1, "percentage", 0.01, "gtc", None],
                                       *prints(250)],
    "percentage_buy_tie_4_5_rounds_to_5": [["trail_market", "buy", 10**6, 1, "percentage", 0.05, None],
                                           *prints(90)],
    "percentage_ratchet_and_trigger": [["limit", "buy", 10, 5, "gtc"],
                                       ["trail_market", "sell", 1, 1, "percentage", 0.05, None],
                                       ["trail_market", "buy", 10**6, 1, "percentage", 0.05, None],
                                       *prints(111, 250, 90)],
    "sma_abs_change_window": [*prints(11100), ["trail_market", "sell", 100, 10, "sma_abs_change", 2.0, 3],
                              ["trail_market", "buy", 10**6, 10, "sma_abs_change", 1.0, 1],
                              ["trail_market", "sell", 100, 10, "sma_abs_change", 0.7, 0],
                              *prints(11000, 11300, 11200, 11250, 11260, 11100)],
    "immediate_trigger_appends_zero_change": [["trail_market", "sell", 1, 1, "sma_abs_change", 1.0, 14],
                                              *prints(100, 110), ["stop_limit", "buy", 105, 1, 1, "gtc"],
                                              *prints(111)],
    "trailing_never_triggers_at_submission": [*prints(100), ["trail_market", "sell", 200, 5, "fixed", 10.0, None],
                                              ["limit", "buy", 50, 10, "gtc"], *prints(100)],
    "cascade_bounded_at_100_rounds": [*[["limit", "buy", 10000 - k, 1, "gtc"] for k in range(200)],
                                      *[["stop_market", "sell", 10001 - k, 1] for k in range(1, 151)],
                                      ["market", "sell", 1], ["market", "sell", 1]],
    "stops_fire_in_timestamp_order": [["stop_limit", "sell", 100, 200, 1, "gtc"],
                                      ["stop_limit", "buy", 100, 1, 1, "ioc"],
                                      ["stop_market", "sell", 101, 3], ["limit", "buy", 90, 10, "gtc"],
                                      *prints(100)],
    "fok_stop_limit_ghost": [["stop_limit", "buy", 100, 101, 50, "fok"], ["limit", "sell", 101, 10, "gtc"],
                             *prints(100), ["limit", "buy", 1, 1, "gtc"]],
}


def test_reference_scripted_stop_scenarios() -> None:
    names = list(STOP_SCENARIOS)
    refs = run_on_reference([STOP_SCENARIOS[n] for n in names])
    for name, ref in zip(names, refs, strict=True):
        assert ref is not None, name
        ops = STOP_SCENARIOS[name]
        ours = jsonify(run_stream(Exchange(), ops))
        normalise_b2(ours, ref)
        assert ours == ref, f"{name}: {first_difference(ours, ref, ops)}"
    # Pin a few values the scenarios exist for (so a matching-but-wrong pair of engines still fails).
    by_name = dict(zip(names, refs, strict=True))
    assert by_name["worked_example_fixed_200"]["stops"]["2"]["status"] == "triggered"
    assert by_name["percentage_5_55_rounds_to_6"]["stops"]["1"]["stop_price"] == 105
    assert by_name["percentage_tie_2_5_rounds_to_3"]["stops"]["1"]["stop_price"] == 247
    assert by_name["percentage_buy_tie_4_5_rounds_to_5"]["stops"]["1"]["stop_price"] == 95
    ratchet = by_name["percentage_ratchet_and_trigger"]["stops"]
    assert (ratchet["2"]["stop_price"], ratchet["2"]["status"]) == (237, "triggered")  # 250 − rhaz(12.5)
    assert (ratchet["3"]["stop_price"], ratchet["3"]["status"]) == (117, "triggered")  # 111 + rhaz(5.55)
    # |Δp| history [10, 0, 1] after the last print at 111 → offset trunc(11/3) = 3 → 108 (without the quirk's 0:
    # [10, 1] → 5 → 106).
    assert by_name["immediate_trigger_appends_zero_change"]["stops"]["1"]["stop_price"] == 108
    assert by_name["cascade_bounded_at_100_rounds"]["steps"][350][1][4] == 50
    assert by_name["fok_stop_limit_ghost"]["orders"]["5"] is None  # the spawned FOK was a ghost
    assert by_name["fok_stop_limit_ghost"]["orders"]["6"][:3] == [6, "buy", 1]


# ---------------------------------------------------------------------------- documented divergences


def test_b1_reference_hangs_where_we_complete() -> None:
    """B1: asks 100@100 ×3, buy 100, cancel 2, buy 50 → the reference loops forever; we fill 50 from order 3."""
    ops = [["limit", "sell", 100, 100, "gtc"]] * 3 + [["limit", "buy", 100, 100, "gtc"], ["cancel", 2],
                                                       ["limit", "buy", 100, 50, "gtc"]]
    ours = run_stream(Exchange(), ops)
    assert ours["steps"][-1][0] == ["submit", 5, "Filled", 50, 0, 0, [[2, 100, 50, "buy", 5, 3, 7]]]
    warm_up: list[Op] = [["limit", "buy", 1, 1, "gtc"]]  # absorbs the worker's start-up time
    refs = run_on_reference([warm_up, ops], timeout=3.0, startup=10.0)
    assert refs[0] is not None
    if refs[1] is not None:
        pytest.skip("the reference did not hang on the B1 repro (fixed upstream?)")


def test_b2_reference_cancels_an_ioc_leftover_we_refuse() -> None:
    ops = [["limit", "sell", 100, 50, "gtc"], ["limit", "buy", 100, 80, "ioc"], ["cancel", 2]]
    before, ref = run_on_reference([ops[:2], ops])
    assert before is not None
    assert ref is not None
    assert before["orders"]["2"][4:7] == [30, 50, "partiallyfilled"]  # looks live although not on the book
    assert ref["steps"][1][0][2] == "PartiallyFilled"
    assert ref["steps"][2][0] == ["cancel", True, 30, None]
    ours = jsonify(run_stream(Exchange(), ops))
    assert ours["steps"][1][0] == ref["steps"][1][0]  # same SubmitResult
    assert ours["steps"][2][0] == ["cancel", False, 0, "OrderNotActive"]
    assert ours["orders"]["2"][4:7] == [0, 50, "cancelled"]


def test_b5_reference_modify_does_not_move_last_trade_price() -> None:
    ops = [["limit", "sell", 105, 10, "gtc"], ["limit", "buy", 90, 5, "gtc"], ["limit", "sell", 95, 1, "gtc"],
           ["limit", "buy", 95, 1, "gtc"], ["stop_market", "buy", 105, 5], ["modify", 2, 105, 5]]
    (ref,) = run_on_reference([ops])
    assert ref is not None
    ours = jsonify(run_stream(Exchange(), ops))
    assert ref["steps"][5][0] == ours["steps"][5][0]  # the modify itself trades identically
    assert ref["steps"][5][1][3:] == [95, 1]          # reference: ltp stale, stop still pending
    assert ours["steps"][5][1][3:] == [105, 0]        # ours: ltp 105, stop fired
