"""Spec-exact ITCH 5.0 writer (`encode`, `ItchWriter`) and a deterministic synthetic session generator.

Used by tests and demos: `synthesize(...)` emits a valid, uncrossed session with every message type.
"""

from __future__ import annotations

import random
from collections.abc import Iterable
from typing import Any, BinaryIO

from engine.lob.itch.spec import LAYOUTS

__all__ = ["ItchWriter", "encode", "synthesize"]


def encode(kind: str, **fields: Any) -> bytes:
    """One framed message (2-byte big-endian length + body). Missing fields are 0 / blank; alphas are space-padded.

    Raises ValueError for an unknown type, an unknown field or a value that does not fit its wire size.
    """
    layout = LAYOUTS.get(kind)
    if layout is None:
        raise ValueError(f"unknown ITCH message type {kind!r}")
    unknown = set(fields) - {name for name, _, _ in layout.fields}
    if unknown:
        raise ValueError(f"unknown field(s) for {kind!r}: {', '.join(sorted(unknown))}")
    vals: list[Any] = []
    for name, k, size in layout.fields:
        v = fields.get(name)
        if k in ("c", "a"):
            raw = (v if isinstance(v, bytes) else str(v or "").encode("latin-1")) or b" "
            if len(raw) > size:
                raise ValueError(f"{kind}.{name}: {raw!r} is longer than {size} byte(s)")
            vals.append(raw.ljust(size, b" "))
        else:
            n = int(v or 0)
            bits = 48 if k == "t" else size * 8
            if not 0 <= n < 1 << bits:
                raise ValueError(f"{kind}.{name}: {n} does not fit in {bits} bits")
            if k == "t":
                vals += [n >> 32, n & 0xFFFFFFFF]
            else:
                vals.append(n)
    body = kind.encode("ascii") + layout.struct.pack(*vals)
    return len(body).to_bytes(2, "big") + body


class ItchWriter:
    """Append framed messages to a binary stream."""

    def __init__(self, fh: BinaryIO) -> None:
        self._fh = fh
        self.messages = 0

    def write(self, kind: str, **fields: Any) -> None:
        """Encode and write one message."""
        self._fh.write(encode(kind, **fields))
        self.messages += 1

    def write_all(self, frames: Iterable[bytes]) -> None:
        """Write already-encoded frames."""
        for f in frames:
            self._fh.write(f)
            self.messages += 1


_OPEN_NS = 34_200_000_000_000  # 09:30:00


