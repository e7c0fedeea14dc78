"""The seed-compatible surface: RiskEngine(...), check_order and check_batch (engine-spec §7, rebalancer-spec §5.4)."""

from __future__ import annotations

import math
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from engine.risk import RiskEngine

SEED_LIMITS: dict[str, Any] = {"max_position_pct": 0.40, "max_leverage": 1.5, "allow_short": True,
                               "max_short_pct": 0.30, "max_trade_usd": 100_000.0}


def names(rows: list[dict[str, str]]) -> list[str]:
    return [r["name"] for r in rows]


def failed(rows: list[dict[str, str]]) -> bool:
    return any(r["status"] == "FAIL" for r in rows)


def warned(rows: list[dict[str, str]]) -> bool:
    return any(r["status"] == "WARN" for r in rows)


# ---------------------------------------------------------------- check_order -------------------------------


def test_check_order_boundary_is_inclusive_and_details_are_exact() -> None:
    engine = RiskEngine(max_order_value_cents=10_000)
    assert engine.check_order("AAPL", "buy", 50, 200, 1_000_000, []) == [
        {"name": "Max order value", "status": "PASS", "detail": "$100 <= $100 max_order_value_cents"},
        {"name": "Max position", "status": "PASS", "detail": "1.0% (AAPL) <= 25.0% limit"},
        {"name": "Order size", "status": "PASS", "detail": "$100.00 <= $100000.00 max"},
    ]
    rows = engine.check_order("AAPL", "buy", 51, 200, 1_000_000, [])
    assert rows[0] == {"name": "Max order value", "status": "FAIL", "detail": "$102 > $100 max_order_value_cents"}


def test_check_order_short_selling_row_only_when_failing() -> None:
    engine = RiskEngine(allow_short=False)
    rows = engine.check_order("AAPL", "sell", 51, 200, 1_000, [("AAPL", 10)])
    assert rows == [
        {"name": "Max order value", "status": "PASS", "detail": "$102 <= $100000 max_order_value_cents"},
        {"name": "Max position", "status": "FAIL", "detail": "820.0% (AAPL) > 25.0% limit"},
        {"name": "Order size", "status": "PASS", "detail": "$102.00 <= $100000.00 max"},
        {"name": "Short selling", "status": "FAIL", "detail": "short selling not allowed"},
    ]
    assert "Short selling" not in names(engine.check_order("AAPL", "sell", 10, 200, 1_000, [("AAPL", 10)]))
    assert "Short selling" not in names(RiskEngine().check_order("AAPL", "sell", 51, 200, 1_000, []))


def test_check_order_order_size_only_warns() -> None:
    rows = RiskEngine(max_order_value_cents=0, max_trade_usd=1.005).check_order("X", "b", 1, 150, 10**9, [])
    assert rows[0] == {"name": "Max order value", "status": "PASS", "detail": "$2 <= $0 max_order_value_cents"}
    assert rows[2] == {"name": "Order size", "status": "WARN", "detail": "$1.50 > $1.00 max"}
    assert not failed(rows)


def test_check_order_quirks_are_kept() -> None:
    engine = RiskEngine()
    # equity <= 0 reads as a 0 % position (the batch check says infinity instead: the seed is inconsistent).
    assert engine.check_order("A", "buy", 1, 100, 0, [])[1]["detail"] == "0.0% (A) <= 25.0% limit"
    # the first duplicate position wins; the notional keeps the price's sign; half-even dollar rounding.
    assert engine.check_order("A", "buy", 1, 1, 100, [("A", 5), ("A", 7)])[1]["detail"] == "6.0% (A) <= 25.0% limit"
    assert engine.check_order("A", "buy", 1, -5, 100, [])[0]["detail"] == "$-0 <= $100000 max_order_value_cents"
    assert engine.check_order("A", "buy", 1, 10_250, 10**9, [])[0]["detail"].startswith("$102 <=")
    assert engine.check_order("A", "buy", 1, 10_150, 10**9, [])[0]["detail"].startswith("$102 <=")


@pytest.mark.parametrize(("side", "ok"), [("buy", True), ("BUY", True), ("b", True), ("Sell", True), ("s", True),
                                          ("short", False), (" buy", False), ("", False)])
def test_side_parsing(side: str, ok: bool) -> None:
    engine = RiskEngine()
    if ok:
        engine.check_order("A", side, 1, 1, 1, [])
    else:
        with pytest.raises(ValueError, match=r"Invalid side '.*'\. Use 'buy' or 'sell'\."):
            engine.check_order("A", side, 1, 1, 1, [])


