"""End-to-end: `run` asks for confirmation (default No); without a TTY and without --yes it refuses (exit 3)."""

from __future__ import annotations

import os
import pty

import pytest

from tests.nanobook_cli.helpers_e2e import Result, Workdir, assert_one_clean_error, wait_for

PROMPT = "[y/N]"


def _run_on_a_tty(wd: Workdir, answer: str, *args: str) -> Result:
    """`nanobook run ARGS` with a pseudo-terminal on stdin; type `answer` once the prompt is on stderr."""
    master, slave = pty.openpty()
    try:
        bg = wd.start("run", *args, stdin=slave)
        os.close(slave)
        slave = -1
        wait_for(lambda: PROMPT in bg.stderr() or not bg.alive(), timeout=120, message="the confirmation prompt")
        assert bg.alive(), f"run exited before prompting:\n{bg.stderr()}"
        os.write(master, answer.encode() + b"\n")
        return bg.result()
    finally:
        if slave >= 0:
            os.close(slave)
        os.close(master)


def _assert_declined(wd: Workdir, method: str) -> None:
    assert wd.venue_orders() == [], "a declined run placed orders"
    confirmed = wd.events("user_confirmed")
    assert len(confirmed) == 1
    assert confirmed[0]["approved"] is False and confirmed[0]["method"] == method
    assert wd.events("order_intent") == []
    assert wd.last_run_events()[-1]["event"] == "run_completed"
    assert wd.last_run_events()[-1]["status"] == "declined"


def test_no_tty_and_no_yes_exits_3_and_places_nothing(wd: Workdir) -> None:
    """Regression test (fixed bug).

    Was: exits 10, not 3. Repro in an empty directory with the example target:
    `nanobook run target.json </dev/null` → "nanobook run: error: invalid audit event 'user_confirmed':
    user_confirmed.method: Input should be 'prompt' or 'flag'" (exit 10). run.py records method "no_tty", which
    the UserConfirmed audit model (audit/events.py) does not allow; the run is also left without run_completed.
    """
    result = wd.nb("run", "target.json")
    assert_one_clean_error(result, 3, "--yes")
    _assert_declined(wd, "no_tty")
    # The next attempt is not blocked by the declined one.
    assert wd.nb("status").returncode == 0


def test_saved_plan_without_yes_and_without_tty_exits_3(wd: Workdir) -> None:
    """BUG (same cause as above): `nanobook plan target.json --out plan.json && nanobook run --plan plan.json
    </dev/null` exits 10 (invalid audit event 'user_confirmed') instead of 3."""
    assert wd.nb("plan", "target.json", "--out", "plan.json").returncode == 0
    result = wd.nb_json("run", "--plan", "plan.json")
    assert result.returncode == 3, str(result)
    assert result.doc["status"] == "error" and result.doc["errors"]
    assert wd.venue_orders() == []


@pytest.mark.parametrize("answer", ["n", ""], ids=["answer-n", "answer-enter-defaults-to-no"])
def test_tty_answer_no_exits_3(wd: Workdir, answer: str) -> None:
    result = _run_on_a_tty(wd, answer, "target.json")
    assert result.returncode == 3, str(result)
    assert "Traceback" not in result.stderr
    # The typed answer is echoed by the terminal (not on the stderr pipe), so the error follows the prompt text.
    assert "Place 8 order(s)" in result.stderr
    assert result.stderr.count("nanobook run: error: declined") == 1, str(result)
    _assert_declined(wd, "prompt")


def test_tty_answer_yes_executes(wd: Workdir) -> None:
    result = _run_on_a_tty(wd, "y", "target.json")
    assert result.returncode == 0, str(result)
    assert "8 submitted, 8 filled" in result.stdout
    venue = wd.venue_orders()
    assert len(venue) == 8 and all(o["status"] == "filled" for o in venue)
    confirmed = wd.events("user_confirmed")
    assert confirmed[-1]["approved"] is True and confirmed[-1]["method"] == "prompt"
    assert wd.nb("reconcile", "target.json").returncode == 0
