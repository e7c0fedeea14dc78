"""validate(): errors for broken write-ahead contracts, warnings for crash leftovers; seed rules of §7.6."""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from audit.events import (
    AuditEnvelope,
    OrderFilled,
    OrderIntent,
    OrderSubmitted,
    RunCompleted,
    RunStarted,
)
from audit.reader import parse_audit, read_audit
from audit.validator import ValidationIssue, is_valid, validate
from audit.writer import AuditWriter
from tests.audit.samples import AUDIT_FIXTURES, StepClock, sample_events

FIXTURE_FILES = sorted(AUDIT_FIXTURES.glob("*.jsonl"))


def _v1(*events: tuple[str, int, dict[str, Any]]) -> bytes:
    """Lines (run_id, seq, payload) with a fixed ts; no pydantic involved, so broken files are easy."""
    out = []
    for run_id, seq, payload in events:
        out.append(json.dumps({"schema_version": "1", "run_id": run_id, "seq": seq,
                               "ts": "2024-01-15T10:00:00.000000Z", **payload}))
    return ("\n".join(out) + "\n").encode()


def _codes(issues: list[ValidationIssue], severity: str = "error") -> list[tuple[int | None, str]]:
    return [(i.line, i.code) for i in issues if i.severity == severity]


RUN = {"event": "run_started", "command": "run", "broker": "sim", "dry_run": False}
INTENT = {"event": "order_intent", "client_order_id": "c-1", "symbol": "AAPL", "side": "buy", "quantity": "1",
          "limit_price": "10"}
SUBMITTED = {"event": "order_submitted", "client_order_id": "c-1", "symbol": "AAPL", "order_id": "9",
             "state": "submitted"}
FILLED = {"event": "order_filled", "client_order_id": "c-1", "symbol": "AAPL", "order_id": "9", "state": "filled",
          "filled_quantity": "1"}
DONE = {"event": "run_completed", "status": "ok", "submitted": 1, "filled": 1, "failed": 0}


@pytest.mark.parametrize("path", FIXTURE_FILES, ids=lambda p: p.stem)
def test_seed_fixtures_have_no_errors(path: Path) -> None:
    issues = validate(read_audit(path))
    assert is_valid(issues), issues


def test_complete_coverage_has_no_findings_at_all() -> None:
    assert validate(read_audit(AUDIT_FIXTURES / "complete_coverage.jsonl")) == []


def test_dangling_seed_intents_are_warnings() -> None:
    issues = validate(read_audit(AUDIT_FIXTURES / "cancel_intent_only.jsonl"))
    assert _codes(issues, "warning") == [(1, "incomplete_run"), (4, "dangling_intent")]


def test_a_full_v1_run_from_the_writer_validates_clean(tmp_path: Path) -> None:
    events: list[AuditEnvelope] = [
        RunStarted(command="run", broker="sim", dry_run=False),
        OrderIntent(client_order_id="c-1", symbol="AAPL", side="buy", quantity=Decimal(1), limit_price=Decimal(5)),
        OrderSubmitted(client_order_id="c-1", symbol="AAPL", order_id="9", state="submitted"),
        OrderFilled(client_order_id="c-1", symbol="AAPL", order_id="9", state="filled", filled_quantity=Decimal(1)),
        RunCompleted(status="ok", submitted=1, filled=1, failed=0),
    ]
    with AuditWriter("a.jsonl", "run-1", StepClock(), root=tmp_path) as audit:
        for event in events:
            audit.append(event)
    assert validate(read_audit(tmp_path / "a.jsonl")) == []


def test_the_sample_catalogue_is_schema_clean(tmp_path: Path) -> None:
    with AuditWriter("a.jsonl", "run-1", StepClock(), root=tmp_path) as audit:
        for event in sample_events():
            audit.append(event)
    issues = validate(read_audit(tmp_path / "a.jsonl"))
    assert not [i for i in issues if i.code == "schema"]


def test_sequence_must_strictly_increase() -> None:
    log = parse_audit(_v1(("r", 1, RUN), ("r", 3, {"event": "positions_intent"}), ("r", 3, DONE), ("r", 2, DONE)))
    assert ("seq_order" in {c for _, c in _codes(validate(log))})
    assert [line for line, code in _codes(validate(log)) if code == "seq_order"] == [3, 4]


def test_run_must_start_with_run_started() -> None:
    log = parse_audit(_v1(("r", 1, {"event": "positions_intent"}), ("r", 2, DONE)))
    assert (1, "run_start") in _codes(validate(log))


def test_recover_and_kill_sessions_may_open_without_run_started() -> None:
    assessed = {"event": "recovery_assessed", "action": "restart", "reasons": []}
    log = parse_audit(_v1(("r", 1, RUN), ("r", 2, DONE), ("k", 3, assessed)))
    assert _codes(validate(log)) == []


