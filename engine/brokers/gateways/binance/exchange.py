"""The Binance spot view of the simulated venue: symbols `<SIM>USDT`, balances, orders and trades as Binance JSON.

Every sim symbol S is listed as `S` + quote asset (base S, quote USDT by default); venue cash is the quote balance.
Errors are `ApiError(http status, Binance code, msg)`. As on Binance, a client order id is refused (-2010) only while
its order is open; once that order is done the id is accepted again and names the newest order. Known gap: ids are
limited to [A-Za-z0-9_-]{1,32} (Binance also allows `.`, `:` and `/`, up to 36).
"""

from __future__ import annotations

import hashlib
import sqlite3
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

from engine.brokers.base import CLIENT_ORDER_ID_RE, BrokerOrder, Fill, OrderRequest, OrderState
from engine.brokers.sim import SimVenue
from engine.brokers.sim import params as sim_params
from engine.brokers.sim.venue import Clock, commission_for
from engine.errors import UnknownSymbol

_STATUS = {
    OrderState.PENDING: "NEW",
    OrderState.SUBMITTED: "NEW",
    OrderState.PARTIALLY_FILLED: "PARTIALLY_FILLED",
    OrderState.FILLED: "FILLED",
    OrderState.CANCELLED: "CANCELED",
    OrderState.REJECTED: "REJECTED",
}


class ApiError(Exception):
    """A Binance error answer: HTTP status plus `{"code": code, "msg": msg}`."""

    def __init__(self, status: int, code: int, msg: str) -> None:
        self.status = status
        self.code = code
        self.msg = msg
        super().__init__(f"{status} {code} {msg}")


def fmt(value: Decimal) -> str:
    """Binance's 8-decimal string form."""
    return f"{value:.8f}"


def ms(ts: datetime) -> int:
    """Epoch milliseconds of an aware datetime."""
    return int(ts.timestamp() * 1000)


def _decimal(params: Mapping[str, str], name: str) -> Decimal:
    raw = params.get(name)
    if raw is None:
        raise ApiError(400, -1102, f"Mandatory parameter '{name}' was not sent, was empty/null, or malformed.")
    try:
        value = Decimal(raw)
    except InvalidOperation:
        raise ApiError(400, -1100, f"Illegal characters found in parameter '{name}'; legal range is "
                                   f"'^([0-9]{{1,20}})(\\.[0-9]{{1,20}})?$'.") from None
    if not value.is_finite() or value <= 0:
        raise ApiError(400, -1100, f"Illegal characters found in parameter '{name}'.")
    return value


@dataclass
class ExchangeRules:
    """The filters the gateway advertises and enforces on top of the venue (tick 0.01, lot 1 from the sim)."""

    quote_asset: str = "USDT"
    min_notional: Decimal = Decimal("5")
    legacy_min_notional: bool = False    # advertise MIN_NOTIONAL (pre-2023 name) instead of NOTIONAL
    max_qty: Decimal = Decimal(sim_params.MAX_QUANTITY)
    max_price: Decimal = Decimal("1000000")


class ClientIdAliases:
    """Binance client ids reused after their order finished, mapped to the distinct ids the sim venue books them under.

    The venue is idempotent by client id (a second order under one id is impossible), so the n-th reuse is booked as
    `<n>r<24 hex of sha256(id)>`. Kept in `.nanobook/binance-gateway.db` beside the venue so a restart keeps them.
    """

    def __init__(self, root: Path) -> None:
        path = root / ".nanobook" / "binance-gateway.db"
        path.parent.mkdir(parents=True, exist_ok=True)
        self.conn = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        self.conn.execute("CREATE TABLE IF NOT EXISTS aliases (sim_id TEXT PRIMARY KEY, client_id TEXT NOT NULL, "
                          "n INTEGER NOT NULL)")

    def sim_ids(self, client_id: str) -> list[str]:
        """The venue ids this Binance id has named, oldest first (the id itself first)."""
        rows = self.conn.execute("SELECT sim_id FROM aliases WHERE client_id = ? ORDER BY n", (client_id,))
        return [client_id, *(r[0] for r in rows.fetchall())]

    def add(self, client_id: str) -> str:
        """A fresh venue id for one more order under `client_id`."""
        n = len(self.sim_ids(client_id))
        sim_id = f"{n}r{hashlib.sha256(client_id.encode()).hexdigest()[:24]}"
        self.conn.execute("INSERT INTO aliases (sim_id, client_id, n) VALUES (?, ?, ?)", (sim_id, client_id, n))
        return sim_id

    def client_id(self, sim_id: str) -> str:
        """The Binance id of a venue order."""
        row = self.conn.execute("SELECT client_id FROM aliases WHERE sim_id = ?", (sim_id,)).fetchone()
        return str(row[0]) if row else sim_id

    def close(self) -> None:
        """Close the database."""
        self.conn.close()


