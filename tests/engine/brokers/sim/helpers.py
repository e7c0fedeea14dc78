"""Shared helpers for the simulated-venue tests: a steppable fixed clock, order requests, a ledger checker."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

from engine.brokers.base import OrderRequest

T0 = datetime(2026, 1, 5, 14, 30, tzinfo=UTC)


class Clock:
    """A fixed clock that moves only when told (one second per `tick()` by default)."""

    def __init__(self, start: datetime = T0) -> None:
        self.now = start

    def __call__(self) -> datetime:
        return self.now

    def tick(self, seconds: float = 1.0) -> datetime:
        self.now += timedelta(seconds=seconds)
        return self.now


def req(cid: str, symbol: str = "AAPL", side: str = "buy", qty: int | str = 10, price: str = "185.10",
        tif: str = "gtc") -> OrderRequest:
    return OrderRequest(client_order_id=cid, symbol=symbol, side=side,  # type: ignore[arg-type]
                        quantity=Decimal(qty), limit_price=Decimal(price), time_in_force=tif)  # type: ignore[arg-type]


def assert_ledger_consistent(root: Path) -> dict[str, int]:
    """Check the database tells one story: orders, fills, positions and cash all agree. Returns row counts."""
    conn = sqlite3.connect(root / ".nanobook" / "sim.db")
    conn.row_factory = sqlite3.Row
    try:
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        meta = conn.execute("SELECT * FROM meta").fetchone()
        orders = {r["order_id"]: r for r in conn.execute("SELECT * FROM orders")}
        fills = conn.execute("SELECT * FROM fills ORDER BY seq").fetchall()
        positions = {r["symbol"]: r["qty"] for r in conn.execute("SELECT * FROM positions")}
        cash = Decimal(meta["initial_cash"])
        held: dict[str, int] = {}
        per_order: dict[str, tuple[int, int, Decimal]] = {}
        for f in fills:
            o = orders[f["order_id"]]
            assert (o["client_order_id"], o["symbol"], o["side"]) == (f["client_order_id"], f["symbol"], f["side"])
            notional = Decimal(f["qty"] * f["price_ticks"]) / 100
            fee = Decimal(f["commission"])
            cash += (-notional if f["side"] == "buy" else notional) - fee
            held[f["symbol"]] = held.get(f["symbol"], 0) + (f["qty"] if f["side"] == "buy" else -f["qty"])
            q, n, c = per_order.get(f["order_id"], (0, 0, Decimal(0)))
            per_order[f["order_id"]] = (q + f["qty"], n + f["qty"] * f["price_ticks"], c + fee)
        assert Decimal(meta["cash"]) == cash
        assert {s: q for s, q in held.items() if q} == positions
        for oid, o in orders.items():
            q, n, c = per_order.get(oid, (0, 0, Decimal(0)))
            assert (o["filled_qty"], o["filled_notional"], Decimal(o["commission"])) == (q, n, c), oid
            assert o["filled_qty"] <= o["qty"]
            if o["state"] == "filled":
                assert o["filled_qty"] == o["qty"]
            if o["state"] in ("submitted", "rejected"):
                assert o["filled_qty"] == 0
        cids = [o["client_order_id"] for o in orders.values()]
        assert len(cids) == len(set(cids))
        assert meta["next_order"] > len(orders)
        return {"orders": len(orders), "fills": len(fills)}
    finally:
        conn.close()
