"""engine.analytics.validation: TimeSeriesSplit vs scikit-learn, walk-forward vs the reference, realized vol
estimators written out in numpy.

Tolerances: splits exact; walk-forward metrics 1e-14 relative (observed: equal); realized vol 1e-12 relative vs
the numpy formulas and 1e-14 vs the reference (observed: equal).
"""

from __future__ import annotations

import math

import nanobook
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.model_selection import TimeSeriesSplit

from engine.analytics import AnalyticsInputError
from engine.analytics.validation import realized_vol, time_series_split, walkforward
from engine.portfolio.metrics import Metrics, MetricsInputError
from tests.engine.analytics.market import bars, tickers

METRIC_FIELDS = list(Metrics.__dataclass_fields__)


@pytest.mark.parametrize(("n", "k"), [(10, 3), (50, 5), (100, 5), (100, 10), (1000, 5), (7, 2), (1849, 12)])
def test_time_series_split_equals_sklearn(n: int, k: int) -> None:
    expected = [(train.tolist(), test.tolist()) for train, test in TimeSeriesSplit(n_splits=k).split(np.zeros(n))]
    assert time_series_split(n, k) == expected


@settings(max_examples=200, deadline=None)
@given(st.integers(0, 80), st.integers(0, 12))
def test_property_time_series_split_parity(n: int, k: int) -> None:
    ours = time_series_split(n, k)
    assert ours == [(list(a), list(b)) for a, b in nanobook.py_time_series_split(n, k)]
    for train, test in ours:
        assert train == list(range(len(train))) and test[0] == len(train) and len(test) == n // (k + 1)


def assert_walkforward_parity(ours: list[dict[str, object]], ref: list[dict[str, object]]) -> None:
    assert len(ours) == len(ref)
    for a, b in zip(ours, ref, strict=True):
        assert a.keys() == b.keys()
        for key in a:
            if key.endswith("metrics"):
                if b[key] is None:
                    assert a[key] is None
                    continue
                for f in METRIC_FIELDS:
                    x, y = getattr(a[key], f), getattr(b[key], f)
                    assert x == y or math.isclose(x, y, rel_tol=1e-14), (key, f, x, y)
            else:
                assert a[key] == b[key]


@pytest.mark.parametrize("ticker", tickers()[:4])
def test_walkforward_real_data(ticker: str) -> None:
    r = bars(ticker).returns
    ours = walkforward(r, [0.5, 2.0], n_windows=4, train_pct=0.75)
    assert_walkforward_parity(ours, nanobook.walkforward(r.tolist(), [0.5, 2.0], 4, 0.75))
    assert [w["test_end"] for w in ours][-1] == r.size
    for w in ours:
        assert w["train_start"] < w["train_end"] == w["test_start"] < w["test_end"]
        assert w["params"] == [0.5, 2.0]


@settings(max_examples=150, deadline=None)
@given(
    st.lists(st.floats(-0.1, 0.1), max_size=60),
    st.integers(0, 8),
    st.sampled_from([0.0, 0.3, 0.7, 0.99, 1.0, -0.1, math.nan]),
    st.sampled_from([252.0, 12.0, 0.0]),
)
def test_property_walkforward_parity(r: list[float], k: int, pct: float, ppy: float) -> None:
    ours = walkforward(r, None, k, pct, ppy)
    assert_walkforward_parity(ours, nanobook.walkforward(r, None, k, pct, ppy))


def test_walkforward_rejects_non_finite_returns_and_bad_params() -> None:
    with pytest.raises(MetricsInputError):
        walkforward([0.01, -0.01, 0.02, math.nan, 0.01, 0.0], n_windows=2, train_pct=0.5)
    with pytest.raises(AnalyticsInputError):
        walkforward([0.01, -0.01, 0.02, 0.0, 0.01, 0.0], [{"lookback": 3}], n_windows=2, train_pct=0.5)  # type: ignore[list-item]


def tb_realized_vol(o: np.ndarray, h: np.ndarray, lo: np.ndarray, c: np.ndarray, method: str) -> float:
    if method == "close_to_close":
        return float(np.std(np.log(c[1:] / c[:-1]), ddof=1))
    if method == "parkinson":
        return float(np.sqrt(np.sum(np.log(h / lo) ** 2) / (4 * len(h) * np.log(2))))
    if method == "garman_klass":
        return float(np.sqrt(np.mean(0.5 * np.log(h / lo) ** 2 - (2 * np.log(2) - 1) * np.log(c / o) ** 2)))
    m = len(o) - 1
    k = 0.34 / (1.34 + (m + 1) / (m - 1))
    overnight = np.log(o[1:] / c[:-1])
    intraday = np.log(c[1:] / o[1:])
    rs = np.log(h[1:] / o[1:]) * np.log(h[1:] / c[1:]) + np.log(lo[1:] / o[1:]) * np.log(lo[1:] / c[1:])
    return float(np.sqrt(np.var(overnight, ddof=1) + k * np.var(intraday, ddof=1) + (1 - k) * np.mean(rs)))


@pytest.mark.parametrize("ticker", tickers()[:6])
@pytest.mark.parametrize("method", ["close_to_close", "parkinson", "garman_klass", "yang_zhang"])
def test_realized_vol_real_data(ticker: str, method: str) -> None:
    b = bars(ticker)
    o, h, lo, c = b.open[-252:], b.high[-252:], b.low[-252:], b.close[-252:]
    ours = realized_vol(o, h, lo, c, method)
    assert ours == pytest.approx(tb_realized_vol(o, h, lo, c, method), rel=1e-12)
    ref = nanobook.realized_vol(o.tolist(), h.tolist(), lo.tolist(), c.tolist(), method)
    assert ours == pytest.approx(ref, rel=1e-14)


def test_realized_vol_aliases_and_invalid() -> None:
    b = bars("V")
    args = (b.open[:50], b.high[:50], b.low[:50], b.close[:50])
    for canonical, aliases in (
        ("close_to_close", ["close", "cc"]),
        ("garman_klass", ["garman-klass", "gk"]),
        ("yang_zhang", ["yang-zhang", "yz"]),
    ):
        assert all(realized_vol(*args, a) == realized_vol(*args, canonical) for a in aliases)
    with pytest.raises(AnalyticsInputError, match="unknown realized_vol method: CC"):
        realized_vol(*args, "CC")
    with pytest.raises(ValueError):
        realized_vol(*args, "foo")
    assert math.isnan(realized_vol([1.0], [1.0], [1.0], [1.0]))
    assert math.isnan(realized_vol([1.0, 1.0], [1.0, 1.0], [1.0], [1.0, 1.0]))
    assert math.isnan(realized_vol([1.0, 1.0], [1.0, 1.0], [0.0, 1.0], [1.0, 1.0]))
    assert math.isnan(realized_vol([1.0, 1.0], [1.0, 1.0], [1.0, 1.0], [1.0, 1.0], "yz"))
    assert realized_vol([100.0] * 4, [100.0] * 4, [100.0] * 4, [100.0] * 4, "parkinson") == 0.0
