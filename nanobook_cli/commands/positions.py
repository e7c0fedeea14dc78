"""`nanobook positions`: account summary and holdings valued at mid. Reads only."""

from __future__ import annotations

from pathlib import Path

import typer

from nanobook_cli.commands.plan import CONFIG_HELP


def positions(
    config: Path | None = typer.Option(None, "--config", readable=False, help=CONFIG_HELP),
    json_out: bool = typer.Option(False, "--json", help="Print one JSON envelope on stdout."),
) -> None:
    """Show the account and its positions. Exit codes: 0 ok · 4 invalid config · 6 broker unavailable."""
    from nanobook_cli.composition import make_broker, system_clock
    from nanobook_cli.inputs import load_config_for
    from nanobook_cli.output.console import out
    from nanobook_cli.output.envelope import begin, emit
    from nanobook_cli.output.render import positions_table

    begin("positions", json_out)
    loaded = load_config_for(config, quiet=json_out)
    from engine.rebalance.snapshot import take_snapshot

    broker = make_broker(loaded.config, readonly=True)
    try:
        snap = take_snapshot(broker, [], system_clock)
    finally:
        broker.close()
    prices = snap.mids()
    if json_out:
        account = snap.account
        emit("ok", 0, {"account": {"account_id": account.account_id, "currency": account.currency,
                                   "cash": str(account.cash), "equity": str(account.equity),
                                   "buying_power": str(account.buying_power), "kind": account.kind,
                                   "paper": account.paper},
                       "positions": [{"symbol": p.symbol, "quantity": str(p.quantity), "avg_cost": str(p.avg_cost),
                                      "price": str(prices[p.symbol]) if p.symbol in prices else None}
                                     for p in sorted(snap.positions.values(), key=lambda p: p.symbol)]})
        return
    out().print(positions_table(snap.account, snap.positions.values(), prices))
