"""`TwsGateway`: a TWS API server on 127.0.0.1 over the simulated venue, with scripted faults (stdlib only).

Sockets, sessions, the poll loop pushing venue fills made elsewhere, and where each fault fires. Modify is
cancel-replace under the same orderId/permId; reusing a finished order's orderId is error 103.
"""

from __future__ import annotations

import contextlib
import logging
import socket
import threading
import time
from dataclasses import replace
from datetime import datetime, timedelta
from pathlib import Path

from engine.brokers.gateways.tws import messages as m
from engine.brokers.gateways.tws.codec import Fields
from engine.brokers.gateways.tws.desk import OrderDesk, Out
from engine.brokers.gateways.tws.faults import SCENARIOS, FaultQueue, TwsFault
from engine.brokers.gateways.tws.session import Session
from engine.brokers.gateways.tws.state import TwsState
from engine.brokers.sim import SimVenue
from engine.brokers.sim.venue import Clock

log = logging.getLogger(__name__)
LOOPBACK = "127.0.0.1"
DEFAULT_ACCOUNT = "DUFAKE01"      # fake accounts start with DU (paper) and say FAKE: never mistaken for a real one
LOST = (1100, "Connectivity between IB and Trader Workstation has been lost.")
RESTORED = (1102, "Connectivity between IB and Trader Workstation has been restored - data maintained. All data "
                  "farms are connected: usfarm; ushmds; secdefnj.")