def test_order_lifecycle_violations() -> None:
    log = parse_audit(_v1(
        ("r", 1, RUN),
        ("r", 2, SUBMITTED),  # no intent
        ("r", 3, INTENT),  # intent after the order was submitted
        ("r", 4, SUBMITTED),  # submitted twice
        ("r", 5, {**FILLED, "order_id": "10"}),  # wrong venue id
        ("r", 6, {**FILLED, "client_order_id": "c-2"}),  # never submitted
        ("r", 7, {"event": "cancel_result", "client_order_id": "c-1", "symbol": "AAPL", "order_id": "9",
                  "success": True}),
        ("r", 8, {"event": "positions_result", "positions": []}),
        ("r", 9, DONE),
        ("r", 10, {"event": "positions_intent"}),
    ))
    assert _codes(validate(log)) == [
        (2, "result_without_intent"),
        (3, "intent_after_submit"),
        (4, "submitted_twice"),
        (5, "order_id_mismatch"),
        (6, "fill_without_submit"),
        (7, "result_without_intent"),
        (8, "result_without_intent"),
        (10, "after_completed"),
    ]


def test_interleaved_runs_are_an_error() -> None:
    log = parse_audit(_v1(("a", 1, RUN), ("b", 2, RUN), ("a", 3, DONE)))
    assert (3, "run_interleaved") in _codes(validate(log))


def test_crash_leftovers_are_warnings_only() -> None:
    log = parse_audit(_v1(("r", 1, RUN), ("r", 2, {"event": "quotes_intent", "symbols": ["AAPL"]}), ("r", 3, INTENT)))
    issues = validate(log)
    assert is_valid(issues)
    assert _codes(issues, "warning") == [(2, "dangling_intent"), (3, "dangling_intent")]


def test_a_retry_after_a_failure_is_a_new_attempt() -> None:
    failed = {"event": "order_failed", "client_order_id": "c-1", "symbol": "AAPL", "error_type": "ambiguous",
              "error_message": "timeout", "retryable": True}
    log = parse_audit(_v1(("r", 1, RUN), ("r", 2, INTENT), ("r", 3, failed), ("r", 4, {**INTENT, "attempt": 2}),
                          ("r", 5, SUBMITTED), ("r", 6, FILLED), ("r", 7, DONE)))
    assert validate(log) == []


def test_a_resumed_order_may_finish_in_a_later_run() -> None:
    log = parse_audit(_v1(("a", 1, RUN), ("a", 2, INTENT), ("a", 3, SUBMITTED), ("b", 4, RUN), ("b", 5, FILLED),
                          ("b", 6, DONE)))
    assert _codes(validate(log)) == []


def test_schema_errors_are_reported_with_their_line_and_can_be_skipped() -> None:
    log = parse_audit(_v1(("r", 1, RUN), ("r", 2, {**INTENT, "limit_price": 10.5})))
    assert (2, "schema") in _codes(validate(log))
    assert (2, "schema") not in _codes(validate(log, schema=False))


def test_torn_tail_is_a_warning() -> None:
    log = parse_audit(_v1(("r", 1, RUN)) + b'{"schema_version":"1","ru')
    assert _codes(validate(log), "warning") == [(2, "torn_tail")]


# ---- the seed's §7.6 inline cases (W-A5: positions_fetched satisfies the positions rule) --------------------


def _seed(*events: tuple[str, int | None, dict[str, Any]]) -> bytes:
    lines = []
    for name, seq, payload in events:
        line: dict[str, Any] = {"event": name, "ts": "2024-01-15T10:00:00Z", "checkpoint": name.title()}
        if seq is not None:
            line["sequence_number"] = seq
        lines.append(json.dumps({**line, **payload}))
    return "\n".join(lines).encode()


ORDERS = {"orders": [{"symbol": "AAPL", "action": "Buy", "shares": 1, "limit": 1.0}]}


def test_seed_positions_fetched_satisfies_the_positions_rule() -> None:
    log = parse_audit(_seed(("run_started", 1, {}), ("positions_fetched", 2, {"positions": []}),
                            ("diff_computed", 3, ORDERS), ("risk_check_passed", 4, {}),
                            ("order_intent", 5, {"symbol": "AAPL"})))
    assert _codes(validate(log)) == []


def test_seed_diff_without_positions_is_an_error() -> None:
    log = parse_audit(_seed(("run_started", 1, {}), ("diff_computed", 2, ORDERS)))
    assert (2, "positions_missing") in _codes(validate(log))


def test_seed_orders_without_a_passed_risk_check_are_an_error() -> None:
    log = parse_audit(_seed(("run_started", 1, {}), ("positions_fetched", 2, {}), ("diff_computed", 3, ORDERS),
                            ("order_intent", 4, {"symbol": "AAPL"})))
    assert (3, "risk_missing") in _codes(validate(log))


def test_seed_sequence_going_back_or_missing_is_an_error() -> None:
    back = parse_audit(_seed(("run_started", 1, {}), ("positions_fetched", 2, {}), ("diff_computed", 1, ORDERS)))
    assert (3, "seq_order") in _codes(validate(back))
    missing = parse_audit(_seed(("run_started", 1, {}), ("positions_fetched", None, {})))
    assert (2, "seq_missing") in _codes(validate(missing))


def test_seed_empty_diff_completed_run_passes() -> None:
    log = parse_audit(_seed(
        ("run_started", 1, {}), ("account_summary_intent", 2, {}), ("account_summary_result", 3, {}),
        ("positions_intent", 4, {}), ("positions_result", 5, {"positions": []}), ("quotes_intent", 6, {}),
        ("quotes_result", 7, {}), ("diff_computed", 8, {"orders": []}), ("run_completed", 9, {}),
    ))
    assert validate(log) == []
