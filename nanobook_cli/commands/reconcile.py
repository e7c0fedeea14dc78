"""`nanobook reconcile TARGET`: after the close, how far is the account from the target? Reads only."""

from __future__ import annotations

from pathlib import Path

import typer

from nanobook_cli.commands.plan import CONFIG_HELP

DEFAULT_TOLERANCE_BPS = 50


def reconcile(
    target: Path = typer.Argument(..., readable=False, help="target.json to compare against.", show_default=False),
    tolerance_bps: int | None = typer.Option(
        None, "--tolerance-bps", min=0,
        help=f"Allowed |drift| per symbol (default: [execution] tolerance_bps, or {DEFAULT_TOLERANCE_BPS})."),
    config: Path | None = typer.Option(None, "--config", readable=False, help=CONFIG_HELP),
    json_out: bool = typer.Option(False, "--json", help="Print one JSON envelope on stdout."),
) -> None:
    """Per-symbol drift between holdings and TARGET, in basis points of equity.

    Exit codes: 0 within tolerance · 8 out of tolerance or orders still working · 4 invalid input ·
    6 broker unavailable.
    """
    from engine.rebalance.pipeline import target_weights
    from engine.rebalance.reconcile import reconcile as compare
    from engine.rebalance.snapshot import take_snapshot
    from nanobook_cli.composition import make_broker, system_clock
    from nanobook_cli.inputs import load_plan_inputs
    from nanobook_cli.output.console import out
    from nanobook_cli.output.envelope import begin, emit
    from nanobook_cli.output.render import pct, reconcile_table

    begin("reconcile", json_out)
    inputs = load_plan_inputs(target, config)
    band = tolerance_bps if tolerance_bps is not None else (
        inputs.config.execution.tolerance_bps or DEFAULT_TOLERANCE_BPS)
    weights = target_weights(inputs.target)
    broker = make_broker(inputs.config, readonly=True)
    try:
        snap = take_snapshot(broker, sorted(weights), system_clock)
    finally:
        broker.close()
    report = compare(equity=snap.account.equity, cash=snap.account.cash, positions=snap.positions,
                     prices=snap.mids(), targets=weights, tolerance_bps=band, open_orders=snap.open_orders)
    code = 0 if report.within_tolerance else 8
    if json_out:
        emit("ok" if code == 0 else "changes", code, {
            "within_tolerance": report.within_tolerance, "tolerance_bps": band,
            "max_drift_bps": str(report.max_drift_bps), "tracking_error_bps": str(report.tracking_error_bps),
            "equity": str(report.equity), "cash": str(report.cash),
            "rows": [{"symbol": r.symbol, "target_weight": str(r.target_weight),
                      "actual_weight": str(r.actual_weight), "drift_bps": str(r.drift_bps),
                      "target_quantity": str(r.target_quantity), "actual_quantity": str(r.actual_quantity),
                      "status": r.status} for r in report.rows],
            "open_orders": [{"order_id": o.order_id, "client_order_id": o.client_order_id, "symbol": o.symbol,
                             "remaining": str(o.remaining)} for o in report.open_orders]})
    else:
        console = out()
        console.print(reconcile_table(report))
        console.print(f"Cash {pct(report.cash_weight)} · max drift {report.max_drift_bps:.1f} bp · tracking "
                      f"error {report.tracking_error_bps:.1f} bp · band ±{band} bp · "
                      f"{'WITHIN TOLERANCE' if report.within_tolerance else 'OUT OF TOLERANCE'}")
        for o in report.open_orders:
            console.print(f"open order {o.order_id} ({o.client_order_id}) {o.side} {o.remaining} {o.symbol}")
    raise typer.Exit(code)
