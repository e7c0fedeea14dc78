"""End-to-end: plan → save → run the saved plan → reconcile → positions/status → no-op rerun → replay, on the sim."""

from __future__ import annotations

import json
import re
import stat
from decimal import Decimal

from tests.nanobook_cli.helpers_e2e import AUDIT_PATH, TARGET_SYMBOLS, Workdir

CLIENT_ID = re.compile(r"^[A-Za-z0-9_-]{1,32}$")


def test_plan_is_read_only_and_reports_pending_orders(wd: Workdir) -> None:
    human = wd.nb("plan", "target.json")
    assert human.returncode == 0, str(human)
    assert "Plan: 8 buy, 0 sell" in human.stdout
    assert "Traceback" not in human.stderr

    assert wd.nb("plan", "target.json", "--detailed-exitcode").returncode == 8

    result = wd.nb_json("plan", "target.json")
    doc = result.doc
    assert (doc["command"], doc["exit_code"], doc["status"]) == ("plan", 0, "changes")
    orders = doc["data"]["orders"]
    assert sorted(o["symbol"] for o in orders) == sorted(TARGET_SYMBOLS)
    assert all(o["side"] == "buy" and Decimal(o["quantity"]) > 0 for o in orders)
    ids = [o["client_order_id"] for o in orders]
    assert all(CLIENT_ID.match(i) for i in ids), ids
    assert len(set(ids)) == len(ids)
    assert doc["data"]["risk"]["passed"] is True

    detailed = wd.nb_json("plan", "target.json", "--detailed-exitcode")
    assert detailed.returncode == 8 and detailed.doc["exit_code"] == 8

    # Same inputs → same plan (deterministic client order ids).
    again = wd.nb_json("plan", "target.json").doc["data"]["orders"]
    assert [o["client_order_id"] for o in again] == ids

    # Reads only: nothing at the venue, no audit trail.
    assert wd.venue_orders() == []
    assert not wd.audit_path.exists()


def test_saved_plan_runs_fills_reconciles_and_a_second_run_is_a_no_op(wd: Workdir) -> None:
    saved = wd.nb("plan", "target.json", "--out", "plan.json")
    assert saved.returncode == 0, str(saved)
    plan_doc = json.loads((wd.path / "plan.json").read_text(encoding="utf-8"))
    planned = {o["client_order_id"]: o for o in plan_doc["orders"]}
    assert len(planned) == 8

    run = wd.nb_json("run", "--plan", "plan.json", "--yes")
    assert run.returncode == 0, str(run)
    data = run.doc["data"]
    assert run.doc["status"] == "ok"
    # The venue ids are the plan's ids keyed by the run (a later run may re-place what this one cancelled).
    from engine.rebalance.session import run_order_id

    planned = {run_order_id(p, data["run_id"]): o for p, o in planned.items()}
    assert {o["client_order_id"] for o in data["orders"]} == set(planned)
    assert all(o["state"] == "filled" for o in data["orders"]), data["orders"]
    assert (data["submitted"], data["filled"], data["failed"]) == (8, 8, 0)

    # The venue holds exactly the planned orders, each once, all filled.
    venue = wd.venue_orders()
    wd.assert_no_duplicate_client_ids(venue)
    assert {o["client_order_id"] for o in venue} == set(planned)
    assert all(o["status"] == "filled" for o in venue)
    for order in venue:
        assert Decimal(order["filled_quantity"]) == Decimal(planned[order["client_order_id"]]["quantity"])

    _assert_audit_of_a_complete_run(wd, set(planned))

    reconcile = wd.nb("reconcile", "target.json")
    assert reconcile.returncode == 0, str(reconcile)
    assert "WITHIN TOLERANCE" in reconcile.stdout
    rec = wd.nb_json("reconcile", "target.json").doc
    assert rec["status"] == "ok" and rec["data"]["within_tolerance"] is True
    assert rec["data"]["open_orders"] == []

    positions = wd.nb_json("positions").doc
    assert positions["exit_code"] == 0
    held = {p["symbol"]: Decimal(p["quantity"]) for p in positions["data"]["positions"]}
    assert held == {o["symbol"]: Decimal(o["quantity"]) for o in planned.values()}

    status = wd.nb("status")
    assert status.returncode == 0, str(status)
    assert "no run in progress" in status.stdout
    status_doc = wd.nb_json("status").doc
    assert status_doc["data"]["broker_reachable"] is True
    assert status_doc["data"]["running"] is None
    assert status_doc["data"]["last_run"]["status"] == "ok"
    assert status_doc["data"]["last_run"]["recovery_action"] == "restart"

    # A second run finds nothing to do and places nothing.
    second = wd.nb_json("run", "target.json", "--yes")
    assert second.returncode == 0, str(second)
    assert second.doc["status"] == "no_changes"
    assert second.doc["data"]["orders"] == []
    assert len(wd.venue_orders()) == 8
    assert wd.last_run_events()[-1]["status"] == "no_changes"
    assert not [e for e in wd.last_run_events() if e["event"] == "order_intent"]

    # Restart-safety: replaying the log (no broker) and recovering (with the broker) both say restart.
    replay = wd.nb_json("replay", str(AUDIT_PATH))
    assert replay.returncode == 0, str(replay)
    assert replay.doc["data"]["kind"] == "audit"
    assert replay.doc["data"]["recovery"]["action"] == "restart"
    assert replay.doc["data"]["validation"]["ok"] is True
    assert replay.doc["data"]["runs"] == 2
    assert replay.doc["data"]["torn_tail"] is None
    human_replay = wd.nb("replay", str(AUDIT_PATH))
    assert human_replay.returncode == 0 and "recovery (log only): restart" in human_replay.stdout

    recover = wd.nb_json("recover")
    assert recover.returncode == 0, str(recover)
    assert recover.doc["data"]["action"] == "restart"

    assert stat.S_IMODE(wd.audit_path.stat().st_mode) == 0o600


