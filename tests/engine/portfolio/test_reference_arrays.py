"""`backtest_weights_arrays` is `backtest_weights` for array inputs: identical result dicts, same refusals."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from engine.errors import BacktestError
from engine.portfolio.reference import backtest_weights, backtest_weights_arrays

STOPS = (None, {"trailing_stop_pct": 0.05, "fixed_stop_pct": 0.1}, {"atr_multiple": 2.0, "atr_period": 5})


def random_case(seed: int, shorts: bool, t_count: int = 120, n: int = 8) -> tuple[list[str], Any, Any]:
    """Shuffled symbols, late listings (price 0, weight NaN or 0 before), NaN = unlisted, whole NaN rows."""
    rng = np.random.default_rng(seed)
    names = [f"S{j:02d}" for j in range(n)]
    rng.shuffle(names)
    prices = np.round(100 * np.exp(np.cumsum(rng.normal(0, 0.03, (t_count, n)), axis=0)) * 100).astype(np.int64)
    start = rng.integers(0, t_count // 3, n)
    start[rng.random(n) < 0.5] = 0
    for j in range(n):
        prices[:start[j], j] = 0
    weights = rng.random((t_count, n)) * (rng.choice([-1, 1], (t_count, n)) if shorts else 1)
    weights /= np.abs(weights).sum(axis=1, keepdims=True) * 1.05
    weights[rng.random((t_count, n)) < 0.2] = np.nan
    unpriced = prices == 0
    weights[unpriced] = np.where(rng.random(unpriced.sum()) < 0.5, np.nan, 0.0)
    weights[rng.random(t_count) < 0.1] = np.nan
    return names, weights, prices


def as_pairs(names: list[str], weights: Any, prices: Any) -> tuple[list[Any], list[Any]]:
    """The list form: listed symbols in symbol order (the array form trades columns in symbol order)."""
    order = np.argsort(names)
    ws = [[(names[j], float(weights[t, j])) for j in order if not np.isnan(weights[t, j])]
          for t in range(len(weights))]
    ps = [[(names[j], int(prices[t, j])) for j in range(len(names)) if prices[t, j] > 0] for t in range(len(prices))]
    return ws, ps


def outcome(fn: Any, *args: Any, **kwargs: Any) -> str:
    """repr of the result or the error (repr compares NaN equal to NaN and floats exactly)."""
    try:
        return repr(fn(*args, **kwargs))
    except BacktestError as exc:
        return f"error: {exc}"


@pytest.mark.parametrize("stop_cfg", STOPS, ids=["no-stops", "fixed+trailing", "atr"])
@pytest.mark.parametrize("shorts", [False, True], ids=["long", "long-short"])
def test_arrays_equal_the_list_form(shorts: bool, stop_cfg: dict[str, float] | None) -> None:
    for seed in range(25):
        names, weights, prices = random_case(seed, shorts)
        ws, ps = as_pairs(names, weights, prices)
        listed = outcome(backtest_weights, ws, ps, 10_000_000, 10, stop_cfg=stop_cfg)
        arrays = outcome(backtest_weights_arrays, names, weights, prices, 10_000_000, 10, stop_cfg=stop_cfg)
        assert arrays == listed, (seed, listed[:200], arrays[:200])
        assert not listed.startswith("error"), listed


@pytest.mark.parametrize(("weights", "prices", "fragment"), [
    (np.full((2, 2), 0.4), np.full((2, 3), 100), "must both be"),
    (np.full((2, 2), 0.4), np.full((2, 2), 1.5), "integer cents"),
    (np.array([[0.4, np.inf], [0.4, 0.4]]), np.full((2, 2), 100), "not finite"),
    (np.array([[0.4, 0.4], [0.4, 0.4]]), np.array([[100, 0], [100, 100]]), "without a price"),
    (np.full((2, 2), 6.0), np.full((2, 2), 100), "gross weight"),
    (np.full((2, 2), 0.4), np.array([[100, -5], [100, 100]]), "positive cents"),
])
def test_bad_arrays_are_refused(weights: Any, prices: Any, fragment: str) -> None:
    with pytest.raises(BacktestError, match=fragment):
        backtest_weights_arrays(["A", "B"], weights, prices, 1_000_000, 0)


def test_duplicate_or_long_symbols_are_refused() -> None:
    with pytest.raises(BacktestError, match="duplicate"):
        backtest_weights_arrays(["A", "A"], np.full((1, 2), 0.4), np.full((1, 2), 100), 1_000_000, 0)
    with pytest.raises(BacktestError, match="8 bytes"):
        backtest_weights_arrays(["TOOLONGNAME", "A"], np.full((1, 2), 0.4), np.full((1, 2), 100), 1_000_000, 0)
