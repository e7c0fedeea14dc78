"""End-to-end: SIGINT / SIGTERM to a running `run` stop it cleanly (exit 130, our orders cancelled, audited)."""

from __future__ import annotations

import signal

import pytest

from tests.nanobook_cli.helpers_e2e import RESTING_CONFIG, Workdir, audit_is_readable, wait_for

SIGNALS = [signal.SIGINT, signal.SIGTERM]


def _ours_working(wd: Workdir) -> list[dict[str, object]]:
    ours = wd.our_client_ids()
    return [o for o in wd.working_orders() if o["client_order_id"] in ours]


@pytest.mark.parametrize("signum", SIGNALS, ids=lambda s: signal.Signals(s).name)
def test_signal_while_an_order_rests_cancels_it_and_exits_130(wd: Workdir, signum: int) -> None:
    wd.config(RESTING_CONFIG)
    run = wd.start("run", "target.json", "--yes")
    wait_for(lambda: wd.events("order_submitted") or not run.alive(), timeout=150,
             message="an order of the run to be working")
    assert run.alive(), run.stderr()
    assert len(_ours_working(wd)) == 1
    # While it works, reconcile reports the pending order (exit 8) without touching it.
    pending = wd.nb_json("reconcile", "target.json")
    assert pending.returncode == 8
    assert [o["client_order_id"] for o in pending.doc["data"]["open_orders"]] == [
        o["client_order_id"] for o in _ours_working(wd)]

    run.signal(signum)
    result = run.result()
    assert result.returncode == 130, str(result)
    assert "Traceback" not in result.stderr
    assert "stopping" in result.stderr

    completed = wd.events("run_completed")
    assert len(completed) == 1 and completed[0]["status"] == "interrupted"
    cancels = wd.events("cancel_intent")
    assert cancels and all(c["reason"] == "stop_requested" for c in cancels)
    assert all(r["success"] is True for r in wd.events("cancel_result"))
    assert _ours_working(wd) == []
    assert len(wd.venue_orders()) == 1  # nothing placed after the signal
    assert not (wd.path / ".nanobook" / "run.pid").exists()
    assert wd.nb("status").returncode == 0
    assert audit_is_readable(wd)["data"]["recovery"]["action"] == "restart"


@pytest.mark.parametrize("signum", SIGNALS, ids=lambda s: signal.Signals(s).name)
def test_signal_between_orders_stops_submitting_and_a_rerun_converges(wd: Workdir, signum: int) -> None:
    # Orders fill at once; every broker call is slowed so the signal lands mid-batch.
    run = wd.start("run", "target.json", "--yes", faults="latency_s=0.15")
    wait_for(lambda: len(wd.events("order_filled")) >= 2 or not run.alive(), timeout=150,
             message="two orders of the run to be filled")
    run.signal(signum)
    result = run.result()
    if result.returncode == 0:  # pragma: no cover - the run outpaced the signal on a very fast machine
        pytest.skip("the run finished before the signal arrived")
    assert result.returncode == 130, str(result)
    assert "Traceback" not in result.stderr
    assert wd.events("run_completed")[-1]["status"] == "interrupted"
    venue = wd.venue_orders()
    assert 2 <= len(venue) < 8
    assert _ours_working(wd) == []

    rerun = wd.nb("run", "target.json", "--yes")
    assert rerun.returncode == 0, str(rerun)
    wd.assert_no_duplicate_client_ids()
    assert wd.nb("reconcile", "target.json").returncode == 0


def test_second_ctrl_c_aborts_at_once_and_recover_cleans_up(wd: Workdir) -> None:
    """First SIGINT: stop and cancel; a second one while cancelling aborts at once. Our order may be left working:
    the next run must refuse (exit 9) and recover --cancel-orphans must clean up (exit 0)."""
    wd.config(RESTING_CONFIG)
    run = wd.start("run", "target.json", "--yes", faults="latency_s=0.5")
    wait_for(lambda: wd.events("order_submitted") or not run.alive(), timeout=150,
             message="an order of the run to be working")
    run.signal(signal.SIGINT)
    wait_for(lambda: "stopping" in run.stderr() or not run.alive(), timeout=60, message="the first stop")
    run.signal(signal.SIGINT)
    result = run.result()
    assert result.returncode == 130, str(result)
    assert "Traceback" not in result.stderr
    audit_is_readable(wd)

    if wd.events("run_completed"):  # the cancel outran the second Ctrl-C: a clean stop
        assert _ours_working(wd) == []
        return
    rerun = wd.nb("run", "target.json", "--yes")
    assert rerun.returncode == 9, str(rerun)
    assert "nanobook recover" in rerun.stderr
    first = wd.nb("recover")
    assert first.returncode in (0, 9), str(first)
    final = wd.nb_json("recover", "--cancel-orphans")
    assert final.returncode == 0, str(final)
    assert final.doc["data"]["action"] == "restart"
    assert _ours_working(wd) == []
    wd.assert_no_duplicate_client_ids()
