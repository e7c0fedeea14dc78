"""Crash recovery: rebuild the last run from the audit log, then decide restart / resume / manual_review / rollback.

Pure: reads an `AuditLog` and, in `decide_with_broker`, asks the broker read-only questions (broker state wins).
Never writes the log and never places or cancels orders — the CLI appends `recovery_assessed` and cancels.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from decimal import Decimal
from typing import Any, Final, Literal

from audit.events import RecoveryAssessed, ResolvedOrder, ResolvedOutcome, proves_not_submitted
from audit.reader import AuditLog, AuditRecord, TornTail, is_valid, seed_decimal, validate
from engine.brokers.base import Broker, BrokerOrder, OrderState
from engine.errors import BrokerError

__all__ = [
    "Action",
    "InFlightOrder",
    "KillOutcome",
    "OrderStatus",
    "RecoveredOrder",
    "RecoveredPosition",
    "RecoveredRun",
    "RecoveryDecision",
    "Resolution",
    "audit_replay_summary",
    "decide_from_log",
    "decide_with_broker",
    "reconstruct",
]

Action = Literal["restart", "resume", "manual_review", "rollback"]
# intent: written ahead, outcome unknown; ambiguous: a failure that does not prove non-submission;
# submitted: acknowledged by the venue, no final outcome logged; the rest are terminal.
OrderStatus = Literal["intent", "ambiguous", "submitted", "failed", "filled", "cancelled", "rejected", "not_found"]
CancelStatus = Literal["none", "requested", "done", "failed"]
Step = Literal["lookup", "watch", "cancel", "review"]

TERMINAL: Final = frozenset({"failed", "filled", "cancelled", "rejected", "not_found"})
_SEED_FILL_STATUS: Final[dict[str, OrderStatus]] = {
    "Filled": "filled", "PartialFill": "cancelled", "Cancelled": "cancelled", "Failed": "rejected"
}
_TERMINAL_NAMES: Final[dict[object, OrderStatus]] = {"filled": "filled", "cancelled": "cancelled",
                                                     "rejected": "rejected"}
_WORKING_OUTCOMES: Final = frozenset({"pending", "submitted", "partially_filled"})
_READS: Final = {"account_summary_intent": "account_summary", "positions_intent": "positions",
                 "quotes_intent": "quotes"}
_RESULTS: Final = {"account_summary_result": "account_summary", "positions_result": "positions",
                   "positions_fetched": "positions", "quotes_result": "quotes"}
_RANK: Final[dict[Action, int]] = {"restart": 0, "resume": 1, "rollback": 2, "manual_review": 3}
_STEP_ACTION: Final[dict[Step, Action]] = {"lookup": "resume", "watch": "resume", "cancel": "rollback",
                                           "review": "manual_review"}
_OUTCOME: Final[dict[OrderState, ResolvedOutcome]] = {
    OrderState.PENDING: "pending", OrderState.SUBMITTED: "submitted", OrderState.PARTIALLY_FILLED: "partially_filled",
    OrderState.FILLED: "filled", OrderState.CANCELLED: "cancelled", OrderState.REJECTED: "rejected",
}


@dataclass(frozen=True, slots=True)
class RecoveredOrder:
    """One order of the last run as the log tells it (ids as text; Decimals exact as written)."""

    client_order_id: str | None
    symbol: str | None
    side: str | None
    quantity: Decimal | None
    limit_price: Decimal | None
    order_id: str | None
    status: OrderStatus
    cancel: CancelStatus
    filled_quantity: Decimal | None
    error: str | None
    line: int

    @property
    def label(self) -> str:
        """Best human handle: client order id, else venue id, else symbol."""
        return self.client_order_id or (f"venue order {self.order_id}" if self.order_id else f"{self.symbol} order")


@dataclass(frozen=True, slots=True)
class RecoveredPosition:
    """A holding from the last positions result."""

    symbol: str
    quantity: Decimal
    avg_cost: Decimal | None


@dataclass(frozen=True, slots=True)
class KillOutcome:
    """The last kill of the run: how, and how many orders it could not cancel."""

    method: str
    cancelled: int
    remaining: int
    remaining_order_ids: tuple[str, ...]
    line: int


@dataclass(frozen=True)
class RecoveredRun:
    """State of the LAST run in the file (reset at each run_started, W-A2) plus file-wide facts."""

    format: str
    runs: int
    events: int
    run_id: str | None
    started_line: int | None
    dry_run: bool
    completed: bool
    completion_status: str | None
    last_event: str | None
    last_seq: int | None
    last_ts: str | None
    orders: tuple[RecoveredOrder, ...]
    planned_orders: int
    positions: tuple[RecoveredPosition, ...]
    equity: Decimal | None
    open_reads: tuple[str, ...]
    kill: KillOutcome | None
    known_client_order_ids: frozenset[str]
    torn_tail: TornTail | None

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready view (Decimals as strings, sets sorted)."""
        data: dict[str, Any] = _jsonable(asdict(self))
        data["known_client_order_ids"] = sorted(self.known_client_order_ids)
        return data


