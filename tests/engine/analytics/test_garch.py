"""engine.analytics.garch: spec §8.1 pinned vectors, an independent transcription of the recursion, reference parity.

Tolerances: the spec pins 5e-14 absolute; parity with nanobook 0.19.2 is asserted at 1e-15 relative (observed: equal).
"""

from __future__ import annotations

import math
import statistics

import nanobook
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from engine.analytics import AnalyticsInputError
from engine.analytics.garch import garch_ewma_forecast
from tests.engine.analytics.market import bars, tickers

FIXTURE = [0.011, -0.007, 0.004, -0.002, 0.006, -0.003, 0.002, 0.001, -0.004, 0.005, -0.001, 0.003]


def transcription(r: list[float], p: int, q: int, mean: str) -> float:
    """Steps 1–5 of spec §8.1 written plainly (textbook loops, no shared helpers)."""
    n = len(r)
    p, q = max(1, min(p, 8, n)), max(1, min(q, 8, n))
    mu = sum(r) / n if mean.lower() in ("constant", "mean") else 0.0
    eps = [x - mu for x in r]
    v0 = max(statistics.variance(eps), 1e-12)
    a_raw, b_raw = [0.8**i for i in range(p)], [0.85**j for j in range(q)]
    alphas = [w / sum(a_raw) * 0.08 for w in a_raw]
    betas = [w / sum(b_raw) * 0.90 for w in b_raw]
    omega = max(1 - sum(alphas) - sum(betas), 1e-6) * v0
    h = [v0]
    for t in range(1, n + 1):
        arch = sum(alphas[i - 1] * eps[t - i] ** 2 for i in range(1, p + 1) if t >= i)
        garch = sum(betas[j - 1] * h[t - j] for j in range(1, q + 1) if t >= j)
        h.append(max(omega + arch + garch, 1e-12))
    arch = sum(alphas[i - 1] * eps[n - i] ** 2 for i in range(1, p + 1))
    garch = sum(betas[j - 1] * h[n + 1 - j] for j in range(1, q + 1))
    return math.sqrt(max(omega + arch + garch, 1e-12))


def test_pinned_parity_vectors() -> None:
    assert abs(garch_ewma_forecast(FIXTURE) - 0.0044776400483411) < 5e-14
    assert abs(garch_ewma_forecast(FIXTURE, 2, 1, "constant") - 0.0043960525154678) < 5e-14
    assert garch_ewma_forecast(FIXTURE) == 0.004477640048341125
    assert garch_ewma_forecast(FIXTURE, 2, 1, "constant") == 0.004396052515467794


def test_last_shock_counts_twice_as_the_reference() -> None:
    # Doubling only the last return must move the forecast more than a pure GARCH(1,1) one-step would.
    base, bumped = list(FIXTURE), [*FIXTURE[:-1], FIXTURE[-1] * 2]
    assert garch_ewma_forecast(bumped) == pytest.approx(transcription(bumped, 1, 1, "zero"), rel=1e-13)
    assert garch_ewma_forecast(bumped) > garch_ewma_forecast(base)


def test_fallbacks() -> None:
    assert garch_ewma_forecast([]) == 0.0
    assert garch_ewma_forecast([0.01]) == 0.0
    assert garch_ewma_forecast([0.01, math.nan, 0.02]) == 0.0
    assert garch_ewma_forecast([0.01, math.inf]) == 0.0
    assert garch_ewma_forecast([0.0, 0.0, 0.0]) == 1e-6  # variance floor 1e-12 → √1e-12
    with pytest.raises(AnalyticsInputError):
        garch_ewma_forecast([[0.01, 0.02]])


@pytest.mark.parametrize("ticker", tickers()[:6])
def test_real_data_matches_reference_and_transcription(ticker: str) -> None:
    r = bars(ticker).returns[-500:].tolist()
    for p, q, mean in ((1, 1, "zero"), (2, 1, "constant"), (3, 2, "MEAN"), (9, 0, "zero")):
        ours = garch_ewma_forecast(r, p, q, mean)
        assert ours == pytest.approx(nanobook.garch_ewma_forecast(r, p, q, mean), rel=1e-15)
        assert ours == pytest.approx(transcription(r, p, q, mean), rel=1e-12)


@settings(max_examples=200, deadline=None)
@given(
    st.lists(st.floats(min_value=-0.2, max_value=0.2), max_size=60),
    st.integers(min_value=0, max_value=10),
    st.integers(min_value=0, max_value=10),
    st.sampled_from(["zero", "constant", "Mean", "other"]),
)
def test_property_parity_and_positive(r: list[float], p: int, q: int, mean: str) -> None:
    ours = garch_ewma_forecast(r, p, q, mean)
    assert ours == pytest.approx(nanobook.garch_ewma_forecast(r, p, q, mean), rel=1e-15, abs=0.0)
    assert ours >= 0.0 and math.isfinite(ours)
