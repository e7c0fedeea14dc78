"""Pure translation between ib_async objects and the broker value types, plus the TWS error-code table.

No sockets, no event loop, no clock: every function is a deterministic function of its arguments. Numbers cross into
`Decimal` via `str` (TWS sends decimal text; ib_async parses it to float, whose repr round-trips that text exactly).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from enum import StrEnum

from ib_async import AccountValue, Contract, ContractDetails, Execution, LimitOrder, Stock, Ticker, Trade
from ib_async import CommissionReport as IbCommissionReport
from ib_async import Position as IbPosition
from ib_async.objects import TradeLogEntry
from ib_async.util import UNSET_DOUBLE

from engine.brokers.base import Account, BrokerOrder, Fill, Instrument, OrderRequest, OrderState, Position, Quote, Side

__all__ = [
    "ERROR_KINDS",
    "ErrorKind",
    "OrderFacts",
    "account_from",
    "broker_order",
    "classify",
    "dec",
    "facts_from_executions",
    "facts_from_trade",
    "fill_from",
    "instrument_from",
    "limit_order",
    "order_state",
    "position_from",
    "price",
    "quote_from",
    "side",
    "stock",
    "utc",
    "venue_status",
]

EXCHANGE = "SMART"
CURRENCY = "USD"
DEFAULT_TICK = Decimal("0.01")


class ErrorKind(StrEnum):
    """What a TWS error code means for us."""

    INFO = "info"                                # farm status and other notices: ignore
    CONNECTIVITY_LOST = "connectivity_lost"      # 1100: TWS lost IB's servers; pause until restored
    CONNECTIVITY_RESTORED = "connectivity_restored"
    CLIENT_ID_IN_USE = "client_id_in_use"        # 326: another program holds our client id
    NOT_CONNECTED = "not_connected"
    PACING = "pacing"                            # 100: too many messages; back off, retry reads
    UNKNOWN_SYMBOL = "unknown_symbol"            # 200: no security definition
    REJECTED = "rejected"                        # the venue refused a new order
    CANCELLED = "cancelled"                      # 202: an order was cancelled (not an error for us)
    CANNOT_CANCEL = "cannot_cancel"              # 10148/161: already done; look the order up
    UNKNOWN_ORDER = "unknown_order"              # 135/10147: the venue does not know this order id
    OTHER = "other"


ERROR_KINDS: dict[int, ErrorKind] = {
    100: ErrorKind.PACING,
    103: ErrorKind.REJECTED,         # duplicate order id
    110: ErrorKind.REJECTED,         # price does not conform to the minimum price variation
    135: ErrorKind.UNKNOWN_ORDER,
    161: ErrorKind.CANNOT_CANCEL,
    200: ErrorKind.UNKNOWN_SYMBOL,
    201: ErrorKind.REJECTED,
    202: ErrorKind.CANCELLED,
    203: ErrorKind.REJECTED,         # security not allowed for this account
    326: ErrorKind.CLIENT_ID_IN_USE,
    502: ErrorKind.NOT_CONNECTED,
    504: ErrorKind.NOT_CONNECTED,
    1100: ErrorKind.CONNECTIVITY_LOST,
    1101: ErrorKind.CONNECTIVITY_RESTORED,   # restored, market data lost (we only take snapshots)
    1102: ErrorKind.CONNECTIVITY_RESTORED,
    10147: ErrorKind.UNKNOWN_ORDER,
    10148: ErrorKind.CANNOT_CANCEL,
}


def classify(code: int) -> ErrorKind:
    """The kind of a TWS error code (2100–2199 are data-farm notices)."""
    if code in ERROR_KINDS:
        return ERROR_KINDS[code]
    return ErrorKind.INFO if 2100 <= code < 2200 else ErrorKind.OTHER


# ---------------------------------------------------------------------------------------------------- numbers, time


def dec(value: float | int | str) -> Decimal:
    """Decimal of a wire number through its text; whole numbers lose the float's `.0`. Raises on NaN/inf."""
    d = Decimal(str(value))
    if not d.is_finite():
        raise ValueError(f"not a finite number: {value!r}")
    return d.quantize(Decimal(1)) if d == d.to_integral_value() else d


