"""AuditWriter: confinement, 0o600, single-writer lock, fsync per line, seq continuity, torn-tail repair."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
import textwrap
from datetime import datetime
from decimal import Decimal
from pathlib import Path

import pytest

from audit.errors import AuditCorrupt, AuditError, AuditLocked
from audit.events import OrderIntent, RunStarted
from audit.reader import read_audit
from audit.writer import AuditWriter, confine
from tests.audit.samples import StepClock, sample_events

REPO = Path(__file__).resolve().parents[2]


def _writer(root: Path, run_id: str = "run-1", path: str = "logs/audit.jsonl") -> AuditWriter:
    return AuditWriter(path, run_id, StepClock(), root=root)


def _started() -> RunStarted:
    return RunStarted(command="run", broker="sim", dry_run=False)


def _lines(path: Path) -> list[dict[str, object]]:
    return [json.loads(line) for line in path.read_text().splitlines() if line]


# ---- creation and permissions ---------------------------------------------------------------------------------


def test_creates_parents_and_a_0600_file_whose_lines_are_the_returned_dicts(tmp_path: Path) -> None:
    with _writer(tmp_path) as audit:
        first = audit.append(_started())
        second = audit.append({"event": "positions_intent"})
    path = tmp_path / "logs" / "audit.jsonl"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert _lines(path) == [first, second]
    assert [first["seq"], second["seq"]] == [1, 2]
    assert first["run_id"] == "run-1"
    assert first["ts"] == "2024-01-15T10:00:01.000001Z"
    assert path.read_text().count("\n") == 2
    assert " " not in path.read_text().splitlines()[1]  # compact separators


def test_existing_file_keeps_its_mode(tmp_path: Path) -> None:
    path = tmp_path / "audit.jsonl"
    path.write_text("")
    path.chmod(0o640)
    with _writer(tmp_path, path="audit.jsonl") as audit:
        audit.append(_started())
    assert stat.S_IMODE(path.stat().st_mode) == 0o640


def test_same_events_and_clock_give_the_same_bytes(tmp_path: Path) -> None:
    outputs = []
    for name in ("a", "b"):
        with AuditWriter(f"{name}.jsonl", "run-x", StepClock(), root=tmp_path) as audit:
            for event in sample_events():
                audit.append(event)
        outputs.append((tmp_path / f"{name}.jsonl").read_bytes())
    assert outputs[0] == outputs[1]


# ---- confinement (W-A7) ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "path",
    [
        "../outside.jsonl",
        "logs/../../outside.jsonl",
        "not/yet/there/../../../../outside/audit.jsonl",  # `..` inside a suffix that does not exist yet
        "/etc/nanobook-audit.jsonl",
        ".",
        "",
    ],
)
def test_paths_outside_the_root_are_refused(tmp_path: Path, path: str) -> None:
    root = tmp_path / "work"
    root.mkdir()
    with pytest.raises(AuditError, match="outside the working directory"):
        confine(path, root)
    assert not (tmp_path / "outside.jsonl").exists()
    assert not (tmp_path / "outside").exists()


def test_dotdot_that_stays_inside_is_normalised(tmp_path: Path) -> None:
    assert confine("logs/new/../audit.jsonl", tmp_path) == tmp_path.resolve() / "logs" / "audit.jsonl"


def test_symlinked_directory_escaping_the_root_is_refused(tmp_path: Path) -> None:
    root, outside = tmp_path / "work", tmp_path / "elsewhere"
    root.mkdir()
    outside.mkdir()
    (root / "logs").symlink_to(outside, target_is_directory=True)
    with pytest.raises(AuditError, match="outside the working directory"):
        AuditWriter("logs/audit.jsonl", "r", StepClock(), root=root).open()
    assert list(outside.iterdir()) == []


def test_symlinked_file_escaping_the_root_is_refused(tmp_path: Path) -> None:
    root = tmp_path / "work"
    root.mkdir()
    (tmp_path / "target.jsonl").write_text("")
    (root / "audit.jsonl").symlink_to(tmp_path / "target.jsonl")
    with pytest.raises(AuditError, match="outside the working directory"):
        confine("audit.jsonl", root)


def test_symlink_inside_the_root_is_followed(tmp_path: Path) -> None:
    (tmp_path / "real").mkdir()
    (tmp_path / "logs").symlink_to(tmp_path / "real", target_is_directory=True)
    with _writer(tmp_path) as audit:
        audit.append(_started())
    assert (tmp_path / "real" / "audit.jsonl").exists()


def test_root_defaults_to_the_working_directory(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    with AuditWriter("logs/audit.jsonl", "r", StepClock()) as audit:
        audit.append(_started())
    assert (tmp_path / "logs" / "audit.jsonl").exists()
    with pytest.raises(AuditError, match="outside"):
        AuditWriter("../x.jsonl", "r", StepClock()).open()


# ---- single-writer lock ---------------------------------------------------------------------------------------


def test_lock_held_by_a_second_process_raises_audit_locked_with_its_pid(tmp_path: Path) -> None:
    holder = textwrap.dedent(f"""
        import sys
        from pathlib import Path
        from datetime import datetime, UTC
        from audit.writer import AuditWriter
        with AuditWriter("logs/audit.jsonl", "holder", lambda: datetime.now(UTC), root=Path({str(tmp_path)!r})):
            print("locked", flush=True)
            sys.stdin.readline()
    """)
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    proc = subprocess.Popen([sys.executable, "-c", holder], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            text=True, env=env, cwd=REPO)
    try:
        assert proc.stdout is not None and proc.stdout.readline().strip() == "locked"
        with pytest.raises(AuditLocked) as caught:
            _writer(tmp_path).open()
        message = str(caught.value)
        assert message == (f"audit log {tmp_path.resolve() / 'logs' / 'audit.jsonl'} is locked by another nanobook "
                           f"process (pid {proc.pid})")
    finally:
        assert proc.stdin is not None
        proc.stdin.write("\n")
        proc.stdin.close()
        proc.wait(timeout=30)
    with _writer(tmp_path) as audit:  # released when the holder exits
        audit.append(_started())


def test_lock_is_exclusive_within_one_process_too_and_released_on_close(tmp_path: Path) -> None:
    first = _writer(tmp_path)
    first.open()
    with pytest.raises(AuditLocked, match=f"pid {os.getpid()}"):
        _writer(tmp_path, "run-2").open()
    first.close()
    with _writer(tmp_path, "run-2") as audit:
        audit.append(_started())


# ---- durability -----------------------------------------------------------------------------------------------


def test_every_line_is_fsynced_before_append_returns(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[int] = []
    real = os.fsync

    def counting(fd: int) -> None:
        calls.append(fd)
        real(fd)

    monkeypatch.setattr(os, "fsync", counting)
    with _writer(tmp_path) as audit:
        opened = len(calls)
        for n, event in enumerate(sample_events(), start=1):
            audit.append(event)
            assert len(calls) == opened + n  # intents and results alike, one fsync per line
    assert len(calls) >= len(sample_events())


# ---- sequence numbers -----------------------------------------------------------------------------------------


def test_seq_continues_across_writers(tmp_path: Path) -> None:
    with _writer(tmp_path, "run-1") as audit:
        for _ in range(3):
            audit.append({"event": "positions_intent"})
    with _writer(tmp_path, "run-2") as audit:
        assert audit.seq == 3
        assert audit.append(_started())["seq"] == 4
    assert [line["seq"] for line in _lines(tmp_path / "logs" / "audit.jsonl")] == [1, 2, 3, 4]


def test_seq_continues_above_the_seed_sequence_numbers(tmp_path: Path) -> None:
    path = tmp_path / "audit.jsonl"
    path.write_text(
        '{"event":"run_started","ts":"2024-01-15T10:00:00Z","sequence_number":1705312800,"checkpoint":"RunStarted"}\n'
        '{"event":"kill_requested","ts":"2024-01-15T10:00:01Z","method":"graceful","trigger_source":"command"}\n'
    )
    with _writer(tmp_path, path="audit.jsonl") as audit:
        assert audit.append(_started())["seq"] == 1705312801


# ---- torn tails -----------------------------------------------------------------------------------------------


def test_torn_last_line_is_terminated_and_acknowledged_never_glued(tmp_path: Path) -> None:
    path = tmp_path / "logs" / "audit.jsonl"
    with _writer(tmp_path) as audit:
        audit.append(_started())
        audit.append(OrderIntent(client_order_id="c-1", symbol="AAPL", side="buy", quantity=Decimal(1),
                                 limit_price=Decimal(2)))
    torn = '{"schema_version":"1","run_id":"run-1","seq":3,"ts":"2024-01-15T10:0'
    with path.open("a") as handle:
        handle.write(torn)
    assert read_audit(path).torn_tail is not None
    with _writer(tmp_path, "run-2") as audit:
        audit.append(_started())
    text = path.read_text().splitlines()
    assert text[2] == torn  # kept verbatim on its own line
    repair = json.loads(text[3])
    assert repair["event"] == "torn_tail_repaired"
    assert repair["line"] == 3
    assert repair["run_id"] == "run-2"
    log = read_audit(path)
    assert log.torn_tail is None
    assert [t.line for t in log.repaired] == [3]
    assert [r.name for r in log.records] == ["run_started", "order_intent", "torn_tail_repaired", "run_started"]


def test_complete_last_line_without_newline_only_gets_a_newline(tmp_path: Path) -> None:
    path = tmp_path / "logs" / "audit.jsonl"
    with _writer(tmp_path) as audit:
        audit.append(_started())
    path.write_bytes(path.read_bytes().rstrip(b"\n"))
    with _writer(tmp_path, "run-2") as audit:
        audit.append(_started())
    assert [line["event"] for line in _lines(path)] == ["run_started", "run_started"]


def test_corrupt_middle_line_fails_closed_and_releases_the_lock(tmp_path: Path) -> None:
    path = tmp_path / "logs" / "audit.jsonl"
    with _writer(tmp_path) as audit:
        audit.append(_started())
    with path.open("a") as handle:
        handle.write('garbage\n{"event":"kill_requested","ts":"2024-01-15T10:00:00Z"}\n')
    for _ in range(2):  # the second attempt sees AuditCorrupt again, not a lock left behind
        with pytest.raises(AuditCorrupt) as caught:
            _writer(tmp_path, "run-2").open()
        assert caught.value.line == 2
    assert path.read_text().count("\n") == 3  # nothing appended


# ---- misuse ---------------------------------------------------------------------------------------------------


def test_append_after_close_is_refused(tmp_path: Path) -> None:
    audit = _writer(tmp_path)
    with audit:
        audit.append(_started())
    with pytest.raises(AuditError, match="closed"):
        audit.append(_started())


def test_envelope_keys_in_a_payload_are_refused(tmp_path: Path) -> None:
    with _writer(tmp_path) as audit, pytest.raises(AuditError, match="set by the writer"):
        audit.append({"event": "positions_intent", "seq": 99})


def test_invalid_payload_names_the_event_and_field(tmp_path: Path) -> None:
    with _writer(tmp_path) as audit, pytest.raises(AuditError, match=r"'order_intent'.*limit_price"):
        audit.append({"event": "order_intent", "client_order_id": "c", "symbol": "A", "side": "buy",
                      "quantity": "1", "limit_price": 1.5})


def test_naive_clock_is_refused(tmp_path: Path) -> None:
    with AuditWriter("a.jsonl", "r", lambda: datetime(2024, 1, 1), root=tmp_path) as audit:
        with pytest.raises(AuditError, match="naive"):
            audit.append(_started())
