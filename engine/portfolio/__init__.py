"""Portfolio simulator and weight-schedule backtests (reference cents mode and float mode), metrics, sweeps.

Stable surfaces (DESIGN §4): `backtest_weights`, `backtest_arrays`, `compute_metrics`. Never imports the CLI or a
broker SDK; Dask is imported only inside a Dask sweep.
"""

from engine.errors import BacktestError
from engine.portfolio.arrays import ArrayBacktest, BacktestInputError, StopExit, backtest_arrays
from engine.portfolio.attribution import decompose_backtest, tear_sheet
from engine.portfolio.cost import CostModel
from engine.portfolio.metrics import (
    Metrics,
    compute_metrics,
    cvar,
    drawdown_series,
    rolling_max_drawdown,
    rolling_sharpe,
    rolling_volatility,
    sortino,
)
from engine.portfolio.portfolio import Portfolio
from engine.portfolio.position import Position
from engine.portfolio.reference import backtest_weights, backtest_weights_arrays
from engine.portfolio.stops import STOP_KEYS, StopConfig, parse_stop_cfg
from engine.portfolio.strategy import BacktestResult, EqualWeight, Strategy, run_backtest, sweep_equal_weight
from engine.portfolio.sweep import (
    DASK_HINT,
    BacktestSummary,
    FloatBacktestTask,
    SweepError,
    SweepPoint,
    every_n,
    grid,
    sweep,
    sweep_float,
)

__all__ = [
    "DASK_HINT",
    "STOP_KEYS",
    "ArrayBacktest",
    "BacktestError",
    "BacktestInputError",
    "BacktestResult",
    "BacktestSummary",
    "CostModel",
    "EqualWeight",
    "FloatBacktestTask",
    "Metrics",
    "Portfolio",
    "Position",
    "StopConfig",
    "StopExit",
    "Strategy",
    "SweepError",
    "SweepPoint",
    "backtest_arrays",
    "backtest_weights",
    "backtest_weights_arrays",
    "compute_metrics",
    "cvar",
    "decompose_backtest",
    "drawdown_series",
    "every_n",
    "grid",
    "parse_stop_cfg",
    "rolling_max_drawdown",
    "rolling_sharpe",
    "rolling_volatility",
    "run_backtest",
    "sortino",
    "sweep",
    "sweep_equal_weight",
    "sweep_float",
    "tear_sheet",
]