@dataclass(frozen=True, slots=True)
class InFlightOrder:
    """An order recovery could not close: what the log says, what the broker says, and the next step."""

    client_order_id: str | None
    symbol: str | None
    order_id: str | None
    log_status: str
    step: Step
    reason: str
    broker_state: str | None = None


@dataclass(frozen=True, slots=True)
class Resolution:
    """An order whose fate is now settled (outcome: a terminal state, a working state, or not_found)."""

    client_order_id: str | None
    symbol: str | None
    outcome: ResolvedOutcome


@dataclass(frozen=True)
class RecoveryDecision:
    """The action plus why, the orders still needing attention, and what the broker settled."""

    action: Action
    reasons: list[str]
    in_flight: list[InFlightOrder]
    resolved: list[Resolution] = field(default_factory=list)
    broker_checked: bool = False

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready view."""
        data: dict[str, Any] = _jsonable(asdict(self))
        return data

    def to_event(self) -> RecoveryAssessed:
        """The `recovery_assessed` audit event for this decision (the CLI appends it; we never write)."""
        resolved = tuple(
            ResolvedOrder(client_order_id=r.client_order_id, symbol=r.symbol, outcome=r.outcome)
            for r in self.resolved
            if r.client_order_id is not None
        )
        return RecoveryAssessed(action=self.action, reasons=tuple(self.reasons), resolved=resolved)


# ---- reconstruction ------------------------------------------------------------------------------------------


class _Order:
    __slots__ = ("cancel", "client_order_id", "error", "filled_quantity", "limit_price", "line", "order_id",
                 "quantity", "side", "status", "symbol")

    def __init__(self, line: int) -> None:
        self.line = line
        self.client_order_id: str | None = None
        self.symbol: str | None = None
        self.side: str | None = None
        self.quantity: Decimal | None = None
        self.limit_price: Decimal | None = None
        self.order_id: str | None = None
        self.status: OrderStatus = "intent"
        self.cancel: CancelStatus = "none"
        self.filled_quantity: Decimal | None = None
        self.error: str | None = None

    def freeze(self) -> RecoveredOrder:
        return RecoveredOrder(self.client_order_id, self.symbol, self.side, self.quantity, self.limit_price,
                              self.order_id, self.status, self.cancel, self.filled_quantity, self.error, self.line)


class _Run:
    """Mutable accumulator for one forward pass over the last run's records."""

    def __init__(self) -> None:
        self.orders: list[_Order] = []
        self.by_coid: dict[str, _Order] = {}
        self.run_id: str | None = None
        self.dry_run = False
        self.completed = False
        self.completion_status: str | None = None
        self.planned = 0
        self.positions: tuple[RecoveredPosition, ...] = ()
        self.equity: Decimal | None = None
        self.open_reads: dict[str, int] = {}
        self.kill: KillOutcome | None = None
        self.kill_ids: tuple[str, ...] = ()

    def find(self, view: dict[str, Any], statuses: frozenset[str], create: bool, line: int) -> _Order | None:
        """Link by client order id (per run); seed lines without one fall back to venue id, then symbol."""
        coid = view.get("client_order_id")
        if isinstance(coid, str):
            order = self.by_coid.get(coid)
            if order is None and create:
                order = self._new(line)
                order.client_order_id = coid
                self.by_coid[coid] = order
            return order
        oid, symbol = view.get("order_id"), view.get("symbol")
        match = None
        if isinstance(oid, str):
            match = next((o for o in reversed(self.orders) if o.order_id == oid), None)
        if match is None and isinstance(symbol, str):
            match = next((o for o in reversed(self.orders) if o.symbol == symbol and o.status in statuses), None)
        elif match is None:
            # The seed's own order_failed names nothing (W-A1); it follows its intent, so take the latest one.
            match = next((o for o in reversed(self.orders) if o.status in statuses), None)
        if match is None and create:
            match = self._new(line)  # e.g. the seed's old format: order_submitted without any intent
        return match

    def _new(self, line: int) -> _Order:
        order = _Order(line)
        self.orders.append(order)
        return order


