"""Log-only recovery decision on every seed audit fixture (spec §9.6, with the recommended fixes ✱)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from audit.reader import read_audit
from engine.rebalance.recovery import audit_replay_summary, decide_from_log, reconstruct
from tests.conftest import SHARED_DATA

FIXTURES = SHARED_DATA / "audit-fixtures"

MANUAL_REVIEW = {"cancel_intent_only", "phase2_partial_failure", "recovery_intent_resolved_success",
                 "recovery_mixed_intents"}
RESUME = {"crash_recovery", "intent_only", "phase1a_crash_recovery", "recovery_intent_only",
          "write_ahead_incomplete", "write_ahead_retry"}
FILES = sorted(FIXTURES.glob("*.jsonl"))


def expected(stem: str) -> str:
    if stem in MANUAL_REVIEW:
        return "manual_review"
    return "resume" if stem in RESUME else "restart"


def test_every_named_fixture_exists() -> None:
    stems = {path.stem for path in FILES}
    assert len(stems) == 31, f"expected the 31 seed fixtures under {FIXTURES}"
    assert stems >= MANUAL_REVIEW | RESUME


@pytest.mark.parametrize("path", FILES, ids=lambda p: p.stem)
def test_log_only_decision(path: Path) -> None:
    decision = decide_from_log(reconstruct(read_audit(path)))
    assert decision.action == expected(path.stem)
    assert decision.reasons, "every decision explains itself"
    if decision.action == "resume":
        assert all(item.step == "lookup" for item in decision.in_flight)
        assert decision.in_flight


@pytest.mark.parametrize("path", FILES, ids=lambda p: p.stem)
def test_replay_summary_is_json_and_agrees(path: Path) -> None:
    summary = audit_replay_summary(read_audit(path))
    assert json.loads(json.dumps(summary)) == summary
    assert summary["format"] == "seed"
    assert summary["recovery"]["action"] == expected(path.stem)
    assert summary["validation"]["ok"] is True
    assert summary["torn_tail"] is None
    assert summary["events"] == sum(1 for line in path.read_text().splitlines() if line.strip())


def test_crash_recovery_state() -> None:
    run = reconstruct(read_audit(FIXTURES / "crash_recovery.jsonl"))
    assert (run.last_event, run.last_seq, run.completed) == ("order_intent", 8, False)
    assert [(o.symbol, o.status, o.order_id) for o in run.orders] == [("AAPL", "filled", "54321"),
                                                                       ("MSFT", "intent", None)]
    assert run.orders[1].client_order_id == "scope-MSFT-sell-25"
    assert [(p.symbol, str(p.quantity), str(p.avg_cost)) for p in run.positions] == [("AAPL", "100", "150.0"),
                                                                                      ("MSFT", "50", "300.0")]
    assert str(run.equity) == "30000.0"


def test_mixed_format_keeps_only_the_last_run() -> None:
    run = reconstruct(read_audit(FIXTURES / "mixed_format.jsonl"))
    assert run.runs == 2
    assert [(o.symbol, o.status) for o in run.orders] == [("MSFT", "filled")]
    assert run.planned_orders == 1


def test_failures_link_by_client_id_or_by_following_their_intent() -> None:
    multiple = reconstruct(read_audit(FIXTURES / "multiple_orders.jsonl"))
    assert [(o.client_order_id, o.status) for o in multiple.orders] == [
        ("client-aapl-123", "filled"), ("client-msft-456", "filled"), ("client-googl-789", "failed")]
    failure = reconstruct(read_audit(FIXTURES / "intent_failure.jsonl"))
    assert [(o.symbol, o.status, o.error) for o in failure.orders] == [("AAPL", "failed", "ConnectionError")]
    retry = reconstruct(read_audit(FIXTURES / "write_ahead_retry.jsonl"))
    assert [(o.status, o.error) for o in retry.orders] == [("ambiguous", "max_retries_exceeded")]


def test_reconciler_outcomes_and_cancels() -> None:
    resolved = reconstruct(read_audit(FIXTURES / "recovery_intent_resolved_failure.jsonl")).orders
    assert [(o.status, o.error) for o in resolved] == [("failed", "not_found_at_broker")]
    submitted = reconstruct(read_audit(FIXTURES / "recovery_intent_resolved_success.jsonl")).orders
    assert [(o.status, o.order_id) for o in submitted] == [("submitted", "54321")]
    cancelled = reconstruct(read_audit(FIXTURES / "cancel_intent_success.jsonl")).orders
    assert [(o.status, o.cancel) for o in cancelled] == [("cancelled", "done")]
    pending = reconstruct(read_audit(FIXTURES / "cancel_intent_only.jsonl")).orders
    assert [(o.status, o.cancel) for o in pending] == [("submitted", "requested")]


def test_kill_outcomes() -> None:
    partial = reconstruct(read_audit(FIXTURES / "phase2_partial_failure.jsonl"))
    assert partial.kill is not None
    assert (partial.kill.method, partial.kill.remaining, partial.kill.remaining_order_ids) == ("forced", 1, ("11",))
    assert partial.run_id is None and partial.started_line is None
    clean = reconstruct(read_audit(FIXTURES / "phase1_timeout_phase2_success.jsonl"))
    assert clean.kill is not None and clean.kill.remaining == 0


def test_dry_run_intents_are_not_in_flight() -> None:
    run = reconstruct(read_audit(FIXTURES / "phase1a_dryrun_success.jsonl"))
    assert run.dry_run
    assert decide_from_log(run).reasons == ["the last run was a dry run: nothing was sent to the venue"]
