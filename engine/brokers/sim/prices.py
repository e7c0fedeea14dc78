"""Reference-price tables for the simulated venue: the bundled `prices.csv`, user CSV files, price and symbol parsing.

A table is `symbol,price` per line; an optional `symbol,price` header, blank lines and `#` comments are skipped.
Every bad line is reported (`FILE:LINE: reason`); prices are rounded to the 0.01 tick and must be positive.
"""

from __future__ import annotations

import csv
import io
import re
from decimal import ROUND_HALF_EVEN, Decimal, InvalidOperation
from importlib import resources
from pathlib import Path

from engine.brokers.sim import params
from engine.brokers.sim.errors import VenueInputError

SYMBOL_RE = re.compile(r"^[A-Z0-9][A-Z0-9._/-]{0,31}$")
_MAX_ISSUES = 20


def normalize_symbol(text: str) -> str:
    """Upper-case and validate a ticker (letters, digits and . _ / -, at most 32 characters)."""
    symbol = text.strip().upper()
    if not SYMBOL_RE.match(symbol):
        raise VenueInputError(f"invalid symbol {text!r}: use letters, digits and . _ / - (at most 32 characters)")
    return symbol


def price_to_ticks(value: Decimal | str | int | float) -> int:
    """A positive price rounded (half-even) to the 0.01 tick, as integer ticks; VenueInputError otherwise."""
    if isinstance(value, float):
        value = repr(value)
    try:
        amount = value if isinstance(value, Decimal) else Decimal(str(value).strip().replace("_", ""))
    except InvalidOperation:
        raise VenueInputError(f"price {value!r} is not a number (e.g. 185.25)") from None
    if not amount.is_finite():
        raise VenueInputError(f"price {value!r} must be a finite number")
    if amount <= 0:
        raise VenueInputError(f"price must be positive, got {value}")
    limit = params.MAX_PRICE_TICKS // params.TICKS_PER_UNIT
    # Checked before rounding: quantize() cannot even represent a tick count past the context's 28 digits.
    if amount > (params.MAX_PRICE_TICKS + 1) * params.TICK:
        raise VenueInputError(f"price {value} is implausibly large (limit {limit:,})")
    ticks = int((amount / params.TICK).quantize(Decimal(1), rounding=ROUND_HALF_EVEN))
    if ticks < 1:
        raise VenueInputError(f"price {value} is below one tick ({params.TICK})")
    if ticks > params.MAX_PRICE_TICKS:
        raise VenueInputError(f"price {value} is implausibly large (limit {limit:,})")
    return ticks


def ticks_to_price(ticks: int) -> Decimal:
    """Integer ticks as a Decimal price with two places."""
    return (Decimal(ticks) * params.TICK).quantize(params.TICK)


def parse_price_table(text: str, source: str = "<prices>") -> dict[str, int]:
    """Parse a `symbol,price` table into {symbol: ticks}; VenueInputError naming every bad line."""
    table: dict[str, int] = {}
    first_line: dict[str, int] = {}
    issues: list[str] = []
    seen_data = False
    for lineno, row in enumerate(csv.reader(io.StringIO(text)), start=1):
        cells = [c.strip() for c in row]
        if not cells or all(not c for c in cells) or cells[0].startswith("#"):
            continue
        if not seen_data and [c.lower() for c in cells] == ["symbol", "price"]:
            seen_data = True
            continue
        seen_data = True
        if len(cells) != 2:
            issues.append(f"{source}:{lineno}: expected 2 columns 'symbol,price', got {len(cells)}: {','.join(row)!r}")
            continue
        try:
            symbol = normalize_symbol(cells[0])
            ticks = price_to_ticks(cells[1])
        except VenueInputError as exc:
            issues.append(f"{source}:{lineno}: {exc}")
            continue
        if symbol in table:
            issues.append(f"{source}:{lineno}: duplicate symbol {symbol} (first on line {first_line[symbol]})")
            continue
        table[symbol] = ticks
        first_line[symbol] = lineno
    if issues:
        more = f" (and {len(issues) - 1} more)" if len(issues) > 1 else ""
        raise VenueInputError(issues[0] + more, issues[:_MAX_ISSUES])
    if not table:
        raise VenueInputError(f"{source}: no prices found (expected lines of 'symbol,price')")
    return table


def load_price_file(path: Path) -> dict[str, int]:
    """Read and parse a user price table; VenueInputError when unreadable or malformed."""
    try:
        text = path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        raise VenueInputError(f"cannot read price table {path}: {exc}") from None
    return parse_price_table(text, str(path))


def bundled_prices() -> dict[str, int]:
    """The bundled table (about 100 well-known US tickers, including AAPL MSFT AMZN GOOGL JPM XOM JNJ PG)."""
    text = resources.files("engine.brokers.sim").joinpath("prices.csv").read_text(encoding="utf-8")
    return parse_price_table(text, "prices.csv")
