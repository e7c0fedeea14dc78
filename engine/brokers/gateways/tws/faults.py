"""Scripted TWS failures (research/brokers.md §4.2 at the wire level): `TwsFault`, the queue, and named SCENARIOS.

Data only: the gateway and sessions decide where each kind fires. `count` is how many matching events a fault
affects (0 = every one, for scenarios that should hold for a whole run).
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Literal

FaultKind = Literal[
    "disconnect_after_fill", "drop_after_place", "duplicate_status", "out_of_order_status", "reject",
    "cancel_fill_race", "delayed_quotes", "frozen_quotes", "halted", "stale_quotes", "no_snapshot_end",
    "clock_skew", "refuse_connections", "connectivity_lost", "connectivity_restored", "duplicate_client_id",
    "pacing",
]
QUOTE_KINDS: frozenset[str] = frozenset({"delayed_quotes", "frozen_quotes", "halted", "stale_quotes",
                                         "no_snapshot_end"})
ORDER_KINDS: frozenset[str] = frozenset({"disconnect_after_fill", "duplicate_status", "out_of_order_status"})


@dataclass(frozen=True, slots=True)
class TwsFault:
    """One scripted failure. Build it with the classmethods; `count` 0 means "every matching event"."""

    kind: FaultKind
    count: int = 1
    seconds: float = 0.0
    reason: str = ""

    @classmethod
    def disconnect_after_fill(cls) -> TwsFault:
        """The next order that fills: send its fill(s), then abort the socket (partial fill + disconnect)."""
        return cls("disconnect_after_fill")

    @classmethod
    def drop_after_place(cls) -> TwsFault:
        """Book the next placeOrder at the venue, then abort the socket before answering anything."""
        return cls("drop_after_place")

    @classmethod
    def duplicate_status(cls) -> TwsFault:
        """Send every orderStatus of the next order twice."""
        return cls("duplicate_status")

    @classmethod
    def out_of_order_status(cls) -> TwsFault:
        """After the next order's Filled, send a late Submitted."""
        return cls("out_of_order_status")

    @classmethod
    def reject(cls, reason: str = "the simulated venue refused the order (scripted reject)") -> TwsFault:
        """Answer the next placeOrder with error 201; nothing is booked."""
        return cls("reject", reason=reason)

    @classmethod
    def cancel_fill_race(cls) -> TwsFault:
        """The next cancelOrder loses the race: the order fills first (fill + Filled), then error 10148."""
        return cls("cancel_fill_race")

    @classmethod
    def delayed_quotes(cls, count: int = 1) -> TwsFault:
        """Snapshots come as delayed data (marketDataType 3, delayed tick types 66/67/68/75)."""
        return cls("delayed_quotes", count)

    @classmethod
    def frozen_quotes(cls, count: int = 1) -> TwsFault:
        """Snapshots come as frozen data (marketDataType 2)."""
        return cls("frozen_quotes", count)

    @classmethod
    def halted(cls, count: int = 1) -> TwsFault:
        """Snapshots carry generic tick 49 (halted) = 1."""
        return cls("halted", count)

    @classmethod
    def stale_quotes(cls, count: int = 1, seconds: float = 3600.0) -> TwsFault:
        """Snapshots carry a lastTimestamp (tick 45) `seconds` old."""
        return cls("stale_quotes", count, seconds)

    @classmethod
    def no_snapshot_end(cls, count: int = 1) -> TwsFault:
        """Snapshots never send tickSnapshotEnd (57): reqTickers hangs until its RequestTimeout."""
        return cls("no_snapshot_end", count)

    @classmethod
    def clock_skew(cls, seconds: float) -> TwsFault:
        """From now on the handshake time and reqCurrentTime answers are `seconds` off."""
        return cls("clock_skew", 0, seconds)

    @classmethod
    def refuse_connections(cls, seconds: float) -> TwsFault:
        """Nightly restart: drop every client now and close new connections at once for `seconds`."""
        return cls("refuse_connections", 1, seconds)

    @classmethod
    def connectivity_lost(cls) -> TwsFault:
        """Broadcast error 1100 (TWS lost its link to IB); sockets stay up."""
        return cls("connectivity_lost")

    @classmethod
    def connectivity_restored(cls, after_s: float = 0.0) -> TwsFault:
        """Broadcast error 1102 (link restored, data maintained), `after_s` seconds after it fires."""
        return cls("connectivity_restored", 1, after_s)

    @classmethod
    def duplicate_client_id(cls) -> TwsFault:
        """The next startApi gets error 326 and the socket closes."""
        return cls("duplicate_client_id")

    @classmethod
    def pacing(cls, count: int = 1) -> TwsFault:
        """The next `count` data/order requests are answered with error 100 (pacing violation)."""
        return cls("pacing", count)


