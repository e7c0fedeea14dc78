"""Factor statistics (spec §8.4): Spearman rank correlation with p-value, quantile spread, deflated Sharpe ratio.

Pure Python/numpy numerics (Lanczos log-gamma, Lentz continued fraction, Abramowitz–Stegun erf) so no SciPy is
needed at run time; invalid input gives NaN as in the reference.
"""

from __future__ import annotations

import math

import numpy as np

from engine.analytics._inputs import FloatArray, VectorLike, as_vector

__all__ = ["deflated_sharpe", "quintile_spread", "spearman"]

_LANCZOS = (
    0.99999999999980993,
    676.5203681218851,
    -1259.1392167224028,
    771.32342877765313,
    -176.61502916214059,
    12.507343278686905,
    -0.13857109526572012,
    9.9843695780195716e-6,
    1.5056327351493116e-7,
)
_EULER_GAMMA = 0.5772156649015329
_TINY = 1e-30


def _rank(values: list[float]) -> list[float]:
    """1-based ranks; ties share the average rank (scipy's default)."""
    order = sorted(range(len(values)), key=values.__getitem__)
    ranks = [0.0] * len(values)
    i = 0
    while i < len(order):
        j = i + 1
        while j < len(order) and values[order[j]] == values[order[i]]:
            j += 1
        for k in order[i:j]:
            ranks[k] = (i + 1 + j) / 2.0
        i = j
    return ranks


def _pearson(x: list[float], y: list[float]) -> float:
    n = len(x)
    mx = _sum_seq(x) / n
    my = _sum_seq(y) / n
    cov = vx = vy = 0.0
    for a, b in zip(x, y, strict=True):
        dx, dy = a - mx, b - my
        cov += dx * dy
        vx += dx * dx
        vy += dy * dy
    if vx == 0.0 or vy == 0.0:
        return math.nan
    return cov / math.sqrt(vx * vy)


def _sum_seq(values: list[float]) -> float:
    total = 0.0
    for v in values:
        total += v
    return total


def _ln_gamma(x: float) -> float:
    """log Γ(x) by Lanczos (g = 7), with the reflection formula below 0.5."""
    if x < 0.5:
        return math.log(math.pi) - math.log(math.sin(math.pi * x)) - _ln_gamma(1.0 - x)
    x -= 1.0
    acc = _LANCZOS[0]
    for i, c in enumerate(_LANCZOS[1:]):
        acc += c / (x + i + 1.0)
    t = x + 7.5
    return 0.5 * math.log(2.0 * math.pi) + math.log(t) * (x + 0.5) - t + math.log(acc)


def _clamp_tiny(v: float) -> float:
    return _TINY if abs(v) < _TINY else v


def _beta_cf(a: float, b: float, x: float) -> float:
    """Continued fraction of the incomplete beta (modified Lentz; eps 3e-14, ≤ 200 iterations)."""
    qab, qap, qam = a + b, a + 1.0, a - 1.0
    c = 1.0
    d = 1.0 / _clamp_tiny(1.0 - qab * x / qap)
    h = d
    for m in range(1, 201):
        m2 = 2.0 * m
        aa = m * (b - m) * x / ((qam + m2) * (a + m2))
        d = 1.0 / _clamp_tiny(1.0 + aa * d)
        c = _clamp_tiny(1.0 + aa / c)
        h *= d * c
        aa = -(a + m) * (qab + m) * x / ((a + m2) * (qap + m2))
        d = 1.0 / _clamp_tiny(1.0 + aa * d)
        c = _clamp_tiny(1.0 + aa / c)
        delta = d * c
        h *= delta
        if abs(delta - 1.0) <= 3e-14:
            break
    return h


def _inc_beta(x: float, a: float, b: float) -> float:
    """Regularised incomplete beta I_x(a, b), using the symmetry I_x(a,b) = 1 − I_{1−x}(b,a) past the mode."""
    if x <= 0.0:
        return 0.0
    if x >= 1.0:
        return 1.0
    if x > (a + 1.0) / (a + b + 2.0):
        return 1.0 - _inc_beta_cf(1.0 - x, b, a)
    return _inc_beta_cf(x, a, b)


