"""Tests of engine.rebalance.plan: deterministic save/load, fingerprint tamper detection and check_fresh reasons."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from engine.brokers.base import Position, Quote
from engine.errors import InputError, StalePlanError
from engine.rebalance.diff import DiffSettings, compute_diff
from engine.rebalance.plan import PLAN_SCHEMA, Plan, check_fresh, fingerprint

D = Decimal

CREATED = datetime(2024, 1, 2, 15, 0, tzinfo=UTC)
PRICES = {"AAPL": D("185.00"), "MSFT": D("410.00"), "SPY": D("430.00"), "TLT": D("95.00")}
POSITIONS = {"AAPL": D(100), "MSFT": D(20), "SPY": D(50)}
TARGET_SHA = "a" * 64
CONFIG_SHA = "c" * 64
CASH = D("50000.25")


def make_plan(created_at: datetime = CREATED, cash: D = CASH) -> Plan:
    diff = compute_diff(
        equity=D(250_000), positions={s: Position(s, q, D(1)) for s, q in POSITIONS.items()},
        quotes={s: Quote(s, p, p, p, CREATED) for s, p in PRICES.items()}, instruments={},
        targets={"AAPL": D("0.3"), "SPY": D("-0.1"), "TLT": D("0.2"), "GLD": D("0.1")},
        settings=DiffSettings(limit_offset_bps=10, min_trade_notional=D(100), cash_buffer_pct=D("0.01")),
        scope="core", account_id="DU1")
    return Plan(
        created_at=created_at, broker="sim", account_id="DU1", target_path="target.json",
        target_sha256=TARGET_SHA, config_sha256=CONFIG_SHA, scope="core", equity=D(250_000), cash=cash,
        positions=dict(POSITIONS), prices=dict(PRICES), orders=diff.orders, skipped=diff.skipped,
        risk=({"name": "Max position", "status": "PASS", "detail": "30.0% <= 40.0%", "limit": "0.4",
               "value": "0.3"},),
        risk_passed=True, warnings=("GLD: no price",),
    )


def fresh_kwargs(**overrides: Any) -> dict[str, Any]:
    kwargs: dict[str, Any] = {
        "now": CREATED + timedelta(seconds=60), "broker": "sim", "account_id": "DU1", "cash": D("50000.25"),
        "positions": dict(POSITIONS), "prices": dict(PRICES), "target_sha256": TARGET_SHA,
        "config_sha256": CONFIG_SHA, "max_age_s": 900.0, "max_reprice_bps": 50,
    }
    kwargs.update(overrides)
    return kwargs


def stale_reason(plan: Plan, **overrides: Any) -> str:
    with pytest.raises(StalePlanError) as info:
        check_fresh(plan, **fresh_kwargs(**overrides))
    return str(info.value)


# ---------------------------------------------------------------------------------------------- the sample plan


def test_sample_plan_has_sells_then_buys_and_a_skip() -> None:
    plan = make_plan()
    assert [(o.symbol, o.action, o.quantity) for o in plan.orders] == [
        ("SPY", "SELL", D(50)), ("MSFT", "SELL", D(20)), ("SPY", "SELL SHORT", D(58)),
        ("AAPL", "BUY", D(305)), ("TLT", "BUY", D(526))]
    assert [(s.symbol, s.reason) for s in plan.skipped] == [("GLD", "no_price")]
    assert plan.turnover() == sum((o.quantity * o.limit_price for o in plan.orders), D(0))


# ---------------------------------------------------------------------------------------------- serialisation


def test_to_dict_is_json_ready_with_exact_decimal_strings() -> None:
    plan = make_plan()
    d = plan.to_dict()
    assert d["schema"] == PLAN_SCHEMA
    assert d["created_at"] == "2024-01-02T15:00:00+00:00"
    assert d["fingerprint"] == plan.fingerprint
    assert len(d["fingerprint"]) == 64
    assert (d["equity"], d["cash"]) == ("250000", "50000.25")
    assert d["positions"] == {"AAPL": "100", "MSFT": "20", "SPY": "50"}
    assert d["prices"]["AAPL"] == "185.00"
    first = d["orders"][0]
    assert (first["symbol"], first["action"], first["leg"]) == ("SPY", "SELL", "close")
    assert first["quantity"] == "50"
    assert first["limit_price"] == "429.57"
    assert first["notional"] == "21478.50"
    assert first["target_quantity"] == "-58"
    assert first["client_order_id"] == plan.orders[0].client_order_id
    assert d["skipped"] == [{"symbol": "GLD", "reason": "no_price", "detail": "cannot trade GLD: no price"}]
    assert d["risk"] == {"passed": True, "checks": list(plan.risk)}
    assert d["warnings"] == ["GLD: no price"]
    json.dumps(d)  # no Decimal / datetime leaks


def test_save_load_round_trip_is_exact(tmp_path: Path) -> None:
    plan = make_plan()
    path = tmp_path / "plan.json"
    plan.save(path)
    loaded = Plan.load(path)
    assert loaded == plan
    assert loaded.to_dict() == plan.to_dict()
    assert loaded.fingerprint == plan.fingerprint
    assert loaded.created_at.tzinfo is not None


def test_save_is_byte_stable(tmp_path: Path) -> None:
    a, b, c = tmp_path / "a.json", tmp_path / "b.json", tmp_path / "c.json"
    make_plan().save(a)
    make_plan().save(b)
    Plan.load(a).save(c)
    assert a.read_bytes() == b.read_bytes() == c.read_bytes()
    assert a.read_bytes().endswith(b"}\n")


def test_save_overwrites_atomically_without_leaving_a_temp_file(tmp_path: Path) -> None:
    path = tmp_path / "plan.json"
    path.write_text("old contents")
    make_plan().save(path)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["plan.json"]
    assert Plan.load(path) == make_plan()


# ---------------------------------------------------------------------------------------------- tampering


def _tamper(path: Path, edit: Any) -> None:
    data = json.loads(path.read_text())
    edit(data)
    path.write_text(json.dumps(data, indent=2))


@pytest.mark.parametrize("edit", [
    pytest.param(lambda d: d.update(cash="99999.25"), id="cash"),
    pytest.param(lambda d: d["positions"].update(AAPL="1000"), id="position"),
    pytest.param(lambda d: d["positions"].pop("MSFT"), id="dropped-position"),
    pytest.param(lambda d: d.update(account_id="DU2"), id="account"),
    pytest.param(lambda d: d.update(broker="ibkr"), id="broker"),
    pytest.param(lambda d: d.update(target_sha256="b" * 64), id="target-sha"),
    pytest.param(lambda d: d.update(config_sha256=None), id="config-sha"),
    pytest.param(lambda d: d.update(fingerprint="0" * 64), id="fingerprint"),
    pytest.param(lambda d: d["orders"][0].update(quantity="999"), id="order-quantity"),
    pytest.param(lambda d: d["orders"][0].update(limit_price="1.00"), id="order-limit"),
    pytest.param(lambda d: d["prices"].update(AAPL="1"), id="price"),
])
def test_tampered_plans_are_refused(tmp_path: Path, edit: Any) -> None:
    path = tmp_path / "plan.json"
    make_plan().save(path)
    _tamper(path, edit)
    with pytest.raises(StalePlanError, match="modified after it was saved"):
        Plan.load(path)


def test_rehashed_plan_with_edited_inputs_fails_the_fingerprint(tmp_path: Path) -> None:
    """Even with a recomputed content hash, inputs that disagree with the fingerprint are refused."""
    from engine.rebalance.plan import content_hash

    path = tmp_path / "plan.json"
    make_plan().save(path)
    data = json.loads(path.read_text())
    data.pop("plan_sha256")
    data["cash"] = "99999.25"
    data["plan_sha256"] = content_hash(data)
    path.write_text(json.dumps(data))
    with pytest.raises(StalePlanError, match="fingerprint does not match"):
        Plan.load(path)


def test_stale_plan_error_is_an_input_error() -> None:
    assert issubclass(StalePlanError, InputError)  # → exit 4


@pytest.mark.parametrize(("content", "message"), [
    ("{not json", "cannot read plan"),
    ("[1, 2]", "is not a nanobook plan"),
    ('{"schema": "other/1"}', "is not a nanobook plan"),
    (json.dumps({"schema": PLAN_SCHEMA}), "modified after it was saved"),
])
def test_unreadable_or_foreign_files_are_refused(tmp_path: Path, content: str, message: str) -> None:
    path = tmp_path / "plan.json"
    path.write_text(content)
    with pytest.raises(StalePlanError, match=message):
        Plan.load(path)


def test_missing_file_is_refused(tmp_path: Path) -> None:
    with pytest.raises(StalePlanError, match="cannot read plan"):
        Plan.load(tmp_path / "nope.json")


def test_bad_decimal_in_an_order_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "plan.json"
    make_plan().save(path)
    from engine.rebalance.plan import content_hash

    def edit(d: dict[str, Any]) -> None:
        d.pop("plan_sha256")
        d["orders"][0]["quantity"] = "lots"
        d["plan_sha256"] = content_hash(d)

    _tamper(path, edit)
    with pytest.raises(StalePlanError, match="is malformed"):
        Plan.load(path)


# ---------------------------------------------------------------------------------------------- fingerprint


def test_fingerprint_ignores_zero_positions_and_mapping_order() -> None:
    base = fingerprint(broker="sim", account_id="DU1", cash=D(100), positions={"A": D(1), "B": D(2)},
                       target_sha256=TARGET_SHA, config_sha256=None)
    same = fingerprint(broker="sim", account_id="DU1", cash=D("100.00"), positions={"B": D(2), "A": D("1.0"),
                                                                                     "Z": D(0)},
                       target_sha256=TARGET_SHA, config_sha256=None)
    assert base == same
    other = fingerprint(broker="sim", account_id="DU1", cash=D(100), positions={"A": D(1), "B": D(3)},
                        target_sha256=TARGET_SHA, config_sha256=None)
    assert other != base


def test_bug_fingerprint_differs_for_equal_fractional_decimals() -> None:
    """BUG: `_dec` only normalises integral values, so Decimal("100.5") and Decimal("100.50") (equal amounts that
    a broker adapter may report with different exponents) give different fingerprints.
    """
    a = fingerprint(broker="sim", account_id="DU1", cash=D("100.5"), positions={"BTC": D("0.25")},
                    target_sha256=TARGET_SHA, config_sha256=None)
    b = fingerprint(broker="sim", account_id="DU1", cash=D("100.50"), positions={"BTC": D("0.2500")},
                    target_sha256=TARGET_SHA, config_sha256=None)
    assert a == b


def test_bug_check_fresh_refuses_unchanged_account_with_an_empty_reason() -> None:
    """BUG (consequence of the fingerprint above): the broker reports the same cash with another exponent; the
    plan is refused as stale and the message names nothing ("positions changed: " with an empty list).
    """
    plan = make_plan(cash=D("50000.25"))
    check_fresh(plan, **fresh_kwargs(cash=D("50000.250")))


# ---------------------------------------------------------------------------------------------- check_fresh


def test_fresh_plan_is_accepted() -> None:
    check_fresh(make_plan(), **fresh_kwargs())


def test_fresh_plan_is_accepted_at_the_boundaries() -> None:
    plan = make_plan()
    check_fresh(plan, **fresh_kwargs(now=CREATED + timedelta(seconds=900)))  # exactly max age
    check_fresh(plan, **fresh_kwargs(now=CREATED - timedelta(seconds=5)))    # 5 s of clock skew tolerated
    # AAPL +50 bp exactly (185 → 185.925) is still within the bound
    check_fresh(plan, **fresh_kwargs(prices={**PRICES, "AAPL": D("185.925")}))
    # prices of symbols without orders do not matter, zero positions do not count as holdings
    check_fresh(plan, **fresh_kwargs(prices={s: p for s, p in PRICES.items() if s != "TLT"} | {"TLT": D(95)},
                                     positions={**POSITIONS, "GLD": D(0)}))


def test_refused_when_too_old() -> None:
    msg = stale_reason(make_plan(), now=CREATED + timedelta(seconds=901))
    assert "plan is 901s old (max 900s)" in msg
    assert msg.startswith("saved plan is stale: ")
    assert msg.endswith("run `nanobook plan` again")


def test_refused_when_from_the_future() -> None:
    msg = stale_reason(make_plan(), now=CREATED - timedelta(seconds=6))
    assert "plan was created in the future" in msg


def test_refused_when_positions_changed() -> None:
    msg = stale_reason(make_plan(), positions={**POSITIONS, "AAPL": D(101), "NEW": D(5)})
    assert "positions changed: AAPL, NEW" in msg


def test_refused_when_a_position_was_closed() -> None:
    msg = stale_reason(make_plan(), positions={"AAPL": D(100), "SPY": D(50)})
    assert "positions changed: MSFT" in msg


def test_refused_when_cash_changed() -> None:
    msg = stale_reason(make_plan(), cash=D("49000.25"))
    assert "cash changed (50000.25 → 49000.25)" in msg


def test_refused_when_target_changed() -> None:
    assert "target file changed since the plan was made" in stale_reason(make_plan(), target_sha256="d" * 64)


def test_refused_when_config_changed() -> None:
    assert "config changed since the plan was made" in stale_reason(make_plan(), config_sha256=None)


def test_refused_for_another_account_or_broker() -> None:
    assert "account changed (sim:DU1 → sim:DU2)" in stale_reason(make_plan(), account_id="DU2")
    assert "account changed (sim:DU1 → ibkr:DU1)" in stale_reason(make_plan(), broker="ibkr")


def test_refused_when_price_moved_beyond_the_bound() -> None:
    msg = stale_reason(make_plan(), prices={**PRICES, "AAPL": D("186.11")})  # +60 bp
    assert "AAPL: price moved 60 bp (max 50 bp)" in msg


def test_refused_when_price_fell_beyond_the_bound() -> None:
    msg = stale_reason(make_plan(), prices={**PRICES, "SPY": D("425.70")})  # −100 bp, both SPY legs
    assert msg.count("SPY: price moved 100 bp (max 50 bp)") == 2


def test_refused_when_an_order_symbol_has_no_price() -> None:
    prices = {s: p for s, p in PRICES.items() if s != "TLT"}
    assert "TLT: no current price" in stale_reason(make_plan(), prices=prices)


def test_every_independent_reason_is_listed() -> None:
    msg = stale_reason(make_plan(), now=CREATED + timedelta(hours=1), prices={**PRICES, "AAPL": D(200)},
                       positions={**POSITIONS, "AAPL": D(1)})
    assert "plan is 3600s old" in msg
    assert "positions changed: AAPL" in msg
    assert "AAPL: price moved 811 bp" in msg


def test_bug_check_fresh_names_only_the_first_changed_input() -> None:
    """BUG (minor): check_fresh promises to list every reason, but of the fingerprinted inputs only the first
    difference is named — with both cash and positions changed the message mentions only the cash.
    """
    msg = stale_reason(make_plan(), cash=D(1), positions={**POSITIONS, "AAPL": D(1)})
    assert "cash changed" in msg
    assert "positions changed: AAPL" in msg


def test_a_loaded_plan_is_checked_the_same_way(tmp_path: Path) -> None:
    path = tmp_path / "plan.json"
    make_plan().save(path)
    loaded = Plan.load(path)
    check_fresh(loaded, **fresh_kwargs())
    assert "cash changed" in stale_reason(loaded, cash=D(0))


def test_orders_are_frozen_by_the_plan() -> None:
    plan = make_plan()
    with pytest.raises(AttributeError):
        plan.orders[0].quantity = D(1)  # type: ignore[misc]
    assert replace(plan, warnings=()).fingerprint == plan.fingerprint