def test_argument_errors_match_the_reference() -> None:
    engine = RiskEngine()
    with pytest.raises(ValueError, match=r"^Symbol 'TOOLONGSYM' exceeds 8 bytes\. Use a shorter symbol\.$"):
        engine.check_order("TOOLONGSYM", "buy", 1, 1, 1, [])
    with pytest.raises(ValueError, match="exceeds 8 bytes"):
        engine.check_order("A", "buy", 1, 1, 1, [("ÄÄÄÄÄ", 1)])
    engine.check_order("ÄÄÄÄ", "buy", 1, 1, 1, [])  # 8 bytes is fine
    with pytest.raises(OverflowError, match="can't convert negative int to unsigned"):
        engine.check_order("A", "buy", -1, 1, 1, [])
    with pytest.raises(OverflowError):
        engine.check_order("A", "buy", 2**64, 1, 1, [])
    with pytest.raises(OverflowError):
        engine.check_order("A", "buy", 1, 2**63, 1, [])
    with pytest.raises(TypeError):
        engine.check_order("A", "buy", 1.0, 1, 1, [])  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        engine.check_order(1, "buy", 1, 1, 1, [])  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        engine.check_batch([], 1, [], "AB")  # type: ignore[arg-type]


# ---------------------------------------------------------------- check_batch -------------------------------


def test_seed_batch_vectors() -> None:
    engine = RiskEngine(**SEED_LIMITS)
    assert not failed(engine.check_batch([("AAPL", "buy", 100, 18_500)], 10_000_000, [], [("AAPL", 0.30)]))
    assert failed(engine.check_batch([("AAPL", "buy", 500, 18_500)], 10_000_000, [], [("AAPL", 0.50)]))
    no_short = RiskEngine(**{**SEED_LIMITS, "allow_short": False})
    rows = no_short.check_batch([("SPY", "sell", 50, 43_000)], 10_000_000, [], [("SPY", -0.10)])
    assert {"name": "Short selling", "status": "FAIL", "detail": "short selling not allowed"} in rows
    big = RiskEngine(**{**SEED_LIMITS, "max_order_value_cents": 20_000_000})
    rows = big.check_batch([("AAPL", "buy", 1000, 18_500)], 100_000_000, [], [("AAPL", 0.30)])
    assert warned(rows)
    assert not failed(rows)
    assert {"name": "Max trade size", "status": "WARN", "detail": "AAPL: $185000 > $100000 max_trade_usd"} in rows


def test_seed_order_and_batch_caps() -> None:
    capped = RiskEngine(**{**SEED_LIMITS, "max_order_value_cents": 10_000})
    rows = capped.check_batch([("AAPL", "buy", 3, 5_000)], 10_000_000, [], [("AAPL", 0.30)])
    assert {"name": "Max order value", "status": "FAIL", "detail": "AAPL: $150 > $100 max_order_value_cents"} in rows
    rows = capped.check_batch([("AAPL", "buy", 2, 5_000)], 10_000_000, [], [("AAPL", 0.30)])
    assert not failed(rows)
    assert "Max order value" not in names(rows)
    assert failed(capped.check_batch([("AAPL", "buy", 120, 15_000)], 10_000_000, [], [("AAPL", 0.30)]))

    batch = RiskEngine(**{**SEED_LIMITS, "max_batch_value_cents": 10_000})
    targets = [("AAPL", 0.30), ("SPY", -0.30)]
    rows = batch.check_batch([("AAPL", "buy", 25, 500), ("SPY", "sell", 25, 500)], 10_000_000, [], targets)
    assert {"name": "Max batch value", "status": "FAIL", "detail": "$250 > $100 max_batch_value_cents"} in rows
    rows = batch.check_batch([("AAPL", "buy", 4, 2_500), ("SPY", "sell", 4, 0)], 10_000_000, [], targets)
    assert "Max batch value" not in names(rows)
    assert not failed(rows)
    assert failed(batch.check_batch([("AAPL", "buy", 40, 18_500), ("SPY", "sell", 40, 18_500)], 10_000_000, [],
                                    targets))


def test_full_batch_report_is_exact() -> None:
    engine = RiskEngine(max_order_value_cents=100, max_batch_value_cents=100, max_trade_usd=1.005)
    rows = engine.check_batch([("AAPL", "buy", 1, 10_250), ("B", "sell", 1, 150), ("C", "buy", 1, 50)],
                              1_000_000, [], [])
    assert rows == [
        {"name": "Max position", "status": "PASS", "detail": "0.0% (?) <= 25.0% limit"},
        {"name": "Leverage", "status": "PASS", "detail": "0.01x <= 1.50x limit"},
        {"name": "Short exposure", "status": "PASS", "detail": "0.0% <= 30.0% limit"},
        {"name": "Max order value", "status": "FAIL", "detail": "AAPL: $102 > $1 max_order_value_cents"},
        {"name": "Max order value", "status": "FAIL", "detail": "B: $2 > $1 max_order_value_cents"},
        {"name": "Max batch value", "status": "FAIL", "detail": "$104 > $1 max_batch_value_cents"},
        {"name": "Max trade size", "status": "WARN", "detail": "AAPL: $102 > $1 max_trade_usd"},
        {"name": "Max trade size", "status": "WARN", "detail": "B: $2 > $1 max_trade_usd"},
        {"name": "Order count", "status": "PASS", "detail": "3 orders"},
        {"name": "Weight allocation", "status": "PASS", "detail": "-0.0% long, -0.0% short, 100.0% cash"},
    ]


