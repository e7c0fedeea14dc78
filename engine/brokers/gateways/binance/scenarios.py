"""Named fault scripts for the Binance gateway (`nanobook gateway binance --scenario NAME`).

Each scenario queues faults that fire once on the first matching request, plus an optional clock skew. Data only:
applying a scenario is `apply_scenario(gateway, name)`; nothing here talks to the network.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Final

from engine.brokers.gateways.binance.server import Fault

if TYPE_CHECKING:
    from engine.brokers.gateways.binance.server import BinanceGateway

ORDER: Final = "/api/v3/order"


@dataclass(frozen=True, slots=True)
class Scenario:
    """A named script: faults queued at start (each fires once) and a server clock skew in milliseconds."""

    name: str
    description: str
    faults: tuple[Fault, ...] = ()
    clock_offset_ms: int = 0


_ALL: Final = (
    Scenario("happy", "no faults"),
    Scenario("rate-limited", "the first order placement gets 429 / -1003 with Retry-After: 1",
             (Fault.rate_limited(1, "POST", ORDER),)),
    Scenario("banned", "the first order placement gets 418 (IP auto-banned) with Retry-After: 1",
             (Fault.banned(1, "POST", ORDER),)),
    Scenario("server-error", "the first order placement gets 500 / -1000 before anything is booked",
             (Fault.server_error("POST", ORDER),)),
    Scenario("unknown-after-booking", "the first order is booked, then answered 503 / -1007 (status unknown)",
             (Fault.unknown_after_booking("POST", ORDER),)),
    Scenario("dropped-after-booking", "the first order is booked, then the connection drops without an answer",
             (Fault.dropped_after_booking("POST", ORDER),)),
    Scenario("filter-failure", "the first order placement gets -1013 (filter failure: LOT_SIZE)",
             (Fault.api(-1013, "Filter failure: LOT_SIZE", 400, "POST", ORDER),)),
    Scenario("insufficient-balance", "the first order placement gets -2010 (insufficient balance)",
             (Fault.api(-2010, "Account has insufficient balance for requested action.", 400, "POST", ORDER),)),
    Scenario("cancel-unknown", "the first cancel gets -2011 (unknown order sent)",
             (Fault.api(-2011, "Unknown order sent.", 400, "DELETE", ORDER),)),
    Scenario("lookup-missing", "the first order lookup gets -2013 (order does not exist)",
             (Fault.api(-2013, "Order does not exist.", 400, "GET", ORDER),)),
    Scenario("clock-skew", "the gateway's clock runs 10 s ahead (signed requests see -1021 until the client syncs)",
             clock_offset_ms=10_000),
)
SCENARIOS: Final[dict[str, Scenario]] = {s.name: s for s in _ALL}


def apply_scenario(gateway: BinanceGateway, name: str) -> Scenario:
    """Queue a scenario's faults and skew on a gateway; ValueError naming the known scenarios otherwise."""
    scenario = SCENARIOS.get(name)
    if scenario is None:
        raise ValueError(f"unknown scenario {name!r} (known: {', '.join(SCENARIOS)})")
    gateway.inject(*scenario.faults)
    gateway.state.clock_offset_ms = scenario.clock_offset_ms
    return scenario
