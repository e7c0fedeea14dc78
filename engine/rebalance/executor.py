"""Order execution with a write-ahead audit: intent → place → submitted|failed → wait → (cancel) → filled.

Safety rules: an ambiguous placement is resolved by looking the order up by client id before any retry; a
remainder is never resubmitted; a timed-out order is cancelled; a stop request halts submissions and cancels
our working orders. Time comes from an injected clock and sleep. Reports progress; never prints.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any, Protocol

from engine.brokers.base import Broker, BrokerOrder, OrderRequest, OrderState
from engine.errors import AmbiguousOrderState, BrokerError, OrderRejected
from engine.rebalance.diff import PlannedOrder


class AuditSink(Protocol):
    """Where audit events go (the audit writer); `append` must be durable before it returns."""

    def append(self, event: dict[str, Any]) -> Any:
        """Write one event."""
        ...


class StopSignal(Protocol):
    """Set by SIGINT/SIGTERM handlers (threading.Event fits)."""

    def is_set(self) -> bool:
        """True once a stop was requested."""
        ...


@dataclass(frozen=True, slots=True)
class ExecutionSettings:
    """Pacing and patience (from `[execution]`)."""

    order_interval_ms: int = 100
    order_timeout_s: float = 30.0
    max_retries: int = 3
    poll_interval_s: float = 0.2


@dataclass(slots=True)
class OrderOutcome:
    """What happened to one planned order."""

    planned: PlannedOrder
    # filled | partially_filled | cancelled | rejected | failed | ambiguous | working | submitted | not_submitted
    state: str = "not_submitted"
    order_id: str | None = None
    filled_quantity: Decimal = Decimal(0)
    avg_fill_price: Decimal | None = None
    error: str | None = None

    @property
    def complete(self) -> bool:
        """Fully filled."""
        return self.state == "filled"


@dataclass(slots=True)
class ExecutionResult:
    """Outcomes in plan order; `interrupted` when a stop request cut the run short."""

    outcomes: list[OrderOutcome] = field(default_factory=list)
    interrupted: bool = False

    @property
    def submitted(self) -> int:
        """Orders the venue accepted."""
        return sum(1 for o in self.outcomes if o.order_id is not None)

    @property
    def filled(self) -> int:
        """Orders completely filled."""
        return sum(1 for o in self.outcomes if o.complete)

    @property
    def failed(self) -> int:
        """Orders rejected or failed."""
        return sum(1 for o in self.outcomes if o.state in ("rejected", "failed", "ambiguous"))

    @property
    def status(self) -> str:
        """ok | partial | interrupted."""
        if self.interrupted:
            return "interrupted"
        return "ok" if all(o.complete for o in self.outcomes) else "partial"


class Reporter(Protocol):
    """Progress sink for the live view (the CLI renders it on stderr)."""

    def on_order(self, index: int, total: int, outcome: OrderOutcome, note: str) -> None:
        """An order changed state."""
        ...


class _NullReporter:
    def on_order(self, index: int, total: int, outcome: OrderOutcome, note: str) -> None:
        return None


_FINAL = frozenset({"filled", "partially_filled", "cancelled", "rejected", "failed"})
# After a cancel request, how many polls to wait for the venue to confirm it.
_CANCEL_CONFIRM_POLLS = 5


def _order_state(order: BrokerOrder) -> str:
    if order.state == OrderState.CANCELLED and order.filled_quantity > 0:
        return "partially_filled"
    return {OrderState.FILLED: "filled", OrderState.CANCELLED: "cancelled", OrderState.REJECTED: "rejected",
            OrderState.PARTIALLY_FILLED: "partially_filled"}.get(order.state, "submitted")


class Executor:
    """Executes planned orders one at a time, rate-limited, with a write-ahead audit trail."""

    def __init__(self, broker: Broker, audit: AuditSink, settings: ExecutionSettings,
                 clock: Callable[[], datetime], sleep: Callable[[float], None], stop: StopSignal,
                 reporter: Reporter | None = None) -> None:
        self.broker = broker
        self.audit = audit
        self.settings = settings
        self.clock = clock
        self.sleep = sleep
        self.stop = stop
        self.reporter: Reporter = reporter or _NullReporter()

    # ------------------------------------------------------------------ orchestration

    def execute(self, orders: Sequence[PlannedOrder]) -> ExecutionResult:
        """Place every order in turn; stop early (cancelling our working orders) on a stop request."""
        result = ExecutionResult()
        total = len(orders)
        for index, planned in enumerate(orders, start=1):
            if self.stop.is_set():
                result.interrupted = True
                break
            outcome = OrderOutcome(planned)
            result.outcomes.append(outcome)
            working = self._submit(planned, outcome)
            self.reporter.on_order(index, total, outcome, "submitted" if working else outcome.state)
            if working is not None:
                self._await(working, outcome)
                self.reporter.on_order(index, total, outcome, outcome.state)
            if index < total and not self.stop.is_set():
                self.sleep(self.settings.order_interval_ms / 1000)
        if self.stop.is_set() and any(o.state not in _FINAL for o in result.outcomes):
            result.interrupted = True
        return result

    # ------------------------------------------------------------------ steps

    def _submit(self, planned: PlannedOrder, outcome: OrderOutcome) -> BrokerOrder | None:
        """Write the intent, place the order, resolve ambiguity by client id; None if it never went live."""
        request = OrderRequest(planned.client_order_id, planned.symbol, planned.side, planned.quantity,
                               planned.limit_price)
        for attempt in range(1, self.settings.max_retries + 2):
            self.audit.append({"event": "order_intent", "client_order_id": planned.client_order_id,
                               "symbol": planned.symbol, "side": planned.side, "quantity": planned.quantity,
                               "limit_price": planned.limit_price, "attempt": attempt})
            try:
                return self._submitted(planned, outcome, self.broker.place_limit(request))
            except OrderRejected as exc:
                self._failed(planned, outcome, "rejected", exc.reason, retryable=False)
                return None
            except AmbiguousOrderState as exc:
                try:
                    found = self._lookup(planned.client_order_id, planned.symbol)
                except AmbiguousOrderState as lost:
                    # Unknown whether it is live: never retry blind; `recover` resolves it by client id.
                    self._failed(planned, outcome, "ambiguous", lost.reason, retryable=True)
                    return None
                if found is not None:
                    return self._submitted(planned, outcome, found)
                if attempt > self.settings.max_retries:
                    self._failed(planned, outcome, "failed", f"{exc.reason} (gave up after {attempt} attempts)",
                                 retryable=True)
                    return None
                # The venue never saw it (lookup by client id came back empty): safe to place again.
                self.sleep(min(2.0 ** (attempt - 1) * 0.25, 5.0))
            except BrokerError as exc:
                self._failed(planned, outcome, "failed", str(exc), retryable=exc.retryable)
                return None
        return None  # pragma: no cover - the loop always returns

    def _lookup(self, client_order_id: str, symbol: str) -> BrokerOrder | None:
        """Find an order by client id, retrying the lookup itself; None only when the venue says so."""
        for attempt in range(self.settings.max_retries + 1):
            try:
                return self.broker.order(client_order_id=client_order_id, symbol=symbol)
            except BrokerError:
                if attempt < self.settings.max_retries:
                    self.sleep(min(2.0 ** attempt * 0.25, 5.0))
        raise AmbiguousOrderState(client_order_id, "could not look the order up by client id")

    def _submitted(self, planned: PlannedOrder, outcome: OrderOutcome, order: BrokerOrder) -> BrokerOrder:
        outcome.order_id = order.order_id
        outcome.state = _order_state(order)
        self.audit.append({"event": "order_submitted", "client_order_id": planned.client_order_id,
                           "symbol": planned.symbol, "order_id": order.order_id, "state": order.state.value})
        return order

    def _failed(self, planned: PlannedOrder, outcome: OrderOutcome, state: str, message: str,
                retryable: bool) -> None:
        outcome.state = state
        outcome.error = message
        self.audit.append({"event": "order_failed", "client_order_id": planned.client_order_id,
                           "symbol": planned.symbol, "error_type": state, "error_message": message,
                           "retryable": retryable})

    def _await(self, order: BrokerOrder, outcome: OrderOutcome) -> None:
        """Poll until terminal; cancel the remainder at the timeout or on a stop request."""
        deadline = self.clock().timestamp() + self.settings.order_timeout_s
        current = order
        while not current.state.is_terminal:
            if self.stop.is_set() or self.clock().timestamp() >= deadline:
                reason = "stop_requested" if self.stop.is_set() else "timeout"
                current = self._cancel(outcome.planned, current, reason)
                break
            self.sleep(self.settings.poll_interval_s)
            current = self._poll(current)
        self._finish(outcome, current)

    def _poll(self, order: BrokerOrder) -> BrokerOrder:
        try:
            found = self.broker.order(order_id=order.order_id)
        except BrokerError:
            return order  # transient: keep waiting until the deadline
        return found if found is not None else order

    def _cancel(self, planned: PlannedOrder, order: BrokerOrder, reason: str) -> BrokerOrder:
        self.audit.append({"event": "cancel_intent", "client_order_id": planned.client_order_id,
                           "symbol": planned.symbol, "order_id": order.order_id, "reason": reason})
        try:
            after = self.broker.cancel(order.order_id)
            error = None
        except BrokerError as exc:
            after, error = self._poll(order), str(exc)
        for _ in range(_CANCEL_CONFIRM_POLLS):
            if after.state.is_terminal:
                break
            self.sleep(self.settings.poll_interval_s)
            after = self._poll(after)
        self.audit.append({"event": "cancel_result", "client_order_id": planned.client_order_id,
                           "symbol": planned.symbol, "order_id": order.order_id,
                           "success": error is None and after.state.is_terminal, "state": after.state.value,
                           "error_message": error})
        return after

    def _finish(self, outcome: OrderOutcome, order: BrokerOrder) -> None:
        outcome.filled_quantity = order.filled_quantity
        outcome.avg_fill_price = order.avg_fill_price
        if not order.state.is_terminal:
            # The venue did not confirm the cancel: the order may still trade. No terminal event is written,
            # so the audit log keeps it in flight and `recover` asks the venue about it.
            outcome.state = "working"
            outcome.error = "cancel not confirmed by the venue; run `nanobook recover`"
            return
        outcome.state = _order_state(order)
        self.audit.append({"event": "order_filled", "client_order_id": outcome.planned.client_order_id,
                           "symbol": outcome.planned.symbol, "order_id": order.order_id,
                           "state": order.state.value, "filled_quantity": order.filled_quantity,
                           "avg_fill_price": order.avg_fill_price})
