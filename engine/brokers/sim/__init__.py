"""The default broker: a persistent simulated venue (SQLite under .nanobook/) whose books are engine.lob exchanges.

`SimBroker` implements the Broker protocol; `SimVenue` is the management surface (`nanobook sim ...`);
`SimFaults` injects failures for tests. Layout: params (every constant), prices (tables), market (liquidity, walk,
matching), store (SQLite), venue (the logic), broker (the adapter), faults.
"""

from engine.brokers.sim.broker import SimBroker
from engine.brokers.sim.errors import VenueInputError
from engine.brokers.sim.faults import ENV_VAR as FAULTS_ENV_VAR
from engine.brokers.sim.faults import SimFaults
from engine.brokers.sim.params import COMMISSION_MIN, COMMISSION_PER_SHARE, DEFAULT_CASH, DEFAULT_SEED
from engine.brokers.sim.venue import PriceUpdate, SimVenue, StepReport

__all__ = [
    "COMMISSION_MIN",
    "COMMISSION_PER_SHARE",
    "DEFAULT_CASH",
    "DEFAULT_SEED",
    "FAULTS_ENV_VAR",
    "PriceUpdate",
    "SimBroker",
    "SimFaults",
    "SimVenue",
    "StepReport",
    "VenueInputError",
]
