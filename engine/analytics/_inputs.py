"""Input coercion shared by the analytics modules: sequences → float64 numpy arrays, with a clear error.

Owns `AnalyticsInputError` and the left-to-right sum helper; no I/O, no global state.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
import numpy.typing as npt

from configs.errors import InputError

FloatArray = npt.NDArray[np.float64]
VectorLike = Sequence[float] | npt.NDArray[Any]
MatrixLike = Sequence[Sequence[float]] | npt.NDArray[Any]


class AnalyticsInputError(InputError, ValueError):
    """An analytics input that is not numeric or has the wrong shape (the reference raises TypeError there)."""


def as_vector(values: VectorLike, what: str = "values") -> FloatArray:
    """`values` as a 1-D float64 array (non-finite values allowed; each function decides what they mean)."""
    try:
        arr = np.asarray(values, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise AnalyticsInputError(f"{what} must be a sequence of numbers: {exc}") from exc
    if arr.ndim != 1:
        raise AnalyticsInputError(f"{what} must be one-dimensional, got shape {arr.shape}")
    return arr


def seq_sum(values: FloatArray) -> float:
    """Left-to-right sum, as the reference's `iter().sum()` (numpy's pairwise sum differs in the last bits)."""
    return float(np.cumsum(values)[-1]) if values.size else 0.0


def sample_var(values: FloatArray) -> float:
    """Two-pass sample variance (ddof 1) with sequential sums; 0 for fewer than two values."""
    n = values.size
    if n < 2:
        return 0.0
    mean = seq_sum(values) / n
    dev = values - mean
    return seq_sum(dev * dev) / (n - 1)


def sample_std(values: FloatArray) -> float:
    """√sample_var (ddof 1); 0 for fewer than two values."""
    return math.sqrt(sample_var(values))
