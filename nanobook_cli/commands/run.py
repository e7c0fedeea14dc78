"""`nanobook run TARGET`: plan, confirm (default No), execute with a write-ahead audit, report."""

from __future__ import annotations

import signal
import sys
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer

from nanobook_cli.commands.plan import CONFIG_HELP

if TYPE_CHECKING:
    from engine.rebalance.plan import Plan
    from engine.rebalance.session import RunOutcome, RunSession

_EXIT = {"ok": 0, "no_changes": 0, "skipped": 0, "partial": 7, "interrupted": 130}


def run(
    target: Path | None = typer.Argument(None, readable=False,
                                         help="target.json (optional with --plan).", show_default=False),
    plan_file: Path | None = typer.Option(None, "--plan", readable=False,
                                          help="Execute exactly this saved plan (refused if stale)."),
    yes: bool = typer.Option(False, "--yes", help="Do not ask for confirmation (required without a TTY)."),
    cron: bool = typer.Option(False, "--cron", help="Skip (exit 0) if this target's window already completed."),
    config: Path | None = typer.Option(None, "--config", readable=False, help=CONFIG_HELP),
    json_out: bool = typer.Option(False, "--json", help="Print one JSON envelope on stdout."),
) -> None:
    """Rebalance the account to TARGET: plan, confirm, place rate-limited limit orders, report.

    Exit codes: 0 all filled (or nothing to do) · 3 declined / no TTY without --yes · 4 invalid input or
    stale plan · 5 risk rejected · 6 broker unavailable · 7 some orders not filled · 9 previous run
    incomplete (run `nanobook recover`) · 10 audit log locked/unwritable · 130 interrupted.
    """
    from engine.rebalance.plan import Plan
    from engine.rebalance.session import RunSession
    from nanobook_cli.composition import make_broker, system_clock
    from nanobook_cli.inputs import load_plan_inputs
    from nanobook_cli.output.envelope import begin

    begin("run", json_out)
    saved = Plan.load(plan_file) if plan_file is not None else None
    if target is None:
        if saved is None:
            raise typer.BadParameter("give a TARGET or --plan PLAN", param_hint="TARGET")
        target = Path(saved.target_path)
    inputs = load_plan_inputs(target, config)
    broker = make_broker(inputs.config)
    stop = threading.Event()
    previous = _install_stop_handlers(stop)
    try:
        with RunSession(inputs, broker, system_clock) as session:
            try:
                outcome = _steps(session, saved, yes=yes, cron=cron, stop=stop, json_out=json_out)
            except Exception as exc:
                # A run that started must end in the log, whatever stopped it (status would say "incomplete").
                if session.started and not session.finished:
                    from engine.rebalance.session import RunOutcome

                    session.finish(RunOutcome("failed", message=f"{type(exc).__name__}: {exc}"))
                raise
    finally:
        _restore(previous)
        broker.close()
    _report(outcome, session, json_out)
    raise typer.Exit(_EXIT.get(outcome.status, 1))


def _steps(session: RunSession, saved: Plan | None, *, yes: bool, cron: bool, stop: threading.Event,
           json_out: bool) -> RunOutcome:
    import time

    from engine.errors import DeclinedError, RiskRejected
    from engine.rebalance.executor import ExecutionSettings
    from engine.rebalance.session import RunOutcome
    from nanobook_cli.output.console import err
    from nanobook_cli.output.render import render_plan
    from nanobook_cli.progress import StderrReporter

    session.preflight()
    session.start("run")
    plan = session.prepare(saved)
    if cron and session.cron_window_done():
        outcome = RunOutcome("skipped", plan, message=f"window {session.window} already completed")
        session.finish(outcome)
        return outcome
    try:
        session.gate(plan)
    except RiskRejected:
        session.finish(RunOutcome("risk_rejected", plan))
        if not json_out:
            render_plan(err(), plan)
        raise
    _warn_about(plan)
    if not plan.orders:
        unpriced = [k.symbol for k in plan.skipped if k.reason in _UNPRICED]
        if unpriced:
            from engine.errors import BrokerUnavailable

            raise BrokerUnavailable(f"no usable quote for {', '.join(unpriced)} (stale, delayed or missing): "
                                    "nothing could be planned; the account was not checked against the target")
        outcome = RunOutcome("no_changes", plan, message="nothing to do: the account matches the target")
        session.finish(outcome)
        return outcome
    if not json_out:
        render_plan(err(), plan)
    approved, method = _confirm(plan, yes)
    session.confirmed(approved, plan, method)
    if not approved:
        session.finish(RunOutcome("declined", plan))
        raise DeclinedError("declined: no orders were placed" if method == "prompt"
                            else "no TTY to confirm on; pass --yes to run unattended (nothing was placed)")
    ex = session.inputs.config.execution
    settings = ExecutionSettings(order_interval_ms=ex.order_interval_ms, order_timeout_s=ex.order_timeout_s,
                                 max_retries=ex.max_retries)
    reporter = StderrReporter(len(plan.orders))
    try:
        result = session.execute(plan, settings, time.sleep, stop, reporter)
    finally:
        reporter.close()
    outcome = RunOutcome(result.status, plan, result)
    session.finish(outcome)
    return outcome


