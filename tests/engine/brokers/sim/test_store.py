"""Persistence of the simulated venue: state across instances and processes, atomicity, kill -9, concurrency."""

from __future__ import annotations

import os
import random
import signal
import sqlite3
import subprocess
import sys
import time
from decimal import Decimal
from pathlib import Path

import pytest

from engine.brokers.base import OrderState
from engine.brokers.sim import SimBroker, SimVenue
from engine.brokers.sim.faults import CRASH_EXIT_CODE
from engine.errors import BrokerUnavailable
from tests.engine.brokers.sim.helpers import Clock, assert_ledger_consistent, req

REPO = Path(__file__).resolve().parents[4]


def worker(root: Path, *args: str) -> subprocess.Popen[str]:
    env = {k: v for k, v in os.environ.items() if k != "NANOBOOK_SIM_FAULTS"}
    return subprocess.Popen([sys.executable, "-m", "tests.engine.brokers.sim.worker", str(root), *args], cwd=REPO,
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def run_worker(root: Path, *args: str) -> subprocess.CompletedProcess[str]:
    proc = worker(root, *args)
    out, err = proc.communicate(timeout=120)
    return subprocess.CompletedProcess(proc.args, proc.returncode, out, err)


def test_state_survives_a_new_instance(tmp_path: Path) -> None:
    a = SimBroker(tmp_path, Clock())
    a.place_limit(req("p1", qty=10, price="186.00"))
    a.place_limit(req("p2", qty=5, price="150.00"))
    a.venue.step(3)
    a.venue.set_price("ZZZ", "12.34")
    snapshot = (a.account(), a.positions(), a.open_orders(), a.fills(), a.venue.book("AAPL", 5))
    a.close()
    b = SimBroker(tmp_path, Clock(), auto_init=False)
    assert (b.account(), b.positions(), b.open_orders(), b.fills(), b.venue.book("AAPL", 5)) == snapshot
    assert b.venue.summary()["step"] == 3
    assert b.quotes(["ZZZ"])["ZZZ"].last == Decimal("12.34")
    assert not b.venue.initialised_now
    assert_ledger_consistent(tmp_path)


def test_database_is_wal_with_full_sync(tmp_path: Path) -> None:
    broker = SimBroker(tmp_path, Clock())
    broker.account()
    conn = broker.venue.store.connect()
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert conn.execute("PRAGMA synchronous").fetchone()[0] == 2  # FULL


def test_a_failure_inside_the_booking_transaction_leaves_nothing(tmp_path: Path) -> None:
    broker = SimBroker(tmp_path, Clock())
    before = broker.account()

    def boom() -> None:
        raise RuntimeError("power cut")

    with pytest.raises(RuntimeError, match="power cut"):
        broker.venue.place(req("half", qty=10, price="186.00"), before_commit=boom)
    assert broker.order(client_order_id="half") is None
    assert broker.fills() == []
    assert broker.account() == before
    assert broker.place_limit(req("half", qty=10, price="186.00")).order_id == "SIM-000001"
    assert_ledger_consistent(tmp_path)


def test_init_refuses_an_existing_venue_unless_replacing(tmp_path: Path) -> None:
    venue = SimVenue(tmp_path, Clock())
    SimBroker(tmp_path, Clock()).place_limit(req("x", qty=1, price="186.00"))
    with pytest.raises(Exception, match=r"already exists .*step 0, 1 orders.*--force"):
        venue.init()
    data = venue.init(Decimal(5000), {"AAPL": 10_000, "NEW": 250}, seed=3, replace=True, bundled=False)
    assert (data["cash"], data["symbols"], data["seed"], data["orders"]) == ("5000.00", 2, 3, 0)
    order = SimBroker(tmp_path, Clock()).place_limit(req("y", qty=1, price="99.00"))
    assert order.order_id == "SIM-000002"  # ids keep counting across replacements


def test_reset_restores_the_start_and_keeps_ids_counting(tmp_path: Path) -> None:
    broker = SimBroker(tmp_path, Clock())
    broker.place_limit(req("r", qty=10, price="186.00"))
    broker.venue.set_price("AAPL", "200")
    broker.venue.set_price("NEWCO", "5")
    broker.venue.step(4)
    data = broker.venue.reset()
    assert (data["step"], data["orders"], data["fills"], data["cash"]) == (0, 0, 0, "1000000.00")
    assert broker.positions() == []
    assert broker.quotes(["AAPL"])["AAPL"].last == Decimal("185.00")
    assert broker.quotes(["NEWCO"])["NEWCO"].last == Decimal("5.00")
    assert broker.place_limit(req("r", qty=1, price="100.00")).order_id == "SIM-000002"


def test_a_newer_schema_is_refused(tmp_path: Path) -> None:
    SimBroker(tmp_path, Clock()).account()
    conn = sqlite3.connect(tmp_path / ".nanobook" / "sim.db")
    conn.execute("UPDATE meta SET schema_version = 99")
    conn.commit()
    conn.close()
    with pytest.raises(BrokerUnavailable, match="schema version 99"):
        SimBroker(tmp_path, Clock()).account()


def test_a_corrupt_file_is_unavailable_not_a_crash(tmp_path: Path) -> None:
    (tmp_path / ".nanobook").mkdir()
    (tmp_path / ".nanobook" / "sim.db").write_bytes(b"this is not a database" * 100)
    with pytest.raises(BrokerUnavailable, match=r"sim\.db"):
        SimBroker(tmp_path, Clock()).account()


# ------------------------------------------------------------------------------------------ processes


@pytest.mark.slow
def test_crash_inside_the_transaction_leaves_no_order(tmp_path: Path) -> None:
    SimBroker(tmp_path, Clock()).account()
    proc = run_worker(tmp_path, "place", "crash1", "buy", "10", "186.00", "crash_before_commit=1")
    assert proc.returncode == CRASH_EXIT_CODE, proc.stderr
    broker = SimBroker(tmp_path, Clock())
    assert broker.order(client_order_id="crash1") is None
    assert broker.account().cash == Decimal("1000000.00")
    assert_ledger_consistent(tmp_path)
    assert broker.place_limit(req("crash1", qty=10, price="186.00")).state is OrderState.FILLED
    assert len(broker.venue.orders_data()) == 1


@pytest.mark.slow
def test_crash_after_commit_keeps_the_order_and_a_retry_never_duplicates(tmp_path: Path) -> None:
    proc = run_worker(tmp_path, "place", "crash2", "buy", "10", "186.00", "crash_after_commit=1")
    assert proc.returncode == CRASH_EXIT_CODE, proc.stderr
    assert proc.stdout == ""  # it died before acknowledging
    retry = run_worker(tmp_path, "place", "crash2", "buy", "10", "186.00")
    assert retry.returncode == 0, retry.stderr
    assert retry.stdout.split() == ["SIM-000001", "filled"]
    assert [o["client_order_id"] for o in SimVenue(tmp_path, Clock()).orders_data()] == ["crash2"]
    assert_ledger_consistent(tmp_path)


@pytest.mark.slow
def test_kill_9_at_random_moments_leaves_a_consistent_venue(tmp_path: Path) -> None:
    SimBroker(tmp_path, Clock()).account()
    rng = random.Random(20260105)
    for _ in range(8):
        # Each run restarts the same client-id sequence k0, k1, ... (retrying what the last one may have booked)
        # and is killed somewhere in it; it never finishes on its own.
        proc = worker(tmp_path, "loop", "k", "1000000")
        time.sleep(0.3 + rng.random() * 0.9)
        assert proc.poll() is None
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
        assert_ledger_consistent(tmp_path)
    cids = [o["client_order_id"] for o in SimVenue(tmp_path, Clock()).orders_data()]
    assert len(cids) > 20
    # Every retry after a crash found its order: the ids are exactly k0..kN, each once.
    assert sorted(cids) == sorted(f"k{i}" for i in range(len(cids)))
    done = run_worker(tmp_path, "loop", "k", str(len(cids)))
    assert done.returncode == 0, done.stderr
    assert len(SimVenue(tmp_path, Clock()).orders_data()) == len(cids)
    assert_ledger_consistent(tmp_path)


@pytest.mark.slow
def test_concurrent_processes_share_the_venue_safely(tmp_path: Path) -> None:
    SimVenue(tmp_path, Clock(), auto_init=False).init(Decimal(50_000_000))
    procs = [worker(tmp_path, "loop", "a", "150"), worker(tmp_path, "loop", "a", "150"),
             worker(tmp_path, "loop", "b", "150"), worker(tmp_path, "step", "60")]
    for proc in procs:
        _, err = proc.communicate(timeout=180)
        assert proc.returncode == 0, err
    venue = SimVenue(tmp_path, Clock())
    cids = [o["client_order_id"] for o in venue.orders_data()]
    assert sorted(cids) == sorted([f"a{i}" for i in range(150)] + [f"b{i}" for i in range(150)])
    assert venue.summary()["step"] >= 60
    assert_ledger_consistent(tmp_path)


def test_an_unsearchable_venue_directory_is_broker_unavailable(tmp_path: Path,
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    """`.nanobook/` without search permission makes is_file() raise (it only swallows "not found")."""
    from engine.brokers.sim.store import SimStore

    def denied(self: Path) -> bool:
        raise PermissionError(13, "Permission denied", str(self))

    monkeypatch.setattr(Path, "is_file", denied)
    with pytest.raises(BrokerUnavailable, match="cannot be opened: Permission denied"):
        SimStore(tmp_path).exists()
