"""engine.analytics.indicators: parity with nanobook 0.19.2 (TA-Lib conventions) on real data, independent
formulas, and invariants (length, NaN prefix, RSI range, band order, ATR sign, no cancellation).

Tolerances: parity with the reference 1e-12 relative (observed: equal); independent numpy formulas 1e-10
absolute (the reference's TA-Lib tests use atol 1e-10).
"""

from __future__ import annotations

import math

import nanobook
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from engine.analytics import AnalyticsInputError
from engine.analytics.indicators import atr, bbands, bollinger, ema, macd, rsi, sma, wilder_atr
from tests.engine.analytics.market import bars, tickers

PARITY = 1e-12
ATOL = 1e-10


def same(ours: np.ndarray, ref: object) -> None:
    np.testing.assert_allclose(ours, np.asarray(ref, dtype=float), rtol=PARITY, atol=0.0, equal_nan=True)


@pytest.mark.parametrize("ticker", tickers())
def test_real_data_parity(ticker: str) -> None:
    b = bars(ticker)
    c, h, lo = b.close.tolist(), b.high.tolist(), b.low.tolist()
    same(sma(c, 20), nanobook.sma(c, 20))
    same(ema(c, 12), nanobook.ema(c, 12))
    same(rsi(c), nanobook.rsi(c))
    for ours, ref in zip(macd(c), nanobook.macd(c), strict=True):
        same(ours, ref)
    for ours, ref in zip(bbands(c), nanobook.py_bbands(c), strict=True):
        same(ours, ref)
    same(atr(h, lo, c), nanobook.py_atr(h, lo, c))
    same(wilder_atr(h, lo, c, 7), nanobook.wilder_atr(h, lo, c, 7))


def test_pinned_ta_lib_golden() -> None:
    # TA-Lib 0.6.8 RSI(14) / ATR(14) from the reference's golden fixture (seed 42, 500 bars), atol 1e-10 as there.
    rng = np.random.default_rng(42)
    close = 100.0 * np.cumprod(1.0 + rng.standard_normal(500) * 0.01)
    high = close * (1.0 + 0.002 * rng.random(500))
    low = close * (1.0 - 0.002 * rng.random(500))
    np.testing.assert_allclose(rsi(close)[-3:], [52.51010530224824, 43.04074663431773, 37.65787985206144], atol=ATOL)
    a = atr(high, low, close)
    assert np.isnan(a[:14]).all()
    np.testing.assert_allclose(a[[14, 15, -1]], [0.8692517898839398, 0.8733249335039969, 0.8866964392825221], atol=ATOL)


def test_independent_formulas_on_real_data() -> None:
    c = bars("JPM").close
    n = c.size
    window = np.lib.stride_tricks.sliding_window_view(c, 20)
    np.testing.assert_allclose(sma(c, 20)[19:], window.mean(axis=1), atol=ATOL, rtol=0)
    upper, _mid, lower = bbands(c, 20, 2.0, 1.5)
    np.testing.assert_allclose(upper[19:], window.mean(axis=1) + 2.0 * window.std(axis=1), atol=ATOL, rtol=0)
    np.testing.assert_allclose(lower[19:], window.mean(axis=1) - 1.5 * window.std(axis=1), atol=ATOL, rtol=0)
    # EMA: recursive definition with alpha 2/(p+1), seeded by the first SMA.
    e = [math.nan] * n
    e[9] = c[:10].mean()
    for i in range(10, n):
        e[i] = e[i - 1] + 2 / 11 * (c[i] - e[i - 1])
    np.testing.assert_allclose(ema(c, 10), e, atol=ATOL, rtol=0, equal_nan=True)
    # RSI (Wilder) and ATR (Wilder, TR_0 excluded from the seed).
    d = np.diff(c)
    g, lo_ = np.clip(d, 0, None), np.clip(-d, 0, None)
    ag, al = g[:14].mean(), lo_[:14].mean()
    expected = [100 - 100 / (1 + ag / al)]
    for i in range(14, d.size):
        ag, al = (ag * 13 + g[i]) / 14, (al * 13 + lo_[i]) / 14
        expected.append(100 - 100 / (1 + ag / al))
    np.testing.assert_allclose(rsi(c)[14:], expected, atol=ATOL, rtol=0)
    b = bars("JPM")
    tr = np.maximum.reduce([b.high[1:] - b.low[1:], abs(b.high[1:] - b.close[:-1]), abs(b.low[1:] - b.close[:-1])])
    a = [tr[:14].mean()]
    for x in tr[14:]:
        a.append((a[-1] * 13 + x) / 14)
    np.testing.assert_allclose(atr(b.high, b.low, b.close)[14:], a, atol=ATOL, rtol=0)