def price(value: float | None) -> Decimal | None:
    """A quoted price, or None for TWS's "no value" markers (NaN, -1, 0, unset max-double)."""
    if value is None or math.isnan(value) or math.isinf(value) or value <= 0 or value >= UNSET_DOUBLE:
        return None
    return dec(value)


def utc(ts: datetime) -> datetime:
    """`ts` in UTC (a naive time is taken to be UTC already: ib_async's own times are UTC)."""
    return ts.replace(tzinfo=UTC) if ts.tzinfo is None else ts.astimezone(UTC)


def side(action: str) -> Side:
    """BUY/BOT → buy, SELL/SLD → sell."""
    upper = action.upper()
    if upper in ("BUY", "BOT"):
        return "buy"
    if upper in ("SELL", "SLD", "SSHORT"):
        return "sell"
    raise ValueError(f"unknown order action {action!r}")


# ---------------------------------------------------------------------------------------------------- requests


def stock(symbol: str) -> Stock:
    """A US stock routed SMART; qualify it before use (ib_async cannot hash a contract without a conId)."""
    return Stock(symbol, EXCHANGE, CURRENCY)


def _plain(value: Decimal) -> Decimal:
    # The wire carries str(Decimal): normalise away exponents ("1E+2") that TWS would not parse.
    return Decimal(format(value, "f"))


def limit_order(request: OrderRequest, account: str) -> LimitOrder:
    """A transmitted LMT order whose orderRef is our client order id (TWS has no other idempotency key)."""
    # Share counts go as float (exact for whole numbers); the limit price goes as Decimal text, never via float.
    order = LimitOrder("BUY" if request.side == "buy" else "SELL", float(request.quantity), 0.0,
                       orderRef=request.client_order_id, tif="GTC" if request.time_in_force == "gtc" else "DAY",
                       account=account, transmit=True)
    order.lmtPrice = _plain(request.limit_price)
    return order


# ---------------------------------------------------------------------------------------------------- orders


@dataclass(frozen=True, slots=True)
class OrderFacts:
    """What the venue told us about one order; `broker_order` turns it (plus fills) into a BrokerOrder."""

    order_id: str
    client_order_id: str
    symbol: str
    side: Side
    quantity: Decimal
    limit_price: Decimal
    status: str = ""                        # TWS status string as last reported by the venue
    status_filled: Decimal = Decimal(0)     # TWS's cumulative filled count (used only when executions lag)
    status_avg_price: Decimal | None = None
    error_code: int = 0
    error_text: str = ""


def venue_status(log: Iterable[TradeLogEntry], current: str) -> str:
    """The last status the venue reported, ignoring the "Cancelled" ib_async invents on 10148/161 and notices.

    ib_async marks a trade Cancelled locally on any non-warning order error, including "cannot cancel: already
    filled"; fill entries merely echo the status of the moment. Neither is venue state.
    """
    last = ""
    for entry in log:
        if entry.errorCode and classify(entry.errorCode) in (ErrorKind.CANNOT_CANCEL, ErrorKind.INFO):
            continue
        if entry.message.startswith("Fill "):
            continue
        last = entry.status
    return last or current


def _order_error(log: Iterable[TradeLogEntry]) -> tuple[int, str]:
    code, text = 0, ""
    for entry in log:
        if entry.errorCode and classify(entry.errorCode) in (ErrorKind.REJECTED, ErrorKind.CANCELLED,
                                                             ErrorKind.OTHER):
            code, text = entry.errorCode, entry.message
    return code, text


def facts_from_trade(order_id: str, trade: Trade) -> OrderFacts:
    """Facts of an ib_async Trade (live, open-order or completed-order) under our order id."""
    order, status = trade.order, trade.orderStatus
    code, text = _order_error(trade.log)
    filled = max(_count(status.filled), _count(getattr(order, "filledQuantity", 0.0)))
    avg = price(status.avgFillPrice) if filled > 0 else None
    return OrderFacts(order_id=order_id, client_order_id=order.orderRef or "", symbol=trade.contract.symbol,
                      side=side(order.action), quantity=dec(order.totalQuantity),
                      limit_price=_limit(order.lmtPrice),
                      status=venue_status(trade.log, status.status), status_filled=filled,
                      status_avg_price=avg, error_code=code, error_text=text)


def _limit(value: float | Decimal | None) -> Decimal:
    # Our own orders still hold the Decimal we sent; orders read back from TWS hold the wire float.
    if isinstance(value, Decimal):
        return value
    return price(value) or Decimal(0)


