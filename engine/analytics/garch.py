"""`garch_ewma_forecast`: the reference's fixed-coefficient GARCH-style recursion (spec §8.1), not a fitted model.

Returns a one-step per-period standard deviation; keeps the reference quirk of counting the last shock twice.
"""

from __future__ import annotations

import math

import numpy as np

from engine.analytics._inputs import VectorLike, as_vector, sample_var, seq_sum

__all__ = ["garch_ewma_forecast"]

_ALPHA_SUM = 0.08
_BETA_SUM = 0.90
_FLOOR = 1e-12


def _weights(count: int, decay: float, total: float) -> list[float]:
    """`count` geometric weights 1, decay, decay², … rescaled to sum to `total` (reference rounding order)."""
    raw, x = [], 1.0
    for _ in range(count):
        raw.append(x)
        x *= decay
    denom = max(sum(raw), _FLOOR)
    return [w / denom * total for w in raw]


def _seq(values: list[float]) -> float:
    total = 0.0
    for v in values:
        total += v
    return total


def _clamp_order(order: int, n: int) -> int:
    return max(1, min(int(order), 8, n))


def _variance(omega: float, alphas: list[float], betas: list[float], eps: list[float], h: list[float], t: int) -> float:
    """ω + Σ α_i·ε[t−i]² + Σ β_j·h[t−j] over the lags that exist (the two sums built apart, as the reference)."""
    arch = 0.0
    for i, a in enumerate(alphas, start=1):
        if t >= i:
            arch += a * eps[t - i] * eps[t - i]
    garch = 0.0
    for j, b in enumerate(betas, start=1):
        if t >= j:
            garch += b * h[t - j]
    return omega + arch + garch


def _forecast(omega: float, alphas: list[float], betas: list[float], eps: list[float], h: list[float]) -> float:
    """h[n+1]: ε lags by n−i but h by n+1−j, so ε[n−1]² enters twice (once via h[n]) — a reference quirk kept."""
    n = len(eps)
    arch = 0.0
    for i, a in enumerate(alphas, start=1):
        arch += a * eps[n - i] * eps[n - i]
    garch = 0.0
    for j, b in enumerate(betas, start=1):
        garch += b * h[n + 1 - j]
    return omega + arch + garch


def garch_ewma_forecast(returns: VectorLike, p: int = 1, q: int = 1, mean: str = "zero") -> float:
    """One-step-ahead volatility (a standard deviation, not annualised) of `returns`.

    Fewer than two returns, or any non-finite one, gives the fallback: the sample std (0 when undefined).
    `mean` "constant"/"mean" (any case) demeans the returns first; anything else assumes a zero mean.
    """
    r = as_vector(returns, "returns")
    n = r.size
    if n < 2 or not np.isfinite(r).all():
        return 0.0  # the reference's fallback (sample std) is 0 for < 2 values and NaN-mapped-to-0 otherwise
    p_, q_ = _clamp_order(p, n), _clamp_order(q, n)
    mu = seq_sum(r) / n if mean.lower() in {"constant", "mean"} else 0.0
    eps = r - mu
    v0 = max(sample_var(eps), _FLOOR)
    alphas, betas = _weights(p_, 0.8, _ALPHA_SUM), _weights(q_, 0.85, _BETA_SUM)
    omega = max(1.0 - _seq(alphas) - _seq(betas), 1e-6) * v0
    e = eps.tolist()
    h = [v0]
    for t in range(1, n + 1):
        h.append(max(_variance(omega, alphas, betas, e, h, t), _FLOOR))
    return math.sqrt(max(_forecast(omega, alphas, betas, e, h), _FLOOR))