def _inc_beta_cf(x: float, a: float, b: float) -> float:
    ln_beta = _ln_gamma(a) + _ln_gamma(b) - _ln_gamma(a + b)
    front = math.exp(math.log(x) * a + math.log(1.0 - x) * b - ln_beta) / a
    return front * _beta_cf(a, b, x)


def spearman(x: VectorLike, y: VectorLike) -> tuple[float, float]:
    """(rho, two-sided p) like scipy.stats.spearmanr; (NaN, NaN) on length mismatch, n < 3, NaN or no variance."""
    xs, ys = as_vector(x, "x"), as_vector(y, "y")
    n = xs.size
    if n != ys.size or n < 3 or np.isnan(xs).any() or np.isnan(ys).any():
        return math.nan, math.nan
    r = _pearson(_rank(xs.tolist()), _rank(ys.tolist()))
    if math.isnan(r):
        return math.nan, math.nan
    r = min(max(r, -1.0), 1.0)
    if abs(abs(r) - 1.0) < 1e-15:
        return r, 0.0
    df = n - 2.0
    t = r * math.sqrt(df / (1.0 - r * r))
    return r, 2.0 * (0.5 * _inc_beta(df / (df + t * t), df / 2.0, 0.5))


def quintile_spread(scores: VectorLike, returns: VectorLike, n_quantiles: int = 5) -> float:
    """Mean return of the top score group minus the bottom group (groups of n // q after a stable sort by score).

    NaN on a length mismatch, fewer observations than groups, q = 0 or any NaN.
    """
    s, r = as_vector(scores, "scores"), as_vector(returns, "returns")
    n, q = s.size, int(n_quantiles)
    if n != r.size or q <= 0 or n < q or np.isnan(s).any() or np.isnan(r).any():
        return math.nan
    order = np.argsort(s, kind="stable")
    g = n // q
    ordered: FloatArray = r[order]
    return _sum_seq(ordered[n - g :].tolist()) / g - _sum_seq(ordered[:g].tolist()) / g


def _erf(x: float) -> float:
    """Abramowitz–Stegun 7.1.26 (|error| < 1.5e-7), odd-extended to negative x."""
    sign = -1.0 if x < 0.0 else 1.0
    ax = abs(x)
    t = 1.0 / (1.0 + 0.3275911 * ax)
    poly = ((((1.061405429 * t - 1.453152027) * t + 1.421413741) * t - 0.284496736) * t + 0.254829592) * t
    return sign * (1.0 - poly * math.exp(-ax * ax))


def _norm_cdf(x: float) -> float:
    return 0.5 * (1.0 + _erf(x / math.sqrt(2.0)))


def deflated_sharpe(sharpe: float, n_trials: int, skewness: float, kurtosis: float) -> float:
    """López de Prado's deflated Sharpe ratio: Φ((SR − E[max SR]) / se) over `n_trials` trials.

    n_trials = 0 → NaN, 1 → the Sharpe itself; NaN for non-finite input, SR < 0, kurtosis ≤ 0 or a non-positive
    variance term 1 − skew·SR + ¼(kurt − 1)·SR².
    """
    n = int(n_trials)
    if n == 0:
        return math.nan
    if n == 1:
        return float(sharpe)
    sr, skew, kurt = float(sharpe), float(skewness), float(kurtosis)
    if not all(math.isfinite(v) for v in (sr, skew, kurt)) or sr < 0.0 or kurt <= 0.0:
        return math.nan
    term = 1.0 - skew * sr + 0.25 * (kurt - 1.0) * sr * sr
    if term <= 0.0:
        return math.nan
    # Imported here: engine.portfolio's package init may import analytics, so no import-time cycle is possible.
    from engine.portfolio.metrics import norm_ppf

    se = math.sqrt(term / (n - 1.0))
    expected_max = se * (
        (1.0 - _EULER_GAMMA) * norm_ppf(1.0 - 1.0 / n) + _EULER_GAMMA * norm_ppf(1.0 - 1.0 / (n * math.e))
    )
    return _norm_cdf((sr - expected_max) / se)
