"""`nanobook status`: is the broker reachable, is a run in progress, what does the audit log say?"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer

from nanobook_cli.commands.plan import CONFIG_HELP


def status(
    config: Path | None = typer.Option(None, "--config", readable=False, help=CONFIG_HELP),
    json_out: bool = typer.Option(False, "--json", help="Print one JSON envelope on stdout."),
) -> None:
    """Broker connectivity, running run (PID file), last run and log-only recovery decision.

    Exit codes: 0 ok · 6 broker unavailable · 9 the last run is incomplete (run `nanobook recover`).
    """
    from engine.errors import BrokerError
    from nanobook_cli.composition import make_broker
    from nanobook_cli.inputs import load_config_for
    from nanobook_cli.output.console import out
    from nanobook_cli.output.envelope import begin, emit

    begin("status", json_out)
    loaded = load_config_for(config, quiet=json_out)
    data: dict[str, Any] = {"broker": loaded.config.broker.kind, "config": str(loaded.path or "(defaults)")}
    try:
        broker = make_broker(loaded.config, readonly=True)
        try:
            account = broker.account()
            data["account"] = {"account_id": account.account_id, "equity": str(account.equity),
                               "paper": account.paper}
            data["broker_reachable"] = True
        finally:
            broker.close()
    except BrokerError as exc:
        data["broker_reachable"] = False
        data["broker_error"] = str(exc)
    data["running"] = _running_run()
    data["last_run"] = _last_run(Path(loaded.config.audit.path))
    code = 6 if not data["broker_reachable"] else (
        9 if data["last_run"] and data["last_run"]["recovery_action"] != "restart" and not data["running"] else 0)
    if json_out:
        emit("ok" if code == 0 else "error", code, data)
    else:
        console = out()
        reach = "reachable" if data["broker_reachable"] else f"UNREACHABLE ({data.get('broker_error')})"
        console.print(f"broker {data['broker']}: {reach}")
        if "account" in data:
            console.print(f"account {data['account']['account_id']}: equity ${float(data['account']['equity']):,.2f}")
        running = data["running"]
        console.print(f"run in progress: pid {running['pid']} ({running['run_id']})" if running else
                      "no run in progress")
        last = data["last_run"]
        console.print(f"last run: {last['run_id']} {last['status']} · recovery: {last['recovery_action']}" if last
                      else "no run recorded yet")
    raise typer.Exit(code)


def _running_run() -> dict[str, Any] | None:
    from engine.rebalance.pidfile import check_pid_file

    found = check_pid_file(Path.cwd())
    return {"pid": found.pid, "run_id": found.run_id} if found.running else None


def _last_run(path: Path) -> dict[str, Any] | None:
    from audit.reader import read_audit
    from audit.writer import confine

    path = confine(path)
    if not path.exists():
        return None
    from engine.rebalance.recovery import decide_from_log, reconstruct

    log = read_audit(path)
    runs = [r.raw for r in log.records if r.raw.get("event") in ("run_started", "run_completed")]
    if not runs:
        return None
    last = runs[-1]
    return {"run_id": last.get("run_id", "?"), "status": last.get("status", "incomplete"),
            "recovery_action": decide_from_log(reconstruct(log)).action,
            "torn_tail": log.torn_tail is not None}
