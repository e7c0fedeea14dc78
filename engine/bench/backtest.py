"""Backtest benchmarks (perf.md §7–8): float mode vs warm vectorbt, reference mode vs `nanobook.backtest_weights`.

Seeded 2520×100 GBM closes, softmax-of-AR(1) weights (gross 0.98), monthly or daily, 10 bps; each pair timed
interleaved in one process, with a ratio and an agreement check. Returns data only.
"""

from __future__ import annotations

import gc
import importlib
from collections.abc import Callable
from dataclasses import dataclass
from time import perf_counter
from typing import Any, Final

import numpy as np
from numpy.typing import NDArray

from engine.bench.pipeline import PipelineSample
from engine.bench.workloads import DEFAULT_SEED

__all__ = [
    "BACKTEST_WORKLOADS",
    "BacktestData",
    "make_backtest_data",
    "run_backtest_bench",
]

BACKTEST_MONTHLY: Final = "backtest_monthly"
BACKTEST_DAILY: Final = "backtest_daily"
BACKTEST_WORKLOADS: Final = (BACKTEST_MONTHLY, BACKTEST_DAILY)
EVERY: Final[dict[str, int]] = {BACKTEST_MONTHLY: 21, BACKTEST_DAILY: 1}
SIZES: Final[dict[bool, tuple[int, int]]] = {False: (2520, 100), True: (252, 20)}  # (days, symbols) by --quick
COST_BPS: Final = 10
INITIAL_CASH: Final = 1_000_000.0
GROSS: Final = 0.98
FLOAT, VECTORBT, REFERENCE, NANOBOOK = "float", "vectorbt", "reference", "nanobook"
SAMPLE_S: Final = 0.02
MAX_INNER: Final = 50
FLOAT_TOLERANCE: Final = 1e-9  # max relative difference of the equity curves, float mode vs vectorbt
Progress = Callable[[str], None]
FloatArray = NDArray[np.float64]


@dataclass(frozen=True)
class BacktestData:
    """One workload's inputs: closes in dollars (whole cents) and the weight schedule (NaN rows = hold)."""

    name: str
    prices: FloatArray
    weights: FloatArray
    symbols: tuple[str, ...]

    @property
    def rows(self) -> NDArray[np.intp]:
        """The rebalance periods."""
        return np.flatnonzero(~np.isnan(self.weights[:, 0]))


def make_backtest_data(name: str, days: int, symbols: int, seed: int = DEFAULT_SEED) -> BacktestData:
    """Seeded GBM closes rounded to cents and softmax-of-AR(1) weights at gross 0.98, every EVERY[name] days."""
    rng = np.random.default_rng(seed)
    log_returns = rng.normal(0.0003, 0.015, (days, symbols))
    prices = np.round(rng.uniform(20.0, 300.0, symbols) * np.exp(np.cumsum(log_returns, axis=0)), 2)
    prices = np.maximum(prices, 0.01)
    shocks = rng.normal(0.0, 1.0, (days, symbols))
    scores = np.empty_like(shocks)
    scores[0] = shocks[0]
    for t in range(1, days):
        scores[t] = 0.9 * scores[t - 1] + shocks[t]
    raw = np.exp(scores - scores.max(axis=1, keepdims=True))
    weights = GROSS * raw / raw.sum(axis=1, keepdims=True)
    weights[np.arange(days) % EVERY[name] != 0] = np.nan
    return BacktestData(name, prices, weights, tuple(f"S{i:03d}" for i in range(symbols)))


# ---------------------------------------------------------------- the four implementations


def run_float(data: BacktestData) -> FloatArray:
    """Ours, float mode: equity curve (metrics computed too, as part of the call)."""
    from engine.portfolio.arrays import backtest_arrays

    return backtest_arrays(data.weights, data.prices, initial_cash=INITIAL_CASH, cost_bps=float(COST_BPS)).equity