_UNPRICED = frozenset({"stale_quote", "no_price"})


def _warn_about(plan: Plan) -> None:
    """Plan warnings and unpriced symbols go into the envelope's warnings (and stderr for people)."""
    from nanobook_cli.output.envelope import warn

    for text in plan.warnings:
        warn("plan", text)
    for skip in plan.skipped:
        if skip.reason == "no_price":  # stale quotes are already among the plan warnings
            warn(skip.reason, skip.detail, symbol=skip.symbol)


def _confirm(plan: Plan, yes: bool) -> tuple[bool, str]:
    if yes:
        return True, "flag"
    if not sys.stdin.isatty():
        return False, "no_tty"
    from nanobook_cli.output.render import money

    question = (f"Place {len(plan.orders)} order(s), turnover {money(plan.turnover())}, "
                f"on {plan.broker}:{plan.account_id}?")
    try:
        return typer.confirm(question, default=False, err=True), "prompt"
    except (EOFError, KeyboardInterrupt, typer.Abort):
        return False, "prompt"


def _install_stop_handlers(stop: threading.Event) -> dict[int, Any]:
    """First SIGINT/SIGTERM: stop submitting and cancel working orders. Second Ctrl-C: abort at once."""
    def handler(signum: int, frame: object) -> None:
        if stop.is_set() and signum == signal.SIGINT:
            raise KeyboardInterrupt
        stop.set()
        sys.stderr.write("\nstopping: no new orders; cancelling our working orders (Ctrl-C again to abort)\n")

    return {s: signal.signal(s, handler) for s in (signal.SIGINT, signal.SIGTERM)}


def _restore(previous: dict[int, Any]) -> None:
    for signum, handler in previous.items():
        signal.signal(signum, handler)


def _report(outcome: RunOutcome, session: RunSession, json_out: bool) -> None:
    from nanobook_cli.output.console import out
    from nanobook_cli.output.envelope import emit
    from nanobook_cli.output.render import execution_table

    result = outcome.result
    if json_out:
        orders = [{"client_order_id": o.planned.client_order_id, "symbol": o.planned.symbol,
                   "side": o.planned.side, "quantity": str(o.planned.quantity),
                   "limit_price": str(o.planned.limit_price), "state": o.state, "order_id": o.order_id,
                   "filled_quantity": str(o.filled_quantity),
                   "avg_fill_price": None if o.avg_fill_price is None else str(o.avg_fill_price),
                   "error": o.error} for o in (result.outcomes if result else [])]
        emit(outcome.status, _EXIT.get(outcome.status, 1),
             {"run_id": session.run_id, "status": outcome.status, "message": outcome.message, "orders": orders,
              "submitted": result.submitted if result else 0, "filled": result.filled if result else 0,
              "failed": result.failed if result else 0, "audit_path": str(session.audit_path)})
        return
    console = out()
    if result is not None:
        console.print(execution_table(result))
        console.print(f"Run {session.run_id}: {outcome.status} · {result.submitted} submitted, {result.filled} "
                      f"filled, {result.failed} failed · audit {session.audit_path}")
        console.print("Next: nanobook reconcile " + session.inputs.target_path.as_posix())
    else:
        console.print(f"Run {session.run_id}: {outcome.status}. {outcome.message}")
