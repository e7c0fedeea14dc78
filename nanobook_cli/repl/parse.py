"""REPL grammar: one input line → one typed command. Pure: no I/O, no engine calls, no printing.

Money is typed in dollars and must be exact cents; it leaves this module as integer ticks (cents).
"""

from __future__ import annotations

import math
import re
import shlex
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from typing import Final

from engine.lob.types import PRICE_MAX, U64_MAX


class ReplInputError(ValueError):
    """A line the REPL cannot run; the message is shown to the operator as is."""


@dataclass(frozen=True)
class Limit:
    side: str
    price: int
    qty: int
    tif: str = "gtc"


@dataclass(frozen=True)
class Market:
    side: str
    qty: int


@dataclass(frozen=True)
class Stop:
    side: str
    stop: int
    qty: int
    limit: int | None = None


@dataclass(frozen=True)
class Trail:
    side: str
    stop: int
    qty: int
    method: str  # engine names: "fixed" (ticks), "percentage" (fraction), "sma_abs_change" (multiplier)
    value: float | int
    period: int | None = None
    limit: int | None = None


@dataclass(frozen=True)
class Cancel:
    order_id: int


@dataclass(frozen=True)
class Modify:
    order_id: int
    price: int
    qty: int


@dataclass(frozen=True)
class Book:
    pass


@dataclass(frozen=True)
class Depth:
    levels: int = 5


@dataclass(frozen=True)
class Trades:
    last: int | None = None


@dataclass(frozen=True)
class Save:
    path: str


@dataclass(frozen=True)
class Load:
    path: str


@dataclass(frozen=True)
class Help:
    topic: str | None = None


@dataclass(frozen=True)
class Quit:
    pass


Command = Limit | Market | Stop | Trail | Cancel | Modify | Book | Depth | Trades | Save | Load | Help | Quit

# (name, usage, summary): the single source for `help`, `nanobook repl --help` wording and tab completion.
COMMANDS: Final = (
    ("buy", "buy <price> <qty> [ioc|fok]", "limit buy at a dollar price (100.50); rests unless ioc/fok"),
    ("sell", "sell <price> <qty> [ioc|fok]", "limit sell"),
    ("market", "market <buy|sell> <qty>", "market order: takes what is there, never rests"),
    ("stop", "stop <buy|sell> <stop> <qty> [limit <price>]",
     "stop-market (or stop-limit with 'limit'), fired by the last trade price"),
    ("trail", "trail <buy|sell> <stop> <qty> fixed <amount>|pct <fraction>|sma <multiplier> <period> "
     "[limit <price>]", "trailing stop that ratchets with the market"),
    ("cancel", "cancel <id>", "cancel a resting order or pending stop (3 or O3)"),
    ("modify", "modify <id> <price> <qty>", "cancel-and-replace: new id, back of the queue; may trade"),
    ("book", "book", "every price level, bids and asks side by side"),
    ("depth", "depth [n]", "the best n levels per side (default 5)"),
    ("trades", "trades [n]", "every trade, or the last n"),
    ("save", "save <path>", "write the event log (JSON lines)"),
    ("load", "load <path>", "replace the book by replaying a file (event log or oracle dialect)"),
    ("help", "help [command]", "this list, or one command's usage"),
    ("quit", "quit", "leave (also: exit, Ctrl-D)"),
)
USAGE: Final = {name: usage for name, usage, _ in COMMANDS}
ALIASES: Final = {"exit": "quit", "?": "help"}
SIDES: Final = {"buy": "buy", "b": "buy", "sell": "sell", "s": "sell"}
TIFS: Final = ("gtc", "ioc", "fok")
TRAIL_METHODS: Final = ("fixed", "pct", "sma")

_MONEY = re.compile(r"\$?([0-9]+(?:\.[0-9]{1,2})?|\.[0-9]{1,2})")
_DECIMAL = re.compile(r"[0-9]+(?:\.[0-9]+)?|\.[0-9]+")
_WHOLE = re.compile(r"[0-9]+")
_ORDER_ID = re.compile(r"[Oo]?([0-9]+)")


def parse_line(line: str) -> Command | None:
    """Parse one input line; None for a blank line or a `#` comment. ReplInputError says what is wrong."""
    try:
        words = shlex.split(line, comments=True)
    except ValueError as exc:  # shlex: "No closing quotation"
        raise ReplInputError(f"cannot split the line: {exc}") from None
    if not words:
        return None
    name = words[0].lower()
    name = ALIASES.get(name, name)
    parser = _PARSERS.get(name)
    if parser is None:
        shown = words[0] if len(words[0]) <= 40 else words[0][:40] + "…"  # a pasted blob is not echoed whole
        raise ReplInputError(f"unknown command {shown!r} (try 'help')")
    return parser(name, words[1:])


# ------------------------------------------------------------------------------------------ values

def parse_money(text: str, what: str = "price") -> int:
    """Dollars with at most 2 decimals ("100.50", "$7", ".25") → positive integer cents."""
    match = _MONEY.fullmatch(text)
    # A regex before Decimal: Decimal alone would also take "NaN", "1e3", "1_000" and non-ASCII digits.
    ticks = int(Decimal(match.group(1)) * 100) if match else 0
    if ticks <= 0:
        raise ReplInputError(f"{what} must be a positive amount with at most 2 decimals: {text!r}")
    if ticks > PRICE_MAX:
        raise ReplInputError(f"{what} is too large: {text!r}")
    return ticks