def vectorbt_runner(data: BacktestData) -> Callable[[], FloatArray]:
    """vectorbt 1.2.0 `from_orders` with the perf.md §7 parity settings; inputs wrapped as DataFrames up front."""
    vbt = importlib.import_module("vectorbt")
    pd = importlib.import_module("pandas")
    close = pd.DataFrame(data.prices, columns=list(data.symbols))
    size = pd.DataFrame(data.weights, columns=list(data.symbols))

    def run() -> FloatArray:
        pf = vbt.Portfolio.from_orders(close, size, size_type="targetpercent", group_by=True, cash_sharing=True,
                                       call_seq="auto", fees=COST_BPS / 1e4, init_cash=INITIAL_CASH, freq="1D")
        return np.asarray(pf.value().to_numpy(), dtype=np.float64)

    return run


def _cents(data: BacktestData) -> list[list[int]]:
    cents: list[list[int]] = np.rint(data.prices[data.rows] * 100).astype(np.int64).tolist()
    return cents


def _weight_pairs(data: BacktestData) -> list[list[tuple[str, float]]]:
    return [list(zip(data.symbols, row, strict=True)) for row in data.weights[data.rows].tolist()]


def run_reference(data: BacktestData) -> list[int]:
    """Ours, reference (integer cents) mode from the same arrays, including converting them to cents.

    One period per rebalance row; `backtest_weights_arrays` has the rules and result dict of `backtest_weights`.
    """
    from engine.portfolio.reference import backtest_weights_arrays

    rows = data.rows
    cents = np.rint(data.prices[rows] * 100).astype(np.int64)
    out = backtest_weights_arrays(data.symbols, data.weights[rows], cents, int(INITIAL_CASH * 100), COST_BPS)
    return [int(x) for x in out["equity_curve"]]


def run_nanobook(data: BacktestData) -> list[int]:
    """The reference package, including building its inputs (pairs of (symbol, BarPrices))."""
    nb: Any = importlib.import_module("nanobook")
    bar = nb.BarPrices
    prices = [[(s, bar(c, c, c, c)) for s, c in zip(data.symbols, row, strict=True)] for row in _cents(data)]
    out = nb.backtest_weights(_weight_pairs(data), prices, int(INITIAL_CASH * 100),
                              nb.CostModel(commission_bps=float(COST_BPS)), nb.FillPolicy.SignalBarClose)
    return [int(x) for x in out["equity_curve"]]


# ---------------------------------------------------------------- timing


def _time(fn: Callable[[], Any], inner: int = 1) -> tuple[float, Any]:
    """Seconds per call over `inner` back-to-back calls (after a gc.collect()), and the last output."""
    gc.collect()
    t0 = perf_counter()
    for _ in range(inner):
        out = fn()
    return (perf_counter() - t0) / inner, out


def _inner(first_call_s: float) -> int:
    """Calls per sample so that a sample lasts about SAMPLE_S (sub-millisecond calls are otherwise all noise)."""
    return max(1, min(MAX_INNER, int(SAMPLE_S / max(first_call_s, 1e-6))))


def _pair(data: BacktestData, ours: tuple[str, Callable[[], Any]], peer_name: str,
          make_peer: Callable[[], Callable[[], Any]], repeat: int, progress: Progress | None
          ) -> tuple[PipelineSample, PipelineSample, Any, Any]:
    """Warm up both, then `repeat` interleaved timed calls; returns the two samples and their last outputs."""
    size = int(data.prices.shape[0])
    mine = PipelineSample(data.name, ours[0], size)
    peer = PipelineSample(data.name, peer_name, size)
    out_mine = out_peer = None
    peer_fn: Callable[[], Any] | None = None
    try:
        peer_fn = make_peer()
        peer.details["first_call_s"], out_peer = _time(peer_fn)
    except Exception as exc:  # a missing or failing peer must not hide our row
        peer.error = f"{type(exc).__name__}: {exc}"
    try:
        mine.details["first_call_s"], out_mine = _time(ours[1])
    except Exception as exc:
        mine.error = f"{type(exc).__name__}: {exc}"
    inner_mine = _inner(_time(ours[1])[0]) if mine.error is None else 1
    inner_peer = _inner(_time(peer_fn)[0]) if peer.error is None and peer_fn is not None else 1
    mine.details["calls_per_sample"], peer.details["calls_per_sample"] = inner_mine, inner_peer
    for rep in range(repeat):
        if progress:
            progress(f"{data.name} {ours[0]} vs {peer_name} run {rep + 1}/{repeat}")
        if mine.error is None:
            seconds, out_mine = _time(ours[1], inner_mine)
            mine.seconds.append(seconds)
        if peer.error is None and peer_fn is not None:
            seconds, out_peer = _time(peer_fn, inner_peer)
            peer.seconds.append(seconds)
    return mine, peer, out_mine, out_peer


