"""Float-mode weight-schedule backtest on numpy arrays (`backtest_arrays`), conventions of research/perf.md §7.

Owns input validation, the vectorised no-stop simulation and the per-period loop used with stops.
It does no I/O and never rounds to cents or whole shares (that is `backtest_weights`, the reference mode).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Final

import numpy as np
from numpy.typing import ArrayLike, NDArray

from engine.errors import BacktestError
from engine.portfolio.metrics import Metrics, compute_metrics
from engine.portfolio.stops import StopBook, StopConfig, parse_stop_cfg

__all__ = ["ArrayBacktest", "BacktestInputError", "StopExit", "backtest_arrays"]

FloatArray = NDArray[np.float64]
IntArray = NDArray[np.intp]

MAX_COST_BPS: Final = 10_000.0
WEIGHT_SUM_SLACK: Final = 1e-9  # Σw may exceed 1 by float noise (weights that were normalised to 1.0)
_TAU_TOL: Final = 1e-15  # fixed-point convergence on turnover (a fraction of equity, O(1))
_TAU_CHECK: Final = 1e-13  # linearised vs exact τ at the solution: equal up to rounding
_MAX_SWEEPS: Final = 200
_MAX_SIGN_ROUNDS: Final = 8


class BacktestInputError(BacktestError):
    """backtest_arrays refused its inputs; the message names the offending period/symbol and what to change."""


@dataclass(frozen=True)
class StopExit:
    """One stop-triggered exit: period t, symbol column, the level that was breached, the bar price, the rule."""

    period_index: int
    column: int
    trigger_price: float
    exit_price: float
    reason: str


@dataclass(frozen=True, eq=False)
class ArrayBacktest:
    """Result of `backtest_arrays`. Arrays are read-only; index t is period t (after that period's trades).

    equity[t] = cash[t] + Σ shares[t]·prices[t]; returns[t] = equity[t]/equity[t-1] − 1 with equity[-1] =
    initial_cash; costs[t] = trading costs paid in period t (rebalance and stop exits); turnover[t] = traded
    notional / pre-trade equity at the rebalance of period t (0 elsewhere).
    """

    equity: FloatArray
    returns: FloatArray
    shares: FloatArray
    cash: FloatArray
    metrics: Metrics | None
    costs: FloatArray
    turnover: FloatArray
    initial_cash: float
    cost_bps: float
    periods_per_year: float
    rebalances: int
    stop_exits: tuple[StopExit, ...] = field(default=())

    @property
    def final_equity(self) -> float:
        """Equity after the last period (initial_cash when there are no periods)."""
        return float(self.equity[-1]) if self.equity.size else self.initial_cash


@dataclass(frozen=True)
class _Inputs:
    """Validated inputs: weights with all-NaN hold rows, prices with unneeded bad cells replaced by 1.0."""

    weights: FloatArray
    prices: FloatArray
    rows: IntArray  # indices of the rebalance periods, ascending


# ---------------------------------------------------------------- public entry point


def backtest_arrays(weights: ArrayLike, prices: ArrayLike, *, initial_cash: float = 1_000_000.0,
                    cost_bps: float = 0.0, periods_per_year: float = 252.0,
                    stop_cfg: Mapping[str, Any] | None = None) -> ArrayBacktest:
    """Simulate a long-only weight schedule on close prices; float shares, costs on traded notional.

    `weights[T, N]`: a row of target weights (fractions of pre-trade equity, each ≥ 0, Σ ≤ 1) rebalances at that
    period's close; a row of all NaN holds the shares. A row mixing NaN and numbers is refused (write 0.0 to close
    a position, or NaN across the whole row to hold). `prices[T, N]` must be finite and > 0 wherever a position is
    held, opened or closed; elsewhere (a symbol not yet listed, say) NaN is fine. Sells and buys settle together
    at the same close, costs are `cost_bps`/1e4 of each order's notional, paid from cash on top of the target
    (so with Σw = 1 cash ends a rebalance short by its costs; vectorbt would trim the last buy instead, which is
    why parity runs use Σw < 1).
    `stop_cfg` takes the keys of `backtest_weights` (fixed_stop_pct, trailing_stop_pct, atr_multiple,
    atr_period); a breached stop sells the position at that period's close and it stays out until the next
    rebalance row asks for it again.
    """
    cash0, bps, ppy = _check_scalars(initial_cash, cost_bps, periods_per_year)
    inputs = _validate(weights, prices)
    stops = _parse_stops(stop_cfg)
    if stops is None:
        shares, cash, costs, turnover = _simulate_vectorised(inputs, cash0, bps / 1e4)
        exits: tuple[StopExit, ...] = ()
    else:
        shares, cash, costs, turnover, exits = _simulate_loop(inputs, cash0, bps / 1e4, stops)
    equity = cash + np.einsum("ij,ij->i", shares, inputs.prices) if shares.size else cash.copy()
    _check_solvent(equity, bps)
    returns = _returns(equity, cash0)
    return _freeze(ArrayBacktest(equity=equity, returns=returns, shares=shares, cash=cash,
                                 metrics=_metrics(returns, ppy), costs=costs, turnover=turnover,
                                 initial_cash=cash0, cost_bps=bps, periods_per_year=ppy,
                                 rebalances=int(inputs.rows.size), stop_exits=exits))


# ---------------------------------------------------------------- validation


def _check_scalars(initial_cash: float, cost_bps: float, periods_per_year: float) -> tuple[float, float, float]:
    values = {"initial_cash": initial_cash, "cost_bps": cost_bps, "periods_per_year": periods_per_year}
    for name, value in values.items():
        if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
            raise BacktestInputError(f"{name} must be a number, got {type(value).__name__}")
        if not math.isfinite(float(value)):
            raise BacktestInputError(f"{name} must be finite, got {value!r}")
    if initial_cash <= 0:
        raise BacktestInputError(f"initial_cash must be > 0, got {initial_cash!r}")
    if not 0 <= cost_bps <= MAX_COST_BPS:
        raise BacktestInputError(f"cost_bps must be in [0, {MAX_COST_BPS:g}], got {cost_bps!r}")
    if periods_per_year <= 0:
        raise BacktestInputError(f"periods_per_year must be > 0, got {periods_per_year!r}")
    return float(initial_cash), float(cost_bps), float(periods_per_year)


def _as_matrix(value: ArrayLike, name: str) -> FloatArray:
    try:
        array = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise BacktestInputError(f"{name} must be a numeric [T, N] array: {exc}") from None
    if array.ndim != 2:
        raise BacktestInputError(f"{name} must be 2-D [periods, symbols], got shape {array.shape}")
    return array


def _validate(weights: ArrayLike, prices: ArrayLike) -> _Inputs:
    w = _as_matrix(weights, "weights")
    p = _as_matrix(prices, "prices")
    if w.shape != p.shape:
        raise BacktestInputError(f"weights {w.shape} and prices {p.shape} must have the same shape [T, N]")
    rows = _rebalance_rows(w)
    _check_weight_values(w, rows)
    return _Inputs(weights=w, prices=_check_prices(w, p, rows), rows=rows)


def _rebalance_rows(w: FloatArray) -> IntArray:
    if w.shape[1] == 0:
        return np.arange(0, dtype=np.intp)
    # A row sum is finite iff the row is; only the other rows need the cell-by-cell look.
    suspect = np.flatnonzero(~np.isfinite(_row_sums(w)))
    if suspect.size == 0:
        return np.arange(w.shape[0], dtype=np.intp)
    nan = np.isnan(w[suspect])
    n_nan = nan.sum(axis=1)
    partial = np.flatnonzero((n_nan > 0) & (n_nan < w.shape[1]))
    if partial.size:
        t = int(suspect[partial[0]])
        cols = np.flatnonzero(nan[partial[0]])[:5].tolist()
        raise BacktestInputError(
            f"weights row {t} mixes NaN (columns {cols}) with numbers: a row is either all NaN (hold every "
            f"position, no rebalance) or fully given (write 0.0 to close a position); {partial.size} such row(s)")
    keep = np.ones(w.shape[0], dtype=bool)
    keep[suspect[n_nan == w.shape[1]]] = False
    return np.flatnonzero(keep).astype(np.intp)


def _check_weight_values(w: FloatArray, rows: IntArray) -> None:
    wk = _take(w, rows)
    if wk.size and not (wk.min() >= 0 and wk.max() < math.inf):  # NaN fails the first test
        bad = ~np.isfinite(wk)
        if bad.any():
            r, c = np.argwhere(bad)[0]
            raise BacktestInputError(f"weights[{rows[r]}, {c}] is {float(wk[r, c])!r}: weights must be finite "
                                     "(a row of all NaN holds)")
        r, c = np.argwhere(wk < 0)[0]
        raise BacktestInputError(f"weights[{rows[r]}, {c}] = {float(wk[r, c])!r} < 0: float mode is long-only "
                                 "(use backtest_weights for short positions)")
    sums = _row_sums(wk)
    over = np.flatnonzero(sums > 1.0 + WEIGHT_SUM_SLACK)
    if over.size:
        r = int(over[0])
        raise BacktestInputError(f"weights row {rows[r]} sums to {sums[r]:.12g} > 1: float mode does not use "
                                 "leverage (scale the row so the weights sum to at most 1)")


def _take(matrix: FloatArray, rows: IntArray) -> FloatArray:
    """The rebalance rows of a [T, N] matrix (a view, not a copy, when every period rebalances)."""
    return matrix if rows.size == matrix.shape[0] else matrix[rows]


def _check_prices(w: FloatArray, p: FloatArray, rows: IntArray) -> FloatArray:
    if p.size == 0 or (p.min() > 0 and p.max() < math.inf):  # NaN fails the first test
        return p
    good = np.isfinite(p) & (p > 0)
    needed = _price_needed(w, rows)
    bad = needed & ~good
    if bad.any():
        t, c = np.argwhere(bad)[0]
        raise BacktestInputError(
            f"prices[{t}, {c}] is {p[t, c]!r}: prices must be finite and > 0 where a position is held or traded "
            f"({int(bad.sum())} such cell(s))")
    # Cells nobody trades or holds take a neutral 1.0 so that 0 shares × price stays 0 (NaN × 0 would be NaN).
    return np.where(good, p, 1.0)


def _price_needed(w: FloatArray, rows: IntArray) -> NDArray[np.bool_]:
    """True where the schedule holds a position after period t's trades, or trades it at t (from > 0 or to > 0)."""
    t_count, n = w.shape
    held = np.zeros((t_count, n), dtype=bool)
    if rows.size == 0:
        return held
    last = np.searchsorted(rows, np.arange(t_count), side="right") - 1
    positive = w[rows] > 0
    live = last >= 0
    held[live] = positive[last[live]]
    prev_held = np.zeros_like(held)
    prev_held[1:] = held[:-1]
    is_row = np.zeros(t_count, dtype=bool)
    is_row[rows] = True
    return held | (prev_held & is_row[:, None])


