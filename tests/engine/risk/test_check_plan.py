"""RiskEngine.check_plan: the rebalancer's post-trade gate, with the seed's blind spots (B11, W-D11) fixed."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from decimal import ROUND_DOWN, Decimal, localcontext
from typing import Any

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from engine.risk import CheckStatus, ProposedOrder, RiskEngine, RiskLimits, RiskReport, post_trade_exposure
from engine.risk.engine import CHECKS

D = Decimal
SEED = RiskLimits(max_position_pct=D("0.40"), max_leverage=D("1.5"), max_short_pct=D("0.30"),
                  max_trade_notional=D("100000"))


def buy(sym: str, qty: int | str, price: int | str) -> ProposedOrder:
    return ProposedOrder(sym, "buy", D(qty), D(price))


def sell(sym: str, qty: int | str, price: int | str) -> ProposedOrder:
    return ProposedOrder(sym, "sell", D(qty), D(price))


def run(orders: Sequence[ProposedOrder], *, limits: RiskLimits = SEED, equity: int | str = 100_000,
        cash: int | str | None = None, buying_power: int | str | None = None, kind: str = "margin",
        positions: Mapping[str, int | str] | None = None, prices: Mapping[str, int | str] | None = None,
        targets: Mapping[str, str] | None = None) -> RiskReport:
    held = {k: D(v) for k, v in (positions or {}).items()}
    marks = {k: D(v) for k, v in (prices or {}).items()}
    for order in orders:
        marks.setdefault(order.symbol, order.limit_price)
    return RiskEngine.from_limits(limits).check_plan(
        orders, equity=D(equity), cash=D(equity if cash is None else cash),
        buying_power=D(equity if buying_power is None else buying_power), account_kind=kind,  # type: ignore[arg-type]
        positions=held, prices=marks, target_weights={k: D(v) for k, v in (targets or {}).items()})


def row(report: RiskReport, name: str) -> dict[str, Any]:
    matches = [c.to_dict() for c in report if c.name == name]
    assert len(matches) == 1, (name, report.to_dicts())
    return matches[0]


def statuses(report: RiskReport, name: str) -> list[str]:
    return [str(c.status) for c in report if c.name == name]


# ---------------------------------------------------------------- seed vectors (rebalancer-spec §5.4) ---------


def test_seed_vectors_in_plan_terms() -> None:
    assert run([buy("AAPL", 100, 185)], targets={"AAPL": "0.30"}).passed
    report = run([buy("AAPL", 500, 185)], targets={"AAPL": "0.50"})
    assert row(report, "Max position") == {"name": "Max position", "status": "FAIL",
                                           "detail": "92.50% (AAPL) > 40.00% limit",
                                           "limit": "40.00%", "value": "92.50%"}
    no_short = RiskLimits(allow_short=False)
    report = run([sell("SPY", 50, 430)], limits=no_short, targets={"SPY": "-0.10"})
    assert row(report, "Short selling")["status"] == "FAIL"
    assert row(report, "Short selling")["detail"] == "short selling not allowed: SPY -50 after trading"


def test_max_trade_notional_fails_instead_of_warning() -> None:  # W-D11
    report = run([buy("AAPL", 1000, 185)], equity=1_000_000, targets={"AAPL": "0.30"})
    assert not report.passed
    assert row(report, "Max trade size") == {
        "name": "Max trade size", "status": "FAIL", "detail": "AAPL buy 1000: $185,000.00 > $100,000.00 max trade",
        "limit": "$100,000.00", "value": "$185,000.00"}
    at_limit = run([buy("AAPL", 1000, 100)], equity=1_000_000)
    assert row(at_limit, "Max trade size")["status"] == "PASS"
    disabled = run([buy("AAPL", 1000, 185)], equity=1_000_000, limits=RiskLimits(max_trade_notional=D(0)))
    assert row(disabled, "Max trade size")["limit"] == "disabled"
    assert disabled.passed


def test_order_and_batch_caps() -> None:
    capped = RiskLimits(max_order_value=D(100))
    report = run([buy("AAPL", 3, 50)], limits=capped)
    assert row(report, "Order value") == {"name": "Order value", "status": "FAIL",
                                          "detail": "AAPL buy 3: $150.00 > $100.00 max order value",
                                          "limit": "$100.00", "value": "$150.00"}
    assert run([buy("AAPL", 2, 50)], limits=capped).passed  # exactly at the cap passes
    two_bad = run([buy("A", 3, 50), buy("B", 1, 50), sell("C", 5, 50)], limits=capped, positions={"C": 5})
    assert statuses(two_bad, "Order value") == ["FAIL", "FAIL"]

    batch = RiskLimits(max_batch_value=D(250))
    report = run([buy("AAPL", 25, 5), sell("SPY", 26, 5)], limits=batch, positions={"SPY": 26})
    assert row(report, "Batch value") == {"name": "Batch value", "status": "FAIL",
                                          "detail": "$255.00 > $250.00 batch value",
                                          "limit": "$250.00", "value": "$255.00"}
    assert row(run([buy("AAPL", 25, 5), sell("SPY", 25, 5)], limits=batch, positions={"SPY": 25}),
               "Batch value")["status"] == "PASS"

    off = run([buy("AAPL", 1000, 50)], limits=RiskLimits(), equity=10**6)
    assert row(off, "Order value")["limit"] == "disabled"
    assert row(off, "Batch value")["limit"] == "disabled"


# ---------------------------------------------------------------- blind-spot fixes ---------------------------


def test_held_untraded_position_counts_toward_leverage() -> None:  # B11
    report = run([buy("AAPL", 100, 185)], positions={"SPY": 320}, prices={"SPY": 430},
                 limits=RiskLimits(max_position_pct=D(1)), equity=100_000)
    assert row(report, "Leverage") == {"name": "Leverage", "status": "FAIL",
                                       "detail": "1.56x > 1.50x limit (gross $156,100.00)",
                                       "limit": "1.50x", "value": "1.56x"}
    # The seed's check_batch only sees symbols with an order and passes the same book.
    seed = RiskEngine(max_position_pct=1.0).check_batch([("AAPL", "buy", 100, 18_500)], 10_000_000,
                                                        [("SPY", 320)], [])
    assert seed[1] == {"name": "Leverage", "status": "PASS", "detail": "0.18x <= 1.50x limit"}
    within = run([buy("AAPL", 100, 185)], positions={"SPY": 300}, prices={"SPY": 430},
                 limits=RiskLimits(max_position_pct=D(1)))
    assert row(within, "Leverage")["status"] == "PASS"


def test_post_trade_concentration_fails_even_when_targets_pass() -> None:
    report = run([buy("AAPL", 100, 185)], positions={"TSLA": 150}, prices={"TSLA": 250},
                 limits=RiskLimits(), targets={"AAPL": "0.20"})
    assert row(report, "Max position")["detail"] == "37.50% (TSLA) > 25.00% limit"
    assert row(report, "Weight allocation")["status"] == "PASS"
    seed = RiskEngine().check_batch([("AAPL", "buy", 100, 18_500)], 10_000_000, [("TSLA", 150)], [("AAPL", 0.20)])
    assert seed[0]["status"] == "PASS"


def test_every_failing_symbol_gets_a_row() -> None:
    report = run([], positions={"B": 300, "A": 260, "C": 10}, prices={"A": 100, "B": 100, "C": 100},
                 limits=RiskLimits(max_leverage=D(10)))
    assert [c.detail for c in report if c.name == "Max position"] == [
        "26.00% (A) > 25.00% limit", "30.00% (B) > 25.00% limit"]


def test_cash_account_must_fund_its_buys() -> None:
    report = run([buy("AAPL", 100, 185)], kind="cash", cash=10_000)
    assert row(report, "Buying power") == {
        "name": "Buying power", "status": "FAIL",
        "detail": "buys $18,500.00 > cash $10,000.00 + sell proceeds $0.00 (cash account, sells first)",
        "limit": "$10,000.00", "value": "$18,500.00"}
    # sells run first wherever they sit in the list; exactly enough passes, a cent more fails.
    funded = run([buy("AAPL", 100, 185), sell("MSFT", 50, 170)], kind="cash", cash=10_000, positions={"MSFT": 50})
    assert row(funded, "Buying power")["status"] == "PASS"
    assert row(funded, "Buying power")["limit"] == "$18,500.00"
    short_by_a_cent = run([buy("AAPL", 100, "185.0001"), sell("MSFT", 50, 170)], kind="cash", cash=10_000,
                          positions={"MSFT": 50})
    assert row(short_by_a_cent, "Buying power")["status"] == "FAIL"
    # a plan without buys is never blocked for funding, even with negative cash.
    assert row(run([sell("MSFT", 1, 170)], kind="cash", cash=-50, positions={"MSFT": 1}),
               "Buying power")["status"] == "PASS"


def test_margin_account_buying_power() -> None:
    base: dict[str, Any] = {"positions": {"SPY": 100}, "prices": {"SPY": 400}, "buying_power": 20_000,
                            "limits": RiskLimits(max_position_pct=D(1))}
    ok = run([buy("AAPL", 100, 185)], **base)
    assert row(ok, "Buying power")["detail"] == (
        "post-trade gross $58,500.00 <= current gross $40,000.00 + buying power $20,000.00 (margin account)")
    assert row(run([buy("AAPL", 100, 200)], **base), "Buying power")["status"] == "PASS"  # exactly at capacity
    assert row(run([buy("AAPL", 120, 185)], **base), "Buying power")["status"] == "FAIL"
    # de-risking passes even with a margin deficiency.
    derisk = run([sell("SPY", 50, 400)], **{**base, "buying_power": -5_000})
    assert row(derisk, "Buying power")["status"] == "PASS"


def test_short_rules() -> None:
    no_short = RiskLimits(allow_short=False)
    held_short = run([buy("AAPL", 1, 185)], limits=no_short, positions={"SPY": -5}, prices={"SPY": 430})
    assert row(held_short, "Short selling")["detail"] == "short selling not allowed: SPY -5 after trading"
    covered = run([buy("SPY", 5, 430)], limits=no_short, positions={"SPY": -5})
    assert row(covered, "Short selling") == {"name": "Short selling", "status": "PASS",
                                             "detail": "no short positions after trading (short selling not allowed)",
                                             "limit": "not allowed", "value": "none"}
    cash = run([sell("SPY", 10, 430)], kind="cash", positions={"SPY": 5})
    assert row(cash, "Short selling")["detail"] == "a cash account cannot hold shorts: SPY -5 after trading"
    exposure = run([sell("SPY", 70, 430)], limits=RiskLimits(max_position_pct=D(1)))
    assert row(exposure, "Short exposure") == {"name": "Short exposure", "status": "FAIL",
                                               "detail": "30.10% > 30.00% limit (short $30,100.00)",
                                               "limit": "30.00%", "value": "30.10%"}
    at_limit = run([sell("SPY", 75, 400)], limits=RiskLimits(max_position_pct=D(1)))
    assert row(at_limit, "Short exposure")["status"] == "PASS"


def test_limits_are_inclusive() -> None:
    lim = RiskLimits(max_leverage=D("1.5"), max_position_pct=D("0.25"))
    assert row(run([buy("A", 250, 100)], limits=lim), "Max position")["status"] == "PASS"
    assert row(run([buy("A", 251, 100)], limits=lim), "Max position")["status"] == "FAIL"
    six = dict.fromkeys("ABCDEF", "250")
    assert row(run([], limits=lim, positions=six, prices=dict.fromkeys(six, 100)), "Leverage")["status"] == "PASS"
    seven = dict.fromkeys("ABCDEFG", "250")
    assert row(run([], limits=lim, positions=seven, prices=dict.fromkeys(seven, 100)), "Leverage")["status"] == "FAIL"


@pytest.mark.parametrize("equity", [0, -100])
def test_non_positive_equity_fails_every_ratio(equity: int) -> None:
    report = run([buy("A", 1, 185)], equity=equity, buying_power=10**6, cash=10**6)
    money = "$0.00" if equity == 0 else "-$100.00"
    assert row(report, "Max position")["detail"] == f"equity {money} <= 0: position concentration is undefined"
    assert row(report, "Leverage")["detail"] == f"equity {money} <= 0: leverage is undefined"
    assert row(report, "Short exposure")["detail"] == f"equity {money} <= 0: short exposure is undefined"
    assert {c.name for c in report.failures} == {"Max position", "Leverage", "Short exposure"}
    no_short = run([buy("A", 1, 185)], equity=equity, limits=RiskLimits(allow_short=False), cash=10**6)
    assert row(no_short, "Short selling")["status"] == "PASS"


def test_small_orders_warn_but_pass() -> None:
    report = run([buy("A", 1, 50)], limits=RiskLimits())
    assert row(report, "Min trade size") == {"name": "Min trade size", "status": "WARN",
                                             "detail": "A buy 1: $50.00 < $100.00 min trade",
                                             "limit": "$100.00", "value": "$50.00"}
    assert report.passed
    assert report.status is CheckStatus.WARN
    assert row(run([buy("A", 2, 50)], limits=RiskLimits()), "Min trade size")["status"] == "PASS"
    off = run([buy("A", 1, 50)], limits=RiskLimits(min_trade_notional=D(0)))
    assert row(off, "Min trade size")["limit"] == "disabled"


def test_unpriced_holding_fails_valuation() -> None:
    engine = RiskEngine.from_limits(RiskLimits())
    report = engine.check_plan([buy("A", 1, 185)], equity=D(10**6), cash=D(10**6), buying_power=D(10**6),
                               account_kind="margin", positions={"ZZZ": D(10), "Q": D(3)},
                               prices={"A": D(185), "Q": D(0)}, target_weights={})
    assert report.checks[0].to_dict() == {"name": "Valuation", "status": "FAIL",
                                          "detail": "no price for held Q, ZZZ: exposure cannot be checked",
                                          "limit": "every holding priced", "value": "2 unpriced symbols"}
    priced = engine.check_plan([buy("A", 1, 185)], equity=D(10**6), cash=D(10**6), buying_power=D(10**6),
                               account_kind="margin", positions={"A": D(5)}, prices={}, target_weights={})
    assert "Valuation" not in [c.name for c in priced]


def test_marks_fall_back_to_the_highest_limit_price() -> None:
    exposure = post_trade_exposure([buy("A", 10, 100), buy("A", 5, 120)], {"A": D(5)}, {})
    assert exposure.marks == {"A": D(120)}
    assert exposure.gross == D(2400)
    exposure = post_trade_exposure([buy("A", 10, 100)], {"A": D(5)}, {"A": D("99.5")})
    assert exposure.marks == {"A": D("99.5")}
    assert exposure.current_gross == D("497.5")


def test_weight_allocation() -> None:
    report = run([], targets={"A": "0.6", "B": "0.2", "C": "-0.1"}, limits=RiskLimits(max_position_pct=D("0.5")))
    assert row(report, "Weight allocation") == {
        "name": "Weight allocation", "status": "WARN",
        "detail": "80.00% long, 10.00% short, 20.00% cash; target A 60.00% exceeds 50.00% max position",
        "limit": "n/a", "value": "80.00% long / 10.00% short"}
    assert report.passed  # the post-trade checks decide; targets only warn
    assert row(run([], targets={"A": "0.2"}, kind="cash"), "Weight allocation")["status"] == "PASS"
    assert "short selling is not allowed" in row(run([], targets={"A": "-0.1"}, kind="cash"),
                                                 "Weight allocation")["detail"]


def test_full_report_snapshot() -> None:
    report = run([buy("AAPL", 100, "185.00"), sell("MSFT", 10, 410)], limits=RiskLimits(max_position_pct=D("0.4")),
                 kind="cash", cash=20_000, positions={"MSFT": 10, "SPY": 150},
                 prices={"AAPL": "184.9", "MSFT": "410.1", "SPY": 430}, targets={"AAPL": "0.3", "SPY": "0.3"})
    assert report.to_text() == "\n".join([
        "RISK CHECKS:",
        "  [FAIL] Max position: 64.50% (SPY) > 40.00% limit",
        "  [PASS] Leverage: 0.83x <= 1.50x limit (gross $82,990.00)",
        "  [PASS] Short selling: no short positions after trading (a cash account cannot hold shorts)",
        "  [PASS] Max trade size: largest order $18,500.00 <= $100,000.00 max trade",
        "  [PASS] Min trade size: smallest order $4,100.00 >= $100.00 min trade",
        "  [PASS] Order value: max order value check disabled (limit 0)",
        "  [PASS] Batch value: batch value check disabled (limit 0)",
        "  [PASS] Buying power: buys $18,500.00 <= cash $20,000.00 + sell proceeds $4,100.00 (cash account, sells "
        "first)",
        "  [PASS] Order count: 2 orders",
        "  [PASS] Weight allocation: 60.00% long, 0.00% short, 40.00% cash",
    ])
    assert [c.name for c in report.failures] == ["Max position"]


def test_rows_use_documented_names_and_carry_display_strings() -> None:
    documented = {name for name, _, _ in CHECKS}
    for report in (run([buy("A", 1, 50)], equity=0), run([sell("A", 10**6, 1000)], kind="cash"),
                   run([], positions={"Z": 1}, prices={"Z": 0}), run([buy("A", 100, 185)])):
        for check in report:
            assert check.name in documented
            assert isinstance(check.limit, str)
            assert isinstance(check.value, str)


def test_empty_plan() -> None:
    report = run([])
    assert report.passed
    assert row(report, "Order count")["detail"] == "0 orders"
    assert row(report, "Max trade size")["detail"] == "no orders"


def test_independent_of_the_callers_decimal_context() -> None:
    args: dict[str, Any] = {"positions": {"SPY": "123.456789"}, "prices": {"SPY": "431.123456"},
                            "targets": {"SPY": "0.123456789"}}
    expected = run([buy("AAPL", "17.5", "185.123456789")], **args).to_dicts()
    with localcontext() as ctx:
        ctx.prec = 3
        ctx.rounding = ROUND_DOWN
        assert run([buy("AAPL", "17.5", "185.123456789")], **args).to_dicts() == expected


def test_input_validation() -> None:
    engine = RiskEngine()
    kwargs: dict[str, Any] = {"equity": D(1), "cash": D(1), "buying_power": D(1), "account_kind": "margin",
                              "positions": {}, "prices": {}, "target_weights": {}}
    with pytest.raises(TypeError, match="equity must be a Decimal"):
        engine.check_plan([], **{**kwargs, "equity": 1.0})
    with pytest.raises(ValueError, match="finite"):
        engine.check_plan([], **{**kwargs, "cash": D("NaN")})
    with pytest.raises(ValueError, match="account_kind"):
        engine.check_plan([], **{**kwargs, "account_kind": "isa"})
    with pytest.raises(TypeError, match="ProposedOrder"):
        engine.check_plan([("A", "buy", 1, 1)], **kwargs)  # type: ignore[list-item]
    with pytest.raises(ValueError, match="finite"):
        engine.check_plan([], **{**kwargs, "positions": {"A": D("Infinity")}})
    assert engine.check_plan([], **{**kwargs, "equity": 10}).passed  # ints are exact, so accepted


# ---------------------------------------------------------------- properties ---------------------------------

POOL = ["AAPL", "MSFT", "SPY", "TLT", "GLD"]
CENTS = st.integers(100, 100_000).map(lambda c: D(c).scaleb(-2))
QTY = st.integers(0, 400).map(D)


@st.composite
def books(draw: st.DrawFn, all_priced: bool = False) -> dict[str, Any]:
    prices = {s: draw(CENTS) for s in POOL if all_priced or draw(st.booleans())}
    positions = {s: D(draw(st.integers(-300, 300))) for s in draw(st.lists(st.sampled_from(POOL), unique=True))}
    orders = draw(st.lists(st.builds(ProposedOrder, st.sampled_from(POOL), st.sampled_from(["buy", "sell"]), QTY,
                                     CENTS), max_size=6))
    return {
        "orders": orders,
        "equity": D(draw(st.one_of(st.integers(-1000, 10**4), st.integers(10**5, 10**8)))),
        "cash": D(draw(st.integers(-1000, 10**6))),
        "buying_power": D(draw(st.integers(-1000, 10**6))),
        "account_kind": draw(st.sampled_from(["cash", "margin"])),
        "positions": positions,
        "prices": prices,
        "target_weights": {s: D(draw(st.integers(-50, 60))).scaleb(-2) for s in
                           draw(st.lists(st.sampled_from(POOL), unique=True))},
    }


LIMITS = st.builds(RiskLimits, max_position_pct=st.sampled_from([D("0.25"), D("0.5"), D(1)]),
                   max_leverage=st.sampled_from([D(1), D("1.5"), D(4)]), allow_short=st.booleans(),
                   max_order_value=st.sampled_from([D(0), D(20_000)]),
                   max_batch_value=st.sampled_from([D(0), D(10**5)]))
PROPS = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                                          HealthCheck.filter_too_much])


def check(limits: RiskLimits, book: Mapping[str, Any], orders: Sequence[ProposedOrder] | None = None) -> RiskReport:
    args = dict(book)
    plan = args.pop("orders") if orders is None else orders
    args.pop("orders", None)
    return RiskEngine.from_limits(limits).check_plan(plan, **args)


@PROPS
@given(limits=LIMITS, book=books())
def test_report_is_deterministic_and_order_independent(limits: RiskLimits, book: dict[str, Any]) -> None:
    first = check(limits, book)
    assert check(limits, book) == first
    shuffled = {**book, **{k: dict(reversed(list(book[k].items()))) for k in ("positions", "prices",
                                                                             "target_weights")}}
    assert check(limits, shuffled).to_dicts() == first.to_dicts()


@PROPS
@given(limits=LIMITS, book=books(all_priced=True), data=st.data())
def test_adding_a_reducing_sell_never_increases_gross(limits: RiskLimits, book: dict[str, Any],
                                                      data: st.DataObject) -> None:
    before = post_trade_exposure(book["orders"], book["positions"], book["prices"])
    longs = [s for s, q in before.quantities.items() if q > 0]
    assume(longs)
    sym = data.draw(st.sampled_from(longs))
    qty = data.draw(st.integers(0, int(before.quantities[sym])))
    orders = [*book["orders"], ProposedOrder(sym, "sell", D(qty), data.draw(CENTS))]
    after = post_trade_exposure(orders, book["positions"], book["prices"])
    assert after.gross <= before.gross
    assert after.short == before.short
    rank = {"PASS": 0, "WARN": 1, "FAIL": 2}
    old, new = check(limits, book), check(limits, book, orders)
    for name in ("Leverage", "Short selling", "Short exposure"):
        assert [rank[s] for s in statuses(new, name)] <= [rank[s] for s in statuses(old, name)]
    assert len([c for c in new if c.name == "Max position" and c.status is CheckStatus.FAIL]) <= len(
        [c for c in old if c.name == "Max position" and c.status is CheckStatus.FAIL])


@PROPS
@given(limits=LIMITS, book=books())
def test_zero_quantity_orders_are_no_ops(limits: RiskLimits, book: dict[str, Any]) -> None:
    assume(check(limits, book, []).passed)
    zeroed = [ProposedOrder(o.symbol, o.side, o.quantity * 0, o.limit_price) for o in book["orders"]]
    assert check(limits, book, zeroed).passed