def facts_from_executions(order_id: str, symbol: str, executions: Sequence[Execution]) -> OrderFacts:
    """An order TWS lists nowhere but in its executions: done (it is not working), filled as far as they go.

    The original quantity and limit are unknown; the largest cumulative quantity and the average price stand in, so
    the order is never mistaken for one TWS has not seen (and placed a second time).
    """
    last = max(executions, key=lambda e: e.cumQty)
    total = sum((dec(e.shares) for e in executions), Decimal(0))
    quantity = max(_count(last.cumQty), total)
    avg = price(last.avgPrice) or dec(last.price)
    return OrderFacts(order_id=order_id, client_order_id=last.orderRef or "", symbol=symbol, side=side(last.side),
                      quantity=quantity, limit_price=avg, status="Filled", status_filled=quantity,
                      status_avg_price=avg)


def _count(value: float | Decimal | None) -> Decimal:
    if value is None:
        return Decimal(0)
    f = float(value)
    return Decimal(0) if math.isnan(f) or f <= 0 or f >= UNSET_DOUBLE else dec(f)


_WORKING = frozenset({"PreSubmitted", "Submitted", "PendingCancel", "ApiUpdate", "ValidationError"})


def order_state(facts: OrderFacts, filled: Decimal) -> tuple[OrderState, str | None]:
    """State from fills first (they are proof), then rejection/cancel evidence, then the status string."""
    if facts.quantity > 0 and filled >= facts.quantity:
        return OrderState.FILLED, None
    kind = classify(facts.error_code) if facts.error_code else None
    reason = f"TWS {facts.error_code}: {facts.error_text}" if facts.error_code else None
    if kind is ErrorKind.REJECTED and filled == 0:
        return OrderState.REJECTED, reason
    status = facts.status
    if status == "Filled":
        return OrderState.FILLED, None
    if status in ("Cancelled", "ApiCancelled") or kind is ErrorKind.CANCELLED:
        return OrderState.CANCELLED, reason
    if status == "Inactive":
        return (OrderState.REJECTED if filled == 0 else OrderState.CANCELLED), reason or "TWS: order inactive"
    if filled > 0:
        return OrderState.PARTIALLY_FILLED, None
    return (OrderState.SUBMITTED if status in _WORKING else OrderState.PENDING), None


def broker_order(facts: OrderFacts, fills: Sequence[Fill], previous: BrokerOrder | None = None) -> BrokerOrder:
    """The order as we report it: quantities from fills (keyed by execId upstream), terminal states sticky.

    A terminal state never reopens (a late `Submitted` after `Filled` is ignored); the only move between terminal
    states is to FILLED when fills cover the whole quantity. The filled quantity never goes down.
    """
    filled = sum((f.quantity for f in fills), Decimal(0))
    avg = sum((f.quantity * f.price for f in fills), Decimal(0)) / filled if filled > 0 else None
    if facts.status_filled > filled:        # executions not received yet: TWS's cumulative count is the best we have
        filled, avg = facts.status_filled, facts.status_avg_price
    if previous is not None and previous.filled_quantity > filled:
        filled, avg = previous.filled_quantity, previous.avg_fill_price
    state, reason = order_state(facts, filled)
    if previous is not None and previous.state.is_terminal:
        proven_filled = state is OrderState.FILLED and filled >= facts.quantity
        if not proven_filled:
            state, reason = previous.state, previous.reason
    return BrokerOrder(order_id=facts.order_id, client_order_id=facts.client_order_id, symbol=facts.symbol,
                       side=facts.side, quantity=facts.quantity, limit_price=facts.limit_price,
                       filled_quantity=filled, avg_fill_price=avg, state=state, reason=reason)


# ---------------------------------------------------------------------------------------------------- fills


def commission(report: IbCommissionReport | None) -> Decimal:
    """The commission of one execution; 0 while TWS has not sent the report (it follows execDetails)."""
    if report is None or not report.execId:
        return Decimal(0)
    value = report.commission
    if math.isnan(value) or math.isinf(value) or value >= UNSET_DOUBLE:
        return Decimal(0)
    return dec(value)


