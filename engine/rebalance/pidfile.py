"""The running-run PID file (`.nanobook/run.pid`): read it and decide whether the process it names is our run.

A PID file outlives a run killed with -9 and its PID may be reused by anything, so a PID counts only when it is a
positive process id other than init and ourselves, the process is alive, its command line is a nanobook one and it
did not start after the run did. Never signals anything: `kill` and `status` act on the answer.
"""

from __future__ import annotations

import json
import os
import subprocess
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

__all__ = ["PID_FILE", "PidCheck", "check_pid_file"]

PID_FILE = Path(".nanobook") / "run.pid"
# The PID file is written a moment after the process starts (imports, config); a process that started later
# than this after the recorded start cannot be the run that wrote it.
_START_SLACK_S = 5.0


@dataclass(frozen=True, slots=True)
class PidCheck:
    """What the PID file says: `running` is True only for a live nanobook run we may signal."""

    running: bool
    pid: int | None
    run_id: str | None
    reason: str               # why not running (or "running"), for people
    stale: bool = False       # the file names no live nanobook run: safe to delete


def check_pid_file(root: Path) -> PidCheck:
    """Read `root/.nanobook/run.pid` and check the process it names (see the module docstring)."""
    try:
        info: Any = json.loads((root / PID_FILE).read_text(encoding="utf-8"))
    except FileNotFoundError:
        return PidCheck(False, None, None, "no run in progress (no PID file)")
    except (OSError, ValueError) as exc:
        return PidCheck(False, None, None, f"unreadable PID file ({exc}); not signalling anything", stale=True)
    pid = info.get("pid") if isinstance(info, dict) else None
    run_id = info.get("run_id") if isinstance(info, dict) and isinstance(info.get("run_id"), str) else None
    if type(pid) is not int or pid <= 1 or pid == os.getpid():
        return PidCheck(False, None, run_id, f"PID file names no valid run process ({pid!r}); not signalling it",
                        stale=True)
    return _check_process(pid, run_id, info.get("started_at"))


def _check_process(pid: int, run_id: str | None, started_at: object) -> PidCheck:
    if not _exists(pid):
        return PidCheck(False, pid, run_id, f"stale PID file (process {pid} is gone)", stale=True)
    command = _command_line(pid)
    if command is not None and "nanobook" not in command:
        return PidCheck(False, pid, run_id, f"stale PID file (process {pid} is now {command[:60]!r}, not a "
                                            f"nanobook run)", stale=True)
    began = _process_start(pid)
    recorded = _parse_time(started_at)
    if began is not None and recorded is not None and began > recorded + _START_SLACK_S:
        return PidCheck(False, pid, run_id, f"stale PID file (process {pid} started after the run did: the PID "
                                            f"was reused)", stale=True)
    if command is None:
        return PidCheck(False, pid, run_id, f"cannot tell what process {pid} is; not signalling it")
    return PidCheck(True, pid, run_id, "running")


def _exists(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # someone else's process: alive, and the command-line check decides
    return True


def _command_line(pid: int) -> str | None:
    """The process's command line, or None when it cannot be read."""
    try:
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
        # Empty for a zombie, a kernel thread or a process still being exec'd: nothing to judge by.
        return raw.replace(b"\0", b" ").decode("utf-8", "replace").strip() or None
    except FileNotFoundError:
        pass
    except OSError:
        return None
    try:  # no /proc (macOS, BSD): ask ps
        done = subprocess.run(["ps", "-o", "command=", "-p", str(pid)], capture_output=True, text=True, timeout=5,
                              check=False)
    except (OSError, subprocess.SubprocessError):
        return None
    return done.stdout.strip() or None


def _process_start(pid: int) -> float | None:
    """Start time (epoch seconds) from /proc, or None where there is no /proc."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
        boot = next(line for line in Path("/proc/stat").read_text().splitlines() if line.startswith("btime "))
        ticks = int(stat.rsplit(")", 1)[-1].split()[19])
        return int(boot.split()[1]) + ticks / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError, StopIteration):
        return None


def _parse_time(value: object) -> float | None:
    if not isinstance(value, str):
        return None
    try:
        return datetime.fromisoformat(value).timestamp()
    except ValueError:
        return None
