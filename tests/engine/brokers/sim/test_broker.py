"""SimBroker beyond the contract: first use, money rules, rejections, commission, lookups and injected faults."""

from __future__ import annotations

import time
from datetime import datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest

from engine.brokers.base import OrderState
from engine.brokers.sim import DEFAULT_CASH, SimBroker, SimFaults, SimVenue, VenueInputError
from engine.brokers.sim.venue import commission_for, money, position_after
from engine.errors import AmbiguousOrderState, BrokerUnavailable, OrderRejected, UnknownSymbol
from tests.engine.brokers.sim.helpers import T0, Clock, assert_ledger_consistent, req

TARGET_SYMBOLS = ["AAPL", "MSFT", "AMZN", "GOOGL", "JPM", "XOM", "JNJ", "PG"]


@pytest.fixture
def broker(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> SimBroker:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("NANOBOOK_SIM_FAULTS", raising=False)
    return SimBroker(clock=Clock())


# ------------------------------------------------------------------------------------------ first use


def test_first_use_creates_the_venue_in_the_working_directory(broker: SimBroker, tmp_path: Path) -> None:
    assert not (tmp_path / ".nanobook").exists()
    account = broker.account()
    assert (tmp_path / ".nanobook" / "sim.db").is_file()
    assert broker.venue.initialised_now
    assert account.cash == account.equity == account.buying_power == DEFAULT_CASH
    assert (account.kind, account.currency, account.paper) == ("cash", "USD", True)
    quotes = broker.quotes(TARGET_SYMBOLS)
    assert all(q.bid is not None and q.ask is not None and q.live for q in quotes.values())
    assert broker.venue.summary()["symbols"] >= 100
    assert broker.positions() == []


def test_without_auto_init_a_missing_venue_is_unavailable_and_nothing_is_created(tmp_path: Path) -> None:
    broker = SimBroker(tmp_path, auto_init=False)
    with pytest.raises(BrokerUnavailable, match="nanobook sim init"):
        broker.account()
    assert not (tmp_path / ".nanobook").exists()


def test_unknown_symbol_names_sim_set_price_and_books_nothing(broker: SimBroker) -> None:
    with pytest.raises(UnknownSymbol, match=r"nanobook sim set-price ZZZ PRICE") as info:
        broker.place_limit(req("u1", "ZZZ"))
    assert info.value.symbol == "ZZZ"
    assert broker.order(client_order_id="u1") is None
    broker.venue.set_price("ZZZ", "10")
    assert broker.place_limit(req("u1", "ZZZ", price="9.00")).state is OrderState.SUBMITTED


def test_quotes_carry_the_clock_and_reference_as_last(tmp_path: Path) -> None:
    clock = Clock()
    broker = SimBroker(tmp_path, clock)
    q = broker.quotes(["AAPL"])["AAPL"]
    assert q.ts == T0
    assert q.last == Decimal("185.00")
    assert q.bid is not None
    assert q.ask is not None
    assert q.bid < Decimal("185.00") < q.ask
    clock.tick(60)
    assert broker.quotes(["AAPL"])["AAPL"].ts == T0 + timedelta(seconds=60)


def test_naive_clock_is_taken_as_utc(tmp_path: Path) -> None:
    broker = SimBroker(tmp_path, lambda: datetime(2026, 1, 5, 14, 30))
    assert broker.quotes(["AAPL"])["AAPL"].ts == T0


# ------------------------------------------------------------------------------------------ money


def test_buy_updates_cash_position_equity_and_commission(broker: SimBroker) -> None:
    order = broker.place_limit(req("b1", qty=100, price="185.10"))
    assert order.state is OrderState.FILLED
    fills = broker.fills()
    assert sum(f.commission for f in fills) == Decimal("0.35")  # 100 × 0.0035 = 0.35: exactly the minimum
    notional = sum((f.price * f.quantity for f in fills), Decimal(0))
    account = broker.account()
    assert account.cash == DEFAULT_CASH - notional - Decimal("0.35")
    [pos] = broker.positions()
    assert (pos.symbol, pos.quantity) == ("AAPL", Decimal(100))
    assert pos.avg_cost == order.avg_fill_price == money(notional / 100)
    mid = broker.quotes(["AAPL"])["AAPL"].mid
    assert mid is not None
    assert account.equity == money(account.cash + 100 * mid)


def test_commission_minimum_is_per_order_across_partial_fills(tmp_path: Path) -> None:
    broker = SimBroker(tmp_path, Clock())
    broker.place_limit(req("p", qty=200, price="180.00"))
    broker.venue.set_price("AAPL", "179.00")  # fills all 200 at once
    assert [f.commission for f in broker.fills()] == [Decimal("0.70")]
    assert commission_for(0) == 0
    assert commission_for(1) == Decimal("0.35")
    assert commission_for(1000) == Decimal("3.5")


def test_open_buys_reserve_cash(tmp_path: Path) -> None:
    SimVenue(tmp_path, Clock(), auto_init=False).init(Decimal(10_000))
    broker = SimBroker(tmp_path, Clock())
    broker.place_limit(req("r1", qty=50, price="150.00"))   # rests: reserves 7,500 + 0.35
    assert broker.account().buying_power == Decimal("2499.65")
    with pytest.raises(OrderRejected, match="insufficient cash"):
        broker.place_limit(req("r2", qty=20, price="150.00"))
    broker.cancel(broker.order(client_order_id="r1").order_id)  # type: ignore[union-attr]
    assert broker.place_limit(req("r2b", qty=20, price="150.00")).state is OrderState.SUBMITTED


def test_rejected_order_is_recorded_and_a_retry_returns_it(broker: SimBroker) -> None:
    with pytest.raises(OrderRejected) as info:
        broker.place_limit(req("rich", qty=100_000, price="186.00"))
    assert info.value.client_order_id == "rich"
    assert "insufficient cash" in info.value.reason
    again = broker.place_limit(req("rich", qty=100_000, price="186.00"))
    assert again.state is OrderState.REJECTED
    assert again.reason is not None
    assert "insufficient cash" in again.reason
    assert again.quantity == 100_000
    assert broker.account().cash == DEFAULT_CASH
    assert [o["status"] for o in broker.venue.orders_data()] == ["rejected"]


def test_selling_more_than_held_is_rejected_in_a_cash_account(broker: SimBroker) -> None:
    with pytest.raises(OrderRejected, match="short selling is off"):
        broker.place_limit(req("s0", side="sell", qty=1, price="180.00"))
    broker.place_limit(req("b", qty=10, price="186.00"))
    broker.place_limit(req("s1", side="sell", qty=6, price="199.00"))  # rests, offering 6 of the 10
    with pytest.raises(OrderRejected, match="only 4 are held"):
        broker.place_limit(req("s2", side="sell", qty=5, price="199.00"))
    assert broker.place_limit(req("s3", side="sell", qty=4, price="150.00")).state is OrderState.FILLED


def test_shorting_is_allowed_when_the_venue_says_so(tmp_path: Path) -> None:
    SimVenue(tmp_path, Clock(), auto_init=False).init(allow_short=True)
    broker = SimBroker(tmp_path, Clock())
    assert broker.account().kind == "margin"
    order = broker.place_limit(req("short", side="sell", qty=10, price="180.00"))
    assert order.state is OrderState.FILLED
    [pos] = broker.positions()
    assert pos.quantity == -10
    assert broker.account().cash > DEFAULT_CASH


@pytest.mark.parametrize(("qty", "price", "reason"), [
    ("1.5", "185.00", "lot size"),
    ("10", "185.005", "tick 0.01"),
])
def test_off_grid_orders_are_rejected(broker: SimBroker, qty: str, price: str, reason: str) -> None:
    with pytest.raises(OrderRejected, match=reason):
        broker.place_limit(req("grid", qty=qty, price=price))
    recorded = broker.order(client_order_id="grid")
    assert recorded is not None
    assert recorded.state is OrderState.REJECTED
    assert (recorded.quantity, recorded.limit_price) == (Decimal(qty), Decimal(price))


def test_position_arithmetic() -> None:
    d = Decimal
    assert position_after(0, d(0), "buy", 10, d("100")) == (10, d("100.00"))
    assert position_after(10, d("100"), "buy", 10, d("110")) == (20, d("105.00"))
    assert position_after(20, d("105"), "sell", 5, d("120")) == (15, d("105"))
    assert position_after(15, d("105"), "sell", 15, d("120")) == (0, d(0))
    assert position_after(5, d("105"), "sell", 8, d("90")) == (-3, d("90"))
    assert position_after(-3, d("90"), "sell", 3, d("80")) == (-6, d("85.00"))
    assert position_after(3, d("1"), "buy", 1, d("2")) == (4, d("1.25"))
    assert position_after(0, d(0), "buy", 3, d("1")) == (3, d("1.00"))
    assert position_after(2, d("1"), "buy", 1, d("1.01")) == (3, d("1.003333"))


# ------------------------------------------------------------------------------------------ lookups


def test_order_lookup_rules(broker: SimBroker) -> None:
    placed = broker.place_limit(req("look", qty=1, price="100.00"))
    assert broker.order(order_id=placed.order_id, client_order_id="look") == placed
    assert broker.order(order_id=placed.order_id, client_order_id="other") is None
    assert placed.order_id == "SIM-000001"
    with pytest.raises(ValueError, match="order_id or client_order_id"):
        broker.order()
    with pytest.raises(OrderRejected, match="no such order"):
        broker.cancel("SIM-999999")


def test_fills_are_stamped_by_the_clock_and_filtered_by_since(tmp_path: Path) -> None:
    clock = Clock()
    broker = SimBroker(tmp_path, clock)
    broker.place_limit(req("f1", qty=5, price="186.00"))
    t1 = clock.tick(10)
    broker.place_limit(req("f2", qty=5, price="187.00"))
    assert {f.ts for f in broker.fills()} == {T0, t1}
    assert {f.client_order_id for f in broker.fills(since=t1)} == {"f2"}
    assert [f.fill_id for f in broker.fills()] == [f"SIMX-{i:06d}" for i in range(1, len(broker.fills()) + 1)]


def test_two_brokers_on_one_venue_share_idempotency(tmp_path: Path) -> None:
    a = SimBroker(tmp_path, Clock())
    b = SimBroker(tmp_path, Clock())
    first = a.place_limit(req("shared", qty=1, price="100.00"))
    second = b.place_limit(req("shared", qty=1, price="100.00"))
    assert first == second
    assert len(a.open_orders()) == 1
    assert_ledger_consistent(tmp_path)


def test_close_and_reopen(broker: SimBroker) -> None:
    broker.place_limit(req("c", qty=1, price="100.00"))
    broker.close()
    assert len(broker.open_orders()) == 1
    with broker as again:
        assert again is broker


# ------------------------------------------------------------------------------------------ faults


def test_drop_before_booking_raises_ambiguous_and_books_nothing(tmp_path: Path) -> None:
    broker = SimBroker(tmp_path, Clock(), faults=SimFaults(drop_before_booking=1))
    with pytest.raises(AmbiguousOrderState) as info:
        broker.place_limit(req("d1", qty=1, price="100.00"))
    assert info.value.client_order_id == "d1"
    assert broker.order(client_order_id="d1") is None
    retried = broker.place_limit(req("d1", qty=1, price="100.00"))
    assert retried.state is OrderState.SUBMITTED
    assert len(broker.venue.orders_data()) == 1


def test_lost_ack_books_the_order_and_the_retry_finds_it(tmp_path: Path) -> None:
    broker = SimBroker(tmp_path, Clock(), faults=SimFaults(skip_places=1, lose_ack=1))
    broker.place_limit(req("ok", qty=1, price="100.00"))
    with pytest.raises(AmbiguousOrderState, match="acknowledgement lost"):
        broker.place_limit(req("lost", qty=5, price="186.00"))
    found = broker.order(client_order_id="lost")
    assert found is not None
    assert found.state is OrderState.FILLED
    assert broker.place_limit(req("lost", qty=5, price="186.00")) == found
    assert [o["client_order_id"] for o in broker.venue.orders_data()] == ["ok", "lost"]
    assert_ledger_consistent(tmp_path)


def test_unavailable_latency_and_stale_quotes(tmp_path: Path) -> None:
    faults = SimFaults(unavailable=True)
    broker = SimBroker(tmp_path, Clock(), faults=faults)
    with pytest.raises(BrokerUnavailable, match="injected"):
        broker.account()
    faults.unavailable = False
    faults.latency_s = 0.05
    start = time.perf_counter()
    broker.positions()
    assert time.perf_counter() - start >= 0.05
    faults.latency_s = 0
    faults.quote_age_s = 120
    faults.delayed_quotes = True
    q = broker.quotes(["AAPL"])["AAPL"]
    assert q.ts == T0 - timedelta(seconds=120)
    assert not q.live


def test_faults_from_the_environment() -> None:
    assert SimFaults.from_env({}) is None
    assert SimFaults.from_env({"NANOBOOK_SIM_FAULTS": " "}) is None
    f = SimFaults.from_env({"NANOBOOK_SIM_FAULTS": "lose_ack=2, skip_places=1,latency_s=0.5,delayed_quotes"})
    assert f is not None
    assert (f.lose_ack, f.skip_places, f.latency_s, f.delayed_quotes) == (2, 1, 0.5, True)
    assert [f.take_place_fault() for _ in range(4)] == [None, "lose_ack", "lose_ack", None]
    assert SimFaults.parse("unavailable=0").unavailable is False
    with pytest.raises(VenueInputError, match="unknown fault 'nope'"):
        SimFaults.parse("nope=1")
    with pytest.raises(VenueInputError, match="bad value 'x' for lose_ack"):
        SimFaults.parse("lose_ack=x")


def test_broker_reads_faults_from_the_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NANOBOOK_SIM_FAULTS", "drop_before_booking=1")
    broker = SimBroker(tmp_path, Clock())
    with pytest.raises(AmbiguousOrderState):
        broker.place_limit(req("env", qty=1, price="100.00"))
    assert broker.place_limit(req("env", qty=1, price="100.00")).state is OrderState.SUBMITTED
