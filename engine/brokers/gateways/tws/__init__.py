"""A fake TWS / IB Gateway on 127.0.0.1 whose account, books and orders are the simulated venue's (stdlib only).

`TwsGateway(root).start()` serves the TWS API socket protocol (server version 176) that ib_async / ib_insync speak;
`.inject(TwsFault...)` scripts failures; SCENARIOS names ready-made fault sets for the CLI and demos.
"""

from engine.brokers.gateways.tws.faults import SCENARIO_HELP, SCENARIOS, TwsFault
from engine.brokers.gateways.tws.server import DEFAULT_ACCOUNT, LOOPBACK, TwsGateway

__all__ = ["DEFAULT_ACCOUNT", "LOOPBACK", "SCENARIOS", "SCENARIO_HELP", "TwsFault", "TwsGateway"]
