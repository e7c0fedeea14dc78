"""TWS API message layouts at server version 164–176: encoders (server → client) and parsers (client → server).

Every server → client layout mirrors ib_async 2.1.0's `decoder.py` field by field (strict tuple unpacking there, so
an extra or missing field breaks the client). No state, no I/O: values in, field tuples out.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal, InvalidOperation

from engine.brokers.gateways.tws.codec import Fields

UNSET_DOUBLE = "1.7976931348623157E308"   # what TWS sends for "no value" doubles (realizedPNL of an opening fill)
UNSET_INT = "2147483647"
EXCHANGE = "SMART"
PRIMARY_EXCHANGE = "NASDAQ"
CURRENCY = "USD"
TRADING_CLASS = "NMS"

# Incoming message ids (client -> server).
REQ_MKT_DATA, CANCEL_MKT_DATA, PLACE_ORDER, CANCEL_ORDER, REQ_OPEN_ORDERS = 1, 2, 3, 4, 5
REQ_ACCOUNT_UPDATES, REQ_EXECUTIONS, REQ_IDS, REQ_CONTRACT_DETAILS = 6, 7, 8, 9
REQ_AUTO_OPEN_ORDERS, REQ_ALL_OPEN_ORDERS, REQ_MANAGED_ACCTS = 15, 16, 17
REQ_CURRENT_TIME, REQ_GLOBAL_CANCEL, REQ_MARKET_DATA_TYPE = 49, 58, 59
REQ_POSITIONS, REQ_ACCOUNT_SUMMARY, CANCEL_ACCOUNT_SUMMARY, CANCEL_POSITIONS = 61, 62, 63, 64
START_API, REQ_ACCOUNT_UPDATES_MULTI, CANCEL_ACCOUNT_UPDATES_MULTI = 71, 76, 77
REQ_COMPLETED_ORDERS = 99


class RequestError(Exception):
    """A request the gateway answers with TWS error `code` (sent to `req_id`, -1 when there is none)."""

    def __init__(self, req_id: int, code: int, text: str) -> None:
        self.req_id = req_id
        self.code = code
        self.text = text
        super().__init__(f"{code}: {text}")


@dataclass(frozen=True, slots=True)
class ContractInfo:
    """A listed stock as TWS describes it."""

    con_id: int
    symbol: str
    min_tick: Decimal


@dataclass(frozen=True, slots=True)
class ContractQuery:
    """The 12 contract fields a client sends (only those the gateway looks at)."""

    con_id: int
    symbol: str
    sec_type: str
    exchange: str
    currency: str


@dataclass(frozen=True, slots=True)
class PlaceRequest:
    """The placeOrder fields the gateway honours."""

    order_id: int
    contract: ContractQuery
    action: str
    quantity: Decimal
    order_type: str
    limit_price: Decimal | None
    tif: str
    account: str
    order_ref: str
    what_if: bool = False


@dataclass(frozen=True, slots=True)
class OrderView:
    """An order as openOrder / completedOrder / orderStatus present it."""

    order_id: int
    client_id: int
    perm_id: int
    action: str
    quantity: Decimal
    limit_price: Decimal
    tif: str
    account: str
    order_ref: str
    status: str
    filled: Decimal = Decimal(0)
    avg_price: Decimal = Decimal(0)
    last_fill_price: Decimal = Decimal(0)
    completed_time: str = ""
    completed_status: str = ""
    what_if: bool = False
    margin: tuple[str, ...] = ()          # 9 margin strings (before, change, after × init/maint/equity)
    commission: Decimal | None = None     # what-if commission estimate

    @property
    def remaining(self) -> Decimal:
        """Shares still working (0 once done)."""
        return Decimal(0) if self.status in ("Filled", "Cancelled", "Inactive") else self.quantity - self.filled


@dataclass(frozen=True, slots=True)
class ExecView:
    """One execution as execDetails / commissionReport present it."""

    exec_id: str
    order_id: int
    client_id: int
    perm_id: int
    time: str
    account: str
    side: str            # BOT | SLD
    shares: Decimal
    price: Decimal
    cum_qty: Decimal
    avg_price: Decimal
    order_ref: str
    commission: Decimal
    liquidity: int       # 1 added, 2 removed


def num(value: Decimal | int) -> str:
    """A number as TWS text: integers without a point, decimals as they are."""
    if isinstance(value, int):
        return str(value)
    return str(int(value)) if value == value.to_integral_value() else format(value.normalize(), "f")


# ---------------------------------------------------------------------------- server -> client


def contract11(c: ContractInfo) -> Fields:
    """conId … tradingClass as openOrder / execDetails / position send them (exchange, no primaryExchange)."""
    return (str(c.con_id), c.symbol, "STK", "", "0", "", "", EXCHANGE, CURRENCY, c.symbol, TRADING_CLASS)


def handshake(version: int, time_text: str) -> Fields:
    """The server's reply to the version range: exactly two fields."""
    return (str(version), time_text)