@dataclass
class SimBinanceExchange:
    """Binance spot semantics over a `SimVenue` rooted at `root` (its `.nanobook/sim.db`)."""

    root: Path
    clock: Clock | None = None
    rules: ExchangeRules = field(default_factory=ExchangeRules)

    def __post_init__(self) -> None:
        self.venue = SimVenue(self.root, self.clock)
        self.aliases = ClientIdAliases(self.root)
        self.lock = threading.RLock()    # one request at a time: check-then-book must not interleave

    def close(self) -> None:
        """Close the venue and the alias table."""
        self.venue.close()
        self.aliases.close()

    def latest(self, client_id: str) -> BrokerOrder | None:
        """The newest venue order a Binance client id names (rejected ones never existed for Binance)."""
        for sim_id in reversed(self.aliases.sim_ids(client_id)):
            order = self.venue.order(client_order_id=sim_id)
            if order is not None and order.state is not OrderState.REJECTED:
                return order
        return None

    # ------------------------------------------------------------------ symbols

    def sim_symbols(self) -> list[str]:
        """Symbols the venue lists, sorted."""
        self.venue.ensure()
        with self.venue.store.read() as c:
            return [r[0] for r in c.execute("SELECT symbol FROM instruments ORDER BY symbol").fetchall()]

    def to_sim(self, symbol: str | None) -> str:
        """`AAPLUSDT` → `AAPL`; -1121 for anything the venue does not list."""
        quote = self.rules.quote_asset
        if symbol is None:
            raise ApiError(400, -1102, "Mandatory parameter 'symbol' was not sent, was empty/null, or malformed.")
        base = symbol[: -len(quote)] if symbol.endswith(quote) else ""
        if not base or base not in self.sim_symbols():
            raise ApiError(400, -1121, "Invalid symbol.")
        return base

    def symbol_info(self, base: str) -> dict[str, Any]:
        """One exchangeInfo `symbols[]` entry."""
        r = self.rules
        notional: dict[str, Any] = (
            {"filterType": "MIN_NOTIONAL", "minNotional": fmt(r.min_notional), "applyToMarket": True,
             "avgPriceMins": 5} if r.legacy_min_notional else
            {"filterType": "NOTIONAL", "minNotional": fmt(r.min_notional), "applyMinToMarket": True,
             "maxNotional": "9000000.00000000", "applyMaxToMarket": False, "avgPriceMins": 5})
        return {
            "symbol": base + r.quote_asset, "status": "TRADING", "baseAsset": base, "baseAssetPrecision": 8,
            "quoteAsset": r.quote_asset, "quotePrecision": 8, "quoteAssetPrecision": 8,
            "orderTypes": ["LIMIT", "LIMIT_MAKER", "MARKET"], "icebergAllowed": False, "ocoAllowed": False,
            "isSpotTradingAllowed": True, "isMarginTradingAllowed": False,
            "filters": [
                {"filterType": "PRICE_FILTER", "minPrice": fmt(sim_params.TICK), "maxPrice": fmt(r.max_price),
                 "tickSize": fmt(sim_params.TICK)},
                {"filterType": "LOT_SIZE", "minQty": fmt(Decimal(sim_params.MIN_QUANTITY)),
                 "maxQty": fmt(r.max_qty), "stepSize": fmt(Decimal(sim_params.LOT))},
                notional,
            ],
            "permissions": [], "permissionSets": [["SPOT"]], "defaultSelfTradePreventionMode": "EXPIRE_MAKER",
            "allowedSelfTradePreventionModes": ["NONE", "EXPIRE_TAKER", "EXPIRE_MAKER", "EXPIRE_BOTH"],
        }

    def exchange_info(self, server_ms: int, params: Mapping[str, str]) -> dict[str, Any]:
        """GET /api/v3/exchangeInfo (optionally `symbol=`)."""
        bases = [self.to_sim(params["symbol"])] if "symbol" in params else self.sim_symbols()
        return {"timezone": "UTC", "serverTime": server_ms,
                "rateLimits": [{"rateLimitType": "REQUEST_WEIGHT", "interval": "MINUTE", "intervalNum": 1,
                                "limit": 6000},
                               {"rateLimitType": "ORDERS", "interval": "SECOND", "intervalNum": 10, "limit": 100}],
                "exchangeFilters": [], "symbols": [self.symbol_info(b) for b in bases]}

    def book_ticker(self, params: Mapping[str, str]) -> dict[str, Any] | list[dict[str, Any]]:
        """GET /api/v3/ticker/bookTicker: one symbol, or every symbol as a list."""
        if "symbol" in params:
            return self._ticker(self.to_sim(params["symbol"]))
        return [self._ticker(b) for b in self.sim_symbols()]

    def _ticker(self, base: str) -> dict[str, Any]:
        try:
            book = self.venue.book(base, depth=1)
        except UnknownSymbol:
            raise ApiError(400, -1121, "Invalid symbol.") from None
        bid = book["bids"][0] if book["bids"] else {"price": "0", "quantity": "0"}
        ask = book["asks"][0] if book["asks"] else {"price": "0", "quantity": "0"}
        return {"symbol": base + self.rules.quote_asset, "bidPrice": fmt(Decimal(bid["price"])),
                "bidQty": fmt(Decimal(bid["quantity"])), "askPrice": fmt(Decimal(ask["price"])),
                "askQty": fmt(Decimal(ask["quantity"]))}

    # ------------------------------------------------------------------ account

    def balances(self) -> dict[str, tuple[Decimal, Decimal]]:
        """asset → (free, locked): quote cash less open buys' reservation; holdings less open sells."""
        account = self.venue.account()
        out = {self.rules.quote_asset: (account.buying_power, account.cash - account.buying_power)}
        offered: dict[str, Decimal] = {}
        for o in self.venue.open_orders():
            if o.side == "sell":
                offered[o.symbol] = offered.get(o.symbol, Decimal(0)) + o.remaining
        for p in self.venue.positions():
            locked = offered.get(p.symbol, Decimal(0))
            out[p.symbol] = (p.quantity - locked, locked)
        return out

    def account(self, server_ms: int) -> dict[str, Any]:
        """GET /api/v3/account."""
        return {"makerCommission": 10, "takerCommission": 10, "buyerCommission": 0, "sellerCommission": 0,
                "commissionRates": {"maker": "0.00100000", "taker": "0.00100000", "buyer": "0.00000000",
                                    "seller": "0.00000000"},
                "canTrade": True, "canWithdraw": False, "canDeposit": False, "brokered": False,
                "requireSelfTradePrevention": False, "preventSor": False, "updateTime": server_ms,
                "accountType": "SPOT",
                "balances": [{"asset": a, "free": fmt(f), "locked": fmt(lk)}
                             for a, (f, lk) in sorted(self.balances().items())],
                "permissions": ["SPOT"], "uid": 1000001}

    # ------------------------------------------------------------------ orders

    def order_json(self, o: BrokerOrder, server_ms: int) -> dict[str, Any]:
        """The GET /api/v3/order shape of a venue order."""
        created, updated = self._times(o.order_id, server_ms)
        filled = o.filled_quantity
        quote_qty = (o.avg_fill_price or Decimal(0)) * filled
        return {"symbol": o.symbol + self.rules.quote_asset, "orderId": _order_number(o.order_id),
                "orderListId": -1, "clientOrderId": self.aliases.client_id(o.client_order_id),
                "price": fmt(o.limit_price),
                "origQty": fmt(o.quantity), "executedQty": fmt(filled), "cummulativeQuoteQty": fmt(quote_qty),
                "status": _STATUS[o.state], "timeInForce": "GTC", "type": "LIMIT", "side": o.side.upper(),
                "stopPrice": fmt(Decimal(0)), "icebergQty": fmt(Decimal(0)), "time": created,
                "updateTime": updated, "isWorking": not o.state.is_terminal, "workingTime": created,
                "origQuoteOrderQty": fmt(Decimal(0)), "selfTradePreventionMode": "EXPIRE_MAKER"}

    def _times(self, order_id: str, default_ms: int) -> tuple[int, int]:
        """(created, updated) epoch ms of a venue order, from the venue's own clock."""
        with self.venue.store.read() as c:
            row = c.execute("SELECT created_at, updated_at FROM orders WHERE order_id = ?", (order_id,)).fetchone()
        if row is None:
            return default_ms, default_ms
        return ms(datetime.fromisoformat(row[0])), ms(datetime.fromisoformat(row[1]))

    def place(self, params: Mapping[str, str], server_ms: int) -> dict[str, Any]:
        """POST /api/v3/order: LIMIT GTC only; filters (-1013), balance and duplicate open id (-2010)."""
        base = self.to_sim(params.get("symbol"))
        side = params.get("side", "")
        if side not in ("BUY", "SELL"):
            raise ApiError(400, -1102, "Mandatory parameter 'side' was not sent, was empty/null, or malformed.")
        if params.get("type") != "LIMIT":
            raise ApiError(400, -1116, "Invalid orderType.")
        if params.get("timeInForce", "GTC") != "GTC":
            raise ApiError(400, -1115, "Invalid timeInForce.")
        qty, price = _decimal(params, "quantity"), _decimal(params, "price")
        cid = params.get("newClientOrderId") or f"gw{server_ms}"
        if not CLIENT_ORDER_ID_RE.match(cid):
            raise ApiError(400, -1100, "Illegal characters found in parameter 'newClientOrderId'; legal range is "
                                       "'^[A-Za-z0-9_-]{1,32}$' at this gateway.")
        self._check_filters(qty, price)
        existing = self.latest(cid)
        if existing is not None and not existing.state.is_terminal:
            raise ApiError(400, -2010, "Duplicate order sent.")
        self._check_balance(base, side, qty, price)
        # A finished order's id is accepted again (Binance dedupes open orders only); the venue needs a fresh id.
        taken = existing is not None or self.venue.order(client_order_id=cid) is not None
        sim_id = self.aliases.add(cid) if taken else cid
        request = OrderRequest(client_order_id=sim_id, symbol=base, side="buy" if side == "BUY" else "sell",
                               quantity=qty, limit_price=price, time_in_force="gtc")
        order, _ = self.venue.place(request)
        if order.state is OrderState.REJECTED:  # the venue's own backstop; our checks should have caught it
            raise ApiError(400, -2010, f"Account has insufficient balance for requested action. ({order.reason})")
        out = self.order_json(order, server_ms)
        out["transactTime"] = server_ms
        out["fills"] = [{"price": fmt(f.price), "qty": fmt(f.quantity), "commission": fmt(f.commission),
                         "commissionAsset": self.rules.quote_asset, "tradeId": _fill_number(f.fill_id)}
                        for f in self.venue.fills() if f.order_id == order.order_id]
        return out

    def _check_filters(self, qty: Decimal, price: Decimal) -> None:
        r = self.rules
        if price % sim_params.TICK or price < sim_params.TICK or price > r.max_price:
            raise ApiError(400, -1013, "Filter failure: PRICE_FILTER")
        if qty % sim_params.LOT or qty < sim_params.MIN_QUANTITY or qty > r.max_qty:
            raise ApiError(400, -1013, "Filter failure: LOT_SIZE")
        if qty * price < r.min_notional:
            raise ApiError(400, -1013, "Filter failure: MIN_NOTIONAL" if r.legacy_min_notional
                           else "Filter failure: NOTIONAL")

    def _check_balance(self, base: str, side: str, qty: Decimal, price: Decimal) -> None:
        balances = self.balances()
        if side == "BUY":
            free = balances[self.rules.quote_asset][0]
            needed = qty * price + commission_for(int(qty))
        else:
            free = balances.get(base, (Decimal(0), Decimal(0)))[0]
            needed = qty
        if needed > free:
            raise ApiError(400, -2010, "Account has insufficient balance for requested action.")

    def find(self, params: Mapping[str, str]) -> BrokerOrder:
        """The order named by `orderId` or `origClientOrderId` in `symbol`; -2013 when there is none."""
        base = self.to_sim(params.get("symbol"))
        order: BrokerOrder | None = None
        if "orderId" in params:
            try:
                number = int(params["orderId"])
            except ValueError:
                raise ApiError(400, -1100, "Illegal characters found in parameter 'orderId'.") from None
            order = self.venue.order(order_id=f"{sim_params.ORDER_ID_PREFIX}{number:06d}")
        elif "origClientOrderId" in params:
            order = self.latest(params["origClientOrderId"])
        else:
            raise ApiError(400, -1102, "Param 'origClientOrderId' or 'orderId' must be sent, but both were empty/null!")
        # Rejected orders never existed for Binance (it refuses them up front) and other symbols' orders are unknown.
        if order is None or order.symbol != base or order.state is OrderState.REJECTED:
            raise ApiError(400, -2013, "Order does not exist.")
        return order

    def cancel(self, params: Mapping[str, str], server_ms: int) -> dict[str, Any]:
        """DELETE /api/v3/order: -2011 for an unknown or already terminal order (as Binance answers)."""
        try:
            order = self.find(params)
        except ApiError as e:
            if e.code == -2013:
                raise ApiError(400, -2011, "Unknown order sent.") from None
            raise
        if order.state.is_terminal:
            raise ApiError(400, -2011, "Unknown order sent.")
        cancelled = self.venue.cancel(order.order_id)
        out = self.order_json(cancelled, server_ms)
        out["origClientOrderId"] = self.aliases.client_id(cancelled.client_order_id)
        out["transactTime"] = server_ms
        return out

    def open_orders(self, params: Mapping[str, str], server_ms: int) -> list[dict[str, Any]]:
        """GET /api/v3/openOrders (all symbols without `symbol=`), oldest first."""
        base = self.to_sim(params["symbol"]) if "symbol" in params else None
        return [self.order_json(o, server_ms) for o in self.venue.open_orders() if base is None or o.symbol == base]

    def my_trades(self, params: Mapping[str, str]) -> list[dict[str, Any]]:
        """GET /api/v3/myTrades for `symbol` (startTime, fromId and orderId narrow it), oldest first."""
        base = self.to_sim(params.get("symbol"))
        start = int(params.get("startTime", "0"))
        from_id = int(params.get("fromId", "0"))
        order_id = params.get("orderId")
        out = []
        for f in self.venue.fills():
            if f.symbol != base or ms(f.ts) < start or _fill_number(f.fill_id) < from_id:
                continue
            if order_id is not None and _order_number(f.order_id) != int(order_id):
                continue
            out.append(self.trade_json(f))
        return out

    def trade_json(self, f: Fill) -> dict[str, Any]:
        """One myTrades row."""
        return {"symbol": f.symbol + self.rules.quote_asset, "id": _fill_number(f.fill_id),
                "orderId": _order_number(f.order_id), "orderListId": -1, "price": fmt(f.price),
                "qty": fmt(f.quantity), "quoteQty": fmt(f.price * f.quantity), "commission": fmt(f.commission),
                "commissionAsset": self.rules.quote_asset, "time": ms(f.ts), "isBuyer": f.side == "buy",
                "isMaker": False, "isBestMatch": True}

    def order_count(self, client_order_id: str) -> int:
        """How many venue orders carry this client id (tests: "nothing submitted twice")."""
        names = set(self.aliases.sim_ids(client_order_id))
        return sum(1 for o in self.venue.all_orders() if o.client_order_id in names)


def _order_number(order_id: str) -> int:
    return int(order_id.removeprefix(sim_params.ORDER_ID_PREFIX))


def _fill_number(fill_id: str) -> int:
    return int(fill_id.removeprefix(sim_params.FILL_ID_PREFIX))
