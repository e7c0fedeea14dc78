"""End-to-end: `run --yes --cron` runs a target's window at most once per account."""

from __future__ import annotations

from tests.nanobook_cli.helpers_e2e import Workdir


def test_second_cron_run_of_the_same_window_is_skipped_and_logged(wd: Workdir) -> None:
    """Regression test (fixed bug).

    Was: the second invocation exits 10, not 0. Repro: `nanobook run target.json --yes --cron` twice → the
    second logs idempotency_rejection, then "nanobook run: error: invalid audit event 'run_completed':
    run_completed.status: Input should be 'ok', 'partial', …" (exit 10): run.py finishes with status "skipped",
    which the RunCompleted audit model (audit/events.py) does not allow. The run is left without run_completed.
    """
    first = wd.nb_json("run", "target.json", "--yes", "--cron")
    assert first.returncode == 0, str(first)
    assert first.doc["status"] == "ok" and first.doc["data"]["filled"] == 8
    completed = wd.events("cron_completed")
    assert len(completed) == 1
    window = completed[0]["window_id"]
    venue_before = wd.venue_orders()
    assert len(venue_before) == 8

    second = wd.nb_json("run", "target.json", "--yes", "--cron")
    assert second.returncode == 0, str(second)
    assert second.doc["status"] == "skipped"
    assert second.doc["data"]["orders"] == [] and second.doc["data"]["submitted"] == 0
    assert window in second.doc["data"]["message"] or "already completed" in second.doc["data"]["message"]

    assert wd.venue_orders() == venue_before
    rejections = wd.events("idempotency_rejection")
    assert len(rejections) == 1 and rejections[0]["window_id"] == window
    last = wd.last_run_events()
    assert [e["event"] for e in last if e["event"].startswith("order_")] == []
    assert last[-1]["event"] == "run_completed" and last[-1]["status"] == "skipped"
    assert len(wd.events("cron_completed")) == 1

    # A third invocation (human output) is skipped the same way.
    third = wd.nb("run", "target.json", "--yes", "--cron")
    assert third.returncode == 0, str(third)
    assert "skipped" in third.stdout
    assert len(wd.events("idempotency_rejection")) == 2
    assert wd.nb("status").returncode == 0


def test_cron_window_is_skipped_even_after_the_account_drifted(wd: Workdir) -> None:
    """BUG (same cause as above): the skipped cron run exits 10 instead of 0."""
    assert wd.nb("run", "target.json", "--yes", "--cron").returncode == 0
    assert wd.nb("sim", "set-price", "AAPL", "260.00").returncode == 0  # big drift: a plain run would trade
    assert wd.nb("plan", "target.json", "--detailed-exitcode").returncode == 8
    count = len(wd.venue_orders())
    again = wd.nb_json("run", "target.json", "--yes", "--cron")
    assert again.returncode == 0 and again.doc["status"] == "skipped"
    assert len(wd.venue_orders()) == count


def test_a_new_window_runs_under_cron(wd: Workdir) -> None:
    assert wd.nb("run", "target.json", "--yes", "--cron").returncode == 0
    target = wd.target_doc()
    target["metadata"]["id"] = "example-2026-12"
    target["targets"][0]["weight"] = 0.10      # AAPL 15 % → 10 %: a sell in the new window
    wd.write_target(target)
    result = wd.nb_json("run", "target.json", "--yes", "--cron")
    assert result.returncode == 0, str(result)
    assert result.doc["status"] == "ok"
    assert any(o["symbol"] == "AAPL" and o["side"] == "sell" for o in result.doc["data"]["orders"])
    assert len(wd.events("cron_completed")) == 2
    assert wd.events("idempotency_rejection") == []


def test_non_cron_run_of_a_completed_window_is_not_rejected(wd: Workdir) -> None:
    assert wd.nb("run", "target.json", "--yes", "--cron").returncode == 0
    result = wd.nb_json("run", "target.json", "--yes")
    assert result.returncode == 0 and result.doc["status"] == "no_changes"
    assert wd.events("idempotency_rejection") == []
