"""Technical indicators with TA-Lib conventions (spec §8.3): sma, ema, rsi, macd, bbands, atr.

Outputs are float64 arrays the length of the input, NaN where undefined; recursions run left to right so values
match the reference bit for bit. No I/O, no state.
"""

from __future__ import annotations

import numpy as np

from engine.analytics._inputs import AnalyticsInputError, FloatArray, VectorLike, as_vector

__all__ = ["atr", "bbands", "bollinger", "ema", "macd", "rsi", "sma", "wilder_atr"]


def _period(value: int, name: str = "period") -> int:
    p = int(value)
    if p < 0:
        raise AnalyticsInputError(f"{name} must be ≥ 0, got {value!r}")
    return p


def _nan(n: int) -> FloatArray:
    return np.full(n, np.nan)


def _sma(x: list[float], period: int) -> FloatArray:
    """Running-sum mean of the last `period` values (the window sum is updated, not recomputed)."""
    out = _nan(len(x))
    if period == 0 or len(x) < period:
        return out
    window = 0.0
    for v in x[:period]:
        window += v
    out[period - 1] = window / period
    for i in range(period, len(x)):
        window += x[i] - x[i - period]
        out[i] = window / period
    return out


def _ema(x: list[float], period: int) -> FloatArray:
    """EMA with multiplier 2/(p+1), seeded by the mean of the first `period` values at index p−1."""
    out = _nan(len(x))
    if period == 0 or len(x) < period:
        return out
    seed = 0.0
    for v in x[:period]:
        seed += v
    prev = seed / period
    out[period - 1] = prev
    k = 2.0 / (period + 1.0)
    for i in range(period, len(x)):
        prev = (x[i] - prev) * k + prev
        out[i] = prev
    return out


def sma(close: VectorLike, period: int) -> FloatArray:
    """Simple moving average; NaN before index period−1, all NaN if period = 0 or the input is shorter."""
    return _sma(as_vector(close, "close").tolist(), _period(period))


def ema(close: VectorLike, period: int) -> FloatArray:
    """Exponential moving average (2/(p+1)) seeded with the SMA of the first `period` values."""
    return _ema(as_vector(close, "close").tolist(), _period(period))


def _rsi_value(gain: float, loss: float) -> float:
    """TA-Lib convention: flat (no gain, no loss) → 0, no loss → 100."""
    if gain == 0.0 and loss == 0.0:
        return 0.0
    if loss == 0.0:
        return 100.0
    return 100.0 - 100.0 / (1.0 + gain / loss)


def rsi(close: VectorLike, period: int = 14) -> FloatArray:
    """Wilder RSI; first value at index `period`; all NaN when the input has ≤ period values or period = 0."""
    x = as_vector(close, "close").tolist()
    p = _period(period)
    out = _nan(len(x))
    if p == 0 or len(x) <= p:
        return out
    gain = loss = 0.0
    for i in range(1, p + 1):
        diff = x[i] - x[i - 1]
        if diff > 0.0:
            gain += diff
        else:
            loss -= diff
    gain, loss = gain / p, loss / p
    out[p] = _rsi_value(gain, loss)
    for i in range(p + 1, len(x)):
        diff = x[i] - x[i - 1]
        gain = (gain * (p - 1.0) + (diff if diff > 0.0 else 0.0)) / p
        loss = (loss * (p - 1.0) + (-diff if diff < 0.0 else 0.0)) / p
        out[i] = _rsi_value(gain, loss)
    return out


def macd(
    close: VectorLike, fast_period: int = 12, slow_period: int = 26, signal_period: int = 9
) -> tuple[FloatArray, FloatArray, FloatArray]:
    """(macd, signal, histogram) aligned like TA-Lib: every component starts at index slow+signal−2.

    The fast EMA runs on close[slow−fast:] so both EMAs start at slow−1; the signal is the EMA of the MACD line
    from there. Invalid periods (0, fast ≥ slow) or too short an input give all NaN.
    """
    x = as_vector(close, "close").tolist()
    fast, slow, sig = _period(fast_period), _period(slow_period), _period(signal_period)
    n = len(x)
    if n < slow or 0 in (fast, slow, sig) or fast >= slow:
        return _nan(n), _nan(n), _nan(n)
    first = slow - 1
    line = _nan(n)
    line[first:] = _ema(x[slow - fast :], fast)[first - (slow - fast) :] - _ema(x, slow)[first:]
    signal = _nan(n)
    signal[first:] = _ema(line[first:].tolist(), sig)
    line[: first + sig - 1] = np.nan  # TA-Lib hides the MACD line until the signal exists
    return line, signal, line - signal


def _rolling_pop_std(x: FloatArray, period: int) -> FloatArray:
    """Population std per full window by Welford (vectorised across windows; no Σx² cancellation)."""
    views = np.lib.stride_tricks.sliding_window_view(x, period)
    mean = np.zeros(views.shape[0])
    m2 = np.zeros(views.shape[0])
    for k in range(period):
        col = views[:, k]
        delta = col - mean
        mean = mean + delta / (k + 1)
        m2 = m2 + delta * (col - mean)
    out: FloatArray = np.sqrt(np.maximum(m2 / period, 0.0))
    return out


def bbands(
    close: VectorLike, period: int = 20, num_std_up: float = 2.0, num_std_dn: float = 2.0
) -> tuple[FloatArray, FloatArray, FloatArray]:
    """(upper, middle, lower): SMA ± k·population std of the window; NaN where the SMA is undefined."""
    x = as_vector(close, "close")
    p = _period(period)
    middle = _sma(x.tolist(), p)
    upper, lower = _nan(x.size), _nan(x.size)
    if p == 0 or x.size < p:
        return upper, middle, lower
    std = _rolling_pop_std(x, p)
    upper[p - 1 :] = middle[p - 1 :] + float(num_std_up) * std
    lower[p - 1 :] = middle[p - 1 :] - float(num_std_dn) * std
    return upper, middle, lower


bollinger = bbands


def atr(high: VectorLike, low: VectorLike, close: VectorLike, period: int = 14) -> FloatArray:
    """Wilder ATR: seed at index `period` = mean(TR_1..TR_period) (TR_0 excluded), then (prev·(p−1)+TR)/p.

    All NaN on a length mismatch, period = 0 or too short an input (length of `high`).
    """
    h, lo, c = as_vector(high, "high"), as_vector(low, "low"), as_vector(close, "close")
    p = _period(period)
    n = h.size
    out = _nan(n)
    if lo.size != n or c.size != n or p == 0 or n <= p:
        return out
    prev_close = c[:-1]
    tr = np.maximum(np.maximum(h[1:] - lo[1:], np.abs(h[1:] - prev_close)), np.abs(lo[1:] - prev_close)).tolist()
    seed = 0.0
    for v in tr[:p]:
        seed += v
    value = seed / p
    out[p] = value
    for i in range(p + 1, n):
        value = (value * (p - 1.0) + tr[i - 1]) / p
        out[i] = value
    return out


wilder_atr = atr
