"""End-to-end: the audit log is private (0o600), single-writer (exit 10 while locked), confined to the working
directory, and tolerant of a torn last line."""

from __future__ import annotations

import signal
import stat
import subprocess
from pathlib import Path

import pytest

from tests.nanobook_cli.helpers_e2e import (
    AUDIT_PATH,
    CLI_TIMEOUT_S,
    NANOBOOK,
    RESTING_CONFIG,
    Workdir,
    assert_one_clean_error,
    audit_is_readable,
    base_env,
    wait_for,
)


def test_audit_log_is_created_0600_even_with_a_permissive_umask(wd: Workdir) -> None:
    proc = subprocess.run([str(NANOBOOK), "run", "target.json", "--yes"], cwd=wd.path, env=base_env(),
                          stdin=subprocess.DEVNULL, capture_output=True, timeout=CLI_TIMEOUT_S, umask=0o000,
                          check=False)
    assert proc.returncode == 0, proc.stderr.decode()
    assert stat.S_IMODE(wd.audit_path.stat().st_mode) == 0o600
    lock = wd.audit_path.with_name(wd.audit_path.name + ".lock")
    if lock.exists():
        assert stat.S_IMODE(lock.stat().st_mode) & 0o077 == 0
    # Appending later keeps the mode.
    assert wd.nb("run", "target.json", "--yes").returncode == 0
    assert stat.S_IMODE(wd.audit_path.stat().st_mode) == 0o600


def test_second_concurrent_run_exits_10_while_the_first_holds_the_lock(wd: Workdir) -> None:
    wd.config(RESTING_CONFIG)
    first = wd.start("run", "target.json", "--yes")
    wait_for(lambda: wd.events("order_submitted") or not first.alive(), timeout=120,
             message="the first run to have an order working")
    assert first.alive(), first.stderr()
    lines_before = wd.audit_line_count()

    second = wd.nb("run", "target.json", "--yes")
    assert_one_clean_error(second, 10, "locked")
    second_json = wd.nb_json("run", "target.json", "--yes")
    assert second_json.returncode == 10 and second_json.doc["errors"][0]["type"] == "AuditLocked"
    # The refused run wrote nothing and placed nothing: one order (the first run's) at the venue.
    assert wd.audit_line_count() == lines_before
    venue = wd.venue_orders()
    assert len(venue) == 1
    wd.assert_no_duplicate_client_ids(venue)

    # `recover` (which appends) is refused too; `status` sees the run in progress.
    assert wd.nb("recover").returncode == 10
    status = wd.nb_json("status").doc
    assert status["data"]["running"] is not None and status["data"]["running"]["pid"] == first.pid

    first.signal(signal.SIGINT)
    assert first.wait() == 130
    assert wd.working_orders() == []
    # Once the lock is released the next writer gets it.
    assert wd.nb("recover").returncode == 0


@pytest.mark.parametrize(("path", "code"), [("../outside-dir/audit.jsonl", 4), ("{outside}/audit.jsonl", 4),
                                            ("logs/../../outside-dir/audit.jsonl", 4),
                                            ("escape-link/audit.jsonl", 10)],
                         ids=["dotdot", "absolute", "dotdot-inside", "symlink"])
def test_audit_path_outside_the_working_directory_is_refused(wd: Workdir, tmp_path: Path, path: str,
                                                            code: int) -> None:
    outside = tmp_path / "outside-dir"  # a sibling of the working directory (tmp_path/wd)
    outside.mkdir()
    (wd.path / "escape-link").symlink_to(outside, target_is_directory=True)
    wd.config(f'[audit]\npath = "{path.format(outside=outside)}"\n')
    for args in (("run", "target.json", "--yes"), ("kill",)):
        result = wd.nb(*args)
        line = assert_one_clean_error(result, code, "audit", "config.toml:2" if code == 4 else "outside")
        assert "outside" in line or "inside" in line or "relative" in line, line
    assert wd.venue_orders() == []
    assert list(outside.iterdir()) == []
    assert not (wd.path / "logs").exists()


def test_recover_refuses_an_audit_path_that_escapes_through_a_symlink(wd: Workdir, tmp_path: Path) -> None:
    """Regression test (fixed bug).

    Was: `recover` does not confine the configured audit path the way `run` and `kill` do.

    Repro: `mkdir ../elsewhere && ln -s ../elsewhere escape-link`; config.toml `[audit] path =
    "escape-link/audit.jsonl"`; `nanobook run target.json --yes` → exit 10 (outside the working directory), but
    `nanobook recover` → exit 0 "no audit log …: nothing to recover … safe to plan and run again" (and with a log
    there it would read and assess another directory's log). Expected: exit 10 (or 4) with the same one line.
    """
    outside = tmp_path / "outside-dir"
    outside.mkdir()
    (wd.path / "escape-link").symlink_to(outside, target_is_directory=True)
    wd.config('[audit]\npath = "escape-link/audit.jsonl"\n')
    assert_one_clean_error(wd.nb("recover"), 10, "outside the working directory")


def test_torn_last_line_is_reported_not_fatal(wd: Workdir) -> None:
    assert wd.nb("run", "target.json", "--yes").returncode == 0
    good_lines = wd.audit_line_count()
    with wd.audit_path.open("ab") as fh:  # a crash in the middle of writing a line
        fh.write(b'{"schema_version":"1","run_id":"torn","seq":999,"ts":"2026-11-')

    doc = audit_is_readable(wd)
    assert doc["data"]["torn_tail"] is not None and doc["data"]["torn_tail"]["line"] == good_lines + 1
    assert doc["data"]["recovery"]["action"] == "restart"

    recover = wd.nb("recover", "--dry-run")
    assert recover.returncode == 0, str(recover)
    assert "torn" in recover.stdout
    status = wd.nb_json("status")
    assert status.returncode == 0 and status.doc["data"]["last_run"]["torn_tail"] is True

    # The next writer terminates the torn line, acknowledges it and carries on.
    again = wd.nb("run", "target.json", "--yes")
    assert again.returncode == 0, str(again)
    lines = wd.audit_text().splitlines()
    assert lines[good_lines].startswith('{"schema_version":"1","run_id":"torn"')
    repaired = wd.events("torn_tail_repaired")
    assert len(repaired) == 1 and repaired[0]["line"] == good_lines + 1
    after = audit_is_readable(wd)
    assert after["data"]["validation"]["ok"] is True and after["data"]["torn_tail"] is None


def test_replay_of_our_audit_log_by_path_detects_the_dialect(wd: Workdir) -> None:
    assert wd.nb("run", "target.json", "--yes").returncode == 0
    result = wd.nb_json("replay", str(AUDIT_PATH))
    assert result.doc["data"]["kind"] == "audit"
    assert result.doc["data"]["recovery"]["action"] == "restart"
    assert result.doc["data"]["state"]["completed"] is True