@dataclass(slots=True)
class _Pending:
    fault: TwsFault
    left: int | None          # firings left; None = forever


class FaultQueue:
    """Pending faults; `take(kind)` consumes one firing of the first fault of that kind."""

    def __init__(self) -> None:
        self._items: list[_Pending] = []
        self._lock = threading.Lock()

    def add(self, *faults: TwsFault) -> None:
        """Queue faults in order."""
        with self._lock:
            self._items.extend(_Pending(f, None if f.count <= 0 else f.count) for f in faults)

    def take(self, kind: str) -> TwsFault | None:
        """The first queued fault of `kind`, using up one of its firings; None when there is none."""
        with self._lock:
            for i, item in enumerate(self._items):
                if item.fault.kind != kind:
                    continue
                if item.left is not None:
                    item.left -= 1
                    if item.left <= 0:
                        del self._items[i]
                return item.fault
        return None

    def pending(self) -> list[TwsFault]:
        """What is still queued (for display and tests)."""
        with self._lock:
            return [item.fault for item in self._items]


SCENARIOS: dict[str, tuple[TwsFault, ...]] = {
    "happy": (),
    "partial-disconnect": (TwsFault.disconnect_after_fill(),),
    "drop-after-place": (TwsFault.drop_after_place(),),
    "duplicate-status": (TwsFault.duplicate_status(),),
    "out-of-order-status": (TwsFault.out_of_order_status(),),
    "reject": (TwsFault.reject(),),
    "cancel-fill-race": (TwsFault.cancel_fill_race(),),
    "delayed-quotes": (TwsFault.delayed_quotes(count=0),),
    "frozen-quotes": (TwsFault.frozen_quotes(count=0),),
    "halted": (TwsFault.halted(count=0),),
    "stale-quotes": (TwsFault.stale_quotes(count=0),),
    "no-snapshot-end": (TwsFault.no_snapshot_end(count=1),),
    "clock-skew": (TwsFault.clock_skew(120.0),),
    "nightly-restart": (TwsFault.refuse_connections(5.0),),
    "connectivity-loss": (TwsFault.connectivity_lost(), TwsFault.connectivity_restored(after_s=2.0)),
    "duplicate-client-id": (TwsFault.duplicate_client_id(),),
    "pacing": (TwsFault.pacing(count=3),),
}

SCENARIO_HELP: dict[str, str] = {
    "happy": "no faults: every request is answered as TWS would",
    "partial-disconnect": "the first order that fills sends its fill(s), then the socket is aborted",
    "drop-after-place": "the first order is booked at the venue, then the socket closes before any answer",
    "duplicate-status": "every orderStatus of the first order is sent twice",
    "out-of-order-status": "after the first order's Filled, a late Submitted arrives",
    "reject": "the first order is rejected with error 201 and nothing is booked",
    "cancel-fill-race": "the first cancel loses: the order fills first, then error 10148",
    "delayed-quotes": "every snapshot is delayed data (marketDataType 3)",
    "frozen-quotes": "every snapshot is frozen data (marketDataType 2)",
    "halted": "every snapshot says the instrument is halted (generic tick 49 = 1)",
    "stale-quotes": "every snapshot's lastTimestamp is an hour old",
    "no-snapshot-end": "the first snapshot never ends (no tickSnapshotEnd): the client must time out",
    "clock-skew": "the gateway's clock runs 120 s ahead (handshake and reqCurrentTime)",
    "nightly-restart": "connections are refused for the first 5 s (TWS restarting)",
    "connectivity-loss": "after the first connect: error 1100 (connectivity lost), 1102 two seconds later",
    "duplicate-client-id": "the first startApi gets error 326 (client id in use) and is closed",
    "pacing": "the next 3 data/order requests get error 100 (pacing violation)",
}
