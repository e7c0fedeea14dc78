"""filters.py: exchangeInfo parsing (NOTIONAL and legacy MIN_NOTIONAL) and sizing properties (hypothesis)."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from engine.brokers.binance.filters import (
    SymbolRules,
    equity_in_quote,
    parse_symbol,
    round_price,
    round_quantity,
    size_order,
    target_quantities,
)


def entry(notional: dict[str, Any] | None = None, **over: Any) -> dict[str, Any]:
    filters: list[dict[str, Any]] = [
        {"filterType": "PRICE_FILTER", "minPrice": "0.01000000", "maxPrice": "1000000.00000000",
         "tickSize": "0.01000000"},
        {"filterType": "LOT_SIZE", "minQty": "0.00001000", "maxQty": "9000.00000000", "stepSize": "0.00001000"},
        {"filterType": "ICEBERG_PARTS", "limit": 10},
    ]
    if notional is not None:
        filters.append(notional)
    return {"symbol": "BTCUSDT", "status": "TRADING", "baseAsset": "BTC", "quoteAsset": "USDT", "filters": filters,
            **over}


def test_parses_current_notional_filter() -> None:
    rules = parse_symbol(entry({"filterType": "NOTIONAL", "minNotional": "5.00000000", "applyMinToMarket": True,
                                "maxNotional": "9000000.00000000"}))
    assert (rules.base_asset, rules.quote_asset, rules.tradable) == ("BTC", "USDT", True)
    assert rules.tick_size == Decimal("0.01")
    assert rules.step_size == Decimal("0.00001")
    assert rules.min_qty == Decimal("0.00001")
    assert rules.min_notional == Decimal(5)
    inst = rules.instrument()
    assert (inst.symbol, inst.tick_size, inst.lot_size, inst.min_quantity, inst.min_notional, inst.currency) == (
        "BTCUSDT", Decimal("0.01"), Decimal("0.00001"), Decimal("0.00001"), Decimal(5), "USDT")


def test_parses_legacy_min_notional_filter() -> None:
    rules = parse_symbol(entry({"filterType": "MIN_NOTIONAL", "minNotional": "10.00000000", "applyToMarket": True}))
    assert rules.min_notional == Decimal(10)


def test_no_notional_filter_means_no_minimum_and_halted_is_untradable() -> None:
    rules = parse_symbol(entry(None, status="BREAK"))
    assert rules.min_notional == 0
    assert not rules.tradable
    assert not rules.instrument().tradable


def test_refuses_a_symbol_it_cannot_size() -> None:
    bad = entry(None)
    bad["filters"] = [f for f in bad["filters"] if f["filterType"] != "LOT_SIZE"]
    with pytest.raises(ValueError, match="LOT_SIZE"):
        parse_symbol(bad)
    with pytest.raises(ValueError, match="not a number"):
        parse_symbol(entry({"filterType": "NOTIONAL", "minNotional": "lots"}))


def rules_of(tick: str, step: str, min_qty: str, min_notional: str, max_qty: str = "0") -> SymbolRules:
    return SymbolRules(symbol="XUSDT", base_asset="X", quote_asset="USDT", tick_size=Decimal(tick),
                       min_price=Decimal(tick), max_price=Decimal(0), step_size=Decimal(step),
                       min_qty=Decimal(min_qty), max_qty=Decimal(max_qty), min_notional=Decimal(min_notional),
                       tradable=True)


def test_rounding_is_toward_zero() -> None:
    r = rules_of("0.01", "0.001", "0.001", "5")
    assert round_quantity(Decimal("1.23999"), r) == Decimal("1.239")
    assert round_price(Decimal("100.019"), r) == Decimal("100.01")
    assert round_quantity(Decimal("0.0009"), r) == 0


def test_under_min_notional_is_skipped_with_a_reason() -> None:
    sized = size_order(Decimal("0.04"), Decimal("100"), rules_of("0.01", "0.01", "0.01", "5"))
    assert sized.quantity == 0
    assert sized.skipped is not None
    assert "minimum notional" in sized.skipped


def test_below_min_quantity_is_skipped() -> None:
    sized = size_order(Decimal("0.5"), Decimal("100"), rules_of("0.01", "1", "1", "0"))
    assert sized.quantity == 0
    assert sized.skipped is not None


def test_max_quantity_caps() -> None:
    sized = size_order(Decimal("50"), Decimal("1"), rules_of("0.01", "1", "1", "0", max_qty="10"))
    assert sized.quantity == 10


STEPS = st.sampled_from(["1", "0.1", "0.001", "0.00001", "0.00000001", "5", "0.25"])
TICKS = st.sampled_from(["0.01", "0.00000100", "0.5", "1", "0.0001"])
NOTIONALS = st.sampled_from(["0", "1", "5", "10", "100"])
QTYS = st.decimals(min_value=Decimal(0), max_value=Decimal(10**6), places=9, allow_nan=False, allow_infinity=False)
PRICES = st.decimals(min_value=Decimal("0.000001"), max_value=Decimal(10**6), places=8, allow_nan=False,
                     allow_infinity=False)


@settings(max_examples=300, deadline=None)
@given(qty=QTYS, price=PRICES, tick=TICKS, step=STEPS, min_notional=NOTIONALS, min_mult=st.integers(1, 3))
def test_sized_orders_never_exceed_the_target_or_break_a_filter(qty: Decimal, price: Decimal, tick: str, step: str,
                                                                 min_notional: str, min_mult: int) -> None:
    rules = rules_of(tick, step, str(Decimal(step) * min_mult), min_notional)
    sized = size_order(qty, price, rules)
    assert sized.price <= price
    assert sized.price % rules.tick_size == 0
    if sized.skipped is None:
        assert 0 < sized.quantity <= qty
        assert sized.quantity % rules.step_size == 0
        assert sized.quantity >= rules.min_qty
        assert sized.quantity * sized.price >= rules.min_notional
        assert sized.price >= rules.min_price
    else:
        assert sized.quantity == 0
        assert sized.skipped


@settings(max_examples=200, deadline=None)
@given(equity=st.decimals(min_value=Decimal(0), max_value=Decimal(10**7), places=2),
       weights=st.lists(st.integers(0, 100), min_size=1, max_size=4),
       prices=st.lists(PRICES, min_size=4, max_size=4), step=STEPS, tick=TICKS)
def test_targets_never_spend_more_than_their_weight(equity: Decimal, weights: list[int], prices: list[Decimal],
                                                    step: str, tick: str) -> None:
    total = sum(weights) or 1
    symbols = [f"A{i}USDT" for i in range(len(weights))]
    w = {s: Decimal(x) / Decimal(max(total, 100)) for s, x in zip(symbols, weights, strict=True)}
    px = dict(zip(symbols, prices, strict=False))
    rules = {s: rules_of(tick, step, step, "5") for s in symbols}
    sized = target_quantities(w, equity, px, rules)
    spent = Decimal(0)
    for s, order in sized.items():
        assert order.quantity * order.price <= w[s] * equity
        spent += order.quantity * order.price
    assert spent <= equity


def test_weights_must_be_a_partition_of_at_most_the_whole() -> None:
    rules = {"AUSDT": rules_of("0.01", "1", "1", "0")}
    with pytest.raises(ValueError, match="at most 1"):
        target_quantities({"AUSDT": Decimal("1.5")}, Decimal(100), {"AUSDT": Decimal(1)}, rules)


def test_equity_values_balances_in_the_quote_asset() -> None:
    balances = {"USDT": Decimal("100"), "BTC": Decimal("0.5"), "ETH": Decimal("2"), "DUST": Decimal("7"),
                "ZERO": Decimal(0)}
    prices = {"BTCUSDT": Decimal("60000"), "ETHUSDT": Decimal("3000")}
    equity, unpriced = equity_in_quote(balances, prices)
    assert equity == Decimal("100") + Decimal("30000") + Decimal("6000")
    assert unpriced == ["DUST"]
    eur, _ = equity_in_quote({"EUR": Decimal(10), "BTC": Decimal(1)}, {"BTCEUR": Decimal(50000)}, quote="EUR")
    assert eur == Decimal(50010)
