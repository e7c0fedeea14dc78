"""`nanobook gateway binance`: serve the working directory's simulated venue as a Binance spot REST API on 127.0.0.1.

A Typer sub-app (`app`). Runs in the foreground until Ctrl-C; the venue is the same .nanobook/sim.db that
`nanobook sim` manages. The engine is imported inside the command so `nanobook --help` stays fast.
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
) -> None:
    """Serve a fake Binance spot REST API (signed endpoints, filters, balances) backed by .nanobook/sim.db.

    Keys: NANOBOOK_BINANCE_API_KEY / NANOBOOK_BINANCE_API_SECRET when set (the same variables the binance broker
    reads), else the gateway's public test pair. Point config.toml's [binance] base_url at the printed URL.
    """
    from engine.brokers.gateways.binance import DEFAULT_API_KEY, DEFAULT_API_SECRET, BinanceGateway, ExchangeRules
    from nanobook_cli.output.console import err

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
    base = f"http://127.0.0.1:{gateway.port}"
    err().print(f"binance gateway: serving {Path.cwd() / '.nanobook' / 'sim.db'} at {base} (Ctrl-C stops)",
                markup=False)
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