def next_valid_id(order_id: int) -> Fields:
    """9: the next order id the client may use."""
    return ("9", "1", str(order_id))


def managed_accounts(accounts: str) -> Fields:
    """15: comma-separated account ids."""
    return ("15", "1", accounts)


def error(version: int, req_id: int, code: int, text: str) -> Fields:
    """4: error / notice (advancedOrderRejectJson from 166 on)."""
    base = ("4", "2", str(req_id), str(code), text)
    return (*base, "") if version >= 166 else base


def current_time(epoch: int) -> Fields:
    """49: server time in epoch seconds."""
    return ("49", "1", str(epoch))


def position(account: str, c: ContractInfo, qty: Decimal, avg_cost: Decimal) -> Fields:
    """61 (version 3)."""
    return ("61", "3", account, *contract11(c), num(qty), num(avg_cost))


def position_end() -> Fields:
    """62."""
    return ("62", "1")


def account_summary(req_id: int, account: str, tag: str, value: str, currency: str) -> Fields:
    """63."""
    return ("63", "1", str(req_id), account, tag, value, currency)


def account_summary_end(req_id: int) -> Fields:
    """64."""
    return ("64", "1", str(req_id))


def account_value(key: str, value: str, currency: str, account: str) -> Fields:
    """6 (version 2)."""
    return ("6", "2", key, value, currency, account)


def portfolio_value(c: ContractInfo, qty: Decimal, price: Decimal, avg_cost: Decimal, account: str) -> Fields:
    """7 (version 8): the 11 contract fields carry primaryExchange where the others carry exchange."""
    value = qty * price
    pnl = (price - avg_cost) * qty
    return ("7", "8", str(c.con_id), c.symbol, "STK", "", "0", "", "", PRIMARY_EXCHANGE, CURRENCY, c.symbol,
            TRADING_CLASS, num(qty), num(price), num(value), num(avg_cost), num(pnl), "0", account)


def account_time(hhmm: str) -> Fields:
    """8."""
    return ("8", "1", hhmm)


def account_download_end(account: str) -> Fields:
    """54."""
    return ("54", "1", account)


def account_update_multi(req_id: int, account: str, key: str, value: str, currency: str) -> Fields:
    """73."""
    return ("73", "1", str(req_id), account, "", key, value, currency)


def account_update_multi_end(req_id: int) -> Fields:
    """74."""
    return ("74", "1", str(req_id))


def contract_details(req_id: int, c: ContractInfo) -> Fields:
    """10 at >= 164 (no version field): the layout of decoder.contractDetails."""
    tick = num(c.min_tick)
    return ("10", str(req_id), c.symbol, "STK", "", "0", "", EXCHANGE, CURRENCY, c.symbol, TRADING_CLASS,
            TRADING_CLASS, str(c.con_id), tick,
            "", "LMT", f"{EXCHANGE},{PRIMARY_EXCHANGE}", "1", "0", f"{c.symbol} (nanobook simulated)",
            PRIMARY_EXCHANGE, "", "", "", "", "UTC", "", "", "", "", "0",
            "1", "", "", "26", "", "COMMON", "1", "1", "1")


def contract_details_end(req_id: int) -> Fields:
    """52."""
    return ("52", "1", str(req_id))


def market_data_type(req_id: int, kind: int) -> Fields:
    """58: 1 live, 2 frozen, 3 delayed, 4 delayed-frozen."""
    return ("58", "1", str(req_id), str(kind))