def synthesize(n_orders: int = 2000, symbols: tuple[str, ...] = ("AAPL", "MSFT", "NVDA"), seed: int = 7) -> bytes:
    """A deterministic, valid session: directory, then adds, executions, cancels, deletes, replaces and trades.

    Books never cross (bids below, asks above a per-symbol mid); some prices are sub-penny. Every other message
    type appears at least once. Same arguments → same bytes.
    """
    rng = random.Random(seed)
    out: list[bytes] = []
    ts = _OPEN_NS - 1_000_000
    track = 0

    def emit(kind: str, **f: Any) -> None:
        nonlocal ts, track
        ts += rng.randint(0, 5000)
        track = (track + 1) & 0xFFFF
        out.append(encode(kind, timestamp=ts, tracking_number=track, **f))

    emit("S", event_code="O")
    emit("V", level1=300_000_000_000, level2=280_000_000_000, level3=250_000_000_000)
    locates = {s: i + 1 for i, s in enumerate(symbols)}
    mids = {s: rng.randint(50, 500) * 10_000 for s in symbols}
    for s, loc in locates.items():
        emit("R", stock_locate=loc, stock=s, market_category="Q", financial_status="N", round_lot_size=100,
             round_lots_only="N", issue_classification="C", issue_subtype="Z", authenticity="P",
             short_sale_threshold="N", ipo_flag=" ", luld_reference_price_tier="1", etp_flag="N",
             etp_leverage_factor=0, inverse_indicator="N")
        emit("H", stock_locate=loc, stock=s, trading_state="T", reserved=" ", reason="")
        emit("Y", stock_locate=loc, stock=s, reg_sho_action="0")
        emit("L", stock_locate=loc, mpid="NSDQ", stock=s, primary_market_maker="Y", market_maker_mode="N",
             market_participant_state="A")
    emit("S", event_code="Q")
    live: dict[int, tuple[str, str, int, int]] = {}  # ref -> (symbol, side, price, shares)
    refs: list[int] = []  # live refs, for O(1) random choice
    slot: dict[int, int] = {}  # ref -> index in refs

    def keep(ref: int) -> None:
        slot[ref] = len(refs)
        refs.append(ref)

    def drop(ref: int) -> None:
        i = slot.pop(ref)
        last = refs.pop()
        if last != ref:
            refs[i] = last
            slot[last] = i
        del live[ref]
    next_ref = 1
    match = 1
    for _ in range(n_orders):
        sym = rng.choice(symbols)
        loc, mid = locates[sym], mids[sym]
        r = rng.random()
        if r < 0.45 or len(live) < 10:
            side = rng.choice("BS")
            step = rng.choice((100, 100, 100, 1, 50))  # mostly cents, some sub-penny
            off = rng.randint(1, 40) * step
            price = mid - off if side == "B" else mid + off
            shares = rng.choice((100, 200, 300, 500, 1000, 37))
            kind = "A" if rng.random() < 0.8 else "F"
            extra = {"attribution": "MPID"} if kind == "F" else {}
            emit(kind, stock_locate=loc, order_ref=next_ref, side=side, shares=shares, stock=sym, price=price,
                 **extra)
            live[next_ref] = (sym, side, price, shares)
            keep(next_ref)
            next_ref += 1
            continue
        ref = refs[rng.randrange(len(refs))]
        sym, side, price, shares = live[ref]
        loc, mid = locates[sym], mids[sym]
        if r < 0.55:
            n = rng.randint(1, shares)
            emit("E", stock_locate=loc, order_ref=ref, shares=n, match_number=match)
            match += 1
        elif r < 0.60:
            n = rng.randint(1, shares)
            emit("C", stock_locate=loc, order_ref=ref, shares=n, match_number=match, printable="Y",
                 price=price + rng.choice((0, 1, -1)))
            match += 1
        elif r < 0.72:
            n = rng.randint(1, shares)
            emit("X", stock_locate=loc, order_ref=ref, shares=n)
        elif r < 0.84:
            emit("D", stock_locate=loc, order_ref=ref)
            n = shares
        elif r < 0.94:
            new_price = max(1, price + rng.choice((-100, -1, 1, 100)) * (1 if side == "S" else -1))
            if (side == "B" and new_price >= mid) or (side == "S" and new_price <= mid):
                new_price = price
            new_shares = rng.choice((100, 200, 400))
            emit("U", stock_locate=loc, order_ref=ref, new_order_ref=next_ref, shares=new_shares, price=new_price)
            drop(ref)
            live[next_ref] = (sym, side, new_price, new_shares)
            keep(next_ref)
            next_ref += 1
            continue
        else:
            emit("P", stock_locate=loc, order_ref=0, side="B", shares=rng.randint(1, 500), stock=sym,
                 price=mid + rng.randint(-5, 5), match_number=match)
            match += 1
            continue
        if n >= shares:
            drop(ref)
        else:
            live[ref] = (sym, side, price, shares - n)
    s0 = symbols[0]
    loc0 = locates[s0]
    emit("Q", stock_locate=loc0, shares=1000, stock=s0, cross_price=mids[s0], match_number=match, cross_type="C")
    emit("B", stock_locate=loc0, match_number=match)
    emit("I", stock_locate=loc0, paired_shares=500, imbalance_shares=100, imbalance_direction="B", stock=s0,
         far_price=mids[s0], near_price=mids[s0], current_reference_price=mids[s0], cross_type="C",
         price_variation_indicator="L")
    emit("N", stock_locate=loc0, stock=s0, interest_flag="B")
    emit("K", stock_locate=loc0, stock=s0, ipo_quotation_release_time=34_200, ipo_quotation_release_qualifier="A",
         ipo_price=mids[s0])
    emit("J", stock_locate=loc0, stock=s0, auction_collar_reference_price=mids[s0],
         upper_auction_collar_price=mids[s0] + 1000, lower_auction_collar_price=mids[s0] - 1000,
         auction_collar_extension=1)
    emit("h", stock_locate=loc0, stock=s0, market_code="Q", operational_halt_action="R")
    emit("O", stock_locate=loc0, stock=s0, open_eligibility_status="Y", minimum_allowable_price=mids[s0] - 100,
         maximum_allowable_price=mids[s0] + 100, near_execution_price=mids[s0], near_execution_time=ts,
         lower_price_range_collar=mids[s0] - 200, upper_price_range_collar=mids[s0] + 200)
    emit("W", breached_level="1")
    emit("S", event_code="M")
    emit("S", event_code="C")
    return b"".join(out)