# ---------------------------------------------------------------- vectorised simulation (no stops)


def _simulate_vectorised(inputs: _Inputs, cash0: float, fee: float
                         ) -> tuple[FloatArray, FloatArray, FloatArray, FloatArray]:
    """Closed form per rebalance; only the turnover recursion is solved, by a vectorised fixed point (§8)."""
    w, p, rows = inputs.weights, inputs.prices, inputs.rows
    t_count, n = w.shape
    if rows.size == 0:
        zeros = np.zeros(t_count)
        return np.zeros((t_count, n)), np.full(t_count, cash0), zeros, zeros.copy()
    wk = _take(w, rows)
    pk = _take(p, rows)
    tau, value = _solve_turnover(wk, pk, cash0, fee)
    if tau is None or value is None:  # no contraction (huge costs): the exact per-rebalance loop
        tau, value = _turnover_loop(wk, pk, cash0, fee)
    cost = fee * tau * value
    shares_k = np.divide(value[:, None], pk)
    np.multiply(shares_k, wk, out=shares_k)
    cash_k = value * (1.0 - _row_sums(wk)) - cost
    return _expand(rows, t_count, shares_k, cash_k, cost, tau, cash0)


def _row_sums(matrix: FloatArray) -> FloatArray:
    """Σ over each row (a BLAS mat-vec: several times faster than .sum(axis=1) on [T, N])."""
    return matrix @ np.ones(matrix.shape[1])


