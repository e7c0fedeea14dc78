"""The gateway's own ledger: TWS orderId/permId/execId <-> venue order and fill ids, in `<root>/.nanobook/tws.db`.

A gateway restart keeps every mapping, so a reconnecting client still sees its orders under the same ids. Knows
nothing about sockets or messages; every write is one committed transaction.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from decimal import Decimal
from pathlib import Path

from engine.brokers.sim import params as sim_params
from engine.errors import BrokerUnavailable

DB_NAME = "tws.db"
FIRST_PERM_ID = 900_000_001
TERMINAL = ("Filled", "Cancelled", "Inactive")

SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS orders (
    perm_id INTEGER PRIMARY KEY,
    client_id INTEGER NOT NULL,
    order_id INTEGER NOT NULL,
    account TEXT NOT NULL,
    symbol TEXT NOT NULL,
    action TEXT NOT NULL,
    quantity TEXT NOT NULL,
    limit_price TEXT NOT NULL,
    tif TEXT NOT NULL,
    order_ref TEXT NOT NULL,
    venue_order_id TEXT,
    status TEXT NOT NULL,
    filled TEXT NOT NULL DEFAULT '0',
    notional TEXT NOT NULL DEFAULT '0',
    last_fill_price TEXT NOT NULL DEFAULT '0',
    reason TEXT NOT NULL DEFAULT '',
    created_at TEXT NOT NULL,
    done_at TEXT NOT NULL DEFAULT '',
    UNIQUE (client_id, order_id)
);
CREATE TABLE IF NOT EXISTS venue_orders (
    venue_order_id TEXT PRIMARY KEY,
    venue_client_id TEXT NOT NULL UNIQUE,
    perm_id INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS executions (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    exec_id TEXT NOT NULL UNIQUE,
    venue_fill_id TEXT NOT NULL UNIQUE,
    perm_id INTEGER NOT NULL,
    shares TEXT NOT NULL,
    price TEXT NOT NULL,
    commission TEXT NOT NULL,
    cum_qty TEXT NOT NULL,
    avg_price TEXT NOT NULL,
    ts TEXT NOT NULL,
    liquidity INTEGER NOT NULL DEFAULT 1
);
"""


@dataclass(frozen=True, slots=True)
class TwsOrder:
    """One TWS order (one permId); `venue_order_id` is the venue order currently carrying it."""

    perm_id: int
    client_id: int
    order_id: int
    account: str
    symbol: str
    action: str
    quantity: Decimal
    limit_price: Decimal
    tif: str
    order_ref: str
    venue_order_id: str | None
    status: str
    filled: Decimal
    notional: Decimal
    last_fill_price: Decimal
    reason: str
    created_at: str
    done_at: str

    @property
    def is_done(self) -> bool:
        """Filled, Cancelled or Inactive."""
        return self.status in TERMINAL

    @property
    def avg_price(self) -> Decimal:
        """Average fill price so far (0 before any fill)."""
        return self.notional / self.filled if self.filled else Decimal(0)


@dataclass(frozen=True, slots=True)
class TwsExecution:
    """One execution the gateway has reported (or will report on request)."""

    seq: int
    exec_id: str
    venue_fill_id: str
    perm_id: int
    shares: Decimal
    price: Decimal
    commission: Decimal
    cum_qty: Decimal
    avg_price: Decimal
    ts: str
    liquidity: int = 1       # 1 added (the order rested), 2 removed (it crossed on arrival)


