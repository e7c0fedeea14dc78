"""Parity of engine.portfolio.reference.backtest_weights with the reference package (nanobook 0.19.2), to the cent.

Real daily closes of 20 large caps (../shared/data/market/sp100_ohlcv.csv); deterministic momentum and seeded random
schedules, monthly and daily, with and without costs and stops. Every per-period value the reference returns is
compared exactly (floats bit for bit, NaN-aware); stop events are compared as a set within each period because the
reference emits them in hash-map order.
"""

from __future__ import annotations

import csv
import math
from collections.abc import Sequence
from functools import cache
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from engine.portfolio.reference import backtest_weights

nanobook = pytest.importorskip("nanobook")

DATA = Path(__file__).resolve().parents[3].parent / "shared" / "data" / "market" / "sp100_ohlcv.csv"
METRIC_FIELDS = ("total_return", "cagr", "volatility", "sharpe", "sortino", "max_drawdown", "calmar", "num_periods",
                 "winning_periods", "losing_periods", "cvar_95", "win_rate", "profit_factor", "payoff_ratio", "kelly")

Schedule = list[list[tuple[str, Any]]]


def ref_backtest(weights: Sequence[Sequence[tuple[str, float]]], prices: Sequence[Sequence[tuple[str, int]]],
                 cash: int, bps: int, periods_per_year: float = 252.0, risk_free: float = 0.0,
                 stop_cfg: dict[str, Any] | None = None) -> dict[str, Any]:
    """The reference package's run of the same schedule: close-only bars, signal-bar-close fills, bps commission."""
    bars = [[(s, nanobook.BarPrices(p, p, p, p)) for s, p in row] for row in prices]
    costs = nanobook.CostModel(commission_bps=bps)
    return dict(nanobook.backtest_weights([list(r) for r in weights], bars, cash, costs,
                                          nanobook.FillPolicy.SignalBarClose, periods_per_year, risk_free, stop_cfg))


def same(a: Any, b: Any) -> bool:
    """Exact structural equality where NaN equals NaN (floats must match bit for bit otherwise)."""
    if isinstance(a, float) and isinstance(b, float):
        return (math.isnan(a) and math.isnan(b)) or a == b
    if isinstance(a, list | tuple) and isinstance(b, list | tuple):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(same(a[k], b[k]) for k in a)
    return bool(a == b)


def by_period(events: list[dict[str, Any]]) -> list[tuple[int, str, int, int, str]]:
    return sorted((e["period_index"], e["symbol"], e["trigger_price"], e["exit_price"], e["reason"]) for e in events)


def assert_parity(mine: dict[str, Any], ref: dict[str, Any]) -> None:
    for key in ("returns", "equity_curve", "final_cash", "holdings", "symbol_returns", "skipped_rebalances"):
        assert same(mine[key], ref[key]), f"{key} differs from the reference"
    assert by_period(mine["stop_events"]) == by_period(ref["stop_events"])
    if ref["metrics"] is None:
        assert mine["metrics"] is None
        return
    for field in METRIC_FIELDS:
        theirs, ours = float(getattr(ref["metrics"], field)), float(getattr(mine["metrics"], field))
        assert ours == pytest.approx(theirs, rel=1e-12, abs=1e-15), field


@cache
def closes() -> tuple[list[str], np.ndarray]:
    """Close prices in cents, one row per date (all 20 tickers trade on every date of the file)."""
    if not DATA.is_file():
        pytest.fail(f"market data not found at {DATA} (tests read ../shared/data beside the repo)")
    table: dict[str, dict[str, int]] = {}
    with DATA.open(newline="") as fh:
        for row in csv.DictReader(fh):
            table.setdefault(row["Date"], {})[row["Ticker"]] = round(float(row["Close"]) * 100)
    symbols = sorted(next(iter(table.values())))
    return symbols, np.array([[day[s] for s in symbols] for _, day in sorted(table.items())], dtype=np.int64)


def momentum_weights(px: np.ndarray, lookback: int = 60, top: int = 5, gross: float = 0.98) -> np.ndarray:
    """Equal weight on the `top` best trailing-return names (none before `lookback` days of history)."""
    w = np.zeros(px.shape, dtype=np.float64)
    for t in range(lookback, px.shape[0]):
        past = px[t] / px[t - lookback] - 1.0
        w[t, np.argsort(-past, kind="stable")[:top]] = gross / top
    return w


