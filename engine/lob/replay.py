"""Replay an order-book recording (events or oracle dialect) into a fresh `Exchange` and summarise it.

Returns data only; progress is reported through an optional callback (bytes read). Never prints.
"""

from __future__ import annotations

import io
import os
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from engine.errors import EventLogError
from engine.lob.analytics import vwap
from engine.lob.events import DIALECTS, KIND_NAMES, iter_events, read_dialect
from engine.lob.exchange import Exchange

ProgressFn = Callable[[int, int], None]  # (bytes done, bytes total)


@dataclass
class ReplayResult:
    """A replayed recording: the final exchange plus what was read."""

    path: str
    dialect: str
    exchange: Exchange
    events: int = 0
    kinds: Counter[str] = field(default_factory=Counter)

    def summary(self, depth: int = 5) -> dict[str, Any]:
        """JSON-ready summary: counts, trades, volume, VWAP, final BBO and the top `depth` levels."""
        ex = self.exchange
        trades = ex.trades()
        bid, ask = ex.best_bid_ask()
        snap = ex.depth(depth)
        return {
            "path": self.path,
            "dialect": self.dialect,
            "events": self.events,
            "event_counts": dict(sorted(self.kinds.items())),
            "trades": len(trades),
            "volume": sum(t.quantity for t in trades),
            "vwap": vwap(trades),
            "last_trade_price": ex.last_trade_price(),
            "best_bid": bid,
            "best_ask": ask,
            "spread": ex.spread(),
            "resting_orders": ex.active_order_count(),
            "pending_stops": ex.pending_stop_count(),
            "book": {
                "bids": [{"price": lv.price, "quantity": lv.quantity, "order_count": lv.order_count}
                         for lv in snap.bids],
                "asks": [{"price": lv.price, "quantity": lv.quantity, "order_count": lv.order_count}
                         for lv in snap.asks],
            },
        }


def replay_file(path: str, dialect: str | None = None, progress: ProgressFn | None = None,
                every: int = 65_536) -> ReplayResult:
    """Apply every event of `path` in order. EventLogError (with the line number) on the first bad line."""
    if dialect is not None and dialect not in DIALECTS:
        raise EventLogError(0, f"unknown dialect {dialect!r} (use {' or '.join(DIALECTS)})", path)
    try:
        total = os.path.getsize(path)
        raw = open(path, "rb")  # noqa: SIM115 (closed below; reading streams line by line)
    except OSError as exc:
        raise EventLogError(0, f"cannot read: {exc.strerror}", path) from None
    with raw, io.TextIOWrapper(raw, encoding="utf-8") as fh:
        try:
            chosen = dialect or read_dialect(fh, path)
            result = ReplayResult(path, chosen, Exchange())
            apply = result.exchange.apply
            kinds = [0] * len(KIND_NAMES)
            for number, event in iter_events(fh, chosen, path):
                apply(event)
                kinds[event[0]] += 1
                if progress is not None and number % every == 0:
                    progress(raw.tell(), total)
        except UnicodeDecodeError as exc:
            raise EventLogError(0, f"not UTF-8 text ({exc.reason} at byte {exc.start})", path) from None
    result.kinds = Counter({KIND_NAMES[i]: n for i, n in enumerate(kinds) if n})
    result.events = sum(kinds)
    if progress is not None:
        progress(total, total)
    return result
