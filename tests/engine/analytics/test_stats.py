"""engine.analytics.stats: Spearman vs SciPy and the reference, quintile spread and deflated Sharpe written out.

Tolerances: Spearman rho 1e-12 and p 1e-10 vs SciPy (p 1e-6 with ties, as the spec); deflated Sharpe 1e-6 vs an
exact-Φ formula (the A&S erf approximation is good to 1.5e-7); parity with nanobook 0.19.2 1e-14 (observed: equal).
"""

from __future__ import annotations

import math

import nanobook
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats as sps

from engine.analytics.stats import deflated_sharpe, quintile_spread, spearman
from tests.engine.analytics.market import bars, returns_matrix, tickers

PARITY = 1e-14


def same(a: float, b: float, rel: float = PARITY) -> bool:
    return (math.isnan(a) and math.isnan(b)) or math.isclose(a, b, rel_tol=rel, abs_tol=1e-300)


def test_spearman_vs_scipy_on_real_data() -> None:
    m = returns_matrix(tickers()[:6])[-250:]
    for j in range(1, 6):
        rho, p = spearman(m[:, 0], m[:, j])
        ref = sps.spearmanr(m[:, 0], m[:, j])
        assert rho == pytest.approx(float(ref.statistic), rel=1e-12)
        assert p == pytest.approx(float(ref.pvalue), rel=1e-10, abs=1e-300)
        assert all(
            same(a, b) for a, b in zip((rho, p), nanobook.py_spearman(m[:, 0].tolist(), m[:, j].tolist()), strict=True)
        )


def test_spearman_ties_and_edges() -> None:
    x = np.round(bars("KO").returns[-200:], 3)  # rounding creates many ties
    y = np.round(bars("PG").returns[-200:], 3)
    rho, p = spearman(x, y)
    ref = sps.spearmanr(x, y)
    assert rho == pytest.approx(float(ref.statistic), rel=1e-12)
    assert p == pytest.approx(float(ref.pvalue), rel=1e-6)
    assert spearman([1, 2, 3, 4], [1, 2, 3, 4]) == (1.0, 0.0)
    assert spearman([1, 2, 3, 4], [4, 3, 2, 1]) == (-1.0, 0.0)
    for a, b in (([1, 2], [1, 2]), ([1, 2, 3], [1, 2]), ([1, 2, math.nan], [1, 2, 3]), ([1, 1, 1], [1, 2, 3])):
        assert all(math.isnan(v) for v in spearman(a, b))


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(st.integers(-5, 5), st.floats(-10, 10)), min_size=3, max_size=40))
def test_property_spearman_parity_and_range(pairs: list[tuple[int, float]]) -> None:
    x = [float(a) for a, _ in pairs]
    y = [b for _, b in pairs]
    rho, p = spearman(x, y)
    ref = nanobook.py_spearman(x, y)
    assert same(rho, ref[0]) and same(p, ref[1])
    if not math.isnan(rho):
        assert -1.0 <= rho <= 1.0 and 0.0 <= p <= 1.0 + 1e-12


def tb_quintile_spread(scores: list[float], returns: list[float], q: int) -> float:
    order = sorted(range(len(scores)), key=lambda i: scores[i])
    g = len(scores) // q
    return float(np.mean([returns[i] for i in order[-g:]]) - np.mean([returns[i] for i in order[:g]]))


def test_quintile_spread_real_cross_section() -> None:
    m = returns_matrix(tickers())
    scores, fwd = m[-2], m[-1]  # yesterday's return as the score, today's as the outcome
    ours = quintile_spread(scores, fwd)
    assert ours == pytest.approx(tb_quintile_spread(scores.tolist(), fwd.tolist(), 5), rel=1e-12)
    assert same(ours, nanobook.py_quintile_spread(scores.tolist(), fwd.tolist(), 5))
    assert quintile_spread(list(range(10)), list(range(10))) == 8.0


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(st.integers(-3, 3), st.floats(-1, 1)), max_size=30), st.integers(0, 7))
def test_property_quintile_spread_parity(pairs: list[tuple[int, float]], q: int) -> None:
    s = [float(a) for a, _ in pairs]  # integer scores: ties exercise the stable sort
    r = [b for _, b in pairs]
    assert same(quintile_spread(s, r, q), nanobook.py_quintile_spread(s, r, q))


def test_quintile_spread_invalid_is_nan() -> None:
    assert math.isnan(quintile_spread([1, 2], [1, 2], 5))
    assert math.isnan(quintile_spread([1, 2, 3], [1, 2], 1))
    assert math.isnan(quintile_spread([1, 2, 3], [1, 2, 3], 0))
    assert math.isnan(quintile_spread([1, math.nan, 3], [1, 2, 3], 1))


def tb_deflated_sharpe(sr: float, n: int, skew: float, kurt: float) -> float:
    gamma = 0.5772156649015329
    se = math.sqrt((1 - skew * sr + (kurt - 1) / 4 * sr**2) / (n - 1))
    e_max = se * ((1 - gamma) * sps.norm.ppf(1 - 1 / n) + gamma * sps.norm.ppf(1 - 1 / (n * math.e)))
    return float(sps.norm.cdf((sr - e_max) / se))


def test_deflated_sharpe_vs_exact_normal() -> None:
    for sr, n, skew, kurt in ((1.0, 10, 0.0, 3.0), (0.5, 100, -0.5, 5.0), (2.0, 1000, 0.3, 4.0), (0.1, 2, 0, 3)):
        assert deflated_sharpe(sr, n, skew, kurt) == pytest.approx(tb_deflated_sharpe(sr, n, skew, kurt), abs=1e-6)
        assert same(deflated_sharpe(sr, n, skew, kurt), nanobook.py_deflated_sharpe(sr, n, skew, kurt))


def test_deflated_sharpe_edges() -> None:
    assert math.isnan(deflated_sharpe(1.0, 0, 0.0, 3.0))
    assert deflated_sharpe(0.7, 1, 0.0, 3.0) == 0.7
    for args in ((-0.1, 5, 0, 3), (1.0, 5, 0, 0), (math.nan, 5, 0, 3), (1.0, 5, math.inf, 3), (1.0, 5, 10.0, 3.0)):
        assert math.isnan(deflated_sharpe(*args))


@settings(max_examples=200, deadline=None)
@given(st.floats(-1, 4), st.integers(0, 500), st.floats(-3, 3), st.floats(-2, 12))
def test_property_deflated_sharpe_parity(sr: float, n: int, skew: float, kurt: float) -> None:
    ours = deflated_sharpe(sr, n, skew, kurt)
    assert same(ours, nanobook.py_deflated_sharpe(sr, n, skew, kurt))
    if n > 1 and not math.isnan(ours):
        assert 0.0 <= ours <= 1.0
