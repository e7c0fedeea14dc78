"""`nanobook gateway binance|tws`: serve the working directory's simulated venue over a real venue's wire API.

A Typer sub-app (`app`), 127.0.0.1 only. Runs in the foreground until Ctrl-C; the venue is the same .nanobook/sim.db
that `nanobook sim` manages. The engine is imported inside the commands so `nanobook --help` stays fast.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import typer

app = typer.Typer(
    name="gateway",
    help="Serve the simulated venue over a real venue's wire API, on 127.0.0.1 only (for demos and tests).",
    no_args_is_help=True,
    add_completion=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)


@app.callback()
def gateway() -> None:
    """Serve the simulated venue over a real venue's wire API (127.0.0.1 only)."""
    # A callback keeps `gateway` a group even with a single sub-command, so `gateway binance` parses.


@app.command("binance")
def binance(
    port: int = typer.Option(8765, "--port", min=0, max=65535, help="TCP port on 127.0.0.1 (0 = any free port)."),
    quote_asset: str = typer.Option("USDT", "--quote-asset", help="Quote asset that holds the venue's cash."),
    scenario: str = typer.Option("happy", "--scenario", help="Scripted faults (see --list-scenarios)."),
    list_scenarios: bool = typer.Option(False, "--list-scenarios", help="List the fault scenarios and exit."),
) -> None:
    """Serve a fake Binance spot REST API (signed endpoints, filters, balances) backed by .nanobook/sim.db.

    Keys: NANOBOOK_BINANCE_API_KEY / NANOBOOK_BINANCE_API_SECRET when set (the same variables the binance broker
    reads), else the gateway's public test pair. Point config.toml's [binance] base_url at the printed URL.
    """
    from engine.brokers.gateways.binance import DEFAULT_API_KEY, DEFAULT_API_SECRET, BinanceGateway, ExchangeRules
    from engine.brokers.gateways.binance.scenarios import SCENARIOS, apply_scenario
    from nanobook_cli.output.console import err

    if list_scenarios:
        _print_scenarios({s.name: s.description for s in SCENARIOS.values()})
        return
    if scenario not in SCENARIOS:
        raise typer.BadParameter(f"unknown scenario {scenario!r} (known: {', '.join(SCENARIOS)})",
                                 param_hint="--scenario")
    if not (quote_asset.isascii() and quote_asset.isalnum()):
        raise typer.BadParameter(f"an asset code such as USDT, not {quote_asset!r}", param_hint="--quote-asset")

    key = os.environ.get("NANOBOOK_BINANCE_API_KEY", "").strip() or DEFAULT_API_KEY
    secret = os.environ.get("NANOBOOK_BINANCE_API_SECRET", "").strip() or DEFAULT_API_SECRET
    from engine.errors import BrokerUnavailable
    from nanobook_cli.output.envelope import begin

    begin("gateway", False)
    try:
        gateway = BinanceGateway(Path.cwd(), port=port, api_key=key, api_secret=secret,
                                 rules=ExchangeRules(quote_asset=quote_asset.upper()))
    except OSError as exc:
        raise BrokerUnavailable(f"cannot listen on 127.0.0.1:{port}: {exc.strerror} (pick another --port)") from None
    apply_scenario(gateway, scenario)
    base = f"http://127.0.0.1:{gateway.port}"
    err().print(f"binance gateway: serving {Path.cwd() / '.nanobook' / 'sim.db'} at {base} "
                f"(scenario {scenario}; Ctrl-C stops)", markup=False)
    if key == DEFAULT_API_KEY:
        # Only the built-in public test pair is ever printed; a pair from the environment never is.
        err().print(f"test keys: export NANOBOOK_BINANCE_API_KEY={DEFAULT_API_KEY} "
                    f"NANOBOOK_BINANCE_API_SECRET={DEFAULT_API_SECRET}", markup=False)
    typer.echo(base)
    sys.stdout.flush()  # a supervising process reads the URL from a pipe before the first request
    try:
        gateway.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        gateway.stop_serving()


@app.command("tws")
def tws(
    port: int = typer.Option(7497, "--port", min=0, max=65535, help="TCP port on 127.0.0.1 (0 = any free port)."),
    scenario: str = typer.Option("happy", "--scenario", help="Scripted faults (see --list-scenarios)."),
    account: str = typer.Option("DUFAKE01", "--account", help="Fake account id (must start with DU)."),
    host: str = typer.Option("127.0.0.1", "--host", help="Bind address; anything but 127.0.0.1 is refused."),
    list_scenarios: bool = typer.Option(False, "--list-scenarios", help="List the fault scenarios and exit."),
) -> None:
    """Serve a fake TWS / IB Gateway API (the real ib_async client connects to it) backed by .nanobook/sim.db.

    Point config.toml's [ibkr] host/port at it; the account is a paper-style DU… id. Faults such as a disconnect
    after a partial fill or a nightly-restart window are scripted with --scenario.
    """
    from engine.brokers.gateways.tws import SCENARIOS, TwsGateway
    from engine.brokers.gateways.tws.faults import SCENARIO_HELP
    from engine.errors import BrokerUnavailable
    from nanobook_cli.output.console import err
    from nanobook_cli.output.envelope import begin

    if list_scenarios:
        _print_scenarios({name: SCENARIO_HELP.get(name, "") for name in SCENARIOS})
        return
    if host != "127.0.0.1":
        raise typer.BadParameter(f"the TWS gateway serves 127.0.0.1 only, not {host!r}", param_hint="--host")
    if not account.startswith("DU"):
        raise typer.BadParameter(f"fake accounts start with DU (paper-style), got {account!r}", param_hint="--account")
    if scenario not in SCENARIOS:
        raise typer.BadParameter(f"unknown scenario {scenario!r} (known: {', '.join(SCENARIOS)})",
                                 param_hint="--scenario")
    begin("gateway", False)
    try:
        gateway = TwsGateway(Path.cwd(), port=port, account=account, scenario=None if scenario == "happy" else scenario)
    except OSError as exc:
        raise BrokerUnavailable(f"cannot listen on 127.0.0.1:{port}: {exc.strerror} (pick another --port)") from None
    err().print(f"tws gateway: serving {Path.cwd() / '.nanobook' / 'sim.db'} at 127.0.0.1:{gateway.port} "
                f"as account {account} (scenario {scenario}; Ctrl-C stops)", markup=False)
    typer.echo(f"127.0.0.1:{gateway.port}")
    sys.stdout.flush()  # a supervising process reads the address from a pipe before connecting
    try:
        gateway.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        gateway.stop_serving()


def _print_scenarios(descriptions: dict[str, str]) -> None:
    """One `name  description` line per scenario on stdout."""
    width = max(map(len, descriptions), default=0)
    for name, description in descriptions.items():
        typer.echo(f"{name.ljust(width)}  {description or 'no faults'}")