def test_macd_alignment_follows_ta_lib() -> None:
    c = bars("AAPL").close[:80]
    line, signal, hist = macd(c, 12, 26, 9)
    first = 26 + 9 - 2
    for arr in (line, signal, hist):
        assert np.isnan(arr[:first]).all() and not np.isnan(arr[first:]).any()
    fast = ema(c[26 - 12 :], 12)[11:]  # seeded on c[14:26], so it starts at index 25 of c
    slow = ema(c, 26)[25:]
    np.testing.assert_allclose(line[first:], (fast - slow)[first - 25 :], atol=ATOL, rtol=0)
    np.testing.assert_allclose(hist[first:], line[first:] - signal[first:], atol=ATOL, rtol=0)


def test_conventions() -> None:
    assert rsi([100.0] * 30)[-1] == 0.0  # flat: TA-Lib gives 0, not 50
    assert rsi(list(range(1, 40)))[-1] == 100.0
    assert rsi(list(range(40, 1, -1)))[-1] == 0.0
    assert np.isnan(rsi([1.0, 2.0, 3.0], 3)).all() and np.isnan(sma([1.0, 2.0], 0)).all()
    assert np.isnan(macd(list(range(30)), 26, 12, 9)[0]).all()  # fast ≥ slow
    assert np.isnan(atr([2.0, 2.0], [1.0], [1.5, 1.5], 1)).all()  # length mismatch
    assert bollinger is bbands and wilder_atr is atr
    with pytest.raises(AnalyticsInputError):
        sma([1.0, 2.0], -1)
    with pytest.raises(AnalyticsInputError):
        rsi([[1.0, 2.0]])


def test_no_catastrophic_cancellation() -> None:
    x = 5000.0 + 1e-6 * np.sin(np.arange(200))
    upper, mid, lower = bbands(x, 20)
    assert (upper[19:] - mid[19:] > 0).all() and (mid[19:] - lower[19:] > 0).all()
    np.testing.assert_allclose(
        upper[19:] - mid[19:], 2 * np.lib.stride_tricks.sliding_window_view(x, 20).std(axis=1), rtol=1e-6
    )


prices = st.lists(st.floats(min_value=1.0, max_value=1000.0), max_size=80)


@settings(max_examples=150, deadline=None)
@given(prices, st.integers(min_value=0, max_value=30))
def test_property_lengths_nan_prefix_and_parity(c: list[float], p: int) -> None:
    n = len(c)
    for fn, ref in ((sma, nanobook.sma), (ema, nanobook.ema), (rsi, nanobook.rsi)):
        out = fn(c, p)
        assert len(out) == n
        same(out, ref(c, p))
    s = sma(c, p)
    if 0 < p <= n:
        assert np.isnan(s[: p - 1]).all() and not np.isnan(s[p - 1 :]).any()
    r = rsi(c, p)
    assert ((r[~np.isnan(r)] >= 0.0) & (r[~np.isnan(r)] <= 100.0)).all()
    if 0 < p < n:
        assert np.isnan(r[:p]).all() and not np.isnan(r[p:]).any()


@settings(max_examples=150, deadline=None)
@given(prices, st.integers(min_value=0, max_value=25), st.floats(min_value=0.0, max_value=3.0))
def test_property_bands_and_atr(c: list[float], p: int, k: float) -> None:
    upper, mid, lower = bbands(c, p, k, k)
    assert len(upper) == len(mid) == len(lower) == len(c)
    ok = ~np.isnan(mid)
    assert (lower[ok] <= mid[ok] + 1e-10).all() and (mid[ok] <= upper[ok] + 1e-10).all()
    for ours, ref in zip((upper, mid, lower), nanobook.py_bbands(c, p, k, k), strict=True):
        same(ours, ref)
    high = [x * 1.01 for x in c]
    low = [x * 0.99 for x in c]
    a = atr(high, low, c, p)
    assert len(a) == len(c) and (a[~np.isnan(a)] >= 0.0).all()
    same(a, nanobook.py_atr(high, low, c, p))


@settings(max_examples=100, deadline=None)
@given(prices, st.integers(0, 8), st.integers(0, 15), st.integers(0, 6))
def test_property_macd(c: list[float], fast: int, slow: int, signal: int) -> None:
    ours = macd(c, fast, slow, signal)
    for arr, ref in zip(ours, nanobook.macd(c, fast, slow, signal), strict=True):
        assert len(arr) == len(c)
        same(arr, ref)
