"""engine.portfolio.attribution: decompose_backtest and tear_sheet (values, parity with the reference, invariants)."""

from __future__ import annotations

import math
from typing import Any

import pytest
from hypothesis import given, settings

from engine.errors import BacktestError
from engine.portfolio.attribution import decompose_backtest, tear_sheet
from engine.portfolio.reference import backtest_weights
from tests.engine.portfolio.test_reference import long_only_schedule
from tests.engine.portfolio.test_reference_parity import closes, momentum_weights, ref_backtest, same, schedules

NAN = float("nan")


def test_spec_example() -> None:
    out = decompose_backtest([[("AAPL", .6), ("MSFT", .4)], [("AAPL", .5), ("MSFT", .5)]],
                             [[("AAPL", .10), ("MSFT", -.05)], [("AAPL", .02), ("MSFT", .04)]])
    assert out["contributions"] == [[("AAPL", .6 * .10), ("MSFT", .4 * -.05)], [("AAPL", .5 * .02), ("MSFT", .5 * .04)]]
    assert out["contributions"][0][1][1] == -0.020000000000000004
    assert out["cumulative_contributions"][1] == [("AAPL", .6 * .10 + .5 * .02), ("MSFT", .4 * -.05 + .5 * .04)]
    assert out["trades"] == [
        {"symbol": "AAPL", "entry_index": 0, "exit_index": None, "entry_weight": 0.6, "exit_weight": 0.5},
        {"symbol": "MSFT", "entry_index": 0, "exit_index": None, "entry_weight": 0.4, "exit_weight": 0.5}]


def test_mismatched_lengths_give_empty_lists() -> None:
    assert decompose_backtest([[("A", 1.0)]], []) == {"contributions": [], "cumulative_contributions": [],
                                                      "trades": []}


def test_symbols_come_and_go_and_trades_open_and_close() -> None:
    weights = [[("A", .5)], [("A", .5), ("B", .2)], [("B", 0.0)], [("A", NAN), ("C", .1)], []]
    returns = [[("A", .1)], [("A", NAN), ("B", .2)], [("B", .1), ("A", .3)], [("A", .1), ("C", -.2)], [("D", .5)]]
    out = decompose_backtest(weights, returns)
    assert out["contributions"] == [[("A", .05)], [("A", 0.0), ("B", .2 * .2)], [("A", 0.0), ("B", 0.0)],
                                    [("C", .1 * -.2)], [("C", 0.0)]]
    # Running sums persist per symbol, but a period lists only the symbols it includes.
    assert out["cumulative_contributions"][2] == [("A", .05), ("B", .2 * .2)]
    assert out["cumulative_contributions"][4] == [("C", .1 * -.2)]
    assert [(t["symbol"], t["entry_index"], t["exit_index"], t["entry_weight"], t["exit_weight"])
            for t in out["trades"]] == [("A", 0, 2, .5, .5), ("B", 1, 2, .2, .2), ("C", 3, 4, .1, .1)]


def test_matches_the_reference_on_a_real_backtest() -> None:
    nanobook = pytest.importorskip("nanobook")
    symbols, px = closes()
    weights, prices = schedules(symbols, px[:600], momentum_weights(px[:600], lookback=20, top=3), 5, drop_zeros=True)
    result = backtest_weights(weights, prices, 10_000_000, 10)
    mine = decompose_backtest(result["holdings"], result["symbol_returns"])
    theirs = nanobook.decompose_backtest(result["holdings"], result["symbol_returns"])
    assert same(mine, theirs)
    ref_result = ref_backtest(weights, prices, 10_000_000, 10)
    for window in (2, 21, 63):
        sheet, ref_sheet = tear_sheet(result, window), nanobook.tear_sheet(ref_result, window)
        assert sheet["trade_analytics"] == ref_sheet["trade_analytics"]
        assert sheet["drawdown_events"] == ref_sheet["drawdown_events"]
        assert [len(r) for r in sheet["monthly_returns"]] == [len(r) for r in ref_sheet["monthly_returns"]]
        flat = [x for r in sheet["monthly_returns"] for x in r]
        assert flat == pytest.approx([x for r in ref_sheet["monthly_returns"] for x in r], rel=1e-12)
        assert sheet["rolling_sharpe"] == pytest.approx(ref_sheet["rolling_sharpe"], rel=1e-9, nan_ok=True)


def test_tear_sheet_values() -> None:
    result = backtest_weights([[("A", 1.0)]] * 5, [[("A", p)] for p in (100, 110, 99, 120, 130)], 10_000, 0)
    sheet = tear_sheet(result, rolling_window=2)
    assert sheet["monthly_returns"] == [[pytest.approx(0.3)]]
    assert math.isnan(sheet["rolling_sharpe"][0]) and len(sheet["rolling_sharpe"]) == 5
    assert sheet["trade_analytics"] == {"trade_count": 1, "open_trade_count": 1, "closed_trade_count": 0}
    assert sheet["drawdown_events"] == [{"drawdown_pct": pytest.approx(0.1), "underwater_periods": 1, "peak_index": 2,
                                         "trough_index": 3, "recovery_index": 4}]


def test_monthly_chunks_of_21_twelve_per_row() -> None:
    result: dict[str, Any] = {"returns": [.1, .1, -.1] * 100, "equity_curve": [1] * 301, "holdings": [],
                              "symbol_returns": []}
    rows = tear_sheet(result, 3)["monthly_returns"]
    assert [len(r) for r in rows] == [12, 3]  # 300 periods = 14 full months + 6 periods
    assert rows[0][0] == pytest.approx(1.1 ** 14 * 0.9 ** 7 - 1.0)
    assert rows[1][-1] == pytest.approx(1.1 ** 4 * 0.9 ** 2 - 1.0)


@pytest.mark.parametrize("missing", ["returns", "equity_curve", "holdings", "symbol_returns"])
def test_tear_sheet_requires_every_key(missing: str) -> None:
    result = {"returns": [], "equity_curve": [1], "holdings": [], "symbol_returns": []}
    del result[missing]
    with pytest.raises(BacktestError, match=f"missing {missing}"):
        tear_sheet(result)


@settings(max_examples=100, deadline=None)
@given(long_only_schedule())
def test_contributions_sum_to_the_zero_cost_returns(case: Any) -> None:
    """Holdings of period t−1 times symbol returns of period t reconcile with the return of period t."""
    weights, prices, cash = case
    result = backtest_weights(weights, prices, cash, 0)
    out = decompose_backtest(result["holdings"][:-1], result["symbol_returns"][1:])
    for t, row in enumerate(out["contributions"], start=1):
        assert math.fsum(c for _, c in row) == pytest.approx(result["returns"][t], rel=1e-12, abs=1e-12)