_OPEN: Final = frozenset({"intent", "ambiguous"})
_LIVE: Final = frozenset({"submitted"})
_ANY: Final = frozenset({"intent", "ambiguous", "submitted", "failed", "filled", "cancelled", "rejected", "not_found"})


def reconstruct(log: AuditLog) -> RecoveredRun:
    """Rebuild the last run (records from the last run_started on; the whole file when there is none)."""
    records = log.records
    index = log.index
    start = index.run_starts[-1] if index.run_starts else 0
    state = _Run()
    for record in records[start:]:
        _apply(state, record)
    last = records[-1] if records else None
    started = records[start] if records and records[start].view["event"] == "run_started" else None
    return RecoveredRun(
        format=log.format,
        runs=len(index.run_starts),
        events=len(records),
        run_id=state.run_id,
        started_line=started.line if started else None,
        dry_run=state.dry_run,
        completed=state.completed,
        completion_status=state.completion_status,
        last_event=last.view["event"] if last else None,
        last_seq=last.view.get("seq") if last else None,
        last_ts=last.view["ts"] if last else None,
        orders=tuple(order.freeze() for order in state.orders),
        planned_orders=state.planned,
        positions=state.positions,
        equity=state.equity,
        open_reads=tuple(sorted(state.open_reads)),
        kill=state.kill,
        known_client_order_ids=index.client_order_ids,
        torn_tail=log.torn_tail,
    )


def _apply(state: _Run, record: AuditRecord) -> None:
    view = record.view
    name: str = view["event"]
    if name in ("order_intent", "order_submitted", "order_failed", "order_filled"):
        _apply_order(state, record, name)
    elif name in ("cancel_intent", "cancel_result"):
        _apply_cancel(state, record, name)
    elif name == "run_started":
        state.run_id = view.get("run_id")
        state.dry_run = view.get("dry_run") is True
    elif name in _READS:
        state.open_reads[_READS[name]] = record.line
    elif name in _RESULTS:
        state.open_reads.pop(_RESULTS[name], None)
        _apply_snapshot(state, view)
    elif name == "diff_computed":
        orders = view.get("orders")
        state.planned = len(orders) if isinstance(orders, list) else 0
    elif name == "run_completed":
        state.completed = True
        status = view.get("status")
        state.completion_status = status if isinstance(status, str) else None
    elif name == "dry_run_completed":
        state.dry_run = True  # seed: a dry run logs intents but never submits (§9.6 phase1a_dryrun_success)
    elif name == "kill_phase2_completed":
        ids = view.get("remaining_order_ids")
        state.kill_ids = tuple(str(i) for i in ids) if isinstance(ids, list) else ()
    elif name == "kill_completed":
        state.kill = KillOutcome(str(view.get("method")), _int(view.get("orders_cancelled_count")),
                                 _int(view.get("orders_remaining_count")), state.kill_ids, record.line)
    elif name == "recovery_assessed":
        _apply_resolutions(state, view, record.line)
        if view.get("action") == "restart":
            state.kill = None  # a broker-checked "nothing in flight" covers what an earlier kill left behind