def fill_from(execution: Execution, report: IbCommissionReport | None, symbol: str, order_id: str) -> Fill:
    """One execution as a Fill keyed by TWS's execId (the same execution replayed maps to the same key)."""
    return Fill(fill_id=execution.execId, order_id=order_id, client_order_id=execution.orderRef or "",
                symbol=symbol, side=side(execution.side), quantity=dec(execution.shares),
                price=dec(execution.price), commission=commission(report), ts=utc(execution.time))


# ---------------------------------------------------------------------------------------------------- market data


def _halted(ticker: Ticker) -> bool:
    # Generic tick 49: 1 = halted, 2 = volatility halt; ib_async stores 0 as NaN.
    return any(not math.isnan(v) and v > 0 for v in (ticker.halted, ticker.delayedHalted))


def quote_from(symbol: str, ticker: Ticker, fallback_ts: datetime) -> Quote:
    """A snapshot ticker as a Quote.

    `ts` is the source time of the last trade (tick-string 45 `lastTimestamp`, 88 for delayed data) when TWS sends
    it; otherwise the time ib_async received the snapshot (`Ticker.time`: a receipt time, not a source time);
    otherwise `fallback_ts` (the adapter's injected clock).
    `live` is False for frozen/delayed data (marketDataType ≠ 1), a halt, a missing side or a crossed book.
    """
    bid, ask, last = price(ticker.bid), price(ticker.ask), price(ticker.last)
    ts = ticker.lastTimestamp or ticker.delayedLastTimestamp or ticker.time or fallback_ts
    live = (ticker.marketDataType == 1 and not _halted(ticker) and bid is not None and ask is not None
            and bid < ask)
    return Quote(symbol=symbol, bid=bid, ask=ask, last=last, ts=utc(ts), live=live)


def instrument_from(symbol: str, details: ContractDetails) -> Instrument:
    """Trading rules of a stock: TWS's minTick (0.01 when it sends none), whole shares."""
    tick = price(details.minTick) or DEFAULT_TICK
    contract: Contract | None = details.contract
    currency = (contract.currency if contract is not None else "") or CURRENCY
    return Instrument(symbol=symbol, tick_size=tick, lot_size=Decimal(1), min_quantity=Decimal(1),
                      min_notional=Decimal(0), currency=currency, tradable=True)


# ---------------------------------------------------------------------------------------------------- account


def position_from(p: IbPosition) -> Position | None:
    """A non-zero holding (None for a flat one). avg_cost is TWS's average cost per share."""
    quantity = dec(p.position)
    if quantity == 0:
        return None
    return Position(symbol=p.contract.symbol, quantity=quantity, avg_cost=dec(p.avgCost))


def _pick(values: Sequence[AccountValue], tag: str, currency: str) -> Decimal | None:
    matches = [v for v in values if v.tag == tag]
    for wanted in (currency, "BASE", None):
        for v in matches:
            if wanted is None or v.currency == wanted:
                try:
                    return dec(v.value)
                except (ArithmeticError, ValueError):
                    continue
    return None


def account_from(values: Sequence[AccountValue], account_id: str, paper: bool) -> Account:
    """Account values (reqAccountUpdates or accountSummary) of `account_id` as an Account.

    Equity is NetLiquidation, cash TotalCashValue, buying power BuyingPower (else AvailableFunds, else cash). TWS has
    no cash/margin flag: an AccountType naming CASH is a cash account; otherwise buying power above cash (or negative
    cash, a margin loan) means margin.
    """
    mine = [v for v in values if v.account == account_id]
    nlv = [v for v in mine if v.tag == "NetLiquidation" and v.currency not in ("", "BASE")]
    currency = nlv[0].currency if nlv else CURRENCY
    equity = _pick(mine, "NetLiquidation", currency)
    if equity is None:
        raise ValueError(f"TWS sent no NetLiquidation for account {account_id}")
    cash = _pick(mine, "TotalCashValue", currency) or Decimal(0)
    buying_power = _pick(mine, "BuyingPower", currency)
    if buying_power is None:
        buying_power = _pick(mine, "AvailableFunds", currency) or cash
    account_type = next((v.value for v in mine if v.tag == "AccountType"), "")
    margin = "CASH" not in account_type.upper() and (buying_power > max(cash, Decimal(0)) * Decimal("1.01")
                                                      or cash < 0)
    return Account(account_id=account_id, currency=currency, cash=cash, equity=equity, buying_power=buying_power,
                   kind="margin" if margin else "cash", paper=paper)
