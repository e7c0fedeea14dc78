"""SQLite persistence of the simulated venue at `<root>/.nanobook/sim.db` (stdlib sqlite3).

WAL journal, synchronous=FULL, and every state change in one `BEGIN IMMEDIATE` transaction, so a kill -9 at any
point leaves either the whole change or none of it. Other processes may open the same file: writers queue on
SQLite's lock (busy timeout `BUSY_TIMEOUT_S`), readers see a consistent snapshot. Prices are integer ticks,
quantities integer shares, money (cash, commission, average cost) exact decimal TEXT.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from engine.brokers.sim import params
from engine.errors import BrokerUnavailable

SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    schema_version INTEGER NOT NULL,
    seed INTEGER NOT NULL,
    step INTEGER NOT NULL,
    cash TEXT NOT NULL,
    initial_cash TEXT NOT NULL,
    allow_short INTEGER NOT NULL,
    created_at TEXT NOT NULL,
    next_order INTEGER NOT NULL,
    next_fill INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS instruments (
    symbol TEXT PRIMARY KEY,
    ref_ticks INTEGER NOT NULL,
    initial_ticks INTEGER NOT NULL,
    tick TEXT NOT NULL,
    lot INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS positions (
    symbol TEXT PRIMARY KEY,
    qty INTEGER NOT NULL,
    avg_cost TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS orders (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    order_id TEXT NOT NULL UNIQUE,
    client_order_id TEXT NOT NULL UNIQUE,
    symbol TEXT NOT NULL,
    side TEXT NOT NULL CHECK (side IN ('buy', 'sell')),
    qty INTEGER NOT NULL,
    limit_ticks INTEGER NOT NULL,
    quantity TEXT NOT NULL,
    limit_price TEXT NOT NULL,
    tif TEXT NOT NULL,
    filled_qty INTEGER NOT NULL DEFAULT 0,
    filled_notional INTEGER NOT NULL DEFAULT 0,
    commission TEXT NOT NULL DEFAULT '0',
    state TEXT NOT NULL,
    reason TEXT,
    created_step INTEGER NOT NULL,
    updated_step INTEGER NOT NULL,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS orders_open ON orders (symbol, state);
CREATE TABLE IF NOT EXISTS fills (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    fill_id TEXT NOT NULL UNIQUE,
    order_id TEXT NOT NULL,
    client_order_id TEXT NOT NULL,
    symbol TEXT NOT NULL,
    side TEXT NOT NULL,
    qty INTEGER NOT NULL,
    price_ticks INTEGER NOT NULL,
    commission TEXT NOT NULL,
    step INTEGER NOT NULL,
    ts TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS taken (
    symbol TEXT NOT NULL,
    side TEXT NOT NULL,
    price_ticks INTEGER NOT NULL,
    qty INTEGER NOT NULL,
    PRIMARY KEY (symbol, side, price_ticks)
);
"""


class SimStore:
    """One connection to the venue database, serialised by a lock so threads may share the broker."""

    def __init__(self, root: Path) -> None:
        self.path = root / params.DB_DIR / params.DB_NAME
        self._conn: sqlite3.Connection | None = None
        self.lock = threading.RLock()

    def exists(self) -> bool:
        """True when the database file is there (it may still hold no venue); BrokerUnavailable if unreachable."""
        try:
            return self.path.is_file()
        except OSError as exc:  # e.g. .nanobook/ not searchable: is_file() only swallows "does not exist"
            raise BrokerUnavailable(f"simulated venue at {self.path} cannot be opened: {exc.strerror or exc}"
                                    ) from exc

    def connect(self) -> sqlite3.Connection:
        """Open (creating the directory and the schema) on first use."""
        with self.lock:
            if self._conn is None:
                try:
                    self.path.parent.mkdir(parents=True, exist_ok=True)
                    conn = sqlite3.connect(self.path, timeout=params.BUSY_TIMEOUT_S, isolation_level=None,
                                           check_same_thread=False)
                    conn.row_factory = sqlite3.Row
                    conn.execute("PRAGMA journal_mode=WAL")
                    conn.execute("PRAGMA synchronous=FULL")
                    conn.execute("PRAGMA foreign_keys=ON")
                    conn.execute("BEGIN IMMEDIATE")
                    for statement in SCHEMA.split(";"):
                        if statement.strip():
                            conn.execute(statement)
                    conn.execute("COMMIT")
                except (sqlite3.Error, OSError) as exc:
                    raise BrokerUnavailable(f"simulated venue at {self.path} cannot be opened: {exc}") from exc
                self._conn = conn
            return self._conn

    @contextmanager
    def write(self) -> Iterator[sqlite3.Connection]:
        """One atomic change: BEGIN IMMEDIATE … COMMIT (rolled back on any exception)."""
        with self.lock:
            conn = self.connect()
            self._begin(conn, "BEGIN IMMEDIATE")
            try:
                yield conn
            except sqlite3.Error as exc:
                conn.rollback()
                raise BrokerUnavailable(f"simulated venue at {self.path}: {exc}") from exc
            except BaseException:
                conn.rollback()
                raise
            try:
                conn.execute("COMMIT")
            except sqlite3.Error as exc:
                conn.rollback()
                raise BrokerUnavailable(f"simulated venue at {self.path}: commit failed: {exc}") from exc

    @contextmanager
    def read(self) -> Iterator[sqlite3.Connection]:
        """A consistent snapshot for several reads (a deferred transaction, never blocking writers in WAL)."""
        with self.lock:
            conn = self.connect()
            self._begin(conn, "BEGIN")
            try:
                yield conn
            except sqlite3.Error as exc:
                raise BrokerUnavailable(f"simulated venue at {self.path}: {exc}") from exc
            finally:
                conn.rollback()

    def _begin(self, conn: sqlite3.Connection, statement: str) -> None:
        try:
            conn.execute(statement)
        except sqlite3.OperationalError as exc:
            raise BrokerUnavailable(f"simulated venue at {self.path} is busy or unreadable: {exc}") from exc

    def close(self) -> None:
        """Close the connection (the next call reopens it)."""
        with self.lock:
            if self._conn is not None:
                self._conn.close()
                self._conn = None