def tick_price(req_id: int, tick_type: int, price: Decimal, size: Decimal) -> Fields:
    """1 (version 6): price with its size; attribute mask 0."""
    return ("1", "6", str(req_id), str(tick_type), num(price), num(size), "0")


def tick_generic(req_id: int, tick_type: int, value: Decimal | int) -> Fields:
    """45."""
    return ("45", "6", str(req_id), str(tick_type), num(value))


def tick_string(req_id: int, tick_type: int, value: str) -> Fields:
    """46."""
    return ("46", "6", str(req_id), str(tick_type), value)


def tick_snapshot_end(req_id: int) -> Fields:
    """57: the end of a snapshot (reqTickers waits for it)."""
    return ("57", "1", str(req_id))


def order_status(o: OrderView) -> Fields:
    """3 (no version at >= 100): status, filled, remaining, avgFillPrice, permId, parentId, lastFillPrice …"""
    return ("3", str(o.order_id), o.status, num(o.filled), num(o.remaining), num(o.avg_price), str(o.perm_id),
            "0", num(o.last_fill_price), str(o.client_id), "", "0")


def _order_head(o: OrderView) -> Fields:
    return (o.action, num(o.quantity), "LMT", num(o.limit_price), "0", o.tif, "", o.account, "O", "0", o.order_ref)


def _fa(version: int) -> Fields:
    return ("", "", "", "") if version < 177 else ("", "", "")


def open_order(version: int, c: ContractInfo, o: OrderView) -> Fields:
    """5: the ~150-field layout of decoder.openOrder for a plain LMT order (no legs, conditions or algos)."""
    fields: list[str] = ["5", str(o.order_id), *contract11(c), *_order_head(o), str(o.client_id), str(o.perm_id),
                         "0", "0", "0", "", ""]
    fields += _fa(version)
    fields += ["", "", "0", "", "", "0", "", "-1", "", "", "", "", "", "", "0", "0", "0", "0", "", "0", "0", "0",
               "0", "0", "0", "", "0", "", ""]                       # modelCode … deltaNeutralAuxPrice
    fields += ["0", "0", "", "", "", "", ""]                          # continuousUpdate … comboLegsDescrip
    fields += ["0", "0", "0"]                                         # combo legs, order combo legs, smart params
    fields += ["", "", ""]                                            # scale init/subs level, price increment
    fields += [""]                                                    # hedgeType
    fields += ["0", "", "", "0", "0"]                                 # optOutSmartRouting … dncPresent
    fields += [""]                                                    # algoStrategy
    margin = list(o.margin) if len(o.margin) == 9 else [""] * 9
    fee = "" if o.commission is None else num(o.commission)
    fields += ["0", "1" if o.what_if else "0", o.status, *margin, fee, fee, fee, CURRENCY if fee else "", "",
               "0", "0"]                                      # solicited … warningText, randomize size/price
    fields += ["0"]                                                   # conditions
    fields += ["", "", "", "", "", "", "", "0", "", "", "", "", "0", "0", "", "0"]
    fields += _since(version, 159, ["0"]) + _since(version, 160, [""]) + _since(version, 162, ["0"])
    fields += _since(version, 170, ["", "", "", "", ""])
    return tuple(fields)


def completed_order(version: int, c: ContractInfo, o: OrderView) -> Fields:
    """101: the layout of decoder.completedOrder (no orderId / clientId; permId and orderRef identify it)."""
    fields: list[str] = ["101", *contract11(c), *_order_head(o), str(o.perm_id), "0", "0", "0", ""]
    fields += _fa(version)                                            # faGroup/faMethod/faPercentage (+faProfile)
    fields += ["", "", "0", "", "", "0", "", "-1", "", "", "", "", "", "0", "0", "0", "", "0", "0", "", "0", "",
               ""]                                                    # modelCode … deltaNeutralAuxPrice
    fields += ["0", "0", "", "", ""]                                  # continuousUpdate … comboLegsDescrip
    fields += ["0", "0", "0"]
    fields += ["", "", ""]
    fields += [""]                                                    # hedgeType
    fields += ["", "", "0", "0"]                                      # clearingAccount … dncPresent
    fields += [""]                                                    # algoStrategy
    fields += ["0", o.status, "0", "0"]                               # solicited, status, randomize size/price
    fields += ["0"]                                                   # conditions
    fields += ["", "", "", "0", "0", "", num(o.filled), "0", "0", "", "0", "0", "0", o.completed_time,
               o.completed_status]
    fields += _since(version, 170, ["", "", "", "", ""])
    return tuple(fields)