def _drift(wk: FloatArray, pk: FloatArray) -> tuple[FloatArray, FloatArray]:
    """a[k] = w[k−1]·p[k]/p[k−1] (last book's value per unit of pre-trade equity then) and gross growth G[k]."""
    a = np.divide(pk[1:], pk[:-1])
    np.multiply(a, wk[:-1], out=a)
    growth = (1.0 - _row_sums(wk[:-1])) + _row_sums(a)
    return a, growth


def _solve_turnover(wk: FloatArray, pk: FloatArray, cash0: float, fee: float
                    ) -> tuple[FloatArray | None, FloatArray | None]:
    """Turnover τ[k] = Σ|w[k] − a[k]/D[k]|, D[k] = G[k] − fee·τ[k−1]; pre-trade equity V[k] = V[k−1]·D[k].

    τ[k] depends on the past only through fee·τ[k−1], a contraction, so sweeps over all k at once converge like
    fee^sweeps. The sweeps use τ linearised around the signs s of w − a/D at the current D (exact while no sign
    flips): τ = Σs·w − (Σs·a)/D, so each sweep costs O(K), not O(K·N). The exact τ is then recomputed at the
    solution and the signs refreshed until both agree. Returns (None, None) when it does not settle (the caller
    then loops). [K, N] temporaries are reused: allocating them is a large part of the cost at this size.
    """
    k_count = wk.shape[0]
    tau = np.empty(k_count)
    tau[0] = wk[0].sum()
    if k_count == 1:
        return tau, np.array([cash0])
    a, growth = _drift(wk, pk)
    rest = wk[1:]
    gap, scratch = np.empty_like(a), np.empty_like(a)

    def exact_at(denom: FloatArray) -> FloatArray:
        np.divide(a, denom[:, None], out=gap)
        np.subtract(rest, gap, out=gap)
        return _row_sums(np.abs(gap, out=scratch))

    tau[1:] = exact_at(growth)  # exact when fee == 0
    if fee == 0.0:
        return tau, _chain(cash0, growth)
    denom = growth - fee * tau[:-1]  # one plain sweep first: the signs below are then nearly always final
    for _ in range(_MAX_SIGN_ROUNDS):
        exact = exact_at(denom)
        if np.abs(exact - tau[1:]).max() <= _TAU_CHECK:
            tau[1:] = exact
            return tau, _chain(cash0, growth - fee * tau[:-1])
        tau[1:] = exact
        lin_w = _row_sums(np.multiply(np.sign(gap, out=scratch), rest, out=scratch))
        solved = _sweep(tau, growth, lin_w, (lin_w - exact) * denom, fee)  # Σs·a = (Σs·w − Σ|gap|)·D
        if solved is None:
            return None, None
        denom = solved
    return None, None


