"""`nanobook plan TARGET`: a dry run — what the target implies for the account, checked by the risk gate."""

from __future__ import annotations

import sys
from pathlib import Path

import typer

CONFIG_HELP = "config.toml to use (default: ./config.toml, else built-in paper defaults)."


def plan(
    target: Path = typer.Argument(..., readable=False,
                                  help="target.json with the portfolio weights.", show_default=False),
    out_path: Path | None = typer.Option(None, "--out", readable=False,
                                         help="Save the plan (with its input fingerprint) here."),
    config: Path | None = typer.Option(None, "--config", readable=False, help=CONFIG_HELP),
    detailed_exitcode: bool = typer.Option(False, "--detailed-exitcode",
                                           help="Exit 8 when orders are pending, 0 when none."),
    json_out: bool = typer.Option(False, "--json", help="Print one JSON envelope on stdout."),
) -> None:
    """Show the orders that would bring the account to TARGET. Reads only; places nothing.

    Exit codes: 0 ok · 4 invalid config/target · 5 risk check failed · 6 broker unavailable ·
    8 orders pending (with --detailed-exitcode).
    """
    from nanobook_cli.composition import make_broker, system_clock
    from nanobook_cli.inputs import load_plan_inputs
    from nanobook_cli.output.console import out
    from nanobook_cli.output.envelope import begin, emit
    from nanobook_cli.output.render import render_plan

    begin("plan", json_out)
    inputs = load_plan_inputs(target, config)
    from engine.rebalance.pipeline import build_plan

    broker = make_broker(inputs.config, readonly=True)
    try:
        result, _ = build_plan(broker, inputs, system_clock)
    finally:
        broker.close()
    if out_path is not None:
        result.save(out_path)
    from nanobook_cli.output.envelope import warn

    for text in result.warnings:
        warn("plan", text)
    code = 5 if not result.risk_passed else (8 if detailed_exitcode and result.orders else 0)
    status = "risk_rejected" if not result.risk_passed else ("changes" if result.orders else "ok")
    failed = [f"{c['name']}: {c.get('detail', '')}" for c in result.risk if c.get("status") == "FAIL"]
    if json_out:
        emit(status, code, {**result.to_dict(), "saved_to": str(out_path) if out_path else None},
             errors=[{"type": "RiskRejected", "message": f"risk check failed: {m}"} for m in failed])
    else:
        render_plan(out(), result, saved_to=str(out_path) if out_path else None)
    if failed:  # the table shows every check; the error line is what a script's log keeps
        sys.stderr.write(f"nanobook plan: error: risk check failed: {'; '.join(failed)}\n")
    raise typer.Exit(code)
