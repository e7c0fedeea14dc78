"""Tolerant reader: seed fixtures in place, v1 lines, torn tails reported, corrupt middle lines refused."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from audit.errors import AuditCorrupt, AuditError
from audit.events import OrderIntent
from audit.reader import AuditLog, LogIndex, parse_audit, read_audit
from audit.writer import AuditWriter
from engine.rebalance.recovery import decide_from_log, reconstruct
from tests.audit.samples import AUDIT_FIXTURES, StepClock, sample_events
from tests.audit.synthetic import synthetic_bytes

FIXTURE_FILES = sorted(AUDIT_FIXTURES.glob("*.jsonl"))
V1 = '{"schema_version":"1","run_id":"r","seq":%d,"ts":"2024-01-15T10:00:00.000000Z","event":"positions_intent"}'


def test_fixture_directory_is_there() -> None:
    assert len(FIXTURE_FILES) >= 31, f"seed audit fixtures not found under {AUDIT_FIXTURES}"


@pytest.mark.parametrize("path", FIXTURE_FILES, ids=lambda p: p.stem)
def test_every_seed_fixture_reads_completely(path: Path) -> None:
    log = read_audit(path)
    lines = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    assert log.torn_tail is None
    assert log.format == "seed"
    assert [r.name for r in log.records] == [line["event"] for line in lines]
    assert [r.seq for r in log.records] == [line.get("sequence_number") for line in lines]
    assert all(r.event is None and r.run_id is None for r in log.records)  # typed models are for v1 lines


def test_seed_normalisation_recovers_ids_from_ibkr_id_and_context() -> None:
    log = read_audit(AUDIT_FIXTURES / "write_ahead_failure.jsonl")
    failed = log.records[-1]
    assert failed.name == "order_failed"
    assert "symbol" not in failed.raw  # W-A1 in the seed: the failure names no symbol ...
    assert (failed.symbol, failed.client_order_id) == ("BAD", "scope-BAD-buy-50")  # ... its context does
    submitted = read_audit(AUDIT_FIXTURES / "intent_success.jsonl").records[5]
    assert (submitted.name, submitted.order_id, submitted.view["side"]) == ("order_submitted", "12345", "buy")
    cancel = read_audit(AUDIT_FIXTURES / "cancel_intent_success.jsonl").records[-1]
    assert (cancel.name, cancel.order_id) == ("cancel_result", "12345")


def test_mixed_generations_and_index() -> None:
    # mixed_format.jsonl has no final newline (the writer would add one first, as here)
    data = (AUDIT_FIXTURES / "mixed_format.jsonl").read_bytes() + ("\n" + V1 % 14 + "\n").encode()
    log = parse_audit(data)
    assert log.format == "mixed"
    assert log.max_seq == 14
    assert log.index.run_starts == (0, 6)
    assert log.index.client_order_ids == {"client-456"}
    assert log.index == LogIndex.build(log.records)


def test_v1_records_give_typed_events_lazily(tmp_path: Path) -> None:
    with AuditWriter("a.jsonl", "run-1", StepClock(), root=tmp_path) as audit:
        for event in sample_events():
            audit.append(event)
    log = read_audit(tmp_path / "a.jsonl")
    assert log.format == "v1"
    assert [type(r.event) for r in log.records] == [type(e) for e in sample_events()]
    intent = log.records[10]
    assert isinstance(intent.event, OrderIntent)
    assert (intent.client_order_id, intent.symbol, intent.seq, intent.run_id) == ("nb-AAPL-b-1", "AAPL", 11, "run-1")


def test_schema_invalid_v1_line_raises_on_typed_access_only() -> None:
    line = V1.replace('"positions_intent"', '"order_intent","symbol":"AAPL"') % 1
    log = parse_audit((line + "\n").encode())
    assert log.records[0].name == "order_intent"
    with pytest.raises(AuditCorrupt, match="client_order_id"):
        _ = log.records[0].event


def test_torn_last_line_is_reported_not_fatal() -> None:
    data = "\n".join([V1 % 1, V1 % 2, (V1 % 3)[:40]]).encode()
    log = parse_audit(data)
    assert [r.seq for r in log.records] == [1, 2]
    assert log.torn_tail is not None
    assert log.torn_tail.line == 3
    assert "invalid JSON" in log.torn_tail.reason
    assert log.torn_tail.text == (V1 % 3)[:40]


def test_torn_multibyte_character_at_the_end_is_a_torn_tail() -> None:
    data = (V1 % 1 + "\n").encode() + '{"event":"x","note":"€'.encode()[:-1]
    log = parse_audit(data)
    assert len(log.records) == 1
    assert log.torn_tail is not None and log.torn_tail.line == 2


def test_invalid_but_complete_last_line_is_also_a_torn_tail() -> None:
    log = parse_audit(f"{V1 % 1}\n[1, 2]\n\n".encode())
    assert log.torn_tail is not None
    assert (log.torn_tail.line, log.torn_tail.reason) == (2, "not a JSON object")


@pytest.mark.parametrize(
    ("bad", "reason"),
    [
        ("garbage", "invalid JSON"),
        ('{"schema_version":"2","run_id":"r","seq":1,"ts":"t","event":"x"}', "unsupported schema_version"),
        ('{"schema_version":"1","run_id":"r","seq":"1","ts":"t","event":"x"}', "'seq'"),
        ('{"event":"run_started","ts":"yesterday"}', "RFC3339"),
        ('{"event":"run_started","ts":"2024-01-15T10:00:00Z","sequence_number":-1}', "non-negative"),
        ('{"ts":"2024-01-15T10:00:00Z"}', "event"),
        ('{"event":"run_started",', "invalid JSON"),  # would parse together with the next line; must not
        ("[" * 100_000, "nested too deeply"),
        ('{"n":' + "9" * 5000 + "}", "invalid JSON"),
    ],
)
def test_corrupt_middle_line_raises_with_its_line_number(tmp_path: Path, bad: str, reason: str) -> None:
    path = tmp_path / "audit.jsonl"
    path.write_text("\n".join([V1 % 1, bad, ' "ts":"2024-01-15T10:00:00Z"}', V1 % 3]) + "\n")
    with pytest.raises(AuditCorrupt, match=reason) as caught:
        read_audit(path)
    assert caught.value.line == 2
    assert str(path) in str(caught.value)


def test_blank_lines_crlf_and_leading_spaces_are_tolerated() -> None:
    data = f"\n{V1 % 1}\r\n   \n  {V1 % 2}\n\n".encode()
    log = parse_audit(data)
    assert [(r.line, r.seq) for r in log.records] == [(2, 1), (4, 2)]
    assert log.torn_tail is None


def test_acknowledged_torn_line_is_skipped_only_with_a_matching_marker() -> None:
    marker = V1.replace('"positions_intent"', '"torn_tail_repaired","line":2,"reason":"x"') % 3
    log = parse_audit("\n".join([V1 % 1, "{torn", marker, V1 % 4]).encode())
    assert [t.line for t in log.repaired] == [2]
    wrong = marker.replace('"line":2', '"line":7')
    with pytest.raises(AuditCorrupt):
        parse_audit("\n".join([V1 % 1, "{torn", wrong, V1 % 4]).encode())


def test_missing_file_is_an_audit_error(tmp_path: Path) -> None:
    with pytest.raises(AuditError, match="does not exist"):
        read_audit(tmp_path / "nope.jsonl")
    with pytest.raises(AuditError, match="directory"):
        read_audit(tmp_path)


def test_empty_file() -> None:
    log = parse_audit(b"")
    assert (log.format, log.max_seq, len(log), log.torn_tail) == ("empty", 0, 0, None)


def test_hand_built_logs_compute_their_index() -> None:
    parsed = read_audit(AUDIT_FIXTURES / "crash_recovery.jsonl")
    log = AuditLog(records=parsed.records[:3], torn_tail=None, path=None)
    assert log.index.run_starts == (0,)
    assert log.max_seq == 3


def test_large_synthetic_log_reads_correctly() -> None:
    """Size test, deliberately not timed (speed is measured separately; see docs/audit-schema.md)."""
    n = 50_000
    data = synthetic_bytes(n)
    log = parse_audit(data)
    per_run = 41
    assert len(log.records) == n
    assert log.torn_tail is None
    assert log.max_seq == n
    assert len(log.index.run_starts) == -(-n // per_run)
    assert [r.seq for r in log.records[:3]] == [1, 2, 3]
    assert log.records[-1].line == n
    decision = decide_from_log(reconstruct(log))
    # 50_000 = 1219 full runs + 21 lines: the last run is cut just after an order_submitted.
    assert decision.action == "manual_review"
    assert [o.status for o in reconstruct(log).orders] == ["filled"] * 3 + ["submitted"]
