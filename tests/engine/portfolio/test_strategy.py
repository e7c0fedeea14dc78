"""engine.portfolio.strategy: EqualWeight, run_backtest (and parity with the reference's run_backtest)."""

from __future__ import annotations

import math
import random
from collections.abc import Mapping

import pytest

from engine.errors import BacktestError
from engine.portfolio.cost import CostModel
from engine.portfolio.portfolio import Portfolio
from engine.portfolio.strategy import BacktestResult, EqualWeight, Strategy, run_backtest, sweep_equal_weight

BARS = [{"A": 10000, "B": 20000}, {"A": 10100, "B": 19800}, {"A": 10200, "B": 20500}]


def test_equal_weight() -> None:
    assert EqualWeight().compute_weights(0, {"A": 1, "B": 2}, Portfolio(0)) == [("A", 0.5), ("B", 0.5)]
    assert EqualWeight().compute_weights(0, {}, Portfolio(0)) == []
    assert isinstance(EqualWeight(), Strategy)


def test_run_backtest_rebalances_and_records_every_bar() -> None:
    result = run_backtest(EqualWeight(), BARS, 1_000_000, CostModel.zero())
    pf = result.portfolio
    # Bar 0: 50 A + 25 B at cost; bar 1 marks them: 50·100 − 25·200 = 0 change.
    assert pf.equity_curve[:3] == [1_000_000, 1_000_000, 1_000_000]
    assert len(pf.returns) == 3 and result.metrics is not None and result["metrics"] is result.metrics
    with pytest.raises(KeyError):
        result["nope"]


def test_callback_gets_the_bar_and_a_copy() -> None:
    seen: list[tuple[int, dict[str, int]]] = []

    def strat(t: int, prices: dict[str, int], portfolio: Portfolio) -> Mapping[str, float]:
        seen.append((t, prices))
        portfolio.cash = -1  # a copy: must not leak into the run
        return {"A": 1.0}

    result = run_backtest(strat, [list(b.items()) for b in BARS], 1_000_000)
    assert [t for t, _ in seen] == [0, 1, 2] and seen[1][1] == BARS[1]
    assert result.portfolio.cash >= 0


def test_failing_strategy_names_the_bar() -> None:
    def strat(t: int, prices: dict[str, int], portfolio: Portfolio) -> list[tuple[str, float]]:
        if t == 1:
            raise RuntimeError("boom")
        return []

    with pytest.raises(BacktestError, match=r"period 1: strategy failed: RuntimeError: boom"):
        run_backtest(strat, BARS, 1000)


@pytest.mark.parametrize("bad", [None, "A", 3.0])
def test_malformed_strategy_output(bad: object) -> None:
    with pytest.raises(BacktestError, match="period 0"):
        run_backtest(lambda t, p, pf: bad, BARS, 1000)  # type: ignore[arg-type,return-value]


def test_bad_bar_names_the_period() -> None:
    with pytest.raises(BacktestError, match="period 2: price of A"):
        run_backtest(EqualWeight(), [*BARS[:2], {"A": -1, "B": 5}], 1000)


def test_empty_series() -> None:
    result = run_backtest(EqualWeight(), [], 1000)
    assert isinstance(result, BacktestResult) and result.metrics is None and result.portfolio.equity_curve == [1000]


def test_matches_the_reference_run_backtest() -> None:
    nanobook = pytest.importorskip("nanobook")
    rng = random.Random(3)
    bars = []
    px = {s: rng.randint(1000, 90_000) for s in ("AAA", "BB", "C", "DDDD")}
    for _ in range(120):
        px = {s: max(1, int(p * math.exp(rng.gauss(0, 0.02)))) for s, p in px.items()}
        bars.append(dict(px))
    cost = (10.0, 2.5, 0)
    # The reference hands the callback its prices in hash-map order; weights are listed sorted on both sides.
    ref = nanobook.run_backtest(lambda t, p, pf: [(s, 1.0 / len(p)) for s in sorted(p)], bars, 5_000_000,
                                nanobook.CostModel(commission_bps=cost[0], slippage_bps=cost[1]), 52.0, 0.0001)
    mine = run_backtest(EqualWeight(), bars, 5_000_000, CostModel(*cost), 52.0, 0.0001)
    assert mine.portfolio.cash == ref.portfolio.cash
    assert mine.portfolio.equity_curve == ref.portfolio.equity_curve()
    assert mine.portfolio.returns == ref.portfolio.returns()
    assert mine.metrics is not None
    assert mine.metrics.sharpe == pytest.approx(ref.metrics.sharpe, rel=1e-12)
    assert mine.metrics.max_drawdown == pytest.approx(ref.metrics.max_drawdown, rel=1e-12)


def _random_bars(seed: int, n: int) -> list[list[tuple[str, int]]]:
    rng = random.Random(seed)
    px = {s: rng.randint(1000, 90_000) for s in ("AAA", "BB", "C", "DDDD")}
    bars = []
    for _ in range(n):
        px = {s: max(1, int(p * math.exp(rng.gauss(0, 0.03)))) for s, p in px.items()}
        bars.append(sorted(px.items()))
    return bars


def test_sweep_equal_weight_is_one_zero_cost_equal_weight_backtest_per_param() -> None:
    bars = _random_bars(5, 36)
    out = sweep_equal_weight(3, bars, 1_000_000)
    solo = run_backtest(EqualWeight(), bars, 1_000_000, None, 12.0, 0.0).metrics
    assert len(out) == 3 and all(m == solo for m in out) and solo is not None
    assert sweep_equal_weight(0, bars, 1_000_000) == []
    assert sweep_equal_weight(2, [], 1_000_000) == [None, None]
    with pytest.raises(OverflowError):
        sweep_equal_weight(-1, bars, 1_000_000)
    with pytest.raises(TypeError):
        sweep_equal_weight(2.0, bars, 1_000_000)  # type: ignore[arg-type]


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_sweep_equal_weight_matches_the_reference(seed: int) -> None:
    nanobook = pytest.importorskip("nanobook")
    bars = _random_bars(seed, 60)
    theirs = nanobook.sweep_equal_weight(4, bars, 2_500_000, 12.0, 0.001)
    mine = sweep_equal_weight(4, bars, 2_500_000, 12.0, 0.001)
    assert len(mine) == len(theirs) == 4
    for m, t in zip(mine, theirs, strict=True):
        assert m is not None
        for name in ("total_return", "cagr", "volatility", "sharpe", "sortino", "max_drawdown", "win_rate"):
            assert getattr(m, name) == pytest.approx(getattr(t, name), rel=1e-9, abs=1e-12), name
