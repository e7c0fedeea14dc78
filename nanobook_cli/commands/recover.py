"""`nanobook recover`: decide restart / resume / rollback / manual_review after a crash.

Uses the audit log plus live broker state (the broker wins); can cancel our orphans; records the assessment.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer

from nanobook_cli.commands.plan import CONFIG_HELP

if TYPE_CHECKING:
    from engine.brokers.base import Broker
    from engine.rebalance.recovery import RecoveredRun, RecoveryDecision

_NEXT = {
    "restart": "safe to plan and run again: nanobook plan TARGET && nanobook run TARGET",
    "resume": "orders of the last run are still working at the venue: wait for them (then recover again), or "
              "cancel them with: nanobook recover --cancel-orphans",
    "rollback": "orders of ours are working that the last run does not account for: "
                "nanobook recover --cancel-orphans",
    "manual_review": "check the venue by hand (open orders, fills), then run nanobook recover again",
}


def recover(
    dry_run: bool = typer.Option(False, "--dry-run", help="Decide and show; write nothing, cancel nothing."),
    cancel_orphans: bool = typer.Option(False, "--cancel-orphans",
                                        help="Cancel our working orders that the decision says to roll back."),
    config: Path | None = typer.Option(None, "--config", readable=False, help=CONFIG_HELP),
    json_out: bool = typer.Option(False, "--json", help="Print one JSON envelope on stdout."),
) -> None:
    """Assess the last run after a crash; the broker's state wins over the log.

    Exit codes: 0 restart (safe to run again) · 9 resume / rollback / manual_review · 6 broker unreachable
    while orders are in flight · 10 audit log corrupt or locked · 4 invalid config.
    """
    from audit.reader import read_audit
    from engine.rebalance.recovery import reconstruct
    from nanobook_cli.inputs import load_config_for
    from nanobook_cli.output.envelope import begin

    begin("recover", json_out)
    loaded = load_config_for(config, quiet=json_out)
    from audit.writer import confine

    path = confine(Path(loaded.config.audit.path))  # AuditError (exit 10) if it escapes the working directory
    if not path.exists():
        _report(None, None, path, cancelled=[], json_out=json_out, unreachable=False)
        raise typer.Exit(0)
    run = reconstruct(read_audit(path))
    decision, unreachable, cancelled = _assess(run, loaded.config, path, dry_run, cancel_orphans)
    _report(run, decision, path, cancelled=cancelled, json_out=json_out, unreachable=unreachable)
    raise typer.Exit(0 if decision.action == "restart" else (6 if unreachable else 9))


def _assess(run: RecoveredRun, config: Any, path: Path, dry_run: bool,
            cancel_orphans: bool) -> tuple[RecoveryDecision, bool, list[str]]:
    from engine.errors import BrokerError
    from engine.rebalance.recovery import decide_from_log, decide_with_broker
    from nanobook_cli.composition import make_broker

    try:
        broker = make_broker(config, readonly=dry_run)
    except BrokerError as exc:
        decision = decide_from_log(run)
        if decision.action != "restart":
            decision = type(decision)("manual_review", [f"broker unreachable ({exc}); " + "; ".join(decision.reasons)],
                                      decision.in_flight)
        return decision, decision.action != "restart", []
    try:
        decision = decide_with_broker(run, broker, cancel_orphans=cancel_orphans, client_order_id_prefix="nb")
        cancelled: list[str] = []
        if not dry_run:
            cancelled = _record(run, decision, broker, path, cancel_orphans)
            if cancelled:
                decision = decide_with_broker(run, broker, client_order_id_prefix="nb")
    finally:
        broker.close()
    unreachable = not decision.broker_checked and decision.action != "restart"
    return decision, unreachable, cancelled


def _record(run: RecoveredRun, decision: RecoveryDecision, broker: Broker, path: Path,
            cancel_orphans: bool) -> list[str]:
    """Append the recovery_assessed event, then the cancels it calls for (when asked), under the audit lock.

    The assessment comes first: it opens the recover session's lines (an audit run must open with a known
    event) and its broker-checked resolutions are older than the cancels that follow.
    """
    from audit.writer import AuditWriter
    from nanobook_cli.commands.kill import _cancel_ours
    from nanobook_cli.composition import system_clock

    with AuditWriter(path, f"recover-{os.getpid()}", system_clock, root=Path.cwd()) as audit:
        audit.append(decision.to_event())
        cancelled: list[str] = []
        if cancel_orphans and decision.action == "rollback":
            targets = {i.client_order_id for i in decision.in_flight if i.step == "cancel" and i.client_order_id}
            cancelled, _, _ = _cancel_ours(broker, audit, targets)
    return cancelled


def _report(run: RecoveredRun | None, decision: RecoveryDecision | None, path: Path, *, cancelled: list[str],
            json_out: bool, unreachable: bool) -> None:
    from nanobook_cli.output.console import out
    from nanobook_cli.output.envelope import emit

    action = decision.action if decision else "restart"
    reasons = decision.reasons if decision else [f"no audit log at {path}: nothing to recover"]
    code = 0 if action == "restart" else (6 if unreachable else 9)
    if json_out:
        emit("ok" if code == 0 else "recovery_required", code, {
            "action": action, "reasons": reasons, "audit_path": str(path), "cancelled": cancelled,
            "run": run.to_dict() if run else None,
            "decision": decision.to_dict() if decision else None, "next": _NEXT[action]})
        return
    console = out()
    if run is not None and run.last_event is None:
        console.print(f"audit {path} · no events yet")
    elif run is not None:
        console.print(f"audit {path} · last run {run.run_id or '?'} · {len(run.orders)} order(s) · last event "
                      f"{run.last_event} at {run.last_ts} · completed: {run.completed}")
        if run.torn_tail is not None:
            console.print(f"torn last line {run.torn_tail.line} (a crash mid-write); ignored and reported")
    if decision is not None and decision.in_flight:
        from nanobook_cli.output.render import make_table, styled

        table = make_table("Orders needing attention", [("client order id", "left"), ("symbol", "left"),
                                                    ("log says", "left"), ("broker says", "left"),
                                                    ("next step", "left"), ("why", "left")])
        for item in decision.in_flight:
            table.add_row(item.client_order_id or "—", item.symbol or "—", item.log_status,
                          item.broker_state or "?", styled(item.step, "bold red"), item.reason)
        console.print(table)
    for client_id in cancelled:
        console.print(f"cancelled {client_id}")
    console.print(f"Decision: {action.upper()}")
    for reason in reasons:
        console.print(f"  · {reason}")
    console.print(f"Next: {_NEXT[action]}")
