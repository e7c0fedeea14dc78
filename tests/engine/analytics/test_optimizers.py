"""engine.analytics.optimizers: spec §8.2 pinned vectors, parity with nanobook 0.19.2 on real data, invariants.

Tolerances: pinned vectors as the reference's own test (5e-13; 1e-15 CVaR, 1e-12 CDaR); parity with the
reference 1e-14 absolute per weight (same arithmetic in the same order; observed differences are 0).
"""

from __future__ import annotations

import math

import nanobook
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from engine.analytics import AnalyticsInputError
from engine.analytics.optimizers import (
    inverse_cdar_weights,
    inverse_cvar_weights,
    optimize_hrp,
    optimize_max_sharpe,
    optimize_min_variance,
    optimize_risk_parity,
    project_simplex,
)
from tests.engine.analytics.market import returns_matrix, tickers

FIXTURE = [
    [0.010, 0.004, -0.002, 0.006],
    [-0.003, 0.006, 0.001, -0.002],
    [0.007, -0.001, 0.002, 0.004],
    [0.004, 0.003, -0.004, 0.005],
    [-0.002, 0.005, 0.003, -0.001],
    [0.006, -0.002, 0.001, 0.003],
    [0.003, 0.004, -0.001, 0.002],
    [-0.001, 0.002, 0.002, -0.003],
    [0.005, 0.001, -0.002, 0.004],
    [0.002, 0.003, 0.001, 0.000],
    [-0.004, 0.002, 0.003, -0.002],
    [0.006, -0.001, 0.000, 0.005],
]
SYMS = ["A", "B", "C", "D"]
PINNED = {
    optimize_min_variance: ([0.2497573732073193, 0.2501599724548402, 0.2502155962706062, 0.2498670580672341], 5e-13),
    optimize_max_sharpe: ([0.0621307796017623, 0.3035236859870962, 0.3816095562320783, 0.2527359781790632], 5e-13),
    optimize_risk_parity: ([0.1176796812466536, 0.2747304611088105, 0.4509665061137088, 0.1566233515308271], 5e-13),
    inverse_cvar_weights: ([0.1875, 0.375, 0.1875, 0.25], 1e-15),
    inverse_cdar_weights: ([0.1875, 0.375, 0.1875, 0.25], 1e-12),
}
ALL = [
    optimize_min_variance,
    optimize_max_sharpe,
    optimize_risk_parity,
    inverse_cvar_weights,
    inverse_cdar_weights,
    optimize_hrp,
]
PARITY = 1e-14


def reference(fn: object) -> object:
    return getattr(nanobook, fn.__name__)  # type: ignore[attr-defined]


@pytest.mark.parametrize("fn", list(PINNED), ids=lambda f: f.__name__)
def test_pinned_vectors(fn: object) -> None:
    expected, tol = PINNED[fn]  # type: ignore[index]
    got = fn(FIXTURE, SYMS)  # type: ignore[operator]
    assert list(got) == SYMS
    assert max(abs(got[s] - e) for s, e in zip(SYMS, expected, strict=True)) <= tol


def assert_parity(fn: object, matrix: list[list[float]] | np.ndarray, syms: list[str]) -> dict[str, float]:
    ours = fn(matrix, syms)  # type: ignore[operator]
    ref = reference(fn)(np.asarray(matrix).tolist(), syms)  # type: ignore[operator]
    assert ours.keys() == ref.keys()
    for s in ours:
        assert abs(ours[s] - ref[s]) <= PARITY, (fn, s, ours[s], ref[s])  # type: ignore[attr-defined]
    return ours  # type: ignore[no-any-return]


@pytest.mark.parametrize("fn", ALL, ids=lambda f: f.__name__)
def test_real_data_parity(fn: object) -> None:
    names = tickers()
    for cols, rows in ((names[:5], slice(0, 250)), (names, slice(-504, None)), (names[5:13], slice(600, 660))):
        m = returns_matrix(cols)[rows]
        w = assert_parity(fn, m, cols)
        assert math.isclose(sum(w.values()), 1.0, abs_tol=1e-12)
        assert min(w.values()) >= 0.0


def test_hrp_and_max_sharpe_differ_from_equal_weights_on_real_data() -> None:
    names = tickers()[:8]
    m = returns_matrix(names)[-252:]
    for fn in (optimize_hrp, optimize_risk_parity, optimize_max_sharpe):
        w = np.array(list(fn(m, names).values()))
        assert np.abs(w - 1 / 8).max() > 1e-3  # the quirk of near-1/N is min-variance's alone


def test_max_sharpe_falls_back_to_min_variance_without_positive_excess() -> None:
    losing = [[-abs(x) - 0.001 for x in row] for row in FIXTURE]
    assert optimize_max_sharpe(losing, SYMS) == optimize_min_variance(losing, SYMS)
    assert optimize_max_sharpe(FIXTURE, SYMS, risk_free=1.0) == optimize_min_variance(FIXTURE, SYMS)


@pytest.mark.parametrize("fn", ALL, ids=lambda f: f.__name__)
def test_invalid_inputs_give_empty_dict(fn: object) -> None:
    call = fn  # type: ignore[assignment]
    assert call([[0.01, 0.02]], ["A", "B"]) == {}  # one row
    assert call([[0.01, 0.02], [0.03]], ["A", "B"]) == {}  # ragged
    assert call([[0.01, math.nan], [0.0, 0.01]], ["A", "B"]) == {}  # non-finite
    assert call([[], []], []) == {}  # no columns
    assert call(FIXTURE, ["A", "B", "C"]) == {}  # symbol-count mismatch
    assert call([[0.01], [0.02]], ["X"]) == {"X": 1.0}  # one column
    assert list(call(FIXTURE, ["A", " ", "B", "C", "", "D"])) == SYMS  # blank names dropped
    with pytest.raises(AnalyticsInputError):
        call(FIXTURE, ["A", "B", "C", 4])
    with pytest.raises(AnalyticsInputError):
        call([["x", "y"], [1, 2]], ["A", "B"])


def test_project_simplex() -> None:
    assert project_simplex(np.array([])) is None
    assert project_simplex(np.array([-1.0, 0.0, math.nan])) is None
    w = project_simplex(np.array([0.5, 0.5, 0.5]))
    assert w is not None and np.allclose(w, 1 / 3, atol=1e-15)
    inside = np.array([0.25, 0.5, 0.25])
    assert np.allclose(project_simplex(inside), inside, atol=1e-15)  # type: ignore[arg-type]


matrices = st.integers(min_value=2, max_value=6).flatmap(
    lambda cols: arrays(
        np.float64,
        st.tuples(st.integers(min_value=2, max_value=30), st.just(cols)),
        elements=st.floats(min_value=-0.2, max_value=0.2, allow_subnormal=False),
    )
)


@settings(max_examples=60, deadline=None)
@given(matrices)
def test_property_long_only_simplex_and_parity(m: np.ndarray) -> None:
    syms = [f"S{i}" for i in range(m.shape[1])]
    for fn in ALL:
        w = assert_parity(fn, m, syms)
        values = np.array(list(w.values()))
        assert (values >= 0.0).all() and np.isfinite(values).all()
        assert math.isclose(values.sum(), 1.0, abs_tol=1e-12)
