"""A fake Binance spot REST API on 127.0.0.1 whose books and balances are the simulated venue's (stdlib only).

`BinanceGateway(root).start()` serves; `.api_url` goes into python-binance's `Client.API_URL`; `.inject(Fault...)`
scripts failures; `.state.clock_offset_ms` skews its clock.
"""

from engine.brokers.gateways.binance.exchange import ApiError, ExchangeRules, SimBinanceExchange
from engine.brokers.gateways.binance.server import (
    DEFAULT_API_KEY,
    DEFAULT_API_SECRET,
    BinanceGateway,
    Fault,
    RequestRecord,
)

__all__ = [
    "DEFAULT_API_KEY",
    "DEFAULT_API_SECRET",
    "ApiError",
    "BinanceGateway",
    "ExchangeRules",
    "Fault",
    "RequestRecord",
    "SimBinanceExchange",
]
