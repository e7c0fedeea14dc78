"""`BinanceBroker`: the Broker protocol over python-binance's sync `Client` (spot only, LIMIT GTC orders).

Symbols are Binance pairs (BTCUSDT); positions are base-asset balances named by their pair with the quote asset.
Ambiguous outcomes (timeout, connection error, 5xx, -1007) are resolved by origClientOrderId before anything else;
nothing is resubmitted unless the venue said it never saw the order. Keys come only from the environment.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any, TypeVar
from urllib.parse import urlsplit

import requests
from binance.client import Client  # type: ignore[import-untyped,import-not-found,unused-ignore]
from binance.exceptions import BinanceAPIException, BinanceRequestException  # type: ignore[import-untyped,import-not-found,unused-ignore]
from pydantic import SecretStr

from configs.models import API_KEY_ENV, API_SECRET_ENV, BinanceSettings, binance_credentials
from engine.brokers.base import Account, BrokerOrder, Fill, Instrument, OrderRequest, OrderState, Position, Quote
from engine.brokers.binance.filters import SymbolRules, equity_in_quote, parse_symbol
from engine.errors import AmbiguousOrderState, BrokerError, BrokerUnavailable, OrderRejected, UnknownSymbol

__all__ = ["API_KEY_ENV", "API_SECRET_ENV", "DEFAULT_BASE_URL", "BinanceBroker", "api_url", "credentials_from_env"]

DEFAULT_BASE_URL = "https://api.binance.com"
_REAL_HOSTS = ("binance.com", "binance.us")
_RATE_LIMITED = (429, 418)
_AMBIGUOUS_CODES = (-1007, -1006)   # "execution status unknown", "unexpected response: status unknown"
_STATES = {"NEW": OrderState.SUBMITTED, "PENDING_NEW": OrderState.PENDING,
           "PARTIALLY_FILLED": OrderState.PARTIALLY_FILLED, "FILLED": OrderState.FILLED,
           "CANCELED": OrderState.CANCELLED, "PENDING_CANCEL": OrderState.SUBMITTED,
           "REJECTED": OrderState.REJECTED, "EXPIRED": OrderState.CANCELLED,
           "EXPIRED_IN_MATCH": OrderState.CANCELLED}

T = TypeVar("T")


def credentials_from_env(environ: Mapping[str, str] | None = None) -> tuple[SecretStr, SecretStr]:
    """(key, secret) from NANOBOOK_BINANCE_API_KEY / NANOBOOK_BINANCE_API_SECRET; ConfigError naming what is missing."""
    creds = binance_credentials(environ)
    return creds.api_key, creds.api_secret


def api_url(base_url: str) -> str:
    """python-binance's API_URL for a REST base URL: `https://api.binance.com` → `https://api.binance.com/api`."""
    url = base_url.rstrip("/")
    return url if url.endswith("/api") else url + "/api"


def _utc_now() -> datetime:
    return datetime.now(UTC)


def _dec(raw: Any) -> Decimal:
    return Decimal(str(raw))


def _plain(value: Decimal) -> str:
    # Binance refuses exponent notation ("1E+1"); `f` formatting never produces it.
    return format(value.normalize(), "f")


class _Ambiguous(Exception):
    """Internal: the request may or may not have been executed."""