def _apply_order(state: _Run, record: AuditRecord, name: str) -> None:
    view, seed = record.view, record.format == "seed"
    if name == "order_intent":
        order = state.find(view, _ANY, create=True, line=record.line)
        assert order is not None
        if order.status not in ("submitted", "filled", "cancelled", "rejected"):
            order.status = "intent"  # first attempt, or a retry (retries reuse the client order id)
        order.symbol = view.get("symbol") if isinstance(view.get("symbol"), str) else order.symbol
        order.side = view.get("side") or order.side
        order.quantity = seed_decimal(view.get("quantity" if not seed else "shares"))
        order.limit_price = seed_decimal(view.get("limit_price" if not seed else "limit"))
        if seed and view.get("execution_context") == "dry_run":
            state.dry_run = True
        return
    order = state.find(view, _OPEN if name != "order_filled" else _LIVE | _OPEN, create=True, line=record.line)
    assert order is not None
    if order.symbol is None and isinstance(view.get("symbol"), str):
        order.symbol = view["symbol"]
    order.order_id = view.get("order_id") or order.order_id
    if name == "order_submitted":
        state_name = view.get("state")
        if order.status not in TERMINAL:
            order.status = _TERMINAL_NAMES.get(state_name, "submitted")
    elif name == "order_failed":
        error_type = view.get("error_type")
        order.error = str(error_type or view.get("reason") or "failed")
        if order.status in _LIVE or order.status in TERMINAL - {"failed"}:
            return  # the venue already acknowledged it; a later failure report cannot un-submit it
        if seed:
            # Seed: only max_retries_exceeded is a transient give-up (§9.6 write_ahead_retry ✱).
            order.status = "ambiguous" if error_type == "max_retries_exceeded" else "failed"
        else:
            order.status = "failed" if proves_not_submitted(error_type, view.get("retryable")) else "ambiguous"
    else:  # order_filled: the terminal outcome (seed: any status, W-A2 keeps Cancelled apart from Filled)
        if seed:
            order.status = _SEED_FILL_STATUS.get(str(view.get("status")), "filled")
        else:
            order.status = _TERMINAL_NAMES.get(view.get("state"), "filled")
        order.filled_quantity = seed_decimal(view.get("filled_quantity" if not seed else "filled"))


def _apply_cancel(state: _Run, record: AuditRecord, name: str) -> None:
    view = record.view
    order = state.find(view, _LIVE, create=True, line=record.line)
    assert order is not None
    if order.symbol is None and isinstance(view.get("symbol"), str):
        order.symbol = view["symbol"]
    order.order_id = view.get("order_id") or order.order_id
    if order.status == "intent" and order.order_id is not None and name == "cancel_intent":
        order.status = "submitted"  # only a venue-acknowledged order has an id to cancel
    if name == "cancel_intent":
        order.cancel = "requested"
        return
    after = _TERMINAL_NAMES.get(view.get("state"))
    if view.get("success") is True:
        order.cancel = "done"
        if order.status not in TERMINAL:
            order.status = after or "cancelled"
    elif after is not None:
        order.cancel = "done"  # nothing left to cancel: it reached a terminal state first
        order.status = after
    else:
        order.cancel = "failed"
        order.error = str(view.get("error_message") or "cancel failed")


def _apply_resolutions(state: _Run, view: dict[str, Any], line: int) -> None:
    resolved = view.get("resolved")
    if not isinstance(resolved, list):
        return
    for entry in resolved:
        if not isinstance(entry, dict) or not isinstance(entry.get("client_order_id"), str):
            continue
        order = state.find(entry, _ANY, create=True, line=line)
        assert order is not None
        outcome = entry.get("outcome")
        settled = "not_found" if outcome == "not_found" else _TERMINAL_NAMES.get(outcome)
        if settled is not None:
            order.status = settled
            if order.cancel in ("requested", "failed"):
                order.cancel = "done"
        elif outcome in _WORKING_OUTCOMES:
            order.status = "submitted"


def _apply_snapshot(state: _Run, view: dict[str, Any]) -> None:
    positions = view.get("positions")
    if isinstance(positions, list):
        parsed = []
        for entry in positions:
            if isinstance(entry, dict) and isinstance(entry.get("symbol"), str):
                quantity = seed_decimal(entry.get("quantity", entry.get("qty")))
                if quantity is not None:
                    parsed.append(RecoveredPosition(entry["symbol"], quantity, seed_decimal(entry.get("avg_cost"))))
        state.positions = tuple(parsed)
    equity = seed_decimal(view.get("equity"))
    if equity is not None:
        state.equity = equity


def _int(value: Any) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else 0


# ---- decisions -----------------------------------------------------------------------------------------------


def decide_from_log(run: RecoveredRun) -> RecoveryDecision:
    """Decide from the log alone (no broker). First match wins:

    manual_review — a kill left orders working, a cancel failed or has no result, or an order was acknowledged by
    the venue with no final outcome logged; resume — an intent (or ambiguous failure) whose fate is unknown;
    restart — everything is terminal (or the run was a dry run). Rollback needs the broker (orphans).
    """
    review: list[str] = []
    lookups: list[InFlightOrder] = []
    in_flight: list[InFlightOrder] = []
    if run.kill is not None and run.kill.remaining > 0:
        ids = f" ({', '.join(run.kill.remaining_order_ids)})" if run.kill.remaining_order_ids else ""
        review.append(f"kill ({run.kill.method}) left {run.kill.remaining} order(s) working at the venue{ids}")
    for order in run.orders:
        item = _log_item(order, run.dry_run)
        if item is None:
            continue
        in_flight.append(item)
        if item.step == "review":
            review.append(item.reason)
        else:
            lookups.append(item)
    reasons = review or [item.reason for item in lookups]
    if review:
        action: Action = "manual_review"
    elif lookups:
        action = "resume"
    else:
        action = "restart"
        reasons = [_restart_reason(run)]
    if run.torn_tail is not None:
        reasons.append(f"line {run.torn_tail.line} is a torn write and was ignored ({run.torn_tail.reason})")
    return RecoveryDecision(action, reasons, in_flight)


