"""`nanobook sim ...`: manage the simulated venue (the default broker) in .nanobook/sim.db of the working directory.

A Typer sub-app (`app`). Results go to stdout (rich tables, or one JSON envelope with --json); notes to stderr.
The engine is imported inside the commands so `nanobook --help` stays fast.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer

if TYPE_CHECKING:
    from decimal import Decimal

    from engine.brokers.sim.venue import SimVenue, StepReport

app = typer.Typer(
    name="sim",
    help="Manage the simulated venue (the default broker): a persistent, deterministic market in "
    ".nanobook/sim.db of the working directory. First use creates it with $1,000,000 and ~100 bundled US "
    "tickers.\n\nExit codes: 0 ok · 2 usage · 4 bad input (unknown symbol, bad price, bad CSV) · "
    "6 venue unavailable.",
    no_args_is_help=True,
    add_completion=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)

_JSON_HELP = "Print one JSON envelope on stdout."


def _venue(auto_init: bool = True) -> SimVenue:
    from engine.brokers.sim.venue import SimVenue

    return SimVenue(Path.cwd(), auto_init=auto_init)


def _note_created(venue: SimVenue) -> None:
    """Say on stderr (and in the envelope) that this command created the venue."""
    if not venue.initialised_now:
        return
    from nanobook_cli.output.console import err
    from nanobook_cli.output.envelope import warn

    message = f"created a new simulated venue at {_rel(venue.path)} ($1,000,000.00 and the bundled prices)"
    warn("sim_created", message, path=str(venue.path))
    err().print(f"note: {message}", markup=False)


def _rel(path: Path) -> str:
    try:
        return str(path.relative_to(Path.cwd()))
    except ValueError:
        return str(path)


def _parse_cash(text: str) -> Decimal:
    from decimal import Decimal, InvalidOperation

    from engine.brokers.sim.errors import VenueInputError

    cleaned = text.strip().lstrip("$").replace(",", "").replace("_", "")
    try:
        amount = Decimal(cleaned)
    except InvalidOperation:
        raise VenueInputError(f"--cash {text!r} is not an amount (e.g. 1000000 or 250,000.50)") from None
    if not amount.is_finite() or amount < 0:
        raise VenueInputError(f"--cash must be a non-negative amount, got {text!r}")
    return amount


# ------------------------------------------------------------------------------------------ commands


@app.command("init")
def init(
    cash: str = typer.Option("1000000", "--cash", metavar="AMOUNT", help="Starting cash in USD."),
    prices: Path | None = typer.Option(
        None, "--prices", metavar="CSV", show_default=False,
        readable=False, help="Price table (lines of 'symbol,price'; optional header) overlaid on the bundled table."),
    bundled: bool = typer.Option(True, "--bundled/--no-bundled",
                                 help="Start from the bundled ~100-ticker table (--no-bundled: only --prices)."),
    seed: int | None = typer.Option(None, "--seed", help="Seed of the liquidity and the random walk (default 7)."),
    allow_short: bool = typer.Option(False, "--allow-short", help="Allow selling more than held (margin account)."),
    force: bool = typer.Option(False, "--force", help="Replace an existing venue (its orders and fills are lost)."),
    json_out: bool = typer.Option(False, "--json", help=_JSON_HELP),
) -> None:
    """Create the simulated venue here (.nanobook/sim.db). Refuses to replace one unless --force.

    Example: nanobook sim init --cash 250000 --prices prices.csv
    """
    from nanobook_cli.output.envelope import begin, emit

    begin("sim init", json_out)
    from engine.brokers.sim import params
    from engine.brokers.sim.prices import load_price_file

    amount = _parse_cash(cash)
    table = load_price_file(prices) if prices is not None else None
    venue = _venue(auto_init=False)
    data = venue.init(amount, table, seed=params.DEFAULT_SEED if seed is None else seed, allow_short=allow_short,
                      replace=force, bundled=bundled)
    if json_out:
        emit("ok", 0, data)
    else:
        _print_summary("Created the simulated venue", data)


@app.command("reset")
def reset(json_out: bool = typer.Option(False, "--json", help=_JSON_HELP)) -> None:
    """Restart the venue: step 0, the initial cash and prices; orders, fills and positions cleared."""
    from nanobook_cli.output.envelope import begin, emit

    begin("sim reset", json_out)
    venue = _venue()
    data = venue.reset()
    _note_created(venue)
    if json_out:
        emit("ok", 0, data)
    else:
        _print_summary("Reset the simulated venue", data)


@app.command("set-price", context_settings={"ignore_unknown_options": True})
def set_price(
    symbol: str = typer.Argument(..., help="Ticker, e.g. AAPL (listed if new).", show_default=False),
    price: str = typer.Argument(..., help="Reference price in USD, e.g. 185.25.", show_default=False),
    json_out: bool = typer.Option(False, "--json", help=_JSON_HELP),
) -> None:
    """Move a symbol's reference price (or list a new symbol); resting orders it crosses fill.

    Example: nanobook sim set-price ZZZ 12.50
    """
    from nanobook_cli.output.envelope import begin, emit

    begin("sim set-price", json_out)
    from engine.brokers.sim.prices import normalize_symbol, price_to_ticks
    from engine.brokers.sim.venue import fill_dict

    normalize_symbol(symbol)          # validate the input before touching the venue
    price_to_ticks(price)
    venue = _venue()
    update = venue.set_price(symbol, price)
    _note_created(venue)
    data: dict[str, Any] = {"symbol": update.symbol, "added": update.added,
            "old_price": None if update.old_price is None else str(update.old_price),
            "price": str(update.price), "fills": [fill_dict(f) for f in update.fills]}
    if json_out:
        emit("ok", 0, data)
        return
    from nanobook_cli.output.console import out

    if update.added:
        out().print(f"Listed {update.symbol} at {update.price:,.2f}")
    else:
        out().print(f"{update.symbol} {update.old_price:,.2f} → {update.price:,.2f}")
    _print_fills(data["fills"])


@app.command("step")
def step(
    n: int = typer.Argument(1, min=1, max=1_000_000, help="How many steps to advance."),
    json_out: bool = typer.Option(False, "--json", help=_JSON_HELP),
) -> None:
    """Advance the simulated market N steps; resting orders the market reaches fill.

    Each step moves every reference price a little (a seeded random walk), refreshes the venue's liquidity and
    re-matches resting orders.
    """
    from nanobook_cli.output.envelope import begin, emit

    begin("sim step", json_out)
    from engine.brokers.sim.venue import fill_dict

    venue = _venue()
    report = _with_progress(venue, n)
    _note_created(venue)
    data: dict[str, Any] = {"from_step": report.from_step, "to_step": report.to_step,
                            "fills": [fill_dict(f) for f in report.fills]}
    if json_out:
        emit("ok", 0, data)
        return
    from nanobook_cli.output.console import out

    count = len(report.fills)
    out().print(f"Stepped {report.from_step} → {report.to_step}: {count} fill{'' if count == 1 else 's'}")
    _print_fills(data["fills"])


@app.command("show")
def show(
    book: str | None = typer.Option(None, "--book", metavar="SYMBOL", help="Also show this symbol's book."),
    depth: int = typer.Option(10, "--depth", min=1, max=100, help="Book levels per side with --book."),
    json_out: bool = typer.Option(False, "--json", help=_JSON_HELP),
) -> None:
    """The venue, the account (cash, equity at mid), positions, open orders and optionally one book."""
    from nanobook_cli.output.envelope import begin, emit

    begin("sim show", json_out)
    venue = _venue()
    symbol = None
    if book is not None:
        from engine.brokers.sim.prices import normalize_symbol

        symbol = normalize_symbol(book)
    data = venue.show(symbol, depth)
    _note_created(venue)
    if json_out:
        emit("ok", 0, data)
    else:
        _print_show(data)


@app.command("orders")
def orders(
    open_only: bool = typer.Option(False, "--open", help="Only working orders."),
    json_out: bool = typer.Option(False, "--json", help=_JSON_HELP),
) -> None:
    """Every order the venue ever received (client order id, status, filled), oldest first."""
    from nanobook_cli.output.envelope import begin, emit

    begin("sim orders", json_out)
    venue = _venue()
    rows = venue.orders_data(open_only)
    _note_created(venue)
    if json_out:
        emit("ok", 0, {"count": len(rows), "orders": rows})
    else:
        _print_orders(rows, title=None)


# ------------------------------------------------------------------------------------------ rendering


def _with_progress(venue: SimVenue, n: int) -> StepReport:
    from nanobook_cli.output.console import err, stderr_is_tty

    if n < 50 or not stderr_is_tty():
        return venue.step(n)
    from rich.progress import BarColumn, MofNCompleteColumn, Progress

    from engine.brokers.sim.venue import StepReport

    fills: list[Any] = []
    first = None
    last = 0
    with Progress("steps", BarColumn(), MofNCompleteColumn(), console=err(), transient=True) as bar:
        task = bar.add_task("steps", total=n)
        for _ in range(n):
            r = venue.step(1)
            first = r.from_step if first is None else first
            last = r.to_step
            fills += r.fills
            bar.advance(task)
    return StepReport(from_step=first if first is not None else last, to_step=last, fills=fills)


def _money(text: str | None) -> str:
    if text is None:
        return "—"
    from decimal import Decimal

    return f"{Decimal(text):,.2f}"


def _exact(text: str | None) -> str:
    """An average price or cost at full precision (at least cents): 185.0583, 409.50."""
    if text is None:
        return "—"
    from decimal import Decimal

    return f"{Decimal(text):,}"


def _qty(text: str) -> str:
    from decimal import Decimal

    return f"{Decimal(text):,}"


def _print_summary(title: str, data: dict[str, Any]) -> None:
    from nanobook_cli.output.console import out

    out().print(f"{title} at {_rel(Path(data['path']))}: cash {_money(data['cash'])} · {data['symbols']} symbols · "
                f"seed {data['seed']} · step {data['step']}{' · shorting allowed' if data['allow_short'] else ''}")


def _print_fills(fills: list[dict[str, Any]]) -> None:
    if not fills:
        return
    from rich.table import Table

    from nanobook_cli.output.console import out

    table = Table(title="Fills", show_edge=False, title_justify="left")
    for name, justify in (("fill", "left"), ("order", "left"), ("client order id", "left"), ("symbol", "left"),
                          ("side", "left"), ("qty", "right"), ("price", "right"), ("commission", "right")):
        table.add_column(name, justify=justify)  # type: ignore[arg-type]
    for f in fills:
        table.add_row(f["fill_id"], f["order_id"], f["client_order_id"], f["symbol"], f["side"], _qty(f["quantity"]),
                      _money(f["price"]), f["commission"])
    out().print(table)


def _print_orders(rows: list[dict[str, Any]], title: str | None) -> None:
    from rich.table import Table

    from nanobook_cli.output.console import out

    if not rows:
        out().print("no orders" if title is None else f"{title}: none")
        return
    table = Table(title=title, show_edge=False, title_justify="left")
    for name, justify in (("order", "left"), ("client order id", "left"), ("symbol", "left"), ("side", "left"),
                          ("qty", "right"), ("limit", "right"), ("filled", "right"), ("avg price", "right"),
                          ("status", "left")):
        table.add_column(name, justify=justify)  # type: ignore[arg-type]
    for o in rows:
        status = o["status"] + (f" ({o['reason']})" if o.get("reason") and o["status"] == "rejected" else "")
        table.add_row(o["order_id"], o["client_order_id"], o["symbol"], o["side"], _qty(o["quantity"]),
                      _money(o["limit_price"]), _qty(o["filled_quantity"]), _exact(o["avg_fill_price"]), status)
    out().print(table)


def _print_show(data: dict[str, Any]) -> None:
    from rich.table import Table

    from nanobook_cli.output.console import out

    console = out()
    v, a = data["venue"], data["account"]
    console.print(f"Simulated venue {_rel(Path(v['path']))} · step {v['step']} · seed {v['seed']} · "
                  f"{v['symbols']} symbols · {v['orders']} orders ({v['open_orders']} open) · {v['fills']} fills")
    console.print(f"Account {a['account_id']} ({a['kind']}, {a['currency']}): cash {_money(a['cash'])} · "
                  f"equity {_money(a['equity'])} · buying power {_money(a['buying_power'])}")
    if data["positions"]:
        table = Table(title="Positions", show_edge=False, title_justify="left")
        for name in ("symbol", "qty", "avg cost", "mid", "market value", "unrealized P&L"):
            table.add_column(name, justify="left" if name == "symbol" else "right")
        for p in data["positions"]:
            table.add_row(p["symbol"], _qty(p["quantity"]), _exact(p["avg_cost"]), _money(p["mid"]),
                          _money(p["market_value"]), _money(p["unrealized_pnl"]))
        console.print(table)
    else:
        console.print("Positions: none")
    _print_orders(data["open_orders"], title="Open orders")
    book = data.get("book")
    if book is not None:
        from engine.lob.results import new_level
        from nanobook_cli.output.book import book_table

        def levels(side: list[dict[str, Any]]) -> list[Any]:
            from decimal import Decimal

            return [new_level(int(Decimal(lv["price"]) * 100), int(lv["quantity"]), lv["order_count"])
                    for lv in side]

        console.print(book_table(levels(book["bids"]), levels(book["asks"]),
                                 title=f"{book['symbol']} book (reference {book['reference']}, step {book['step']})"))
