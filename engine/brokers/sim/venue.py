"""The simulated venue: account, listing, orders and fills over `SimStore`, matched by `market` on engine.lob books.

Every operation is one SQLite transaction (an order is booked with its matching result, or not at all: no pending
rows). A symbol's book is rebuilt whenever it can trade (an order arrives, the market steps, a price is set): seeded
liquidity less what the account took this step, plus its resting orders in time priority. Cash account: buys need
cash for limit × quantity + commission, sells need unreserved holdings. "day" orders rest like "gtc" (no sessions).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import ROUND_HALF_EVEN, Decimal
from pathlib import Path
from typing import Any, cast

from engine.brokers.base import (
    Account,
    BrokerOrder,
    Fill,
    Instrument,
    OrderRequest,
    OrderState,
    Position,
    Quote,
    Side,
)
from engine.brokers.sim import market, params
from engine.brokers.sim.errors import VenueInputError
from engine.brokers.sim.prices import bundled_prices, normalize_symbol, price_to_ticks, ticks_to_price
from engine.brokers.sim.store import SimStore
from engine.errors import BrokerUnavailable, OrderRejected, UnknownSymbol

Clock = Callable[[], datetime]
OPEN_STATES = (OrderState.SUBMITTED.value, OrderState.PARTIALLY_FILLED.value)
_SIX = Decimal("0.000001")


def utc_now() -> datetime:
    """Wall-clock default for the venue's clock (inject a fixed clock for deterministic output)."""
    return datetime.now(UTC)


def commission_for(quantity: int) -> Decimal:
    """Commission of an order that has filled `quantity` shares so far ($0.0035/share, $0.35 minimum per order)."""
    return max(params.COMMISSION_MIN, params.COMMISSION_PER_SHARE * quantity) if quantity else Decimal(0)


def money(value: Decimal) -> Decimal:
    """Round to 6 places (half-even) and drop trailing zeros beyond the cent: 185.030000 -> 185.03."""
    q = value.quantize(_SIX, rounding=ROUND_HALF_EVEN)
    cents = q.quantize(params.TICK)
    return cents if cents == q else q.normalize()


def unknown_symbol(symbol: str) -> UnknownSymbol:
    """The one error for a symbol the venue does not list, with the command that adds it."""
    return UnknownSymbol(symbol, f"the simulated venue does not list it; add it with "
                                 f"`nanobook sim set-price {symbol} PRICE`")


@dataclass(slots=True)
class _Meta:
    seed: int
    step: int
    cash: Decimal
    initial_cash: Decimal
    allow_short: bool
    created_at: str
    next_order: int
    next_fill: int


@dataclass(frozen=True, slots=True)
class StepReport:
    """What `step` did: the step counter before and after, and the fills of resting orders it caused."""

    from_step: int
    to_step: int
    fills: list[Fill] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class PriceUpdate:
    """What `set_price` did: whether the symbol was new, its price before and after, and any fills it caused."""

    symbol: str
    added: bool
    old_price: Decimal | None
    price: Decimal
    fills: list[Fill] = field(default_factory=list)


