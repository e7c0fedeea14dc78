"""engine.portfolio.metrics: textbook formulas written out here, parity with nanobook 0.19.2, invariants, errors.

Tolerances: where our code and the reference do the same arithmetic in the same order (every field of
compute_metrics, rolling stats, drawdown events) we allow 1e-14 relative — observed differences are 0; against the
independent textbook formulas below (numpy pairwise sums, other evaluation orders) we allow 1e-12 relative.
"""

from __future__ import annotations

import math
import statistics
import time

import nanobook
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.stats import norm

from configs.errors import InputError
from engine.portfolio.metrics import (
    Metrics,
    MetricsInputError,
    compute_metrics,
    cvar,
    drawdown_series,
    norm_ppf,
    rolling_max_drawdown,
    rolling_sharpe,
    rolling_volatility,
    sortino,
)
from tests.engine.analytics.market import bars, tickers

FIELDS = [
    "total_return",
    "cagr",
    "volatility",
    "sharpe",
    "sortino",
    "max_drawdown",
    "calmar",
    "num_periods",
    "winning_periods",
    "losing_periods",
    "cvar_95",
    "win_rate",
    "profit_factor",
    "payoff_ratio",
    "kelly",
]
REL = 1e-14  # same arithmetic as the reference
FORMULA_REL = 1e-12  # independent textbook formulas

returns_st = st.lists(
    st.floats(min_value=-0.5, max_value=0.5, allow_nan=False, allow_infinity=False), min_size=1, max_size=120
)


def close(a: float, b: float, rel: float) -> bool:
    if math.isinf(a) or math.isinf(b):
        return a == b
    return math.isclose(a, b, rel_tol=rel, abs_tol=1e-300)


def assert_matches_reference(ours: Metrics, ref: object, rel: float = REL) -> None:
    for f in FIELDS:
        a, b = getattr(ours, f), getattr(ref, f)
        assert close(a, b, rel), f"{f}: ours {a!r} vs reference {b!r}"


# -- textbook formulas (quantstats / empyrical conventions, written out independently) -------------------------


def tb_cagr(r: list[float], ppy: float) -> float:
    growth = math.prod(1.0 + x for x in r)
    return growth ** (ppy / len(r)) - 1.0


def tb_volatility(r: list[float], ppy: float) -> float:
    return statistics.stdev(r) * math.sqrt(ppy)


def tb_sharpe(r: list[float], ppy: float, rf: float = 0.0) -> float:
    return (statistics.fmean(r) - rf) / statistics.stdev(r) * math.sqrt(ppy)


def tb_sortino(r: list[float], ppy: float, rf: float = 0.0) -> float:
    downside = math.sqrt(sum(min(x - rf, 0.0) ** 2 for x in r) / len(r))
    return (statistics.fmean(r) - rf) / downside * math.sqrt(ppy)


def tb_max_drawdown(r: list[float]) -> float:
    equity = np.concatenate([[1.0], np.cumprod(1.0 + np.asarray(r))])
    return float(np.max(1.0 - equity / np.maximum.accumulate(equity)))


def tb_cvar(r: list[float], tail: float = 0.05) -> float:
    k = max(1, math.ceil(tail * len(r)))
    return statistics.fmean(sorted(r)[:k])


# -- real data ---------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("ticker", tickers())
def test_real_data_matches_reference_and_textbook(ticker: str) -> None:
    r = bars(ticker).returns.tolist()
    for ppy, rf in ((252.0, 0.0), (252.0, 0.0001), (12.0, 0.0)):
        m = compute_metrics(r, ppy, rf)
        assert_matches_reference(m, nanobook.py_compute_metrics(r, ppy, rf))
        assert math.isclose(m.sharpe, tb_sharpe(r, ppy, rf), rel_tol=FORMULA_REL)
        assert math.isclose(m.sortino, tb_sortino(r, ppy, rf), rel_tol=FORMULA_REL)
    m = compute_metrics(np.asarray(r))
    assert math.isclose(m.cagr, tb_cagr(r, 252.0), rel_tol=FORMULA_REL)
    assert math.isclose(m.volatility, tb_volatility(r, 252.0), rel_tol=FORMULA_REL)
    assert math.isclose(m.max_drawdown, tb_max_drawdown(r), rel_tol=FORMULA_REL)
    assert math.isclose(m.calmar, tb_cagr(r, 252.0) / tb_max_drawdown(r), rel_tol=FORMULA_REL)
    assert math.isclose(m.cvar_95, tb_cvar(r), rel_tol=FORMULA_REL)
    assert m.num_periods == len(r) == m.winning_periods + m.losing_periods + r.count(0.0)