def _log_item(order: RecoveredOrder, dry_run: bool) -> InFlightOrder | None:
    def item(step: Step, reason: str) -> InFlightOrder:
        return InFlightOrder(order.client_order_id, order.symbol, order.order_id, order.status, step, reason)

    if order.cancel == "failed" and order.status not in TERMINAL:
        return item("review", f"cancel of {order.label} failed ({order.error}); it may still be working")
    if order.cancel == "requested" and order.status not in TERMINAL:
        return item("review", f"cancel of {order.label} was requested but no result was logged")
    if order.status == "submitted":
        return item("review", f"{order.label} ({order.symbol}) was acknowledged by the venue; no final outcome logged")
    if order.status in _OPEN and not dry_run:
        if order.status == "ambiguous":
            return item("lookup", f"{order.label} ({order.symbol}) failed with {order.error}, which does not prove "
                                  "it never reached the venue")
        return item("lookup", f"{order.label} ({order.symbol}) was written ahead but its outcome is unknown")
    return None


def _restart_reason(run: RecoveredRun) -> str:
    if run.events == 0:
        return "the audit log is empty: nothing to recover"
    if run.completed:
        return f"the last run completed (status {run.completion_status or 'unknown'})"
    if run.dry_run and run.orders:
        return "the last run was a dry run: nothing was sent to the venue"
    if not run.orders:
        return "no order was written ahead in the last run"
    return "every order of the last run reached a final outcome"


def decide_with_broker(
    run: RecoveredRun, broker: Broker, *, cancel_orphans: bool = False, client_order_id_prefix: str | None = None
) -> RecoveryDecision:
    """Decide with live broker state, which wins over the log (DESIGN §3.5). Read-only broker calls.

    Each unsettled order is looked up by client order id (venue id for seed orders): terminal → resolved;
    working → resume (watch it), or rollback (cancel it) with `cancel_orphans` or when a cancel was pending;
    unknown to the venue → safe to re-run unless the venue had acknowledged it (→ manual_review). Open orders
    carrying one of our client ids (any run in the file, or `client_order_id_prefix`) that the last run does not
    know are orphans → rollback. A broker error → manual_review at best when anything is unsettled.
    """
    try:
        open_orders = broker.open_orders()
        items, resolved = _broker_items(run, broker, open_orders, cancel_orphans)
    except BrokerError as exc:
        return _unreachable(run, exc)
    items.extend(_venue_only_items(run, open_orders, client_order_id_prefix))
    action: Action = max((_STEP_ACTION[entry.step] for entry in items), key=_RANK.__getitem__, default="restart")
    reasons = [entry.reason for entry in items if _STEP_ACTION[entry.step] == action] or [
        "the broker confirms every order of the last run is settled" if run.orders else _restart_reason(run)
    ]
    return RecoveryDecision(action, reasons, items, resolved, broker_checked=True)


def _venue_only_items(run: RecoveredRun, open_orders: list[BrokerOrder], prefix: str | None) -> list[InFlightOrder]:
    """Working venue orders the log cannot account for: our orphans, and orders the log already settled."""
    logged = {order.client_order_id: order for order in run.orders if order.client_order_id}
    items = []
    for venue in open_orders:
        coid = venue.client_order_id
        if venue.state.is_terminal:
            continue
        known = logged.get(coid)
        if known is None and (coid in run.known_client_order_ids or (prefix and coid.startswith(prefix))):
            items.append(InFlightOrder(coid, venue.symbol, venue.order_id, "orphan", "cancel",
                                       f"orphan {coid} ({venue.symbol}) is working at the venue but unknown to the "
                                       "last run; cancel it", venue.state.value))
        elif known is not None and known.status in TERMINAL and known.cancel not in ("requested", "failed"):
            items.append(_item(known, "review", f"{known.label}: the log says {known.status}, the venue says "
                                                f"{venue.state.value}", venue.state.value))
    return items


