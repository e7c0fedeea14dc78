"""Strategies and the bar-by-bar backtest driver (engine-spec §5.8): Strategy, EqualWeight, run_backtest, sweep.

Per bar: the strategy's weights → `Portfolio.rebalance_simple` → `record_return`, all at that bar's prices. A failing
or malformed strategy is an error naming the bar (the reference printed it and silently liquidated instead).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from engine.errors import BacktestError
from engine.portfolio.cost import CostModel
from engine.portfolio.portfolio import Portfolio, PriceInput, price_map

if TYPE_CHECKING:
    from engine.portfolio.metrics import Metrics

__all__ = ["BacktestResult", "EqualWeight", "Strategy", "StrategyFn", "run_backtest", "sweep_equal_weight"]

Weights = list[tuple[str, float]]
StrategyFn = Callable[[int, dict[str, int], Portfolio], Sequence[tuple[str, float]]]


@runtime_checkable
class Strategy(Protocol):
    """Target weights for one bar; held symbols left out are closed."""

    def compute_weights(self, bar_index: int, prices: Mapping[str, int], portfolio: Portfolio
                        ) -> Sequence[tuple[str, float]]: ...


class EqualWeight:
    """1/N of equity in every symbol priced on the bar (nothing on an empty bar)."""

    def compute_weights(self, bar_index: int, prices: Mapping[str, int], portfolio: Portfolio) -> Weights:
        n = sum(1 for p in prices.values() if p > 0)
        return [(s, 1.0 / n) for s, p in prices.items() if p > 0] if n else []


@dataclass(frozen=True, slots=True)
class BacktestResult:
    """The final portfolio (returns, equity curve) and its metrics (None for an empty series)."""

    portfolio: Portfolio
    metrics: Metrics | None

    def __getitem__(self, key: str) -> Any:
        """Dict-style access (`result["portfolio"]`), as the seed's result dict allowed."""
        if key not in ("portfolio", "metrics"):
            raise KeyError(key)
        return getattr(self, key)


def _weights(strategy: Strategy | StrategyFn, t: int, prices: dict[str, int], portfolio: Portfolio) -> Weights:
    try:
        if isinstance(strategy, Strategy):
            raw = strategy.compute_weights(t, dict(prices), portfolio.copy())
        else:
            raw = strategy(t, dict(prices), portfolio.copy())
    except BacktestError:
        raise
    except Exception as exc:
        raise BacktestError(f"strategy failed: {type(exc).__name__}: {exc}", t) from exc
    if isinstance(raw, Mapping):
        return list(raw.items())
    if not isinstance(raw, list | tuple):
        raise BacktestError(f"strategy must return (symbol, weight) pairs, got {type(raw).__name__}", t)
    return list(raw)


def run_backtest(strategy: Strategy | StrategyFn, price_series: Sequence[PriceInput], initial_cash: int,
                 cost_model: CostModel | None = None, periods_per_year: float = 252.0,
                 risk_free: float = 0.0) -> BacktestResult:
    """Run `strategy` over `price_series` (one {symbol: cents} map or pair list per bar).

    The strategy gets (bar index, the bar's prices, a copy of the portfolio) and returns (symbol, weight) pairs or a
    {symbol: weight} map.
    """
    portfolio = Portfolio(initial_cash, cost_model)
    for t, bar in enumerate(price_series):
        try:
            prices = price_map(bar)
            portfolio.rebalance_simple(_weights(strategy, t, prices, portfolio), prices)
            portfolio.record_return(prices)
        except BacktestError as exc:
            if exc.period is not None:
                raise
            raise BacktestError(str(exc), t) from exc
    return BacktestResult(portfolio, portfolio.compute_metrics(periods_per_year, risk_free))


def sweep_equal_weight(n_params: int, price_series: Sequence[PriceInput], initial_cash: int,
                       periods_per_year: float = 12.0, risk_free: float = 0.0) -> list[Metrics | None]:
    """The reference's sweep: `n_params` zero-cost `EqualWeight` backtests of `price_series`, metrics in order.

    Every parameter runs the same deterministic backtest, so it runs once and its (immutable) metrics fill the
    list: the same values the reference computes n times in parallel. `n_params` < 0 → OverflowError, as there.
    """
    if type(n_params) is not int:
        raise TypeError(f"n_params must be an int, got {type(n_params).__name__}")
    if n_params < 0:
        raise OverflowError("can't convert negative int to unsigned")
    if n_params == 0:
        return []
    metrics = run_backtest(EqualWeight(), price_series, initial_cash, None, periods_per_year, risk_free).metrics
    return [metrics] * n_params
