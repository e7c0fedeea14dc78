"""Performance metrics of a return series (reference §5.7): compute_metrics, Sortino, CVaR, rolling and drawdowns.

Pure numpy, no I/O. Sums run left to right (cumsum) so results match the Rust reference to the last bit where it can.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from typing import Any, ParamSpec, TypeVar

import numpy as np
import numpy.typing as npt

from configs.errors import InputError

__all__ = [
    "Metrics",
    "MetricsInputError",
    "as_series",
    "compute_metrics",
    "cvar",
    "drawdown_series",
    "norm_ppf",
    "rolling_max_drawdown",
    "rolling_sharpe",
    "rolling_volatility",
    "sortino",
]

FloatArray = npt.NDArray[np.float64]
ArrayLike = Sequence[float] | npt.NDArray[Any]
P = ParamSpec("P")
R = TypeVar("R")


def _quiet(fn: Callable[P, R]) -> Callable[P, R]:
    """Silence numpy float warnings: extreme finite inputs overflow to ±inf exactly as in the reference.

    A fresh errstate per call (a shared instance is not re-entrant or thread-safe).
    """

    @functools.wraps(fn)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
            return fn(*args, **kwargs)

    return wrapper


# Acklam's rational approximation of the inverse normal CDF (the reference's `norm_ppf`).
_A = (-3.969683028665376e1, 2.209460984245205e2, -2.759285104469687e2, 1.383577518672690e2,
      -3.066479806614716e1, 2.506628277459239e0)  # fmt: skip
_B = (-5.447609879822406e1, 1.615858368580409e2, -1.556989798598866e2, 6.680131188771972e1, -1.328068155288572e1)
_C = (-7.784894002430293e-3, -3.223964580411365e-1, -2.400758277161838e0, -2.549732539343734e0,
      4.374664141464968e0, 2.938163982698783e0)  # fmt: skip
_D = (7.784695709041462e-3, 3.224671290700398e-1, 2.445134137142996e0, 3.754408661907416e0)
_P_LOW = 0.02425


class MetricsInputError(InputError, ValueError):
    """A return or equity series the metrics cannot be computed from (empty, non-finite, not 1-D, bad parameter)."""


@dataclass(frozen=True, slots=True, repr=False)
class Metrics:
    """The reference's `Metrics`: same attribute names; ratios are fractions (0.15 = 15 %)."""

    total_return: float
    cagr: float
    volatility: float
    sharpe: float
    sortino: float
    max_drawdown: float
    calmar: float
    num_periods: int
    winning_periods: int
    losing_periods: int
    cvar_95: float
    win_rate: float
    profit_factor: float
    payoff_ratio: float
    kelly: float

    def to_dict(self) -> dict[str, float | int]:
        """All fields in declaration order (profit_factor / payoff_ratio may be +inf)."""
        return asdict(self)

    def __repr__(self) -> str:
        return (
            f"Metrics(total_return={self.total_return * 100:.2f}%, sharpe={self.sharpe:.2f}, "
            f"max_drawdown={self.max_drawdown * 100:.2f}%, win_rate={self.win_rate * 100:.1f}%)"
        )

    __str__ = __repr__


