"""Subprocess worker for the crash and concurrency tests: `python -m tests.engine.brokers.sim.worker ROOT MODE ...`.

Modes: `place CID SIDE QTY PRICE [FAULTS]` (one order, faults as in NANOBOOK_SIM_FAULTS), `loop PREFIX N` (place
N orders, alternating buys and sells, stepping the market every few), `step N`.
"""

from __future__ import annotations

import contextlib
import sys
from pathlib import Path

from engine.brokers.sim import SimBroker, SimFaults
from engine.errors import OrderRejected
from tests.engine.brokers.sim.helpers import req


def main(argv: list[str]) -> int:
    root, mode, *rest = argv
    if mode == "place":
        cid, side, qty, price, *spec = rest
        broker = SimBroker(Path(root), faults=SimFaults.parse(spec[0] if spec else ""))
        order = broker.place_limit(req(cid, side=side, qty=qty, price=price))
        print(order.order_id, order.state.value, flush=True)
        return 0
    if mode == "loop":
        prefix, n = rest[0], int(rest[1])
        broker = SimBroker(Path(root), faults=SimFaults())
        for i in range(n):
            side = "buy" if i % 3 != 2 else "sell"
            price = "186.00" if side == "buy" else "184.00"
            with contextlib.suppress(OrderRejected):
                broker.place_limit(req(f"{prefix}{i}", side=side, qty=1 + i % 7, price=price))
            if i % 5 == 4:
                broker.venue.step()
        return 0
    if mode == "step":
        SimBroker(Path(root), faults=SimFaults()).venue.step(int(rest[0]))
        return 0
    raise SystemExit(f"unknown mode {mode}")


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
