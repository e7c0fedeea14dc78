"""engine.portfolio.cost.CostModel: commission rounding, minimum fee, slippage and affordability."""

from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from engine.errors import BacktestError
from engine.portfolio.cost import CostModel, rhaz


@pytest.mark.parametrize(("x", "expected"), [(2.5, 3), (-2.5, -3), (2.4999, 2), (0.5, 1), (0.0, 0), (-0.4, 0)])
def test_rhaz(x: float, expected: int) -> None:
    assert rhaz(x) == expected


@pytest.mark.parametrize(("model", "notional", "expected"), [
    (CostModel(commission_bps=15), 1_000_000, 1500),
    (CostModel(commission_bps=2.5), 2000, 1),  # 0.5 → 1, half away from zero
    (CostModel(commission_bps=2.5), 1999, 0),
    (CostModel(commission_bps=2.5), -6000, 2),
    (CostModel(commission_bps=1, min_commission=100), 10_000, 100),
    (CostModel(min_commission=100), 1_000_000, 100),
    (CostModel(commission_bps=2.5, slippage_bps=1.25, min_commission=3), 100_000, 25),  # slippage is not a fee
    (CostModel.zero(), 10**12, 0),
])
def test_compute_cost(model: CostModel, notional: int, expected: int) -> None:
    assert model.compute_cost(notional) == expected


@pytest.mark.parametrize(("price", "bps", "buy", "sell"), [
    (10000, 2.5, 10003, 9998),  # 10002.5 → 10003; 9997.5 → 9998
    (155, 100, 157, 153),
    (150, 10, 150, 150),
    (14450, 100, 14595, 14306),
])
def test_slippage_moves_the_price_against_the_trade(price: int, bps: float, buy: int, sell: int) -> None:
    model = CostModel(slippage_bps=bps)
    assert (model.fill_price(price, 5), model.fill_price(price, -5), model.fill_price(price, 0)) == (buy, sell, price)


@pytest.mark.parametrize("kwargs", [{"commission_bps": -1}, {"slippage_bps": math.nan}, {"min_commission": -1},
                                    {"min_commission": 1.5}, {"commission_bps": True}])
def test_invalid_model(kwargs: dict[str, float]) -> None:
    with pytest.raises(BacktestError):
        CostModel(**kwargs)  # type: ignore[arg-type]


def test_round_trip_dict() -> None:
    model = CostModel(10, 2.5, 7)
    assert CostModel.from_dict(model.to_dict()) == model


@given(st.integers(-100, 10**9), st.integers(1, 10**6), st.sampled_from([0.0, 1.0, 2.5, 10.0, 99.9]),
       st.sampled_from([0, 1, 100, 10_000]))
def test_affordable_is_the_largest_fitting_quantity(cash: int, price: int, bps: float, fee: int) -> None:
    model = CostModel(commission_bps=bps, min_commission=fee)
    q = model.affordable(cash, price)
    assert q >= 0
    if q:
        assert q * price + model.compute_cost(q * price) <= cash
    assert (q + 1) * price + model.compute_cost((q + 1) * price) > cash
