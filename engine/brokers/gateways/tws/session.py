"""One client connection: the `API<NUL>` handshake, startApi, then request dispatch until the socket closes.

Every request is handled under the gateway lock, so replies and pushed order events never interleave. A malformed
request is answered with an error (320/321) and the connection keeps going; only unframeable bytes close it.
"""

from __future__ import annotations

import contextlib
import logging
import socket
import struct
import threading
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from decimal import Decimal
from typing import TYPE_CHECKING

from engine.brokers.gateways.tws import codec
from engine.brokers.gateways.tws import messages as m
from engine.brokers.gateways.tws.codec import Fields, FrameError, FrameReader
from engine.errors import NanobookError

if TYPE_CHECKING:
    from engine.brokers.gateways.tws.server import TwsGateway

log = logging.getLogger(__name__)
RECV_TIMEOUT_S = 0.5
FARM_NOTICES = ((2104, "Market data farm connection is OK:usfarm"),
                (2106, "HMDS data farm connection is OK:ushmds"),
                (2158, "Sec-def data farm connection is OK:secdefnj"))
PACED = frozenset({m.REQ_MKT_DATA, m.PLACE_ORDER, m.CANCEL_ORDER, m.REQ_CONTRACT_DETAILS, m.REQ_CURRENT_TIME,
                   m.REQ_ACCOUNT_SUMMARY})
SILENT = frozenset({m.REQ_AUTO_OPEN_ORDERS, m.REQ_MARKET_DATA_TYPE, m.CANCEL_ACCOUNT_SUMMARY,
                    m.CANCEL_ACCOUNT_UPDATES_MULTI})
LIVE_TICKS = (1, 2, 4, 9)          # bid, ask, last, close
DELAYED_TICKS = (66, 67, 68, 75)
Top = tuple[Decimal | None, Decimal, Decimal | None, Decimal, Decimal | None]   # bid, size, ask, size, last


@dataclass(frozen=True, slots=True)
class Stream:
    """A streaming market-data subscription and the top of book last sent for it."""

    symbol: str
    types: tuple[int, ...]
    top: Top


