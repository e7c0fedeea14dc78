"""engine.portfolio.reference.backtest_weights: the integer-cents model, its validation and its invariants.

Expected numbers are derived by hand in each test from the rules (trunc(E·w), Δ toward zero, cost half away from
zero, buys trimmed to cash), never taken from the code under test.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from engine.errors import BacktestError, InputError
from engine.portfolio.reference import GROSS_LIMIT, _fees, _tdiv, affordable, backtest_weights, cost_cents


def run(weights: list[list[tuple[str, float]]], prices: list[list[tuple[str, int]]], cash: int = 10_000_000,
        bps: int = 0, **kw: Any) -> dict[str, Any]:
    return backtest_weights(weights, prices, cash, bps, **kw)


# ---------------------------------------------------------------------------- the model


def tdiv(a: int, b: int) -> int:
    q = abs(a) // b
    return q if a >= 0 else -q


def test_single_name_doubles_nothing_on_day_one() -> None:
    r = run([[("AAPL", 1.0)]] * 2, [[("AAPL", 10000)], [("AAPL", 10200)]])
    assert r["returns"] == [0.0, 0.02]
    assert r["equity_curve"] == [10_000_000, 10_000_000, 10_200_000]
    assert r["final_cash"] == 0
    assert r["holdings"] == [[("AAPL", 1.0)], [("AAPL", 1.0)]]
    assert r["symbol_returns"][0][0][0] == "AAPL" and math.isnan(r["symbol_returns"][0][0][1])
    assert r["symbol_returns"][1] == [("AAPL", 0.02)]
    assert r["stop_events"] == [] and r["skipped_rebalances"] == []
    assert r["metrics"].num_periods == 2


def test_two_names_with_costs_trim_the_second_buy() -> None:
    r = run([[("AAPL", .5), ("MSFT", .5)], [("AAPL", .3), ("MSFT", .7)]],
            [[("AAPL", 15000), ("MSFT", 30000)], [("AAPL", 15500), ("MSFT", 31000)]], cash=100_000_000, bps=10)
    # AAPL: trunc(5e7 / 15000) = 3333 sh, cost 49,995 → cash 49,955,005; MSFT wants 1666 sh (49.98M + fee) but only
    # q·30000·1.001 <= 49,955,005 is affordable → 1663 sh, cost 49,890.
    cash0 = 100_000_000 - 3333 * 15000 - 49_995 - 1663 * 30000 - 49_890
    e0 = cash0 + 3333 * 15000 + 1663 * 30000
    assert r["equity_curve"][1] == e0 == 99_900_115
    assert r["returns"][0] == (e0 - 100_000_000) / 100_000_000
    assert r["holdings"][0] == [("AAPL", 3333 * 15000 / e0), ("MSFT", 1663 * 30000 / e0)]
    # Period 1: E = cash0 + 3333·15500 + 1663·31000; AAPL sells down first, then MSFT buys what the cash allows.
    e1_pre = cash0 + 3333 * 15500 + 1663 * 31000
    d_aapl = tdiv(math.trunc(e1_pre * 0.3) - 3333 * 15500, 15500)
    d_msft = tdiv(math.trunc(e1_pre * 0.7) - 1663 * 31000, 31000)
    assert d_aapl < 0 < d_msft
    cash_mid = cash0 - d_aapl * 15500 - cost_cents(d_aapl * 15500, 10)
    while d_msft * 31000 + cost_cents(d_msft * 31000, 10) > cash_mid:  # the MSFT buy would overdraw: trimmed
        d_msft -= 1
    cash1 = cash_mid - d_msft * 31000 - cost_cents(d_msft * 31000, 10)
    assert r["final_cash"] == cash1 == 20_276
    assert r["equity_curve"][2] == cash1 + (3333 + d_aapl) * 15500 + (1663 + d_msft) * 31000


def test_first_return_is_minus_day_zero_costs() -> None:
    r = run([[("A", 0.5)]], [[("A", 25)]], cash=1000, bps=100)
    # 20 sh · 25 = 500, cost 1% = 5 → equity 995.
    assert r["equity_curve"] == [1000, 995] and r["returns"] == [-0.005] and r["final_cash"] == 495


def test_cost_rounds_half_away_from_zero() -> None:
    r = run([[("A", 0.5)]], [[("A", 15)]], cash=1000, bps=5000)
    # 33 sh · 15 = 495, cost 247.5 → 248.
    assert r["final_cash"] == 1000 - 495 - 248


def test_leverage_on_the_long_side_is_trimmed_to_cash() -> None:
    r = run([[("A", 2.0)]], [[("A", 10000)]], cash=1_000_000)
    assert r["holdings"] == [[("A", 1.0)]] and r["final_cash"] == 0


def test_list_order_decides_which_buy_is_trimmed() -> None:
    prices = [[("A", 10000), ("B", 10000)]]
    short_first = run([[("B", -1.0), ("A", 1.5)]], prices, cash=1_000_000)
    long_first = run([[("A", 1.5), ("B", -1.0)]], prices, cash=1_000_000)
    assert short_first["holdings"] == [[("A", 1.5), ("B", -1.0)]]
    assert long_first["holdings"] == [[("A", 1.0), ("B", -1.0)]]


def test_unlisted_holdings_are_closed_and_an_empty_list_liquidates() -> None:
    r = run([[("A", 0.5), ("B", 0.5)], [("B", 0.5)], []], [[("A", 100), ("B", 200)]] * 3, cash=10_000)
    assert r["holdings"][1] == [("B", 0.5)]
    assert r["holdings"][2] == [] and r["final_cash"] == 10_000


def test_short_cover_needs_cash_like_any_buy() -> None:
    weights = [[("B", -1.0), ("A", 2.0)], [("B", 0.0), ("A", 1.0)]]
    prices = [[("A", 10000), ("B", 10000)], [("A", 20000), ("B", 15000)]]
    r = run(weights, prices, cash=1_000_000)
    # Period 1: cash is 0, so covering B (a buy) is trimmed to nothing; A then sells 75 sh.
    assert r["holdings"][1] == [("A", 1.0), ("B", -0.6)] and r["final_cash"] == 1_500_000


def test_negative_equity_skips_rebalances_and_reports_zero_returns() -> None:
    r = run([[("A", -1.0)]] * 4, [[("A", 10000)], [("A", 30000)], [("A", 40000)], [("A", 5000)]], cash=1_000_000)
    assert r["equity_curve"] == [1_000_000, 1_000_000, -1_000_000, -2_000_000, 1_500_000]
    assert r["returns"] == [0.0, -2.0, 0.0, 0.0]
    assert r["holdings"][1] == [("A", 3.0)]


def test_mapping_rows_are_accepted() -> None:
    r = backtest_weights([{"A": 1.0}], [{"A": 100}], 1000, 0)
    assert r["holdings"] == [[("A", 1.0)]]


def test_empty_schedule_has_the_reference_shape() -> None:
    assert backtest_weights([], [], 5000, 3) == {
        "returns": [], "equity_curve": [5000], "final_cash": 5000, "metrics": None, "skipped_rebalances": [],
        "holdings": [], "symbol_returns": [], "stop_events": []}


def test_zero_weight_on_an_unpriced_symbol_is_ignored() -> None:
    r = run([[("A", 0.5), ("Q", 0.0)]], [[("A", 100)]])
    assert r["holdings"] == [[("A", 0.5)]]


# ---------------------------------------------------------------------------- validation


@pytest.mark.parametrize(("weights", "prices", "cash", "bps", "match"), [
    ([[("A", 1.0)]], [[("A", 100)], [("A", 100)]], 1000, 0, "1 periods but price_schedule has 2"),
    ([[("A", 0.5), ("Q", 0.5)]], [[("A", 100)]], 1000, 0, "without a price this period: Q"),
    ([[("A", math.nan)]], [[("A", 100)]], 1000, 0, "weight of A is not finite"),
    ([[("A", math.inf)]], [[("A", 100)]], 1000, 0, "not finite"),
    ([[("A", "x")]], [[("A", 100)]], 1000, 0, "weights must be numbers"),
    ([[("A", 1.0)]], [[("A", -5)]], 1000, 0, "price of A must be positive"),
    ([[("A", 1.0)]], [[("A", 0)]], 1000, 0, "price of A must be positive"),
    ([[("A", 1.0)]], [[("A", 100.5)]], 1000, 0, "integer cents"),
    ([[("A", 1.0)]], [[("A", 2**70)]], 1000, 0, "cents"),
    ([[("A", GROSS_LIMIT / 2), ("B", -GROSS_LIMIT / 2 - 0.5)]], [[("A", 1), ("B", 1)]], 1000, 0, "gross weight"),
    ([[("A", 1.0)]], [[("A", 100)]], 0, 0, "initial_cash must be positive"),
    ([[("A", 1.0)]], [[("A", 100)]], 100.0, 0, "initial_cash must be integer cents"),
    ([[("A", 1.0)]], [[("A", 100)]], 1000, 10_001, "cost_bps"),
    ([[("A", 1.0)]], [[("A", 100)]], 1000, -1, "cost_bps"),
    ([[("A", 1.0)]], [[("A", 100)]], 1000, 2.5, "cost_bps"),
    ([[("ABCDEFGHI", 1.0)]], [[("ABCDEFGHI", 100)]], 1000, 0, "exceeds 8 bytes"),
    ([[("A", 1.0)]], [[("A", 100), ("A", 101)]], 1000, 0, "duplicate symbol"),
    ([[("A", 0.5), ("A", 0.5)]], [[("A", 100)]], 1000, 0, "duplicate symbol"),
    ([[("A", 1.0)]], [[("A", 100, 3)]], 1000, 0, "pairs"),
    ([[("A", 1.0)]], ["A100"], 1000, 0, "pairs"),
    ([[("A", 1.0)]], [[(7, 100)]], 1000, 0, "non-empty string"),
])
def test_invalid_input_is_a_clear_error(weights: Any, prices: Any, cash: Any, bps: Any, match: str) -> None:
    with pytest.raises(BacktestError, match=match) as info:
        backtest_weights(weights, prices, cash, bps)
    assert isinstance(info.value, InputError) and isinstance(info.value, ValueError)


def test_held_symbol_without_a_price_names_period_and_symbol() -> None:
    with pytest.raises(BacktestError, match=r"period 1: held symbol\(s\) B have no price") as info:
        run([[("A", 0.5), ("B", 0.5)], [("A", 1.0)]], [[("A", 100), ("B", 100)], [("A", 100)]])
    assert info.value.period == 1


@pytest.mark.parametrize(("ppy", "rf"), [(0.0, 0.0), (math.nan, 0.0), (252.0, math.inf), (-1.0, 0.0)])
def test_bad_annualisation_parameters(ppy: float, rf: float) -> None:
    with pytest.raises(BacktestError):
        run([[("A", 1.0)]], [[("A", 100)]], periods_per_year=ppy, risk_free=rf)


# ---------------------------------------------------------------------------- helpers


@pytest.mark.parametrize(("notional", "bps", "expected"), [(1_000_000, 15, 1500), (495, 5000, 248), (-495, 5000, 248),
                                                          (1999, 5, 1), (1000, 5, 1), (999, 5, 0), (0, 10, 0)])
def test_cost_cents(notional: int, bps: int, expected: int) -> None:
    assert cost_cents(notional, bps) == expected


@given(st.lists(st.integers(-(2**62), 2**62), min_size=1, max_size=5), st.integers(1, 10**7))
def test_tdiv_truncates_toward_zero_exactly(nums: list[int], den: int) -> None:
    got = _tdiv(np.array(nums, dtype=np.int64), np.full(len(nums), den, dtype=np.int64)).tolist()
    assert got == [abs(n) // den * (1 if n >= 0 else -1) for n in nums]


@given(st.lists(st.integers(-(2**60), 2**60), min_size=1, max_size=5), st.integers(0, 10_000))
def test_vector_fees_match_the_scalar_rule_without_overflow(notionals: list[int], bps: int) -> None:
    arr = np.array(notionals, dtype=np.int64)
    expected = [cost_cents(n, bps) for n in notionals]
    assert _fees(arr, bps, small=False).tolist() == expected
    if max(abs(n) for n in notionals) < 2**48:
        assert _fees(arr, bps, small=True).tolist() == expected


@given(st.integers(-10, 10**9), st.integers(1, 10**6), st.sampled_from([0, 1, 5, 10, 333, 5000, 10_000]))
def test_affordable_is_the_largest_quantity_that_fits(cash: int, price: int, bps: int) -> None:
    q = affordable(cash, price, bps)
    assert q >= 0
    if q:
        assert q * price + cost_cents(q * price, bps) <= cash
    assert (q + 1) * price + cost_cents((q + 1) * price, bps) > cash


# ---------------------------------------------------------------------------- invariants

SYMS = ("A", "B", "C", "D")


@st.composite
def long_only_schedule(draw: st.DrawFn) -> tuple[list[list[tuple[str, float]]], list[list[tuple[str, int]]], int]:
    n = draw(st.integers(1, len(SYMS)))
    t = draw(st.integers(1, 8))
    # Each price moves at most 4x per period, so even 3x leverage keeps equity far inside int64 (overflow has
    # its own test); the path still visits prices from one cent to 10**6 cents.
    last = [draw(st.integers(1, 10**6)) for _ in range(n)]
    prices = [list(zip(SYMS[:n], last, strict=True))]
    for _ in range(t - 1):
        last = [draw(st.integers(max(1, p // 4), min(10**6, p * 4))) for p in last]
        prices.append(list(zip(SYMS[:n], last, strict=True)))
    weights = []
    for _ in range(t):
        raw = [draw(st.floats(0.0, 1.0)) for _ in range(n)]
        total = sum(raw) or 1.0
        weights.append([(s, x / total * 0.999) for s, x in zip(SYMS[:n], raw, strict=True)])
    return weights, prices, draw(st.integers(10**3, 10**10))


@settings(max_examples=150, deadline=None)
@given(long_only_schedule())
def test_zero_cost_rebalancing_moves_equity_only_through_prices(case: Any) -> None:
    weights, prices, cash = case
    r = backtest_weights(weights, prices, cash, 0)
    curve = r["equity_curve"]
    assert curve[1] == cash and r["returns"][0] == 0.0
    for t in range(1, len(prices)):
        # Trading at the bar price is equity-neutral, so the move is the old holdings' price move.
        held = dict(r["holdings"][t - 1])
        move = sum(h * rr for s, rr in r["symbol_returns"][t] if (h := held.get(s)) is not None)
        assert r["returns"][t] == pytest.approx(move, rel=1e-12, abs=1e-12)
    for t, row in enumerate(weights):
        px, held, e = dict(prices[t]), dict(r["holdings"][t]), curve[t + 1]
        for s, w in row:
            miss = (w - held.get(s, 0.0)) * e
            # Δ shares truncate toward zero: a sale never leaves less than the target, a buy never gets more.
            assert miss > -px[s] - 1e-6
            if t == 0:  # nothing to sell and Σw < 1, so no buy is trimmed: the miss is under one share
                assert -1e-6 <= miss < px[s] + 1e-6


def test_equity_past_the_int64_range_is_an_error_not_a_wrap() -> None:
    """A 234770x jump on a fully invested book would wrap the int64 valuation to a negative equity."""
    flat = [("A", 1), ("C", 1)]
    weights = [[("A", 0.0), ("C", 0.999)], [("A", 0.0), ("C", 0.0)], [("A", 0.999), ("C", 0.0)], [("A", 0.0)]]
    prices = [flat, [("A", 1), ("C", 81414)], flat, [("A", 234770), ("C", 1)]]
    assert backtest_weights(weights[:3], prices[:3], 483522906, 0)["equity_curve"][-1] > 0
    with pytest.raises(BacktestError, match=r"period 3: equity of about 9.2\de\+18 cents is beyond the exact range"):
        backtest_weights(weights, prices, 483522906, 0)


@settings(max_examples=100, deadline=None)
@given(long_only_schedule(), st.integers(0, 10_000), st.lists(st.floats(-3, 3), min_size=8, max_size=8))
def test_cash_never_goes_negative(case: Any, bps: int, signs: list[float]) -> None:
    weights, prices, cash = case
    weights = [[(s, w * signs[i % 8]) for i, (s, w) in enumerate(row)] for row in weights]
    r = backtest_weights(weights, prices, cash, bps)
    assert r["final_cash"] >= 0
    assert len(r["returns"]) == len(prices) == len(r["holdings"]) == len(r["equity_curve"]) - 1
