"""Recovery: inline cases of spec §9.7 (adapted), the W-A fixes, and broker-aware decisions with a tiny fake."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from audit.errors import AuditCorrupt, AuditError
from audit.events import RecoveryAssessed
from audit.reader import parse_audit, read_audit
from audit.writer import AuditWriter
from engine.brokers.base import Account, BrokerOrder, Fill, Instrument, OrderRequest, OrderState, Position, Quote
from engine.errors import BrokerUnavailable
from engine.rebalance.recovery import (
    RecoveredRun,
    audit_replay_summary,
    decide_from_log,
    decide_with_broker,
    reconstruct,
)
from tests.conftest import SHARED_DATA

FIXTURES = SHARED_DATA / "audit-fixtures"
TS = "2024-01-15T10:00:00Z"


# ---- log builders ---------------------------------------------------------------------------------------------


def seed(*events: tuple[str, int | None, dict[str, Any]]) -> bytes:
    """Seed-format lines (flat payload, sequence_number, dollar floats)."""
    lines = []
    for name, seq, payload in events:
        line: dict[str, Any] = {"event": name, "ts": TS}
        if seq is not None:
            line["sequence_number"] = seq
        lines.append(json.dumps({**line, **payload}))
    return "\n".join(lines).encode()


def v1(*events: dict[str, Any], run_id: str = "run-1", first_seq: int = 1) -> bytes:
    """v1 lines of one run (payloads only; the envelope is filled here like the writer would)."""
    lines = [json.dumps({"schema_version": "1", "run_id": run_id, "seq": first_seq + i,
                         "ts": "2024-01-15T10:00:00.000000Z", **event}) for i, event in enumerate(events)]
    return ("\n".join(lines) + "\n").encode()


def state(data: bytes) -> RecoveredRun:
    return reconstruct(parse_audit(data))


def action(data: bytes) -> str:
    return decide_from_log(state(data)).action


RUN = {"event": "run_started", "command": "run", "broker": "sim", "dry_run": False}
DONE = {"event": "run_completed", "status": "ok", "submitted": 1, "filled": 1, "failed": 0}


def intent(coid: str = "c-1", symbol: str = "AAPL") -> dict[str, Any]:
    return {"event": "order_intent", "client_order_id": coid, "symbol": symbol, "side": "buy", "quantity": "5",
            "limit_price": "10.50"}


def submitted(coid: str = "c-1", symbol: str = "AAPL", order_id: str = "V1") -> dict[str, Any]:
    return {"event": "order_submitted", "client_order_id": coid, "symbol": symbol, "order_id": order_id,
            "state": "submitted"}


def filled(coid: str = "c-1", symbol: str = "AAPL", order_id: str = "V1", state: str = "filled") -> dict[str, Any]:
    return {"event": "order_filled", "client_order_id": coid, "symbol": symbol, "order_id": order_id, "state": state,
            "filled_quantity": "5"}


def failed(error_type: str, retryable: bool, coid: str = "c-1") -> dict[str, Any]:
    return {"event": "order_failed", "client_order_id": coid, "symbol": "AAPL", "error_type": error_type,
            "error_message": "boom", "retryable": retryable}


def cancel(result: bool | None, coid: str = "c-1", state: str | None = None) -> dict[str, Any]:
    if result is None:
        return {"event": "cancel_intent", "client_order_id": coid, "symbol": "AAPL", "order_id": "V1",
                "reason": "timeout"}
    return {"event": "cancel_result", "client_order_id": coid, "symbol": "AAPL", "order_id": "V1", "success": result,
            "state": state, "error_message": None if result else "venue said no"}


# ---- §9.7 inline cases, adapted -------------------------------------------------------------------------------


def test_empty_log_restarts() -> None:
    run = state(b"")
    assert (run.last_event, run.last_seq, run.runs) == (None, None, 0)
    decision = decide_from_log(run)
    assert (decision.action, decision.reasons) == ("restart", ["the audit log is empty: nothing to recover"])


def test_seed_progression_of_one_run() -> None:
    steps: list[tuple[str, int | None, dict[str, Any]]] = [("run_started", 1, {})]
    assert action(seed(*steps)) == "restart"
    steps.append(("positions_fetched", 2, {"positions": [{"symbol": "AAPL", "qty": 100, "avg_cost": 150.0}]}))
    run = state(seed(*steps))
    assert [(p.symbol, p.quantity, p.avg_cost) for p in run.positions] == [("AAPL", Decimal(100), Decimal("150.0"))]
    assert decide_from_log(run).action == "restart"
    steps.append(("diff_computed", 3, {"orders": [{"symbol": "AAPL", "action": "Buy", "shares": 50, "limit": 1.5}]}))
    run = state(seed(*steps))
    assert (run.planned_orders, run.orders) == (1, ())
    assert decide_from_log(run).action == "restart"  # planned, never written ahead: nothing can be in flight
    steps.append(("order_submitted", 4, {"symbol": "AAPL", "ibkr_id": 12345}))
    assert action(seed(*steps)) == "manual_review"
    steps.append(("order_filled", 5, {"ibkr_id": 12345, "status": "Filled", "filled": 50}))
    assert action(seed(*steps)) == "restart"


def test_completed_run_restarts() -> None:
    assert action(seed(("run_started", 1, {}), ("run_completed", 2, {}))) == "restart"


def test_intent_without_diff_creates_the_order_and_resumes() -> None:
    base = [("run_started", 1, {}), ("order_intent", 2, {"symbol": "AAPL", "action": "Buy", "shares": 5, "limit": 1.0,
                                                          "client_order_id": "cid-1"})]
    run = state(seed(*base))
    assert [(o.client_order_id, o.status, o.side, o.quantity) for o in run.orders] == [
        ("cid-1", "intent", "buy", Decimal(5))]
    assert decide_from_log(run).action == "resume"
    run = state(seed(*base, ("order_submitted", 3, {"symbol": "AAPL", "ibkr_id": 7})))
    assert [(o.client_order_id, o.status, o.order_id) for o in run.orders] == [("cid-1", "submitted", "7")]
    assert decide_from_log(run).action == "manual_review"
    run = state(seed(*base, ("order_failed", 3, {"symbol": "AAPL", "reason": "network_timeout"})))
    assert [(o.status, o.error) for o in run.orders] == [("failed", "network_timeout")]
    assert decide_from_log(run).action == "restart"


def test_failed_cancel_needs_review() -> None:
    data = seed(("run_started", 1, {}), ("cancel_intent", 2, {"order_id": 5}),
                ("cancel_result", 3, {"order_id": 5, "success": False, "error_message": "too late"}))
    decision = decide_from_log(state(data))
    assert decision.action == "manual_review"
    assert "failed" in decision.reasons[0]


def test_read_only_intents_never_block_a_restart() -> None:
    data = seed(("run_started", 1, {}), ("account_summary_intent", 2, {}), ("account_summary_result", 3, {}),
                ("account_summary_intent", 4, {}))
    run = state(data)
    assert run.open_reads == ("account_summary",)
    assert decide_from_log(run).action == "restart"


def test_only_the_last_diff_counts() -> None:
    one = {"orders": [{"symbol": "AAPL", "action": "Buy", "shares": 1, "limit": 1.0}]}
    two = {"orders": [{"symbol": "MSFT", "action": "Buy", "shares": 1, "limit": 1.0}] * 2}
    assert state(seed(("run_started", 1, {}), ("diff_computed", 2, one), ("diff_computed", 3, two))).planned_orders == 2


def test_sequence_problems_are_tolerated_by_reconstruction() -> None:
    data = seed(("run_started", 5, {}), ("positions_intent", 5, {}), ("positions_result", 2, {}))
    run = state(data)
    assert (run.last_event, run.last_seq) == ("positions_result", 2)
    assert decide_from_log(run).action == "restart"


def test_hundred_orders_full_run() -> None:
    events = [RUN]
    for n in range(100):
        coid = f"c-{n}"
        events += [intent(coid, f"S{n}"), submitted(coid, f"S{n}", f"V{n}"), filled(coid, f"S{n}", f"V{n}")]
    run = state(v1(*events, DONE))
    assert (len(run.orders), run.completed) == (100, True)
    assert decide_from_log(run).action == "restart"


def test_corrupt_middle_line_fails_and_torn_tail_is_noted(tmp_path: Path) -> None:
    path = tmp_path / "audit.jsonl"
    path.write_bytes(v1(RUN) + b"{oops\n" + v1(DONE, first_seq=3))
    with pytest.raises(AuditCorrupt):
        read_audit(path)
    decision = decide_from_log(state(v1(RUN, intent()) + b'{"schema_version":"1","run_id":"ru'))
    assert decision.action == "resume"
    assert decision.reasons[-1].startswith("line 3 is a torn write and was ignored")
    with pytest.raises(AuditError):
        read_audit(tmp_path / "missing.jsonl")


# ---- the W-A fixes --------------------------------------------------------------------------------------------


def test_state_resets_at_each_run_started() -> None:
    stale = v1(RUN, intent("old-1"), run_id="run-1")
    fresh = v1(RUN, intent("new-1"), submitted("new-1"), filled("new-1"), DONE, run_id="run-2", first_seq=3)
    run = state(stale + fresh)
    assert [o.client_order_id for o in run.orders] == ["new-1"]
    assert run.known_client_order_ids == {"old-1", "new-1"}
    assert decide_from_log(run).action == "restart"


def test_orders_link_by_client_id_so_a_symbol_can_appear_twice() -> None:
    data = v1(RUN, intent("close-1"), submitted("close-1", order_id="V1"), filled("close-1", order_id="V1"),
              intent("open-1"), submitted("open-1", order_id="V2"))
    run = state(data)
    assert [(o.client_order_id, o.status, o.order_id) for o in run.orders] == [
        ("close-1", "filled", "V1"), ("open-1", "submitted", "V2")]
    assert decide_from_log(run).action == "manual_review"


@pytest.mark.parametrize(
    ("error_type", "retryable", "expected"),
    [("rejected", False, "restart"), ("permanent", False, "restart"), ("failed", False, "restart"),
     ("failed", True, "resume"), ("ambiguous", True, "resume"), ("max_retries_exceeded", True, "resume")],
)
def test_order_failed_types(error_type: str, retryable: bool, expected: str) -> None:
    assert action(v1(RUN, intent(), failed(error_type, retryable))) == expected


def test_a_retry_after_an_ambiguous_failure_is_followed() -> None:
    data = v1(RUN, intent(), failed("ambiguous", True), {**intent(), "attempt": 2}, submitted(), filled())
    assert action(data) == "restart"


@pytest.mark.parametrize("outcome", ["filled", "cancelled", "rejected"])
def test_order_filled_outcomes_are_terminal_but_kept_apart(outcome: str) -> None:
    run = state(v1(RUN, intent(), submitted(), filled(state=outcome)))
    assert [o.status for o in run.orders] == [outcome]
    assert decide_from_log(run).action == "restart"


def test_a_confirmed_cancel_resolves_its_order() -> None:
    assert action(v1(RUN, intent(), submitted(), cancel(None), cancel(True, state="cancelled"))) == "restart"
    assert action(v1(RUN, intent(), submitted(), cancel(None))) == "manual_review"
    assert action(v1(RUN, intent(), submitted(), cancel(None), cancel(False))) == "manual_review"
    # The cancel lost the race to a fill: nothing is left working.
    assert action(v1(RUN, intent(), submitted(), cancel(None), cancel(False, state="filled"))) == "restart"


def test_kill_with_remaining_orders_needs_review() -> None:
    kill = {"event": "kill_completed", "method": "forced", "orders_cancelled_count": 1, "orders_remaining_count": 2}
    decision = decide_from_log(state(v1(RUN, kill)))
    assert decision.action == "manual_review"
    assert decision.reasons == ["kill (forced) left 2 order(s) working at the venue"]


def test_recovery_assessed_resolutions_settle_orders() -> None:
    assessed = {"event": "recovery_assessed", "action": "restart", "reasons": ["broker checked"],
                "resolved": [{"client_order_id": "c-1", "symbol": "AAPL", "outcome": "not_found"}]}
    crashed = v1(RUN, intent())
    assert action(crashed) == "resume"
    assert action(crashed + v1(assessed, run_id="recover-1", first_seq=3)) == "restart"
    working = {**assessed, "resolved": [{"client_order_id": "c-1", "symbol": "AAPL", "outcome": "submitted"}]}
    assert action(crashed + v1(working, run_id="recover-1", first_seq=3)) == "manual_review"


def test_v1_dry_run_never_resumes() -> None:
    assert action(v1({**RUN, "dry_run": True}, intent())) == "restart"


def test_replay_summary_shape(tmp_path: Path) -> None:
    summary = audit_replay_summary(parse_audit(v1(RUN, intent())))
    assert set(summary) == {"format", "runs", "events", "torn_tail", "validation", "state", "recovery"}
    assert summary["recovery"]["action"] == "resume"
    assert summary["state"]["orders"][0]["quantity"] == "5"
    assert summary["validation"]["ok"] is True
    assert json.loads(json.dumps(summary)) == summary


# ---- broker-aware decisions -----------------------------------------------------------------------------------


def order(coid: str, state: OrderState, symbol: str = "AAPL", order_id: str = "V1") -> BrokerOrder:
    return BrokerOrder(order_id=order_id, client_order_id=coid, symbol=symbol, side="buy", quantity=Decimal(5),
                       limit_price=Decimal("10.50"), filled_quantity=Decimal(0), avg_fill_price=None, state=state)


class FakeBroker:
    """Read-only fake: answers order lookups and open_orders; anything that could change state fails the test."""

    name = "fake"

    def __init__(self, orders: Sequence[BrokerOrder] = (), down: bool = False) -> None:
        self.orders = list(orders)
        self.down = down
        self.lookups: list[tuple[str | None, str | None]] = []

    def _check(self) -> None:
        if self.down:
            raise BrokerUnavailable("connection refused")

    def order(self, order_id: str | None = None, client_order_id: str | None = None, *,
              symbol: str | None = None) -> BrokerOrder | None:
        self._check()
        self.lookups.append((order_id, client_order_id))
        for o in self.orders:
            if (order_id is not None and o.order_id == order_id) or (
                    client_order_id is not None and o.client_order_id == client_order_id):
                return o
        return None

    def open_orders(self) -> list[BrokerOrder]:
        self._check()
        return [o for o in self.orders if not o.state.is_terminal]

    def place_limit(self, request: OrderRequest) -> BrokerOrder:
        raise AssertionError("recovery must never place orders")

    def cancel(self, order_id: str) -> BrokerOrder:
        raise AssertionError("recovery must never cancel by itself")

    def account(self) -> Account:
        raise NotImplementedError

    def positions(self) -> list[Position]:
        raise NotImplementedError

    def quotes(self, symbols: Sequence[str]) -> dict[str, Quote]:
        raise NotImplementedError

    def instruments(self, symbols: Sequence[str]) -> dict[str, Instrument]:
        raise NotImplementedError

    def fills(self, since: datetime | None = None) -> list[Fill]:
        raise NotImplementedError

    def close(self) -> None:
        return None


CRASHED = v1(RUN, intent())  # intent written, crash before the broker answered


def test_in_flight_intent_found_filled_restarts_and_records_the_resolution() -> None:
    broker = FakeBroker([order("c-1", OrderState.FILLED)])
    decision = decide_with_broker(state(CRASHED), broker)
    assert (decision.action, decision.broker_checked) == ("restart", True)
    assert [(r.client_order_id, r.outcome) for r in decision.resolved] == [("c-1", "filled")]
    assert broker.lookups == [(None, "c-1")]
    event = decision.to_event()
    assert isinstance(event, RecoveryAssessed)
    assert [r.outcome for r in event.resolved] == ["filled"]


def test_in_flight_intent_unknown_to_the_venue_is_safe_to_rerun() -> None:
    decision = decide_with_broker(state(CRASHED), FakeBroker())
    assert decision.action == "restart"
    assert [r.outcome for r in decision.resolved] == ["not_found"]


def test_working_order_is_resumed_or_rolled_back_on_request() -> None:
    broker = FakeBroker([order("c-1", OrderState.PARTIALLY_FILLED)])
    watch = decide_with_broker(state(CRASHED), broker)
    assert watch.action == "resume"
    assert [(i.client_order_id, i.step, i.broker_state) for i in watch.in_flight] == [
        ("c-1", "watch", "partially_filled")]
    cancel_it = decide_with_broker(state(CRASHED), broker, cancel_orphans=True)
    assert cancel_it.action == "rollback"
    assert [i.step for i in cancel_it.in_flight] == ["cancel"]


def test_broker_state_wins_over_a_log_only_manual_review() -> None:
    acknowledged = v1(RUN, intent(), submitted())
    assert action(acknowledged) == "manual_review"
    assert decide_with_broker(state(acknowledged), FakeBroker([order("c-1", OrderState.FILLED)])).action == "restart"
    missing = decide_with_broker(state(acknowledged), FakeBroker())
    assert missing.action == "manual_review"  # the venue acknowledged it once; now it does not know it
    assert "does not know it" in missing.reasons[0]


def test_orphans_of_earlier_runs_are_rolled_back() -> None:
    log = v1(RUN, intent("old-1"), submitted("old-1", order_id="V9"), run_id="run-1") + v1(
        RUN, intent(), submitted(), filled(), DONE, run_id="run-2", first_seq=4)
    broker = FakeBroker([order("old-1", OrderState.SUBMITTED, order_id="V9"),
                         order("someone-else", OrderState.SUBMITTED, order_id="X1"),
                         order("c-1", OrderState.FILLED)])
    decision = decide_with_broker(state(log), broker)
    assert decision.action == "rollback"
    assert [(i.client_order_id, i.log_status, i.step) for i in decision.in_flight] == [("old-1", "orphan", "cancel")]


def test_orphans_by_prefix() -> None:
    broker = FakeBroker([order("nb-x-1", OrderState.SUBMITTED)])
    completed = state(v1(RUN, DONE))
    assert decide_with_broker(completed, broker).action == "restart"
    assert decide_with_broker(completed, broker, client_order_id_prefix="nb-").action == "rollback"


def test_log_and_venue_disagreeing_needs_review() -> None:
    done = state(v1(RUN, intent(), submitted(), filled(), DONE))
    decision = decide_with_broker(done, FakeBroker([order("c-1", OrderState.SUBMITTED)]))
    assert decision.action == "manual_review"
    assert "the log says filled, the venue says submitted" in decision.reasons[0]


def test_symbol_mismatch_at_the_venue_needs_review() -> None:
    decision = decide_with_broker(state(CRASHED), FakeBroker([order("c-1", OrderState.FILLED, symbol="MSFT")]))
    assert decision.action == "manual_review"


def test_pending_cancel_of_a_working_order_rolls_back() -> None:
    log = v1(RUN, intent(), submitted(), cancel(None))
    decision = decide_with_broker(state(log), FakeBroker([order("c-1", OrderState.SUBMITTED)]))
    assert decision.action == "rollback"
    settled = decide_with_broker(state(log), FakeBroker([order("c-1", OrderState.CANCELLED)]))
    assert settled.action == "restart"


def test_unreachable_broker_with_in_flight_orders_is_manual_review_at_best() -> None:
    decision = decide_with_broker(state(CRASHED), FakeBroker(down=True))
    assert decision.action == "manual_review"
    assert decision.reasons[0].startswith("broker unreachable")
    calm = decide_with_broker(state(v1(RUN, DONE)), FakeBroker(down=True))
    assert calm.action == "restart"
    assert "broker unreachable" in calm.reasons[-1]


def test_seed_kill_leftovers_are_checked_by_venue_id() -> None:
    run = reconstruct(read_audit(FIXTURES / "phase2_partial_failure.jsonl"))
    still = FakeBroker([order("x", OrderState.SUBMITTED, order_id="11")])
    assert decide_with_broker(run, still).action == "rollback"
    gone = FakeBroker([order("x", OrderState.CANCELLED, order_id="11")])
    assert decide_with_broker(run, gone).action == "restart"


def test_recover_then_record_round_trip(tmp_path: Path) -> None:
    """The CLI's flow: decide with the broker, append recovery_assessed, and the log alone now says restart."""
    path = tmp_path / "audit.jsonl"
    path.write_bytes(CRASHED)
    decision = decide_with_broker(reconstruct(read_audit(path)), FakeBroker())
    with AuditWriter(path, "recover-1", lambda: datetime(2024, 1, 16, tzinfo=UTC), root=tmp_path) as audit:
        audit.append(decision.to_event())
    assert decide_from_log(reconstruct(read_audit(path))).action == "restart"


def test_a_later_restart_assessment_clears_kill_leftovers() -> None:
    kill = {"event": "kill_completed", "method": "none", "orders_cancelled_count": 0, "orders_remaining_count": 1}
    assessed = {"event": "recovery_assessed", "action": "restart", "reasons": ["broker: nothing working"]}
    killed = v1(RUN, DONE) + v1(kill, run_id="kill-1", first_seq=3)
    assert action(killed) == "manual_review"
    assert action(killed + v1(assessed, run_id="recover-1", first_seq=4)) == "restart"
