"""Seeded, deterministic order-book workloads (docs/benchmarks.md): engine-neutral op lists plus expected outcomes.

A small reference model book simulates the mixed stream and predicts every workload's final L2 and trades.
"""

from __future__ import annotations

import hashlib
import random
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Final

# Op codes. An op is a plain tuple: (LIMIT, side, price, qty) | (CANCEL, order_id) | (BBO,) | (L2, levels).
LIMIT: Final = 0
CANCEL: Final = 1
BBO: Final = 2
L2: Final = 3
BUY: Final = 0
SELL: Final = 1

Op = tuple[int, ...]
Level = tuple[int, int, int]                 # (price, total quantity, order count)
Book = tuple[list[Level], list[Level]]        # (bids best first, asks best first)
TradeRow = tuple[int, int, int, int]          # (aggressor id, passive id, price, quantity)

MID: Final = 10_000          # ticks; bids rest below, asks above
BASE_ORDERS: Final = 1000    # base book: 1000 orders over 100 levels (50 per side), qty 1-100
BASE_LEVELS: Final = 50
DEEP_PRICE: Final = MID - 60  # the cancel workload's single deep bid level (below the base book)

# Workload name -> (default ops, --quick ops). Peers run a quarter of these (PEER_DIVISOR).
SIZES: Final[dict[str, tuple[int, int]]] = {
    "submit_no_match": (20_000, 1_000),
    "submit_match_1": (10_000, 500),
    "cancel_deep": (5_000, 500),
    "bbo": (200_000, 5_000),
    "l2_top10": (50_000, 2_000),
    "mixed": (50_000, 2_500),
    "mixed_safe": (50_000, 2_500),
}
WORKLOAD_NAMES: Final = tuple(SIZES)
MUTATING: Final = frozenset({"submit_no_match", "submit_match_1", "cancel_deep", "mixed", "mixed_safe"})
PEER_DIVISOR: Final = 4
DEFAULT_SEED: Final = 20_240_601


@dataclass(frozen=True)
class Expected:
    """What a correct price-time engine ends with after setup + ops: full-depth L2 and the trade list."""

    book: Book
    trades: list[TradeRow]

    @property
    def trades_digest(self) -> str:
        """Digest of the trade list (see `trades_digest`)."""
        return trades_digest(self.trades)


@dataclass(frozen=True)
class Workload:
    """A named benchmark: untimed `setup` ops build the book, `ops` are timed. Ids are assigned 1, 2, … per submit."""

    name: str
    seed: int
    setup: list[Op]
    ops: list[Op]
    expected: Expected

    @property
    def mutates(self) -> bool:
        """True when running the ops changes the book (each run then needs a fresh book)."""
        return self.name in MUTATING


def trades_digest(trades: Iterable[TradeRow]) -> str:
    """sha256 over (aggressor id, passive id, price, qty) rows: equal digests mean identical trade lists."""
    h = hashlib.sha256()
    for a, p, px, q in trades:
        h.update(f"{a},{p},{px},{q};".encode())
    return h.hexdigest()


