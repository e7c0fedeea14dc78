"""End-to-end tests of the Binance broker path: the real CLI against the fake Binance gateway on 127.0.0.1.

The gateway serves the working directory's simulated venue (.nanobook/sim.db) as a Binance spot REST API. The happy
path runs it as the user would (`nanobook gateway binance --port PORT` in the background); the fault scenarios run it
in-process (`BinanceGateway(...).start()` in a daemon thread) so tests can script faults at exact points
(`inject(Fault...)`); one test runs the command with `--scenario`. Nothing but 127.0.0.1 is contacted.
"""

from __future__ import annotations

import socket
from collections.abc import Iterator
from typing import Any

import pytest

from engine.brokers.gateways.binance import DEFAULT_API_KEY, DEFAULT_API_SECRET, BinanceGateway, Fault
from tests.nanobook_cli.helpers_e2e import Result, Workdir, assert_one_clean_error, wait_for

KEYS = {"NANOBOOK_BINANCE_API_KEY": DEFAULT_API_KEY, "NANOBOOK_BINANCE_API_SECRET": DEFAULT_API_SECRET}
TARGET = {
    "timestamp": "2026-11-24T00:00:00Z",
    "metadata": {"id": "bn-demo"},
    "targets": [{"symbol": "AAPLUSDT", "weight": 0.15}, {"symbol": "MSFTUSDT", "weight": 0.15}],
}
SYMBOLS = {"AAPLUSDT", "MSFTUSDT"}
VENUE_SYMBOLS = {"AAPL", "MSFT"}   # the sim venue books the base asset
ORDER_PATH = "/api/v3/order"


def free_port() -> int:
    """A port nothing listens on right now (bind 127.0.0.1:0, read it, close)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def setup_venue(wd: Workdir, port: int) -> None:
    """`sim init`, a binance config.toml pointing at 127.0.0.1:`port`, and the two-pair target."""
    init = wd.nb("sim", "init")
    assert init.returncode == 0, str(init)
    wd.config(f'[broker]\nkind = "binance"\n\n[binance]\nbase_url = "http://127.0.0.1:{port}"\nquote_asset = "USDT"\n')
    wd.write_target(TARGET)


def nbk(wd: Workdir, *args: str, env: dict[str, str] | None = None) -> Result:
    """`nanobook ARGS` with the gateway's test keys in the environment."""
    return wd.nb(*args, env=KEYS if env is None else env)


def nbk_json(wd: Workdir, *args: str) -> dict[str, Any]:
    result = nbk(wd, *args, "--json")
    doc = result.doc
    assert "Traceback" not in result.stderr, str(result)
    return doc


def assert_converged(wd: Workdir) -> None:
    """Venue holds each symbol's order once per client id, nothing working, and the account matches the target."""
    orders = wd.venue_orders()
    wd.assert_no_duplicate_client_ids(orders)
    assert not wd.working_orders(orders), orders
    reconcile = nbk(wd, "reconcile", "target.json", "--json")
    assert reconcile.returncode == 0, str(reconcile)
    assert reconcile.doc["data"]["within_tolerance"] is True, reconcile.doc
    filled = [o for o in orders if o["status"] == "filled"]
    # One filled buy per pair: a second fill for a symbol would mean the crash doubled the position.
    assert sorted(o["symbol"] for o in filled) == sorted(VENUE_SYMBOLS), orders


@pytest.fixture
def gateway(wd: Workdir) -> Iterator[BinanceGateway]:
    """An in-process gateway over `wd`'s venue (faults scriptable); stopped at teardown."""
    init = wd.nb("sim", "init")
    assert init.returncode == 0, str(init)
    gw = BinanceGateway(wd.path).start()
    try:
        wd.config(f'[broker]\nkind = "binance"\n\n[binance]\nbase_url = "http://127.0.0.1:{gw.port}"\n'
                  'quote_asset = "USDT"\n')
        wd.write_target(TARGET)
        yield gw
    finally:
        gw.stop()


# ---------------------------------------------------------------------------------------------- happy path


