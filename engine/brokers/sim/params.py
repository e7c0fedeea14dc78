"""Every tunable of the simulated venue in one place: money rules, commission, liquidity and random-walk shape.

Prices inside the venue are integer ticks (cents) and quantities integer shares; `Decimal` only at the boundary.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Final

SCHEMA_VERSION: Final = 1
DB_DIR: Final = ".nanobook"
DB_NAME: Final = "sim.db"
BUSY_TIMEOUT_S: Final = 30.0           # how long a writer waits for another process's transaction

DEFAULT_CASH: Final = Decimal("1000000")
DEFAULT_SEED: Final = 7
ACCOUNT_ID: Final = "SIM-PAPER"
CURRENCY: Final = "USD"

TICK: Final = Decimal("0.01")          # price step; one tick is one integer unit inside the venue
TICKS_PER_UNIT: Final = 100
LOT: Final = 1                         # shares
MIN_QUANTITY: Final = 1
MAX_QUANTITY: Final = 10**12
MAX_PRICE_TICKS: Final = 10**11        # $1bn per share: anything above is a typo

COMMISSION_PER_SHARE: Final = Decimal("0.0035")
COMMISSION_MIN: Final = Decimal("0.35")  # per order (charged with its first fill)

LEVELS: Final = 10                     # venue price levels per side
SPREAD_BPS: Final = (1, 5)             # quoted spread, inclusive range in basis points (at least 1 tick a side)
LEVEL_GAP_BPS: Final = 1               # distance between levels (at least one tick)
LEVEL_NOTIONAL_CENTS: Final = (5_000_000, 20_000_000)  # $50k–$200k of shares per level

WALK_PPM: Final = 1000                 # each `step` moves a reference by the sum of 3 uniform draws in ±this (ppm)
WALK_DRAWS: Final = 3                  # ≈ 10 bps standard deviation per step

VENUE_OWNER: Final = 0                 # engine.lob owner id of the venue's liquidity
CLIENT_OWNER: Final = 1                # owner id of the account's orders (STP off: self-trades are allowed)

ORDER_ID_PREFIX: Final = "SIM-"
FILL_ID_PREFIX: Final = "SIMX-"
