"""The pre-trade snapshot: account, positions, quotes, instruments and open orders read from a broker.

Reads only; quote staleness is judged from the quote's *source* timestamp against an injected clock.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Protocol, TypeVar

from engine.brokers.base import Account, Broker, BrokerOrder, Instrument, Position, Quote

T = TypeVar("T")


class StepRunner(Protocol):
    """Wraps one broker read (the run pipeline writes an intent/result audit pair around it)."""

    def __call__(self, name: str, fn: Callable[[], T], **intent: object) -> T:
        """Run `fn` as step `name` (`intent`: what the intent event records) and return its result."""
        ...


def _direct(name: str, fn: Callable[[], T], **intent: object) -> T:
    return fn()


# A quote stamped this far in the future is treated as a clock problem, not as fresh data.
FUTURE_SKEW = timedelta(seconds=5)


@dataclass(frozen=True, slots=True)
class Snapshot:
    """Everything the diff and the risk gate need, read at `taken_at`."""

    account: Account
    positions: dict[str, Position]
    quotes: dict[str, Quote]
    instruments: dict[str, Instrument]
    open_orders: tuple[BrokerOrder, ...]
    taken_at: datetime

    def mids(self) -> dict[str, Decimal]:
        """Mid price per quoted symbol (symbols without any price are absent)."""
        return {s: q.mid for s, q in self.quotes.items() if q.mid is not None}

    def quantities(self) -> dict[str, Decimal]:
        """Signed position quantity per symbol."""
        return {s: p.quantity for s, p in self.positions.items()}


def stale_quotes(quotes: dict[str, Quote], now: datetime, max_age_s: float) -> dict[str, str]:
    """Symbols whose quote is too old, from the future, or not live — with the reason."""
    out: dict[str, str] = {}
    for symbol, quote in quotes.items():
        age = (now - quote.ts).total_seconds()
        if quote.ts - now > FUTURE_SKEW:
            out[symbol] = f"quote timestamp {quote.ts.isoformat()} is in the future"
        elif age > max_age_s:
            out[symbol] = f"quote is {age:.0f}s old (max {max_age_s:.0f}s)"
        elif not quote.live:
            out[symbol] = "quote is delayed/frozen, not live"
    return out


def take_snapshot(broker: Broker, symbols: Sequence[str], clock: Callable[[], datetime],
                  step: StepRunner = _direct) -> Snapshot:
    """Read account, positions, quotes (targets ∪ holdings), instruments and open orders."""
    account = step("account_summary", broker.account)
    positions = {p.symbol: p for p in step("positions", broker.positions) if p.quantity != 0}
    universe = sorted(set(symbols) | set(positions))
    quotes = step("quotes", lambda: broker.quotes(universe), symbols=universe) if universe else {}
    instruments = broker.instruments(universe) if universe else {}
    open_orders = tuple(broker.open_orders())
    return Snapshot(account, positions, quotes, instruments, open_orders, clock())
