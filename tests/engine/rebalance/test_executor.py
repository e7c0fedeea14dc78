"""Tests of engine.rebalance.executor against the scriptable FakeBroker: audit order, ambiguity, timeout, stop."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

import pytest

from engine.brokers.base import Broker
from engine.errors import BrokerUnavailable
from engine.rebalance.diff import PlannedOrder, client_order_id
from engine.rebalance.executor import ExecutionResult, ExecutionSettings, Executor, OrderOutcome
from tests.engine.rebalance.fakes import (
    AMBIGUOUS_AFTER,
    AMBIGUOUS_BEFORE,
    REJECT,
    UNAVAILABLE,
    FakeBroker,
    FakeClock,
    ListAudit,
)

D = Decimal

SETTINGS = ExecutionSettings(order_interval_ms=100, order_timeout_s=2.0, max_retries=3, poll_interval_s=0.5)


def planned(symbol: str = "AAPL", side: str = "buy", qty: int | str = 10, limit: str = "100.00",
            leg: str = "single") -> PlannedOrder:
    q = D(qty)
    return PlannedOrder(
        client_order_id=client_order_id("core", "DU1", symbol, side, q, leg),  # type: ignore[arg-type]
        symbol=symbol, side=side, action="BUY" if side == "buy" else "SELL",  # type: ignore[arg-type]
        quantity=q, limit_price=D(limit), reference_price=D(limit), current_quantity=D(0), target_quantity=q,
        current_weight=D(0), target_weight=D("0.1"), reason="open", leg=leg)


@dataclass
class Notes:
    calls: list[tuple[int, int, str, str]] = field(default_factory=list)

    def on_order(self, index: int, total: int, outcome: OrderOutcome, note: str) -> None:
        self.calls.append((index, total, outcome.planned.symbol, note))


@dataclass
class Harness:
    clock: FakeClock
    broker: FakeBroker
    audit: ListAudit
    stop: threading.Event
    notes: Notes
    executor: Executor

    def run(self, *orders: PlannedOrder) -> ExecutionResult:
        return self.executor.execute(list(orders))


def harness(settings: ExecutionSettings = SETTINGS) -> Harness:
    clock = FakeClock()
    broker = FakeBroker(clock=clock)
    audit = ListAudit()
    stop = threading.Event()
    notes = Notes()
    executor = Executor(broker, audit, settings, clock, clock.sleep, stop, reporter=notes)
    return Harness(clock, broker, audit, stop, notes, executor)


def lookups(h: Harness, cid: str) -> int:
    return h.broker.calls.count(("lookup", cid))


# ---------------------------------------------------------------------------------------------- fakes


def test_fake_broker_satisfies_the_broker_protocol() -> None:
    assert isinstance(FakeBroker(), Broker)


def test_fake_clock_moves_only_on_sleep() -> None:
    clock = FakeClock()
    start = clock()
    assert clock() == start
    clock.sleep(1.5)
    assert (clock() - start).total_seconds() == 1.5
    assert clock.sleeps == [1.5]


# ---------------------------------------------------------------------------------------------- happy path


def test_happy_path_audit_sequence_per_order() -> None:
    h = harness()
    orders = [planned("MSFT", "sell", 20, "409.59"), planned("AAPL", "buy", 305, "185.18")]
    result = h.run(*orders)
    assert h.audit.names() == ["order_intent", "order_submitted", "order_filled"] * 2
    for o in orders:
        assert h.audit.names(o.client_order_id) == ["order_intent", "order_submitted", "order_filled"]
    intent, submitted, filled = h.audit.for_order(orders[1].client_order_id)
    assert intent == {"event": "order_intent", "client_order_id": orders[1].client_order_id, "symbol": "AAPL",
                      "side": "buy", "quantity": D(305), "limit_price": D("185.18"), "attempt": 1}
    assert submitted["order_id"] == "F0002"
    assert submitted["state"] == "filled"
    assert filled["state"] == "filled"
    assert filled["filled_quantity"] == D(305)
    assert filled["avg_fill_price"] == D("185.18")
    assert [o.state for o in result.outcomes] == ["filled", "filled"]
    assert [o.order_id for o in result.outcomes] == ["F0001", "F0002"]
    assert (result.submitted, result.filled, result.failed, result.status) == (2, 2, 0, "ok")
    assert result.interrupted is False
    assert [r.client_order_id for r in h.broker.place_requests] == [o.client_order_id for o in orders]
    assert h.broker.place_requests[0].side == "sell"
    assert h.broker.place_requests[0].limit_price == D("409.59")


def test_every_order_event_carries_client_order_id_and_symbol() -> None:
    h = harness()
    h.broker.script("B", place=[REJECT])
    h.broker.script("C", fill_on_place=D(0))
    h.run(planned("A"), planned("B"), planned("C"))
    assert {e["event"] for e in h.audit.events} >= {"order_intent", "order_submitted", "order_failed",
                                                    "order_filled", "cancel_intent", "cancel_result"}
    for event in h.audit.events:
        assert event["client_order_id"].startswith("nb")
        assert event["symbol"] in {"A", "B", "C"}


def test_intent_is_written_before_the_broker_call() -> None:
    h = harness()
    seen: list[str] = []

    def on_place(request: Any) -> None:
        last = h.audit.events[-1]
        assert (last["event"], last["client_order_id"]) == ("order_intent", request.client_order_id)
        seen.append("place")

    def on_cancel(order: Any) -> None:
        last = h.audit.events[-1]
        assert (last["event"], last["order_id"]) == ("cancel_intent", order.order_id)
        seen.append("cancel")

    h.broker.on_place, h.broker.on_cancel = on_place, on_cancel
    h.broker.script("SLOW", fill_on_place=D(0))
    h.broker.script("AMB", place=[AMBIGUOUS_BEFORE])
    h.run(planned("AAPL"), planned("AMB"), planned("SLOW"))
    assert seen == ["place", "place", "place", "place", "cancel"]


def test_fills_arriving_over_polls() -> None:
    h = harness()
    h.broker.script("AAPL", fill_on_place=D(0), fill_per_poll=D(4))
    result = h.run(planned("AAPL", qty=10))
    outcome = result.outcomes[0]
    assert (outcome.state, outcome.filled_quantity, outcome.avg_fill_price) == ("filled", D(10), D(100))
    assert h.broker.kinds() == ["place", "poll", "poll", "poll"]
    assert h.clock.sleeps == [0.5, 0.5, 0.5]
    assert h.audit.names() == ["order_intent", "order_submitted", "order_filled"]
    assert h.audit.of("order_submitted")[0]["state"] == "submitted"
    assert result.status == "ok"


def test_transient_poll_failures_keep_waiting() -> None:
    h = harness()
    h.broker.script("AAPL", fill_on_place=D(0), fill_per_poll=D(10))
    h.broker.poll_failures = 2
    result = h.run(planned("AAPL"))
    assert result.outcomes[0].state == "filled"
    assert h.broker.kinds() == ["place", "poll", "poll", "poll"]


# ---------------------------------------------------------------------------------------------- failures


def test_rejection_is_recorded_and_never_retried() -> None:
    h = harness()
    h.broker.script("AAPL", place=[REJECT], reject_reason="price outside the band")
    a, b = planned("AAPL"), planned("MSFT")
    result = h.run(a, b)
    assert h.audit.names(a.client_order_id) == ["order_intent", "order_failed"]
    failed = h.audit.of("order_failed")[0]
    assert failed["error_type"] == "rejected"
    assert failed["error_message"] == "price outside the band"
    assert failed["retryable"] is False
    assert h.broker.place_count(a.client_order_id) == 1
    assert lookups(h, a.client_order_id) == 0
    assert (result.outcomes[0].state, result.outcomes[0].order_id) == ("rejected", None)
    assert result.outcomes[1].state == "filled"  # the run goes on
    assert (result.submitted, result.filled, result.failed, result.status) == (1, 1, 1, "partial")


def test_broker_unavailable_on_place_fails_without_retry() -> None:
    h = harness()
    h.broker.script("AAPL", place=[UNAVAILABLE])
    a = planned("AAPL")
    result = h.run(a)
    assert result.outcomes[0].state == "failed"
    assert h.audit.of("order_failed")[0]["retryable"] is True
    assert h.broker.place_count(a.client_order_id) == 1
    assert h.broker.bookings == []


def test_ambiguous_after_booking_is_found_by_lookup_and_not_placed_again() -> None:
    h = harness()
    h.broker.script("AAPL", place=[AMBIGUOUS_AFTER])
    a = planned("AAPL")
    result = h.run(a)
    assert h.broker.calls == [("place", a.client_order_id), ("lookup", a.client_order_id)]
    assert h.broker.booked_count(a.client_order_id) == 1
    assert h.broker.place_count(a.client_order_id) == 1
    assert h.audit.names(a.client_order_id) == ["order_intent", "order_submitted", "order_filled"]
    assert (result.outcomes[0].state, result.outcomes[0].order_id) == ("filled", "F0001")


def test_ambiguous_after_booking_of_a_working_order_is_then_watched() -> None:
    h = harness()
    h.broker.script("AAPL", place=[AMBIGUOUS_AFTER], fill_on_place=D(0), fill_per_poll=D(10))
    a = planned("AAPL")
    result = h.run(a)
    assert h.broker.kinds() == ["place", "lookup", "poll"]
    assert h.broker.booked_count(a.client_order_id) == 1
    assert result.outcomes[0].state == "filled"


def test_ambiguous_before_booking_is_placed_again_once_with_the_same_id() -> None:
    h = harness()
    h.broker.script("AAPL", place=[AMBIGUOUS_BEFORE])
    a = planned("AAPL")
    result = h.run(a)
    cid = a.client_order_id
    assert h.broker.calls == [("place", cid), ("lookup", cid), ("place", cid)]  # looked up before the retry
    first, second = h.broker.place_requests
    assert first == second  # same id, same quantity, same limit: nothing re-derived
    assert h.broker.booked_count(cid) == 1
    assert [e["attempt"] for e in h.audit.of("order_intent")] == [1, 2]
    assert h.audit.names(cid) == ["order_intent", "order_intent", "order_submitted", "order_filled"]
    assert h.clock.sleeps == [0.25]  # back-off before the second attempt
    assert result.outcomes[0].state == "filled"


def test_lookup_failures_make_the_order_ambiguous_without_a_blind_retry() -> None:
    h = harness()
    h.broker.script("AAPL", place=[AMBIGUOUS_BEFORE])
    h.broker.lookup_failures = 99
    a, b = planned("AAPL"), planned("MSFT")
    result = h.run(a, b)
    assert h.broker.place_count(a.client_order_id) == 1
    assert lookups(h, a.client_order_id) == SETTINGS.max_retries + 1
    outcome = result.outcomes[0]
    assert (outcome.state, outcome.order_id) == ("ambiguous", None)
    assert outcome.error == "could not look the order up by client id"
    failed = h.audit.of("order_failed")[0]
    assert (failed["error_type"], failed["retryable"]) == ("ambiguous", True)
    assert h.audit.names(a.client_order_id) == ["order_intent", "order_failed"]
    assert h.clock.sleeps[:3] == [0.25, 0.5, 1.0]  # lookup back-off, none after the last attempt
    assert result.failed == 1
    assert result.status == "partial"


def test_transient_lookup_failures_then_found() -> None:
    h = harness()
    h.broker.script("AAPL", place=[AMBIGUOUS_AFTER])
    h.broker.lookup_failures = 2
    a = planned("AAPL")
    result = h.run(a)
    assert lookups(h, a.client_order_id) == 3
    assert h.broker.place_count(a.client_order_id) == 1
    assert result.outcomes[0].state == "filled"


def test_ambiguity_that_never_resolves_gives_up_after_max_retries() -> None:
    h = harness()
    h.broker.script("AAPL", place=[AMBIGUOUS_BEFORE] * 10)
    a = planned("AAPL")
    result = h.run(a)
    assert h.broker.place_count(a.client_order_id) == SETTINGS.max_retries + 1
    assert lookups(h, a.client_order_id) == SETTINGS.max_retries + 1
    assert h.broker.kinds() == ["place", "lookup"] * 4  # every retry is preceded by a lookup
    assert [e["attempt"] for e in h.audit.of("order_intent")] == [1, 2, 3, 4]
    outcome = result.outcomes[0]
    assert outcome.state == "failed"
    assert "gave up after 4 attempts" in (outcome.error or "")
    assert h.broker.bookings == []


def test_rerunning_the_same_plan_never_books_an_id_twice() -> None:
    h = harness()
    a = planned("AAPL")
    h.run(a)
    h.run(a)
    assert h.broker.place_count(a.client_order_id) == 2
    assert h.broker.booked_count(a.client_order_id) == 1


# ---------------------------------------------------------------------------------------------- timeout


def test_timeout_cancels_a_resting_order() -> None:
    h = harness()
    h.broker.script("AAPL", fill_on_place=D(0))
    a = planned("AAPL")
    result = h.run(a)
    assert h.broker.kinds() == ["place", "poll", "poll", "poll", "poll", "cancel"]
    assert h.clock.elapsed == SETTINGS.order_timeout_s
    assert h.audit.names(a.client_order_id) == ["order_intent", "order_submitted", "cancel_intent",
                                                "cancel_result", "order_filled"]
    cancel_intent, cancel_result = h.audit.of("cancel_intent")[0], h.audit.of("cancel_result")[0]
    assert (cancel_intent["reason"], cancel_intent["order_id"]) == ("timeout", "F0001")
    assert (cancel_result["success"], cancel_result["state"], cancel_result["error_message"]) == \
        (True, "cancelled", None)
    assert h.audit.of("order_filled")[0]["state"] == "cancelled"
    outcome = result.outcomes[0]
    assert (outcome.state, outcome.filled_quantity) == ("cancelled", D(0))
    assert (result.submitted, result.filled, result.failed, result.status) == (1, 0, 0, "partial")


def test_timeout_after_a_partial_fill_cancels_the_remainder_and_never_resubmits_it() -> None:
    h = harness()
    h.broker.script("AAPL", fill_on_place=D(0), fill_per_poll=D(1))
    a = planned("AAPL", qty=10)
    result = h.run(a, planned("MSFT"))
    outcome = result.outcomes[0]
    assert (outcome.state, outcome.filled_quantity) == ("partially_filled", D(4))
    filled = h.audit.for_order(a.client_order_id)[-1]
    assert (filled["event"], filled["state"], filled["filled_quantity"]) == ("order_filled", "cancelled", D(4))
    assert [r.symbol for r in h.broker.place_requests] == ["AAPL", "MSFT"]  # no second AAPL order
    assert h.broker.orders["F0001"].state == "cancelled"
    assert result.status == "partial"


def test_failed_cancel_is_audited_and_the_order_left_in_flight() -> None:
    """A cancel the venue never confirmed leaves the order working: no terminal order_filled is written, so
    the audit log keeps it in flight for `recover`."""
    h = harness()
    a = planned("AAPL")
    h.broker.script("AAPL", fill_on_place=D(0), cancel_error=BrokerUnavailable("cancel timed out"))
    result = h.run(a)
    cancel_result = h.audit.of("cancel_result")[0]
    assert cancel_result["success"] is False
    assert cancel_result["error_message"] == "cancel timed out"
    assert cancel_result["state"] == "submitted"
    assert result.outcomes[0].state == "working"
    assert "order_filled" not in h.audit.names(a.client_order_id)
    assert result.status == "partial"


def test_unacknowledged_cancel_is_not_reported_as_done_and_not_resubmitted() -> None:
    h = harness()
    h.broker.script("AAPL", fill_on_place=D(0), fill_per_poll=D(1), cancel_acknowledged=False)
    a = planned("AAPL", qty=10)
    result = h.run(a, planned("MSFT"))
    cancel_result = h.audit.of("cancel_result")[0]
    assert (cancel_result["success"], cancel_result["state"]) == (False, "partially_filled")
    outcome = result.outcomes[0]
    assert (outcome.state, outcome.complete) == ("working", False)
    assert outcome.filled_quantity > 0
    assert "order_filled" not in h.audit.names(a.client_order_id)
    assert h.broker.place_count(a.client_order_id) == 1
    assert result.status == "partial"


# ---------------------------------------------------------------------------------------------- stop signal


def test_stop_mid_run_cancels_the_working_order_and_submits_nothing_more() -> None:
    h = harness()
    h.broker.script("MSFT", fill_on_place=D(0))
    h.broker.on_poll = lambda order: h.stop.set()
    a, b, c = planned("AAPL"), planned("MSFT"), planned("TLT")
    result = h.run(a, b, c)
    assert [r.symbol for r in h.broker.place_requests] == ["AAPL", "MSFT"]
    assert h.audit.names(c.client_order_id) == []
    assert h.audit.names(b.client_order_id) == ["order_intent", "order_submitted", "cancel_intent",
                                                "cancel_result", "order_filled"]
    assert h.audit.of("cancel_intent")[0]["reason"] == "stop_requested"
    assert [o.state for o in result.outcomes] == ["filled", "cancelled"]
    assert result.interrupted is True
    assert result.status == "interrupted"
    assert h.clock.sleeps == [0.1, 0.5]  # the interval after AAPL, one poll wait; nothing after the stop


def test_stop_before_start_places_nothing() -> None:
    h = harness()
    h.stop.set()
    result = h.run(planned("AAPL"), planned("MSFT"))
    assert h.broker.calls == []
    assert h.audit.events == []
    assert (result.outcomes, result.interrupted, result.status) == ([], True, "interrupted")


def test_stop_during_a_placement_lets_that_order_finish_then_stops() -> None:
    h = harness()
    h.broker.on_place = lambda request: h.stop.set()
    result = h.run(planned("AAPL"), planned("MSFT"))
    assert [r.symbol for r in h.broker.place_requests] == ["AAPL"]
    assert [o.state for o in result.outcomes] == ["filled"]
    assert result.status == "interrupted"
    assert h.clock.sleeps == []


# ---------------------------------------------------------------------------------------------- pacing


def test_rate_limit_sleeps_between_orders_not_after_the_last() -> None:
    h = harness(ExecutionSettings(order_interval_ms=250, order_timeout_s=2.0, max_retries=3, poll_interval_s=0.5))
    h.run(planned("A"), planned("B"), planned("C"))
    assert h.clock.sleeps == [0.25, 0.25]
    gaps = [(b - a).total_seconds() for a, b in zip(h.broker.place_times, h.broker.place_times[1:], strict=False)]
    assert gaps == [0.25, 0.25]


def test_rate_limit_comes_on_top_of_the_wait_for_fills() -> None:
    h = harness()
    h.broker.script("A", fill_on_place=D(0), fill_per_poll=D(5))
    h.run(planned("A", qty=10), planned("B"))
    gap = (h.broker.place_times[1] - h.broker.place_times[0]).total_seconds()
    assert gap == pytest.approx(0.5 + 0.5 + 0.1)


# ---------------------------------------------------------------------------------------------- result & reporter


def test_result_counters_for_a_mixed_run() -> None:
    h = harness()
    h.broker.script("REJ", place=[REJECT])
    h.broker.script("SLOW", fill_on_place=D(3))
    result = h.run(planned("OK1"), planned("REJ"), planned("SLOW"))
    assert [o.state for o in result.outcomes] == ["filled", "rejected", "partially_filled"]
    assert (result.submitted, result.filled, result.failed) == (2, 1, 1)
    assert result.status == "partial"
    assert [o.complete for o in result.outcomes] == [True, False, False]


def test_empty_plan_is_ok_and_silent() -> None:
    h = harness()
    result = h.run()
    assert (result.status, result.submitted, result.filled, result.failed) == ("ok", 0, 0, 0)
    assert h.audit.events == []
    assert h.clock.sleeps == []


def test_reporter_sees_each_state_change() -> None:
    h = harness()
    h.broker.script("B", place=[REJECT])
    h.run(planned("A"), planned("B"))
    assert h.notes.calls == [(1, 2, "A", "submitted"), (1, 2, "A", "filled"), (2, 2, "B", "rejected")]