def _chain(cash0: float, factors: FloatArray) -> FloatArray:
    """Pre-trade equity at each rebalance: cash0, then × each period's factor."""
    value: FloatArray = np.empty(factors.size + 1)
    value[0] = cash0
    np.cumprod(factors, out=value[1:])
    value[1:] *= cash0
    return value


def _sweep(tau: FloatArray, growth: FloatArray, lin_w: FloatArray, lin_a: FloatArray, fee: float
           ) -> FloatArray | None:
    """Iterate τ[1:] = lin_w − lin_a/D, D = G − fee·τ[:-1] to convergence (updates tau); the final D or None."""
    denom = growth - fee * tau[:-1]
    for _ in range(_MAX_SWEEPS):
        new = lin_w - lin_a / denom
        change = float(np.abs(new - tau[1:]).max())
        tau[1:] = new
        denom = growth - fee * tau[:-1]
        if not math.isfinite(change) or (denom <= 0).any():
            return None
        if change <= _TAU_TOL:
            return denom
    return None


def _turnover_loop(wk: FloatArray, pk: FloatArray, cash0: float, fee: float) -> tuple[FloatArray, FloatArray]:
    """The same recursion, one rebalance at a time (fallback when the fixed point does not settle)."""
    k_count = wk.shape[0]
    tau = np.empty(k_count)
    value = np.empty(k_count)
    tau[0], value[0] = wk[0].sum(), cash0
    a, growth = _drift(wk, pk) if k_count > 1 else (np.zeros((0, wk.shape[1])), np.zeros(0))
    for k in range(1, k_count):
        denom = growth[k - 1] - fee * tau[k - 1]
        value[k] = value[k - 1] * denom
        tau[k] = np.abs(wk[k] - a[k - 1] / denom).sum()
    return tau, value


