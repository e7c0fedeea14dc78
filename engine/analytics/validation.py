"""Cross-validation splits, walk-forward evaluation and OHLC realized volatility (spec §8.5).

`time_series_split` matches scikit-learn's TimeSeriesSplit; `walkforward` scores each window with
`engine.portfolio.metrics.compute_metrics`. No I/O.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from engine.analytics._inputs import AnalyticsInputError, FloatArray, VectorLike, as_vector, sample_var, seq_sum

if TYPE_CHECKING:
    from engine.portfolio.metrics import Metrics

__all__ = ["realized_vol", "time_series_split", "walkforward"]

_METHODS = {
    "close_to_close": "cc",
    "close": "cc",
    "cc": "cc",
    "parkinson": "parkinson",
    "garman_klass": "gk",
    "garman-klass": "gk",
    "gk": "gk",
    "yang_zhang": "yz",
    "yang-zhang": "yz",
    "yz": "yz",
}


def time_series_split(n_samples: int, n_splits: int = 5) -> list[tuple[list[int], list[int]]]:
    """Expanding-window (train, test) index lists; empty if n_splits < 2, n_samples < 2 or folds would be empty."""
    n, k = int(n_samples), int(n_splits)
    if k < 2 or n < 2 or n // (k + 1) == 0:
        return []
    size = n // (k + 1)
    first = n - k * size
    return [(list(range(first + i * size)), list(range(first + i * size, first + (i + 1) * size))) for i in range(k)]


def _metrics_or_none(returns: FloatArray, ppy: float, rf: float) -> Metrics | None:
    """compute_metrics, or None where the reference returns None (bad periods_per_year)."""
    # Imported here: engine.portfolio's package init may import analytics, so no import-time cycle is possible.
    from engine.portfolio.metrics import compute_metrics

    if not math.isfinite(ppy) or ppy <= 0.0:
        return None
    return compute_metrics(returns, ppy, rf)


def walkforward(
    returns: VectorLike,
    params: Sequence[float] | None = None,
    n_windows: int = 5,
    train_pct: float = 0.7,
    periods_per_year: float = 252.0,
    risk_free: float = 0.0,
) -> list[dict[str, Any]]:
    """Walk-forward: per window, `compute_metrics` of a train head and of the test tail after it.

    Windows are `n_windows` consecutive slices (the last absorbs the remainder); the train head is
    floor(len·train_pct) long. Returns [] for no returns, n_windows = 0, train_pct outside [0, 1) or a window
    shorter than 2; windows whose train part would be empty or the whole window are skipped. `params`, when
    given, is echoed as a float list. A bad periods_per_year gives None metrics (as the reference); non-finite
    returns raise MetricsInputError (the reference would report NaN metrics).
    """
    r = as_vector(returns, "returns")
    n, k, pct = r.size, int(n_windows), float(train_pct)
    if n == 0 or k <= 0 or not math.isfinite(pct) or not 0.0 <= pct < 1.0 or n // k < 2:
        return []
    width = n // k
    try:
        echoed = None if params is None else [float(p) for p in params]
    except (TypeError, ValueError) as exc:
        raise AnalyticsInputError(f"params must be a sequence of numbers: {exc}") from exc
    out: list[dict[str, Any]] = []
    for i in range(k):
        start, end = i * width, (n if i == k - 1 else (i + 1) * width)
        train = math.floor((end - start) * pct)
        if train == 0 or train >= end - start:
            continue
        row: dict[str, Any] = {
            "train_start": start,
            "train_end": start + train,
            "test_start": start + train,
            "test_end": end,
            "train_metrics": _metrics_or_none(r[start : start + train], float(periods_per_year), float(risk_free)),
            "test_metrics": _metrics_or_none(r[start + train : end], float(periods_per_year), float(risk_free)),
        }
        if echoed is not None:
            row["params"] = list(echoed)
        out.append(row)
    return out


def _log_ratio(a: FloatArray, b: FloatArray) -> FloatArray:
    """ln(a/b) through libm (math.log), as the reference; numpy's vectorised log can differ in the last bit."""
    return np.array([math.log(x) for x in (a / b).tolist()], dtype=np.float64)


def _close_to_close(c: FloatArray) -> float:
    return math.sqrt(max(sample_var(_log_ratio(c[1:], c[:-1])), 0.0))


def _parkinson(h: FloatArray, lo: FloatArray) -> float:
    hl = _log_ratio(h, lo)
    return math.sqrt(max(seq_sum(hl * hl) / (4.0 * h.size * math.log(2.0)), 0.0))


def _garman_klass(o: FloatArray, h: FloatArray, lo: FloatArray, c: FloatArray) -> float:
    hl, co = _log_ratio(h, lo), _log_ratio(c, o)
    k = 2.0 * math.log(2.0) - 1.0
    return math.sqrt(max(seq_sum(0.5 * (hl * hl) - k * (co * co)) / o.size, 0.0))


def _yang_zhang(o: FloatArray, h: FloatArray, lo: FloatArray, c: FloatArray) -> float:
    if o.size < 3:
        return math.nan
    overnight = _log_ratio(o[1:], c[:-1])
    open_close = _log_ratio(c[1:], o[1:])
    rs = _log_ratio(h[1:], o[1:]) * _log_ratio(h[1:], c[1:]) + _log_ratio(lo[1:], o[1:]) * _log_ratio(lo[1:], c[1:])
    m = float(overnight.size)
    k = 0.34 / (1.34 + (m + 1.0) / (m - 1.0))
    var = sample_var(overnight) + k * sample_var(open_close) + (1.0 - k) * (seq_sum(rs) / m)
    return math.sqrt(max(var, 0.0))


def realized_vol(
    open: VectorLike,  # the reference's keyword name, shadowing the builtin on purpose
    high: VectorLike,
    low: VectorLike,
    close: VectorLike,
    method: str = "close_to_close",
) -> float:
    """Per-period (not annualised) volatility estimated from OHLC bars.

    Methods (case-sensitive, as the reference): close_to_close|close|cc, parkinson, garman_klass|garman-klass|gk,
    yang_zhang|yang-zhang|yz; an unknown one raises AnalyticsInputError (a ValueError, like the reference's).
    NaN when lengths differ, fewer than 2 bars (3 for Yang–Zhang), or any price is non-finite or ≤ 0.
    """
    kind = _METHODS.get(method)
    if kind is None:
        raise AnalyticsInputError(f"unknown realized_vol method: {method}")
    o, h, lo, c = (as_vector(v, name) for v, name in ((open, "open"), (high, "high"), (low, "low"), (close, "close")))
    if not o.size == h.size == lo.size == c.size or c.size < 2:
        return math.nan
    stacked = np.concatenate([o, h, lo, c])
    if not (np.isfinite(stacked) & (stacked > 0.0)).all():
        return math.nan
    if kind == "cc":
        return _close_to_close(c)
    if kind == "parkinson":
        return _parkinson(h, lo)
    if kind == "gk":
        return _garman_klass(o, h, lo, c)
    return _yang_zhang(o, h, lo, c)