class SimVenue:
    """The persistent simulated venue under `<root>/.nanobook/sim.db`.

    With `auto_init` (the default), first use creates the venue with $1,000,000 and the bundled price table;
    without it a missing venue raises BrokerUnavailable naming `nanobook sim init`.
    """

    def __init__(self, root: Path | None = None, clock: Clock | None = None, *, auto_init: bool = True,
                 initial_cash: Decimal = params.DEFAULT_CASH, seed: int = params.DEFAULT_SEED) -> None:
        self.root = Path.cwd() if root is None else Path(root)
        self.store = SimStore(self.root)
        self.auto_init = auto_init
        self.initial_cash = initial_cash  # used only when first use creates the venue ([sim] in config.toml)
        self.seed = seed
        self.initialised_now = False      # True when this object created the venue (the CLI says so on stderr)
        self._clock = clock or utc_now
        self._ready = False

    @property
    def path(self) -> Path:
        """The database file."""
        return self.store.path

    # ------------------------------------------------------------------ lifecycle

    def now(self) -> datetime:
        """The injected clock, as aware UTC."""
        t = self._clock()
        return t.replace(tzinfo=UTC) if t.tzinfo is None else t.astimezone(UTC)

    def _now_iso(self) -> str:
        return self.now().isoformat(timespec="microseconds")

    def exists(self) -> bool:
        """True when a venue has been initialised here."""
        if not self.store.exists():
            return False
        with self.store.read() as c:
            return c.execute("SELECT 1 FROM meta").fetchone() is not None

    def ensure(self) -> None:
        """Make sure the venue exists (creating it when `auto_init`) and has the schema this code expects."""
        if self._ready:
            return
        missing = (f"no simulated venue at {self.path}; create one with `nanobook sim init` "
                   f"(or let the first use create it)")
        if not self.store.exists() and not self.auto_init:
            raise BrokerUnavailable(missing)
        with self.store.write() as c:
            row = c.execute("SELECT schema_version FROM meta").fetchone()
            if row is None:
                if not self.auto_init:
                    raise BrokerUnavailable(missing)
                self._initialise(c, self.initial_cash, bundled_prices(), self.seed, False, None)
                self.initialised_now = True
            elif row[0] != params.SCHEMA_VERSION:
                raise BrokerUnavailable(f"simulated venue at {self.path} has schema version {row[0]}, this "
                                        f"nanobook expects {params.SCHEMA_VERSION}; recreate it with "
                                        f"`nanobook sim init --force`")
        self._ready = True

    def init(self, cash: Decimal = params.DEFAULT_CASH, prices: Mapping[str, int] | None = None, *,
             seed: int = params.DEFAULT_SEED, allow_short: bool = False, replace: bool = False,
             bundled: bool = True) -> dict[str, Any]:
        """Create the venue: `cash`, the bundled prices (unless `bundled=False`) overlaid with `prices` (ticks).

        An existing venue is an error unless `replace`; order and fill ids keep counting up across replacements
        so an old audit log never names a new order.
        """
        cash = self._check_cash(cash)
        table = {**(bundled_prices() if bundled else {}), **(prices or {})}
        if not table:
            raise VenueInputError("the venue needs at least one symbol (give --prices or keep the bundled table)")
        with self.store.write() as c:
            meta = self._load_meta(c)
            if meta is not None and not replace:
                n = c.execute("SELECT COUNT(*) FROM orders").fetchone()[0]
                raise VenueInputError(
                    f"a simulated venue already exists at {self.path} (step {meta.step}, {n} orders); "
                    f"`nanobook sim init --force` replaces it, `nanobook sim reset` restarts it")
            self._wipe(c, instruments=True)
            self._initialise(c, cash, table, seed, allow_short, meta)
        self._ready = True
        return self.summary()

    def reset(self) -> dict[str, Any]:
        """Back to step 0: the initial cash, each symbol's first price; orders, fills and positions cleared."""
        self.ensure()
        with self.store.write() as c:
            meta = self._meta(c)
            self._wipe(c, instruments=False)
            c.execute("UPDATE instruments SET ref_ticks = initial_ticks")
            meta.step = 0
            meta.cash = meta.initial_cash
            meta.created_at = self._now_iso()
            self._save_meta(c, meta)
        return self.summary()

    def close(self) -> None:
        """Close the database connection."""
        self.store.close()

    @staticmethod
    def _check_cash(cash: Decimal) -> Decimal:
        if not isinstance(cash, Decimal) or not cash.is_finite() or cash < 0:
            raise VenueInputError(f"cash must be a non-negative amount, got {cash}")
        return cash.quantize(params.TICK, rounding=ROUND_HALF_EVEN)

    def _initialise(self, c: sqlite3.Connection, cash: Decimal, table: Mapping[str, int], seed: int,
                    allow_short: bool, previous: _Meta | None) -> None:
        cash = self._check_cash(cash)
        meta = _Meta(seed=seed, step=0, cash=cash, initial_cash=cash, allow_short=allow_short,
                     created_at=self._now_iso(),
                     next_order=previous.next_order if previous else 1,
                     next_fill=previous.next_fill if previous else 1)
        c.execute("DELETE FROM meta")
        c.execute("INSERT INTO meta (id, schema_version, seed, step, cash, initial_cash, allow_short, created_at, "
                  "next_order, next_fill) VALUES (1, ?, ?, 0, ?, ?, ?, ?, ?, ?)",
                  (params.SCHEMA_VERSION, seed, str(cash), str(cash), int(allow_short), meta.created_at,
                   meta.next_order, meta.next_fill))
        c.executemany("INSERT INTO instruments (symbol, ref_ticks, initial_ticks, tick, lot) VALUES (?, ?, ?, ?, ?)",
                      [(s, t, t, str(params.TICK), params.LOT) for s, t in sorted(table.items())])

    @staticmethod
    def _wipe(c: sqlite3.Connection, *, instruments: bool) -> None:
        for table in ("orders", "fills", "positions", "taken", *(("instruments",) if instruments else ())):
            c.execute(f"DELETE FROM {table}")

    @staticmethod
    def _load_meta(c: sqlite3.Connection) -> _Meta | None:
        row = c.execute("SELECT * FROM meta").fetchone()
        if row is None:
            return None
        return _Meta(seed=row["seed"], step=row["step"], cash=Decimal(row["cash"]),
                     initial_cash=Decimal(row["initial_cash"]), allow_short=bool(row["allow_short"]),
                     created_at=row["created_at"], next_order=row["next_order"], next_fill=row["next_fill"])

    def _meta(self, c: sqlite3.Connection) -> _Meta:
        meta = self._load_meta(c)
        if meta is None:  # another process wiped the file under us
            raise BrokerUnavailable(f"simulated venue at {self.path} is not initialised; run `nanobook sim init`")
        return meta

    @staticmethod
    def _save_meta(c: sqlite3.Connection, meta: _Meta) -> None:
        c.execute("UPDATE meta SET step = ?, cash = ?, initial_cash = ?, created_at = ?, next_order = ?, "
                  "next_fill = ?", (meta.step, str(meta.cash), str(meta.initial_cash), meta.created_at,
                                    meta.next_order, meta.next_fill))

    # ------------------------------------------------------------------ broker reads

    def account(self) -> Account:
        """Cash, equity = cash + Σ quantity × mid, buying power = cash less what open buys reserve."""
        self.ensure()
        with self.store.read() as c:
            meta = self._meta(c)
            equity = meta.cash
            for row in c.execute("SELECT symbol, qty FROM positions WHERE qty != 0").fetchall():
                quote = self._quote(c, meta, row["symbol"])
                mid = quote.mid
                if mid is not None:
                    equity += mid * row["qty"]
            available = meta.cash - self._reserved_cash(c)
        return Account(account_id=params.ACCOUNT_ID, currency=params.CURRENCY, cash=meta.cash, equity=money(equity),
                       buying_power=max(Decimal(0), available), kind="margin" if meta.allow_short else "cash",
                       paper=True)

    def positions(self) -> list[Position]:
        """Non-zero holdings, by symbol."""
        self.ensure()
        with self.store.read() as c:
            rows = c.execute("SELECT * FROM positions WHERE qty != 0 ORDER BY symbol").fetchall()
        return [Position(r["symbol"], Decimal(r["qty"]), Decimal(r["avg_cost"])) for r in rows]

    def quotes(self, symbols: Sequence[str]) -> dict[str, Quote]:
        """Top of the combined book (venue liquidity and resting account orders); `last` is the reference price."""
        self.ensure()
        with self.store.read() as c:
            meta = self._meta(c)
            return {s: self._quote(c, meta, s) for s in symbols}

    def instruments(self, symbols: Sequence[str]) -> dict[str, Instrument]:
        """Trading rules: tick 0.01, lot 1, minimum quantity 1 for every listed symbol."""
        self.ensure()
        out: dict[str, Instrument] = {}
        with self.store.read() as c:
            for s in symbols:
                row = c.execute("SELECT tick, lot FROM instruments WHERE symbol = ?", (s,)).fetchone()
                if row is None:
                    raise unknown_symbol(s)
                out[s] = Instrument(symbol=s, tick_size=Decimal(row["tick"]), lot_size=Decimal(row["lot"]),
                                    min_quantity=Decimal(params.MIN_QUANTITY), currency=params.CURRENCY)
        return out

    def order(self, order_id: str | None = None, client_order_id: str | None = None) -> BrokerOrder | None:
        """Look an order up by venue id and/or client order id (both given: they must name the same order)."""
        if order_id is None and client_order_id is None:
            raise ValueError("order() needs order_id or client_order_id")
        self.ensure()
        with self.store.read() as c:
            row = self._order_row(c, order_id, client_order_id)
        return None if row is None else _to_order(row)

    def open_orders(self) -> list[BrokerOrder]:
        """Working orders, oldest first."""
        self.ensure()
        with self.store.read() as c:
            rows = c.execute("SELECT * FROM orders WHERE state IN (?, ?) ORDER BY seq", OPEN_STATES).fetchall()
        return [_to_order(r) for r in rows]

    def all_orders(self) -> list[BrokerOrder]:
        """Every order the venue ever received (rejected ones included), oldest first."""
        self.ensure()
        with self.store.read() as c:
            rows = c.execute("SELECT * FROM orders ORDER BY seq").fetchall()
        return [_to_order(r) for r in rows]

    def fills(self, since: datetime | None = None) -> list[Fill]:
        """Executions, oldest first; only those at or after `since` when given."""
        self.ensure()
        with self.store.read() as c:
            rows = c.execute("SELECT * FROM fills ORDER BY seq").fetchall()
        out = [_to_fill(r) for r in rows]
        if since is not None:
            if since.tzinfo is None:
                since = since.replace(tzinfo=UTC)
            out = [f for f in out if f.ts >= since]
        return out

    # ------------------------------------------------------------------ broker writes

    def place(self, request: OrderRequest, before_commit: Callable[[], None] | None = None
              ) -> tuple[BrokerOrder, bool]:
        """Book and match a limit order; (order, created). A known client order id returns that order, uncreated.

        A new order the venue refuses is recorded as rejected (so it is found by client id) and returned with
        created=True; the broker turns that into OrderRejected. UnknownSymbol records nothing.
        """
        self.ensure()
        with self.store.write() as c:
            row = self._order_row(c, None, request.client_order_id)
            if row is not None:
                return _to_order(row), False
            meta = self._meta(c)
            if c.execute("SELECT 1 FROM instruments WHERE symbol = ?", (request.symbol,)).fetchone() is None:
                raise unknown_symbol(request.symbol)
            qty, ticks, reason = self._vet(c, meta, request)
            order_id = f"{params.ORDER_ID_PREFIX}{meta.next_order:06d}"
            meta.next_order += 1
            now = self._now_iso()
            state = OrderState.REJECTED if reason else OrderState.SUBMITTED
            # Accepted orders keep the venue's normalised amounts; rejected ones exactly what was sent.
            shown = ((request.quantity, request.limit_price) if reason else (Decimal(qty), ticks_to_price(ticks)))
            c.execute("INSERT INTO orders (order_id, client_order_id, symbol, side, qty, limit_ticks, quantity, "
                      "limit_price, tif, state, reason, created_step, updated_step, created_at, updated_at) "
                      "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                      (order_id, request.client_order_id, request.symbol, request.side, qty, ticks, str(shown[0]),
                       str(shown[1]), request.time_in_force, state.value, reason, meta.step, meta.step, now, now))
            if reason is None:
                incoming = market.ClientOrder(order_id, request.side, ticks, qty)
                self._rematch(c, meta, request.symbol, incoming, now)
            self._save_meta(c, meta)
            row = self._order_row(c, order_id, None)
            if before_commit is not None:
                before_commit()
        assert row is not None
        return _to_order(row), True

    def cancel(self, order_id: str) -> BrokerOrder:
        """Cancel a working order (its fills stand); a terminal order is returned unchanged."""
        self.ensure()
        with self.store.write() as c:
            row = self._order_row(c, order_id, None)
            if row is None:
                raise OrderRejected(order_id, "no such order at the simulated venue")
            if OrderState(row["state"]).is_terminal:
                return _to_order(row)
            meta = self._meta(c)
            c.execute("UPDATE orders SET state = ?, reason = ?, updated_step = ?, updated_at = ? WHERE order_id = ?",
                      (OrderState.CANCELLED.value, "cancelled by request", meta.step, self._now_iso(), order_id))
            row = self._order_row(c, order_id, None)
        assert row is not None
        return _to_order(row)

    # ------------------------------------------------------------------ market management

    def step(self, n: int = 1) -> StepReport:
        """Advance the market `n` steps: walk every reference, refresh liquidity, re-match resting orders.

        Each step is its own transaction, so an interrupted `step 100` leaves a consistent venue at some step.
        """
        if n < 1:
            raise VenueInputError(f"step count must be at least 1, got {n}")
        self.ensure()
        fills: list[Fill] = []
        start: int | None = None
        end = 0
        for _ in range(n):
            with self.store.write() as c:
                meta = self._meta(c)
                start = meta.step if start is None else start
                meta.step += 1
                rows = c.execute("SELECT symbol, ref_ticks FROM instruments ORDER BY symbol").fetchall()
                c.executemany("UPDATE instruments SET ref_ticks = ? WHERE symbol = ?",
                              [(market.walk(meta.seed, r["symbol"], meta.step, r["ref_ticks"]), r["symbol"])
                               for r in rows])
                c.execute("DELETE FROM taken")
                now = self._now_iso()
                for symbol in self._symbols_with_open_orders(c):
                    fills += self._rematch(c, meta, symbol, None, now)
                self._save_meta(c, meta)
                end = meta.step
        return StepReport(from_step=start if start is not None else end, to_step=end, fills=fills)

    def set_price(self, symbol: str, price: Decimal | str) -> PriceUpdate:
        """List `symbol` at `price`, or move its reference there; fresh liquidity; resting orders may fill."""
        symbol = normalize_symbol(symbol)
        ticks = price_to_ticks(price)
        self.ensure()
        with self.store.write() as c:
            meta = self._meta(c)
            row = c.execute("SELECT ref_ticks FROM instruments WHERE symbol = ?", (symbol,)).fetchone()
            if row is None:
                c.execute("INSERT INTO instruments (symbol, ref_ticks, initial_ticks, tick, lot) "
                          "VALUES (?, ?, ?, ?, ?)", (symbol, ticks, ticks, str(params.TICK), params.LOT))
            else:
                c.execute("UPDATE instruments SET ref_ticks = ? WHERE symbol = ?", (ticks, symbol))
            c.execute("DELETE FROM taken WHERE symbol = ?", (symbol,))
            fills = self._rematch(c, meta, symbol, None, self._now_iso()) if row is not None else []
            self._save_meta(c, meta)
        return PriceUpdate(symbol=symbol, added=row is None, old_price=None if row is None else
                           ticks_to_price(row["ref_ticks"]), price=ticks_to_price(ticks), fills=fills)

    def set_prices(self, table: Mapping[str, int]) -> int:
        """Set many reference prices (ticks) at once in one transaction; returns how many symbols were new."""
        self.ensure()
        added = 0
        with self.store.write() as c:
            meta = self._meta(c)
            now = self._now_iso()
            for symbol, ticks in sorted(table.items()):
                exists = c.execute("SELECT 1 FROM instruments WHERE symbol = ?", (symbol,)).fetchone() is not None
                if exists:
                    c.execute("UPDATE instruments SET ref_ticks = ? WHERE symbol = ?", (ticks, symbol))
                    c.execute("DELETE FROM taken WHERE symbol = ?", (symbol,))
                    self._rematch(c, meta, symbol, None, now)
                else:
                    added += 1
                    c.execute("INSERT INTO instruments (symbol, ref_ticks, initial_ticks, tick, lot) "
                              "VALUES (?, ?, ?, ?, ?)", (symbol, ticks, ticks, str(params.TICK), params.LOT))
            self._save_meta(c, meta)
        return added

    # ------------------------------------------------------------------ views for the CLI

    def summary(self) -> dict[str, Any]:
        """Venue facts: path, step, seed, cash, symbols, order and fill counts."""
        self.ensure()
        with self.store.read() as c:
            meta = self._meta(c)
            count = {t: c.execute(f"SELECT COUNT(*) FROM {t}").fetchone()[0]
                     for t in ("instruments", "orders", "fills")}
            open_count = c.execute("SELECT COUNT(*) FROM orders WHERE state IN (?, ?)", OPEN_STATES).fetchone()[0]
        return {"path": str(self.path), "step": meta.step, "seed": meta.seed, "created_at": meta.created_at,
                "cash": str(meta.cash), "initial_cash": str(meta.initial_cash), "allow_short": meta.allow_short,
                "symbols": count["instruments"], "orders": count["orders"], "open_orders": open_count,
                "fills": count["fills"]}

    def show(self, book_symbol: str | None = None, depth: int = 10) -> dict[str, Any]:
        """Everything `nanobook sim show` prints: venue, account, positions (valued at mid), open orders, a book."""
        account = self.account()
        positions = self.positions()
        quotes = self.quotes([p.symbol for p in positions])
        rows = []
        for p in positions:
            mid = quotes[p.symbol].mid
            rows.append({"symbol": p.symbol, "quantity": str(p.quantity), "avg_cost": str(p.avg_cost),
                         "mid": None if mid is None else str(money(mid)),
                         "market_value": None if mid is None else str(money(mid * p.quantity)),
                         "unrealized_pnl": None if mid is None else str(money((mid - p.avg_cost) * p.quantity))})
        data: dict[str, Any] = {
            "venue": self.summary(),
            "account": {"account_id": account.account_id, "currency": account.currency, "kind": account.kind,
                        "cash": str(account.cash), "equity": str(account.equity),
                        "buying_power": str(account.buying_power)},
            "positions": rows,
            "open_orders": [order_dict(o) for o in self.open_orders()],
        }
        if book_symbol is not None:
            data["book"] = self.book(book_symbol, depth)
        return data

    def book(self, symbol: str, depth: int = 10) -> dict[str, Any]:
        """The symbol's current book, best first: venue liquidity and resting account orders, aggregated by price."""
        self.ensure()
        with self.store.read() as c:
            meta = self._meta(c)
            bids, asks, resting, ref = self._book_inputs(c, meta, symbol)
        snap = market.match(bids, asks, resting).book.depth(depth)

        def levels(side: Sequence[Any]) -> list[dict[str, Any]]:
            return [{"price": str(ticks_to_price(lv.price)), "quantity": str(lv.quantity),
                     "order_count": lv.order_count} for lv in side]

        return {"symbol": symbol, "reference": str(ticks_to_price(ref)), "step": meta.step,
                "bids": levels(snap.bids), "asks": levels(snap.asks)}

    def orders_data(self, open_only: bool = False) -> list[dict[str, Any]]:
        """Orders as JSON-ready dicts (`sim orders --json`), oldest first."""
        self.ensure()
        with self.store.read() as c:
            sql = "SELECT * FROM orders" + (" WHERE state IN (?, ?)" if open_only else "") + " ORDER BY seq"
            rows = c.execute(sql, OPEN_STATES if open_only else ()).fetchall()
        return [{**order_dict(_to_order(r)), "commission": str(Decimal(r["commission"])),
                 "time_in_force": r["tif"], "created_step": r["created_step"], "updated_step": r["updated_step"],
                 "created_at": r["created_at"], "updated_at": r["updated_at"]} for r in rows]

    # ------------------------------------------------------------------ internals

    @staticmethod
    def _order_row(c: sqlite3.Connection, order_id: str | None, client_order_id: str | None) -> sqlite3.Row | None:
        if order_id is not None:
            row = c.execute("SELECT * FROM orders WHERE order_id = ?", (order_id,)).fetchone()
            if row is not None and client_order_id is not None and row["client_order_id"] != client_order_id:
                return None
        else:
            row = c.execute("SELECT * FROM orders WHERE client_order_id = ?", (client_order_id,)).fetchone()
        return cast("sqlite3.Row | None", row)

    def _vet(self, c: sqlite3.Connection, meta: _Meta, request: OrderRequest) -> tuple[int, int, str | None]:
        """(quantity, limit ticks, rejection reason or None) under the venue's rules and the account's means."""
        qty_d, price_d = request.quantity, request.limit_price
        qty = int(qty_d) if qty_d == qty_d.to_integral_value() else 0
        scaled = price_d / params.TICK
        ticks = int(scaled) if scaled == scaled.to_integral_value() else 0
        if qty < params.MIN_QUANTITY or qty % params.LOT:
            return qty, ticks, f"quantity {qty_d} is not a whole multiple of the lot size {params.LOT}"
        if qty > params.MAX_QUANTITY:
            return qty, ticks, f"quantity {qty_d} exceeds the venue maximum {params.MAX_QUANTITY}"
        if ticks < 1:
            return qty, ticks, f"limit price {price_d} is not a multiple of the tick {params.TICK}"
        if ticks > params.MAX_PRICE_TICKS:
            return qty, ticks, f"limit price {price_d} is above the venue maximum"
        if request.side == "buy":
            needed = Decimal(qty) * ticks_to_price(ticks) + commission_for(qty)
            available = meta.cash - self._reserved_cash(c)
            if needed > available:
                return qty, ticks, (f"insufficient cash: the order needs {money(needed)} including commission, "
                                    f"{money(max(available, Decimal(0)))} available")
        elif not meta.allow_short:
            row = c.execute("SELECT qty FROM positions WHERE symbol = ?", (request.symbol,)).fetchone()
            held = row["qty"] if row else 0
            selling = c.execute("SELECT COALESCE(SUM(qty - filled_qty), 0) FROM orders WHERE symbol = ? AND "
                                "side = 'sell' AND state IN (?, ?)", (request.symbol, *OPEN_STATES)).fetchone()[0]
            free = held - selling
            if qty > free:
                return qty, ticks, (f"would sell {qty} {request.symbol} but only {max(free, 0)} are held and not "
                                    f"already offered (short selling is off in this cash account)")
        return qty, ticks, None

    @staticmethod
    def _reserved_cash(c: sqlite3.Connection) -> Decimal:
        """Cash held back for working buy orders: remaining × limit plus the commission still to be charged."""
        total = Decimal(0)
        for r in c.execute("SELECT qty, filled_qty, limit_ticks, commission FROM orders WHERE side = 'buy' AND "
                           "state IN (?, ?)", OPEN_STATES).fetchall():
            total += (Decimal(r["qty"] - r["filled_qty"]) * ticks_to_price(r["limit_ticks"])
                      + commission_for(r["qty"]) - Decimal(r["commission"]))
        return total

    @staticmethod
    def _symbols_with_open_orders(c: sqlite3.Connection) -> list[str]:
        rows = c.execute("SELECT DISTINCT symbol FROM orders WHERE state IN (?, ?) ORDER BY symbol",
                         OPEN_STATES).fetchall()
        return [r[0] for r in rows]

    def _book_inputs(self, c: sqlite3.Connection, meta: _Meta, symbol: str, exclude: str | None = None
                     ) -> tuple[list[market.Level], list[market.Level], list[market.ClientOrder], int]:
        row = c.execute("SELECT ref_ticks FROM instruments WHERE symbol = ?", (symbol,)).fetchone()
        if row is None:
            raise unknown_symbol(symbol)
        ref = int(row["ref_ticks"])
        bids, asks = market.liquidity(meta.seed, symbol, meta.step, ref)
        taken: dict[tuple[Side, int], int] = {
            (cast("Side", r["side"]), r["price_ticks"]): r["qty"]
            for r in c.execute("SELECT side, price_ticks, qty FROM taken WHERE symbol = ?", (symbol,)).fetchall()}
        if taken:
            bids = market.remaining_levels(bids, "buy", taken)
            asks = market.remaining_levels(asks, "sell", taken)
        resting = [market.ClientOrder(r["order_id"], r["side"], r["limit_ticks"], r["qty"] - r["filled_qty"])
                   for r in c.execute("SELECT order_id, side, limit_ticks, qty, filled_qty FROM orders "
                                      "WHERE symbol = ? AND state IN (?, ?) ORDER BY seq",
                                      (symbol, *OPEN_STATES)).fetchall()
                   if r["order_id"] != exclude]
        return bids, asks, resting, ref

    def _quote(self, c: sqlite3.Connection, meta: _Meta, symbol: str) -> Quote:
        bids, asks, resting, ref = self._book_inputs(c, meta, symbol)
        bid, ask = market.best_prices(bids, asks, resting)
        return Quote(symbol=symbol, bid=None if bid is None else ticks_to_price(bid),
                     ask=None if ask is None else ticks_to_price(ask), last=ticks_to_price(ref), ts=self.now(),
                     live=True)

    def _rematch(self, c: sqlite3.Connection, meta: _Meta, symbol: str, incoming: market.ClientOrder | None,
                 now: str) -> list[Fill]:
        """Rebuild `symbol`'s book, match, and book the executions (fills, orders, position, cash, liquidity)."""
        bids, asks, resting, _ = self._book_inputs(c, meta, symbol, exclude=incoming.key if incoming else None)
        if incoming is None and not resting:
            return []
        outcome = market.match(bids, asks, resting, incoming)
        for (side, price), qty in sorted(outcome.taken.items()):
            c.execute("INSERT INTO taken (symbol, side, price_ticks, qty) VALUES (?, ?, ?, ?) "
                      "ON CONFLICT (symbol, side, price_ticks) DO UPDATE SET qty = qty + excluded.qty",
                      (symbol, side, price, qty))
        return [self._execute(c, meta, symbol, ex, now) for ex in outcome.executions]

    def _execute(self, c: sqlite3.Connection, meta: _Meta, symbol: str, ex: market.Execution, now: str) -> Fill:
        row = c.execute("SELECT * FROM orders WHERE order_id = ?", (ex.key,)).fetchone()
        filled = row["filled_qty"] + ex.quantity
        paid = Decimal(row["commission"])
        fee = money(commission_for(filled) - paid)
        state = OrderState.FILLED if filled == row["qty"] else OrderState.PARTIALLY_FILLED
        c.execute("UPDATE orders SET filled_qty = ?, filled_notional = filled_notional + ?, commission = ?, "
                  "state = ?, updated_step = ?, updated_at = ? WHERE order_id = ?",
                  (filled, ex.quantity * ex.price_ticks, str(money(paid + fee)), state.value, meta.step, now,
                   ex.key))
        fill_id = f"{params.FILL_ID_PREFIX}{meta.next_fill:06d}"
        meta.next_fill += 1
        c.execute("INSERT INTO fills (fill_id, order_id, client_order_id, symbol, side, qty, price_ticks, commission, "
                  "step, ts) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                  (fill_id, ex.key, row["client_order_id"], symbol, ex.side, ex.quantity, ex.price_ticks, str(fee),
                   meta.step, now))
        price = ticks_to_price(ex.price_ticks)
        notional = price * ex.quantity
        meta.cash = money(meta.cash - notional - fee if ex.side == "buy" else meta.cash + notional - fee)
        pos = c.execute("SELECT qty, avg_cost FROM positions WHERE symbol = ?", (symbol,)).fetchone()
        old_qty, old_avg = (pos["qty"], Decimal(pos["avg_cost"])) if pos else (0, Decimal(0))
        new_qty, new_avg = position_after(old_qty, old_avg, ex.side, ex.quantity, price)
        if new_qty == 0:
            c.execute("DELETE FROM positions WHERE symbol = ?", (symbol,))
        else:
            c.execute("INSERT INTO positions (symbol, qty, avg_cost) VALUES (?, ?, ?) ON CONFLICT (symbol) "
                      "DO UPDATE SET qty = excluded.qty, avg_cost = excluded.avg_cost",
                      (symbol, new_qty, str(new_avg)))
        return Fill(fill_id=fill_id, order_id=ex.key, client_order_id=row["client_order_id"], symbol=symbol,
                    side=ex.side, quantity=Decimal(ex.quantity), price=price, commission=fee,
                    ts=datetime.fromisoformat(now))