def test_pinned_quantstats_golden() -> None:
    # Spec §5.7 parity evidence: quantstats on the reference's golden series (seed 42, 500 N(0, 0.01²) returns).
    r = np.random.default_rng(42).standard_normal(500) * 0.01
    assert r[0] == 0.0030471707975443137  # the golden file's first input, so the series is the same
    m = compute_metrics(r)
    assert abs(m.sharpe - -0.21706820776225197) <= 1e-9
    assert abs(m.sortino - -0.3065611564196675) <= 1e-9
    assert abs(m.max_drawdown - 0.19831225362580174) <= 1e-9  # quantstats reports it signed
    assert abs(m.cvar_95 - -0.01935699483721409) <= 1e-12
    assert abs(cvar(r, 0.05, "parametric") - -0.01950121649988594) <= 1e-9


def test_hand_computed_example() -> None:
    # Equity 1 → 1.1 → 0.88 → 0.924: peak 1.1, trough 0.88, drawdown exactly 0.2.
    m = compute_metrics([0.10, -0.20, 0.05], 252.0)
    assert m.max_drawdown == pytest.approx(0.2, rel=1e-15)
    assert m.total_return == pytest.approx(-0.076, rel=1e-14)
    assert (m.winning_periods, m.losing_periods, m.num_periods) == (2, 1, 3)
    assert m.profit_factor == pytest.approx(0.15 / 0.20)
    assert m.payoff_ratio == pytest.approx(0.075 / 0.20)
    assert m.kelly == pytest.approx(2 / 3 - (1 / 3) / (0.075 / 0.20))
    assert m.cvar_95 == -0.20


def test_edge_cases_follow_the_reference() -> None:
    one = compute_metrics([0.01])
    assert (one.volatility, one.sharpe, one.sortino) == (0.0, 0.0, 0.0)
    assert one.profit_factor == math.inf and one.payoff_ratio == math.inf and one.kelly == 0.0
    flat = compute_metrics([0.0, 0.0])
    assert (flat.profit_factor, flat.payoff_ratio, flat.win_rate, flat.cvar_95) == (0.0, 0.0, 0.0, 0.0)
    wiped = compute_metrics([-1.0, 0.5])
    assert wiped.cagr == -1.0 and wiped.max_drawdown == 1.0
    for r in ([0.01], [0.0, 0.0], [-1.0, 0.5], [-1.5, 0.5], [0.01, 0.02]):
        assert_matches_reference(compute_metrics(r), nanobook.py_compute_metrics(r))


def test_to_dict_and_repr() -> None:
    r = [0.01, -0.02, 0.03, 0.0]
    m = compute_metrics(r)
    d = m.to_dict()
    assert list(d) == FIELDS
    assert d["sharpe"] == m.sharpe and d["num_periods"] == 4
    assert repr(m) == repr(nanobook.py_compute_metrics(r)) == str(m)
    with pytest.raises(AttributeError):
        m.sharpe = 1.0  # type: ignore[misc]


@pytest.mark.parametrize(
    ("returns", "kwargs"),
    [
        ([], {}),
        ([0.01, math.nan], {}),
        ([0.01, math.inf], {}),
        ([[0.01, 0.02]], {}),
        (["a", "b"], {}),
        ([0.01], {"periods_per_year": 0.0}),
        ([0.01], {"periods_per_year": math.nan}),
        ([0.01], {"risk_free": math.inf}),
    ],
)
def test_invalid_input_raises_a_clear_error(returns: object, kwargs: dict[str, float]) -> None:
    with pytest.raises(MetricsInputError) as info:
        compute_metrics(returns, **kwargs)  # type: ignore[arg-type]
    assert isinstance(info.value, InputError) and isinstance(info.value, ValueError)
    assert str(info.value)


# -- hypothesis ------------------------------------------------------------------------------------------------