def _expand(rows: IntArray, t_count: int, shares_k: FloatArray, cash_k: FloatArray, cost_k: FloatArray,
            tau_k: FloatArray, cash0: float) -> tuple[FloatArray, FloatArray, FloatArray, FloatArray]:
    """Per-rebalance state → per-period arrays: shares and cash carry forward on hold rows."""
    n = shares_k.shape[1]
    costs = np.zeros(t_count)
    turnover = np.zeros(t_count)
    costs[rows] = cost_k
    turnover[rows] = tau_k
    if rows.size == t_count:
        return shares_k, cash_k, costs, turnover
    last = np.searchsorted(rows, np.arange(t_count), side="right") - 1
    start = int(rows[0])
    shares = np.empty((t_count, n))
    cash = np.empty(t_count)
    shares[:start] = 0.0
    cash[:start] = cash0
    shares[start:] = shares_k[last[start:]]
    cash[start:] = cash_k[last[start:]]
    return shares, cash, costs, turnover


# ---------------------------------------------------------------- per-period loop (stops)


def _parse_stops(stop_cfg: Mapping[str, Any] | None) -> StopConfig | None:
    """engine.portfolio.stops rules (BacktestError on a bad key or value); None when no rule is on."""
    return parse_stop_cfg(stop_cfg)


def _simulate_loop(inputs: _Inputs, cash0: float, fee: float, cfg: StopConfig
                   ) -> tuple[FloatArray, FloatArray, FloatArray, FloatArray, tuple[StopExit, ...]]:
    """Period by period: rebalance rows trade to target, then every open position meets its stop at the close.

    Levels are not rounded (float mode has no tick); an exit sells the whole position at the bar price and
    pays the same cost rate. Trackers are keyed by column; a stopped-out position waits for the next
    rebalance row.
    """
    w, p = inputs.weights, inputs.prices
    t_count, n = w.shape
    names = [str(i) for i in range(n)]
    is_row = np.zeros(t_count, dtype=bool)
    is_row[inputs.rows] = True
    shares_out, cash_out = np.zeros((t_count, n)), np.empty(t_count)
    costs, turnover = np.zeros(t_count), np.zeros(t_count)
    book = StopBook(cfg)
    exits: list[StopExit] = []
    shares, cash = np.zeros(n), cash0
    for t in range(t_count):
        price = p[t]
        if is_row[t]:
            value = cash + float(shares @ price)
            target = w[t] * (value / price)
            delta = (target - shares) * price
            traded = float(np.abs(delta).sum())
            costs[t] = fee * traded
            turnover[t] = traded / value
            cash -= float(delta.sum()) + costs[t]
            shares = target
        held = np.flatnonzero(shares > 0).tolist()
        hits = book.step([(names[i], 1) for i in held], {names[i]: float(price[i]) for i in held})
        for hit in hits:
            i = int(hit.symbol)
            proceeds = float(shares[i] * price[i])
            costs[t] += fee * proceeds
            cash += proceeds - fee * proceeds
            shares[i] = 0.0
            exits.append(StopExit(t, i, hit.trigger_price, hit.exit_price, hit.reason))
        shares_out[t] = shares
        cash_out[t] = cash
    return shares_out, cash_out, costs, turnover, tuple(exits)


# ---------------------------------------------------------------- outputs


def _check_solvent(equity: FloatArray, bps: float) -> None:
    if equity.size and not equity.min() > 0:
        t = int(np.flatnonzero(~(equity > 0))[0])
        raise BacktestInputError(f"equity fell to {equity[t]:.6g} at period {t}: costs of {bps:g} bps consumed "
                                 "the portfolio (lower cost_bps or the turnover)")


def _returns(equity: FloatArray, cash0: float) -> FloatArray:
    if equity.size == 0:
        return np.zeros(0)
    previous = np.empty_like(equity)
    previous[0] = cash0
    previous[1:] = equity[:-1]
    return equity / previous - 1.0


def _metrics(returns: FloatArray, periods_per_year: float) -> Metrics | None:
    if returns.size == 0:
        return None
    return compute_metrics(returns, periods_per_year=periods_per_year, risk_free=0.0)


def _freeze(result: ArrayBacktest) -> ArrayBacktest:
    for array in (result.equity, result.returns, result.shares, result.cash, result.costs, result.turnover):
        array.flags.writeable = False
    return result
