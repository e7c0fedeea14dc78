"""`IbkrBroker`: the Broker protocol over ib_async's *sync* API against TWS / IB Gateway (US stocks, LMT orders).

Owns a private asyncio loop (made the thread's loop only while a call runs, so it is shared with nothing), the
connection and bounded reconnects, and our own per-order records (sticky terminal states, fills keyed by execId) that
outlive ib_async's per-session state. orderRef = client_order_id is the idempotency key: an ambiguous placement is
looked up by orderRef before anything is sent again, and a remainder is never resubmitted.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, TypeVar

from ib_async import IB, AccountValue, Contract, ContractDetails, RequestError, Ticker, Trade
from ib_async import Fill as IbFill

from configs.errors import ConfigError
from configs.models import IbkrSettings
from engine.brokers.base import Account, BrokerOrder, Fill, Instrument, OrderRequest, OrderState, Position, Quote
from engine.brokers.ibkr.mapping import (
    ErrorKind,
    OrderFacts,
    account_from,
    broker_order,
    classify,
    facts_from_executions,
    facts_from_trade,
    fill_from,
    instrument_from,
    limit_order,
    position_from,
    quote_from,
    stock,
)
from engine.errors import AmbiguousOrderState, BrokerError, BrokerUnavailable, OrderRejected, UnknownSymbol

__all__ = ["IbkrBroker"]

T = TypeVar("T")

_BACKOFF_BASE_S = 1.0
_BACKOFF_MAX_S = 30.0
_PACING_RETRIES = 3
_POLL_S = 0.25
_ORDER_ID_RE = re.compile(r"^(\d+|P\d+)$")
_UNACKED = ("", "PendingSubmit", "ApiPending")


def _utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass(slots=True)
class _Record:
    """Our knowledge of one order; `last` is the previous report (its terminal state is sticky)."""

    order_id: str
    perm_id: int
    facts: OrderFacts
    trade: Trade | None = None
    last: BrokerOrder | None = None


class IbkrBroker:
    """TWS / IB Gateway behind the Broker protocol.

    `order_id` is `str(TWS orderId)`: TWS numbers orders per API client id, so ids are stable as long as the same
    `client_id` is used. An order without an orderId of ours (another client's, or a completed order of an earlier
    session TWS reports without its orderId and without executions) is named `P<permId>`. `readonly=True` connects
    read-only (plan, reconcile, positions); place and cancel then raise BrokerError. Connection is lazy: the first
    call connects. `sleep` (back-off) and `clock` (quote time fallback) are injectable for tests.
    """

    name = "ibkr"

    def __init__(self, host: str = "127.0.0.1", port: int = 7497, client_id: int = 17, account: str = "",
                 timeout_s: float = 10.0, *, readonly: bool = False, sleep: Callable[[float], None] = time.sleep,
                 clock: Callable[[], datetime] = _utc_now, max_reconnects: int = 3) -> None:
        self.host = host
        self.port = port
        self.client_id = client_id
        self.configured_account = account
        self.timeout_s = timeout_s
        self.readonly = readonly
        self.max_reconnects = max_reconnects
        self._sleep = sleep
        self._clock = clock
        self.account_id = ""
        self.paper = account.startswith("DU")
        self._ib: IB | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._depth = 0
        self._connected_once = False
        self._client_id_in_use = False
        self._connectivity_lost = False
        self._pacing_seen = 0
        self._order_errors: dict[int, tuple[int, str]] = {}
        self._contracts: dict[str, tuple[Contract, ContractDetails]] = {}
        self._records: dict[str, _Record] = {}
        self._by_ref: dict[str, str] = {}
        self._by_perm: dict[int, str] = {}
        self._fills: dict[str, Fill] = {}
        self._void: list[Trade] = []   # this session's trades TWS refused unread (pacing): never orders

    @classmethod
    def from_settings(cls, settings: IbkrSettings, *, readonly: bool = False, **kwargs: Any) -> IbkrBroker:
        """Construct from config.toml's [ibkr] table."""
        return cls(settings.host, settings.port, settings.client_id, settings.account, settings.timeout_s,
                   readonly=readonly, **kwargs)

    def __repr__(self) -> str:
        return (f"IbkrBroker(host={self.host!r}, port={self.port}, client_id={self.client_id}, "
                f"readonly={self.readonly})")

    @property
    def where(self) -> str:
        """host:port, for messages."""
        return f"{self.host}:{self.port}"

    # ------------------------------------------------------------------ event loop

    @contextlib.contextmanager
    def _scope(self) -> Iterator[None]:
        """Run on our own loop: set it as the thread's loop for the call, then put the previous one back."""
        if self._depth:
            self._depth += 1
            try:
                yield
            finally:
                self._depth -= 1
            return
        try:
            asyncio.get_running_loop()
        except RuntimeError:
            pass
        else:
            raise BrokerError("IbkrBroker is synchronous: call it from plain code or a worker thread, not from "
                              "inside a running asyncio event loop")
        policy = asyncio.get_event_loop_policy()
        previous = getattr(getattr(policy, "_local", None), "_loop", None)  # read without creating one
        if self._loop is None or self._loop.is_closed():
            self._loop = asyncio.new_event_loop()
        asyncio.set_event_loop(self._loop)
        self._depth = 1
        try:
            yield
        except (ConnectionError, TimeoutError) as e:  # never a raw socket error to the caller
            raise BrokerUnavailable(f"lost the connection to TWS at {self.where} ({e or type(e).__name__})") from None
        except RequestError as e:
            raise BrokerError(f"TWS error {e.code}: {e.message}") from None
        finally:
            self._depth = 0
            asyncio.set_event_loop(previous)

    # ------------------------------------------------------------------ connection

    def _backoff(self, attempt: int) -> None:
        self._sleep(min(_BACKOFF_MAX_S, _BACKOFF_BASE_S * 2 ** (attempt - 1)))

    def _ensure(self) -> IB:
        """The connected IB, connecting (or reconnecting with back-off) when needed; BrokerUnavailable if impossible."""
        if self._ib is not None and self._ib.isConnected():
            return self._ib
        reconnect = self._connected_once
        self._drop()
        last: BrokerUnavailable | None = None
        attempts = self.max_reconnects if reconnect else self.max_reconnects + 1
        for attempt in range(1, max(1, attempts) + 1):
            if reconnect or attempt > 1:
                self._backoff(attempt if reconnect else attempt - 1)
            try:
                return self._connect_once()
            except BrokerUnavailable as e:
                # On a first connect a 326 means another program holds the id, and waiting cannot help. Right after
                # we dropped our own session it is most likely that session, not yet released by TWS: back off.
                if self._client_id_in_use and not reconnect:
                    raise
                last = e
        tries = max(1, attempts)
        raise BrokerUnavailable(f"{last} (gave up after {tries} connection attempt{'s' if tries > 1 else ''})")

    def _connect_once(self) -> IB:
        ib = IB()
        ib.RaiseRequestErrors = True
        ib.RequestTimeout = self.timeout_s
        ib.errorEvent += self._on_error
        self._client_id_in_use = False
        self._connectivity_lost = False
        self._order_errors.clear()  # request ids restart with each session; old entries could alias new orders
        assert self._loop is not None
        try:
            self._loop.run_until_complete(self._handshake(ib))
        except BaseException as e:
            self._discard(ib)
            raise self._connect_error(e) from None
        self._ib = ib
        self._connected_once = True
        try:
            self._pick_account(ib)
        except ConfigError:
            self._drop()
            raise
        self._absorb(ib.trades(), ib.fills())
        return ib

    async def _handshake(self, ib: IB) -> None:
        """ib.connectAsync, failing at once when TWS closes the socket mid-handshake (326) instead of timing out."""
        closed: asyncio.Future[str] = asyncio.get_running_loop().create_future()

        def on_closed(msg: object) -> None:
            if not closed.done():
                closed.set_result(str(msg) or "connection closed by TWS")

        ib.client.conn.disconnected += on_closed   # TWS closed the socket before the API was ready (restart, 326)
        task = asyncio.ensure_future(ib.connectAsync(self.host, self.port, self.client_id, timeout=self.timeout_s,
                                                     readonly=self.readonly, account=self.configured_account))
        try:
            await asyncio.wait({task, closed}, return_when=asyncio.FIRST_COMPLETED)
            if task.done():
                task.result()
                return
            task.cancel()
            with contextlib.suppress(BaseException):
                await task
            raise ConnectionError(closed.result())
        finally:
            ib.client.conn.disconnected -= on_closed

    def _connect_error(self, e: BaseException) -> BaseException:
        if self._client_id_in_use:
            return BrokerUnavailable(f"client id {self.client_id} is already in use at {self.where}: another program "
                                     f"(or another nanobook run) is connected with it; stop it or set [ibkr] "
                                     f"client_id to a free id")
        fix = f"is TWS / IB Gateway running with the API enabled on {self.where}?"
        if not isinstance(e, Exception):
            return e  # KeyboardInterrupt, SystemExit
        if isinstance(e, TimeoutError):
            return BrokerUnavailable(f"TWS / IB Gateway at {self.where} did not complete the API handshake within "
                                     f"{self.timeout_s:g}s: {fix}")
        if isinstance(e, OSError) and e.errno is not None:
            reason = "connection refused" if isinstance(e, ConnectionRefusedError) else e.strerror
            return BrokerUnavailable(f"cannot connect to TWS / IB Gateway at {self.where} ({reason}): {fix}")
        return BrokerUnavailable(f"TWS / IB Gateway at {self.where} closed the connection during the handshake "
                                 f"({e}): {fix}")

    def _pick_account(self, ib: IB) -> None:
        accounts = ib.managedAccounts()
        if self.configured_account:
            if self.configured_account not in accounts:
                raise ConfigError(f"[ibkr] account {self.configured_account!r} is not managed by this TWS login "
                                  f"(it manages: {', '.join(accounts) or 'none'}); set [ibkr] account to one of them")
            self.account_id = self.configured_account
        elif len(accounts) == 1:
            self.account_id = accounts[0]
        else:
            raise ConfigError(f"TWS at {self.where} manages several accounts ({', '.join(accounts)}); set [ibkr] "
                              f"account to one of them")
        self.paper = self.account_id.startswith("DU")

    def _drop(self) -> None:
        """Forget the current connection (closing it if it is still open)."""
        ib, self._ib = self._ib, None
        self._void.clear()
        if ib is not None:
            self._discard(ib)

    def _discard(self, ib: IB) -> None:
        """Disconnect an IB object for good, leaving its transport closed (its __del__ then has nothing to do)."""
        with contextlib.suppress(Exception):
            ib.errorEvent -= self._on_error
        with contextlib.suppress(Exception):
            ib.disconnect()
        conn = ib.client.conn
        if conn.transport is not None:  # disconnect() failed half-way (write_eof on a reset socket)
            with contextlib.suppress(Exception):
                conn.transport.abort()
            conn.transport = None
        if self._loop is not None and not self._loop.is_running():
            self._loop.run_until_complete(asyncio.sleep(0))  # let the transport finish closing

    def _on_error(self, req_id: int, code: int, text: str, _contract: object = None) -> None:
        kind = classify(code)
        if kind is ErrorKind.CLIENT_ID_IN_USE:
            self._client_id_in_use = True
        elif kind is ErrorKind.CONNECTIVITY_LOST:
            self._connectivity_lost = True
        elif kind is ErrorKind.CONNECTIVITY_RESTORED:
            self._connectivity_lost = False
        elif kind is ErrorKind.PACING:
            self._pacing_seen += 1
        if req_id > 0 and kind is not ErrorKind.INFO:
            self._order_errors[req_id] = (code, text)

    def _pump(self, ib: IB, seconds: float) -> None:
        """Process incoming messages for up to `seconds`; ConnectionError when the socket is gone."""
        if not ib.isConnected():
            raise ConnectionError("Socket disconnect")
        ib.waitOnUpdate(timeout=seconds)
        if not ib.isConnected():
            raise ConnectionError("Socket disconnect")

    def _wait(self, ib: IB, done: Callable[[], bool], timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while not done():
            left = deadline - time.monotonic()
            if left <= 0:
                return False
            self._pump(ib, min(left, _POLL_S))
        return True

    def _ready(self) -> IB:
        """Connected, and TWS connected to IB: after error 1100 wait (bounded) for 1101/1102."""
        ib = self._ensure()
        with contextlib.suppress(ConnectionError):
            ib.sleep(0)  # one loop pass: take in what TWS already sent (a 1100 must pause this very call)
        if not ib.isConnected():
            self._drop()
            ib = self._ensure()
        if self._connectivity_lost:
            self._wait(ib, lambda: not self._connectivity_lost, self.timeout_s)
            if self._connectivity_lost:
                raise BrokerUnavailable(f"TWS at {self.where} lost its connection to IB's servers (error 1100) and "
                                        f"did not restore it within {self.timeout_s:g}s; retry once TWS shows it "
                                        f"is connected again")
        return ib

    def _barrier(self, ib: IB) -> None:
        """A round trip: TWS answers in order, so everything it sent before (fills, commissions) has arrived."""
        with contextlib.suppress(TimeoutError, RequestError):  # best effort; the caller reports what it has
            ib.reqCurrentTime()

    def _read(self, what: str, fn: Callable[[IB], T], symbol: str | None = None) -> T:
        """An idempotent request: pacing (100) is backed off and retried, a dropped socket reconnected and retried."""
        paced = drops = 0
        while True:
            ib = self._ready()
            seen = self._pacing_seen
            try:
                return fn(ib)
            except RequestError as e:
                kind = classify(e.code)
                if kind is ErrorKind.PACING and paced < _PACING_RETRIES:
                    paced += 1
                    self._backoff(paced)
                    continue
                raise self._request_error(what, e, symbol) from None
            except TimeoutError:
                if self._pacing_seen > seen and paced < _PACING_RETRIES:
                    paced += 1
                    self._backoff(paced)
                    continue
                raise BrokerUnavailable(f"TWS at {self.where} did not answer {what} within "
                                        f"{self.timeout_s:g}s") from None
            except ConnectionError:
                drops += 1
                self._drop()
                if drops > self.max_reconnects:
                    raise BrokerUnavailable(f"the connection to TWS at {self.where} keeps dropping ({what})") from None

    def _request_error(self, what: str, e: RequestError, symbol: str | None) -> BrokerError:
        kind = classify(e.code)
        if kind is ErrorKind.UNKNOWN_SYMBOL and symbol is not None:
            return UnknownSymbol(symbol, f"TWS has no security definition for it (error {e.code})")
        if kind in (ErrorKind.PACING, ErrorKind.NOT_CONNECTED):
            return BrokerUnavailable(f"TWS error {e.code} on {what}: {e.message}")
        return BrokerError(f"TWS error {e.code} on {what}: {e.message}")

    def _writable(self, what: str) -> None:
        if self.readonly:
            raise BrokerError(f"this IBKR connection is read-only (used for plan / reconcile / positions) and cannot "
                              f"{what}; use a command that trades")

    # ------------------------------------------------------------------ order records

    def _order_id_for(self, order_id: int, perm_id: int, client_id: int) -> str:
        """Our name for an order: its TWS orderId when it is ours (ids are per client id), else `P<permId>`."""
        if perm_id and perm_id in self._by_perm:
            return self._by_perm[perm_id]
        mine = order_id > 0 and client_id in (self.client_id, 0)
        oid = str(order_id) if mine or not perm_id else f"P{perm_id}"
        if perm_id:
            self._by_perm[perm_id] = oid
        return oid

    def _learn_ids(self, trades: Iterable[Trade], fills: Iterable[IbFill]) -> None:
        """permId → orderId from every source that carries both, before any `P<permId>` name is handed out."""
        pairs = [(t.order.permId, t.order.orderId) for t in trades if t.order.clientId in (self.client_id, 0)]
        pairs += [(f.execution.permId, f.execution.orderId) for f in fills if f.execution.clientId == self.client_id]
        for perm, oid in pairs:
            if perm and oid > 0 and perm not in self._by_perm:
                self._by_perm[perm] = str(oid)

    def _absorb(self, trades: Iterable[Trade], fills: Iterable[IbFill]) -> None:
        """Merge what this session knows (trades of any origin, executions) into our records."""
        trades, fills = list(trades), list(fills)
        self._learn_ids(trades, fills)
        for trade in trades:
            self._take_trade(trade)
        for fill in fills:
            self._take_fill(fill)

    def _orders_from_executions(self, fills: list[IbFill]) -> None:
        """Orders known only by their executions still count as seen, never as new.

        Only after a refresh that read open *and* completed orders: an order neither lists is done.
        """
        orphans: dict[str, list[IbFill]] = {}
        for fill in fills:
            ex = fill.execution
            oid = self._fills[ex.execId].order_id if ex.execId in self._fills else None
            if oid is not None and oid not in self._records and ex.orderRef and ex.clientId == self.client_id:
                orphans.setdefault(oid, []).append(fill)
        for oid, group in orphans.items():
            facts = facts_from_executions(oid, group[0].contract.symbol, [f.execution for f in group])
            self._records[oid] = _Record(oid, group[0].execution.permId, facts)
            self._by_ref.setdefault(facts.client_order_id, oid)

    def _take_trade(self, trade: Trade) -> _Record | None:
        if (trade.order.orderId <= 0 and not trade.order.permId) or any(trade is v for v in self._void):
            return None
        oid = self._order_id_for(trade.order.orderId, trade.order.permId, trade.order.clientId)
        try:
            facts = facts_from_trade(oid, trade)
        except ValueError:
            return None  # not an order we can describe (e.g. an unknown action)
        rec = self._records.get(oid)
        if rec is None:
            rec = self._records[oid] = _Record(oid, trade.order.permId, facts, trade)
        elif rec.trade is None or trade.orderStatus.status:
            rec.facts, rec.trade = facts, trade
        rec.perm_id = rec.perm_id or trade.order.permId
        if facts.client_order_id:
            self._by_ref.setdefault(facts.client_order_id, oid)
        return rec

    def _take_fill(self, fill: IbFill) -> None:
        ex = fill.execution
        if self.account_id and ex.acctNumber and ex.acctNumber != self.account_id:
            return
        order_id = self._order_id_for(ex.orderId, ex.permId, ex.clientId if ex.clientId == self.client_id else -1)
        try:
            ours = fill_from(ex, fill.commissionReport, fill.contract.symbol, order_id)
        except ValueError:
            return
        known = self._fills.get(ex.execId)
        if known is None:
            self._fills[ex.execId] = ours
        elif known.commission == 0 and ours.commission != 0:
            self._fills[ex.execId] = Fill(known.fill_id, known.order_id, known.client_order_id, known.symbol,
                                          known.side, known.quantity, known.price, ours.commission, known.ts)

    def _sync(self) -> None:
        if self._ib is not None:
            self._absorb(self._ib.trades(), self._ib.fills())

    def _view(self, rec: _Record) -> BrokerOrder:
        if rec.trade is not None:
            with contextlib.suppress(ValueError):
                rec.facts = facts_from_trade(rec.order_id, rec.trade)
            if rec.trade.order.permId and not rec.perm_id:
                rec.perm_id = rec.trade.order.permId
                self._by_perm.setdefault(rec.perm_id, rec.order_id)
        fills = [f for f in self._fills.values() if f.order_id == rec.order_id]
        rec.last = broker_order(rec.facts, fills, rec.last)
        return rec.last

    def _refresh(self) -> None:
        """Ask the venue: open orders, completed orders, executions (raises if any cannot be read)."""
        opened = self._read("open orders", lambda ib: ib.reqOpenOrders())
        completed = self._read("completed orders", lambda ib: ib.reqCompletedOrders(True))
        self._read("executions", lambda ib: ib.reqExecutions())
        ib = self._ready()
        self._absorb([*opened, *completed, *ib.trades()], ib.fills())
        self._orders_from_executions(ib.fills())

    def _local_by_ref(self, client_order_id: str) -> BrokerOrder | None:
        self._sync()
        oid = self._by_ref.get(client_order_id)
        return self._view(self._records[oid]) if oid is not None else None

    def _by_client_id(self, client_order_id: str) -> BrokerOrder | None:
        """Ours first, then the venue's open orders, completed orders and executions."""
        found = self._local_by_ref(client_order_id)
        if found is not None:
            return found
        self._refresh()
        return self._local_by_ref(client_order_id)

    def _record(self, order_id: str) -> _Record | None:
        self._sync()
        if order_id not in self._records:
            self._refresh()
        return self._records.get(order_id)

    # ------------------------------------------------------------------ reads

    def _qualified(self, symbol: str) -> tuple[Contract, ContractDetails]:
        """The qualified contract (conId) and its details, cached for the broker's life."""
        if symbol in self._contracts:
            return self._contracts[symbol]
        wanted = stock(symbol)
        details = self._read(f"contract details for {symbol}", lambda ib: ib.reqContractDetails(wanted), symbol)
        matches = [d for d in details if d.contract is not None and d.contract.secType == "STK"] or details
        if not matches or matches[0].contract is None or not matches[0].contract.conId:
            raise UnknownSymbol(symbol, "TWS has no US stock by that symbol")
        contract = matches[0].contract
        contract.exchange = wanted.exchange  # route SMART, as qualifyContracts does
        self._contracts[symbol] = (contract, matches[0])
        return self._contracts[symbol]

    def account(self) -> Account:
        """NetLiquidation, TotalCashValue and BuyingPower of the selected account (account updates stream)."""
        with self._scope():
            values = self._read("account values", self._account_values)
            try:
                return account_from(values, self.account_id, self.paper)
            except ValueError as e:
                raise BrokerUnavailable(f"TWS at {self.where}: {e}") from None

    def _account_values(self, ib: IB) -> list[AccountValue]:
        self._barrier(ib)  # updates TWS queued (after our fills) are in once it answers
        values = ib.accountValues(self.account_id)
        if any(v.tag == "NetLiquidation" for v in values):
            return values
        return ib.accountSummary(self.account_id)  # not streamed (yet): ask for the summary

    def positions(self) -> list[Position]:
        """Non-zero holdings of the selected account (a fresh reqPositions)."""
        with self._scope():
            held = self._read("positions", lambda ib: ib.reqPositions())
            out = [p for p in (position_from(h) for h in held if h.account == self.account_id) if p is not None]
            return sorted(out, key=lambda p: p.symbol)

    def instruments(self, symbols: Sequence[str]) -> dict[str, Instrument]:
        """minTick from contract details; whole shares."""
        with self._scope():
            return {s: instrument_from(s, self._qualified(s)[1]) for s in symbols}

    def quotes(self, symbols: Sequence[str]) -> dict[str, Quote]:
        """Snapshot tickers of qualified contracts (see `mapping.quote_from` for ts and live)."""
        with self._scope():
            unique = list(dict.fromkeys(symbols))
            contracts = [self._qualified(s)[0] for s in unique]
            if not contracts:
                return {}
            tickers = self._read("quotes", lambda ib: self._snapshots(ib, contracts))
            return {s: quote_from(s, t, self._clock()) for s, t in zip(unique, tickers, strict=True)}

    @staticmethod
    def _snapshots(ib: IB, contracts: list[Contract]) -> list[Ticker]:
        # ib_async keeps one Ticker per contract across snapshots: fields a new snapshot does not resend (halted,
        # lastTimestamp, a side that vanished) would leak from the previous one, so start each snapshot afresh.
        for contract in contracts:
            ib.wrapper.tickers.pop(hash(contract), None)
        return ib.reqTickers(*contracts)

    # ------------------------------------------------------------------ orders

    def place_limit(self, request: OrderRequest) -> BrokerOrder:
        """Place a LMT order with orderRef = client_order_id; a known orderRef returns that order, never a second one.

        A refusal (error 201 …) raises OrderRejected. After a timeout or a dropped socket the order is looked up by
        orderRef on a fresh connection: found → returned; not found by a lookup that worked → placed once more;
        lookup impossible → AmbiguousOrderState.
        """
        with self._scope():
            self._writable("place orders")
            existing = self._by_client_id(request.client_order_id)
            if existing is not None:
                return existing
            contract = self._qualified(request.symbol)[0]
            return self._place(request, contract, ambiguous_retry=True, paced=0)

    def _place(self, request: OrderRequest, contract: Contract, *, ambiguous_retry: bool, paced: int) -> BrokerOrder:
        ib = self._ready()
        trade = ib.placeOrder(contract, limit_order(request, self.account_id))
        order_id = trade.order.orderId
        self._order_errors.pop(order_id, None)
        rec = self._take_trade(trade)
        assert rec is not None
        self._by_ref[request.client_order_id] = rec.order_id
        try:
            acked = self._wait(ib, lambda: self._answered(trade, order_id), self.timeout_s)
            if acked:
                self._barrier(ib)
        except ConnectionError:
            return self._resolve(request, contract, "the connection dropped after the order was sent",
                                 ambiguous_retry)
        if not acked:
            return self._resolve(request, contract, f"TWS did not acknowledge the order within {self.timeout_s:g}s",
                                 ambiguous_retry)
        code, _ = self._order_errors.get(order_id, (0, ""))
        if classify(code) is ErrorKind.PACING and trade.orderStatus.status in (*_UNACKED, "Cancelled"):
            return self._paced(request, contract, rec, paced)
        self._sync()
        placed = self._view(rec)
        if placed.state is OrderState.REJECTED:
            raise OrderRejected(request.client_order_id, placed.reason or "rejected by TWS")
        return placed

    def _answered(self, trade: Trade, order_id: int) -> bool:
        return trade.orderStatus.status not in _UNACKED or order_id in self._order_errors

    def _paced(self, request: OrderRequest, contract: Contract, rec: _Record, paced: int) -> BrokerOrder:
        """TWS refused the order message for pacing (100): nothing was booked; back off and send it again."""
        self._forget(rec, request.client_order_id)
        if rec.trade is not None:
            self._void.append(rec.trade)
        if paced >= _PACING_RETRIES:
            raise BrokerUnavailable(f"TWS at {self.where} keeps refusing orders for pacing (error 100)")
        self._backoff(paced + 1)
        existing = self._by_client_id(request.client_order_id)
        if existing is not None:
            return existing
        return self._place(request, contract, ambiguous_retry=True, paced=paced + 1)

    def _forget(self, rec: _Record, client_order_id: str) -> None:
        self._records.pop(rec.order_id, None)
        if self._by_ref.get(client_order_id) == rec.order_id:
            del self._by_ref[client_order_id]

    def _resolve(self, request: OrderRequest, contract: Contract, why: str, retry: bool) -> BrokerOrder:
        """After an ambiguous placement: reconnect, look up by orderRef; place once more only if TWS surely lacks it."""
        cid = request.client_order_id
        rec = self._records.get(self._by_ref.get(cid, ""))
        if rec is not None:
            self._forget(rec, cid)  # the venue's word replaces our unacknowledged record
        self._drop()
        try:
            self._refresh()
        except (BrokerError, ConnectionError, TimeoutError) as e:
            raise AmbiguousOrderState(cid, f"{why}; looking it up failed: {e}") from None
        found = self._local_by_ref(cid)
        if found is not None:
            if found.state is OrderState.REJECTED:
                raise OrderRejected(cid, found.reason or "rejected by TWS")
            return found
        if not retry:
            raise AmbiguousOrderState(cid, f"{why}; TWS does not know the order after a retry either")
        return self._place(request, contract, ambiguous_retry=False, paced=0)

    def order(self, order_id: str | None = None, client_order_id: str | None = None, *,
              symbol: str | None = None) -> BrokerOrder | None:
        """By TWS order id (or `P<permId>`) or by client order id (orderRef), this session's records first.

        `symbol` is not needed: TWS lists open and completed orders and executions across all instruments.
        """
        if order_id is None and client_order_id is None:
            raise ValueError("order() needs order_id or client_order_id")
        with self._scope():
            if order_id is None:
                assert client_order_id is not None
                return self._by_client_id(client_order_id)
            if not _ORDER_ID_RE.match(order_id):
                return None
            rec = self._record(order_id)
            if rec is None:
                return None
            found = self._view(rec)
            if client_order_id is not None and found.client_order_id != client_order_id:
                return None
            return found

    def open_orders(self) -> list[BrokerOrder]:
        """This client's working orders at TWS (a fresh reqOpenOrders), oldest first; terminal ones never reappear."""
        with self._scope():
            working = self._read("open orders", lambda ib: ib.reqOpenOrders())
            self._sync()
            self._absorb(working, [])
            ids = {self._order_id_for(t.order.orderId, t.order.permId, t.order.clientId) for t in working}
            views = [self._view(self._records[i]) for i in ids if i in self._records]
            return sorted((v for v in views if not v.state.is_terminal), key=_age)

    def cancel(self, order_id: str) -> BrokerOrder:
        """Cancel; a terminal order comes back as it is (10148/161 → its real state); unknown id → OrderRejected."""
        with self._scope():
            self._writable("cancel orders")
            rec = self._record(order_id) if _ORDER_ID_RE.match(order_id) else None
            if rec is None:
                raise OrderRejected(order_id, "TWS does not know this order")
            current = self._view(rec)
            if current.state.is_terminal:
                return current
            try:
                return self._cancel(rec)
            except ConnectionError:
                self._drop()
                self._refresh()
                current = self._view(rec)
                return current if current.state.is_terminal else self._cancel(rec)

    def _cancel(self, rec: _Record) -> BrokerOrder:
        ib = self._ready()
        trade = self._live_trade(ib, rec)
        if trade is None:
            self._refresh()
            return self._view(rec)
        number = trade.order.orderId
        self._order_errors.pop(number, None)
        ib.cancelOrder(trade.order)
        self._wait(ib, lambda: self._view(rec).state.is_terminal or number in self._order_errors, self.timeout_s)
        code, _ = self._order_errors.get(number, (0, ""))
        done = classify(code) in (ErrorKind.CANNOT_CANCEL, ErrorKind.UNKNOWN_ORDER)
        if done or not self._view(rec).state.is_terminal:
            self._refresh()  # "already done": the venue's records say how it ended
        return self._view(rec)

    def _live_trade(self, ib: IB, rec: _Record) -> Trade | None:
        """This session's Trade for the record (the object ib_async keeps updated), if TWS lists it."""
        if rec.order_id.isdigit():
            for trade in ib.trades():
                if trade.order.orderId == int(rec.order_id) and trade.order.clientId in (self.client_id, 0):
                    rec.trade = trade
                    return trade
        return None

    def fills(self, since: datetime | None = None) -> list[Fill]:
        """Executions of the selected account (reqExecutions + commission reports), deduped by execId, oldest first."""
        with self._scope():
            self._read("executions", lambda ib: ib.reqExecutions())
            self._sync()
            if since is not None and since.tzinfo is None:
                since = since.replace(tzinfo=UTC)
            out = [f for f in self._fills.values() if since is None or f.ts >= since]
            return sorted(out, key=lambda f: (f.ts, f.fill_id))

    def close(self) -> None:
        """Disconnect and close our event loop (a later call reconnects)."""
        with self._scope():
            self._drop()
            self._connected_once = False
        loop, self._loop = self._loop, None
        if loop is not None and not loop.is_closed():
            loop.close()


def _age(order: BrokerOrder) -> tuple[int, str]:
    digits = order.order_id.lstrip("P")
    return (int(digits) if order.order_id.isdigit() else 2**62 + int(digits or 0), order.order_id)