def parse_qty(text: str, what: str = "quantity") -> int:
    """A positive whole number of lots within the engine's unsigned 64-bit range."""
    value = int(text) if _WHOLE.fullmatch(text) else 0
    if value <= 0:
        raise ReplInputError(f"{what} must be a positive whole number: {text!r}")
    if value > U64_MAX:
        raise ReplInputError(f"{what} is too large: {text!r}")
    return value


def parse_order_id(text: str) -> int:
    """An order id as printed ("O3") or bare ("3")."""
    match = _ORDER_ID.fullmatch(text)
    value = int(match.group(1)) if match else 0
    if not 0 < value <= U64_MAX:
        raise ReplInputError(f"order id must look like 3 or O3: {text!r}")
    return value


def parse_side(text: str) -> str:
    """buy/sell (or b/s), any case."""
    side = SIDES.get(text.lower())
    if side is None:
        raise ReplInputError(f"side must be buy or sell: {text!r}")
    return side


def _positive_decimal(text: str, what: str) -> Decimal:
    if not _DECIMAL.fullmatch(text) or Decimal(text) <= 0:
        raise ReplInputError(f"{what} must be a positive number: {text!r}")
    if not math.isfinite(float(text)):  # the engine takes a float; an infinite one would not survive save/load
        raise ReplInputError(f"{what} is too large: {text!r}")
    return Decimal(text)


# ------------------------------------------------------------------------------------------ commands

def _usage(name: str) -> ReplInputError:
    return ReplInputError(f"usage: {USAGE[name]}")


def _limit(name: str, args: list[str]) -> Command:
    if len(args) not in (2, 3):
        raise _usage(name)
    tif = args[2].lower() if len(args) == 3 else "gtc"
    if tif not in TIFS:
        raise ReplInputError(f"time in force must be ioc or fok (default: rests until cancelled): {args[2]!r}")
    return Limit(name, parse_money(args[0]), parse_qty(args[1]), tif)


def _market(name: str, args: list[str]) -> Command:
    if len(args) != 2:
        raise _usage(name)
    return Market(parse_side(args[0]), parse_qty(args[1]))


def _limit_suffix(name: str, args: list[str]) -> int | None:
    """The optional trailing `limit <price>` of stop and trail."""
    if not args:
        return None
    if len(args) != 2 or args[0].lower() != "limit":
        raise _usage(name)
    return parse_money(args[1], "limit price")


def _stop(name: str, args: list[str]) -> Command:
    if len(args) not in (3, 5):
        raise _usage(name)
    return Stop(parse_side(args[0]), parse_money(args[1], "stop price"), parse_qty(args[2]),
                _limit_suffix(name, args[3:]))


def _trail(name: str, args: list[str]) -> Command:
    if len(args) < 5:
        raise _usage(name)
    side, stop, qty = parse_side(args[0]), parse_money(args[1], "stop price"), parse_qty(args[2])
    method, rest = args[3].lower(), args[4:]
    if method == "fixed":
        return Trail(side, stop, qty, "fixed", parse_money(rest[0], "trail amount"),
                     limit=_limit_suffix(name, rest[1:]))
    if method == "pct":
        fraction = _positive_decimal(rest[0], "trail fraction")
        if fraction >= 1:
            raise ReplInputError(f"trail fraction must be below 1 (0.05 = 5%): {rest[0]!r}")
        return Trail(side, stop, qty, "percentage", float(fraction), limit=_limit_suffix(name, rest[1:]))
    if method == "sma" and len(rest) >= 2:
        multiplier = _positive_decimal(rest[0], "trail multiplier")
        period = parse_qty(rest[1], "trail period")
        return Trail(side, stop, qty, "sma_abs_change", float(multiplier), period, _limit_suffix(name, rest[2:]))
    raise _usage(name)


def _cancel(name: str, args: list[str]) -> Command:
    if len(args) != 1:
        raise _usage(name)
    return Cancel(parse_order_id(args[0]))


def _modify(name: str, args: list[str]) -> Command:
    if len(args) != 3:
        raise _usage(name)
    return Modify(parse_order_id(args[0]), parse_money(args[1]), parse_qty(args[2]))


def _no_args(name: str, args: list[str]) -> Command:
    if args:
        raise _usage(name)
    return Book() if name == "book" else Quit()


def _count(name: str, args: list[str]) -> Command:
    if len(args) > 1:
        raise _usage(name)
    what = "levels" if name == "depth" else "count"
    n = parse_qty(args[0], what) if args else None
    return (Depth() if n is None else Depth(n)) if name == "depth" else Trades(n)


def _path(name: str, args: list[str]) -> Command:
    if len(args) != 1:
        raise _usage(name)
    return Save(args[0]) if name == "save" else Load(args[0])


def _help(name: str, args: list[str]) -> Command:
    if len(args) > 1:
        raise _usage(name)
    topic = ALIASES.get(args[0].lower(), args[0].lower()) if args else None
    if topic is not None and topic not in USAGE:
        raise ReplInputError(f"no help for {args[0]!r}: not a command (try 'help')")
    return Help(topic)


_PARSERS: Final[dict[str, Callable[[str, list[str]], Command]]] = {
    "buy": _limit, "sell": _limit, "market": _market, "stop": _stop, "trail": _trail, "cancel": _cancel,
    "modify": _modify, "book": _no_args, "quit": _no_args, "depth": _count, "trades": _count,
    "save": _path, "load": _path, "help": _help,
}