def _since(version: int, first: int, fields: list[str]) -> list[str]:
    return fields if version >= first else []


def open_order_end() -> Fields:
    """53."""
    return ("53", "1")


def completed_orders_end() -> Fields:
    """102 (no version)."""
    return ("102",)


def exec_details(version: int, req_id: int, c: ContractInfo, e: ExecView) -> Fields:
    """11: reqId -1 for a live fill, the request id when answering reqExecutions."""
    fields = ("11", str(req_id), str(e.order_id), *contract11(c), e.exec_id, e.time, e.account, PRIMARY_EXCHANGE,
              e.side, num(e.shares), num(e.price), str(e.perm_id), str(e.client_id), "0", num(e.cum_qty),
              num(e.avg_price), e.order_ref, "", "", "", str(e.liquidity))
    return (*fields, "0") if version >= 178 else fields


def exec_details_end(req_id: int) -> Fields:
    """55."""
    return ("55", "1", str(req_id))


def commission_report(e: ExecView) -> Fields:
    """59: commission of one execution (realized P&L and yield unset, as TWS sends them)."""
    return ("59", "1", e.exec_id, num(e.commission), CURRENCY, UNSET_DOUBLE, UNSET_DOUBLE, "")


# ---------------------------------------------------------------------------- client -> server


class Cursor:
    """Reads one request's fields in order; any shortfall or bad number is a RequestError (error 320)."""

    def __init__(self, fields: Fields, start: int = 1, req_id: int = -1) -> None:
        self.fields = fields
        self.i = start
        self.req_id = req_id

    def text(self) -> str:
        """The next field as it is."""
        if self.i >= len(self.fields):
            raise RequestError(self.req_id, 320, f"Error reading request: message {self.fields[0]!r} is too short "
                                                 f"({len(self.fields)} fields)")
        value = self.fields[self.i]
        self.i += 1
        return value

    def integer(self, default: int = 0) -> int:
        """The next field as an int (empty = default)."""
        raw = self.text()
        try:
            return int(raw) if raw.strip() else default
        except ValueError:
            try:
                as_float = float(raw)
            except ValueError:
                raise RequestError(self.req_id, 320, f"Error reading request: {raw!r} is not an integer") from None
            if not as_float.is_integer():
                raise RequestError(self.req_id, 320, f"Error reading request: {raw!r} is not an integer") from None
            return int(as_float)

    def decimal(self) -> Decimal | None:
        """The next field as a Decimal (empty = None)."""
        raw = self.text().strip()
        if not raw:
            return None
        try:
            value = Decimal(raw)
        except InvalidOperation:
            raise RequestError(self.req_id, 320, f"Error reading request: {raw!r} is not a number") from None
        if not value.is_finite():
            raise RequestError(self.req_id, 320, f"Error reading request: {raw!r} is not a finite number")
        return value

    def skip(self, n: int) -> None:
        """Skip `n` fields (they must exist)."""
        for _ in range(n):
            self.text()

    def contract(self) -> ContractQuery:
        """The 12 contract fields every request sends."""
        con_id = self.integer()
        symbol = self.text().strip().upper()
        sec_type = self.text().strip().upper()
        self.skip(4)                                   # lastTradeDate, strike, right, multiplier
        exchange = self.text()
        self.skip(1)                                   # primaryExchange
        currency = self.text()
        self.skip(2)                                   # localSymbol, tradingClass
        return ContractQuery(con_id, symbol, sec_type, exchange, currency)


def msg_id(fields: Fields) -> int:
    """The message id of a request; RequestError when it is not a number."""
    try:
        return int(fields[0])
    except (IndexError, ValueError):
        head = fields[0] if fields else ""
        raise RequestError(-1, 320, f"Error reading request: message id {head[:20]!r} is not a number") from None