def random_weights(shape: tuple[int, int], seed: int, short_share: float = 0.0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    raw = rng.dirichlet(np.ones(shape[1]), size=shape[0]) * rng.uniform(0.5, 0.99, size=(shape[0], 1))
    if short_share:
        raw = np.where(rng.random(shape) < short_share, -raw, raw)
    return np.asarray(raw)


def schedules(symbols: list[str], px: np.ndarray, w: np.ndarray, step: int, *, drop_zeros: bool
              ) -> tuple[Schedule, Schedule]:
    """Every `step`-th row as (symbol, weight) / (symbol, price) lists; zero weights are dropped when asked."""
    rows = range(0, px.shape[0], step)
    weights = [[(s, x) for s, x in zip(symbols, w[t].tolist(), strict=True) if x != 0.0 or not drop_zeros]
               for t in rows]
    prices = [list(zip(symbols, px[t].tolist(), strict=True)) for t in rows]
    return weights, prices


@pytest.mark.parametrize("step", [21, 1], ids=["monthly", "daily"])
@pytest.mark.parametrize("bps", [0, 10])
def test_momentum_matches_reference(step: int, bps: int) -> None:
    symbols, px = closes()
    weights, prices = schedules(symbols, px, momentum_weights(px), step, drop_zeros=True)
    assert_parity(backtest_weights(weights, prices, 100_000_000, bps), ref_backtest(weights, prices, 100_000_000, bps))


@pytest.mark.parametrize("step", [21, 1], ids=["monthly", "daily"])
def test_random_long_only_matches_reference(step: int) -> None:
    symbols, px = closes()
    weights, prices = schedules(symbols, px, random_weights(px.shape, seed=step), step, drop_zeros=False)
    # Σw < 1 but names are visited in list order, so buys still get trimmed when they precede the sells.
    mine = backtest_weights(weights, prices, 25_000_000, 7, periods_per_year=252.0 / step, risk_free=1e-5)
    assert_parity(mine, ref_backtest(weights, prices, 25_000_000, 7, 252.0 / step, 1e-5))


def test_long_short_with_every_symbol_listed_matches_reference() -> None:
    """Shorts, covers and flips; all symbols are listed every period, so no close-order ambiguity arises."""
    symbols, px = closes()
    weights, prices = schedules(symbols, px, random_weights(px.shape, seed=3, short_share=0.35), 5, drop_zeros=False)
    assert_parity(backtest_weights(weights, prices, 10_000_000, 25), ref_backtest(weights, prices, 10_000_000, 25))


@pytest.mark.parametrize("stop_cfg", [
    {"fixed_stop_pct": 0.08},
    {"trailing_stop_pct": 0.05},
    {"atr_multiple": 2.0, "atr_period": 10},
    {"fixed_stop_pct": 0.1, "trailing_stop_pct": 0.07, "atr_multiple": 3.0},
], ids=["fixed", "trailing", "atr", "all"])
def test_momentum_with_stops_matches_reference(stop_cfg: dict[str, Any]) -> None:
    symbols, px = closes()
    weights, prices = schedules(symbols, px, momentum_weights(px, lookback=20), 1, drop_zeros=True)
    mine = backtest_weights(weights, prices, 100_000_000, 5, stop_cfg=stop_cfg)
    ref = ref_backtest(weights, prices, 100_000_000, 5, stop_cfg=stop_cfg)
    assert ref["stop_events"], "the scenario should trigger stops"
    assert_parity(mine, ref)


def test_first_period_and_gaps_match_reference() -> None:
    """Symbols appear and disappear from the price rows (never while held): symbol returns are NaN after a gap."""
    symbols, px = closes()
    prices: Schedule = []
    weights: Schedule = []
    for t in range(0, 400, 3):
        listed = [s for j, s in enumerate(symbols) if (t // 3 + j) % 4]
        prices.append([(s, int(px[t, symbols.index(s)])) for s in listed])
        held = [s for j, s in enumerate(symbols) if s in listed and ((t // 3 + j + 1) % 4) and j % 3 == 0]
        weights.append([(s, 0.9 / max(1, len(held))) for s in held])
    assert_parity(backtest_weights(weights, prices, 5_000_000, 10), ref_backtest(weights, prices, 5_000_000, 10))