class TwsState:
    """SQLite-backed mappings. Thread-safe (one connection behind a lock)."""

    def __init__(self, root: Path) -> None:
        self.path = Path(root) / sim_params.DB_DIR / DB_NAME
        self._lock = threading.RLock()
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._conn = sqlite3.connect(self.path, timeout=sim_params.BUSY_TIMEOUT_S, isolation_level=None,
                                         check_same_thread=False)
            self._conn.row_factory = sqlite3.Row
            self._conn.execute("PRAGMA journal_mode=WAL")
            self._conn.executescript(SCHEMA)
        except (sqlite3.Error, OSError) as exc:
            raise BrokerUnavailable(f"TWS gateway state at {self.path} cannot be opened: {exc}") from exc

    def close(self) -> None:
        """Close the database."""
        with self._lock:
            self._conn.close()

    @contextmanager
    def _tx(self) -> Iterator[sqlite3.Connection]:
        with self._lock:
            self._conn.execute("BEGIN IMMEDIATE")
            try:
                yield self._conn
            except BaseException:
                self._conn.rollback()
                raise
            self._conn.execute("COMMIT")

    # ------------------------------------------------------------------ ids

    def next_perm_id(self) -> int:
        """Allocate a permId (never reused, across restarts)."""
        with self._tx() as c:
            row = c.execute("SELECT value FROM meta WHERE key = 'next_perm'").fetchone()
            perm = int(row[0]) if row else FIRST_PERM_ID
            c.execute("INSERT INTO meta (key, value) VALUES ('next_perm', ?) ON CONFLICT (key) DO UPDATE "
                      "SET value = excluded.value", (str(perm + 1),))
        return perm

    def next_order_id(self) -> int:
        """The next valid order id for any client: one above every id ever used (at least 1)."""
        with self._lock:
            row = self._conn.execute("SELECT MAX(order_id) FROM orders").fetchone()
        return max(1, int(row[0] or 0) + 1)

    # ------------------------------------------------------------------ orders

    def add_order(self, order: TwsOrder) -> None:
        """Record a new TWS order (before it reaches the venue: the intent survives a crash)."""
        with self._tx() as c:
            c.execute("INSERT INTO orders (perm_id, client_id, order_id, account, symbol, action, quantity, "
                      "limit_price, tif, order_ref, venue_order_id, status, created_at) "
                      "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                      (order.perm_id, order.client_id, order.order_id, order.account, order.symbol, order.action,
                       str(order.quantity), str(order.limit_price), order.tif, order.order_ref,
                       order.venue_order_id, order.status, order.created_at))

    def save(self, order: TwsOrder) -> TwsOrder:
        """Persist the mutable columns of `order`; returns it."""
        with self._tx() as c:
            c.execute("UPDATE orders SET quantity = ?, limit_price = ?, tif = ?, venue_order_id = ?, status = ?, "
                      "filled = ?, notional = ?, last_fill_price = ?, reason = ?, done_at = ? WHERE perm_id = ?",
                      (str(order.quantity), str(order.limit_price), order.tif, order.venue_order_id, order.status,
                       str(order.filled), str(order.notional), str(order.last_fill_price), order.reason,
                       order.done_at, order.perm_id))
        return order

    def link_venue_order(self, perm_id: int, venue_order_id: str, venue_client_id: str) -> None:
        """Remember that `venue_order_id` carries (part of) TWS order `perm_id`."""
        with self._tx() as c:
            c.execute("INSERT OR IGNORE INTO venue_orders (venue_order_id, venue_client_id, perm_id) "
                      "VALUES (?, ?, ?)", (venue_order_id, venue_client_id, perm_id))

    def venue_links(self) -> dict[str, int]:
        """venue order id -> permId for every venue order the gateway placed."""
        with self._lock:
            rows = self._conn.execute("SELECT venue_order_id, perm_id FROM venue_orders").fetchall()
        return {r[0]: int(r[1]) for r in rows}

    def venue_order_count(self, perm_id: int) -> int:
        """How many venue orders have carried this TWS order (1 + modifications)."""
        with self._lock:
            return int(self._conn.execute("SELECT COUNT(*) FROM venue_orders WHERE perm_id = ?",
                                          (perm_id,)).fetchone()[0])

    def order_count(self, order_ref: str) -> int:
        """Venue orders ever placed for TWS orders carrying this orderRef."""
        with self._lock:
            row = self._conn.execute("SELECT COUNT(*) FROM venue_orders v JOIN orders o USING (perm_id) "
                                     "WHERE o.order_ref = ?", (order_ref,)).fetchone()
        return int(row[0])

    def by_perm(self, perm_id: int) -> TwsOrder | None:
        """The order with this permId."""
        with self._lock:
            row = self._conn.execute("SELECT * FROM orders WHERE perm_id = ?", (perm_id,)).fetchone()
        return None if row is None else _order(row)

    def by_client(self, client_id: int, order_id: int) -> TwsOrder | None:
        """The order a client knows as `order_id`."""
        with self._lock:
            row = self._conn.execute("SELECT * FROM orders WHERE client_id = ? AND order_id = ?",
                                     (client_id, order_id)).fetchone()
        return None if row is None else _order(row)

    def orders(self, *, working: bool | None = None) -> list[TwsOrder]:
        """Every order, oldest first; only working (or only done) ones when asked."""
        where = "" if working is None else f"WHERE status {'NOT IN' if working else 'IN'} (?, ?, ?)"
        with self._lock:
            rows = self._conn.execute(f"SELECT * FROM orders {where} ORDER BY perm_id",
                                      () if working is None else TERMINAL).fetchall()
        return [_order(r) for r in rows]

    # ------------------------------------------------------------------ executions

    def add_execution(self, ex: TwsExecution, order: TwsOrder) -> None:
        """Record a reported execution together with the order's new running totals (one transaction)."""
        with self._tx() as c:
            c.execute("INSERT INTO executions (exec_id, venue_fill_id, perm_id, shares, price, commission, cum_qty, "
                      "avg_price, ts, liquidity) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                      (ex.exec_id, ex.venue_fill_id, ex.perm_id, str(ex.shares), str(ex.price), str(ex.commission),
                       str(ex.cum_qty), str(ex.avg_price), ex.ts, ex.liquidity))
            c.execute("UPDATE orders SET status = ?, filled = ?, notional = ?, last_fill_price = ?, done_at = ? "
                      "WHERE perm_id = ?", (order.status, str(order.filled), str(order.notional),
                                            str(order.last_fill_price), order.done_at, order.perm_id))

    def known_fill_ids(self) -> set[str]:
        """Venue fill ids already turned into executions."""
        with self._lock:
            return {r[0] for r in self._conn.execute("SELECT venue_fill_id FROM executions").fetchall()}

    def executions(self) -> list[TwsExecution]:
        """Every execution, in report order."""
        with self._lock:
            rows = self._conn.execute("SELECT * FROM executions ORDER BY seq").fetchall()
        return [TwsExecution(r["seq"], r["exec_id"], r["venue_fill_id"], int(r["perm_id"]), Decimal(r["shares"]),
                             Decimal(r["price"]), Decimal(r["commission"]), Decimal(r["cum_qty"]),
                             Decimal(r["avg_price"]), r["ts"], int(r["liquidity"])) for r in rows]