class TwsGateway:
    """The server. Binds at construction (port 0 = any free port; `port` tells which); `start()` serves."""

    def __init__(self, root: Path, *, port: int = 0, host: str = LOOPBACK, account: str = DEFAULT_ACCOUNT,
                 scenario: str | None = None, clock: Clock | None = None, poll_interval_s: float = 0.1) -> None:
        if host != LOOPBACK:
            raise ValueError(f"the TWS gateway is loopback only: it binds {LOOPBACK}, not {host!r}")
        if scenario is not None and scenario not in SCENARIOS:
            raise ValueError(f"unknown TWS scenario {scenario!r}; known: {', '.join(SCENARIOS)}")
        if not poll_interval_s > 0:
            raise ValueError(f"poll_interval_s must be positive, got {poll_interval_s}")
        self._listener = socket.create_server((LOOPBACK, port))   # first: a taken port fails before files open
        self._listener.settimeout(0.2)
        self.account = account
        self.poll_interval_s = poll_interval_s
        self.venue = SimVenue(Path(root), clock)
        try:
            self.state = TwsState(Path(root))
        except BaseException:
            self._listener.close()
            raise
        self.desk = OrderDesk(self.venue, self.state, account)
        self.lock = threading.RLock()
        self.faults = FaultQueue()
        self.transcript: list[tuple[str, Fields]] = []
        self.skew_s = 0.0
        self._sessions: list[Session] = []
        self._deferred: list[TwsFault] = []
        self._order_faults: dict[int, set[str]] = {}
        self._abort_after: dict[int, Session] = {}
        self._refuse_until = 0.0
        self._timers: list[threading.Timer] = []
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self._closed = False
        if scenario is not None:
            self.inject(*SCENARIOS[scenario])

    # ------------------------------------------------------------------ lifecycle

    @property
    def port(self) -> int:
        """The bound port."""
        return int(self._listener.getsockname()[1])

    @property
    def stopping(self) -> bool:
        """True once stop has begun (sessions and loops wind down)."""
        return self._stop.is_set()

    def _prepare(self) -> None:
        self.venue.ensure()
        with self.lock:
            self.desk.recover()

    def start(self) -> TwsGateway:
        """Serve in background threads; returns self."""
        self._prepare()
        for target, name in ((self._accept_loop, "tws-accept"), (self._poll_loop, "tws-poll")):
            thread = threading.Thread(target=target, name=name, daemon=True)
            thread.start()
            self._threads.append(thread)
        return self

    def serve_forever(self) -> None:
        """Serve in this thread until `stop_serving()` (or Ctrl-C, which propagates; then call `stop_serving`)."""
        self._prepare()
        poller = threading.Thread(target=self._poll_loop, name="tws-poll", daemon=True)
        poller.start()
        self._threads.append(poller)
        self._accept_loop()

    def stop_serving(self) -> None:
        """Stop accepting, drop every client, close the venue and the state (idempotent)."""
        self._stop.set()
        with contextlib.suppress(OSError):
            self._listener.close()
        for timer in self._timers:
            timer.cancel()
        self.drop_all()
        for thread in self._threads:
            if thread is not threading.current_thread():
                thread.join(timeout=5)
        with self.lock:
            if not self._closed:
                self._closed = True
                self.venue.close()
                self.state.close()

    def stop(self) -> None:
        """Stop the background threads started by `start()` and release everything."""
        self.stop_serving()

    def __enter__(self) -> TwsGateway:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _accept_loop(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _addr = self._listener.accept()
            except TimeoutError:
                continue
            except OSError:
                break
            session = Session(self, conn)
            if time.monotonic() < self._refuse_until:
                session.abort()            # TWS restarting: the port accepts and drops at once
                continue
            session.start()

    def _poll_loop(self) -> None:
        while not self._stop.wait(self.poll_interval_s):
            try:
                with self.lock:
                    if not self._closed:
                        self.deliver(self.desk.sync())
                        for session in list(self._sessions):
                            if session.streams and session.ready and not session.closed:
                                session.push_quotes()
            except Exception:  # a busy venue (another process writing) must not kill the loop
                log.exception("TWS gateway: poll failed")

    # ------------------------------------------------------------------ clock and transcript

    def now(self) -> datetime:
        """The gateway's clock: the injected clock plus any scripted skew."""
        return self.venue.now() + timedelta(seconds=self.skew_s)

    def time_text(self) -> str:
        """The handshake's connection time."""
        return self.now().strftime("%Y%m%d %H:%M:%S") + " UTC"

    def record(self, direction: str, fields: Fields) -> None:
        """Append to the transcript."""
        self.transcript.append((direction, tuple(fields)))

    # ------------------------------------------------------------------ sessions

    def register(self, session: Session) -> bool:
        """Admit a session after startApi; False when its clientId is taken (or a fault says so)."""
        with self.lock:
            if self.faults.take("duplicate_client_id") is not None:
                return False
            if any(s.client_id == session.client_id and not s.closed for s in self._sessions):
                return False
            self._sessions.append(session)
            return True

    def forget(self, session: Session) -> None:
        """Remove a closed session."""
        with self.lock:
            if session in self._sessions:
                self._sessions.remove(session)

    def on_ready(self, session: Session) -> None:
        """A session finished its handshake: fire connectivity faults that were waiting for a client."""
        deferred, self._deferred = self._deferred, []
        for fault in deferred:
            self._fire_connectivity(fault)

    def drop_all(self) -> None:
        """Abort every client socket (a TWS restart); orders and mappings are kept."""
        with self.lock:
            sessions = list(self._sessions)
        for session in sessions:
            session.abort()

    def session_for(self, client_id: int) -> Session | None:
        """The live, ready session of a client."""
        for session in self._sessions:
            if session.client_id == client_id and session.ready and not session.closed:
                return session
        return None

    # ------------------------------------------------------------------ faults

    def inject(self, *faults: TwsFault) -> None:
        """Queue faults; each fires once (or `count` times, 0 = always) on the next matching event."""
        for fault in faults:
            if fault.kind == "clock_skew":
                self.skew_s = fault.seconds
            elif fault.kind == "refuse_connections":
                self._refuse_until = time.monotonic() + fault.seconds
                self.drop_all()
            elif fault.kind in ("connectivity_lost", "connectivity_restored"):
                with self.lock:
                    if any(s.ready and not s.closed for s in self._sessions):
                        self._fire_connectivity(fault)
                    else:
                        self._deferred.append(fault)
            else:
                self.faults.add(fault)

    def _fire_connectivity(self, fault: TwsFault) -> None:
        code, text = LOST if fault.kind == "connectivity_lost" else RESTORED
        if fault.kind == "connectivity_restored" and fault.seconds > 0:
            timer = threading.Timer(fault.seconds, self._broadcast_error, (code, text))
            timer.daemon = True
            self._timers.append(timer)
            timer.start()
        else:
            self._broadcast_error(code, text)

    def _broadcast_error(self, code: int, text: str) -> None:
        with self.lock:
            for session in list(self._sessions):
                if session.ready:
                    session.error(-1, code, text)

    # ------------------------------------------------------------------ orders (called by sessions, under the lock)

    def place(self, session: Session, req: m.PlaceRequest) -> None:
        """placeOrder with the order faults applied."""
        if req.what_if:
            self.deliver(self.desk.what_if(session.client_id, req))
            return
        reject = self.faults.take("reject")
        if reject is not None:
            session.error(req.order_id, 201, f"Order rejected - reason:{reject.reason}")
            return
        is_new = self.state.by_client(session.client_id, req.order_id) is None
        outs, perm = self.desk.place(session.client_id, req)
        if self.faults.take("drop_after_place") is not None:
            session.abort()                # booked at the venue; the client never hears of it
            return
        if is_new:
            for kind in ("duplicate_status", "out_of_order_status"):
                if self.faults.take(kind) is not None:
                    self._order_faults.setdefault(perm, set()).add(kind)
        self.deliver(outs)

    def cancel(self, session: Session, order_id: int) -> None:
        """cancelOrder, losing the race to a fill when the fault says so."""
        if self.faults.take("cancel_fill_race") is not None:
            self.desk.force_fill(session.client_id, order_id)
        self.deliver(self.desk.cancel(session.client_id, order_id))

    def order_count(self, order_ref: str) -> int:
        """How many venue orders were ever placed under this orderRef (dedupe checks)."""
        with self.lock:
            return self.state.order_count(order_ref)

    # ------------------------------------------------------------------ delivery

    def deliver(self, outs: list[Out]) -> None:
        """Send each message to its owner (or topic subscribers), applying status and disconnect faults."""
        for out in outs:
            if out.topic:
                for session in list(self._sessions):
                    if out.topic in session.subscribed and session.ready:
                        session.send(out.make(session.version))
                continue
            owner = self.session_for(out.client_id if out.client_id is not None else -1)
            if owner is not None:
                self._deliver_one(owner, out)

    def _deliver_one(self, session: Session, out: Out) -> None:
        flags = self._order_faults.get(out.perm_id, set())
        fields = out.make(session.version)
        session.send(fields)
        if out.kind == "status" and "duplicate_status" in flags:
            session.send(fields)
        if out.kind == "status" and out.view is not None and out.view.status == "Filled" \
                and "out_of_order_status" in flags:
            flags.discard("out_of_order_status")
            session.send(m.order_status(replace(out.view, status="Submitted")))
        if out.kind == "exec" and self.faults.take("disconnect_after_fill") is not None:
            self._abort_after[out.perm_id] = session
        if out.kind == "commission" and self._abort_after.get(out.perm_id) is session:
            del self._abort_after[out.perm_id]
            session.abort()
