"""One-line human renderings of order-book results for the REPL. Pure text: no engine calls, no printing.

Layout of a submission: "<what traded> · <where the order ended up>", e.g.
"filled 50 @ $101.00–$102.00 (2 trades) · O4 cancelled 20"; ids print as O<n>, trades as T<n>.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from engine.lob.types import format_price

if TYPE_CHECKING:
    from engine.lob.results import Trade
    from nanobook_cli.repl.parse import Stop, Trail


def plural(n: int, word: str) -> str:
    """`1 trade`, `2 trades` (thousands separators)."""
    return f"{n:,} {word}{'' if n == 1 else 's'}"


def price_range(trades: Sequence[Trade]) -> str:
    """`$101.00`, or `$101.00–$102.00` when the fills span several prices."""
    low, high = min(t.price for t in trades), max(t.price for t in trades)
    return format_price(low) if low == high else f"{format_price(low)}–{format_price(high)}"


def fills(trades: Sequence[Trade], filled: int, tif: str = "gtc") -> str:
    """What a submission traded, or `no fill` (tagged with the time in force that killed the rest)."""
    if not trades:
        return "no fill" if tif == "gtc" else f"no fill ({tif})"
    return f"filled {filled:,} @ {price_range(trades)} ({plural(len(trades), 'trade')})"


def disposition(order_id: int, price: int | None, resting: int, cancelled: int) -> str:
    """Where the order ended up: resting on the book, its remainder cancelled, or complete."""
    if resting:
        where = f" @ {format_price(price)}" if price is not None else ""
        return f"O{order_id} resting {resting:,}{where}"
    if cancelled:
        return f"O{order_id} cancelled {cancelled:,}"
    return f"O{order_id} complete"


def submission(order_id: int, price: int | None, tif: str, trades: Sequence[Trade],
               filled: int, resting: int, cancelled: int) -> str:
    """Summary of a limit or market submission (price None for market orders)."""
    state = disposition(order_id, price, resting, cancelled)
    if not trades and resting:
        return state  # a plain resting order: "O3 resting 100 @ $100.50"
    return f"{fills(trades, filled, tif)} · {state}"


def cascade(stops_fired: int, extra_trades: int) -> str:
    """Suffix for stops fired by a command's trades (their trades are not the order's own)."""
    if not stops_fired and not extra_trades:
        return ""
    return f" · {plural(stops_fired, 'stop')} fired ({plural(extra_trades, 'trade')})"


def stop_order(order_id: int, command: Stop | Trail, status: str) -> str:
    """`O5 stop sell 10 @ $99.00 pending` (stop-limit and trailing details included)."""
    from nanobook_cli.repl.parse import Trail

    kind = "trailing stop" if isinstance(command, Trail) else "stop"
    text = f"O{order_id} {kind} {command.side} {command.qty:,} @ {format_price(command.stop)}"
    if command.limit is not None:
        text += f" limit {format_price(command.limit)}"
    if isinstance(command, Trail):
        text += f" ({trail_method(command)})"
    return f"{text} {status.lower()}"


def trail_method(command: Trail) -> str:
    """The trail as typed: `trail $1.00`, `trail 5%`, `trail 2× mean |Δp| over 14`."""
    if command.method == "fixed":
        return f"trail {format_price(int(command.value))}"
    if command.method == "percentage":
        return f"trail {command.value * 100:g}%"
    return f"trail {command.value:g}× mean |Δp| over {command.period}"


def trade(t: Trade) -> str:
    """`T1 50 @ $101.00 buy O2←O1`: aggressor side, aggressor ← passive order."""
    return (f"T{t.trade_id} {t.quantity:,} @ {format_price(t.price)} {t.aggressor_side} "
            f"O{t.aggressor_order_id}←O{t.passive_order_id}")


def top_of_book(bid: int | None, ask: int | None, last: int | None, resting: int, stops: int) -> str:
    """One line under `book`/`depth`: BBO, spread, last trade, order counts."""
    parts = [f"bid {_opt(bid)}", f"ask {_opt(ask)}"]
    if bid is not None and ask is not None:
        parts.append(f"spread {format_price(ask - bid)}")
    parts += [f"last {_opt(last)}", f"{plural(resting, 'resting order')}", plural(stops, "pending stop")]
    return " · ".join(parts)


def _opt(price: int | None) -> str:
    return "—" if price is None else format_price(price)


def help_lines(commands: Sequence[tuple[str, str, str]], topic: str | None) -> list[str]:
    """`help`: usage and summary per command; `help <cmd>`: that command only."""
    if topic is not None:
        return [f"{usage}  —  {summary}" for name, usage, summary in commands if name == topic]
    width = max(len(usage) for _, usage, _ in commands if len(usage) <= 32)
    lines = [f"  {usage:<{width}}  {summary}" if len(usage) <= width else f"  {usage}\n  {'':<{width}}  {summary}"
             for _, usage, summary in commands]
    return ["commands (prices in dollars with at most 2 decimals; ids as 3 or O3):", *lines]
