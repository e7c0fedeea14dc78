"""One backtest of aligned schedules in either mode, reported in dollars per period: the `nanobook backtest` job.

Owns mode dispatch (float `backtest_arrays` / reference `backtest_weights` in cents) and the shape of the report;
it reads no files (schedules.py does) and renders nothing (the CLI does).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal
from typing import Any, Literal

import numpy as np

from configs.errors import InputError
from engine.errors import BacktestError
from engine.portfolio.schedules import AlignedSchedules

Mode = Literal["float", "reference"]
STOP_KEYS = ("fixed_stop_pct", "trailing_stop_pct", "atr_multiple", "atr_period")


@dataclass(frozen=True)
class BacktestOptions:
    """Knobs shared by both modes. Reference mode needs whole cents of cash and whole basis points of cost."""

    mode: Mode = "float"
    initial_cash: float = 1_000_000.0
    cost_bps: float = 0.0
    periods_per_year: float = 252.0
    risk_free: float = 0.0
    stop_cfg: Mapping[str, float] | None = None


@dataclass(frozen=True)
class StopEvent:
    """A stop exit: the period's date, symbol, breached level and the close it sold at (dollars)."""

    date: str
    symbol: str
    trigger_price: float
    exit_price: float
    reason: str


@dataclass(frozen=True)
class BacktestReport:
    """Per-period equity and returns (dollars), metrics and stop events of one run."""

    mode: Mode
    dates: tuple[str, ...]
    symbols: tuple[str, ...]
    initial_cash: float
    cost_bps: float
    equity: tuple[float, ...]
    returns: tuple[float, ...]
    metrics: dict[str, float | int | None]
    rebalances: int
    stop_events: tuple[StopEvent, ...] = field(default=())

    @property
    def final_equity(self) -> float:
        """Equity after the last period."""
        return self.equity[-1] if self.equity else self.initial_cash


def run_backtest(aligned: AlignedSchedules, options: BacktestOptions) -> BacktestReport:
    """Run one backtest in the chosen mode.

    Float mode marks every price date and holds between rebalance rows; reference mode (the seed's integer-cents
    rules) has one period per rebalance row, as the reference package has no "hold".
    """
    if options.mode == "reference":
        return _run_reference(aligned, options)
    return _run_float(aligned, options)


def _run_float(aligned: AlignedSchedules, options: BacktestOptions) -> BacktestReport:
    from engine.portfolio.arrays import backtest_arrays

    _check_long_only(aligned)

    result = backtest_arrays(aligned.weights, aligned.prices, initial_cash=options.initial_cash,
                             cost_bps=options.cost_bps, periods_per_year=options.periods_per_year,
                             stop_cfg=dict(options.stop_cfg) if options.stop_cfg else None)
    metrics = _metrics(result.returns, options)
    events = tuple(StopEvent(aligned.dates[e.period_index], aligned.symbols[e.column], float(e.trigger_price),
                             float(e.exit_price), e.reason) for e in result.stop_exits)
    return BacktestReport("float", aligned.dates, aligned.symbols, options.initial_cash, options.cost_bps,
                          tuple(float(x) for x in result.equity), tuple(float(x) for x in result.returns),
                          metrics, result.rebalances, events)


def _check_long_only(aligned: AlignedSchedules) -> None:
    """Name the date and symbol of a short weight (the array layer can only name indices)."""
    short = np.argwhere(aligned.weights < 0)  # NaN rows (holds) compare False
    if short.size:
        t, j = (int(x) for x in short[0])
        weight = float(aligned.weights[t, j])
        raise BacktestError(f"{aligned.dates[t]}: weight of {aligned.symbols[j]} is {weight:g} < 0: float mode is "
                            "long-only (reference mode allows short positions)")


def _run_reference(aligned: AlignedSchedules, options: BacktestOptions) -> BacktestReport:
    from engine.portfolio.reference import backtest_weights_arrays

    cash_cents, bps = _reference_scalars(options)
    rows = aligned.rebalance_rows
    weights, cents = reference_inputs(aligned)
    out = backtest_weights_arrays(aligned.symbols, weights, cents, cash_cents, bps,
                                  periods_per_year=options.periods_per_year, risk_free=options.risk_free,
                                  stop_cfg=dict(options.stop_cfg) if options.stop_cfg else None)
    dates = tuple(aligned.dates[i] for i in rows)
    equity = tuple(int(c) / 100 for c in out["equity_curve"][1:])
    events = tuple(StopEvent(dates[int(e["period_index"])], str(e["symbol"]), int(e["trigger_price"]) / 100,
                             int(e["exit_price"]) / 100, str(e["reason"])) for e in out.get("stop_events", []))
    returns = tuple(float(r) for r in out["returns"])
    return BacktestReport("reference", dates, aligned.symbols, cash_cents / 100, float(bps), equity, returns,
                          _metrics(np.asarray(returns, dtype=float), options), len(rows), events)


def reference_inputs(aligned: AlignedSchedules) -> tuple[np.ndarray[Any, Any], np.ndarray[Any, Any]]:
    """Reference-mode arrays per rebalance row: weights and closes in whole cents (half up, as quoted; 0 = no price).

    A zero weight becomes NaN (not listed), so a holding it ends closes first, as in the weight-list form.
    """
    rows = aligned.rebalance_rows
    weights = aligned.weights[rows].copy()
    weights[weights == 0.0] = np.nan
    prices = aligned.prices[rows]
    cents = np.zeros(prices.shape, dtype=np.int64)
    finite = np.isfinite(prices)
    cents[finite] = [_cents(p) for p in prices[finite]]
    return weights, cents


def _reference_scalars(options: BacktestOptions) -> tuple[int, int]:
    cash = Decimal(repr(options.initial_cash)) * 100
    if cash != cash.to_integral_value() or cash <= 0:
        raise InputError(f"reference mode needs initial cash in whole cents > 0, got {options.initial_cash}")
    if not float(options.cost_bps).is_integer() or not 0 <= options.cost_bps <= 10_000:
        raise InputError(f"reference mode needs whole basis points of cost in 0..10000, got {options.cost_bps}")
    return int(cash), int(options.cost_bps)


def _cents(price: float) -> int:
    return int((Decimal(repr(float(price))) * 100).quantize(Decimal(1), rounding=ROUND_HALF_UP))


def _metrics(returns: Sequence[float] | np.ndarray[Any, Any], options: BacktestOptions
             ) -> dict[str, float | int | None]:
    from engine.portfolio.metrics import compute_metrics

    if len(returns) == 0:
        return {}
    metrics = compute_metrics(np.asarray(returns, dtype=float), options.periods_per_year, options.risk_free)
    return {k: (None if isinstance(v, float) and not math.isfinite(v) else v) for k, v in metrics.to_dict().items()}
