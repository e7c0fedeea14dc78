"""End-to-end: `nanobook kill` stops a running run and cancels only *our* working orders."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.nanobook_cli.helpers_e2e import RESTING_CONFIG, Background, Workdir, audit_is_readable, wait_for

FOREIGN_ID = "ext-manual-1"


@pytest.fixture
def wd(tmp_path: Path) -> Iterator[Workdir]:
    workdir = Workdir(tmp_path)
    workdir.config(RESTING_CONFIG)
    yield workdir
    workdir.cleanup()


def _start_resting_run(wd: Workdir, latency_s: float) -> Background:
    """A run whose first order is working at the venue (it rests: limit at mid)."""
    run = wd.start("run", "target.json", "--yes", faults=f"latency_s={latency_s}")
    wait_for(lambda: wd.events("order_submitted") or not run.alive(), timeout=150,
             message="an order of the run to be working")
    assert run.alive(), f"the run ended early:\n{run.stderr()}"
    assert (wd.path / ".nanobook" / "run.pid").exists()
    return run


def _assert_only_ours_cancelled(wd: Workdir) -> None:
    venue = wd.venue_orders()
    wd.assert_no_duplicate_client_ids(venue)
    ours = wd.our_client_ids()
    assert ours, "the run never wrote an order ahead"
    assert [o for o in wd.working_orders(venue) if o["client_order_id"] in ours] == []
    foreign = [o for o in venue if o["client_order_id"] == FOREIGN_ID]
    assert len(foreign) == 1 and foreign[0]["status"] == "submitted", foreign
    cancelled_ids = {e["client_order_id"] for e in wd.events("cancel_intent")}
    assert FOREIGN_ID not in cancelled_ids


def _assert_kill_audited(wd: Workdir, method: str) -> None:
    requested = wd.events("kill_requested")
    completed = wd.events("kill_completed")
    assert len(requested) == 1 and len(completed) == 1
    assert requested[0]["method"] == completed[0]["method"] == method
    assert completed[0]["orders_remaining_count"] == 0
    names = [e["event"] for e in wd.audit()]
    assert names.index("kill_requested") < names.index("kill_completed")


def test_kill_stops_the_run_gracefully_and_leaves_foreign_orders_alone(wd: Workdir) -> None:
    wd.place_foreign_order(FOREIGN_ID)
    run = _start_resting_run(wd, latency_s=0.15)

    kill = wd.nb_json("kill")
    assert kill.returncode == 0, str(kill)
    data = kill.doc["data"]
    assert data["pid"] == run.pid and data["method"] == "graceful"
    assert data["remaining"] == [] and FOREIGN_ID not in data["cancelled"]

    code = run.wait()
    assert code in (130, -9), run.stderr()
    assert "Traceback" not in run.stderr()
    if code == 130:
        completed = wd.events("run_completed")
        assert completed and completed[-1]["status"] == "interrupted"
    _assert_kill_audited(wd, "graceful")
    _assert_only_ours_cancelled(wd)
    assert not (wd.path / ".nanobook" / "run.pid").exists()

    # Nothing is left for recovery.
    assert wd.nb("status").returncode == 0
    assert wd.nb_json("recover").doc["data"]["action"] == "restart"
    audit_is_readable(wd)


def test_kill_forces_a_stuck_run_and_cancels_our_orders_itself(wd: Workdir) -> None:
    wd.place_foreign_order(FOREIGN_ID)
    # Every broker call of the run sleeps 1 s, so it cannot cancel and exit within the 0.2 s grace period.
    run = _start_resting_run(wd, latency_s=1.0)

    kill = wd.nb_json("kill", "--timeout", "0.2")
    assert kill.returncode == 0, str(kill)
    data = kill.doc["data"]
    assert data["method"] == "forced" and data["pid"] == run.pid
    assert data["remaining"] == []
    ours = wd.our_client_ids()
    assert set(data["cancelled"]) <= ours
    assert run.wait() == -9

    _assert_kill_audited(wd, "forced")
    _assert_only_ours_cancelled(wd)
    assert not (wd.path / ".nanobook" / "run.pid").exists()
    # The killed run never logged run_completed, but everything it sent is settled: recover says restart.
    assert wd.nb("status").returncode == 0
    recover = wd.nb_json("recover")
    assert recover.returncode == 0 and recover.doc["data"]["action"] == "restart"
    audit_is_readable(wd)


def test_kill_without_a_running_run_still_sweeps_our_orders(wd: Workdir) -> None:
    wd.place_foreign_order(FOREIGN_ID)
    # Leave one of our orders working: a run that is SIGKILLed while its first order rests.
    run = _start_resting_run(wd, latency_s=0.05)
    assert run.kill9() == -9
    ours_working = [o for o in wd.working_orders() if o["client_order_id"] in wd.our_client_ids()]
    assert len(ours_working) == 1

    kill = wd.nb_json("kill")
    assert kill.returncode == 0, str(kill)
    assert kill.doc["data"]["method"] == "none"  # stale PID file: the process is gone
    assert kill.doc["data"]["cancelled"] == [ours_working[0]["client_order_id"]]
    _assert_kill_audited(wd, "none")
    _assert_only_ours_cancelled(wd)

    again = wd.nb_json("kill")
    assert again.returncode == 0 and again.doc["data"]["cancelled"] == []
    assert wd.nb("status").returncode == 0


def test_kill_sees_a_run_that_exited_while_its_parent_has_not_reaped_it(wd: Workdir) -> None:
    """BUG (minor): `kill` treats an exited-but-unreaped run (a zombie) as still running.

    `_alive` in nanobook_cli/commands/kill.py falls back to "alive" when waitpid says the pid is not its child, so
    when the run's parent (a Python supervisor that started it with Popen and now calls `nanobook kill`) has not
    reaped it yet, kill waits the whole timeout, SIGKILLs the zombie and records method "forced" although the run
    stopped gracefully (exit 130, run_completed interrupted). Repro: start `nanobook run target.json --yes` with
    subprocess.Popen (limit_offset_bps = 0 so an order rests), do not wait() it, run `nanobook kill --timeout 3
    --json` → data.method == "forced" after 3 s. Expected: "graceful" as soon as the run exits (e.g. read the state
    from /proc/PID/stat, where a zombie shows "Z").
    """
    run = wd.start("run", "target.json", "--yes", reap=False)
    wait_for(lambda: wd.events("order_submitted") or run.proc.poll() is not None, timeout=150,
             message="an order of the run to be working")
    kill = wd.nb_json("kill", "--timeout", "3")
    assert run.wait() == 130
    assert wd.events("run_completed")[-1]["status"] == "interrupted"
    assert kill.doc["data"]["method"] == "graceful", kill.doc["data"]


def test_kill_never_signals_a_process_that_reused_the_pid_of_a_dead_run(wd: Workdir) -> None:
    """A run killed with -9 leaves its PID file; once the PID is reused, kill and status must leave it alone."""
    import json
    import subprocess
    import sys
    from datetime import UTC, datetime

    stranger = subprocess.Popen([sys.executable, "-c", "import time; print(flush=True); time.sleep(60)"],
                                stdout=subprocess.PIPE)
    assert stranger.stdout is not None and stranger.stdout.readline() == b"\n"  # exec'd: its own command line
    try:
        pid_file = wd.path / ".nanobook" / "run.pid"
        pid_file.parent.mkdir(parents=True, exist_ok=True)
        pid_file.write_text(json.dumps({"pid": stranger.pid, "run_id": "20260101T000000Z-dead",
                                        "started_at": datetime.now(UTC).isoformat()}), encoding="utf-8")
        status = wd.nb_json("status")
        assert status.doc["data"]["running"] is None, str(status)
        kill = wd.nb_json("kill", "--timeout", "1")
        assert kill.returncode == 0, str(kill)
        assert kill.doc["data"]["method"] == "none" and "not a nanobook run" in kill.doc["data"]["detail"]
        assert stranger.poll() is None, "kill signalled a process that is not a nanobook run"
        assert not pid_file.exists()  # the stale file is cleaned up
    finally:
        stranger.kill()
        stranger.wait()