def test_run_target_in_one_go_converges(wd: Workdir) -> None:
    run = wd.nb("run", "target.json", "--yes")
    assert run.returncode == 0, str(run)
    assert "8 submitted, 8 filled, 0 failed" in run.stdout
    assert "Traceback" not in run.stderr
    # Progress goes to stderr, the result table to stdout.
    assert "[8/8]" in run.stderr and "[8/8]" not in run.stdout
    assert wd.nb("reconcile", "target.json").returncode == 0
    assert wd.nb("plan", "target.json", "--detailed-exitcode").returncode == 0


def _assert_audit_of_a_complete_run(wd: Workdir, client_ids: set[str]) -> None:
    events = wd.audit()
    assert events, "no audit lines"
    assert [e["seq"] for e in events] == list(range(1, len(events) + 1))
    assert all(e["schema_version"] == "1" for e in events)
    assert len({e["run_id"] for e in events}) == 1
    assert all(str(e["ts"]).endswith("Z") for e in events)
    names = [e["event"] for e in events]
    assert names[0] == "run_started"
    assert names[-1] == "run_completed" and events[-1]["status"] == "ok"
    for step in ("account_summary", "positions", "quotes"):
        assert names.index(f"{step}_intent") < names.index(f"{step}_result")
    risk = wd.events("risk_check")
    assert len(risk) == 1 and risk[0]["passed"] is True
    confirmed = wd.events("user_confirmed")
    assert len(confirmed) == 1 and confirmed[0]["approved"] is True
    assert names.index("risk_check") < names.index("user_confirmed") < names.index("order_intent")
    # Write-ahead: every order's intent precedes its acknowledgement, which precedes its terminal outcome.
    for client_id in client_ids:
        seq = {e["event"]: i for i, e in enumerate(events) if e.get("client_order_id") == client_id}
        assert seq["order_intent"] < seq["order_submitted"] < seq["order_filled"], (client_id, seq)
        filled = next(e for e in events if e["event"] == "order_filled" and e["client_order_id"] == client_id)
        assert filled["state"] == "filled" and filled["symbol"] in TARGET_SYMBOLS
    assert wd.our_client_ids() == client_ids
