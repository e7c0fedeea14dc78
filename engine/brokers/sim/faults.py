"""Failure injection for the simulated broker (tests and drills): lost requests, lost acks, crashes, latency.

Pass `SimBroker(faults=SimFaults(...))`, or set NANOBOOK_SIM_FAULTS for a subprocess, e.g.
`NANOBOOK_SIM_FAULTS="lose_ack=1,skip_places=2,latency_s=0.05"`. Counters are per process and count down:
`skip_places` place_limit calls go through untouched first, then each place-fault counter applies to that many
calls in this order: drop_before_booking, crash_before_commit, lose_ack, crash_after_commit.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from typing import Literal

from engine.brokers.sim.errors import VenueInputError

ENV_VAR = "NANOBOOK_SIM_FAULTS"
PlaceFault = Literal["drop_before_booking", "crash_before_commit", "lose_ack", "crash_after_commit"]
_PLACE_FAULTS: tuple[PlaceFault, ...] = ("drop_before_booking", "crash_before_commit", "lose_ack",
                                         "crash_after_commit")
CRASH_EXIT_CODE = 137  # what a shell reports for kill -9


@dataclass
class SimFaults:
    """What to break. Defaults break nothing.

    - `latency_s`: sleep this long at the start of every broker call.
    - `unavailable`: every broker call raises BrokerUnavailable.
    - `skip_places`: let this many place_limit calls through before the place faults below apply.
    - `drop_before_booking`: raise AmbiguousOrderState without booking (request lost on the way).
    - `crash_before_commit`: os._exit(137) inside the booking transaction (the venue never has the order).
    - `lose_ack`: book and commit, then raise AmbiguousOrderState (booked-then-lost-ack).
    - `crash_after_commit`: book and commit, then os._exit(137) (the venue has the order, the caller died).
    - `quote_age_s`: quotes carry a source timestamp this many seconds in the past (stale data).
    - `delayed_quotes`: quotes are flagged live=False.
    """

    latency_s: float = 0.0
    unavailable: bool = False
    skip_places: int = 0
    drop_before_booking: int = 0
    crash_before_commit: int = 0
    lose_ack: int = 0
    crash_after_commit: int = 0
    quote_age_s: float = 0.0
    delayed_quotes: bool = False
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)

    def take_place_fault(self) -> PlaceFault | None:
        """Consume and return the fault for the next place_limit call (None: behave)."""
        with self._lock:
            if self.skip_places > 0:
                self.skip_places -= 1
                return None
            for name in _PLACE_FAULTS:
                left: int = getattr(self, name)
                if left > 0:
                    setattr(self, name, left - 1)
                    return name
            return None

    @classmethod
    def parse(cls, spec: str) -> SimFaults:
        """Parse `name=value,name=value` (booleans as 1/0/true/false); VenueInputError for anything unknown."""
        known = {f.name: f for f in fields(cls) if not f.name.startswith("_")}
        faults = cls()
        for item in filter(None, (part.strip() for part in spec.split(","))):
            name, sep, raw = item.partition("=")
            name, raw = name.strip(), raw.strip()
            if name not in known:
                raise VenueInputError(f"{ENV_VAR}: unknown fault {name!r} (known: {', '.join(sorted(known))})")
            kind = type(getattr(faults, name))
            try:
                if kind is bool:
                    if raw.lower() not in ("", "1", "0", "true", "false", "yes", "no"):
                        raise ValueError(raw)
                    value: object = not sep or raw.lower() in ("", "1", "true", "yes")
                elif kind is int:
                    value = int(raw)
                else:
                    value = float(raw)
            except ValueError:
                raise VenueInputError(f"{ENV_VAR}: bad value {raw!r} for {name}") from None
            setattr(faults, name, value)
        return faults

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> SimFaults | None:
        """Faults from NANOBOOK_SIM_FAULTS, or None when it is unset or empty."""
        spec = (os.environ if environ is None else environ).get(ENV_VAR, "").strip()
        return cls.parse(spec) if spec else None