def parse_place(fields: Fields, version: int = 176) -> PlaceRequest:
    """placeOrder (3, no version): orderId, contract, secIdType, secId, action, qty, type, lmt, aux, tif, …"""
    order_id = Cursor(fields).integer()
    cur = Cursor(fields, 2, order_id)
    contract = cur.contract()
    cur.skip(2)                                        # secIdType, secId
    action = cur.text().strip().upper()
    quantity = cur.decimal()
    order_type = cur.text().strip().upper()
    limit = cur.decimal()
    cur.skip(1)                                        # auxPrice
    tif = cur.text().strip().upper()
    cur.skip(1)                                        # ocaGroup
    account = cur.text()
    cur.skip(2)                                        # openClose, origin
    order_ref = cur.text()
    try:
        what_if = _what_if(cur, contract.sec_type, version)
    except RequestError:
        what_if = False                                # a truncated tail: a plain order from a minimal client
    return PlaceRequest(order_id, contract, action, quantity if quantity is not None else Decimal(0), order_type,
                        limit, tif, account, order_ref, what_if)


def _what_if(cur: Cursor, sec_type: str, version: int) -> bool:
    """Walk the rest of placeOrder (client.placeOrder's layout) to its whatIf flag."""
    cur.skip(8)                                        # transmit … hidden
    if sec_type == "BAG":
        cur.skip(8 * cur.integer())
        cur.skip(cur.integer())
        cur.skip(2 * cur.integer())
    cur.skip(7 if version >= 177 else 8)               # sharesAllocation … faPercentage (+ faProfile)
    cur.skip(22)                                       # modelCode … volatilityType
    if cur.text():                                     # deltaNeutralOrderType
        cur.skip(1 + 8)
    else:
        cur.skip(1)
    cur.skip(6)                                        # continuousUpdate … scaleSubsLevelSize
    increment = cur.decimal()
    if increment is not None and 0 < increment < Decimal(UNSET_DOUBLE):
        cur.skip(7)
    cur.skip(3)                                        # scaleTable, activeStartTime, activeStopTime
    if cur.text():                                     # hedgeType
        cur.skip(1)
    cur.skip(4)                                        # optOutSmartRouting … notHeld
    if cur.integer():                                  # deltaNeutralContract
        cur.skip(3)
    if cur.text():                                     # algoStrategy
        cur.skip(2 * cur.integer())
    cur.skip(1)                                        # algoId
    return cur.integer() == 1


@dataclass(frozen=True, slots=True)
class MktDataRequest:
    """reqMktData: which contract, and whether it is a one-shot snapshot."""

    req_id: int
    contract: ContractQuery
    snapshot: bool


def parse_mkt_data(fields: Fields) -> MktDataRequest:
    """reqMktData (1, version 11): reqId, contract, [BAG legs], dnc flag [+3], genericTicks, snapshot, …"""
    req_id = Cursor(fields, 2).integer()
    cur = Cursor(fields, 3, req_id)
    contract = cur.contract()
    if contract.sec_type == "BAG":
        cur.skip(4 * cur.integer())
    if cur.integer():
        cur.skip(3)
    cur.skip(1)                                        # genericTickList
    snapshot = cur.integer() == 1
    return MktDataRequest(req_id, contract, snapshot)


@dataclass(frozen=True, slots=True)
class ExecFilter:
    """reqExecutions' filter (empty / 0 fields match everything)."""

    req_id: int
    client_id: int
    account: str
    time: str
    symbol: str
    sec_type: str
    side: str


def parse_exec_filter(fields: Fields) -> ExecFilter:
    """reqExecutions (7, version 3): reqId, clientId, acct, time, symbol, secType, exchange, side."""
    cur = Cursor(fields, 2)
    req_id = cur.integer()
    cur.req_id = req_id
    client_id = cur.integer()
    account, time, symbol, sec_type = cur.text(), cur.text(), cur.text().upper(), cur.text().upper()
    cur.skip(1)
    side = cur.text().upper()
    return ExecFilter(req_id, client_id, account, time, symbol, sec_type, side)