def test_happy_path_through_gateway_command(wd: Workdir) -> None:
    """sim init → `nanobook gateway binance` in the background → plan / run / reconcile / recover --dry-run."""
    port = free_port()
    setup_venue(wd, port)
    gw = wd.start("gateway", "binance", "--port", str(port))
    try:
        url = wait_for(lambda: gw.stdout().strip() or (not gw.alive() and gw.stderr() + " [exited]"),
                       timeout=60, message="the gateway URL on stdout")
        assert url == f"http://127.0.0.1:{port}", f"{url}\n{gw.stderr()}"

        plan = nbk_json(wd, "plan", "target.json")
        assert plan["exit_code"] == 0, plan
        orders = plan["data"]["orders"]
        assert len(orders) == 2, orders
        assert {o["symbol"] for o in orders} == SYMBOLS, orders
        assert all(o["side"] == "buy" and o["client_order_id"] for o in orders), orders

        run = nbk_json(wd, "run", "target.json", "--yes")
        assert run["exit_code"] == 0 and run["status"] == "ok", run
        assert run["data"]["status"] == "ok", run
        assert run["data"]["submitted"] == 2 and run["data"]["filled"] == 2 and run["data"]["failed"] == 0, run
        assert {o["state"] for o in run["data"]["orders"]} == {"filled"}, run

        reconcile = nbk_json(wd, "reconcile", "target.json")
        assert reconcile["exit_code"] == 0, reconcile
        assert reconcile["data"]["within_tolerance"] is True, reconcile

        recover = nbk_json(wd, "recover", "--dry-run")
        assert recover["exit_code"] == 0, recover
        assert recover["data"]["action"] == "restart", recover

        # The venue saw exactly the two orders of the run, under the client ids the run wrote ahead.
        venue = wd.venue_orders()
        assert {o["client_order_id"] for o in venue} == {o["client_order_id"] for o in run["data"]["orders"]}
        assert wd.our_client_ids() == {o["client_order_id"] for o in venue}
        wd.assert_no_duplicate_client_ids(venue)
        assert gw.alive(), gw.stderr()
    finally:
        gw.cleanup()


# ---------------------------------------------------------------------------------------------- clean failures


def test_missing_api_keys_is_a_clean_input_error(wd: Workdir) -> None:
    """No key pair in the environment: exit 4, one line naming the variable(s), no traceback, no network."""
    setup_venue(wd, free_port())
    both = wd.nb("plan", "target.json")
    line = assert_one_clean_error(both, 4, "NANOBOOK_BINANCE_API_KEY")
    assert "config.toml" in line, line  # says where keys are (not) read from
    assert "NANOBOOK_BINANCE_API_SECRET" in line, line  # both missing: one line names both

    only_key = wd.nb("plan", "target.json", env={"NANOBOOK_BINANCE_API_KEY": DEFAULT_API_KEY})
    assert_one_clean_error(only_key, 4, "NANOBOOK_BINANCE_API_SECRET")


def test_gateway_not_running_is_broker_unavailable(wd: Workdir) -> None:
    """Nothing listens at base_url: exit 6 with one clear line, no traceback, nothing written to the venue."""
    setup_venue(wd, free_port())
    result = nbk(wd, "plan", "target.json")
    line = assert_one_clean_error(result, 6)
    assert "Binance" in line and "answer" in line, line
    assert wd.venue_orders() == []


# ---------------------------------------------------------------------------------------------- crashes


@pytest.mark.parametrize("fault", [Fault.dropped_after_booking, Fault.unknown_after_booking],
                         ids=["booked-then-connection-dropped", "booked-then-503-1007"])
def test_ambiguous_place_is_resolved_by_lookup(wd: Workdir, gateway: BinanceGateway,
                                               fault: Any) -> None:
    """The first POST /order is booked but its answer is lost: the run resolves it by client id, never resends."""
    gateway.inject(fault(method="POST", path=ORDER_PATH))
    first = nbk(wd, "run", "target.json", "--yes", "--json")
    assert "Traceback" not in first.stderr, str(first)
    doc = first.doc
    # Either the order was resolved by lookup and the run went on, or the run stopped with a clear code.
    assert first.returncode in (0, 6, 7, 9), str(first)
    if first.returncode == 0:
        assert doc["data"]["filled"] == 2, doc

    posts = gateway.requests("POST", ORDER_PATH)
    booked_id = posts[0].params["newClientOrderId"]
    assert posts[0].status != 200, posts  # the fault applied to the first placement
    # The ambiguous order was looked up (GET by origClientOrderId) and never placed a second time.
    lookups = [r for r in gateway.requests("GET", ORDER_PATH) if r.params.get("origClientOrderId") == booked_id]
    assert any(r.seq > posts[0].seq for r in lookups), gateway.requests()
    assert [r.params["newClientOrderId"] for r in posts].count(booked_id) == 1, posts

    recover = nbk(wd, "recover")
    assert recover.returncode == 0, str(recover)
    second = nbk(wd, "run", "target.json", "--yes")
    assert second.returncode == 0, str(second)
    assert_converged(wd)


