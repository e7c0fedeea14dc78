"""End-to-end: reruns after unfilled/interrupted orders, an unreachable broker, stale quotes."""

from __future__ import annotations

import signal

from tests.nanobook_cli.helpers_e2e import (
    RESTING_CONFIG,
    TARGET_SYMBOLS,
    Workdir,
    assert_one_clean_error,
    audit_is_readable,
    wait_for,
)


def test_rerun_after_orders_timed_out_unfilled_places_them_again(wd: Workdir) -> None:
    """Regression test (fixed bug).

    Was: a rerun can never buy what an earlier run's cancelled order did not: the client order id is
    deterministic (scope, account, symbol, side, quantity, leg), so the same plan gets the same id, the venue (by
    design idempotent) hands back the old *cancelled* order, and the run reports it as its own outcome.

    Repro: config.toml `[execution] order_timeout_s = 0.3` and `limit_offset_bps = 0` (orders rest at mid and are
    cancelled at the timeout); `nanobook run target.json --yes` → exit 7, 8 cancelled. Remove config.toml;
    `nanobook run target.json --yes` → exit 7 again, "8 submitted, 0 filled", every row "cancelled", nothing new at
    the venue — and so on for every rerun until the target's metadata.id changes. Expected: the rerun places new
    orders (exit 0) and reconcile is within tolerance.
    """
    wd.config("[execution]\norder_timeout_s = 0.3\nlimit_offset_bps = 0\norder_interval_ms = 0\n")
    first = wd.nb("run", "target.json", "--yes")
    assert first.returncode == 7, str(first)
    assert {o["status"] for o in wd.venue_orders()} == {"cancelled"}

    wd.config("")
    rerun = wd.nb_json("run", "target.json", "--yes")
    assert rerun.returncode == 0, str(rerun)
    assert wd.nb("reconcile", "target.json").returncode == 0


def test_rerun_after_ctrl_c_converges(wd: Workdir) -> None:
    """BUG (same cause as above): after Ctrl-C cancelled the resting AAPL order, `nanobook run target.json --yes`
    reuses its client order id, gets the cancelled order back and exits 7 instead of buying AAPL (exit 0)."""
    wd.config(RESTING_CONFIG)
    run = wd.start("run", "target.json", "--yes")
    wait_for(lambda: wd.events("order_submitted") or not run.alive(), timeout=150,
             message="an order of the run to be working")
    run.signal(signal.SIGINT)
    assert run.wait() == 130

    wd.config("")
    rerun = wd.nb("run", "target.json", "--yes")
    assert rerun.returncode == 0, str(rerun)
    assert wd.nb("reconcile", "target.json").returncode == 0


def test_unreachable_broker_exits_6_everywhere_and_places_nothing(wd: Workdir) -> None:
    for args in (("plan", "target.json"), ("run", "target.json", "--yes"), ("reconcile", "target.json"),
                 ("positions",)):
        assert_one_clean_error(wd.nb(*args, faults="unavailable=1"), 6, "unavailable")
    status = wd.nb_json("status")
    assert status.returncode == 0  # sanity: reachable without the fault
    unreachable = wd.nb("status", "--json", faults="unavailable=1")
    assert unreachable.returncode == 6 and unreachable.doc["data"]["broker_reachable"] is False
    assert wd.venue_orders() == []
    assert wd.nb("run", "target.json", "--yes").returncode == 0


def test_recover_with_orders_in_flight_and_no_broker_is_manual_review(wd: Workdir) -> None:
    crashed = wd.nb("run", "target.json", "--yes", faults="crash_after_commit=1")
    assert crashed.returncode == 137, str(crashed)

    blind = wd.nb_json("recover", faults="unavailable=1")
    assert blind.returncode == 6, str(blind)
    assert blind.doc["data"]["action"] == "manual_review"
    assert wd.nb("status", faults="unavailable=1").returncode == 6
    refused = wd.nb("run", "target.json", "--yes")
    assert refused.returncode == 9, str(refused)

    recover = wd.nb_json("recover")
    assert recover.returncode == 0 and recover.doc["data"]["action"] == "restart"
    assert wd.nb("run", "target.json", "--yes").returncode == 0
    assert wd.nb("reconcile", "target.json").returncode == 0
    wd.assert_no_duplicate_client_ids()


def test_recover_dry_run_writes_nothing(wd: Workdir) -> None:
    assert wd.nb("run", "target.json", "--yes", faults="crash_after_commit=1").returncode == 137
    before = wd.audit_text()
    dry = wd.nb_json("recover", "--dry-run")
    assert dry.returncode == 0 and dry.doc["data"]["action"] == "restart"
    assert wd.audit_text() == before
    assert wd.nb("run", "target.json", "--yes").returncode == 9  # not assessed yet: still refused
    assert wd.nb("recover").returncode == 0
    assert wd.events("recovery_assessed")[-1]["action"] == "restart"
    assert wd.nb("run", "target.json", "--yes").returncode == 0


def test_every_quote_stale_is_not_reported_as_nothing_to_do(wd: Workdir) -> None:
    """Regression test (fixed bug).

    Was: when every quote is stale the run says the account matches the target and exits 0.

    Repro: `NANOBOOK_SIM_FAULTS=quote_age_s=600 nanobook run target.json --yes --json` on a fresh (all-cash)
    account → exit 0, status "no_changes", message "nothing to do: the account matches the target", warnings [] —
    the 8 stale-quote skips appear nowhere in the envelope (`plan` prints "No trades: the account already matches
    the target" above its 8 "stale quote" skips). Reconcile right after says 1500 bp off (exit 8). Expected: the
    stale quotes are reported in the envelope and the run does not claim the account matches the target.
    """
    result = wd.nb_json("run", "target.json", "--yes", faults="quote_age_s=600")
    assert wd.venue_orders() == []
    doc = result.doc
    assert "matches the target" not in (doc["data"].get("message") or ""), doc
    assert any("stale" in str(w).lower() or "old" in str(w).lower() for w in doc["warnings"]), doc
    plan = wd.nb("plan", "target.json", faults="quote_age_s=600")
    assert "already matches the target" not in plan.stdout, plan.stdout


def test_quotes_intent_names_the_symbols_it_asks_for(wd: Workdir) -> None:
    """The write-ahead quotes_intent lists the symbols the broker is then asked for (it once logged [])."""
    assert wd.nb("run", "target.json", "--yes").returncode == 0
    intents = wd.events("quotes_intent")
    assert len(intents) == 1
    assert sorted(intents[0]["symbols"]) == sorted(TARGET_SYMBOLS)
    audit_is_readable(wd)


def test_sim_settings_of_the_config_apply_to_a_fresh_venue(wd: Workdir) -> None:
    """Regression test (fixed bug).

    Was: `[sim] initial_cash` (and `seed`) in config.toml are ignored; a fresh venue always gets $1,000,000.

    Repro: config.toml `[sim]\\ninitial_cash = 500000.0`; `nanobook positions --json` in an empty directory →
    data.account.cash "1000000.00". make_broker (nanobook_cli/composition.py) builds SimBroker without the [sim]
    settings. Expected: cash 500000.
    """
    wd.config("[sim]\ninitial_cash = 500000.0\n")
    doc = wd.nb_json("positions").doc
    assert doc["data"]["account"]["cash"] in ("500000.00", "500000"), doc["data"]["account"]
