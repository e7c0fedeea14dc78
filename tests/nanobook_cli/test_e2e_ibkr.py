"""End-to-end tests of the IBKR broker path: the real CLI (ib_async inside) against `nanobook gateway tws`.

The gateway serves the working directory's simulated venue (.nanobook/sim.db) over the TWS API on 127.0.0.1 and
keeps its own ledger of TWS orders (.nanobook/tws.db, read here to count orders per orderRef). Nothing but
127.0.0.1 is contacted.
"""

from __future__ import annotations

import socket
import sqlite3
from collections.abc import Iterator
from typing import Any

import pytest

from engine.brokers.gateways.tws import TwsFault, TwsGateway
from tests.nanobook_cli.helpers_e2e import Background, Workdir, assert_one_clean_error, wait_for

TARGET = {
    "timestamp": "2026-11-24T00:00:00Z",
    "metadata": {"id": "ib-demo"},
    "targets": [{"symbol": "AAPL", "weight": 0.15}, {"symbol": "MSFT", "weight": 0.15}],
}
SYMBOLS = {"AAPL", "MSFT"}


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def setup(wd: Workdir, port: int, *, execution: str = "") -> None:
    """`sim init`, an ibkr config.toml pointing at 127.0.0.1:`port`, and the two-symbol target."""
    assert wd.nb("sim", "init").returncode == 0
    wd.config(f'[broker]\nkind = "ibkr"\n\n[ibkr]\nhost = "127.0.0.1"\nport = {port}\nclient_id = 7\n'
              f'account = "DUFAKE01"\ntimeout_s = 5.0\n{execution}')
    wd.write_target(TARGET)


def tws_orders(wd: Workdir) -> list[dict[str, Any]]:
    """Every TWS order the gateway ever booked (its ledger), as dicts."""
    with sqlite3.connect(wd.path / ".nanobook" / "tws.db") as conn:
        conn.row_factory = sqlite3.Row
        return [dict(r) for r in conn.execute("SELECT * FROM orders ORDER BY perm_id")]


def assert_each_ref_booked_once(wd: Workdir) -> None:
    refs = [o["order_ref"] for o in tws_orders(wd)]
    assert len(refs) == len(set(refs)), refs


def assert_converged(wd: Workdir) -> None:
    reconcile = wd.nb("reconcile", "target.json", "--json")
    assert reconcile.returncode == 0, str(reconcile)
    assert reconcile.doc["data"]["within_tolerance"] is True, reconcile.doc
    assert_each_ref_booked_once(wd)
    assert not [o for o in tws_orders(wd) if o["status"] not in ("Filled", "Cancelled", "Inactive")]


def start_gateway(wd: Workdir, port: int, *extra: str) -> Background:
    gw = wd.start("gateway", "tws", "--port", str(port), *extra)
    address = wait_for(lambda: gw.stdout().strip() or (not gw.alive() and gw.stderr() + " [exited]"),
                       timeout=60, message="the gateway address on stdout")
    assert address == f"127.0.0.1:{port}", f"{address}\n{gw.stderr()}"
    return gw


def test_happy_path_through_gateway_command(wd: Workdir) -> None:
    """sim init → `nanobook gateway tws` → positions / plan / run / reconcile / recover --dry-run."""
    port = free_port()
    setup(wd, port)
    gw = start_gateway(wd, port)
    try:
        positions = wd.nb("positions", "--json")
        assert positions.returncode == 0, str(positions)
        assert positions.doc["data"]["account"]["account_id"] == "DUFAKE01"
        assert positions.doc["data"]["account"]["paper"] is True

        plan = wd.nb("plan", "target.json", "--json")
        assert plan.returncode == 0, str(plan)
        assert {o["symbol"] for o in plan.doc["data"]["orders"]} == SYMBOLS
        assert tws_orders(wd) == []                       # plan is read-only

        run = wd.nb("run", "target.json", "--yes", "--json")
        assert run.returncode == 0, str(run)
        assert run.doc["data"]["filled"] == 2 and run.doc["data"]["failed"] == 0, run.doc
        assert "ib_async" not in run.stderr and "Error " not in run.stderr, run.stderr  # no SDK log noise
        # The gateway saw exactly the run's orders, each under our client order id as orderRef.
        assert {o["order_ref"] for o in tws_orders(wd)} == {o["client_order_id"] for o in run.doc["data"]["orders"]}
        assert_converged(wd)
        recover = wd.nb("recover", "--dry-run", "--json")
        assert recover.returncode == 0 and recover.doc["data"]["action"] == "restart", str(recover)
        assert gw.alive(), gw.stderr()
    finally:
        gw.cleanup()