class BinanceBroker:
    """Binance spot behind the Broker protocol.

    `base_url` is the REST root (`http://127.0.0.1:8765` for the gateway; a trailing `/api` is accepted).
    `quote_asset` values the account. `symbols` seeds the pairs searched by client-id lookups and `fills()`
    (pairs are also learnt from use and from balances). `sleep` and `clock` are injectable for tests.
    """

    name = "binance"

    def __init__(self, api_key: SecretStr, api_secret: SecretStr, *, base_url: str = DEFAULT_BASE_URL,
                 quote_asset: str = "USDT", recv_window_ms: int = 5000, timeout_s: float = 10.0,
                 max_attempts: int = 4,
                 max_wait_s: float = 60.0, symbols: Iterable[str] = (),
                 sleep: Callable[[float], None] = time.sleep, clock: Callable[[], datetime] = _utc_now) -> None:
        # ping=False: the constructor must not open a socket (the default pings api.binance.com).
        self._client = Client(api_key.get_secret_value(), api_secret.get_secret_value(),
                              requests_params={"timeout": timeout_s}, ping=False)
        self._client.API_URL = api_url(base_url)
        self._client.REQUEST_RECVWINDOW = recv_window_ms
        self.base_url = base_url
        self.quote_asset = quote_asset
        self.max_attempts = max_attempts
        self.max_wait_s = max_wait_s
        self._sleep = sleep
        self._clock = clock
        self._symbols: set[str] = set(symbols)
        self._rules: dict[str, SymbolRules] | None = None
        self._synced = False
        host = urlsplit(base_url).hostname or ""
        self.paper = not any(host.endswith(h) for h in _REAL_HOSTS) or "testnet" in host

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, **kwargs: Any) -> BinanceBroker:
        """Construct with keys from the environment."""
        key, secret = credentials_from_env(environ)
        return cls(key, secret, **kwargs)

    @classmethod
    def from_settings(cls, settings: BinanceSettings, environ: Mapping[str, str] | None = None,
                      **kwargs: Any) -> BinanceBroker:
        """Construct from config.toml's [binance] table, keys from the environment."""
        key, secret = credentials_from_env(environ)
        return cls(key, secret, base_url=settings.base_url, quote_asset=settings.quote_asset,
                   recv_window_ms=settings.recv_window_ms, **kwargs)

    def __repr__(self) -> str:
        return f"BinanceBroker(base_url={self.base_url!r}, quote_asset={self.quote_asset!r})"

    # ------------------------------------------------------------------ transport

    def sync_time(self) -> int:
        """Set the client's timestamp offset from the server clock; returns the offset in ms."""
        before = time.time() * 1000
        server = int(self._call(self._client.get_server_time)["serverTime"])
        after = time.time() * 1000
        # Half the round trip approximates when the server read its clock.
        self._client.timestamp_offset = int(server - (before + after) / 2)
        self._synced = True
        return int(self._client.timestamp_offset)

    def _signed(self, fn: Callable[..., T], **params: Any) -> T:
        """A signed call: sync the clock first, and once more if the server says the timestamp is off (-1021)."""
        if not self._synced:
            self.sync_time()
        try:
            return self._call(fn, **params)
        except BinanceAPIException as e:
            if e.code != -1021:
                raise
            self.sync_time()  # -1021 is refused before execution, so repeating the request is safe
            return self._call(fn, **params)

    def _call(self, fn: Callable[..., T], **params: Any) -> T:
        """One request with rate-limit back-off; raises `_Ambiguous` when the outcome is unknown.

        429/418 are refused before execution, so they are retried after Retry-After (or exponential back-off).
        Anything that may have executed (timeout, dropped connection, 5xx, -1007) is *not* retried here.
        """
        for attempt in range(1, self.max_attempts + 1):
            try:
                return fn(**params)
            except BinanceAPIException as e:
                if e.status_code in _RATE_LIMITED:
                    wait = self._retry_after(e, attempt)
                    if attempt == self.max_attempts or wait > self.max_wait_s:
                        raise BrokerUnavailable(f"Binance rate limit ({e.status_code}, code {e.code}); retry "
                                                f"after {wait:.0f}s") from None
                    self._sleep(wait)
                    continue
                if e.status_code >= 500 or e.code in _AMBIGUOUS_CODES:
                    raise _Ambiguous(f"HTTP {e.status_code} code {e.code}: {e.message}") from None
                raise
            except (requests.Timeout, requests.ConnectionError) as e:
                raise _Ambiguous(f"{type(e).__name__}") from None
            except BinanceRequestException as e:
                raise _Ambiguous(f"unreadable response: {e.message}") from None
        raise AssertionError("unreachable")  # pragma: no cover - the loop returns or raises

    @staticmethod
    def _retry_after(e: Any, attempt: int) -> float:
        header = getattr(getattr(e, "response", None), "headers", {}).get("Retry-After")
        try:
            return float(header) if header is not None else float(2 ** (attempt - 1))
        except ValueError:
            return float(2 ** (attempt - 1))

    def _read(self, fn: Callable[..., T], *, signed: bool = True, **params: Any) -> T:
        """A read: idempotent, so an ambiguous outcome is retried; BrokerUnavailable when it keeps failing."""
        last = ""
        for attempt in range(1, self.max_attempts + 1):
            try:
                return self._signed(fn, **params) if signed else self._call(fn, **params)
            except _Ambiguous as e:
                last = str(e)
                if attempt < self.max_attempts:
                    self._sleep(min(self.max_wait_s, 0.1 * 2 ** (attempt - 1)))
            except BinanceAPIException as e:
                if e.code == -1121 and "symbol" in params:
                    raise UnknownSymbol(str(params["symbol"]), "Binance does not list it") from None
                raise self._error(e) from None
        raise BrokerUnavailable(f"Binance did not answer ({last}) after {self.max_attempts} attempts")

    @staticmethod
    def _error(e: Any) -> BrokerError:
        if e.code in (-2014, -2015, -1022):
            return BrokerError(f"Binance refused the credentials (code {e.code}: {e.message}); check "
                               f"{API_KEY_ENV} / {API_SECRET_ENV}")
        return BrokerError(f"Binance error {e.code}: {e.message}")

    # ------------------------------------------------------------------ reads

    def exchange_rules(self, refresh: bool = False) -> dict[str, SymbolRules]:
        """Every spot symbol's filters (cached; exchangeInfo is large and rarely changes)."""
        if self._rules is None or refresh:
            info: dict[str, Any] = self._read(self._client.get_exchange_info, signed=False)
            rules: dict[str, SymbolRules] = {}
            for entry in info.get("symbols", []):
                try:
                    rules[str(entry["symbol"])] = parse_symbol(entry)
                except (KeyError, ValueError):
                    continue  # a symbol we cannot size is a symbol we do not trade
            self._rules = rules
        return self._rules

    def instruments(self, symbols: Sequence[str]) -> dict[str, Instrument]:
        """Filters as instruments; UnknownSymbol for a pair exchangeInfo does not list."""
        rules = self.exchange_rules()
        out: dict[str, Instrument] = {}
        for s in symbols:
            if s not in rules:
                raise UnknownSymbol(s, "Binance exchangeInfo does not list it")
            out[s] = rules[s].instrument()
            self._symbols.add(s)
        return out

    def quotes(self, symbols: Sequence[str]) -> dict[str, Quote]:
        """Book tickers. Binance sends no timestamp, so `ts` is our fetch time."""
        out: dict[str, Quote] = {}
        for s in symbols:
            t: dict[str, Any] = self._read(self._client.get_orderbook_ticker, signed=False, symbol=s)
            bid, ask = _dec(t["bidPrice"]), _dec(t["askPrice"])
            out[s] = Quote(symbol=s, bid=bid if bid > 0 else None, ask=ask if ask > 0 else None, last=None,
                           ts=self._clock(), live=True)
            self._symbols.add(s)
        return out

    def _balances(self) -> dict[str, Decimal]:
        account: dict[str, Any] = self._read(self._client.get_account)
        return {str(b["asset"]): _dec(b["free"]) + _dec(b["locked"]) for b in account.get("balances", [])
                if _dec(b["free"]) + _dec(b["locked"]) != 0}

    def account(self) -> Account:
        """Equity in the quote asset: balances × book-ticker mids (assets without a `<asset><quote>` pair count 0)."""
        raw: dict[str, Any] = self._read(self._client.get_account)
        free = {str(b["asset"]): _dec(b["free"]) for b in raw.get("balances", [])}
        total = {str(b["asset"]): _dec(b["free"]) + _dec(b["locked"]) for b in raw.get("balances", [])}
        listed = self.exchange_rules()
        pairs = [a + self.quote_asset for a, q in total.items()
                 if q != 0 and a != self.quote_asset and a + self.quote_asset in listed]
        mids = {s: q.mid for s, q in self.quotes(pairs).items() if q.mid is not None}
        equity, _unpriced = equity_in_quote(total, mids, self.quote_asset)
        uid = raw.get("uid")
        return Account(account_id=f"binance-{uid}" if uid is not None else "binance-spot",
                       currency=self.quote_asset, cash=total.get(self.quote_asset, Decimal(0)), equity=equity,
                       buying_power=free.get(self.quote_asset, Decimal(0)), kind="cash", paper=self.paper)

    def positions(self) -> list[Position]:
        """Non-quote balances as `<asset><quote>` positions. Binance keeps no cost basis: avg_cost is 0."""
        out = []
        for asset, qty in sorted(self._balances().items()):
            if asset == self.quote_asset:
                continue
            symbol = asset + self.quote_asset
            self._symbols.add(symbol)
            out.append(Position(symbol=symbol, quantity=qty, avg_cost=Decimal(0)))
        return out

    # ------------------------------------------------------------------ orders

    def _order(self, raw: Mapping[str, Any]) -> BrokerOrder:
        executed = _dec(raw.get("executedQty", "0"))
        quote_qty = _dec(raw.get("cummulativeQuoteQty", "0"))
        symbol = str(raw["symbol"])
        return BrokerOrder(order_id=f"{symbol}-{raw['orderId']}", client_order_id=str(raw["clientOrderId"]),
                           symbol=symbol, side="buy" if raw["side"] == "BUY" else "sell",
                           quantity=_dec(raw["origQty"]), limit_price=_dec(raw["price"]),
                           filled_quantity=executed,
                           avg_fill_price=(quote_qty / executed) if executed > 0 else None,
                           state=_STATES.get(str(raw["status"]), OrderState.SUBMITTED))

    def _lookup(self, symbol: str, **ident: Any) -> BrokerOrder | None:
        """GET order by orderId or origClientOrderId in `symbol`; None on -2013. Ambiguity propagates."""
        try:
            raw: dict[str, Any] = self._signed(self._client.get_order, symbol=symbol, **ident)
        except BinanceAPIException as e:
            if e.code == -2013:
                return None
            if e.code == -1121:
                raise UnknownSymbol(symbol) from None
            raise self._error(e) from None
        return self._order(raw)

    def _lookup_resolving(self, request: OrderRequest, why: str) -> BrokerOrder:
        """After an ambiguous place: the venue's answer by client id, or AmbiguousOrderState if it cannot say."""
        try:
            found = self._read(lambda **p: self._lookup(request.symbol, **p), signed=False,
                               origClientOrderId=request.client_order_id)
        except BrokerError as e:
            raise AmbiguousOrderState(request.client_order_id, f"{why}; lookup failed: {e}") from None
        if found is None:
            # Not booked *yet*: a -1007 order can still appear, so never resubmit here (the caller decides).
            raise AmbiguousOrderState(request.client_order_id, f"{why}; the venue does not know the order (yet)")
        return found

    def place_limit(self, request: OrderRequest) -> BrokerOrder:
        """LIMIT GTC; an id the venue already knows returns that order (looked up first, never sent twice)."""
        self._symbols.add(request.symbol)
        # Binance accepts a reused client id once the earlier order is done, so the id alone is no dedupe: ask first.
        existing = self._read(lambda **p: self._lookup(request.symbol, **p), signed=False,
                              origClientOrderId=request.client_order_id)
        if existing is not None:
            return existing
        params = {"symbol": request.symbol, "side": request.side.upper(), "type": "LIMIT", "timeInForce": "GTC",
                  "quantity": _plain(request.quantity), "price": _plain(request.limit_price),
                  "newClientOrderId": request.client_order_id, "newOrderRespType": "FULL"}
        try:
            raw: dict[str, Any] = self._signed(self._client.create_order, **params)
        except _Ambiguous as e:
            return self._lookup_resolving(request, str(e))
        except BinanceAPIException as e:
            if e.code == -1121:
                raise UnknownSymbol(request.symbol, "Binance does not list it") from None
            if e.code == -2010 and "Duplicate" in str(e.message):
                return self._lookup_resolving(request, "duplicate client order id")
            if e.code in (-2014, -2015, -1022):
                raise self._error(e) from None
            raise OrderRejected(request.client_order_id, f"Binance {e.code}: {e.message}") from None
        return self._order(raw)

    def order(self, order_id: str | None = None, client_order_id: str | None = None, *,
              symbol: str | None = None) -> BrokerOrder | None:
        """By our order id (`<symbol>-<orderId>`) or by client id.

        Binance needs the symbol for a client-id lookup, so the search covers open orders, then the `symbol` hint
        (recovery passes the pair from the audit log, so a pair no longer held is still found), then the pairs this
        broker has used or was given (`symbols=`), then the pairs of its balances.
        """
        if order_id is not None:
            symbol, _, number = order_id.rpartition("-")
            if not symbol or not number.isdigit():
                return None
            try:
                found = self._read(lambda **p: self._lookup(symbol, **p), signed=False, orderId=int(number))
            except UnknownSymbol:
                return None
            if found is not None and client_order_id is not None and found.client_order_id != client_order_id:
                return None
            return found
        if client_order_id is None:
            raise ValueError("order() needs order_id or client_order_id")
        for o in self.open_orders():
            if o.client_order_id == client_order_id:
                return o
        tried: set[str] = set()
        sources: list[Callable[[], set[str]]] = [lambda: {symbol} if symbol else set(),
                                                  lambda: set(self._symbols),
                                                  lambda: {p.symbol for p in self.positions()}]
        for candidates in sources:
            for pair in sorted(candidates() - tried):
                tried.add(pair)
                found = self._read(lambda **p: self._lookup(pair, **p), signed=False,  # noqa: B023 - called now
                                   origClientOrderId=client_order_id)
                if found is not None:
                    return found
        return None

    def open_orders(self) -> list[BrokerOrder]:
        """Working orders across all pairs, oldest first (Binance answers in order-id order per query)."""
        raw: list[dict[str, Any]] = self._read(self._client.get_open_orders)
        # orderId counts per symbol, so across symbols only the creation time orders them.
        raw = sorted(raw, key=lambda r: (int(r.get("time", 0)), int(r["orderId"]), str(r["symbol"])))
        orders = [self._order(r) for r in raw]
        self._symbols.update(o.symbol for o in orders)
        return orders

    def cancel(self, order_id: str) -> BrokerOrder:
        """Cancel; a terminal order (Binance: -2011) comes back as it is; OrderRejected for an unknown id."""
        symbol, _, number = order_id.rpartition("-")
        if not symbol or not number.isdigit():
            raise OrderRejected(order_id, "not a Binance order id (<symbol>-<orderId>)")
        try:
            raw: dict[str, Any] = self._signed(self._client.cancel_order, symbol=symbol, orderId=int(number))
            return self._order(raw)
        except BinanceAPIException as e:
            if e.code not in (-2011, -1121):
                raise self._error(e) from None
        except _Ambiguous:
            pass  # the cancel may or may not have happened: the lookup below says which
        found = self.order(order_id=order_id)
        if found is None:
            raise OrderRejected(order_id, "Binance does not know this order")
        return found

    def fills(self, since: datetime | None = None) -> list[Fill]:
        """myTrades over the pairs this broker knows, oldest first (client ids from each trade's order)."""
        if since is not None and since.tzinfo is None:
            since = since.replace(tzinfo=UTC)
        symbols = set(self._symbols) | {p.symbol for p in self.positions()}
        out: list[Fill] = []
        cids: dict[tuple[str, int], str] = {}
        for symbol in sorted(symbols):
            params: dict[str, Any] = {"symbol": symbol}
            if since is not None:
                params["startTime"] = int(since.timestamp() * 1000)
            trades: list[dict[str, Any]] = self._read(self._client.get_my_trades, **params)
            for t in trades:
                key = (symbol, int(t["orderId"]))
                if key not in cids:
                    o = self.order(order_id=f"{symbol}-{t['orderId']}")
                    cids[key] = o.client_order_id if o is not None else ""
                ts = datetime.fromtimestamp(int(t["time"]) / 1000, tz=UTC)
                if since is not None and ts < since:
                    continue
                out.append(Fill(fill_id=f"{symbol}-{t['id']}", order_id=f"{symbol}-{t['orderId']}",
                                client_order_id=cids[key], symbol=symbol,
                                side="buy" if t["isBuyer"] else "sell", quantity=_dec(t["qty"]),
                                price=_dec(t["price"]), commission=_dec(t["commission"]), ts=ts))
        return sorted(out, key=lambda f: (f.ts, f.symbol, int(f.fill_id.rpartition("-")[2])))

    def close(self) -> None:
        """Close the HTTP session."""
        self._client.close_connection()