def size(name: str, quick: bool = False, peer: bool = False) -> int:
    """Number of timed ops for a workload (a quarter for slow peers, at least 100)."""
    full, small = SIZES[name]
    n = small if quick else full
    return max(100, n // PEER_DIVISOR) if peer else n


class _Level:
    """One model price level: total quantity, live count and a FIFO of [id, remaining, alive] entries."""

    __slots__ = ("count", "qty", "queue")

    def __init__(self) -> None:
        self.qty = 0
        self.count = 0
        self.queue: deque[list[int]] = deque()


class ModelBook:
    """Minimal price-time book used to generate streams and predict outcomes (lazy deletion, ids by counter)."""

    def __init__(self) -> None:
        self.sides: tuple[dict[int, _Level], dict[int, _Level]] = ({}, {})
        self.prices: tuple[list[int], list[int]] = ([], [])  # bids ascending, asks descending: best is last
        self.orders: dict[int, tuple[int, int, list[int]]] = {}  # live id -> (side, price, entry)
        self.next_id = 1
        self.trades: list[TradeRow] = []
        self.touched: list[tuple[int, int]] = []  # (side, price) of passive levels hit by the last submit

    def best(self, side: int) -> int | None:
        """Best price on a side, or None."""
        px = self.prices[side]
        return px[-1] if px else None

    def total(self, side: int) -> int:
        """Total resting quantity on a side."""
        return sum(lv.qty for lv in self.sides[side].values())

    def submit(self, side: int, price: int, qty: int) -> int:
        """GTC limit: match against the opposite side at resting prices, rest any remainder; return the id."""
        oid = self.next_id
        self.next_id = oid + 1
        self.touched = []
        other = 1 - side
        book = self.sides[other]
        prices = self.prices[other]
        while qty and prices:
            best = prices[-1]
            if (side == BUY and best > price) or (side == SELL and best < price):
                break
            lv = book[best]
            queue = lv.queue
            self.touched.append((other, best))
            while qty and queue:
                entry = queue[0]
                if not entry[2]:
                    queue.popleft()
                    continue
                fill = min(qty, entry[1])
                qty -= fill
                entry[1] -= fill
                lv.qty -= fill
                self.trades.append((oid, entry[0], best, fill))
                if not entry[1]:
                    entry[2] = 0
                    queue.popleft()
                    lv.count -= 1
                    del self.orders[entry[0]]
            if not lv.count:
                del book[best]
                prices.pop()
        if qty:
            self._rest(oid, side, price, qty)
        return oid

    def _rest(self, oid: int, side: int, price: int, qty: int) -> None:
        book = self.sides[side]
        entry = [oid, qty, 1]
        lv = book.get(price)
        if lv is None:
            lv = book[price] = _Level()
            prices = self.prices[side]
            key = price if side == BUY else -price  # keys ascend along the list
            lo, hi = 0, len(prices)
            while lo < hi:
                mid = (lo + hi) // 2
                if (prices[mid] if side == BUY else -prices[mid]) < key:
                    lo = mid + 1
                else:
                    hi = mid
            prices.insert(lo, price)
        lv.qty += qty
        lv.count += 1
        lv.queue.append(entry)
        self.orders[oid] = (side, price, entry)

    def cancel(self, oid: int) -> bool:
        """Cancel a live order by id (lazy deletion); False when it is not live."""
        found = self.orders.pop(oid, None)
        if found is None:
            return False
        side, price, entry = found
        book = self.sides[side]
        lv = book[price]
        entry[2] = 0
        lv.qty -= entry[1]
        lv.count -= 1
        if not lv.count:
            del book[price]
            self.prices[side].remove(price)
        return True

    def apply(self, ops: Iterable[Op]) -> None:
        """Apply engine-neutral ops (queries are no-ops)."""
        for op in ops:
            if op[0] == LIMIT:
                self.submit(op[1], op[2], op[3])
            elif op[0] == CANCEL:
                self.cancel(op[1])

    def l2(self) -> Book:
        """Full-depth (price, quantity, count) levels, best first on each side."""
        bids = [(p, (lv := self.sides[BUY][p]).qty, lv.count) for p in reversed(self.prices[BUY])]
        asks = [(p, (lv := self.sides[SELL][p]).qty, lv.count) for p in reversed(self.prices[SELL])]
        return bids, asks

    def expected(self) -> Expected:
        """Snapshot of the current outcome."""
        return Expected(self.l2(), list(self.trades))


def base_book(rng: random.Random) -> list[Op]:
    """1000 passive orders over 100 levels (50 per side, every level used), qty 1-100."""
    ops: list[Op] = []
    for i in range(BASE_ORDERS):
        side = i % 2
        lvl = i // 2 if i < 2 * BASE_LEVELS else rng.randrange(BASE_LEVELS)
        price = MID - 1 - lvl if side == BUY else MID + 1 + lvl
        ops.append((LIMIT, side, price, rng.randint(1, 100)))
    return ops


def _finish(name: str, seed: int, setup: list[Op], ops: list[Op]) -> Workload:
    model = ModelBook()
    model.apply(setup)
    model.apply(ops)
    return Workload(name, seed, setup, ops, model.expected())


def submit_no_match(n: int, seed: int) -> Workload:
    """Base book, then `n` passive limits inside the base book's 100 levels (nothing crosses)."""
    rng = random.Random(seed)
    setup = base_book(rng)
    ops: list[Op] = []
    for _ in range(n):
        side = rng.randrange(2)
        lvl = rng.randrange(BASE_LEVELS)
        ops.append((LIMIT, side, MID - 1 - lvl if side == BUY else MID + 1 + lvl, rng.randint(1, 100)))
    return _finish("submit_no_match", seed, setup, ops)


def submit_match_1(n: int, seed: int) -> Workload:
    """`n` asks of qty 10 on 50 levels (inserted in seeded order); each timed buy of qty 10 fills exactly one."""
    rng = random.Random(seed)
    levels = [MID + 1 + (i * BASE_LEVELS) // n for i in range(n)]
    rng.shuffle(levels)
    setup: list[Op] = [(LIMIT, SELL, price, 10) for price in levels]
    # Price-time order of consumption: by price, then insertion order (a stable sort keeps it).
    consumed = sorted(levels)
    ops: list[Op] = [(LIMIT, BUY, price, 10) for price in consumed]
    return _finish("submit_match_1", seed, setup, ops)


def cancel_deep(n: int, seed: int) -> Workload:
    """Base book plus an `n`-order bid queue at one price; the timed ops cancel that queue in seeded random order."""
    rng = random.Random(seed)
    setup = base_book(rng)
    first = len(setup) + 1
    setup += [(LIMIT, BUY, DEEP_PRICE, rng.randint(1, 100)) for _ in range(n)]
    ids = list(range(first, first + n))
    rng.shuffle(ids)
    return _finish("cancel_deep", seed, setup, [(CANCEL, oid) for oid in ids])


def bbo(n: int, seed: int) -> Workload:
    """`n` best-bid/ask queries on the base book."""
    return _finish("bbo", seed, base_book(random.Random(seed)), [(BBO,)] * n)


def l2_top10(n: int, seed: int) -> Workload:
    """`n` top-10 depth queries on the base book (levels materialised)."""
    return _finish("l2_top10", seed, base_book(random.Random(seed)), [(L2, 10)] * n)


def mixed(n: int, seed: int, safe: bool = False) -> Workload:
    """Simulated stream from the base book: 60 % passive adds, 30 % cancels of live orders, 10 % full-fill takes.

    Adds sit an exponential distance (mean 8 ticks) behind the opposite touch, qty 1-100; takes are marketable
    limits of qty 1-300 priced at the level where they complete. `safe` skips cancels of orders whose level has
    traded since they were inserted (the reference package's bug B1 can hang on those).
    """
    rng = random.Random(seed)
    setup = base_book(rng)
    model = ModelBook()
    model.apply(setup)
    live: list[int] = list(model.orders)
    pos = {oid: i for i, oid in enumerate(live)}
    born: dict[int, int] = dict.fromkeys(live, -1)
    traded_at: dict[tuple[int, int], int] = {}
    ops: list[Op] = []

    def drop(oid: int) -> None:
        i = pos.pop(oid)
        last = live.pop()
        if last != oid:
            live[i] = last
            pos[last] = i
        del born[oid]

    for step in range(n):
        r = rng.random()
        kind = 0 if r < 0.6 else (1 if r < 0.9 else 2)
        if kind == 1:
            victim = None
            for _ in range(8 if safe else 1):
                if not live:
                    break
                cand = live[rng.randrange(len(live))]
                side, price, _entry = model.orders[cand]
                if not safe or traded_at.get((side, price), -2) < born[cand]:
                    victim = cand
                    break
            if victim is None:
                kind = 0
            else:
                model.cancel(victim)
                drop(victim)
                ops.append((CANCEL, victim))
                continue
        if kind == 2:
            side = rng.randrange(2)
            other = 1 - side
            qty = min(rng.randint(1, 300), model.total(other))
            if qty <= 0:
                kind = 0
            else:
                need, price = qty, 0
                for p in reversed(model.prices[other]):
                    price = p
                    need -= model.sides[other][p].qty
                    if need <= 0:
                        break
                first_trade = len(model.trades)
                model.submit(side, price, qty)
                for key in model.touched:
                    traded_at[key] = step
                for _agg, passive, _px, _q in model.trades[first_trade:]:
                    if passive not in model.orders and passive in pos:
                        drop(passive)
                ops.append((LIMIT, side, price, qty))
                continue
        side = rng.randrange(2)
        dist = int(rng.expovariate(1 / 8))
        qty = rng.randint(1, 100)
        if side == BUY:
            ref = model.best(SELL)
            if ref is None:
                ref = (model.best(BUY) or MID) + 2
            price = max(1, ref - 1 - dist)
        else:
            ref = model.best(BUY)
            if ref is None:
                ref = (model.best(SELL) or MID) - 2
            price = max(1, ref + 1 + dist)
        oid = model.submit(side, price, qty)
        live.append(oid)
        pos[oid] = len(live) - 1
        born[oid] = step
        ops.append((LIMIT, side, price, qty))
    return Workload("mixed_safe" if safe else "mixed", seed, setup, ops, model.expected())


def make(name: str, n: int, seed: int = DEFAULT_SEED) -> Workload:
    """Build a workload by name with `n` timed ops (ValueError for an unknown name)."""
    if name == "submit_no_match":
        return submit_no_match(n, seed)
    if name == "submit_match_1":
        return submit_match_1(n, seed)
    if name == "cancel_deep":
        return cancel_deep(n, seed)
    if name == "bbo":
        return bbo(n, seed)
    if name == "l2_top10":
        return l2_top10(n, seed)
    if name == "mixed":
        return mixed(n, seed)
    if name == "mixed_safe":
        return mixed(n, seed, safe=True)
    raise ValueError(f"unknown workload {name!r} (choose from {', '.join(WORKLOAD_NAMES)})")