def _broker_items(
    run: RecoveredRun, broker: Broker, open_orders: list[BrokerOrder], cancel_orphans: bool
) -> tuple[list[InFlightOrder], list[Resolution]]:
    by_coid = {order.client_order_id: order for order in open_orders}
    items: list[InFlightOrder] = []
    resolved: list[Resolution] = []
    for order in run.orders:
        settled = order.status in TERMINAL and order.cancel not in ("requested", "failed")
        if settled or (run.dry_run and order.status in _OPEN):
            continue
        if order.client_order_id:
            venue = by_coid.get(order.client_order_id) or broker.order(client_order_id=order.client_order_id,
                                                                       symbol=order.symbol)
        elif order.order_id:
            venue = broker.order(order_id=order.order_id)
        else:
            items.append(_item(order, "review", f"{order.label} cannot be identified at the broker (no ids logged)"))
            continue
        items_or_resolution = _judge(order, venue, cancel_orphans)
        if isinstance(items_or_resolution, Resolution):
            resolved.append(items_or_resolution)
        else:
            items.append(items_or_resolution)
    if run.kill is not None and run.kill.remaining > 0:
        for order_id in run.kill.remaining_order_ids:
            venue = broker.order(order_id=order_id)
            if venue is not None and not venue.state.is_terminal:
                items.append(InFlightOrder(venue.client_order_id, venue.symbol, order_id, "kill_remaining", "cancel",
                                           f"venue order {order_id} survived the kill and is still working",
                                           venue.state.value))
    return items, resolved


def _judge(order: RecoveredOrder, venue: BrokerOrder | None, cancel_orphans: bool) -> InFlightOrder | Resolution:
    if venue is None:
        if order.status == "submitted" or order.order_id is not None:
            return _item(order, "review", f"{order.label} was acknowledged as {order.order_id} but the broker "
                                          "does not know it")
        return Resolution(order.client_order_id, order.symbol, "not_found")
    if order.symbol is not None and venue.symbol != order.symbol:
        return _item(order, "review", f"{order.label}: the broker's order is for {venue.symbol}, the log says "
                                      f"{order.symbol}", venue.state.value)
    if venue.state.is_terminal:
        return Resolution(order.client_order_id, order.symbol, _OUTCOME[venue.state])
    if cancel_orphans or order.cancel in ("requested", "failed"):
        return _item(order, "cancel", f"{order.label} ({order.symbol}) is still working at the venue; cancel it",
                     venue.state.value)
    return _item(order, "watch", f"{order.label} ({order.symbol}) is working at the venue "
                                 f"({venue.state.value}); resume watching it", venue.state.value)


def _item(order: RecoveredOrder, step: Step, reason: str, broker_state: str | None = None) -> InFlightOrder:
    return InFlightOrder(order.client_order_id, order.symbol, order.order_id, order.status, step, reason, broker_state)


def _unreachable(run: RecoveredRun, exc: BrokerError) -> RecoveryDecision:
    logged = decide_from_log(run)
    note = f"broker unreachable ({exc}); broker state could not be checked"
    if logged.action == "restart":
        return RecoveryDecision("restart", [*logged.reasons, note], logged.in_flight)
    # Broker state is authoritative; without it an in-flight order can only be reviewed by a human.
    return RecoveryDecision("manual_review", [note, *logged.reasons], logged.in_flight)


# ---- replay --------------------------------------------------------------------------------------------------


def audit_replay_summary(log: AuditLog, *, schema: bool = True) -> dict[str, Any]:
    """What `nanobook replay audit.jsonl --json` reports: format, counts, torn tail, validation, state, decision."""
    run = reconstruct(log)
    decision = decide_from_log(run)
    issues = validate(log, schema=schema)
    tail = log.torn_tail
    return {
        "format": log.format,
        "runs": run.runs,
        "events": run.events,
        "torn_tail": {"line": tail.line, "reason": tail.reason} if tail else None,
        "validation": {"ok": is_valid(issues), "issues": [issue.to_dict() for issue in issues]},
        "state": run.to_dict(),
        "recovery": {"action": decision.action, "reasons": decision.reasons,
                     "in_flight": [asdict(item) for item in decision.in_flight]},
    }


def _jsonable(value: Any) -> Any:
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, dict):
        return {key: _jsonable(item) for key, item in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [_jsonable(item) for item in value]
    return value