@settings(max_examples=200, deadline=None)
@given(returns_st, st.sampled_from([252.0, 12.0, 52.0]), st.sampled_from([0.0, 0.0001]))
def test_property_parity_with_reference(r: list[float], ppy: float, rf: float) -> None:
    assert_matches_reference(compute_metrics(r, ppy, rf), nanobook.py_compute_metrics(r, ppy, rf))


@settings(max_examples=200, deadline=None)
@given(st.lists(st.floats(min_value=-0.99, max_value=1.0), min_size=1, max_size=200))
def test_property_invariants(r: list[float]) -> None:
    m = compute_metrics(r)
    assert 0.0 <= m.max_drawdown <= 1.0
    assert m.winning_periods + m.losing_periods <= m.num_periods == len(r)
    assert 0.0 <= m.win_rate <= 1.0
    assert m.volatility >= 0.0 and m.profit_factor >= 0.0 and m.payoff_ratio >= 0.0
    assert min(r) <= m.cvar_95 <= max(r)
    assert m.total_return > -1.0 or m.cagr == -1.0


# -- standalone helpers ----------------------------------------------------------------------------------------


@settings(max_examples=150, deadline=None)
@given(returns_st.filter(lambda r: len(r) >= 2), st.sampled_from([0.0, 0.0002]))
def test_sortino_ddof_relation_and_compute_metrics(r: list[float], rf: float) -> None:
    s0 = sortino(r, rf, 252.0, ddof=0)
    assert close(s0, compute_metrics(r, 252.0, rf).sortino, REL)
    s1 = sortino(r, rf, 252.0, ddof=1)
    assert math.isclose(s1, s0 * math.sqrt((len(r) - 1) / len(r)), rel_tol=1e-12, abs_tol=1e-300)


def test_sortino_degenerate_cases_are_zero() -> None:
    assert sortino([]) == 0.0
    assert sortino([0.01, -0.01], ddof=2) == 0.0
    assert sortino([0.01, -0.01], periods_per_year=0.0) == 0.0
    assert sortino([0.01, 0.02]) == 0.0


def test_norm_ppf_matches_scipy() -> None:
    for p in (1e-6, 0.001, 0.02425, 0.05, 0.3, 0.5, 0.7, 0.95, 0.99, 0.999999):
        assert norm_ppf(p) == pytest.approx(float(norm.ppf(p)), rel=1.2e-9, abs=1e-12)
    assert norm_ppf(0.0) == -math.inf and norm_ppf(1.0) == math.inf


@pytest.mark.parametrize("ticker", tickers()[:5])
def test_cvar_historical_and_parametric(ticker: str) -> None:
    r = bars(ticker).returns
    assert cvar(r) == compute_metrics(r).cvar_95
    assert math.isclose(cvar(r, 0.01), tb_cvar(r.tolist(), 0.01), rel_tol=FORMULA_REL)
    # Parametric: mean of returns strictly below μ + σ·Φ⁻¹(α) (sample σ), here with SciPy's Φ⁻¹.
    threshold = r.mean() + r.std(ddof=1) * norm.ppf(0.05)
    assert np.min(np.abs(r - threshold)) > 1e-8  # no return sits on the threshold, so Acklam vs SciPy cannot flip
    assert math.isclose(cvar(r, 0.05, "parametric"), float(r[r < threshold].mean()), rel_tol=FORMULA_REL)


def test_cvar_edges() -> None:
    assert cvar([]) == 0.0 and cvar([0.01], alpha=1.0) == 0.0 and cvar([0.01], alpha=0.0) == 0.0
    assert cvar([0.01, 0.02], 0.05, "parametric") == 0.01  # nothing below the threshold → the minimum
    with pytest.raises(MetricsInputError):
        cvar([0.01], method="monte-carlo")


@settings(max_examples=150, deadline=None)
@given(
    st.lists(st.floats(min_value=-0.2, max_value=0.2), max_size=60),
    st.integers(min_value=0, max_value=12),
)
def test_rolling_stats_match_reference(r: list[float], window: int) -> None:
    for ours, ref in (
        (rolling_sharpe(r, window, 252), nanobook.py_rolling_sharpe(r, window, 252)),
        (rolling_volatility(r, window, 252), nanobook.py_rolling_volatility(r, window, 252)),
    ):
        assert len(ours) == len(r)
        np.testing.assert_allclose(ours, np.asarray(ref, dtype=float), rtol=REL, atol=0.0, equal_nan=True)