def test_batch_quirks_are_kept() -> None:
    engine = RiskEngine()
    # equity <= 0: leverage and short exposure are infinite (FAIL), unlike check_order.
    rows = engine.check_batch([], 0, [], [])
    assert rows[1] == {"name": "Leverage", "status": "FAIL", "detail": "infx > 1.50x limit"}
    assert rows[2] == {"name": "Short exposure", "status": "FAIL", "detail": "inf% > 30.0% limit"}
    # B11: a held symbol without an order is priced at 0 and adds no exposure.
    rows = engine.check_batch([("A", "buy", 1, 100)], 1_000, [("HELD", 1_000_000)], [])
    assert rows[1] == {"name": "Leverage", "status": "PASS", "detail": "0.10x <= 1.50x limit"}
    # the zero-quantity "seed" row is the seed rebalancer's workaround.
    rows = engine.check_batch([("A", "buy", 1, 100), ("HELD", "buy", 0, 100)], 1_000, [("HELD", 1_000)], [])
    assert rows[1]["status"] == "FAIL"
    # last price per symbol, last duplicate position wins; Max position reads target weights (first wins ties).
    rows = engine.check_batch([("A", "buy", 1, 100), ("A", "sell", 3, 200)], 100, [("A", 1)], [])
    assert rows[1]["detail"] == "2.00x > 1.50x limit"
    assert engine.check_batch([("A", "buy", 0, 100)], 100, [("A", 1), ("A", 2)], [])[1]["detail"].startswith("2.00x")
    rows = engine.check_batch([], 100, [], [("B", -0.3), ("A", 0.3), ("A", 0.1)])
    assert rows[0]["detail"] == "30.0% (B) > 25.0% limit"
    assert rows[-1]["detail"] == "10.0% long, 30.0% short, 90.0% cash"
    rows = engine.check_batch([], 100, [], [("B", math.inf), ("C", math.nan)])
    assert rows[0]["detail"] == "inf% (B) > 25.0% limit"
    assert rows[-1]["detail"] == "inf% long, -0.0% short, -inf% cash"


def test_batch_short_selling_counts_existing_shorts_when_any_order_sells() -> None:
    engine = RiskEngine(allow_short=False)
    rows = engine.check_batch([("A", "sell", 1, 100)], 10**6, [("SPY", -5)], [])
    assert {"name": "Short selling", "status": "FAIL", "detail": "short selling not allowed"} in rows
    rows = engine.check_batch([("A", "buy", 1, 100)], 10**6, [("SPY", -5)], [])
    assert "Short selling" not in names(rows)


# ---------------------------------------------------------------- constructor -------------------------------


def test_constructor_defaults_and_repr() -> None:
    assert repr(RiskEngine()) == "RiskEngine(max_position_pct=0.25, max_leverage=1.5, allow_short=true)"
    assert repr(RiskEngine(max_position_pct=1, max_leverage=1e20, allow_short=False)) == (
        "RiskEngine(max_position_pct=1, max_leverage=100000000000000000000, allow_short=false)")


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"max_position_pct": 0}, "max_position_pct must be in (0, 1], got 0"),
    ({"max_position_pct": 1.1}, "max_position_pct must be in (0, 1], got 1.1"),
    ({"max_position_pct": -0.0}, "max_position_pct must be in (0, 1], got -0"),
    ({"max_position_pct": math.nan, "max_leverage": 0}, "max_position_pct must be in (0, 1], got NaN"),
    ({"max_leverage": 0.9}, "max_leverage must be >= 1.0 and finite, got 0.9"),
    ({"max_leverage": -math.inf}, "max_leverage must be >= 1.0 and finite, got -inf"),
    ({"max_drawdown_pct": 2}, "max_drawdown_pct must be in [0, 1], got 2"),
    ({"max_short_pct": -1}, "max_short_pct must be >= 0 and finite, got -1"),
    ({"max_order_value_cents": -1}, "max_order_value_cents must be >= 0, got -1"),
    ({"max_batch_value_cents": -5}, "max_batch_value_cents must be >= 0, got -5"),
    ({"max_trade_usd": math.inf}, "max_trade_usd must be >= 0 and finite, got inf"),
    ({"max_trade_usd": 1e-7, "max_short_pct": -1e-7}, "max_short_pct must be >= 0 and finite, got -0.0000001"),
])
def test_invalid_config(kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError) as info:
        RiskEngine(**kwargs)
    assert str(info.value) == f"invalid RiskConfig: {message}"


