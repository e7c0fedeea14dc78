"""The gateway ledger: ids survive a reopen, orderRef counts cover modifications."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

from engine.brokers.gateways.tws.state import FIRST_PERM_ID, TwsOrder, TwsState


def _order(perm: int, order_id: int, ref: str) -> TwsOrder:
    return TwsOrder(perm, 1, order_id, "DUFAKE01", "AAPL", "BUY", Decimal(5), Decimal("10.5"), "DAY", ref, None,
                    "PendingSubmit", Decimal(0), Decimal(0), Decimal(0), "", "20261124 15:00:00 UTC", "")


def test_ids_are_monotonic_and_survive_a_reopen(tmp_path: Path) -> None:
    state = TwsState(tmp_path)
    assert state.next_order_id() == 1
    first = state.next_perm_id()
    assert first == FIRST_PERM_ID
    state.add_order(_order(first, 17, "a"))
    state.close()
    reopened = TwsState(tmp_path)
    assert reopened.next_perm_id() == first + 1
    assert reopened.next_order_id() == 18
    assert reopened.by_client(1, 17) == _order(first, 17, "a")
    assert reopened.by_client(2, 17) is None
    reopened.close()


def test_order_count_counts_venue_orders_per_order_ref(tmp_path: Path) -> None:
    state = TwsState(tmp_path)
    state.add_order(_order(1, 1, "ref"))
    state.add_order(_order(2, 2, "ref"))
    state.add_order(_order(3, 3, "other"))
    state.link_venue_order(1, "SIM-1", "tws1")
    state.link_venue_order(1, "SIM-2", "tws1r1")     # a modification: same TWS order, second venue order
    state.link_venue_order(2, "SIM-3", "tws2")
    assert state.order_count("ref") == 3
    assert state.order_count("other") == 0
    assert state.venue_links() == {"SIM-1": 1, "SIM-2": 1, "SIM-3": 2}
    assert state.venue_order_count(1) == 2
    state.close()