def test_rolling_stats_flat_windows_and_cancellation() -> None:
    assert rolling_sharpe([0.1] * 5, 3).tolist()[2:] == [0.0, 0.0, 0.0]
    # High mean, tiny variance: Σx² − (Σx)²/n would cancel to 0; Welford keeps the real std (1e-9·√(1/2)·…).
    x = 1000.0 + 1e-9 * np.arange(40)
    vol = rolling_volatility(x, 20, 1)
    expected = float(np.std(x[:20], ddof=1))
    assert vol[19] == pytest.approx(expected, rel=1e-6) and vol[19] > 0.0
    assert np.isnan(rolling_sharpe([0.01, 0.02], 1)).all() and np.isnan(rolling_sharpe([0.01], 3)).all()


def test_rolling_volatility_on_real_data() -> None:
    r = bars("MSFT").returns
    ours = rolling_volatility(r, 63, 252)
    expected = np.array([np.std(r[i - 62 : i + 1], ddof=1) for i in range(62, len(r))]) * math.sqrt(252)
    np.testing.assert_allclose(ours[62:], expected, rtol=FORMULA_REL)
    np.testing.assert_array_equal(ours, np.asarray(nanobook.py_rolling_volatility(r.tolist(), 63, 252)))


def test_drawdown_series_spec_example() -> None:
    events = drawdown_series([100, 120, 90, 110, 130, 100])
    assert [(e["peak_index"], e["trough_index"], e["recovery_index"]) for e in events] == [(1, 2, 4), (4, 5, None)]
    assert events[0]["drawdown_pct"] == 0.25 and events[0]["underwater_periods"] == 2
    assert events[1]["drawdown_pct"] == pytest.approx(30 / 130) and events[1]["underwater_periods"] == 1
    assert events == nanobook.py_drawdown_series([100, 120, 90, 110, 130, 100])
    assert drawdown_series([]) == [] and drawdown_series([0.0, -1.0]) == []


@settings(max_examples=200, deadline=None)
@given(st.lists(st.floats(min_value=-5.0, max_value=200.0), max_size=50))
def test_drawdown_series_matches_reference(equity: list[float]) -> None:
    ours = drawdown_series(equity)
    assert ours == nanobook.py_drawdown_series(equity)
    for e in ours:
        assert 0.0 < e["drawdown_pct"] <= 1.0 or min(equity) < 0.0
        assert e["peak_index"] < e["trough_index"]


@settings(max_examples=150, deadline=None)
@given(st.lists(st.floats(min_value=-5.0, max_value=200.0), max_size=40), st.integers(min_value=0, max_value=10))
def test_rolling_max_drawdown_matches_reference(equity: list[float], window: int) -> None:
    ours = rolling_max_drawdown(equity, window)
    np.testing.assert_allclose(
        ours, np.asarray(nanobook.py_rolling_max_drawdown(equity, window), dtype=float), rtol=REL, equal_nan=True
    )


@settings(max_examples=100, deadline=None)
@given(st.lists(st.floats(min_value=-0.99, max_value=1.0), min_size=1, max_size=100))
def test_drawdown_fraction_in_unit_interval(r: list[float]) -> None:
    equity = np.cumprod(1.0 + np.asarray(r))
    for e in drawdown_series(equity):
        assert 0.0 <= e["drawdown_pct"] <= 1.0
    dd = rolling_max_drawdown(equity, min(5, len(r)))
    assert ((dd[~np.isnan(dd)] >= 0.0) & (dd[~np.isnan(dd)] <= 1.0)).all()


def test_compute_metrics_is_fast() -> None:
    r = np.random.default_rng(7).normal(0.0005, 0.01, 2520)
    compute_metrics(r)
    best = math.inf
    for _ in range(20):
        t0 = time.perf_counter()
        compute_metrics(r)
        best = min(best, time.perf_counter() - t0)
    assert best < 1e-3, f"compute_metrics on 2520 returns took {best * 1e6:.0f} µs"
