"""The TWS view of the simulated venue: contracts, account, quotes, and orders mapped onto venue orders.

Every state-changing call returns the messages it causes as `Out`s (who gets them is the server's business); it never
touches a socket. Callers serialise access (the server holds one lock around every call).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace
from datetime import datetime
from decimal import ROUND_CEILING, ROUND_FLOOR, Decimal

from engine.brokers.base import BrokerOrder, Fill, OrderRequest, OrderState, Quote
from engine.brokers.gateways.tws import messages as m
from engine.brokers.gateways.tws.codec import Fields
from engine.brokers.gateways.tws.messages import ContractInfo, ContractQuery, OrderView, PlaceRequest, RequestError
from engine.brokers.gateways.tws.state import TwsExecution, TwsOrder, TwsState, exec_id_for, with_status
from engine.brokers.sim import SimVenue
from engine.brokers.sim.prices import bundled_prices
from engine.brokers.sim.venue import commission_for
from engine.errors import UnknownSymbol

_SIX = Decimal("0.000001")
RACE_MOVE = Decimal("0.002")   # how far cancel_fill_race moves the reference through the limit (20 bp)


@dataclass(frozen=True, slots=True)
class Out:
    """One message to deliver: to the session of `client_id`, or to every session subscribed to `topic`."""

    make: Callable[[int], Fields]       # server version -> fields
    client_id: int | None = None
    topic: str = ""                     # "positions" | "account" broadcasts
    kind: str = ""                      # open | status | exec | commission | error | update
    perm_id: int = 0
    view: OrderView | None = None       # the order as a status message showed it


def fixed(fields: Fields) -> Callable[[int], Fields]:
    """A message whose layout does not depend on the server version."""
    return lambda _version: fields


def error_out(client_id: int, req_id: int, code: int, text: str) -> Out:
    """An error message for one client."""
    return Out(lambda v: m.error(v, req_id, code, text), client_id, kind="error")


def con_id_for(symbol: str) -> int:
    """A stable conId per symbol (the same in every run and process)."""
    digest = hashlib.blake2b(symbol.encode(), digest_size=4, person=b"nanobook-conid").digest()
    return 100_000 + int.from_bytes(digest, "big") % 2_000_000_000


def ib_time(ts: datetime) -> str:
    """`YYYYMMDD HH:MM:SS UTC`, the form TWS uses for execution and completion times."""
    return ts.strftime("%Y%m%d %H:%M:%S") + " UTC"


def avg(notional: Decimal, qty: Decimal) -> Decimal:
    """Average price to 6 places (0 without quantity)."""
    return (notional / qty).quantize(_SIX).normalize() if qty else Decimal(0)


class OrderDesk:
    """Orders, fills and reads, over one SimVenue and the gateway's TwsState."""

    def __init__(self, venue: SimVenue, state: TwsState, account: str) -> None:
        self.venue = venue
        self.state = state
        self.account = account
        self._contracts: dict[str, ContractInfo] = {}
        self._by_con_id: dict[int, str] = {}
        self._links = state.venue_links()
        self._known = state.known_fill_ids()
        self._aggressor: str | None = None

    # ------------------------------------------------------------------ contracts

    def contract(self, symbol: str) -> ContractInfo:
        """The contract of a listed symbol; UnknownSymbol otherwise."""
        info = self._contracts.get(symbol)
        if info is None:
            rules = self.venue.instruments([symbol])[symbol]
            info = ContractInfo(con_id_for(symbol), symbol, rules.tick_size)
            self._contracts[symbol] = info
            self._by_con_id[info.con_id] = symbol
        return info

    def resolve(self, query: ContractQuery, req_id: int) -> ContractInfo:
        """The listed stock a request names (by symbol, or by a conId seen before); error 200 otherwise."""
        missing = RequestError(req_id, 200, "No security definition has been found for the request")
        if query.sec_type not in ("", "STK") or query.currency.upper() not in ("", m.CURRENCY):
            raise missing
        symbol = query.symbol or self._symbol_for(query.con_id)
        if not symbol:
            raise missing
        try:
            info = self.contract(symbol)
        except UnknownSymbol:
            raise missing from None
        if query.con_id and query.con_id != info.con_id:
            raise missing
        return info

    def _symbol_for(self, con_id: int) -> str:
        """The symbol behind a conId: seen before, or one of the bundled, held or traded symbols ('' if none)."""
        if con_id and con_id not in self._by_con_id:
            candidates = {*bundled_prices(), *(p.symbol for p in self.venue.positions()),
                          *(o.symbol for o in self.state.orders())}
            self._by_con_id.update({con_id_for(c): c for c in candidates})
        return self._by_con_id.get(con_id, "")

    # ------------------------------------------------------------------ reads

    def quote(self, symbol: str) -> tuple[Quote, Decimal, Decimal]:
        """The venue quote and the sizes at the best bid and ask."""
        quote = self.venue.quotes([symbol])[symbol]
        book = self.venue.book(symbol, 1)
        bid_size = Decimal(book["bids"][0]["quantity"]) if book["bids"] else Decimal(0)
        ask_size = Decimal(book["asks"][0]["quantity"]) if book["asks"] else Decimal(0)
        return quote, bid_size, ask_size

    def account_values(self) -> list[tuple[str, str, str]]:
        """(tag, value, currency) rows for account summary / account updates."""
        acct = self.venue.account()
        gross = sum((abs(qty) * price for _, qty, _, price in self.holdings()), Decimal(0))
        cash, equity, power = (f"{v:.2f}" for v in (acct.cash, acct.equity, acct.buying_power))
        usd = m.CURRENCY
        return [("AccountType", "INDIVIDUAL", ""), ("NetLiquidation", equity, usd), ("TotalCashValue", cash, usd),
                ("SettledCash", cash, usd), ("AccruedCash", "0.00", usd), ("BuyingPower", power, usd),
                ("EquityWithLoanValue", equity, usd), ("GrossPositionValue", f"{gross:.2f}", usd),
                ("AvailableFunds", power, usd), ("ExcessLiquidity", power, usd), ("InitMarginReq", "0.00", usd),
                ("MaintMarginReq", "0.00", usd), ("Cushion", "1", ""), ("Leverage", "0", "")]

    def holdings(self) -> list[tuple[ContractInfo, Decimal, Decimal, Decimal]]:
        """(contract, quantity, average cost, mark price) per venue position."""
        positions = self.venue.positions()
        quotes = self.venue.quotes([p.symbol for p in positions])
        out = []
        for p in positions:
            mark = quotes[p.symbol].mid or p.avg_cost
            out.append((self.contract(p.symbol), p.quantity, p.avg_cost, mark.quantize(_SIX).normalize()))
        return out

    def view(self, order: TwsOrder, status: str | None = None) -> OrderView:
        """How status / openOrder / completedOrder messages show an order."""
        return OrderView(order.order_id, order.client_id, order.perm_id, order.action, order.quantity,
                         order.limit_price, order.tif, order.account, order.order_ref, status or order.status,
                         order.filled, avg(order.notional, order.filled), order.last_fill_price,
                         order.done_at, order.reason if order.is_done else "")

    def open_order_msgs(self, order: TwsOrder, status: str | None = None) -> list[Out]:
        """openOrder then orderStatus for one order, to its owner."""
        info = self.contract(order.symbol)
        shown = self.view(order, status)
        return [Out(lambda v: m.open_order(v, info, shown), order.client_id, kind="open", perm_id=order.perm_id),
                self.status_msg(order, status)]

    def status_msg(self, order: TwsOrder, status: str | None = None) -> Out:
        """orderStatus for one order, to its owner."""
        shown = self.view(order, status)
        return Out(fixed(m.order_status(shown)), order.client_id, kind="status", perm_id=order.perm_id, view=shown)

    def exec_view(self, ex: TwsExecution, order: TwsOrder) -> ExecViewPair:
        """An execution with its order, ready for execDetails / commissionReport."""
        view = m.ExecView(ex.exec_id, order.order_id, order.client_id, order.perm_id, ex.ts, order.account,
                          "BOT" if order.action == "BUY" else "SLD", ex.shares, ex.price, ex.cum_qty, ex.avg_price,
                          order.order_ref, ex.commission, ex.liquidity)
        return ExecViewPair(self.contract(order.symbol), view)

    # ------------------------------------------------------------------ orders

    def place(self, client_id: int, req: PlaceRequest) -> tuple[list[Out], int]:
        """Place (or modify) an order; (messages, permId). RequestError when TWS would refuse it."""
        info = self.resolve(req.contract, req.order_id)
        tif = self._vet(req)
        existing = self.state.by_client(client_id, req.order_id)
        if existing is not None:
            if existing.is_done:
                raise RequestError(req.order_id, 103, f"Duplicate order id {req.order_id}: that order is "
                                                      f"{existing.status}")
            return self._modify(existing, req, tif), existing.perm_id
        perm = self.state.next_perm_id()
        now = self.venue.now()
        order = TwsOrder(perm, client_id, req.order_id, self.account, info.symbol, req.action, req.quantity,
                         req.limit_price or Decimal(0), tif, req.order_ref, None, "PendingSubmit", Decimal(0),
                         Decimal(0), Decimal(0), "", ib_time(now), "")
        self.state.add_order(order)
        booked = self._book(order, order.quantity, f"tws{perm}")
        if booked.state == OrderState.REJECTED:   # recorded as done, so it shows among completed orders
            self.state.save(with_status(replace(order, venue_order_id=booked.order_id), "Cancelled", ib_time(now),
                                        booked.reason or "rejected"))
            raise RequestError(req.order_id, 201, f"Order rejected - reason:{booked.reason}")
        order = self.state.save(replace(order, venue_order_id=booked.order_id, status="Submitted"))
        outs = self.open_order_msgs(order, "PreSubmitted") + self.open_order_msgs(order, "Submitted")
        return outs + self._sync_after(booked.order_id), perm

    def what_if(self, client_id: int, req: PlaceRequest) -> list[Out]:
        """A what-if order: the openOrder answer with commission and margin impact; nothing is booked."""
        info = self.resolve(req.contract, req.order_id)
        tif = self._vet(req)
        price = req.limit_price or Decimal(0)
        notional = f"{req.quantity * price:.2f}"
        fee = commission_for(int(req.quantity)) if req.quantity == req.quantity.to_integral_value() else Decimal(0)
        equity = f"{self.venue.account().equity:.2f}"
        after = f"{self.venue.account().equity - fee:.2f}"
        shown = OrderView(req.order_id, client_id, 0, req.action, req.quantity, price, tif, self.account,
                          req.order_ref, "PreSubmitted", what_if=True, commission=fee,
                          margin=("0", "0", equity, notional, notional, f"{-fee:.2f}", notional, notional, after))
        return [Out(lambda v: m.open_order(v, info, shown), client_id, kind="open")]

    def _vet(self, req: PlaceRequest) -> str:
        def refuse(reason: str) -> RequestError:
            return RequestError(req.order_id, 201, f"Order rejected - reason:{reason}")

        if req.order_type != "LMT":
            raise refuse(f"this gateway accepts LMT orders only, not {req.order_type or 'an empty order type'!r}")
        if req.action not in ("BUY", "SELL"):
            raise refuse(f"action must be BUY or SELL, not {req.action!r}")
        if req.quantity <= 0:
            raise refuse(f"the order size must be positive, not {m.num(req.quantity)}")
        if req.limit_price is None or req.limit_price <= 0:
            raise refuse("a LMT order needs a positive limit price")
        if req.account and req.account != self.account:
            raise refuse(f"account {req.account!r} is not managed by this gateway ({self.account})")
        tif = req.tif or "DAY"
        if tif not in ("DAY", "GTC"):
            raise refuse(f"time in force must be DAY or GTC, not {tif!r}")
        return tif

    def _book(self, order: TwsOrder, quantity: Decimal, venue_client_id: str) -> BrokerOrder:
        request = OrderRequest(venue_client_id, order.symbol, "buy" if order.action == "BUY" else "sell", quantity,
                               order.limit_price, "gtc" if order.tif == "GTC" else "day")
        booked, _created = self.venue.place(request)
        self.state.link_venue_order(order.perm_id, booked.order_id, venue_client_id)
        self._links[booked.order_id] = order.perm_id
        return booked

    def _sync_after(self, aggressor: str) -> list[Out]:
        self._aggressor = aggressor
        try:
            return self.sync()
        finally:
            self._aggressor = None

    def _modify(self, order: TwsOrder, req: PlaceRequest, tif: str) -> list[Out]:
        """Cancel-replace at the venue, keeping orderId and permId (TWS modify)."""
        if req.action != order.action or req.contract.symbol not in ("", order.symbol):
            raise RequestError(req.order_id, 105, "Order being modified does not match original order: symbol "
                                                  "and action cannot change")
        outs = self.sync()
        current = self.state.by_perm(order.perm_id)
        assert current is not None
        if current.is_done:
            text = f"Duplicate order id {req.order_id}: that order is {current.status}"
            return [*outs, error_out(order.client_id, req.order_id, 103, text)]
        if req.quantity <= current.filled:
            raise RequestError(req.order_id, 201, f"Order rejected - reason:the new size {m.num(req.quantity)} is "
                                                  f"not above the {m.num(current.filled)} already filled")
        if current.venue_order_id is not None:
            self.venue.cancel(current.venue_order_id)
        outs += self._sync_fills()            # not sync(): the cancelled venue order is being replaced, not done
        current = self.state.by_perm(order.perm_id)
        assert current is not None
        if current.is_done:
            return outs
        changed = replace(current, quantity=req.quantity, limit_price=req.limit_price or current.limit_price,
                          tif=tif)
        suffix = f"tws{order.perm_id}r{self.state.venue_order_count(order.perm_id)}"
        booked = self._book(changed, req.quantity - current.filled, suffix)
        changed = self.state.save(replace(changed, venue_order_id=booked.order_id, status="Submitted"))
        return outs + self.open_order_msgs(changed) + self._sync_after(booked.order_id)

    def cancel(self, client_id: int, order_id: int) -> list[Out]:
        """cancelOrder: Cancelled + 202, or 10148 when already done, or 135 when unknown."""
        order = self.state.by_client(client_id, order_id)
        if order is None:
            raise RequestError(order_id, 135, f"Can't find order with id ={order_id}")
        outs = self.sync()
        order = self.state.by_perm(order.perm_id)
        assert order is not None
        if not order.is_done and order.venue_order_id is not None:
            self.venue.cancel(order.venue_order_id)
            outs += self.sync()
            order = self.state.by_perm(order.perm_id)
            assert order is not None
            if order.status == "Cancelled":
                return [*outs, error_out(client_id, order_id, 202, "Order Canceled - reason:")]
        text = f"OrderId {order_id} that needs to be cancelled cannot be cancelled, state: {order.status}."
        return [*outs, error_out(client_id, order_id, 10148, text)]

    def force_fill(self, client_id: int, order_id: int) -> None:
        """Move the market through the order's limit so it fills (the cancel/fill race); no-op if unknown/done."""
        order = self.state.by_client(client_id, order_id)
        if order is None or order.is_done:
            return
        tick = self.contract(order.symbol).min_tick
        move = max(order.limit_price * RACE_MOVE, 2 * tick)
        if order.action == "BUY":
            target = ((order.limit_price - move) / tick).to_integral_value(ROUND_FLOOR) * tick
        else:
            target = ((order.limit_price + move) / tick).to_integral_value(ROUND_CEILING) * tick
        self.venue.set_price(order.symbol, max(target, tick))

    def global_cancel(self) -> list[Out]:
        """reqGlobalCancel: cancel every working order of every client."""
        outs = self.sync()
        working = self.state.orders(working=True)
        for order in working:
            if order.venue_order_id is not None:
                self.venue.cancel(order.venue_order_id)
        outs += self.sync()
        for order in working:
            after = self.state.by_perm(order.perm_id)
            if after is not None and after.status == "Cancelled":
                outs.append(error_out(order.client_id, order.order_id, 202, "Order Canceled - reason:"))
        return outs

    # ------------------------------------------------------------------ sync with the venue

    def sync(self) -> list[Out]:
        """Report venue fills and cancellations not yet reported (from any process), in venue order."""
        outs = self._sync_fills()
        for order in self.state.orders(working=True):
            outs += self._check_done(order)
        return outs

    def _sync_fills(self) -> list[Out]:
        outs: list[Out] = []
        touched: set[str] = set()
        for fill in self.venue.fills():
            if fill.fill_id in self._known:
                continue
            perm = self._links.get(fill.order_id)
            if perm is not None:
                outs += self._report_fill(perm, fill)
                touched.add(fill.symbol)
            self._known.add(fill.fill_id)
        return outs + self.position_updates(touched)

    def _report_fill(self, perm: int, fill: Fill) -> list[Out]:
        order = self.state.by_perm(perm)
        assert order is not None
        filled = order.filled + fill.quantity
        notional = order.notional + fill.quantity * fill.price
        done = filled >= order.quantity
        order = replace(order, filled=filled, notional=notional, last_fill_price=fill.price,
                        status="Filled" if done else "Submitted", done_at=ib_time(fill.ts) if done else "")
        digits = "".join(ch for ch in fill.fill_id if ch.isdigit()) or "0"
        ex = TwsExecution(0, exec_id_for(int(digits), perm), fill.fill_id, perm, fill.quantity, fill.price,
                          fill.commission, filled, avg(notional, filled), ib_time(fill.ts),
                          2 if fill.order_id == self._aggressor else 1)
        self.state.add_execution(ex, order)
        pair = self.exec_view(ex, order)
        return [Out(lambda v: m.exec_details(v, -1, pair.contract, pair.view), order.client_id, kind="exec",
                    perm_id=perm),
                self.status_msg(order),
                Out(fixed(m.commission_report(pair.view)), order.client_id, kind="commission", perm_id=perm)]

    def _check_done(self, order: TwsOrder) -> list[Out]:
        if order.venue_order_id is None:
            return []
        venue_order = self.venue.order(order_id=order.venue_order_id)
        if venue_order is None:               # `nanobook sim reset` / `init --force` wiped the venue's orders
            reason = "the simulated venue no longer has this order (reset?)"
        elif venue_order.state in (OrderState.CANCELLED, OrderState.REJECTED):
            reason = venue_order.reason or venue_order.state.value
        else:
            return []
        order = self.state.save(with_status(order, "Cancelled", ib_time(self.venue.now()), reason))
        return [self.status_msg(order)]

    def position_updates(self, symbols: Iterable[str]) -> list[Out]:
        """position (61) and portfolio (7) + account values (6) broadcasts after fills in `symbols`."""
        wanted = sorted(set(symbols))
        if not wanted:
            return []
        held = {c.symbol: (c, qty, cost, mark) for c, qty, cost, mark in self.holdings()}
        outs: list[Out] = []
        for symbol in wanted:
            c, qty, cost, mark = held.get(symbol, (self.contract(symbol), Decimal(0), Decimal(0), Decimal(0)))
            outs.append(Out(fixed(m.position(self.account, c, qty, cost)), topic="positions", kind="update"))
            outs.append(Out(fixed(m.portfolio_value(c, qty, mark, cost, self.account)), topic="account",
                            kind="update"))
        outs += [Out(fixed(m.account_value(k, v, ccy, self.account)), topic="account", kind="update")
                 for k, v, ccy in self.account_values()]
        return outs

    def recover(self) -> None:
        """After a crash between recording an order and booking it: link what the venue has, close the rest."""
        for order in self.state.orders(working=True):
            if order.venue_order_id is not None:
                continue
            booked = self.venue.order(client_order_id=f"tws{order.perm_id}")
            if booked is None:
                self.state.save(with_status(order, "Cancelled", order.created_at, "never reached the venue"))
                continue
            self.state.link_venue_order(order.perm_id, booked.order_id, f"tws{order.perm_id}")
            self._links[booked.order_id] = order.perm_id
            self.state.save(replace(order, venue_order_id=booked.order_id, status="Submitted"))

    # ------------------------------------------------------------------ queries

    def executions(self, f: m.ExecFilter) -> list[ExecViewPair]:
        """Executions matching a reqExecutions filter, oldest first."""
        out = []
        for ex in self.state.executions():
            order = self.state.by_perm(ex.perm_id)
            if order is None or not _matches(f, order, ex):
                continue
            out.append(self.exec_view(ex, order))
        return out


@dataclass(frozen=True, slots=True)
class ExecViewPair:
    """An execution and its contract."""

    contract: ContractInfo
    view: m.ExecView


def _matches(f: m.ExecFilter, order: TwsOrder, ex: TwsExecution) -> bool:
    side = "BOT" if order.action == "BUY" else "SLD"
    wanted_side = {"BUY": "BOT", "SELL": "SLD"}.get(f.side, f.side)
    if f.client_id and f.client_id != order.client_id:
        return False
    if (f.symbol and f.symbol != order.symbol) or (wanted_side and wanted_side != side):
        return False
    if (f.account and f.account != order.account) or f.sec_type not in ("", "STK"):
        return False
    return not f.time or ex.ts[:17] >= f.time.replace("-", " ")[:17]
