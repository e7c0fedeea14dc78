"""Return attribution and the tear sheet of a weight-schedule backtest (engine-spec §6.5).

`decompose_backtest`, `tear_sheet`: pure functions of lists a backtest already produced; sums run left to right like
the reference; no I/O.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

from engine.errors import BacktestError

__all__ = ["MONTH_PERIODS", "decompose_backtest", "tear_sheet"]

MONTH_PERIODS = 21  # the reference's fixed "month" of trading periods
Row = Sequence[tuple[str, float]]


def _finite_map(row: Row) -> dict[str, float]:
    """{symbol: value} with non-finite values as 0.0 (the reference's treatment of weights and returns)."""
    out: dict[str, float] = {}
    for symbol, value in row:
        x = float(value)
        out[symbol] = x if math.isfinite(x) else 0.0
    return out


def decompose_backtest(weights: Sequence[Row], returns: Sequence[Row]) -> dict[str, Any]:
    """Per-period contributions w·r, their running sums, and the trades implied by weights going on and off.

    Pairs weights[t] with returns[t]. A symbol appears in period t when its contribution, weight or previous weight is
    non-zero (sorted by symbol). A trade opens when a weight leaves 0 and closes when it returns to 0 (exit weight =
    the last non-zero weight); open trades end with `exit_index` None. Mismatched lengths give empty lists.
    """
    if len(weights) != len(returns):
        return {"contributions": [], "cumulative_contributions": [], "trades": []}
    contributions: list[list[tuple[str, float]]] = []
    cumulative: list[list[tuple[str, float]]] = []
    running: dict[str, float] = {}
    previous: dict[str, float] = {}
    open_trades: dict[str, dict[str, Any]] = {}
    trades: list[dict[str, Any]] = []
    for t, (w_row, r_row) in enumerate(zip(weights, returns, strict=True)):
        w, r = _finite_map(w_row), _finite_map(r_row)
        row, cum_row = [], []
        for symbol in sorted(w.keys() | r.keys() | previous.keys()):
            weight, prev = w.get(symbol, 0.0), previous.get(symbol, 0.0)
            contribution = weight * r.get(symbol, 0.0)
            if contribution == 0.0 and weight == 0.0 and prev == 0.0:
                continue
            running[symbol] = running.get(symbol, 0.0) + contribution
            row.append((symbol, contribution))
            cum_row.append((symbol, running[symbol]))
            _track_trade(symbol, t, weight, prev, open_trades, trades)
        contributions.append(row)
        cumulative.append(cum_row)
        previous = {s: x for s, x in w.items() if x != 0.0}
    for symbol, trade in open_trades.items():
        trades.append({**trade, "exit_weight": previous.get(symbol, trade["exit_weight"])})
    trades.sort(key=lambda tr: (tr["entry_index"], tr["symbol"]))
    return {"contributions": contributions, "cumulative_contributions": cumulative, "trades": trades}


def _track_trade(symbol: str, t: int, weight: float, prev: float, open_trades: dict[str, dict[str, Any]],
                 closed: list[dict[str, Any]]) -> None:
    if prev == 0.0 and weight != 0.0:
        open_trades[symbol] = {"symbol": symbol, "entry_index": t, "exit_index": None, "entry_weight": weight,
                               "exit_weight": weight}
    elif prev != 0.0 and weight == 0.0 and symbol in open_trades:
        closed.append({**open_trades.pop(symbol), "exit_index": t, "exit_weight": prev})


def _monthly_returns(returns: Sequence[float]) -> list[list[float]]:
    """Compound fixed 21-period chunks (the last one may be shorter) and lay them out 12 per row."""
    months = []
    for start in range(0, len(returns), MONTH_PERIODS):
        growth = 1.0
        for r in returns[start:start + MONTH_PERIODS]:
            growth *= 1.0 + r
        months.append(growth - 1.0)
    return [months[i:i + 12] for i in range(0, len(months), 12)]


def tear_sheet(backtest_result: Mapping[str, Any], rolling_window: int = 63, periods_per_year: float = 252
               ) -> dict[str, Any]:
    """Monthly returns, rolling Sharpe, trade counts and drawdown events of a `backtest_weights` result."""
    for key in ("returns", "equity_curve", "holdings", "symbol_returns"):
        if key not in backtest_result:
            raise BacktestError(f"backtest_result missing {key}")
    if isinstance(rolling_window, bool) or not isinstance(rolling_window, int) or rolling_window < 0:
        raise BacktestError(f"rolling_window must be an integer >= 0, got {rolling_window!r}")
    from engine.portfolio.metrics import drawdown_series, rolling_sharpe

    returns = [float(r) for r in backtest_result["returns"]]
    equity = [float(e) for e in backtest_result["equity_curve"]]
    trades = decompose_backtest(backtest_result["holdings"], backtest_result["symbol_returns"])["trades"]
    open_count = sum(1 for tr in trades if tr["exit_index"] is None)
    events = drawdown_series(equity) if equity else []
    keys = ("drawdown_pct", "underwater_periods", "peak_index", "trough_index", "recovery_index")
    return {
        "monthly_returns": _monthly_returns(returns),
        "rolling_sharpe": [float(x) for x in rolling_sharpe(returns, rolling_window, periods_per_year)],
        "trade_analytics": {"trade_count": len(trades), "open_trade_count": open_count,
                            "closed_trade_count": len(trades) - open_count},
        "drawdown_events": [{k: event[k] for k in keys} for event in events],
    }