def as_series(values: ArrayLike, what: str = "returns", *, allow_empty: bool = False) -> FloatArray:
    """`values` as a finite 1-D float64 array, or MetricsInputError naming the problem."""
    try:
        arr = np.asarray(values, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise MetricsInputError(f"{what} must be a sequence of numbers: {exc}") from exc
    if arr.ndim != 1:
        raise MetricsInputError(f"{what} must be one-dimensional, got shape {arr.shape}")
    if arr.size == 0 and not allow_empty:
        raise MetricsInputError(f"{what} is empty")
    if not np.isfinite(arr).all():
        bad = int(np.flatnonzero(~np.isfinite(arr))[0])
        raise MetricsInputError(f"{what} contains a non-finite value at index {bad} ({arr[bad]!r})")
    return arr


def _finite(value: float, name: str) -> float:
    try:
        out = float(value)
    except (TypeError, ValueError) as exc:
        raise MetricsInputError(f"{name} must be a number, got {value!r}") from exc
    if not math.isfinite(out):
        raise MetricsInputError(f"{name} must be finite, got {value!r}")
    return out


def _check_ppy(periods_per_year: float) -> float:
    ppy = _finite(periods_per_year, "periods_per_year")
    if ppy <= 0.0:
        raise MetricsInputError(f"periods_per_year must be positive, got {periods_per_year!r}")
    return ppy


def _seq_sum(x: FloatArray) -> float:
    """Left-to-right sum (the reference's `iter().sum()`); numpy's pairwise sum differs in the last bits."""
    return float(np.cumsum(x)[-1]) if x.size else 0.0


def _cagr(total_return: float, n: int, ppy: float) -> float:
    if total_return <= -1.0:
        return -1.0  # total (or leveraged) loss clamps to -100 %
    try:
        return float((1.0 + total_return) ** (1.0 / (n / ppy)) - 1.0)
    except OverflowError:  # Python raises where IEEE (and the reference) gives +inf
        return math.inf


def _max_drawdown(equity: FloatArray) -> float:
    """Largest (peak - eq) / peak with the running peak starting at 1 (the initial capital)."""
    peak = np.maximum.accumulate(np.maximum(equity, 1.0))
    return float(max(((peak - equity) / peak).max(), 0.0))


def _ratio_or_inf(num: float, den: float) -> float:
    """num / |den|; +inf when den is 0 and num > 0; 0 when both are 0 (profit factor, payoff ratio)."""
    if den != 0.0:
        return num / abs(den)
    return math.inf if num > 0.0 else 0.0


@_quiet
def compute_metrics(returns: ArrayLike, periods_per_year: float = 252.0, risk_free: float = 0.0) -> Metrics:
    """Metrics of simple per-period returns; `risk_free` is per period.

    Raises MetricsInputError where the reference would return None (empty, bad periods_per_year) or silently
    produce NaN (non-finite input).
    """
    r = as_series(returns)
    ppy = _check_ppy(periods_per_year)
    rf = _finite(risk_free, "risk_free")
    n = r.size
    equity = np.cumprod(1.0 + r, dtype=np.float64)
    total_return = float(equity[-1]) - 1.0
    mean = _seq_sum(r) / n
    std = math.sqrt(_seq_sum((r - mean) ** 2) / (n - 1)) if n > 1 else 0.0
    sqrt_ppy = math.sqrt(ppy)
    volatility = std * sqrt_ppy
    excess_mean = mean - rf
    sharpe = excess_mean * sqrt_ppy / std if volatility > 0.0 else 0.0
    downside = math.sqrt(_seq_sum(np.minimum(r - rf, 0.0) ** 2) / n)
    sortino_ = excess_mean * sqrt_ppy / downside if downside > 0.0 else 0.0
    cagr = _cagr(total_return, n, ppy)
    mdd = _max_drawdown(equity)
    pos, neg = r[r > 0.0], r[r < 0.0]
    wins, losses = int(pos.size), int(neg.size)
    sum_pos, sum_neg = _seq_sum(pos), _seq_sum(neg)
    win_rate = wins / n
    payoff = _ratio_or_inf(sum_pos / wins if wins else 0.0, sum_neg / losses if losses else 0.0)
    return Metrics(
        total_return=total_return,
        cagr=cagr,
        volatility=volatility,
        sharpe=sharpe,
        sortino=sortino_,
        max_drawdown=mdd,
        calmar=cagr / mdd if mdd > 0.0 else 0.0,
        num_periods=n,
        winning_periods=wins,
        losing_periods=losses,
        cvar_95=_historical_cvar(r, 0.05),
        win_rate=win_rate,
        profit_factor=_ratio_or_inf(sum_pos, sum_neg),
        payoff_ratio=payoff,
        kelly=win_rate - (1.0 - win_rate) / payoff if 0.0 < payoff < math.inf else 0.0,
    )


@_quiet
def sortino(returns: ArrayLike, risk_free: float = 0.0, periods_per_year: float = 252.0, ddof: int = 0) -> float:
    """(mean − rf)·√ppy / √(Σ min(r−rf, 0)² / (n − ddof)); 0 when empty, ddof ≥ n, bad ppy or no downside."""
    r = as_series(returns, allow_empty=True)
    n = r.size
    ppy = float(periods_per_year)
    if n == 0 or ddof >= n or ddof < 0 or not math.isfinite(ppy) or ppy <= 0.0:
        return 0.0
    downside = math.sqrt(_seq_sum(np.minimum(r - risk_free, 0.0) ** 2) / (n - ddof))
    if downside <= 0.0:
        return 0.0
    return (_seq_sum(r) / n - risk_free) * math.sqrt(ppy) / downside


def norm_ppf(p: float) -> float:
    """Inverse standard normal CDF by Acklam's approximation (relative error < 1.15e-9), as the reference."""
    if p <= 0.0:
        return -math.inf
    if p >= 1.0:
        return math.inf
    if abs(p - 0.5) < 1e-15:
        return 0.0
    if p < _P_LOW or p > 1.0 - _P_LOW:
        q = math.sqrt(-2.0 * math.log(p if p < _P_LOW else 1.0 - p))
        num = ((((_C[0] * q + _C[1]) * q + _C[2]) * q + _C[3]) * q + _C[4]) * q + _C[5]
        x = num / ((((_D[0] * q + _D[1]) * q + _D[2]) * q + _D[3]) * q + 1.0)
        return x if p < _P_LOW else -x
    q = p - 0.5
    s = q * q
    num = (((((_A[0] * s + _A[1]) * s + _A[2]) * s + _A[3]) * s + _A[4]) * s + _A[5]) * q
    return num / (((((_B[0] * s + _B[1]) * s + _B[2]) * s + _B[3]) * s + _B[4]) * s + 1.0)


def _historical_cvar(r: FloatArray, alpha: float) -> float:
    """Mean of the lowest ceil(alpha·m) returns (at least one) — a negative number for a loss tail."""
    if r.size == 0:
        return 0.0
    k = max(1, math.ceil(alpha * r.size))
    return _seq_sum(np.sort(r)[:k]) / k


@_quiet
def _parametric_cvar(r: FloatArray, alpha: float) -> float:
    """Mean of returns strictly below μ + σ·Φ⁻¹(alpha) (sample σ); the minimum return when none is below."""
    n = r.size
    mu = _seq_sum(r) / n
    sigma = math.sqrt(_seq_sum((r - mu) ** 2) / (n - 1)) if n > 1 else 0.0
    tail = r[r < mu + sigma * norm_ppf(alpha)]
    return _seq_sum(tail) / tail.size if tail.size else float(r.min())


def cvar(returns: ArrayLike, alpha: float = 0.05, method: str = "historical") -> float:
    """Conditional VaR (expected shortfall) at tail probability `alpha` (0.05 = the worst 5 %).

    0 for empty input or alpha outside (0, 1). `method` is "historical" or "parametric" (alias "parametric_normal").
    """
    r = as_series(returns, allow_empty=True)
    kind = method.strip().lower().replace("-", "_")
    if kind not in {"historical", "parametric", "parametric_normal"}:
        raise MetricsInputError(f"unknown CVaR method {method!r} (historical, parametric)")
    if r.size == 0 or not 0.0 < alpha < 1.0:
        return 0.0
    return _historical_cvar(r, alpha) if kind == "historical" else _parametric_cvar(r, alpha)


def _windows(x: FloatArray, window: int) -> FloatArray:
    return np.lib.stride_tricks.sliding_window_view(x, window)


def _rolling_mean_std(x: FloatArray, window: int) -> tuple[FloatArray, FloatArray]:
    """Per-window mean and sample std by Welford, vectorised across windows.

    Welford gives an exact 0 on flat windows and no catastrophic cancellation on high-mean series (Σx² − (Σx)²/n does).
    """
    views = _windows(x, window)
    mean = np.zeros(views.shape[0])
    m2 = np.zeros(views.shape[0])
    for k in range(window):
        col = views[:, k]
        delta = col - mean
        mean = mean + delta / (k + 1)
        m2 = m2 + delta * (col - mean)
    return mean, np.sqrt(m2 / (window - 1))


@_quiet
def _rolling(returns: ArrayLike, window: int, periods_per_year: float, sharpe: bool) -> FloatArray:
    r = as_series(returns, allow_empty=True)
    ppy = _check_ppy(periods_per_year)
    out = np.full(r.size, np.nan)
    if window < 2 or r.size < window:
        return out
    mean, std = _rolling_mean_std(r, window)
    if sharpe:
        safe = np.where(std > 0.0, std, 1.0)
        out[window - 1 :] = np.where(std > 0.0, mean * math.sqrt(ppy) / safe, 0.0)
    else:
        out[window - 1 :] = std * math.sqrt(ppy)
    return out


def rolling_sharpe(returns: ArrayLike, window: int, periods_per_year: float = 252) -> FloatArray:
    """Mean / sample std · √ppy per full window (0 when the std is 0).

    NaN before the first full window, and everywhere when window < 2 or the series is shorter than the window.
    """
    return _rolling(returns, window, periods_per_year, sharpe=True)


def rolling_volatility(returns: ArrayLike, window: int, periods_per_year: float = 252) -> FloatArray:
    """Sample std · √ppy per full window; NaN-padded like `rolling_sharpe`."""
    return _rolling(returns, window, periods_per_year, sharpe=False)


@_quiet
def rolling_max_drawdown(equity: ArrayLike, window: int) -> FloatArray:
    """Per window, the max drawdown against a running peak that starts at the window's first value.

    Peaks ≤ 0 contribute 0. NaN before the first full window, and everywhere when window = 0 or too long.
    """
    eq = as_series(equity, "equity", allow_empty=True)
    out = np.full(eq.size, np.nan)
    if window < 1 or eq.size < window:
        return out
    views = _windows(eq, window)
    peak = np.maximum.accumulate(views, axis=1)
    safe = np.where(peak > 0.0, peak, 1.0)
    dd = np.where(peak > 0.0, (peak - views) / safe, 0.0)
    out[window - 1 :] = np.maximum(dd.max(axis=1), 0.0)
    return out


def _event(depth: float, peak_i: int, trough_i: int, start: int, end: int, recovered: bool) -> dict[str, Any]:
    recovery = end if recovered else None
    return {
        "drawdown_pct": depth,
        "underwater_periods": end - start,
        "underwater_days": end - start,
        "peak_index": peak_i,
        "peak_date": peak_i,
        "trough_index": trough_i,
        "trough_date": trough_i,
        "recovery_index": recovery,
        "recovery_date": recovery,
    }


def drawdown_series(equity: ArrayLike) -> list[dict[str, Any]]:
    """Drawdown events of an equity curve, in order.

    An event opens at the first value below the running peak (never while the peak is ≤ 0) and closes at the first
    value ≥ that peak; an open event has no recovery and lasts to the end. Keys as the reference, including the
    `*_days` / `*_date` duplicates.
    """
    eq = as_series(equity, "equity", allow_empty=True).tolist()
    events: list[dict[str, Any]] = []
    if not eq:
        return events
    peak, peak_i = eq[0], 0
    start = -1  # index where the current event opened; -1 when above water
    depth, trough_i = 0.0, 0  # deepest (peak − v)/peak of the open event; the trough moves only when it grows
    for i, v in enumerate(eq):
        if v >= peak:
            if start >= 0:
                events.append(_event(depth, peak_i, trough_i, start, i, True))
                start = -1
            peak, peak_i = v, i
        elif start >= 0:
            if (peak - v) / peak > depth:
                depth, trough_i = (peak - v) / peak, i
        elif peak > 0.0:
            start, depth, trough_i = i, (peak - v) / peak, i
    if start >= 0:
        events.append(_event(depth, peak_i, trough_i, start, len(eq), False))
    return events
