"""backtest_arrays against vectorbt 1.2.0 on real closes (../shared/data/market/sp100_ohlcv.csv), perf.md §7.

vectorbt side: `from_orders(size_type="targetpercent", cash_sharing=True, group_by=True, call_seq="auto")`,
fees on notional, NaN rows = no order, Sharpe with `year_freq="252 days"`.
"""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from numpy.typing import NDArray

from engine.portfolio.arrays import backtest_arrays

MARKET = Path(__file__).resolve().parents[3].parent / "shared" / "data" / "market" / "sp100_ohlcv.csv"
COST_BPS = 10.0
CASH = 1_000_000.0


@pytest.fixture(scope="module")
def closes() -> Any:
    pd = pytest.importorskip("pandas")
    if not MARKET.is_file():
        pytest.fail(f"market data not found at {MARKET} (tests read ../shared/data beside the repo)")
    frame = pd.read_csv(MARKET, usecols=["Date", "Ticker", "Close"], parse_dates=["Date"])
    wide = frame.pivot(index="Date", columns="Ticker", values="Close").sort_index()
    assert wide.shape[0] > 1000 and wide.shape[1] >= 10 and wide.notna().all().all()
    return wide


def momentum_weights(prices: NDArray[np.float64], every: int) -> NDArray[np.float64]:
    """Long-only softmax of the trailing 63-day return, gross 0.98; NaN rows between rebalances."""
    lookback = 63
    score = np.zeros_like(prices)
    score[lookback:] = prices[lookback:] / prices[:-lookback] - 1.0
    raw = np.exp(5.0 * score)
    weights = 0.98 * raw / raw.sum(axis=1, keepdims=True)
    weights[np.arange(prices.shape[0]) % every != 0] = np.nan
    return weights


def run_vectorbt(closes: Any, weights: NDArray[np.float64]) -> Any:
    vbt = pytest.importorskip("vectorbt")
    pd = pytest.importorskip("pandas")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return vbt.Portfolio.from_orders(
            closes, pd.DataFrame(weights, index=closes.index, columns=closes.columns), size_type="targetpercent",
            group_by=True, cash_sharing=True, call_seq="auto", fees=COST_BPS / 1e4, init_cash=CASH, freq="1D")


@pytest.mark.slow  # vectorbt import + numba cache load ≈ 4 s
@pytest.mark.parametrize("every", [21, 1], ids=["monthly", "daily"])
def test_equity_returns_sharpe_and_drawdown_match_vectorbt(closes: Any, every: int) -> None:
    prices = closes.to_numpy(dtype=np.float64)
    weights = momentum_weights(prices, every)
    ours = backtest_arrays(weights, prices, initial_cash=CASH, cost_bps=COST_BPS, periods_per_year=252.0)
    pf = run_vectorbt(closes, weights)
    value = pf.value().to_numpy()
    assert np.abs(ours.equity / value - 1.0).max() <= 1e-9
    assert ours.returns == pytest.approx(pf.returns().to_numpy(), rel=1e-7, abs=1e-12)
    assert ours.cash == pytest.approx(pf.cash().to_numpy(), rel=1e-9, abs=1e-6)
    assert ours.metrics is not None
    assert ours.metrics.sharpe == pytest.approx(float(pf.sharpe_ratio(year_freq="252 days")), rel=1e-9)
    assert ours.metrics.max_drawdown == pytest.approx(-float(pf.max_drawdown()), rel=1e-9)
    assert ours.metrics.total_return == pytest.approx(float(pf.total_return()), rel=1e-9)
    # Not a degenerate schedule: costs were paid on every rebalance, and the book moved.
    assert (ours.costs[::every] > 0).all() and ours.rebalances == len(range(0, prices.shape[0], every))
    assert abs(ours.final_equity - CASH) > 1000.0