def position_after(qty: int, avg: Decimal, side: Side, fill_qty: int, price: Decimal) -> tuple[int, Decimal]:
    """Signed quantity and average cost after a fill (average cost excludes commission; flips restart it)."""
    delta = fill_qty if side == "buy" else -fill_qty
    new_qty = qty + delta
    if new_qty == 0:
        return 0, Decimal(0)
    if qty == 0 or (qty > 0) == (delta > 0):                       # opening or adding
        return new_qty, money((avg * abs(qty) + price * fill_qty) / abs(new_qty))
    if (qty > 0) == (new_qty > 0):                                 # reducing: cost basis unchanged
        return new_qty, avg
    return new_qty, price                                          # crossed through zero


def order_dict(order: BrokerOrder) -> dict[str, Any]:
    """JSON-ready order (Decimal amounts as strings): the `sim orders --json` row shape."""
    return {"order_id": order.order_id, "client_order_id": order.client_order_id, "symbol": order.symbol,
            "side": order.side, "quantity": str(order.quantity), "limit_price": str(order.limit_price),
            "filled_quantity": str(order.filled_quantity),
            "avg_fill_price": None if order.avg_fill_price is None else str(order.avg_fill_price),
            "status": order.state.value, "reason": order.reason}


def fill_dict(fill: Fill) -> dict[str, Any]:
    """JSON-ready fill."""
    return {"fill_id": fill.fill_id, "order_id": fill.order_id, "client_order_id": fill.client_order_id,
            "symbol": fill.symbol, "side": fill.side, "quantity": str(fill.quantity), "price": str(fill.price),
            "commission": str(fill.commission), "ts": fill.ts.isoformat()}


def _to_order(row: sqlite3.Row) -> BrokerOrder:
    filled = int(row["filled_qty"])
    avg = money(Decimal(row["filled_notional"]) * params.TICK / filled) if filled else None
    return BrokerOrder(order_id=row["order_id"], client_order_id=row["client_order_id"], symbol=row["symbol"],
                       side=row["side"], quantity=Decimal(row["quantity"]), limit_price=Decimal(row["limit_price"]),
                       filled_quantity=Decimal(filled), avg_fill_price=avg, state=OrderState(row["state"]),
                       reason=row["reason"])


def _to_fill(row: sqlite3.Row) -> Fill:
    return Fill(fill_id=row["fill_id"], order_id=row["order_id"], client_order_id=row["client_order_id"],
                symbol=row["symbol"], side=row["side"], quantity=Decimal(row["qty"]),
                price=ticks_to_price(row["price_ticks"]), commission=Decimal(row["commission"]),
                ts=datetime.fromisoformat(row["ts"]))