def test_ambiguous_place_whose_lookups_also_fail_stops_then_recover_resolves(wd: Workdir,
                                                                            gateway: BinanceGateway) -> None:
    """Booked, connection dropped, and every lookup by client id dropped too: the run cannot resolve the order.

    It must mark it ambiguous (exit 7, never re-place it); `recover` against a healthy gateway then resolves it
    and a second run converges without a second order for that client id.
    """
    take_fault = gateway.state.take_fault

    def take_and_arm(method: str, path: str) -> Fault | None:
        # Once the placement has been booked and dropped, drop the lookups that follow (and only those).
        fault = take_fault(method, path)
        if fault is not None and fault.kind == "drop_after_booking":
            gateway.state.faults.extend([Fault.dropped(method="GET", path=ORDER_PATH)] * 20)
        return fault

    gateway.state.take_fault = take_and_arm  # type: ignore[method-assign]
    gateway.inject(Fault.dropped_after_booking(method="POST", path=ORDER_PATH))

    first = nbk(wd, "run", "target.json", "--yes", "--json")
    assert "Traceback" not in first.stderr, str(first)
    assert first.returncode == 7, str(first)
    doc = first.doc
    assert doc["data"]["status"] == "partial", doc
    states = {o["symbol"]: o["state"] for o in doc["data"]["orders"]}
    assert states["AAPLUSDT"] == "ambiguous", doc
    booked_id = next(o["client_order_id"] for o in doc["data"]["orders"] if o["symbol"] == "AAPLUSDT")
    posts = gateway.requests("POST", ORDER_PATH)
    assert [r.params["newClientOrderId"] for r in posts].count(booked_id) == 1, posts

    gateway.state.faults.clear()
    recover = nbk(wd, "recover")
    assert recover.returncode == 0, str(recover)
    second = nbk(wd, "run", "target.json", "--yes")
    assert second.returncode == 0, str(second)
    assert_converged(wd)
    assert [r.params["newClientOrderId"] for r in gateway.requests("POST", ORDER_PATH)].count(booked_id) == 1


def test_kill9_during_slow_placement_then_recover_and_run_converge(wd: Workdir, gateway: BinanceGateway) -> None:
    """The gateway books the first order but answers only after 30 s; the run is SIGKILLed while it waits.

    `recover` must find the booked order by its client id and a second run must not place it again.
    """
    gateway.inject(Fault.slow(30.0, method="POST", path=ORDER_PATH))
    run = wd.start("run", "target.json", "--yes", env=KEYS)
    # The order is booked at the venue before the (delayed) answer: wait for it, then kill the run mid-request.
    booked = wait_for(lambda: wd.venue_orders() or (not run.alive() and ["exited"]), timeout=60,
                      message="the first order to be booked at the venue")
    assert run.alive(), f"the run ended before it could be killed: {booked}\n{run.stderr()}"
    assert len(booked) == 1, booked
    code = run.kill9()
    assert code == -9, code
    intent_ids = wd.our_client_ids()
    assert booked[0]["client_order_id"] in intent_ids, (booked, intent_ids)  # written ahead before sending

    recover = nbk(wd, "recover")
    assert recover.returncode == 0, str(recover)
    second = nbk(wd, "run", "target.json", "--yes")
    assert second.returncode == 0, str(second)
    assert_converged(wd)
    # The killed run's order was the only AAPL/MSFT placement for its symbol: nothing was doubled.
    orders = wd.venue_orders()
    assert sum(o["client_order_id"] == booked[0]["client_order_id"] for o in orders) == 1, orders
    assert len(orders) == 2, orders


# ---------------------------------------------------------------------------------------------- gateway command


def test_gateway_port_in_use_is_a_clean_error(wd: Workdir) -> None:
    """Repro: occupy a port on 127.0.0.1, then `nanobook sim init && nanobook gateway binance --port PORT`.

    Was (fixed): exit 1, "internal error: OSError … (please report this bug)". Now a deliberate one-line error
    naming the port (exit 6), so the user picks another one.
    """
    assert wd.nb("sim", "init").returncode == 0
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        gw = wd.start("gateway", "binance", "--port", str(port))
        try:
            result = gw.result(timeout=60)
        finally:
            gw.cleanup()
    assert result.returncode not in (0, 1), str(result)
    line = assert_one_clean_error(result, result.returncode, str(port))
    assert "internal error" not in line and "report this bug" not in line, line


def test_gateway_scenario_from_the_command_line(wd: Workdir) -> None:
    """`gateway binance --scenario unknown-after-booking`: the first order is booked but answered 503/-1007.

    The run must resolve it by client id (never place it twice) and the account converges to the target.
    """
    port = free_port()
    setup_venue(wd, port)
    gw = wd.start("gateway", "binance", "--port", str(port), "--scenario", "unknown-after-booking")
    try:
        wait_for(lambda: gw.stdout().strip() or (not gw.alive() and gw.stderr() + " [exited]"),
                 timeout=60, message="the gateway URL on stdout")
        assert "scenario unknown-after-booking" in gw.stderr(), gw.stderr()
        run = nbk(wd, "run", "target.json", "--yes", "--json")
        assert "Traceback" not in run.stderr, str(run)
        assert run.returncode in (0, 7, 9), str(run)
        if run.returncode != 0:
            assert nbk(wd, "recover").returncode == 0
            assert nbk(wd, "run", "target.json", "--yes").returncode == 0
        assert_converged(wd)
    finally:
        gw.cleanup()


def test_gateway_unknown_scenario_is_a_usage_error(wd: Workdir) -> None:
    result = wd.nb("gateway", "binance", "--port", "0", "--scenario", "nope")
    assert result.returncode == 2, str(result)
    assert "unknown scenario 'nope'" in result.stderr and "Traceback" not in result.stderr, str(result)


def test_gateway_empty_quote_asset_is_a_usage_error(wd: Workdir) -> None:
    result = wd.nb("gateway", "binance", "--port", "0", "--quote-asset", "")
    assert result.returncode == 2 and "an asset code such as USDT" in result.stderr, str(result)