def test_constructor_types() -> None:
    with pytest.raises(TypeError):
        RiskEngine(allow_short=1)  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        RiskEngine(max_position_pct="0.2")  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        RiskEngine(max_order_value_cents=1.0)  # type: ignore[arg-type]
    with pytest.raises(OverflowError):
        RiskEngine(max_order_value_cents=2**63)


# ---------------------------------------------------------------- differential vs nanobook -------------------

SYMS = st.sampled_from(["AAPL", "MSFT", "SPY", "A", ""])
SIDES = st.sampled_from(["buy", "sell", "b", "S"])
QTY = st.integers(0, 10**6)
PRICE = st.one_of(st.integers(1, 10**7), st.integers(-10**4, 10**4))
EQUITY = st.one_of(st.integers(10**4, 10**12), st.integers(-10**6, 10**6))
WEIGHT = st.one_of(st.integers(-150, 150).map(lambda k: k / 100),
                   st.sampled_from([0.0, -0.0, math.inf, -math.inf, math.nan]))
CONFIG = st.fixed_dictionaries({
    "max_position_pct": st.one_of(st.integers(1, 100).map(lambda k: k / 100), st.floats(1e-6, 1.0)),
    "max_leverage": st.one_of(st.integers(100, 500).map(lambda k: k / 100), st.floats(1.0, 10.0)),
    "max_drawdown_pct": st.floats(0.0, 1.0),
    "allow_short": st.booleans(),
    "max_short_pct": st.one_of(st.integers(0, 100).map(lambda k: k / 100), st.floats(0.0, 3.0)),
    "max_trade_usd": st.one_of(st.floats(0.0, 1e6), st.integers(0, 10**6).map(float)),
    "max_order_value_cents": st.one_of(st.just(0), st.integers(0, 10**9)),
    "max_batch_value_cents": st.one_of(st.just(0), st.integers(0, 10**10)),
})
POSITIONS = st.lists(st.tuples(SYMS, st.integers(-10**6, 10**6)), max_size=4)
ORDERS = st.lists(st.tuples(SYMS, SIDES, QTY, PRICE), max_size=5)
TARGETS = st.lists(st.tuples(SYMS, WEIGHT), max_size=4)
DIFF_SETTINGS = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@DIFF_SETTINGS
@given(cfg=CONFIG, symbol=SYMS, side=SIDES, qty=QTY, price=PRICE, equity=EQUITY, positions=POSITIONS)
def test_check_order_matches_reference(cfg: dict[str, Any], symbol: str, side: str, qty: int, price: int,
                                       equity: int, positions: list[tuple[str, int]]) -> None:
    nanobook = pytest.importorskip("nanobook")
    expected = nanobook.RiskEngine(**cfg).check_order(symbol, side, qty, price, equity, positions)
    assert RiskEngine(**cfg).check_order(symbol, side, qty, price, equity, positions) == expected


@DIFF_SETTINGS
@given(cfg=CONFIG, orders=ORDERS, equity=EQUITY, positions=POSITIONS, targets=TARGETS)
def test_check_batch_matches_reference(cfg: dict[str, Any], orders: list[tuple[str, str, int, int]], equity: int,
                                       positions: list[tuple[str, int]], targets: list[tuple[str, float]]) -> None:
    nanobook = pytest.importorskip("nanobook")
    expected = nanobook.RiskEngine(**cfg).check_batch(orders, equity, positions, targets)
    assert RiskEngine(**cfg).check_batch(orders, equity, positions, targets) == expected


@settings(max_examples=200, deadline=None)
@given(cfg=st.fixed_dictionaries({
    "max_position_pct": st.floats(allow_nan=True, allow_infinity=True),
    "max_leverage": st.floats(allow_nan=True, allow_infinity=True),
    "max_drawdown_pct": st.floats(-0.5, 1.5),
    "max_short_pct": st.floats(-1.0, 1.0),
    "max_trade_usd": st.floats(allow_nan=True, allow_infinity=True),
    "max_order_value_cents": st.integers(-5, 5),
    "max_batch_value_cents": st.integers(-5, 5),
}))
def test_config_validation_matches_reference(cfg: dict[str, Any]) -> None:
    nanobook = pytest.importorskip("nanobook")
    try:
        ref: str | None = repr(nanobook.RiskEngine(**cfg))
    except ValueError as exc:
        ref = f"ValueError: {exc}"
    try:
        ours: str | None = repr(RiskEngine(**cfg))
    except ValueError as exc:
        ours = f"ValueError: {exc}"
    assert ours == ref
