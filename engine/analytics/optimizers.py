"""Long-only portfolio optimizers (spec §8.2): min-variance, max-Sharpe, risk parity, inverse CVaR/CDaR, HRP.

Each takes a returns matrix (rows = periods, columns = assets) and returns {symbol: weight} with weights ≥ 0 summing
to 1, or {} for an invalid matrix or a symbol-count mismatch, as the reference. Sums run left to right for parity.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import numpy as np

from engine.analytics._inputs import AnalyticsInputError, FloatArray, MatrixLike

__all__ = [
    "inverse_cdar_weights",
    "inverse_cvar_weights",
    "optimize_hrp",
    "optimize_max_sharpe",
    "optimize_min_variance",
    "optimize_risk_parity",
    "project_simplex",
]

_TOL = 1e-16


def _valid_matrix(returns_matrix: MatrixLike) -> FloatArray | None:
    """A finite rows×cols float matrix with ≥ 2 rows and ≥ 1 column, or None (ragged, non-finite, too small)."""
    try:
        if isinstance(returns_matrix, np.ndarray) and returns_matrix.ndim == 2:
            m = returns_matrix.astype(np.float64)  # fast path: already rectangular
        else:
            rows = [list(map(float, row)) for row in returns_matrix]
            if not rows or any(len(row) != len(rows[0]) for row in rows):
                return None
            m = np.array(rows, dtype=np.float64).reshape(len(rows), len(rows[0]))
    except (TypeError, ValueError) as exc:
        raise AnalyticsInputError(f"returns_matrix must be a sequence of rows of numbers: {exc}") from exc
    if m.shape[0] < 2 or m.shape[1] == 0:
        return None
    return m if np.isfinite(m).all() else None


def _sum(x: FloatArray) -> float:
    return float(x.cumsum()[-1]) if x.size else 0.0


def _dot(a: FloatArray, b: FloatArray) -> float:
    return _sum(a * b)


def _mat_vec(m: FloatArray, v: FloatArray) -> FloatArray:
    """Row-wise left-to-right Σ_j m_ij·v_j (BLAS would reorder the sums)."""
    out: FloatArray = (m * v).cumsum(axis=1)[:, -1]
    return out


def _raw_covariance(m: FloatArray) -> FloatArray:
    """Sample covariance (divisor rows − 1), each entry summed over rows in time order like the reference.

    One cumsum per asset along contiguous time rows keeps that order exactly (BLAS or pairwise sums would not).
    """
    rows, cols = m.shape
    dev_t = np.ascontiguousarray((m - np.cumsum(m, axis=0)[-1] / rows).T)
    cov = np.empty((cols, cols))
    for i in range(cols):
        cov[i] = np.cumsum(dev_t[i] * dev_t, axis=1)[:, -1]
    out: FloatArray = cov / max(rows - 1.0, 1.0)
    return out


def _covariance(m: FloatArray) -> FloatArray:
    """Sample covariance plus a ridge of 1e-6·trace/n on the diagonal (1e-10 when the trace is degenerate)."""
    cov = _raw_covariance(m)
    trace = _sum(np.diag(cov).copy())
    ridge = 1e-6 * trace / cov.shape[0] if trace > 0.0 and math.isfinite(trace) else 1e-10
    cov[np.diag_indices_from(cov)] += ridge
    return cov


def _normalize(w: FloatArray) -> FloatArray:
    """Non-finite or negative → 0; equal weights when nothing is left; else divide by the sum."""
    w = np.where(np.isfinite(w) & (w >= 0.0), w, 0.0)
    total = _sum(w)
    if total <= 1e-12:
        return np.full(w.size, 1.0 / w.size)
    out: FloatArray = w / total
    return out


def project_simplex(v: FloatArray) -> FloatArray | None:
    """Euclidean projection onto the unit simplex (Duchi et al. 2008); None when v has no positive finite entry."""
    if v.size == 0 or not (np.isfinite(v) & (v > 0.0)).any():
        return None
    u = np.sort(v)[::-1]
    cssv = np.cumsum(u)
    thetas = (cssv - 1.0) / np.arange(1, u.size + 1)
    rho = int(np.flatnonzero(u - thetas > 0.0)[-1]) + 1
    theta = (cssv[rho - 1] - 1.0) / rho
    return _normalize(np.maximum(v - theta, 0.0))


def _equal(n: int) -> FloatArray:
    return np.full(n, 1.0 / n)


def _projected_gradient(
    cov: FloatArray, iters: int, lr: float, step: Callable[[FloatArray, FloatArray, float], FloatArray]
) -> FloatArray:
    """Iterate w ← proj(step(w, Σw, lr)) with lr ×0.995, stopping on a degenerate projection or ‖Δw‖² < 1e-16."""
    w = _equal(cov.shape[0])
    for _ in range(iters):
        projected = project_simplex(step(w, _mat_vec(cov, w), lr))
        if projected is None:
            break
        d = projected - w
        w = projected
        if _sum(d * d) < _TOL:
            break
        lr *= 0.995
    return _normalize(w)


def _min_variance(m: FloatArray) -> FloatArray:
    def descend(w: FloatArray, sigma_w: FloatArray, lr: float) -> FloatArray:
        out: FloatArray = w - lr * (2.0 * sigma_w)
        return out

    return _projected_gradient(_covariance(m), 350, 0.20, descend)


def _max_sharpe(m: FloatArray, risk_free: float) -> FloatArray:
    excess = np.cumsum(m, axis=0)[-1] / m.shape[0] - risk_free
    if ((excess <= 0.0) | ~np.isfinite(excess)).all():
        return _min_variance(m)

    def ascend(w: FloatArray, sigma_w: FloatArray, lr: float) -> FloatArray:
        var = max(_dot(w, sigma_w), 1e-12)
        vol = math.sqrt(var)
        grad = excess / vol - _dot(w, excess) * sigma_w / (var * vol)
        out: FloatArray = w + lr * grad
        return out

    return _projected_gradient(_covariance(m), 450, 0.08, ascend)


def _risk_parity(m: FloatArray) -> FloatArray:
    cov = _covariance(m)
    n = cov.shape[0]
    w = _equal(n)
    for _ in range(600):
        sigma_w = _mat_vec(cov, w)
        target = max(_dot(w, sigma_w), 1e-12) / n
        with np.errstate(over="ignore", invalid="ignore"):
            update = w * np.sqrt(target / np.maximum(np.abs(w * sigma_w), 1e-12))
        nxt = _normalize(np.where(np.isfinite(update), np.maximum(update, 0.0), 0.0))
        damped = _normalize(0.6 * w + 0.4 * nxt)
        d = damped - w
        w = damped
        if _sum(d * d) < _TOL:
            break
    return _normalize(w)


def _tail_mean(values: FloatArray, alpha: float) -> float:
    """Mean of the k largest values, k = clamp(ceil((1 − alpha)·n), 1, n)."""
    k = min(max(math.ceil((1.0 - alpha) * values.size), 1), values.size)
    return _sum(np.sort(values)[::-1][:k]) / k


def _inverse_risk(risks: FloatArray) -> FloatArray:
    safe = np.where(np.isfinite(risks) & (risks > 0.0), risks, 1.0)
    return _normalize(1.0 / safe)


def _asset_cdar_losses(col: FloatArray) -> FloatArray:
    equity = np.cumprod(np.maximum(1.0 + col, 1e-9))
    peak = np.maximum.accumulate(np.maximum(equity, 1.0))
    dd: FloatArray = np.maximum((peak - equity) / peak, 0.0)
    return dd


def _inverse_tail(m: FloatArray, alpha: float, losses: Callable[[FloatArray], FloatArray]) -> FloatArray:
    a = min(max(float(alpha), 0.5), 0.999)
    risks = np.array([max(_tail_mean(losses(m[:, j]), a), 1e-8) for j in range(m.shape[1])])
    return _inverse_risk(risks)


def _hrp_distance(m: FloatArray) -> FloatArray:
    """√(½(1 − ρ)), ρ = cov_ij / √(var_i·var_j) on the un-ridged covariance; ρ = 0 when that root is ≤ 1e-12."""
    raw = _raw_covariance(m)
    var = np.diag(raw).copy()
    denom = np.sqrt(np.outer(var, var))
    usable = np.isfinite(denom) & (denom > 1e-12)
    corr = np.where(usable, raw / np.where(usable, denom, 1.0), 0.0)
    corr = np.clip(corr, -1.0, 1.0)
    dist: FloatArray = np.sqrt(np.maximum(0.5 * (1.0 - corr), 0.0))
    np.fill_diagonal(dist, 0.0)
    return dist


def _closest_pair(dist: FloatArray) -> tuple[int, int]:
    """(a, b), a < b, of the smallest off-diagonal entry; the first in row-major order on ties."""
    upper = np.where(np.triu(np.ones(dist.shape, dtype=bool), k=1), dist, np.inf)
    a, b = divmod(int(np.argmin(upper)), dist.shape[0])
    return a, b


def _single_linkage_order(dist: FloatArray) -> list[int]:
    """Leaf order of the single-linkage tree (left then right, depth first from the root).

    Clusters live in a list: a merge removes both parents and appends the child (id n + merge index), and the
    cluster-to-cluster distance is the min over members, i.e. the element-wise min of the parents' rows.
    """
    n = dist.shape[0]
    ids = list(range(n))
    d = dist.copy()
    children: dict[int, tuple[int, int]] = {}
    for merge in range(n - 1):
        a, b = _closest_pair(d)
        children[n + merge] = (ids[a], ids[b])
        row = np.minimum(d[a], d[b])
        keep = [k for k in range(len(ids)) if k not in (a, b)]
        new_row = np.append(row[keep], 0.0)
        d = np.vstack([np.column_stack([d[np.ix_(keep, keep)], row[keep]]), new_row])
        ids = [ids[k] for k in keep] + [n + merge]
    order: list[int] = []
    stack = [ids[0]]
    while stack:
        node = stack.pop()
        if node < n:
            order.append(node)
        else:
            left, right = children[node]
            stack.extend((right, left))
    return order


def _floored(var: float, floor_at: float) -> float:
    return var if math.isfinite(var) and var > floor_at else 1e-12


def _cluster_variance(cov: FloatArray, idx: list[int]) -> float:
    """wᵀΣw for inverse-variance weights over `idx`, summed term by term as the reference (1e-12 if degenerate)."""
    sub = cov[np.ix_(idx, idx)].tolist()
    if len(idx) == 1:
        return _floored(sub[0][0], 0.0)
    w = _inverse_risk(np.array([_floored(sub[i][i], 1e-12) for i in range(len(idx))])).tolist()
    acc = 0.0
    for i, wi in enumerate(w):
        row = sub[i]
        for j, wj in enumerate(w):
            acc += wi * row[j] * wj
    return _floored(acc, 0.0)


def _hrp(m: FloatArray) -> FloatArray:
    """Recursive bisection of the single-linkage leaf order; left share 1 − v_L/(v_L+v_R) (0.5 if degenerate)."""
    cov = _covariance(m)
    order = _single_linkage_order(_hrp_distance(m))
    ordered = np.ones(len(order))
    ranges = [(0, len(order))]
    while ranges:
        start, end = ranges.pop()
        if end - start <= 1:
            continue
        mid = start + (end - start) // 2
        v_l, v_r = _cluster_variance(cov, order[start:mid]), _cluster_variance(cov, order[mid:end])
        denom = v_l + v_r
        share = 1.0 - v_l / denom if math.isfinite(denom) and denom > 1e-18 else 0.5
        ordered[start:mid] *= share
        ordered[mid:end] *= 1.0 - share
        ranges += [(start, mid), (mid, end)]
    w = np.empty(len(order))
    w[order] = ordered
    return _normalize(_normalize(w))  # the reference normalises twice; the second pass can move the last bit


def _names(symbols: Sequence[str]) -> list[str]:
    """The symbols with blank names dropped, in order (as the reference)."""
    if isinstance(symbols, str) or not all(isinstance(s, str) for s in symbols):
        raise AnalyticsInputError("symbols must be a sequence of strings")
    return [s for s in symbols if s.strip()]


def _run(
    returns_matrix: MatrixLike, symbols: Sequence[str], solve: Callable[[FloatArray], FloatArray]
) -> dict[str, float]:
    """Validate, solve, and label: {} for an invalid matrix or when the name and weight counts differ."""
    names = _names(symbols)
    m = _valid_matrix(returns_matrix)
    if m is None:
        return {}
    weights = np.array([1.0]) if m.shape[1] == 1 else solve(m)
    if len(names) != weights.size:
        return {}
    return {name: float(w) for name, w in zip(names, weights, strict=True)}


def optimize_min_variance(returns_matrix: MatrixLike, symbols: Sequence[str]) -> dict[str, float]:
    """Projected-gradient min-variance (350 steps, lr 0.2 decaying); near 1/N on daily data, as the reference."""
    return _run(returns_matrix, symbols, _min_variance)


def optimize_max_sharpe(returns_matrix: MatrixLike, symbols: Sequence[str], risk_free: float = 0.0) -> dict[str, float]:
    """Projected-gradient ascent on the Sharpe ratio; min-variance when no asset has positive mean excess return."""
    return _run(returns_matrix, symbols, lambda m: _max_sharpe(m, float(risk_free)))


def optimize_risk_parity(returns_matrix: MatrixLike, symbols: Sequence[str]) -> dict[str, float]:
    """Damped multiplicative equal-risk-contribution iteration (≤ 600 steps)."""
    return _run(returns_matrix, symbols, _risk_parity)


def inverse_cvar_weights(returns_matrix: MatrixLike, symbols: Sequence[str], alpha: float = 0.95) -> dict[str, float]:
    """Weights ∝ 1 / per-asset historical CVaR of losses at confidence alpha (clamped to [0.5, 0.999])."""
    return _run(returns_matrix, symbols, lambda m: _inverse_tail(m, alpha, lambda c: np.maximum(-c, 0.0)))


def inverse_cdar_weights(returns_matrix: MatrixLike, symbols: Sequence[str], alpha: float = 0.95) -> dict[str, float]:
    """Weights ∝ 1 / per-asset conditional drawdown at risk (mean of the worst drawdowns) at confidence alpha."""
    return _run(returns_matrix, symbols, lambda m: _inverse_tail(m, alpha, _asset_cdar_losses))


def optimize_hrp(returns_matrix: MatrixLike, symbols: Sequence[str]) -> dict[str, float]:
    """Hierarchical risk parity: single-linkage order on √(½(1−ρ)), then recursive inverse-variance bisection."""
    return _run(returns_matrix, symbols, _hrp)