def test_gateway_down_is_broker_unavailable(wd: Workdir) -> None:
    setup(wd, free_port())
    line = assert_one_clean_error(wd.nb("plan", "target.json"), 6)
    assert "127.0.0.1" in line, line


def test_gateway_refuses_a_non_loopback_bind(wd: Workdir) -> None:
    result = wd.nb("gateway", "tws", "--host", "0.0.0.0", "--port", "0")
    assert result.returncode == 2 and "127.0.0.1 only" in result.stderr, str(result)


def test_kill9_mid_run_then_recover_and_converge(wd: Workdir) -> None:
    """SIGKILL the run after its first order was booked (a long pause between orders holds it there).

    `recover` must find that order by orderRef at the gateway; the next run must not book it a second time.
    """
    port = free_port()
    setup(wd, port, execution="\n[execution]\norder_interval_ms = 20000\n")
    gw = start_gateway(wd, port)
    try:
        run = wd.start("run", "target.json", "--yes")
        booked = wait_for(lambda: tws_orders(wd) or (not run.alive() and ["exited"]), timeout=60,
                          message="the first order to be booked at the gateway")
        assert run.alive(), f"the run ended before it could be killed: {booked}\n{run.stderr()}"
        assert run.kill9() == -9
        assert len(booked) == 1, booked
        assert booked[0]["order_ref"] in wd.our_client_ids()   # written ahead before it was sent

        status = wd.nb("status")
        assert status.returncode == 9, str(status)             # an incomplete run blocks the next one
        recover = wd.nb("recover")
        assert recover.returncode == 0, str(recover)
        wd.config((wd.path / "config.toml").read_text().replace("order_interval_ms = 20000", "order_interval_ms = 0"))
        second = wd.nb("run", "target.json", "--yes")
        assert second.returncode == 0, str(second)
        assert_converged(wd)
        assert sum(o["order_ref"] == booked[0]["order_ref"] for o in tws_orders(wd)) == 1
    finally:
        gw.cleanup()


@pytest.fixture
def gateway(wd: Workdir) -> Iterator[TwsGateway]:
    """An in-process gateway over `wd`'s venue, for faults at exact points."""
    assert wd.nb("sim", "init").returncode == 0
    gw = TwsGateway(wd.path).start()
    try:
        wd.config(f'[broker]\nkind = "ibkr"\n\n[ibkr]\nport = {gw.port}\nclient_id = 7\ntimeout_s = 5.0\n')
        wd.write_target(TARGET)
        yield gw
    finally:
        gw.stop()


def test_order_dropped_after_booking_is_resolved_by_order_ref(wd: Workdir, gateway: TwsGateway) -> None:
    """The gateway books the first order and drops the socket before answering: the run reconnects, finds the
    order by orderRef and never places it twice."""
    gateway.inject(TwsFault.drop_after_place())
    first = wd.nb("run", "target.json", "--yes", "--json")
    assert "Traceback" not in first.stderr, str(first)
    assert first.returncode in (0, 7, 9), str(first)
    assert_each_ref_booked_once(wd)
    if first.returncode != 0:
        assert wd.nb("recover").returncode == 0
    assert wd.nb("run", "target.json", "--yes").returncode == 0
    assert_converged(wd)


def test_rejected_order_is_reported_not_retried(wd: Workdir, gateway: TwsGateway) -> None:
    gateway.inject(TwsFault.reject())
    run = wd.nb("run", "target.json", "--yes", "--json")
    assert "Traceback" not in run.stderr, str(run)
    assert run.returncode == 7, str(run)
    states = sorted(o["state"] for o in run.doc["data"]["orders"])
    assert states == ["filled", "rejected"], run.doc
    assert_each_ref_booked_once(wd)


def test_gateway_on_a_busy_port_is_a_clean_error(wd: Workdir) -> None:
    assert wd.nb("sim", "init").returncode == 0
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        result = wd.nb("gateway", "tws", "--port", str(port))
    line = assert_one_clean_error(result, 6, str(port))
    assert "internal error" not in line, line


def test_gateway_lists_its_scenarios(wd: Workdir) -> None:
    result = wd.nb("gateway", "tws", "--list-scenarios")
    assert result.returncode == 0, str(result)
    names = [line.split()[0] for line in result.stdout.splitlines()]
    assert {"happy", "partial-disconnect", "reject", "nightly-restart", "duplicate-client-id"} <= set(names)
    bad = wd.nb("gateway", "tws", "--scenario", "nope", "--port", "0")
    assert bad.returncode == 2 and "unknown scenario 'nope'" in bad.stderr, str(bad)
