"""Typed audit events: one discriminated union, strict payloads, exact money, UTC timestamps."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone
from decimal import Decimal

import pytest
from pydantic import ValidationError

from audit.events import (
    EVENT_NAMES,
    EVENT_TYPES,
    OrderFailed,
    OrderFilled,
    OrderIntent,
    RunStarted,
    format_ts,
    parse_event,
    proves_not_submitted,
)
from tests.audit.samples import START, sample_events

SEED_VOCABULARY = {
    "run_started", "account_summary_intent", "account_summary_result", "positions_intent", "positions_result",
    "quotes_intent", "quotes_result", "diff_computed", "risk_check", "user_confirmed", "order_intent",
    "order_submitted", "order_failed", "order_filled", "cancel_intent", "cancel_result", "kill_requested",
    "kill_completed", "recovery_assessed", "idempotency_rejection", "cron_completed", "run_completed",
}


def _intent(**overrides: object) -> dict[str, object]:
    data: dict[str, object] = {"event": "order_intent", "client_order_id": "c-1", "symbol": "AAPL", "side": "buy",
                               "quantity": "5", "limit_price": "1.25"}
    return {**data, **overrides}


def test_vocabulary_keeps_the_seed_names_plus_the_repair_marker() -> None:
    assert SEED_VOCABULARY | {"torn_tail_repaired"} == EVENT_NAMES


def test_every_event_type_has_a_sample_and_round_trips_through_json() -> None:
    samples = sample_events()
    assert {type(e) for e in samples} == set(EVENT_TYPES.values())
    for event in samples:
        stamped = event.model_copy(update={"run_id": "r1", "seq": 7, "ts": START})
        line = stamped.model_dump_json()
        back = parse_event(json.loads(line))
        assert back == stamped
        assert type(back) is type(event)


def test_envelope_comes_first_and_is_complete() -> None:
    data = json.loads(OrderIntent.model_validate(_intent(run_id="r", seq=3, ts=START)).model_dump_json())
    assert list(data)[:5] == ["schema_version", "run_id", "seq", "ts", "event"]
    assert data["schema_version"] == "1"


def test_order_events_carry_client_order_id_and_symbol_at_top_level() -> None:
    for event in sample_events():
        name = event.model_dump()["event"]
        if name.startswith(("order_", "cancel_")):
            data = event.model_dump(mode="json")
            assert isinstance(data["client_order_id"], str)
            assert isinstance(data["symbol"], str)


def test_money_is_an_exact_json_string() -> None:
    event = parse_event(_intent(quantity="0.00000001", limit_price=Decimal("12345678901234567890.123456789")))
    data = json.loads(event.model_dump_json())
    assert data["quantity"] == "0.00000001"
    assert data["limit_price"] == "12345678901234567890.123456789"


@pytest.mark.parametrize("bad", [1.25, "NaN", "Infinity", "-1", "0", "abc"])
def test_limit_price_rejects_float_nonfinite_and_non_positive(bad: object) -> None:
    with pytest.raises(ValidationError):
        parse_event(_intent(limit_price=bad))


def test_unknown_keys_are_refused_so_nothing_unexpected_is_logged() -> None:
    with pytest.raises(ValidationError, match="api_secret"):
        parse_event(_intent(api_secret="hunter2"))


def test_unknown_event_and_wrong_schema_version_are_refused() -> None:
    with pytest.raises(ValidationError):
        parse_event({"event": "order_teleported"})
    with pytest.raises(ValidationError):
        parse_event(_intent(schema_version="2"))


@pytest.mark.parametrize("coid", ["", "has space", "x" * 33, "semi;colon"])
def test_client_order_id_shape_is_enforced(coid: str) -> None:
    with pytest.raises(ValidationError):
        parse_event(_intent(client_order_id=coid))


def test_order_filled_state_must_be_terminal() -> None:
    base = {"event": "order_filled", "client_order_id": "c-1", "symbol": "AAPL", "order_id": "1",
            "filled_quantity": "0"}
    for state in ("filled", "cancelled", "rejected"):
        assert isinstance(parse_event({**base, "state": state}), OrderFilled)
    with pytest.raises(ValidationError):
        parse_event({**base, "state": "partially_filled"})


def test_timestamps_are_utc_with_microseconds_and_z() -> None:
    eastern = timezone(timedelta(hours=-5))
    local = datetime(2024, 1, 15, 5, 0, 0, 120, tzinfo=eastern)
    assert format_ts(local) == "2024-01-15T10:00:00.000120Z"
    event = RunStarted(command="run", broker="sim", dry_run=True, ts=local)
    assert json.loads(event.model_dump_json())["ts"] == "2024-01-15T10:00:00.000120Z"
    assert event.ts.utcoffset() == timedelta(0)


def test_naive_timestamps_are_refused() -> None:
    with pytest.raises(ValidationError, match="timezone-aware"):
        RunStarted(command="run", broker="sim", dry_run=False, ts=datetime(2024, 1, 1))


def test_events_are_frozen() -> None:
    event = parse_event(_intent())
    with pytest.raises(ValidationError):
        event.symbol = "MSFT"  # type: ignore[misc]


@pytest.mark.parametrize(
    ("error_type", "retryable", "expected"),
    [("rejected", False, True), ("permanent", True, True), ("failed", False, True), ("failed", True, False),
     ("ambiguous", False, False), ("max_retries_exceeded", True, False)],
)
def test_which_failures_prove_non_submission(error_type: str, retryable: bool, expected: bool) -> None:
    assert proves_not_submitted(error_type, retryable) is expected
    event = OrderFailed(client_order_id="c-1", symbol="AAPL", error_type=error_type,  # type: ignore[arg-type]
                        error_message="x", retryable=retryable)
    assert event.error_type == error_type
