"""The simulated market: seeded liquidity around a reference price, a seeded random walk, and matching on engine.lob.

Liquidity is a pure function of (seed, symbol, step, reference): `LEVELS` price levels a side, a 1–5 bp spread
(at least one tick a side), levels 1 bp apart, $50k–$200k of shares each. `walk` moves a reference by a seeded
≈10 bp step. `match` rebuilds a book — the account's resting orders first (time priority), then the venue's levels
(which may trade against them at the resting client price), then an incoming order as the aggressor (which trades
at the venue's prices) — and reports the executions and how much venue liquidity they took. No clock, no I/O.
"""

from __future__ import annotations

import hashlib
import random
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from fractions import Fraction

from engine.brokers.base import Side
from engine.brokers.sim import params
from engine.lob import Exchange

Level = tuple[int, int]                 # (price in ticks, quantity)
Taken = dict[tuple[Side, int], int]     # venue liquidity consumed: (venue side, level price) -> quantity


@dataclass(frozen=True, slots=True)
class ClientOrder:
    """An account order as the matcher sees it: `key` is the venue order id; `remaining` > 0."""

    key: str
    side: Side
    limit_ticks: int
    remaining: int


@dataclass(frozen=True, slots=True)
class Execution:
    """One fill of an account order, in ticks and shares."""

    key: str
    side: Side
    quantity: int
    price_ticks: int


@dataclass(slots=True)
class MatchOutcome:
    """Executions of account orders (in trade order), venue liquidity taken, and the book as it stands."""

    executions: list[Execution] = field(default_factory=list)
    taken: Taken = field(default_factory=dict)
    book: Exchange = field(default_factory=Exchange)


def _rng(seed: int, symbol: str, step: int, purpose: str) -> random.Random:
    # A stable digest (not hash(), which is salted per process) so every process draws the same numbers.
    digest = hashlib.blake2b(f"{seed}|{symbol}|{step}|{purpose}".encode(), digest_size=8).digest()
    return random.Random(int.from_bytes(digest, "big"))


def liquidity(seed: int, symbol: str, step: int, ref_ticks: int, levels: int = params.LEVELS
              ) -> tuple[list[Level], list[Level]]:
    """The venue's resting liquidity: (bids best first, asks best first). Deterministic in its arguments."""
    rng = _rng(seed, symbol, step, "book")
    spread_bps = rng.randint(*params.SPREAD_BPS)
    half = max(1, (ref_ticks * spread_bps + 10_000) // 20_000)     # half the spread, rounded, ≥ 1 tick
    gap = max(1, (ref_ticks * params.LEVEL_GAP_BPS + 5_000) // 10_000)
    lo, hi = params.LEVEL_NOTIONAL_CENTS
    bids: list[Level] = []
    asks: list[Level] = []
    for i in range(levels):
        bid = ref_ticks - half - i * gap
        ask = ref_ticks + half + i * gap
        bid_size = rng.randint(lo, hi)
        ask_size = rng.randint(lo, hi)
        if bid >= 1:
            bids.append((bid, max(1, bid_size // bid)))
        asks.append((ask, max(1, ask_size // ask)))
    return bids, asks


def walk(seed: int, symbol: str, step: int, ref_ticks: int) -> int:
    """The reference price at `step`, given the one before it: a seeded move of about ±10 bp (never below a tick)."""
    rng = _rng(seed, symbol, step, "walk")
    ppm = sum(rng.randint(-params.WALK_PPM, params.WALK_PPM) for _ in range(params.WALK_DRAWS))
    return max(1, ref_ticks + round(Fraction(ref_ticks * ppm, 1_000_000)))


def remaining_levels(levels: Sequence[Level], side: Side, taken: Mapping[tuple[Side, int], int]) -> list[Level]:
    """Levels less what the account already took from them at this step (empty levels dropped)."""
    out = []
    for price, qty in levels:
        left = qty - taken.get((side, price), 0)
        if left > 0:
            out.append((price, left))
    return out


def match(bids: Sequence[Level], asks: Sequence[Level], resting: Sequence[ClientOrder],
          incoming: ClientOrder | None = None) -> MatchOutcome:
    """Rebuild the book and match; see the module docstring for the order of events."""
    ex = Exchange()
    clients: dict[int, ClientOrder] = {}
    venue: dict[int, tuple[Side, int]] = {}
    for order in resting:
        lob_id = ex.submit_limit(order.side, order.limit_ticks, order.remaining, owner=params.CLIENT_OWNER).order_id
        clients[lob_id] = order
    for price, qty in asks:
        venue[ex.submit_limit("sell", price, qty, owner=params.VENUE_OWNER).order_id] = ("sell", price)
    for price, qty in bids:
        venue[ex.submit_limit("buy", price, qty, owner=params.VENUE_OWNER).order_id] = ("buy", price)
    if incoming is not None:
        clients[ex.submit_limit(incoming.side, incoming.limit_ticks, incoming.remaining,
                                owner=params.CLIENT_OWNER).order_id] = incoming
    outcome = MatchOutcome(book=ex)
    for trade in ex.trades():
        for lob_id in (trade.passive_order_id, trade.aggressor_order_id):
            client = clients.get(lob_id)
            if client is not None:
                outcome.executions.append(Execution(client.key, client.side, trade.quantity, trade.price))
            else:
                key = venue[lob_id]
                outcome.taken[key] = outcome.taken.get(key, 0) + trade.quantity
    return outcome


def best_prices(bids: Sequence[Level], asks: Sequence[Level], resting: Sequence[ClientOrder]
                ) -> tuple[int | None, int | None]:
    """Best bid and ask of the combined book without building it (resting orders never cross the venue's)."""
    bid = bids[0][0] if bids else None
    ask = asks[0][0] if asks else None
    for order in resting:
        if order.side == "buy" and (bid is None or order.limit_ticks > bid):
            bid = order.limit_ticks
        elif order.side == "sell" and (ask is None or order.limit_ticks < ask):
            ask = order.limit_ticks
    return bid, ask