def exec_id_for(seq_hint: int, perm_id: int) -> str:
    """TWS-shaped execution id (`0000e0d5.65a1b2c3.01.01`), unique per venue fill and stable once stored."""
    return f"{seq_hint & 0xFFFFFFFF:08x}.{perm_id & 0xFFFFFFFF:08x}.01.01"


def with_status(order: TwsOrder, status: str, done_at: str = "", reason: str | None = None) -> TwsOrder:
    """A copy with a new status (and completion time / reason when it finished)."""
    return replace(order, status=status, done_at=done_at or order.done_at,
                   reason=order.reason if reason is None else reason)


def _order(r: sqlite3.Row) -> TwsOrder:
    return TwsOrder(perm_id=int(r["perm_id"]), client_id=int(r["client_id"]), order_id=int(r["order_id"]),
                    account=r["account"], symbol=r["symbol"], action=r["action"], quantity=Decimal(r["quantity"]),
                    limit_price=Decimal(r["limit_price"]), tif=r["tif"], order_ref=r["order_ref"],
                    venue_order_id=r["venue_order_id"], status=r["status"], filled=Decimal(r["filled"]),
                    notional=Decimal(r["notional"]), last_fill_price=Decimal(r["last_fill_price"]),
                    reason=r["reason"], created_at=r["created_at"], done_at=r["done_at"])
