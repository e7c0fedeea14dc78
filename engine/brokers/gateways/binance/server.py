"""A Binance spot REST server on 127.0.0.1 over the simulated venue: signed endpoints, clock checks, scripted faults.

Standard library only (ThreadingHTTPServer). Point python-binance at it with `client.API_URL = gateway.api_url`.
Signatures are HMAC-SHA256 over the exact bytes sent (query string, then form body), as Binance documents.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import itertools
import json
import socket
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Literal
from urllib.parse import parse_qsl, urlsplit

from engine.brokers.gateways.binance.exchange import ApiError, ExchangeRules, SimBinanceExchange
from engine.brokers.sim.venue import Clock

LOOPBACK = "127.0.0.1"
DEFAULT_API_KEY = "nanobook-gateway-key"
DEFAULT_API_SECRET = "nanobook-gateway-secret"  # a public test credential of the fake
MAX_RECV_WINDOW_MS = 60_000
SERVER_HEADER = "nanobook-binance-gateway"      # a fake must never pass for the real venue

FaultKind = Literal["error", "error_after_booking", "drop_after_booking", "drop_before", "delay"]


@dataclass(frozen=True, slots=True)
class Fault:
    """One scripted failure for the next request matching `method` and `path` (None matches any).

    kind: "error" answers `status`/`code` without doing anything; "error_after_booking" performs the request
    first (e.g. books the order) and then answers the error (503/-1007 "execution status unknown");
    "drop_after_booking" performs it and closes the socket without an answer; "drop_before" closes without doing it;
    "delay" performs it and answers normally after `delay_s` (longer than the client's timeout: a timed-out order).
    """

    kind: FaultKind = "error"
    status: int = 500
    code: int = -1000
    msg: str = "An unknown error occurred while processing the request."
    retry_after: int | None = None
    method: str | None = None
    path: str | None = None
    delay_s: float = 0.0

    def matches(self, method: str, path: str) -> bool:
        """Whether this fault applies to a request."""
        return (self.method is None or self.method == method) and (self.path is None or self.path == path)

    # Convenience constructors for the scenarios of research/brokers.md §4.2.
    @classmethod
    def rate_limited(cls, retry_after: int = 1, method: str | None = None, path: str | None = None) -> Fault:
        """429 / -1003 with Retry-After."""
        return cls("error", 429, -1003, "Too much request weight used; please use WebSocket Streams.",
                   retry_after, method=method, path=path)

    @classmethod
    def banned(cls, retry_after: int = 1, method: str | None = None, path: str | None = None) -> Fault:
        """418: the IP is auto-banned for repeatedly ignoring 429s."""
        return cls("error", 418, -1003, "Way too much request weight used; IP banned.",
                   retry_after, method=method, path=path)

    @classmethod
    def server_error(cls, method: str | None = None, path: str | None = None) -> Fault:
        """500 / -1000 before anything happened."""
        return cls("error", 500, -1000, "An unknown error occurred while processing the request.", None,
                   method=method, path=path)

    @classmethod
    def unavailable(cls, method: str | None = None, path: str | None = None) -> Fault:
        """503 / -1007 before anything happened."""
        return cls("error", 503, -1007, "Timeout waiting for response from backend server. Send status unknown; "
                                        "execution status unknown.", None, method=method, path=path)

    @classmethod
    def unknown_after_booking(cls, method: str | None = None, path: str | None = None) -> Fault:
        """503 / -1007 after the order was booked."""
        return cls("error_after_booking", 503, -1007, "Timeout waiting for response from backend server. Send "
                                                      "status unknown; execution status unknown.", None,
                   method=method, path=path)

    @classmethod
    def dropped_after_booking(cls, method: str | None = None, path: str | None = None) -> Fault:
        """Booked, then the connection closes before the answer."""
        return cls("drop_after_booking", method=method, path=path)

    @classmethod
    def dropped(cls, method: str | None = None, path: str | None = None) -> Fault:
        """The connection closes before anything happened."""
        return cls("drop_before", method=method, path=path)

    @classmethod
    def slow(cls, delay_s: float, method: str | None = None, path: str | None = None) -> Fault:
        """Performs the request, then answers only after `delay_s` (the client times out first)."""
        return cls("delay", 200, 0, "", None, method=method, path=path, delay_s=delay_s)

    @classmethod
    def api(cls, code: int, msg: str, status: int = 400, method: str | None = None, path: str | None = None) -> Fault:
        """Any Binance error answered up front (-1013 filter failure, -2010, -2011, -2013 ...)."""
        return cls("error", status, code, msg, None, method=method, path=path)


@dataclass
class RequestRecord:
    """What the gateway saw: for assertions such as "the order was looked up before any retry"."""

    method: str
    path: str
    params: dict[str, str]
    status: int        # 0: the connection was dropped without an answer
    seq: int = 0       # arrival order (a delayed answer is logged late but sorts where it arrived)


@dataclass
class GatewayState:
    """Mutable knobs shared with the handler threads."""

    api_key: str
    api_secret: str
    clock_offset_ms: int = 0
    faults: deque[Fault] = field(default_factory=deque)
    log: list[RequestRecord] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)
    arrivals: itertools.count[int] = field(default_factory=lambda: itertools.count(1))

    def take_fault(self, method: str, path: str) -> Fault | None:
        """Consume the first queued fault that matches this request."""
        with self.lock:
            for i, fault in enumerate(self.faults):
                if fault.matches(method, path):
                    del self.faults[i]
                    return fault
        return None


_PUBLIC = {("GET", "/api/v3/ping"), ("GET", "/api/v3/time"), ("GET", "/api/v3/exchangeInfo"),
           ("GET", "/api/v3/ticker/bookTicker")}
_SIGNED = {("GET", "/api/v3/account"), ("POST", "/api/v3/order"), ("GET", "/api/v3/order"),
           ("DELETE", "/api/v3/order"), ("GET", "/api/v3/openOrders"), ("GET", "/api/v3/myTrades")}


class BinanceGateway:
    """The server. `start()` binds 127.0.0.1:`port` (0 = any free port); `api_url` is what python-binance needs."""

    def __init__(self, root: Path, *, port: int = 0, host: str = LOOPBACK, api_key: str = DEFAULT_API_KEY,
                 api_secret: str = DEFAULT_API_SECRET, clock: Clock | None = None,
                 rules: ExchangeRules | None = None) -> None:
        if host != LOOPBACK:
            raise ValueError(f"the Binance gateway binds {LOOPBACK} only, not {host!r}")
        self.exchange = SimBinanceExchange(Path(root), clock, rules or ExchangeRules())
        self.state = GatewayState(api_key=api_key, api_secret=api_secret)
        self._server = ThreadingHTTPServer((LOOPBACK, port), _handler_for(self))
        self._server.daemon_threads = True
        self._thread: threading.Thread | None = None

    @property
    def port(self) -> int:
        """The bound port."""
        return int(self._server.server_address[1])

    @property
    def api_url(self) -> str:
        """The value for python-binance's `Client.API_URL`."""
        return f"http://{LOOPBACK}:{self.port}/api"

    def start(self) -> BinanceGateway:
        """Serve in a daemon thread."""
        self.exchange.venue.ensure()
        self._thread = threading.Thread(target=self._server.serve_forever, args=(0.05,), name="binance-gateway",
                                        daemon=True)
        self._thread.start()
        return self

    def serve_forever(self) -> None:
        """Serve in this thread until interrupted (the CLI command; then call `stop_serving`)."""
        self.exchange.venue.ensure()
        self._server.serve_forever(poll_interval=0.2)

    def stop(self) -> None:
        """Stop the background thread started by `start()`, then `stop_serving()`."""
        self._server.shutdown()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self.stop_serving()

    def stop_serving(self) -> None:
        """Close the socket and the venue (after `serve_forever` returned)."""
        self._server.server_close()
        self.exchange.close()

    def __enter__(self) -> BinanceGateway:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def inject(self, *faults: Fault) -> None:
        """Queue faults; each applies once, to the first matching request."""
        with self.state.lock:
            self.state.faults.extend(faults)

    def server_ms(self) -> int:
        """The gateway's clock in epoch ms (wall clock plus the scripted skew)."""
        return int(time.time() * 1000) + self.state.clock_offset_ms

    def requests(self, method: str | None = None, path: str | None = None) -> list[RequestRecord]:
        """The request log, optionally narrowed."""
        with self.state.lock:
            return sorted((r for r in self.state.log if (method is None or r.method == method)
                           and (path is None or r.path == path)), key=lambda r: r.seq)

    # ------------------------------------------------------------------ dispatch

    def handle(self, method: str, path: str, query: str, body: str, headers: dict[str, str]
               ) -> tuple[int, Any, dict[str, str]]:
        """Answer one request: (status, JSON body, extra headers). Never raises for a client mistake."""
        params = dict(parse_qsl(query, keep_blank_values=True))
        params.update(parse_qsl(body, keep_blank_values=True))
        key = (method, path)
        try:
            if key not in _PUBLIC and key not in _SIGNED:
                raise ApiError(404, -1000, f"no such endpoint: {method} {path}")
            if key in _SIGNED:
                self._authenticate(query, body, params, headers)
            now = self.server_ms()
            with self.exchange.lock:
                result = self._dispatch(method, path, params, now)
            return 200, result, {}
        except ApiError as e:
            return e.status, {"code": e.code, "msg": e.msg}, {}

    def _authenticate(self, query: str, body: str, params: dict[str, str], headers: dict[str, str]) -> None:
        if headers.get("x-mbx-apikey") != self.state.api_key:
            raise ApiError(401, -2014, "API-key format invalid.")
        # totalParams = query string followed by the body, as sent; the signature is the last `signature=` pair.
        total = "&".join(p for p in (query, body) if p)
        pairs = total.split("&")
        sent = [p.partition("=")[2] for p in pairs if p.startswith("signature=")]
        payload = "&".join(p for p in pairs if not p.startswith("signature="))
        expected = hmac.new(self.state.api_secret.encode(), payload.encode(), hashlib.sha256).hexdigest()
        if len(sent) != 1 or not hmac.compare_digest(sent[0], expected):
            raise ApiError(400, -1022, "Signature for this request is not valid.")
        try:
            ts = int(params["timestamp"])
            window = int(params.get("recvWindow", "5000"))
        except (KeyError, ValueError):
            raise ApiError(400, -1102, "Mandatory parameter 'timestamp' was not sent, was empty/null, "
                                       "or malformed.") from None
        if window > MAX_RECV_WINDOW_MS:
            raise ApiError(400, -1131, "recvWindow must be less than 60000")
        now = self.server_ms()
        if not (ts < now + 1000 and now - ts <= window):
            raise ApiError(400, -1021, "Timestamp for this request is outside of the recvWindow.")

    def _dispatch(self, method: str, path: str, params: dict[str, str], now: int) -> Any:
        ex = self.exchange
        match (method, path):
            case ("GET", "/api/v3/ping"):
                return {}
            case ("GET", "/api/v3/time"):
                return {"serverTime": now}
            case ("GET", "/api/v3/exchangeInfo"):
                return ex.exchange_info(now, params)
            case ("GET", "/api/v3/ticker/bookTicker"):
                return ex.book_ticker(params)
            case ("GET", "/api/v3/account"):
                return ex.account(now)
            case ("POST", "/api/v3/order"):
                return ex.place(params, now)
            case ("GET", "/api/v3/order"):
                return ex.order_json(ex.find(params), now)
            case ("DELETE", "/api/v3/order"):
                return ex.cancel(params, now)
            case ("GET", "/api/v3/openOrders"):
                return ex.open_orders(params, now)
            case ("GET", "/api/v3/myTrades"):
                return ex.my_trades(params)
        raise ApiError(404, -1000, f"no such endpoint: {method} {path}")


class _Handler(BaseHTTPRequestHandler):
    gateway: BinanceGateway
    _seq: int = 0
    protocol_version = "HTTP/1.1"
    server_version = SERVER_HEADER

    def log_message(self, format: str, *args: Any) -> None:
        # Silent: request lines carry signatures and the test output has no use for them.
        return

    def _serve(self, method: str) -> None:
        split = urlsplit(self.path)
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length).decode() if length else ""
        headers = {k.lower(): v for k, v in self.headers.items()}
        gw = self.gateway
        with gw.state.lock:
            self._seq = next(gw.state.arrivals)
        fault = gw.state.take_fault(method, split.path)
        extra: dict[str, str] = {}
        if fault is not None and fault.kind == "drop_before":
            self._drop(method, split.path, split.query, body)
            return
        if fault is not None and fault.kind == "error":
            status, payload = fault.status, {"code": fault.code, "msg": fault.msg}
        else:
            status, payload, extra = gw.handle(method, split.path, split.query, body, headers)
            if fault is not None and fault.kind == "delay":
                time.sleep(fault.delay_s)  # outside the exchange lock: the client's lookup is served meanwhile
            elif fault is not None and status == 200:
                if fault.kind == "drop_after_booking":
                    self._drop(method, split.path, split.query, body)
                    return
                status, payload = fault.status, {"code": fault.code, "msg": fault.msg}
        if fault is not None and fault.retry_after is not None:
            extra["Retry-After"] = str(fault.retry_after)
        self._record(method, split.path, split.query, body, status)
        data = json.dumps(payload).encode()
        # A client that timed out has gone: writing to it fails, which is exactly the scenario, not a server error.
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):
            self.send_response(status)
            self.send_header("Content-Type", "application/json;charset=UTF-8")
            self.send_header("Content-Length", str(len(data)))
            self.send_header("X-MBX-USED-WEIGHT-1M", "1")
            for k, v in extra.items():
                self.send_header(k, v)
            self.end_headers()
            self.wfile.write(data)

    def _record(self, method: str, path: str, query: str, body: str, status: int) -> None:
        params = dict(parse_qsl(query, keep_blank_values=True))
        params.update(parse_qsl(body, keep_blank_values=True))
        params.pop("signature", None)
        with self.gateway.state.lock:
            self.gateway.state.log.append(RequestRecord(method, path, params, status, self._seq))

    def _drop(self, method: str, path: str, query: str, body: str) -> None:
        self._record(method, path, query, body, 0)
        self.close_connection = True
        # Close without an answer: the client sees a connection error, the one outcome it cannot interpret.
        with contextlib.suppress(OSError):
            self.connection.shutdown(socket.SHUT_RDWR)

    def do_GET(self) -> None:
        """GET endpoints."""
        self._serve("GET")

    def do_POST(self) -> None:
        """POST endpoints."""
        self._serve("POST")

    def do_DELETE(self) -> None:
        """DELETE endpoints."""
        self._serve("DELETE")


def _handler_for(gateway: BinanceGateway) -> type[_Handler]:
    return type("BoundHandler", (_Handler,), {"gateway": gateway})