class Session:
    """A connected client. `client_id` is known after startApi; `subscribed` holds "positions" / "account"."""

    def __init__(self, gateway: TwsGateway, sock: socket.socket) -> None:
        self.gw = gateway
        self.sock = sock
        self.client_id = -1
        self.version = codec.MAX_SERVER_VERSION
        self.ready = False
        self.closed = False
        self.subscribed: set[str] = set()
        self.streams: dict[int, Stream] = {}
        self._reader = FrameReader()
        self._queue: deque[Fields] = deque()
        self._send_lock = threading.Lock()
        self._handlers: dict[int, Callable[[Fields], None]] = {
            m.REQ_MKT_DATA: self._mkt_data, m.PLACE_ORDER: self._place, m.CANCEL_ORDER: self._cancel,
            m.REQ_OPEN_ORDERS: self._open_orders, m.REQ_ALL_OPEN_ORDERS: self._all_open_orders,
            m.REQ_ACCOUNT_UPDATES: self._account_updates, m.REQ_EXECUTIONS: self._executions,
            m.REQ_IDS: self._ids, m.REQ_CONTRACT_DETAILS: self._contract_details,
            m.REQ_MANAGED_ACCTS: self._managed, m.REQ_CURRENT_TIME: self._current_time,
            m.REQ_GLOBAL_CANCEL: self._global_cancel, m.REQ_POSITIONS: self._positions,
            m.CANCEL_POSITIONS: self._cancel_positions, m.REQ_ACCOUNT_SUMMARY: self._account_summary,
            m.REQ_ACCOUNT_UPDATES_MULTI: self._account_multi, m.REQ_COMPLETED_ORDERS: self._completed,
            m.CANCEL_MKT_DATA: self._cancel_mkt_data,
        }

    # ------------------------------------------------------------------ socket plumbing

    def start(self) -> None:
        """Serve this connection in a daemon thread."""
        threading.Thread(target=self.run, name=f"tws-session-{self.sock.fileno()}", daemon=True).start()

    def run(self) -> None:
        """Handshake, then requests until the peer goes away or the gateway drops it."""
        try:
            self.sock.settimeout(RECV_TIMEOUT_S)
            if self._handshake():
                for fields in self._frames():
                    self._handle(fields)
        except (FrameError, OSError, m.RequestError) as exc:
            log.info("TWS gateway: closing connection (%s)", exc)
        except Exception:  # a bug must cost one connection, never the server
            log.exception("TWS gateway: session failed")
        finally:
            self.close()
            self.gw.forget(self)

    def _frames(self) -> Iterator[Fields]:
        while (fields := self._next_frame()) is not None:
            yield fields

    def _recv(self) -> bytes:
        """Bytes from the socket (b'' at EOF); waits in short slices so a stopped gateway is noticed."""
        while not self.closed and not self.gw.stopping:
            try:
                return self.sock.recv(65536)
            except TimeoutError:
                continue
        return b""

    def _next_frame(self) -> Fields | None:
        while not self._queue:
            self._queue.extend(self._reader.frames())
            if self._queue:
                break
            data = self._recv()
            if not data:
                return None
            self._reader.feed(data)
        return self._queue.popleft()

    def send(self, fields: Fields) -> None:
        """Frame and send one message (recorded in the transcript); a dead socket closes the session."""
        if self.closed:
            return
        self.gw.record("out", fields)
        data = codec.encode_fields(fields)
        with self._send_lock:
            try:
                self.sock.sendall(data)
            except OSError:
                self.close()

    def error(self, req_id: int, code: int, text: str) -> None:
        """Send error `code` for `req_id` (-1: not about a request)."""
        self.send(m.error(self.version, req_id, code, text))

    def abort(self) -> None:
        """Reset the connection (RST, as when TWS dies); the reader thread notices and cleans up."""
        if self.closed:
            return
        with contextlib.suppress(OSError):
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        self.close()

    def close(self) -> None:
        """Close the socket (idempotent)."""
        if self.closed:
            return
        self.closed = True
        with contextlib.suppress(OSError):
            self.sock.shutdown(socket.SHUT_RDWR)
        with contextlib.suppress(OSError):
            self.sock.close()

    # ------------------------------------------------------------------ handshake

    def _handshake(self) -> bool:
        prefix = self._raw(len(codec.API_PREFIX))
        if prefix != codec.API_PREFIX:
            log.info("TWS gateway: not an API client (prefix %r); closing", prefix)
            return False
        first = self._next_frame()
        if first is None:
            return False
        self.gw.record("in", first)
        self.version = codec.negotiate(*codec.parse_version_range(first))
        self.send(m.handshake(self.version, self.gw.time_text()))
        start = self._next_frame()
        if start is None:
            return False
        self.gw.record("in", start)
        if m.msg_id(start) != m.START_API:
            log.info("TWS gateway: expected startApi, got %r; closing", start[:1])
            return False
        self.client_id = m.Cursor(start, 2).integer()
        if not self.gw.register(self):
            self.error(-1, 326, f"Unable to connect as the client id {self.client_id} is already in use. "
                                f"Retry with a unique client id.")
            return False
        self._greet()
        return True

    def _raw(self, n: int) -> bytes:
        while self._reader.pending() < n:
            data = self._recv()
            if not data:
                return b""
            self._reader.feed(data)
        return self._reader.take_raw(n) or b""

    def _greet(self) -> None:
        with self.gw.lock:
            self.send(m.managed_accounts(self.gw.account))
            self.send(m.next_valid_id(self.gw.state.next_order_id()))
            for code, text in FARM_NOTICES:
                self.error(-1, code, text)
            self.ready = True
            self.gw.on_ready(self)

    # ------------------------------------------------------------------ dispatch

    def _handle(self, fields: Fields) -> None:
        with self.gw.lock:
            self.gw.record("in", fields)
            try:
                self._dispatch(fields)
            except m.RequestError as exc:
                self.error(exc.req_id, exc.code, exc.text)
            except NanobookError as exc:
                self.error(_req_id_of(fields), 321, f"Error validating request: {exc}")
            except Exception as exc:  # answer, log, keep serving
                log.exception("TWS gateway: request %r failed", fields[:3])
                self.error(_req_id_of(fields), 321, f"Error validating request: internal gateway error "
                                                    f"({type(exc).__name__})")

    def _dispatch(self, fields: Fields) -> None:
        msg = m.msg_id(fields)
        if msg in PACED and self.gw.faults.take("pacing") is not None:
            self.error(_req_id_of(fields), 100, "Max rate of messages per second has been exceeded:max=50 rec=51")
            return
        handler = self._handlers.get(msg)
        if handler is not None:
            handler(fields)
        elif msg == m.START_API:
            self.error(-1, 321, "Error validating request:-'startApi' : cause - the API is already started")
        elif msg not in SILENT:
            self.error(-1, 321, f"Error validating request:-'msg {msg}' : cause - not supported by the nanobook "
                                f"TWS gateway")

    # ------------------------------------------------------------------ handlers

    def _mkt_data(self, fields: Fields) -> None:
        req = m.parse_mkt_data(fields)
        info = self.gw.desk.resolve(req.contract, req.req_id)
        quote, bid_size, ask_size = self.gw.desk.quote(info.symbol)
        take = self.gw.faults.take
        delayed, frozen, halted = take("delayed_quotes"), take("frozen_quotes"), take("halted")
        stale, no_end = take("stale_quotes"), take("no_snapshot_end")
        self.send(m.market_data_type(req.req_id, 3 if delayed else 2 if frozen else 1))
        types = DELAYED_TICKS if delayed else LIVE_TICKS
        self._send_ticks(req.req_id, types, (quote.bid, bid_size, quote.ask, ask_size, quote.last), None)
        if quote.last is not None:
            self.send(m.tick_price(req.req_id, types[3], quote.last, Decimal(0)))
        age = stale.seconds if stale is not None else 0.0
        self.send(m.tick_string(req.req_id, 88 if delayed else 45, str(int(quote.ts.timestamp() - age))))
        if halted is not None:
            self.send(m.tick_generic(req.req_id, 49, 1))
        if req.snapshot:
            if no_end is None:
                self.send(m.tick_snapshot_end(req.req_id))
        else:
            self.streams[req.req_id] = Stream(info.symbol, types, (quote.bid, bid_size, quote.ask, ask_size,
                                                                   quote.last))

    def _send_ticks(self, req_id: int, types: tuple[int, ...], top: Top, before: Top | None) -> None:
        """Bid, ask and last ticks of `top` (only those that changed since `before`)."""
        bid, bid_size, ask, ask_size, last = top
        if bid is not None and (before is None or before[:2] != top[:2]):
            self.send(m.tick_price(req_id, types[0], bid, bid_size))
        if ask is not None and (before is None or before[2:4] != top[2:4]):
            self.send(m.tick_price(req_id, types[1], ask, ask_size))
        if last is not None and (before is None or before[4] != last):
            self.send(m.tick_price(req_id, types[2], last, Decimal(0)))

    def push_quotes(self) -> None:
        """Streaming subscriptions: send the ticks that changed since the last push (called by the poll loop)."""
        for req_id, stream in list(self.streams.items()):
            quote, bid_size, ask_size = self.gw.desk.quote(stream.symbol)
            top: Top = (quote.bid, bid_size, quote.ask, ask_size, quote.last)
            if top != stream.top:
                self._send_ticks(req_id, stream.types, top, stream.top)
                self.streams[req_id] = Stream(stream.symbol, stream.types, top)

    def _cancel_mkt_data(self, fields: Fields) -> None:
        self.streams.pop(m.Cursor(fields, 2).integer(), None)

    def _place(self, fields: Fields) -> None:
        self.gw.place(self, m.parse_place(fields, self.version))

    def _cancel(self, fields: Fields) -> None:
        self.gw.cancel(self, m.Cursor(fields, 2).integer())

    def _open_orders(self, fields: Fields) -> None:
        self._send_open_orders(all_clients=self.client_id == 0)

    def _all_open_orders(self, fields: Fields) -> None:
        self._send_open_orders(all_clients=True)

    def _send_open_orders(self, *, all_clients: bool) -> None:
        self.gw.deliver(self.gw.desk.sync())
        for order in self.gw.desk.state.orders(working=True):
            if all_clients or order.client_id == self.client_id:
                for out in self.gw.desk.open_order_msgs(order):
                    self.send(out.make(self.version))
        self.send(m.open_order_end())

    def _completed(self, fields: Fields) -> None:
        self.gw.deliver(self.gw.desk.sync())
        desk = self.gw.desk
        for order in desk.state.orders(working=False):
            info = desk.contract(order.symbol)
            self.send(m.completed_order(self.version, info, desk.view(order)))
        self.send(m.completed_orders_end())

    def _executions(self, fields: Fields) -> None:
        f = m.parse_exec_filter(fields)
        self.gw.deliver(self.gw.desk.sync())
        for pair in self.gw.desk.executions(f):
            self.send(m.exec_details(self.version, f.req_id, pair.contract, pair.view))
            self.send(m.commission_report(pair.view))
        self.send(m.exec_details_end(f.req_id))

    def _ids(self, fields: Fields) -> None:
        self.send(m.next_valid_id(self.gw.state.next_order_id()))

    def _contract_details(self, fields: Fields) -> None:
        req_id = m.Cursor(fields, 2).integer()
        info = self.gw.desk.resolve(m.Cursor(fields, 3, req_id).contract(), req_id)
        self.send(m.contract_details(req_id, info))
        self.send(m.contract_details_end(req_id))

    def _managed(self, fields: Fields) -> None:
        self.send(m.managed_accounts(self.gw.account))

    def _current_time(self, fields: Fields) -> None:
        self.send(m.current_time(int(self.gw.now().timestamp())))

    def _global_cancel(self, fields: Fields) -> None:
        self.gw.deliver(self.gw.desk.global_cancel())

    def _positions(self, fields: Fields) -> None:
        self.subscribed.add("positions")
        for c, qty, cost, _mark in self.gw.desk.holdings():
            self.send(m.position(self.gw.account, c, qty, cost))
        self.send(m.position_end())

    def _cancel_positions(self, fields: Fields) -> None:
        self.subscribed.discard("positions")

    def _account_summary(self, fields: Fields) -> None:
        cur = m.Cursor(fields, 2)
        req_id = cur.integer()
        cur.req_id = req_id
        cur.skip(1)
        tags = {t.strip() for t in cur.text().split(",")}
        for tag, value, ccy in self.gw.desk.account_values():
            if tag in tags:
                self.send(m.account_summary(req_id, self.gw.account, tag, value, ccy))
        self.send(m.account_summary_end(req_id))

    def _account_updates(self, fields: Fields) -> None:
        if not m.Cursor(fields, 2).integer():
            self.subscribed.discard("account")
            return
        self.subscribed.add("account")
        acct = self.gw.account
        for key, value, ccy in self.gw.desk.account_values():
            self.send(m.account_value(key, value, ccy, acct))
        for c, qty, cost, mark in self.gw.desk.holdings():
            self.send(m.portfolio_value(c, qty, mark, cost, acct))
        self.send(m.account_time(self.gw.now().strftime("%H:%M")))
        self.send(m.account_download_end(acct))

    def _account_multi(self, fields: Fields) -> None:
        req_id = m.Cursor(fields, 2).integer()
        for key, value, ccy in self.gw.desk.account_values():
            self.send(m.account_update_multi(req_id, self.gw.account, key, value, ccy))
        self.send(m.account_update_multi_end(req_id))


def _req_id_of(fields: Fields) -> int:
    """The request / order id an error about this request should carry (-1 when it has none)."""
    try:
        msg = int(fields[0])
        if msg == m.PLACE_ORDER:
            return int(fields[1])
        if msg in (m.REQ_MKT_DATA, m.CANCEL_ORDER, m.REQ_CONTRACT_DETAILS, m.REQ_ACCOUNT_SUMMARY,
                   m.REQ_EXECUTIONS, m.REQ_ACCOUNT_UPDATES_MULTI):
            return int(fields[2])
    except (IndexError, ValueError):
        pass
    return -1
