"""`nanobook kill`: stop a running `run` (PID file, SIGTERM, then SIGKILL) and cancel only *our* open orders."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path
from typing import Any

import typer

from nanobook_cli.commands.plan import CONFIG_HELP


def kill(
    timeout_s: float | None = typer.Option(None, "--timeout", min=0.1,
                                           help="Seconds to wait for a graceful stop (default: [kill] timeout_s)."),
    config: Path | None = typer.Option(None, "--config", readable=False, help=CONFIG_HELP),
    json_out: bool = typer.Option(False, "--json", help="Print one JSON envelope on stdout."),
) -> None:
    """Stop the running run, then cancel every working order whose client id is in our audit log.

    Orders placed by anything else on the account are never touched.
    Exit codes: 0 stopped and nothing of ours left working · 9 some of our orders could not be cancelled ·
    6 broker unavailable · 10 the audit log is still locked (the run did not stop).
    """
    from audit.writer import AuditWriter
    from nanobook_cli.composition import make_broker, system_clock
    from nanobook_cli.inputs import load_config_for
    from nanobook_cli.output.console import err, out
    from nanobook_cli.output.envelope import begin, emit

    begin("kill", json_out)
    loaded = load_config_for(config, quiet=json_out)
    wait = timeout_s if timeout_s is not None else loaded.config.kill.timeout_s
    stopped = _stop_running_run(wait, err())
    audit_path = Path(loaded.config.audit.path)
    ours = _our_client_ids(audit_path)
    broker = make_broker(loaded.config)
    try:
        with AuditWriter(audit_path, f"kill-{os.getpid()}", system_clock, root=Path.cwd()) as audit:
            audit.append({"event": "kill_requested", "method": stopped["method"], "target_pid": stopped["pid"],
                          "trigger_source": "command"})
            cancelled, remaining, errors = _cancel_ours(broker, audit, ours)
            audit.append({"event": "kill_completed", "method": stopped["method"],
                          "orders_cancelled_count": len(cancelled), "orders_remaining_count": len(remaining),
                          "error_messages": errors})
    finally:
        broker.close()
    code = 9 if remaining else 0
    data = {**stopped, "cancelled": cancelled, "remaining": remaining, "errors": errors}
    if json_out:
        emit("ok" if code == 0 else "error", code, data)
    else:
        console = out()
        console.print(f"run: {stopped['detail']}")
        console.print(f"cancelled {len(cancelled)} of our working order(s)" +
                      (f"; {len(remaining)} still working: {', '.join(remaining)} — run `nanobook recover`"
                       if remaining else ""))
    raise typer.Exit(code)


def _stop_running_run(wait: float, console: Any) -> dict[str, Any]:
    from engine.rebalance.pidfile import PID_FILE, check_pid_file

    found = check_pid_file(Path.cwd())
    if not found.running or found.pid is None:
        if found.stale:
            PID_FILE.unlink(missing_ok=True)
        return {"pid": found.pid, "method": "none", "detail": found.reason}
    pid = found.pid
    console.print(f"sending SIGTERM to run {found.run_id} (pid {pid}); waiting up to {wait:.0f}s")
    try:
        os.kill(pid, signal.SIGTERM)
    except PermissionError:
        return {"pid": pid, "method": "none", "detail": f"not permitted to signal run {found.run_id} (pid {pid}): "
                                                        "it belongs to another user; stop it as that user"}
    if _wait_gone(pid, wait):
        return {"pid": pid, "method": "graceful", "detail": f"stopped gracefully (pid {pid})"}
    os.kill(pid, signal.SIGKILL)
    _wait_gone(pid, 5.0)
    PID_FILE.unlink(missing_ok=True)
    return {"pid": pid, "method": "forced", "detail": f"did not stop in {wait:.0f}s; killed (pid {pid})"}


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        # A zombie child of ours counts as gone.
        waited, _ = os.waitpid(pid, os.WNOHANG)
        return waited == 0
    except ChildProcessError:
        return not _is_zombie(pid)


def _is_zombie(pid: int) -> bool:
    # Exited but not yet reaped by its own parent (e.g. a supervisor): it will never act again.
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[-1].split()[0] == "Z"


def _wait_gone(pid: int, seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if not _alive(pid):
            return True
        time.sleep(0.1)
    return not _alive(pid)


def _our_client_ids(path: Path) -> set[str]:
    from audit.reader import read_audit
    from audit.writer import confine

    path = confine(path)
    if not path.exists():
        return set()

    return {str(r.raw["client_order_id"]) for r in read_audit(path).records
            if r.raw.get("event") == "order_intent" and r.raw.get("client_order_id")}


def _cancel_ours(broker: Any, audit: Any, ours: set[str]) -> tuple[list[str], list[str], list[str]]:
    from engine.errors import BrokerError

    cancelled: list[str] = []
    remaining: list[str] = []
    errors: list[str] = []
    for order in broker.open_orders():
        if order.client_order_id not in ours:
            continue
        audit.append({"event": "cancel_intent", "client_order_id": order.client_order_id, "symbol": order.symbol,
                      "order_id": order.order_id, "reason": "kill"})
        try:
            after = broker.cancel(order.order_id)
            ok, state, message = after.state.is_terminal, after.state.value, None
        except BrokerError as exc:
            ok, state, message = False, order.state.value, str(exc)
            errors.append(f"cancel {order.order_id}: {exc}")
        audit.append({"event": "cancel_result", "client_order_id": order.client_order_id, "symbol": order.symbol,
                      "order_id": order.order_id, "success": ok, "state": state, "error_message": message})
        (cancelled if ok else remaining).append(order.client_order_id)
    return cancelled, remaining, errors