def _finish(mine: PipelineSample, peer: PipelineSample, agree: bool | None, basis: str, what: dict[str, str],
            data: BacktestData) -> list[PipelineSample]:
    ratio = (peer.median / mine.median) if mine.median and peer.median else None
    for sample in (mine, peer):
        sample.details.update(implementation=sample.variant, days=int(data.prices.shape[0]),
                              symbols=int(data.prices.shape[1]), rebalances=int(data.rows.size), cost_bps=COST_BPS,
                              ms=round(sample.median * 1000, 3) if sample.median is not None else None,
                              samples=[round(s, 6) for s in sample.seconds], what=what[sample.variant])
        if sample.error is None:
            sample.agree, sample.agree_with = agree, [basis]
    mine.details[f"ratio_vs_{peer.variant}"] = round(ratio, 2) if ratio is not None else None
    return [mine, peer]


def bench_float(data: BacktestData, repeat: int, progress: Progress | None = None) -> list[PipelineSample]:
    """backtest_arrays vs warm vectorbt on one workload."""
    mine, peer, out_mine, out_peer = _pair(data, (FLOAT, lambda: run_float(data)), VECTORBT,
                                           lambda: vectorbt_runner(data), repeat, progress)
    agree: bool | None = None
    if out_mine is not None and out_peer is not None:
        rel = float(np.abs(np.asarray(out_mine) / np.asarray(out_peer) - 1.0).max())
        agree = rel <= FLOAT_TOLERANCE
        mine.details.update(max_rel_diff=rel, final_equity=round(float(out_mine[-1]), 2))
        peer.details.update(max_rel_diff=rel, final_equity=round(float(out_peer[-1]), 2))
    what = {FLOAT: "engine.portfolio.backtest_arrays (equity, returns, shares, cash, metrics)",
            VECTORBT: "vectorbt Portfolio.from_orders(targetpercent, cash_sharing, call_seq=auto) + value(), "
                      "warm (first call timed separately)"}
    return _finish(mine, peer, agree, f"equity curves within {FLOAT_TOLERANCE:g} relative", what, data)


def bench_reference(data: BacktestData, repeat: int, progress: Progress | None = None) -> list[PipelineSample]:
    """Reference mode (array entry point) vs nanobook.backtest_weights, both starting from the same arrays."""
    mine, peer, out_mine, out_peer = _pair(data, (REFERENCE, lambda: run_reference(data)), NANOBOOK,
                                           lambda: (lambda: run_nanobook(data)), repeat, progress)
    agree: bool | None = None
    if out_mine is not None and out_peer is not None:
        agree = out_mine == out_peer
        mine.details["final_equity"] = out_mine[-1] / 100
        peer.details["final_equity"] = out_peer[-1] / 100
    what = {REFERENCE: "engine.portfolio.reference.backtest_weights_arrays incl. converting the arrays to cents",
            NANOBOOK: "nanobook.backtest_weights incl. building its (symbol, BarPrices) pairs"}
    return _finish(mine, peer, agree, "equity curves identical to the cent", what, data)


def run_backtest_bench(*, repeat: int = 5, quick: bool = False, progress: Progress | None = None,
                       seed: int = DEFAULT_SEED) -> list[PipelineSample]:
    """All backtest rows: per workload (monthly, daily) float vs vectorbt, then reference vs nanobook.

    Rows are PipelineSample (workload, variant = implementation, median seconds); ours carry
    details["ratio_vs_vectorbt"] or details["ratio_vs_nanobook"] (peer median / our median).
    """
    if repeat < 1:
        raise ValueError(f"repeat must be >= 1, got {repeat}")
    days, symbols = SIZES[quick]
    rows: list[PipelineSample] = []
    for name in BACKTEST_WORKLOADS:
        if progress:
            progress(f"{name}: building {days}×{symbols} inputs")
        data = make_backtest_data(name, days, symbols, seed)
        rows.extend(bench_float(data, repeat, progress))
        rows.extend(bench_reference(data, repeat, progress))
    return rows
