"""engine.rebalance.pidfile: only a live nanobook run that started no later than its PID file counts as running."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from engine.rebalance.pidfile import PID_FILE, check_pid_file


def _write(root: Path, body: object) -> None:
    path = root / PID_FILE
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(body if isinstance(body, str) else json.dumps(body), encoding="utf-8")


def _sleeper(*extra: str) -> subprocess.Popen[bytes]:
    """A sleeping child, returned once it has exec'd (so its command line is its own)."""
    proc = subprocess.Popen([sys.executable, "-c", "import sys, time; print(flush=True); time.sleep(60)", *extra],
                            stdout=subprocess.PIPE)
    assert proc.stdout is not None and proc.stdout.readline() == b"\n"
    return proc


@pytest.fixture
def lookalike() -> Iterator[subprocess.Popen[bytes]]:
    """A live process whose command line says nanobook (it only sleeps)."""
    proc = _sleeper("nanobook", "run")
    yield proc
    proc.kill()
    proc.wait()


@pytest.fixture
def stranger() -> Iterator[subprocess.Popen[bytes]]:
    proc = _sleeper()
    yield proc
    proc.kill()
    proc.wait()


def test_no_file_is_no_run_and_nothing_to_clean(tmp_path: Path) -> None:
    found = check_pid_file(tmp_path)
    assert (found.running, found.stale, found.pid) == (False, False, None)


@pytest.mark.parametrize("body", ["not json", "[1, 2]", {"pid": -1}, {"pid": 0}, {"pid": 1}, {"pid": "123"},
                                  {"pid": True}, {"pid": 12.0}, {"run_id": "x"}])
def test_invalid_pids_are_never_a_run(tmp_path: Path, body: object) -> None:
    """-1 and 0 would signal every process / the whole group, 1 is init: none of them may reach os.kill."""
    _write(tmp_path, body)
    found = check_pid_file(tmp_path)
    assert not found.running and found.stale and found.pid is None


def test_our_own_pid_is_not_a_run(tmp_path: Path) -> None:
    _write(tmp_path, {"pid": os.getpid(), "started_at": datetime.now(UTC).isoformat()})
    assert not check_pid_file(tmp_path).running


def test_a_gone_process_is_a_stale_file(tmp_path: Path) -> None:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    _write(tmp_path, {"pid": proc.pid, "run_id": "r1"})
    found = check_pid_file(tmp_path)
    assert not found.running and found.stale and "gone" in found.reason


def test_a_live_process_that_is_not_nanobook_is_a_reused_pid(tmp_path: Path,
                                                             stranger: subprocess.Popen[bytes]) -> None:
    _write(tmp_path, {"pid": stranger.pid, "run_id": "r1", "started_at": datetime.now(UTC).isoformat()})
    found = check_pid_file(tmp_path)
    assert not found.running and found.stale and "not a nanobook run" in found.reason


def test_a_live_nanobook_process_is_the_run(tmp_path: Path, lookalike: subprocess.Popen[bytes]) -> None:
    _write(tmp_path, {"pid": lookalike.pid, "run_id": "r1", "started_at": datetime.now(UTC).isoformat()})
    found = check_pid_file(tmp_path)
    assert found.running and not found.stale and (found.pid, found.run_id) == (lookalike.pid, "r1")


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="process start times come from /proc")
def test_a_nanobook_process_younger_than_the_run_is_a_reused_pid(tmp_path: Path,
                                                                 lookalike: subprocess.Popen[bytes]) -> None:
    """The run wrote its file an hour ago; a process that started just now cannot be it, whatever its name."""
    long_ago = datetime.now(UTC) - timedelta(hours=1)
    _write(tmp_path, {"pid": lookalike.pid, "run_id": "r1", "started_at": long_ago.isoformat()})
    found = check_pid_file(tmp_path)
    assert not found.running and found.stale and "reused" in found.reason
